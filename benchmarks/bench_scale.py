"""A million-row job on one small machine: wall time and peak RSS per stage, ours vs cleanlab 2.9.0.

The job: ``N`` training rows (plus a 20% stratified test split) from ``make_classification``
(20 features, 10 classes), 20% of the training labels flipped by a random noise matrix, 5
stratified folds, one classifier (XGBoost ``hist`` or HistGradientBoosting, one thread per fit),
detection with ``prune_by_noise_rate``, the ``remove`` strategy, a final fit, test scores and
the artifacts of a run directory. Each side runs in its own fresh subprocess, one after the
other, so that neither inherits the other's memory:

* **ours** — ``runner.datasets.make_synthetic`` (float32 features), then
  ``runner.run.experiment.run_experiment`` and ``save_result`` (what ``python -m runner
  experiment=scale`` runs) with ``pred_probs_dtype="float32"``;
* **cleanlab** — the same rows, labels, split and folds as a cleanlab user gets them:
  ``make_classification``'s float64 features, ``cleanlab.classification.CleanLearning.fit``
  (float64 pred_probs; ``find_label_issues_kwargs={"n_jobs": 1}`` so that no process pool
  adds memory), ``predict``, and ``label_issues_df.to_csv`` and the noise matrices (its
  CleanLearning does not keep pred_probs, so there is no ``pred_probs.npy`` to write).
  ``--cleanlab-float32`` gives it our float32 features instead (a control).

XGBoost casts its input to float32 itself, so both sides fit identical models; the lines under
the table check that they flag the same examples and score the same test accuracy.

Stages: load (generate, split, corrupt), CV (the K fold fits), detect, final fit (the strategy's
training set and the fit), evaluate (test predictions), artifacts. A stage's peak RSS is the
exact high-water mark of the process during that stage (Linux: ``VmHWM`` after resetting it
through ``/proc/self/clear_refs`` when the stage starts); worker processes (``--n-jobs 2``) are
sampled every 50 ms with psutil and their PSS (shared pages split between processes) is added.
Stage boundaries are found by wrapping library functions in the subprocess (a benchmark-only
monkeypatch). The detection row measures ``CleanLearning.find_label_issues`` on given
1,000,000 x 100 float32 pred_probs alone: the peak it adds, as a multiple of the pred_probs array.

    python benchmarks/bench_scale.py                         # the 1,000,000-row xgboost job (~30 min)
    python benchmarks/bench_scale.py --classifier hgb
    python benchmarks/bench_scale.py --n-samples 100000 --n-estimators 20   # a quick look
    python benchmarks/bench_scale.py --sides ours --n-jobs 2                # one side, folds in parallel

Needs Linux (``/proc``), cleanlab 2.9.0 and psutil (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

MB = 2**20
STAGES = ("load", "cv", "detect", "final fit", "evaluate", "artifacts")


# --------------------------------------------------------------------------------------------
# Measuring (inside a subprocess)


def _status_kb(key: str, pid="self") -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    return 0


class StageMeter:
    """Wall time and peak RSS of consecutive stages of this process (plus its workers)."""

    def __init__(self, sample_children: bool):
        self.rows = []
        self.name = None
        self.started = 0.0
        self.children_peak = 0
        self._stop = threading.Event()
        self._sampler = None
        if sample_children:
            import psutil

            self._me = psutil.Process()
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()

    def _sample(self):
        import psutil

        while not self._stop.wait(0.05):
            total = 0
            for child in self._me.children(recursive=True):
                try:
                    total += child.memory_full_info().pss
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    pass
            self.children_peak = max(self.children_peak, total)

    def enter(self, name: str) -> None:
        """End the current stage (if any) and start ``name``; a repeated name is ignored."""
        if name == self.name:
            return
        now = time.perf_counter()
        if self.name is not None:
            self.rows.append(
                {
                    "stage": self.name,
                    "seconds": now - self.started,
                    "peak_main": _status_kb("VmHWM:"),
                    "peak_children": self.children_peak,
                    "rss_start": self.rss_start,
                }
            )
        # Reset the process's high-water mark: from here VmHWM is the peak of this stage.
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        self.children_peak = 0
        self.rss_start = _status_kb("VmRSS:")
        self.name, self.started = name, time.perf_counter()

    def close(self) -> list:
        self.enter(None)
        self._stop.set()
        return self.rows


def _wrap(owner, name, before=None, after=None):
    """Replace ``owner.name`` by a function that calls ``before()``, the original, ``after()``."""
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        if before:
            before()
        result = original(*args, **kwargs)
        if after:
            after()
        return result

    setattr(owner, name, wrapper)


def _noisy_labels(y_train, n_classes, seed):
    from runner.datasets.corrupt import matrix_noise

    return matrix_noise(y_train, n_classes, rate=0.2, seed=seed).labels


def _classifier(args):
    if args.classifier == "xgboost":
        from xgboost import XGBClassifier

        return XGBClassifier(tree_method="hist", n_estimators=args.n_estimators, n_jobs=1, random_state=args.seed)
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=args.n_estimators, random_state=args.seed)


def _generator_options(args):
    # test_size 0.2 of n_samples / 0.8 total rows leaves exactly n_samples training rows
    return dict(
        n_samples=int(round(args.n_samples / 0.8)),
        n_features=20,
        n_informative=10,
        n_redundant=2,
        n_classes=10,
        n_clusters_per_class=1,
        class_sep=1.0,
        flip_y=0.0,
    )


def child_ours(args, out_dir: Path) -> dict:
    import runner.learn.detecting as detecting
    import runner.learn.estimator as learning
    import runner.run.experiment as experiment
    from runner.datasets import make_synthetic
    from runner.datasets.corrupt import matrix_noise

    meter = StageMeter(sample_children=args.n_jobs != 1)
    meter.enter("load")
    dataset = make_synthetic(**_generator_options(args), test_size=0.2, seed=args.seed, dtype="float32")
    meter.enter("cv")  # run_experiment corrupts the labels first (counted in "load" by the other side)
    _wrap(detecting, "cached_cross_val_pred_probs", after=lambda: meter.enter("detect"))
    _wrap(learning, "check_training_set", before=lambda: meter.enter("final fit"))
    _wrap(experiment, "_test_scores", before=lambda: meter.enter("evaluate"))
    _wrap(experiment, "_issue_table", before=lambda: meter.enter("artifacts"))
    result = experiment.run_experiment(
        dataset,
        learning.CleanLearning(
            _classifier(args),
            seed=args.seed,
            strategy="remove",
            cv_n_folds=5,
            n_jobs=args.n_jobs,
            threads_per_fit=1,
            cv_cache_dir=None,
            pred_probs_dtype="float32",
        ),
        noise=functools.partial(matrix_noise, rate=0.2),
        seed=args.seed,
        compare_baseline=False,
    )
    experiment.save_result(out_dir, result)
    rows = meter.close()
    flagged = result.label_issues["is_label_issue"].to_numpy()
    return {
        "rows": rows,
        "n_train": len(flagged),
        "n_issues": int(flagged.sum()),
        "issues_hash": _hash(flagged),
        "test_accuracy": result.metrics["test_accuracy"],
        "X_dtype": str(dataset.X_train.dtype),
        "pred_probs_dtype": str(result.pred_probs.dtype),
    }


def child_cleanlab(args, out_dir: Path) -> dict:
    import cleanlab.classification as classification
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    meter = StageMeter(sample_children=False)
    meter.enter("load")
    X, y = make_classification(**_generator_options(args), shuffle=False, random_state=args.seed)
    if args.cleanlab_float32:
        X = X.astype(np.float32)
    # the same stratified split as runner.datasets (indices, then one copy per split)
    train, test = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=args.seed)
    X_train, y_train, X_test, y_test = X[train], y[train], X[test], y[test]
    del X
    labels = _noisy_labels(y_train, 10, args.seed)
    meter.enter("cv")
    _wrap(classification, "estimate_py_noise_matrices_and_cv_pred_proba", after=lambda: meter.enter("detect"))
    _wrap(classification, "subset_X_y", before=lambda: meter.enter("final fit"))
    cl = classification.CleanLearning(
        _classifier(args), seed=args.seed, cv_n_folds=5, find_label_issues_kwargs={"n_jobs": 1}
    )
    cl.fit(X_train, labels)
    meter.enter("evaluate")
    accuracy = float(np.mean(cl.predict(X_test) == y_test))
    cl.predict_proba(X_test)
    meter.enter("artifacts")
    cl.label_issues_df.to_csv(out_dir / "label_issues.csv")
    for name in ("confident_joint", "noise_matrix", "inverse_noise_matrix"):
        pd.DataFrame(getattr(cl, name)).to_csv(out_dir / f"{name}.csv")
    rows = meter.close()
    flagged = cl.label_issues_df["is_label_issue"].to_numpy()
    return {
        "rows": rows,
        "n_train": len(flagged),
        "n_issues": int(flagged.sum()),
        "issues_hash": _hash(flagged),
        "test_accuracy": accuracy,
        "X_dtype": str(X_train.dtype),
        "pred_probs_dtype": "float64",
    }


def child_detect(args, side: str) -> dict:
    """Peak memory that CleanLearning.find_label_issues adds on given float32 pred_probs."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_detect import make_inputs

    labels, pred_probs = make_inputs(args.detect_rows, args.detect_classes)
    if side == "ours":
        from runner import CleanLearning

        learner = CleanLearning(seed=args.seed)
    else:
        from cleanlab.classification import CleanLearning

        learner = CleanLearning(seed=args.seed, find_label_issues_kwargs={"n_jobs": 1})
    before = _status_kb("VmRSS:")
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    started = time.perf_counter()
    frame = learner.find_label_issues(labels=labels, pred_probs=pred_probs)
    seconds = time.perf_counter() - started
    added = _status_kb("VmHWM:") - before
    return {
        "seconds": seconds,
        "added": added,
        "ratio": added / pred_probs.nbytes,
        "pred_probs_bytes": pred_probs.nbytes,
        "n_issues": int(frame["is_label_issue"].sum()),
    }


