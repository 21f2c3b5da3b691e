"""Runner overhead: ``python -m runner`` on iris against calling CleanLearning directly.

Both are timed as fresh processes (interpreter start and imports included), alternating,
median of ``--repeats``. The direct script does the same work as the run — load iris, scale,
inject 20% matrix noise, CleanLearning with logistic regression and 5 folds, score the test
split — without Hydra, the config composition, the artifacts and the baseline fit (the run
is started with ``compare_baseline=false``). The difference is what the runner costs.

    python benchmarks/bench_overhead.py
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

DIRECT = """
from functools import partial
from sklearn.linear_model import LogisticRegression
from runner import CleanLearning
from runner.datasets.corrupt import matrix_noise
from runner.datasets import load_sklearn, standardized
data = standardized(load_sklearn(name="iris", seed=0))
noisy = matrix_noise(data.y_train, data.n_classes, rate=0.2, seed=0).labels
model = CleanLearning(LogisticRegression(max_iter=1000, random_state=0), seed=0).fit(data.X_train, noisy)
print(model.score(data.X_test, data.y_test))
"""


def timed(command, cwd):
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    runner = [sys.executable, "-m", "runner", "dataset=iris", "compare_baseline=false", "cache_dir=null"]
    direct = [sys.executable, "-c", DIRECT]
    with tempfile.TemporaryDirectory() as cwd:
        times = {"runner": [], "direct": []}
        for _ in range(args.repeats):
            times["runner"].append(timed(runner, cwd))
            times["direct"].append(timed(direct, cwd))
    runner_s, direct_s = np.median(times["runner"]), np.median(times["direct"])
    print(f"| python -m runner (iris) | CleanLearning script | overhead | median of {args.repeats} |")
    print("|---:|---:|---:|---|")
    print(f"| {runner_s:.2f} s | {direct_s:.2f} s | {runner_s - direct_s:+.2f} s | target <= 1.5 s |")


if __name__ == "__main__":
    main()
