"""Sweeps: launchers agree, the cross-validation cache is used, failures are reported, resume works."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.helpers import RUN_SPECIFIC, sweep, sweep_dir

SMALL_SWEEP = ["dataset=iris", "cv.folds=3", "strategy=remove,weight,none"]


def workdir(parent: Path, name: str) -> Path:
    """A fresh working directory for one sweep."""
    (parent / name).mkdir()
    return parent / name


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
    reference = workdir(tmp_path, "reference")
    assert sweep(reference, *overrides).returncode == 0

    killed = workdir(tmp_path, "killed")
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


@pytest.mark.slow
def test_a_failed_rerun_of_a_finished_sweep_is_failed_not_done(tmp_path):
    overrides = ["dataset=iris", "cv.folds=3", "seed=0,1", "compare_baseline=false"]
    assert sweep(tmp_path, *overrides).returncode == 0
    directory = sweep_dir(tmp_path)
    rerun = sweep(tmp_path, *overrides, "noise.rate=0.9", f"hydra.sweep.dir={directory}", f"resume={directory}")
    assert rerun.returncode != 0, "a sweep whose jobs all failed must not exit 0"
    for job in ("0", "1"):
        assert not (directory / job / "metrics.json").exists(), f"job {job} keeps the earlier attempt's metrics"
        assert (directory / job / "failure.json").is_file()
    summary = pd.read_csv(directory / "summary.csv")
    assert list(summary["status"]) == ["failed", "failed"]
    assert "2 — 0 done, 2 failed" in (directory / "report.md").read_text()


@pytest.mark.slow
def test_resuming_with_another_cache_skips_the_finished_jobs(tmp_path):
    overrides = ["dataset=iris", "cv.folds=3", "seed=0,1", "strategy=remove,none"]
    assert sweep(tmp_path, *overrides, f"cache_dir={tmp_path / 'one'}").returncode == 0
    directory = sweep_dir(tmp_path)
    before = pd.read_csv(directory / "summary.csv")
    resumed = sweep(
        tmp_path, *overrides, f"cache_dir={tmp_path / 'two'}", "save_pred_probs=false", f"resume={directory}"
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert (resumed.stdout + resumed.stderr).count("skipped (resume)") == 4
    assert not (tmp_path / "two").exists(), "a finished job ran again"
    pd.testing.assert_frame_equal(comparable(pd.read_csv(directory / "summary.csv")), comparable(before))
    report = (directory / "report.md").read_text()
    assert "cache_dir" not in report and "save_pred_probs" not in report
    assert "Every job: `dataset=iris` `cv.folds=3`" in report


# Run a sweep whose every artifact file pauses under its temporary name before the rename, so
# that a kill lands while a job is writing its artifacts; used only by the fault-injection test.
SLOW_ARTIFACTS = """
import time
from contextlib import contextmanager

from runner.common import atomic
from runner.run.app import main

_atomic_path = atomic.atomic_path


@contextmanager
def atomic_path_slowly(path):
    with _atomic_path(path) as temporary:
        yield temporary
        time.sleep(0.4)


atomic.atomic_path = atomic_path_slowly
main()
"""
ARTIFACTS = (
    "label_issues.csv",
    "confident_joint.csv",
    "noise_matrix.csv",
    "inverse_noise_matrix.csv",
    "true_noise_matrix.csv",
    "pred_probs.npy",
)


def comparable_metrics(job_dir: Path) -> dict:
    metrics = json.loads((job_dir / "metrics.json").read_text())
    return {key: value for key, value in metrics.items() if not key.startswith((*RUN_SPECIFIC, "versions"))}


@pytest.mark.slow
def test_a_sweep_killed_while_writing_artifacts_resumes_to_identical_results(tmp_path):
    overrides = ["dataset=iris", "cv.folds=3", "strategy=remove,none", "seed=0,1"]
    reference = workdir(tmp_path, "reference")
    assert sweep(reference, *overrides).returncode == 0

    killed = workdir(tmp_path, "killed")
    (killed / "slow_artifacts.py").write_text(SLOW_ARTIFACTS)
    process = sweep(killed, *overrides, wait=False, program=("slow_artifacts.py",))
    deadline = time.time() + 300
    job = None
    while job is None:
        assert process.poll() is None and time.time() < deadline, "the sweep ended before it could be killed"
        # Job 2 between its first artifact and its metrics: a file under its temporary name.
        job = next((d for d in killed.glob("outputs/multirun/*/*/2") if list(d.glob(".*.tmp"))), None)
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (job / "metrics.json").exists() and list(job.glob(".*.tmp"))
    directory = job.parent

    resumed = sweep(killed, *overrides, f"resume={directory}")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert resumed.stdout.count("skipped (resume)") + resumed.stderr.count("skipped (resume)") == 2
    expected = sweep_dir(reference)
    for number in range(4):
        ours, theirs = directory / str(number), expected / str(number)
        assert comparable_metrics(ours) == comparable_metrics(theirs), number
        for name in ARTIFACTS:
            assert (ours / name).read_bytes() == (theirs / name).read_bytes(), (number, name)
        assert not list(ours.glob(".*.tmp")), "a killed attempt's temporary file is left behind"


@pytest.mark.slow
def test_an_optuna_sweep_optimises_the_objective_not_the_test_accuracy(tmp_path):
    """The tuning sweep of docs/tuning.md: the sweeper's best value is a job's objective, never its test score."""
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    result = sweep(
        tmp_path,
        "hydra/sweeper=optuna",
        "hydra.sweeper.direction=maximize",
        "hydra.sweeper.n_trials=3",
        "dataset=iris",
        "cv.folds=3",
        "cache_dir=null",
        "detection.frac_noise=interval(0.2, 1.0)",
    )
    assert result.returncode == 0, result.stderr
    directory = sweep_dir(tmp_path)
    best = float(yaml.safe_load((directory / "optimization_results.yaml").read_text())["best_value"])
    jobs = [json.loads(path.read_text()) for path in directory.glob("*/metrics.json")]
    assert len(jobs) == 3
    assert best == max(job["cv_given_accuracy"] for job in jobs)
    assert best not in {job["test_accuracy"] for job in jobs}
