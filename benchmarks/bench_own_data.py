"""Cleaning your own million-row table: peak RSS of a whole run against holding its data once.

The job (the README's "Clean your own data" path at scale): a Parquet table of ``N`` rows, 20 float64 feature
columns and a string label column (5 classes, 10% of the labels wrong), and an ``.npy`` of out-of-fold
probabilities made "elsewhere" (N x 5 float64); then

    python -m runner dataset=csv dataset.path=table.parquet dataset.test_size=0 noise=none \
        cv=given cv.pred_probs_path=pred_probs.npy final_fit=skip

which reads and checks the probabilities, loads and encodes the table, detects, applies the strategy and writes
``label_issues.csv``, the matrices, ``pred_probs.npy`` and ``cleaned.parquet``.

The yardstick is a process that only holds the data once: it imports what the run imports (``runner.run.app``:
pandas, pyarrow, scikit-learn, Hydra -- library code is resident in both), reads the table with
``pd.read_parquet`` and the probabilities with ``np.load``. Each side runs in its own fresh process; its peak RSS
is the kernel's high-water mark of that process (``ru_maxrss`` of a child, read by a wrapper process that runs
nothing else). Reported: the median over ``--repeats`` fresh processes of each peak (pyarrow's threaded read
makes the yardstick's own peak vary by ~10% from one process to the next), their ratio, and the ratio of what the
data adds on top of the imports alone (a third process that only imports).

    python benchmarks/bench_own_data.py                       # 1,000,000 rows (~2 min on 2 vCPUs)
    python benchmarks/bench_own_data.py --n-rows 100000       # a quick look
    python benchmarks/bench_own_data.py --final-fit           # also train the final model (logistic regression)

Needs Linux (``ru_maxrss`` in KiB) and pyarrow.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

MB = 2**20
CLASSES = np.array(["alder", "birch", "cedar", "larch", "maple"])
N_FEATURES = 20

# A process that runs one command and prints the peak RSS (bytes) of that child: nothing else of it counts.
_PEAK_OF = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "if done.returncode:\n"
    "    sys.exit(done.stderr[-3000:])\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)\n"
)
_IMPORTS_ONLY = "import runner.run.app"
_HOLD_ONCE = (
    "import sys, numpy as np, pandas as pd\n"
    "import runner.run.app\n"
    "table = pd.read_parquet(sys.argv[1])\n"
    "probs = np.load(sys.argv[2])\n"
    "assert len(table) == len(probs)\n"
)


def write_inputs(directory: Path, n_rows: int, seed: int) -> tuple[Path, Path]:
    """The table and its out-of-fold probabilities, as a user's own model would have written them."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n_rows, N_FEATURES))
    weights = rng.normal(size=(N_FEATURES, len(CLASSES)))
    logits = features @ weights
    true = logits.argmax(axis=1)
    given = true.copy()
    wrong = rng.random(n_rows) < 0.10
    given[wrong] = (given[wrong] + rng.integers(1, len(CLASSES), wrong.sum())) % len(CLASSES)
    # "out-of-fold" probabilities of a decent model: a softmax of noisy logits
    noisy = logits + rng.normal(scale=2.0, size=logits.shape)
    probs = np.exp(noisy - noisy.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    table = pd.DataFrame(features, columns=[f"x{i}" for i in range(N_FEATURES)]).assign(species=CLASSES[given])
    table_path, probs_path = directory / "table.parquet", directory / "pred_probs.npy"
    table.to_parquet(table_path, index=False)
    np.save(probs_path, probs)
    return table_path, probs_path


def peak_rss(command: list[str], cwd: Path) -> int:
    """Peak RSS in bytes of ``command`` run alone in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_OF, *command], cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(f"{command[:4]} failed:\n{done.stderr}")
    return int(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--final-fit", action="store_true", help="train the final model too (logistic regression)")
    parser.add_argument("--strategy", default="remove")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per measurement (median)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_own_data_") as temporary:
        work = Path(temporary)
        table_path, probs_path = write_inputs(work, args.n_rows, args.seed)
        imports = _median_peak([sys.executable, "-c", _IMPORTS_ONLY], work, args.repeats)
        once = _median_peak([sys.executable, "-c", _HOLD_ONCE, str(table_path), str(probs_path)], work, args.repeats)
        run = [
            sys.executable,
            "-m",
            "runner",
            "dataset=csv",
            f"dataset.path={table_path}",
            "dataset.label_column=species",
            "dataset.test_size=0",
            "noise=none",
            "cv=given",
            f"cv.pred_probs_path={probs_path}",
            f"strategy={args.strategy}",
            "cache_dir=null",
            f"hydra.run.dir={work / 'run'}",
            *([] if args.final_fit else ["final_fit=skip"]),
        ]
        whole = _median_peak(run, work, args.repeats)
        run_dir = work / "run"
        metrics = json.loads((run_dir / "metrics.json").read_text())
        cleaned_rows = _parquet_rows(run_dir / "cleaned.parquet")
        data = {"table (parquet file)": table_path.stat().st_size, "pred_probs (npy file)": probs_path.stat().st_size}

    print(
        f"# bench_own_data: {args.n_rows:,} rows x {N_FEATURES} float64 features + string label, "
        f"{len(CLASSES)} classes; cv=given, dataset.test_size=0, strategy={args.strategy}, "
        f"{'final fit (logistic regression)' if args.final_fit else 'final_fit=skip'}"
    )
    print(f"# Python {platform.python_version()}, {platform.machine()}, {_cpus()} CPUs")
    for name, size in data.items():
        print(f"{name:<28} {size / MB:8.1f} MB")
    print(f"# peak RSS: median of {args.repeats} fresh processes each")
    print(f"{'imports only':<28} {imports / MB:8.1f} MB peak RSS")
    print(f"{'hold table + pred_probs':<28} {once / MB:8.1f} MB peak RSS")
    print(f"{'whole run':<28} {whole / MB:8.1f} MB peak RSS")
    print(f"ratio whole run / hold once: {whole / once:.2f}x")
    print(f"ratio above the imports:     {(whole - imports) / (once - imports):.2f}x")
    print(
        f"run: {metrics['n_label_issues']:,} label issues of {metrics['n_train']:,} rows; "
        f"cleaned.parquet has {cleaned_rows:,} rows; {metrics['time_total_s']:.1f} s in run_experiment"
    )


def _median_peak(command: list[str], cwd: Path, repeats: int) -> float:
    return float(np.median([peak_rss(command, cwd) for _ in range(repeats)]))


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    main()
