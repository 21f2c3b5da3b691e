"""Time runner.sweep.comparison on synthetic sweep tables the size of the recorded sweeps.

576 jobs: 8 datasets x 2 noise kinds x 2 rates x 3 classifiers x 3 seeds x 2 methods (experiment=robustness_fresh);
800 jobs: 8 x 2 x 2 x 1 classifier x 5 seeds x 5 methods (experiment=baselines). The first call is timed with
its imports; then each time is the best of 3:
compare() (cells, ranks, tests, bootstrap), the markdown section, and the critical-difference PNG.
    python benchmarks/bench_comparison.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from runner.sweep.comparison import compare
from runner.sweep.comparison_section import comparison_section, critical_difference_figure


def synthetic_sweep(methods, classifiers, seeds, random_state=0) -> pd.DataFrame:
    """A collect-style frame: one row per job, every job done; method i gains 0.005 * i over the baseline."""
    rng = np.random.default_rng(random_state)
    rows = []
    for dataset in range(8):
        for noise in ("matrix", "instance"):
            for rate in (0.2, 0.4):
                for classifier in classifiers:
                    cell = rng.uniform(0.6, 0.9)
                    for seed in range(seeds):
                        baseline = cell + rng.normal(0, 0.01)
                        for i, method in enumerate(methods):
                            rows.append(
                                {
                                    "job": str(len(rows)),
                                    "method": method,
                                    "dataset": f"d{dataset}",
                                    "noise": noise,
                                    "noise.rate": rate,
                                    "classifier": classifier,
                                    "seed": seed,
                                    "status": "done",
                                    "error": "",
                                    "test_accuracy": baseline + 0.005 * i + rng.normal(0, 0.01),
                                    "baseline_test_accuracy": baseline,
                                    "clean_labels_test_accuracy": baseline + 0.1,
                                }
                            )
    return pd.DataFrame(rows)


def best_of(n, function):
    times = []
    for _ in range(n):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def main():
    sizes = {
        "576 jobs, 2 methods, 96 cells": synthetic_sweep(["reference", "recommended"], ["lr", "hgb", "xgb"], seeds=3),
        "800 jobs, 5 methods, 32 cells": synthetic_sweep(["m0", "m1", "m2", "m3", "m4"], ["lr"], seeds=5),
    }
    with tempfile.TemporaryDirectory() as folder:
        # The first call imports scikit-posthocs (seaborn, statsmodels, pyplot): timed once, apart.
        started = time.perf_counter()
        first = compare(next(iter(sizes.values())))
        critical_difference_figure(first).savefig(Path(folder) / "cd.png", format="png")
        print(f"first compare and diagram, with the imports: {time.perf_counter() - started:.2f} s")
        for name, jobs in sizes.items():
            assert len(jobs) == int(name.split()[0])
            result = compare(jobs)
            # The lambdas run here, inside this iteration: the loop variables are the ones meant.
            t_compare = best_of(3, lambda: compare(jobs))  # noqa: B023
            t_section = best_of(3, lambda: comparison_section(result))  # noqa: B023
            t_plot = best_of(
                3,
                lambda: critical_difference_figure(result).savefig(Path(folder) / "cd.png", format="png"),  # noqa: B023
            )
            print(
                f"{name}: compare {t_compare:.2f} s, section {t_section:.3f} s, diagram {t_plot:.2f} s, "
                f"total {t_compare + t_section + t_plot:.2f} s"
            )


if __name__ == "__main__":
    main()
