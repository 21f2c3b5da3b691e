"""Sweeps: launchers agree, the cross-validation cache is used, failures are reported, resume works."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.test_app import RUN_SPECIFIC

SMALL_SWEEP = ["dataset=iris", "cv.folds=3", "strategy=remove,weight,none"]


def sweep(cwd, *overrides, wait=True, timeout=600):
    command = [sys.executable, "-m", "runner", "-m", *overrides]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("CLEANRUN_CACHE_DIR", None)
    if not wait:
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def sweep_dir(cwd) -> Path:
    (directory,) = Path(cwd, "outputs", "multirun").glob("*/*")
    return directory


def comparable(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary without what legitimately differs between two identical sweeps."""
    drop = [c for c in summary.columns if c.startswith(RUN_SPECIFIC) or c in ("git_commit",)]
    return summary.drop(columns=drop).reset_index(drop=True)


@pytest.mark.slow
def test_launchers_give_the_same_metrics(tmp_path):
    summaries = {}
    for launcher in ("basic", "joblib", "submitit_local"):
        cwd = tmp_path / launcher
        cwd.mkdir()
        result = sweep(cwd, *SMALL_SWEEP, f"hydra/launcher={launcher}")
        assert result.returncode == 0, result.stdout + result.stderr
        summaries[launcher] = comparable(pd.read_csv(sweep_dir(cwd) / "summary.csv"))
    pd.testing.assert_frame_equal(summaries["joblib"], summaries["basic"])
    pd.testing.assert_frame_equal(summaries["submitit_local"], summaries["basic"])


def test_cache_hits_and_a_failing_job_is_reported(tmp_path):
    result = sweep(tmp_path, "dataset=wine", "cv.folds=3", "classifier=knn", "strategy=remove,relabel,none,weight")
    assert result.returncode == 1, "a sweep with a failed job must exit non-zero"
    directory = sweep_dir(tmp_path)
    summary = pd.read_csv(directory / "summary.csv")
    assert list(summary["status"]) == ["done", "done", "done", "failed"]
    assert "sample_weight" in summary.loc[3, "error"]
    assert list(summary["cv_cache_hit"].iloc[:3]) == [False, True, True]
    report = (directory / "report.md").read_text()
    assert "failed" in report and "KNeighborsClassifier" in report


def test_resume_after_a_kill_runs_only_the_rest(tmp_path):
    overrides = ["dataset=digits", "cv.folds=3", "strategy=remove,none", "seed=0,1,2"]
    reference = tmp_path / "reference"
    reference.mkdir()
    assert sweep(reference, *overrides).returncode == 0

    killed = tmp_path / "killed"
    killed.mkdir()
    process = sweep(killed, *overrides, wait=False)
    deadline = time.time() + 300
    while not list(killed.glob("outputs/multirun/*/*/2/metrics.json")):
        assert process.poll() is None and time.time() < deadline, "the sweep ended before it could be killed"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    directory = sweep_dir(killed)
    finished = {job.parent.name: job.stat().st_mtime_ns for job in directory.glob("*/metrics.json")}
    assert 3 <= len(finished) < 6

    resumed = sweep(killed, *overrides, f"resume={directory}")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert resumed.stdout.count("skipped (resume)") + resumed.stderr.count("skipped (resume)") == len(finished)
    for job, mtime in finished.items():
        assert (directory / job / "metrics.json").stat().st_mtime_ns == mtime, f"job {job} ran again"
    pd.testing.assert_frame_equal(
        comparable(pd.read_csv(directory / "summary.csv")),
        comparable(pd.read_csv(sweep_dir(reference) / "summary.csv")),
    )
