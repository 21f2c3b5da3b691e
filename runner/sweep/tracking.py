"""Experiment tracking: every run, and every job of a sweep, as one MLflow run (``tracking=mlflow``).

:class:`runner.sweep.callbacks.MlflowTracking` is a Hydra callback; ``conf/tracking/mlflow.yaml`` puts it in place
of the sweep report callback, which it extends: the report is written first, then attached. It logs what a
job left in its run directory once the job has ended (``metrics.json`` or ``failure.json``, the
artifacts, ``.hydra/``), so the run itself knows nothing of tracking, and jobs that run in other
processes (joblib, submitit, Ray) are logged where they run.

* A single run is one MLflow run in the experiment ``tracking.experiment`` (default: the preset
  ``experiment=...``, else the dataset).
* A sweep is a *parent* run, created when the sweep starts, with one *child* run per job. The
  parent's id reaches the jobs through :data:`SWEEP_RUN` in the sweep directory; ``report.md``,
  ``summary.csv`` and ``plots/`` are attached to it when the sweep ends. A resumed sweep
  (``resume=DIR``) reuses its parent and leaves alone the child of every job that finished with
  the same config digest; an earlier failed attempt of a job is replaced by the new one, as the
  job's directory is.

A job's run (see :func:`job_record`): params = the resolved config flattened to dotted keys
(``dataset.path``), the chosen option of every group and the job's overrides; metrics = every
number in ``metrics.json`` (timings included); tags = the strings and flags of ``metrics.json``,
``config_hash``, ``git_commit``, ``versions.*``, ``hydra.job.num``, ``status`` (``done`` or
``failed``), ``error``, ``overrides``, ``run_dir``; MLflow status ``FINISHED`` or ``FAILED``;
artifacts = the run directory's files.

Tracking never costs a result: every call to MLflow is guarded, a store that cannot be reached or
written gives one warning (one per sweep when it is unreachable from the start), and HTTP requests
get a bounded timeout and few retries (``tracking.timeout_s``, ``tracking.retries``).
"""

from __future__ import annotations

import getpass
import importlib.util
import json
import logging
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from runner.common.provenance import git_commit
from runner.run import artifacts
from runner.run.config import config_hash

log = logging.getLogger(__name__)

#: In a sweep directory: the store, experiment and parent run of the sweep, for its jobs.
SWEEP_RUN = "mlflow_run.json"
#: The experiment of a sweep over several datasets without a preset.
DEFAULT_EXPERIMENT = "cleanrun"
#: What a sweep directory contributes to its parent run when the sweep ends.
SWEEP_ARTIFACTS = ("report.md", "summary.csv", "plots")

# MLflow's limits: entries per log_batch request, characters per param and tag value.
_BATCH = 100
_MAX_PARAM_CHARS = 6000
_MAX_TAG_CHARS = 8000
_MAX_NAME_CHARS = 250
# Keys MLflow accepts for params, metrics and tags.
_VALID_KEY = re.compile(r"^[\w\-. /]+$")
# Settings of the run that are not part of what it computes.
_NOT_PARAMS = ("tracking", "resume")
_OVERRIDE_PARSER = OverridesParser.create()


