"""Tracking overhead: what ``tracking=mlflow`` adds to each job of a sweep, with the local SQLite store.

Measured on one sweep (iris, 3 folds, ``--jobs`` seeds, Hydra's basic launcher):

* **per job, in process** — the finished jobs of a sweep are logged one by one to a SQLite store
  exactly as the callback does at a job's end (the record read from the run directory, the look-up
  of an earlier attempt, the child run with its params, metrics and tags, its artifacts); median
  over the jobs. Apart: what a process pays once, the import of MLflow and its SQLite store, and
  what a new store costs once, the creation of its tables.
* **end to end** — the same sweep as fresh processes with ``tracking=none`` and ``tracking=mlflow``
  (into the existing store; alternating, median of ``--repeats``). The difference per job also
  holds the per-process and per-sweep costs (import, parent run, report attached) spread over
  the jobs.

    python benchmarks/bench_tracking.py [--jobs 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from omegaconf import OmegaConf, open_dict

from runner import tracking

TARGET_S = 0.3


def sweep(cwd: Path, jobs: int, *overrides: str) -> float:
    command = [sys.executable, "-m", "runner", "-m", "dataset=iris", "cv.folds=3", f"seed=range(0,{jobs})", *overrides]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("MLFLOW_TRACKING_URI", None)
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def job_config(job_dir: Path, uri: str):
    """A finished job's config with its Hydra node, as the callback receives it, tracking on."""
    config = OmegaConf.merge(
        OmegaConf.load(job_dir / ".hydra" / "config.yaml"), OmegaConf.load(job_dir / ".hydra" / "hydra.yaml")
    )
    with open_dict(config):
        config.tracking = {"uri": uri, "experiment": "bench", "timeout_s": 5, "retries": 1}
    return config


def per_job_in_process(sweep_dir: Path, store: Path) -> dict:
    """Seconds: importing MLflow, creating the store, and logging each job of ``sweep_dir``."""
    job_dirs = sorted((path for path in sweep_dir.iterdir() if path.name.isdigit()), key=lambda p: int(p.name))
    configs = [job_config(job_dir, f"sqlite:///{store}") for job_dir in job_dirs]
    settings = tracking.Settings.from_config(configs[0])
    start = time.perf_counter()
    import mlflow  # noqa: F401
    from mlflow.store.tracking import sqlalchemy_store  # noqa: F401

    imported = time.perf_counter()
    client = tracking.client(settings)
    experiment = tracking.experiment_id(client, "bench", settings)
    parent = client.create_run(experiment).info.run_id
    created = time.perf_counter()
    jobs = []
    for config in configs:
        start_job = time.perf_counter()
        client = tracking.client(tracking.Settings.from_config(config))
        assert tracking.log_job(client, experiment, tracking.job_record(config), parent_run_id=parent) is not None
        jobs.append(time.perf_counter() - start_job)
    return {"import": imported - start, "create": created - imported, "jobs": jobs}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        store = work / "mlflow.db"
        (work / "first").mkdir()
        sweep(work / "first", args.jobs)
        (sweep_dir,) = (work / "first" / "outputs" / "multirun").glob("*/*")
        in_process = per_job_in_process(sweep_dir, store)
        ends = {"none": [], "mlflow": []}
        for repeat in range(args.repeats):
            for mode in ("mlflow", "none"):
                cwd = work / f"{mode}-{repeat}"
                cwd.mkdir()
                extra = ["tracking=mlflow", f"tracking.uri=sqlite:///{store}"] if mode == "mlflow" else []
                ends[mode].append(sweep(cwd, args.jobs, *extra))

    per_job = statistics.median(in_process["jobs"])
    none_s, mlflow_s = statistics.median(ends["none"]), statistics.median(ends["mlflow"])
    print(f"tracking=mlflow, SQLite store, {args.jobs}-job sweep (iris, 3 folds), basic launcher")
    print("| measure | seconds | target |")
    print("|---|---:|---|")
    print(f"| per job, in process (median of {len(in_process['jobs'])}) | {per_job:.3f} | < {TARGET_S} |")
    print(f"| once per process: import MLflow and its SQLite store | {in_process['import']:.2f} | |")
    print(f"| once per store: create its tables | {in_process['create']:.2f} | |")
    print(f"| sweep, tracking=none (median of {args.repeats}) | {none_s:.2f} | |")
    print(f"| sweep, tracking=mlflow, existing store (median of {args.repeats}) | {mlflow_s:.2f} | |")
    print(f"| end to end, per job: (mlflow - none) / {args.jobs} | {(mlflow_s - none_s) / args.jobs:.3f} | |")


if __name__ == "__main__":
    main()
