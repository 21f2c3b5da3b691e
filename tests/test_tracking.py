"""Experiment tracking (tracking=mlflow): every run and sweep job read back from the MLflow store."""

from __future__ import annotations

import json
import logging
import socket
import sqlite3
import time

import pytest
import yaml
from omegaconf import open_dict

from runner.common.atomic import write_json
from runner.run import artifacts
from runner.run.config import config_hash
from runner.sweep import callbacks, tracking
from tests.helpers import cleanrun, compose_config, run_dirs, sweep, sweep_dir

mlflow = pytest.importorskip("mlflow", reason="tracking needs the `tracking` extra")

FAILING_SWEEP = ["dataset=wine", "cv.folds=3", "classifier=knn", "strategy=remove,relabel,none,weight"]
RUN_FILES = (
    "label_issues.csv",
    "confident_joint.csv",
    "noise_matrix.csv",
    "inverse_noise_matrix.csv",
    "true_noise_matrix.csv",
    "pred_probs.npy",
    "metrics.json",
)


def job_config(run_dir, overrides, *, cwd, num=0, mode="RUN"):
    """A composed job config with the Hydra node a callback receives."""
    from hydra.types import RunMode

    config = compose_config(["tracking=mlflow", *overrides], return_hydra_config=True)
    with open_dict(config):
        config.hydra.runtime.output_dir = str(run_dir)
        config.hydra.runtime.cwd = str(cwd)
        config.hydra.overrides.task = ["tracking=mlflow", *overrides]
        config.hydra.job.num = num
        config.hydra.mode = RunMode[mode]
    return config


def store(path):
    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{path}")


def all_runs(client):
    experiments = [experiment.experiment_id for experiment in client.search_experiments()]
    return client.search_runs(experiments)


def artifact_names(client, run_id, path=None):
    return {item.path.split("/")[-1] for item in client.list_artifacts(run_id, path)}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --------------------------------------------------------------------------------------------
# What a job is, in MLflow's terms
# --------------------------------------------------------------------------------------------


def test_flatten_gives_dotted_keys_and_command_line_values():
    nested = {
        "dataset": {"path": "a.csv", "columns": [1, 2]},
        "cv": {"folds": 3, "backend": None},
        "standardize": True,
        "final_fit": {"params": {}},
    }
    assert tracking.flatten(nested) == {
        "dataset.path": "a.csv",
        "dataset.columns": "[1, 2]",
        "cv.folds": "3",
        "cv.backend": "null",
        "standardize": "true",
        "final_fit.params": "{}",
    }


def test_a_relative_sqlite_store_is_taken_from_where_cleanrun_started(tmp_path):
    config = job_config(tmp_path / "run", ["dataset=iris"], cwd=tmp_path)
    settings = tracking.Settings.from_config(config)
    assert settings.uri == f"sqlite:///{tmp_path}/outputs/mlflow.db"
    assert settings.artifact_location("iris") == (tmp_path / "outputs" / "mlartifacts" / "iris").as_uri()
    with open_dict(config):
        config.tracking.uri = "http://tracking.example:5000"
    assert tracking.Settings.from_config(config).artifact_location("iris") is None  # the server decides


def test_the_experiment_is_the_preset_else_the_dataset_unless_it_is_swept(tmp_path):
    assert tracking.experiment_name(job_config(tmp_path, ["dataset=iris"], cwd=tmp_path)) == "iris"
    assert tracking.experiment_name(job_config(tmp_path, ["experiment=scale"], cwd=tmp_path)) == "scale"
    swept = job_config(tmp_path, ["dataset=iris"], cwd=tmp_path, mode="MULTIRUN")
    with open_dict(swept):  # as the sweep's config has it when the sweep starts
        swept.hydra.overrides.task = ["dataset=iris,wine"]
    assert tracking.experiment_name(swept) == tracking.DEFAULT_EXPERIMENT
    with open_dict(swept):
        swept.tracking.experiment = "mine"
    assert tracking.experiment_name(swept) == "mine"


def test_where_to_log_is_not_part_of_the_config_digest():
    plain = compose_config(["dataset=iris"])
    tracked = compose_config(["dataset=iris", "tracking=mlflow", "tracking.uri=http://elsewhere:5000"])
    assert config_hash(tracked) == config_hash(plain)
    assert config_hash(compose_config(["dataset=iris", "seed=1"])) != config_hash(plain)