# --------------------------------------------------------------------------------------------
# Settings: where to log
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Where and how to log, from the ``tracking`` config node."""

    uri: str
    experiment: str | None
    timeout_s: int
    retries: int

    @classmethod
    def from_config(cls, config: DictConfig) -> Settings:
        """The settings of a composed config; a relative SQLite path is made absolute.

        It is taken relative to where cleanrun was started (``hydra.runtime.cwd``), so that every
        job of a sweep, wherever its working directory, writes to the same database.
        """
        tracking = config.tracking
        start = OmegaConf.select(config, "hydra.runtime.cwd", default=None) or os.getcwd()
        uri = str(tracking.uri)
        if uri.startswith("sqlite:///") and not uri.startswith("sqlite:///:"):
            database = Path(start, uri.removeprefix("sqlite:///"))  # an absolute path stays as it is
            uri = f"sqlite:///{database}"
        return cls(
            uri=uri,
            experiment=tracking.experiment,
            timeout_s=int(tracking.timeout_s),
            retries=int(tracking.retries),
        )

    def artifact_location(self, experiment: str) -> str | None:
        """Where a new experiment keeps its artifacts: ``mlartifacts/`` beside a SQLite store.

        Other stores choose for themselves (a server its ``--default-artifact-root``).
        """
        if not self.uri.startswith("sqlite:///"):
            return None
        database = Path(self.uri.removeprefix("sqlite:///"))
        return (database.parent / "mlartifacts" / _slug(experiment)).as_uri()


def experiment_name(config: DictConfig) -> str:
    """``tracking.experiment``, else the preset, else the dataset, else :data:`DEFAULT_EXPERIMENT`.

    In a sweep a swept group names no experiment: the jobs of one sweep share one experiment.
    """
    if config.tracking.experiment:
        return str(config.tracking.experiment)
    choices = OmegaConf.select(config, "hydra.runtime.choices", default=None) or {}
    swept = _swept_keys(config)
    for group in ("experiment", "dataset"):
        if choices.get(group) and group not in swept:
            return str(choices[group])
    return DEFAULT_EXPERIMENT


def _swept_keys(config: DictConfig) -> set[str]:
    """Keys with more than one value in a sweep: from the command line and from ``hydra.sweeper.params``."""
    if not _in_sweep(config):
        return set()
    overrides = OmegaConf.select(config, "hydra.overrides.task", default=None) or []
    parsed = _OVERRIDE_PARSER.parse_overrides(list(overrides))
    swept = {override.key_or_group for override in parsed if override.is_sweep_override()}
    return swept | set(OmegaConf.select(config, "hydra.sweeper.params", default=None) or {})


def _in_sweep(config: DictConfig) -> bool:
    # RunMode in a live config, its name in one read back from a run directory's .hydra/hydra.yaml
    return str(OmegaConf.select(config, "hydra.mode", default=None)) in (str(RunMode.MULTIRUN), "MULTIRUN")


# --------------------------------------------------------------------------------------------
# What a job is, in MLflow's terms (no MLflow needed)
# --------------------------------------------------------------------------------------------


@dataclass
class JobRecord:
    """One job as an MLflow run: its status, params, metrics, tags and directory."""

    run_dir: Path
    status: str  # MLflow's: FINISHED or FAILED
    name: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


def job_record(config: DictConfig, *, error: str | None = None) -> JobRecord:
    """Describe the job whose composed config (Hydra node included) is ``config``.

    Parameters
    ----------
    config : omegaconf.DictConfig
        The job's config as Hydra hands it to callbacks, with ``hydra.runtime.output_dir``.
    error : str, optional
        An error that escaped the job (its run directory may then hold no ``failure.json``).

    Returns
    -------
    JobRecord
        ``FINISHED`` when the run directory holds ``metrics.json`` and no error escaped,
        ``FAILED`` otherwise, with the error from ``failure.json`` (or ``error``) as a tag.
    """
    run_dir = Path(config.hydra.runtime.output_dir)
    job = OmegaConf.masked_copy(config, [key for key in config if key != "hydra"])
    metrics = artifacts.read_metrics(run_dir)
    failure = artifacts.read_failure(run_dir)  # removed when a job starts: present, the last attempt failed
    if error is None and failure is not None:
        error = str(failure.get("error", "unknown error"))
    if error is None and metrics is None:
        error = f"the job left no {artifacts.METRICS} in {run_dir}"
    if error is not None:
        metrics = None  # a metrics.json beside a failure is an earlier attempt's
    overrides = list(OmegaConf.select(config, "hydra.overrides.task", default=None) or [])
    job_num = str(OmegaConf.select(config, "hydra.job.num", default=0))
    name = f"job {job_num}: {' '.join(overrides)}" if _in_sweep(config) else " ".join(overrides) or run_dir.name

    record = JobRecord(run_dir=run_dir, status="FAILED" if error else "FINISHED", name=name[:_MAX_NAME_CHARS])
    record.params = _params(job, config, overrides)
    for key, value in (metrics or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            record.metrics[key] = float(value)
        elif isinstance(value, dict):
            record.tags.update({f"{key}.{sub}": _text(item) for sub, item in value.items()})
        elif value is not None:
            record.tags[key] = _text(value)
    if "config_hash" not in record.tags:  # a failed job wrote no metrics.json
        record.tags["config_hash"] = _config_hash(job)
    if "git_commit" not in record.tags:
        if commit := git_commit():
            record.tags["git_commit"] = commit
    if "git_commit" in record.tags:
        record.tags["mlflow.source.git.commit"] = record.tags["git_commit"]
    record.tags.update(
        {
            "hydra.job.num": job_num,
            "status": "failed" if error else "done",
            "overrides": " ".join(overrides),
            "run_dir": str(run_dir),
            "mlflow.source.name": "cleanrun",
        }
    )
    if error:
        record.tags["error"] = str(error)
    record.tags = {key: value[:_MAX_TAG_CHARS] for key, value in record.tags.items() if _VALID_KEY.match(key)}
    return record


def _params(job: DictConfig, config: DictConfig, overrides: list[str]) -> dict[str, str]:
    """The resolved config as dotted keys, then each group's chosen option, then the overrides."""
    try:
        plain = OmegaConf.to_container(job, resolve=True)
    except Exception:  # an interpolation that fails is what may have failed the job: log it unresolved
        plain = OmegaConf.to_container(job, resolve=False)
    for key in _NOT_PARAMS:
        plain.pop(key, None)
    params = flatten(plain)
    choices = OmegaConf.select(config, "hydra.runtime.choices", default=None) or {}
    for group, option in choices.items():
        if option is not None and not group.startswith("hydra/") and group not in _NOT_PARAMS:
            params.setdefault(group, str(option))
    for override in _OVERRIDE_PARSER.parse_overrides(overrides):
        if not override.is_delete() and override.key_or_group.split(".")[0] not in _NOT_PARAMS:
            params.setdefault(override.key_or_group, override.get_value_element_as_str())
    return {key: value[:_MAX_PARAM_CHARS] for key, value in params.items() if _VALID_KEY.match(key)}