def _hash(mask) -> str:
    import hashlib

    return hashlib.blake2b(np.packbits(mask).tobytes(), digest_size=8).hexdigest()


# --------------------------------------------------------------------------------------------
# Driving (the parent process)


def run_child(args, side: str, extra=()) -> dict:
    command = [sys.executable, __file__, "--child", side, *extra, *_forwarded(args)]
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr)
        raise SystemExit(f"{side} failed with status {completed.returncode}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _forwarded(args):
    return [
        "--n-samples",
        str(args.n_samples),
        "--classifier",
        args.classifier,
        "--n-estimators",
        str(args.n_estimators),
        "--seed",
        str(args.seed),
        "--n-jobs",
        str(args.n_jobs),
        "--detect-rows",
        str(args.detect_rows),
        "--detect-classes",
        str(args.detect_classes),
    ] + (["--cleanlab-float32"] if args.cleanlab_float32 else [])


def _peak(row):
    return row["peak_main"] + row["peak_children"]


def print_job_table(results: dict) -> None:
    sides = list(results)
    header = " | ".join(f"{side} s | {side} peak RSS MB" for side in sides)
    print(f"| stage | {header} |" + (" peak ratio |" if len(sides) == 2 else ""))
    print("|---|" + "---:|---:|" * len(sides) + ("---:|" if len(sides) == 2 else ""))
    by_stage = {side: {row["stage"]: row for row in result["rows"]} for side, result in results.items()}
    for stage in STAGES:
        cells, peaks = [], []
        for side in sides:
            row = by_stage[side].get(stage)
            if row is None:
                cells.append("– | –")
                continue
            peaks.append(_peak(row))
            children = f" (+{row['peak_children'] / MB:,.0f} workers)" if row["peak_children"] else ""
            cells.append(f"{row['seconds']:,.1f} | {_peak(row) / MB:,.0f}{children}")
        ratio = f" {peaks[0] / peaks[1]:.2f} |" if len(peaks) == 2 else (" |" if len(sides) == 2 else "")
        print(f"| {stage} | " + " | ".join(cells) + " |" + ratio)
    totals, overall = [], []
    for side in sides:
        rows = results[side]["rows"]
        totals.append(f"**{sum(r['seconds'] for r in rows):,.1f}** | **{max(map(_peak, rows)) / MB:,.0f}**")
        overall.append(max(map(_peak, rows)))
    ratio = f" **{overall[0] / overall[1]:.2f}** |" if len(sides) == 2 else ""
    print("| whole job | " + " | ".join(totals) + " |" + ratio)
    for side, result in results.items():
        print(
            f"\n{side}: X {result['X_dtype']}, pred_probs {result['pred_probs_dtype']}, "
            f"{result['n_issues']:,} of {result['n_train']:,} flagged (mask {result['issues_hash']}), "
            f"test accuracy {result['test_accuracy']:.4f}"
        )
    if len(sides) == 2:
        same = len({result["issues_hash"] for result in results.values()}) == 1
        print(f"same label issues on both sides: {'yes' if same else 'NO'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=1_000_000, help="training rows N")
    parser.add_argument("--classifier", choices=("xgboost", "hgb"), default="xgboost")
    parser.add_argument("--n-estimators", type=int, default=100, help="trees / boosting iterations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=1, help="ours: folds fitted at once (loky)")
    parser.add_argument("--sides", default="ours,cleanlab")
    parser.add_argument("--cleanlab-float32", action="store_true", help="give cleanlab float32 features")
    parser.add_argument("--detect-rows", type=int, default=1_000_000)
    parser.add_argument("--detect-classes", type=int, default=100)
    parser.add_argument("--skip-job", action="store_true", help="only the detection row")
    parser.add_argument("--skip-detect", action="store_true", help="only the job table")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--detect", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        import warnings

        warnings.simplefilter("ignore")
        if args.detect:
            print(json.dumps(child_detect(args, args.child)))
            return
        with tempfile.TemporaryDirectory() as out_dir:
            child = child_ours if args.child == "ours" else child_cleanlab
            print(json.dumps(child(args, Path(out_dir))))
        return

    import cleanlab
    import xgboost

    sides = args.sides.split(",")
    print(
        f"# {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, numpy {np.__version__}, "
        f"xgboost {xgboost.__version__}, cleanlab {cleanlab.__version__}; load average "
        f"{os.getloadavg()[0]:.2f} at start"
    )
    if not args.skip_job:
        print(
            f"\n## {args.n_samples:,} training rows x 20 features, K=10, {args.classifier} "
            f"({args.n_estimators} trees, 1 thread), 5 folds; ours n_jobs={args.n_jobs}, cleanlab sequential\n"
        )
        results = {side: run_child(args, side) for side in sides}
        print_job_table(results)
    if not args.skip_detect:
        print(
            f"\n## detection alone: CleanLearning.find_label_issues on {args.detect_rows:,} x "
            f"{args.detect_classes} float32 pred_probs\n"
        )
        print("| side | seconds | peak added MB | x pred_probs | issues |")
        print("|---|---:|---:|---:|---:|")
        for side in sides:
            row = run_child(args, side, extra=["--detect"])
            print(
                f"| {side} | {row['seconds']:.2f} | {row['added'] / MB:,.0f} | {row['ratio']:.2f}x | "
                f"{row['n_issues']:,} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