def test_a_job_record_holds_the_run_directory_config_and_overrides(tmp_path):
    run_dir = tmp_path / "run"
    metrics = {
        "dataset": "iris",
        "seed": 2,
        "test_accuracy": 0.9,
        "time_total_s": 1.5,
        "cv_cache_hit": False,
        "config_hash": "abc",
        "git_commit": "deadbeef",
        "versions": {"numpy": "2.0"},
        "filter_by": None,
    }
    write_json(run_dir / artifacts.METRICS, metrics)
    record = tracking.job_record(job_config(run_dir, ["dataset=iris", "cv.folds=3", "seed=2"], cwd=tmp_path))
    assert record.status == "FINISHED" and record.run_dir == run_dir
    assert record.metrics == {"seed": 2.0, "test_accuracy": 0.9, "time_total_s": 1.5}
    assert {"dataset": "iris", "cv.folds": "3", "seed": "2", "strategy": "remove"}.items() <= record.params.items()
    assert record.params["dataset.name"] == "iris" and record.params["classifier.max_iter"] == "1000"
    assert not any(key.startswith(("tracking", "resume")) for key in record.params)
    assert {
        "config_hash": "abc",
        "git_commit": "deadbeef",
        "mlflow.source.git.commit": "deadbeef",
        "versions.numpy": "2.0",
        "cv_cache_hit": "false",
        "status": "done",
        "hydra.job.num": "0",
        "overrides": "tracking=mlflow dataset=iris cv.folds=3 seed=2",
    }.items() <= record.tags.items()
    assert "error" not in record.tags and "filter_by" not in record.tags


def test_a_failed_job_record_carries_its_error(tmp_path):
    run_dir = tmp_path / "run"
    write_json(run_dir / artifacts.METRICS, {"test_accuracy": 0.9})  # an earlier attempt's
    artifacts.write_failure(run_dir, ValueError("no such column 'label'"))
    config = job_config(run_dir, ["dataset=iris"], cwd=tmp_path)
    record = tracking.job_record(config)
    assert record.status == "FAILED" and record.metrics == {}
    assert record.tags["status"] == "failed" and record.tags["error"] == "ValueError: no such column 'label'"
    assert record.tags["config_hash"] == config_hash(compose_config(["dataset=iris"]))
    assert tracking.job_record(config, error="MemoryError: ").tags["error"] == "MemoryError: "


def test_tracking_without_mlflow_installed_stops_before_any_work(tmp_path, monkeypatch, caplog):
    real_find_spec = tracking.importlib.util.find_spec
    monkeypatch.setattr(
        tracking.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "mlflow" else real_find_spec(name, *args),
    )
    config = job_config(tmp_path / "run", ["dataset=iris"], cwd=tmp_path, mode="MULTIRUN")
    with pytest.raises(SystemExit), caplog.at_level(logging.ERROR):
        callbacks.MlflowTracking().on_multirun_start(config)
    assert "pip install -e '.[tracking]'" in caplog.text
    assert not (tmp_path / "outputs").exists()