def flatten(node: dict, prefix: str = "") -> dict[str, str]:
    """A nested dict as ``{"a.b.c": text}``; values as on the command line (``true``, ``null``, ``0.1``).

    Examples
    --------
    >>> flatten({"cv": {"folds": 3, "ensemble": None}, "seed": 0})
    {'cv.folds': '3', 'cv.ensemble': 'null', 'seed': '0'}
    """
    flat = {}
    for key, value in node.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = _text(value)
    return flat


def _text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _config_hash(job: DictConfig) -> str:
    """The app's own digest of the job's config, as written into metrics.json."""
    try:
        return config_hash(job)
    except Exception:  # a config that does not resolve has no digest
        return ""


# --------------------------------------------------------------------------------------------
# Writing to MLflow
# --------------------------------------------------------------------------------------------


def check_installed() -> None:
    """Refuse ``tracking=mlflow`` without MLflow before any work, with the fix.

    A missing package is a setup error, not a store that is down: a long sweep should not run
    untracked because of it. Hydra turns a callback's exceptions into warnings, so this exits.
    """
    if importlib.util.find_spec("mlflow") is None:
        log.error("tracking=mlflow needs MLflow: pip install -e '.[tracking]' (or run with tracking=none)")
        raise SystemExit(1)


def client(settings: Settings):
    """An ``mlflow.MlflowClient`` for ``settings.uri``; HTTP requests bounded by the settings.

    MLflow reads its HTTP settings from the environment at each request; values already set
    there by the user win.
    """
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(settings.timeout_s))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(settings.retries))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0")
    if settings.uri.startswith("sqlite:///"):
        # SQLite creates the file, not its directory.
        Path(settings.uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    from mlflow import MlflowClient  # imported only when tracking is on: it takes seconds

    return MlflowClient(tracking_uri=settings.uri)


def experiment_id(mlflow_client, name: str, settings: Settings) -> str:
    """The id of the experiment ``name``, created when it does not exist yet."""
    from mlflow.exceptions import MlflowException

    found = mlflow_client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            mlflow_client.restore_experiment(found.experiment_id)
        return found.experiment_id
    try:
        return mlflow_client.create_experiment(name, artifact_location=settings.artifact_location(name))
    except MlflowException:  # created meanwhile by a concurrent run
        return mlflow_client.get_experiment_by_name(name).experiment_id


def log_job(mlflow_client, experiment: str, record: JobRecord, *, parent_run_id=None, start_ms=None) -> str | None:
    """Log one job as an MLflow run: tags, params, metrics, the run directory's files, its status.

    In a sweep, the runs of earlier attempts of the same job (same parent, same job number) are
    looked up first: one that finished with the same config digest is left alone and nothing is
    logged (a resumed sweep); others are deleted, as the job's directory belongs to its last attempt.

    Parameters
    ----------
    mlflow_client : mlflow.MlflowClient
        The store to log to (:func:`client`).
    experiment : str
        The experiment id (:func:`experiment_id`).
    record : JobRecord
        The job (:func:`job_record`).
    parent_run_id : str, optional
        The sweep's parent run; None for a single run.
    start_ms : int, optional
        When the job started, in milliseconds since the epoch (default: now).

    Returns
    -------
    str or None
        The new run's id; None when an earlier attempt's run was left alone.
    """
    tags = dict(record.tags)
    if parent_run_id is not None:
        tags["mlflow.parentRunId"] = parent_run_id
        for earlier in _attempts(mlflow_client, experiment, parent_run_id, tags["hydra.job.num"]):
            if earlier.info.status == "FINISHED" and earlier.data.tags.get("config_hash") == tags["config_hash"]:
                return None
            mlflow_client.delete_run(earlier.info.run_id)
    tags.setdefault("mlflow.user", _user())
    run = mlflow_client.create_run(experiment, start_time=start_ms, tags=tags, run_name=record.name)
    run_id = run.info.run_id
    log_batch(mlflow_client, run_id, params=record.params, metrics=record.metrics)
    mlflow_client.log_artifacts(run_id, str(record.run_dir))
    mlflow_client.set_terminated(run_id, status=record.status)
    return run_id


def log_batch(mlflow_client, run_id: str, *, params=None, metrics=None, tags=None) -> None:
    """Params, metrics and tags in as few requests as MLflow's per-request limits allow."""
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    entries = [Param(key, value) for key, value in (params or {}).items()]
    entries += [Metric(key, value, now, 0) for key, value in (metrics or {}).items()]
    entries += [RunTag(key, value) for key, value in (tags or {}).items()]
    for start in range(0, len(entries), _BATCH):
        chunk = entries[start : start + _BATCH]
        mlflow_client.log_batch(
            run_id,
            params=[entry for entry in chunk if isinstance(entry, Param)],
            metrics=[entry for entry in chunk if isinstance(entry, Metric)],
            tags=[entry for entry in chunk if isinstance(entry, RunTag)],
        )


def _attempts(mlflow_client, experiment: str, parent_run_id: str, job_num: str) -> list:
    return mlflow_client.search_runs(
        [experiment],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}' and tags.`hydra.job.num` = '{job_num}'",
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (some containers)
        return "unknown"


def _slug(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("_") or DEFAULT_EXPERIMENT


@contextmanager
def _guarded(settings: Settings, what: str):
    """Turn any failure to log into one warning: tracking never costs a result."""
    try:
        with _quiet_libraries():
            yield
    except Exception as error:
        reason = " ".join(f"{type(error).__name__}: {error}".split())[:300]
        log.warning(
            "tracking: could not log %s to MLflow at %s (%s); its directory is complete as usual",
            what,
            settings.uri,
            reason,
        )


@contextmanager
def _quiet_libraries():
    """Silence MLflow's and urllib3's own logs (a traceback per locked query, a warning per HTTP
    retry, the creation of a new store's tables): the one warning is ours."""
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic", "urllib3.connectionpool")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


# --------------------------------------------------------------------------------------------
# The Hydra callback
# --------------------------------------------------------------------------------------------
