"""Sweep speed with and without the cross-validation cache.

Runs the same sweep twice as fresh commands — 4 strategies x 1 seed on a 20,000-row synthetic
set with HistGradientBoosting — once with the cache (``cache_dir`` in a fresh temporary
directory, so the first job of the group computes and the others reuse) and once with
``cache_dir=null``, and prints the wall times, their ratio and the ``cv_cache_hit`` column of
``summary.csv``.

    python benchmarks/bench_sweep.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

SWEEP = [
    "dataset=synthetic",
    "classifier=hist_gradient_boosting",
    "strategy=remove,weight,relabel,none",
    "seed=0",
]


def run_sweep(cwd: Path, cache_dir: str) -> tuple[float, pd.DataFrame]:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "runner", "-m", *SWEEP, f"cache_dir={cache_dir}"],
        cwd=cwd,
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    seconds = time.perf_counter() - start
    (summary,) = cwd.glob("outputs/multirun/*/*/summary.csv")
    return seconds, pd.read_csv(summary)


def main():
    with tempfile.TemporaryDirectory() as scratch:
        cached_dir, uncached_dir = Path(scratch, "cached"), Path(scratch, "uncached")
        cached_dir.mkdir()
        uncached_dir.mkdir()
        cached_s, cached = run_sweep(cached_dir, str(Path(scratch, "cache")))
        uncached_s, _ = run_sweep(uncached_dir, "null")
    print("| sweep | cache on | cache off | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| {' '.join(SWEEP)} | {cached_s:.1f} s | {uncached_s:.1f} s | {cached_s / uncached_s:.2f} |")
    print()
    print(cached[["strategy", "cv_cache_hit", "time_cv_s", "time_total_s"]].to_string(index=False))


if __name__ == "__main__":
    main()