# --------------------------------------------------------------------------------------------
# End to end, against a SQLite store
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_sweep_is_a_parent_run_with_one_child_per_job_and_resume_adds_none(tmp_path):
    database = tmp_path / "store" / "mlflow.db"
    overrides = [*FAILING_SWEEP, "tracking=mlflow", f"tracking.uri=sqlite:///{database}"]
    result = sweep(tmp_path, *overrides)
    assert result.returncode == 1, result.stdout + result.stderr  # job 3 fails: weight needs sample_weight
    assert "WARNING" not in result.stderr + result.stdout
    directory = sweep_dir(tmp_path)
    client = store(database)
    runs = all_runs(client)
    (parent,) = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    children = {run.data.tags["hydra.job.num"]: run for run in runs if run is not parent}
    assert sorted(children) == ["0", "1", "2", "3"]
    assert {run.data.tags["mlflow.parentRunId"] for run in children.values()} == {parent.info.run_id}
    assert client.get_experiment(parent.info.experiment_id).name == "wine"
    assert parent.info.status == "FAILED" and parent.data.metrics["n_jobs_failed"] == 1
    assert {"report.md", "summary.csv", "plots"} <= artifact_names(client, parent.info.run_id)
    assert artifact_names(client, parent.info.run_id, "plots")  # the plots themselves

    for num in ("0", "1", "2"):
        run, job_dir = children[num], directory / num
        job_overrides = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text())
        metrics = json.loads((job_dir / "metrics.json").read_text())
        assert run.info.status == "FINISHED" and run.data.tags["status"] == "done"
        assert run.data.tags["overrides"] == " ".join(job_overrides)
        for override in job_overrides:
            key, value = override.split("=", 1)
            if not key.startswith("tracking"):
                assert run.data.params[key] == value, override
        numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        assert run.data.metrics == pytest.approx(numbers) and "time_total_s" in run.data.metrics
        assert run.data.tags["config_hash"] == metrics["config_hash"]
        assert run.data.tags["versions.sklearn"] == metrics["versions"]["sklearn"]
        assert set(RUN_FILES) | {".hydra"} <= artifact_names(client, run.info.run_id)
        assert {"config.yaml", "overrides.yaml"} <= artifact_names(client, run.info.run_id, ".hydra")
    failed = children["3"]
    assert failed.info.status == "FAILED" and failed.data.tags["status"] == "failed"
    assert "sample_weight" in failed.data.tags["error"] and not failed.data.metrics
    assert "failure.json" in artifact_names(client, failed.info.run_id)

    resumed = sweep(tmp_path, *overrides, f"resume={directory}")
    assert resumed.returncode == 1, resumed.stdout + resumed.stderr
    again = {run.info.run_id: run for run in all_runs(client)}
    assert len(again) == 5, "a resumed sweep adds no runs"
    assert parent.info.run_id in again and all(children[num].info.run_id in again for num in ("0", "1", "2"))
    for num in ("0", "1", "2"):  # finished jobs were left alone
        assert again[children[num].info.run_id].info.end_time == children[num].info.end_time
    (retried,) = [run for run in again.values() if run.data.tags.get("hydra.job.num") == "3"]
    assert retried.info.run_id != failed.info.run_id and retried.info.status == "FAILED"


@pytest.mark.slow
def test_an_unreachable_tracking_server_costs_one_warning_and_no_result(tmp_path):
    uri = f"tracking.uri=http://127.0.0.1:{closed_port()}"
    result = cleanrun(tmp_path, "dataset=iris", "cv.folds=3", "tracking=mlflow", uri, "tracking.timeout_s=2")
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(tmp_path)
    assert all((run_dir / name).is_file() for name in RUN_FILES)
    output = result.stdout + result.stderr
    assert output.count("WARNING") == 1 and "could not log" in output, output

    swept = sweep(tmp_path, "dataset=iris", "cv.folds=3", "strategy=remove,none", "tracking=mlflow", uri)
    assert swept.returncode == 0, swept.stderr
    assert len(list(sweep_dir(tmp_path).glob("*/metrics.json"))) == 2
    # Before the jobs start, Hydra's own log format shows no level: count the message.
    assert (swept.stdout + swept.stderr).count("could not log") == 1, "one warning for the whole sweep"


@pytest.mark.slow
def test_a_locked_database_gives_one_warning_after_a_bounded_wait(tmp_path, caplog):
    run_dir = tmp_path / "run"
    write_json(run_dir / artifacts.METRICS, {"test_accuracy": 0.5, "config_hash": "abc"})
    config = job_config(run_dir, ["dataset=iris", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db"], cwd=tmp_path)
    callback = callbacks.MlflowTracking()
    callback._log(config)  # creates the store
    lock = sqlite3.connect(tmp_path / "mlflow.db", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    start = time.monotonic()
    try:
        with caplog.at_level(logging.INFO):
            callback._log(config)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert time.monotonic() - start < 60  # MLflow's SQLite busy timeout is 20 s
    # One warning, and none of MLflow's own error logs (a traceback per locked query).
    warnings = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "could not log" in warnings[0].getMessage(), warnings
    assert len(all_runs(store(tmp_path / "mlflow.db"))) == 1
