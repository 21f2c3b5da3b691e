"""Hydra callbacks of a sweep: write the report when a multirun ends (:class:`SweepSummary`), and log
every job and the sweep to MLflow (:class:`MlflowTracking`, ``tracking=mlflow``; see :mod:`runner.sweep.tracking`)."""

from __future__ import annotations

import atexit
import json
import logging
import time
from pathlib import Path

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from runner.common.atomic import write_json
from runner.sweep.collect import collect
from runner.sweep.report import _report_and_log
from runner.sweep.tracking import (
    _MAX_NAME_CHARS,
    SWEEP_ARTIFACTS,
    SWEEP_RUN,
    Settings,
    _guarded,
    _in_sweep,
    _user,
    check_installed,
    client,
    experiment_id,
    experiment_name,
    job_record,
    log_batch,
    log_job,
)

log = logging.getLogger(__name__)


class SweepSummary(Callback):
    """Hydra callback: write ``summary.csv``, ``report.md`` and plots when a multirun ends.

    Register it in the Hydra config::

        hydra:
          callbacks:
            sweep_summary:
              _target_: runner.sweep.callbacks.SweepSummary

    cleanrun's jobs record a failure in their directory and return, so Hydra reaches
    ``on_multirun_end`` even when some failed; the report lists them, and then the sweep exits
    with status 1. A sweep killed before its end can be reported with
    ``python -m runner.report DIR``.
    """

    def on_multirun_end(self, config, **kwargs) -> None:
        """Write the report of ``config.hydra.sweep.dir``; log, never raise, on error.

        Parameters
        ----------
        config : omegaconf.DictConfig
            The sweep's config; only ``hydra.sweep.dir`` is read.
        **kwargs
            Ignored (Hydra's callback signature).
        """
        try:
            _report_and_log(config.hydra.sweep.dir)
            failed = int((collect(config.hydra.sweep.dir)["status"] == "failed").sum())
        except Exception:
            # A broken report must not turn the sweep into a failure.
            log.exception("Could not write the sweep report; retry with `python -m runner.report DIR`")
            return
        if failed:
            log.error("%d job(s) of the sweep failed: see report.md", failed)
            raise SystemExit(1)


class MlflowTracking(SweepSummary):
    """Hydra callback: log every job to MLflow, a sweep as a parent run; the sweep report as before.

    ``conf/tracking/mlflow.yaml`` registers it in place of :class:`runner.sweep.callbacks.SweepSummary`::

        hydra:
          callbacks:
            sweep_summary:
              _target_: runner.sweep.tracking.MlflowTracking

    Hydra calls the end hooks of its callbacks in reverse order and the report callback ends a
    sweep with failed jobs by raising ``SystemExit``, so the report and its logging share one
    callback: the report is written, then attached, then the exit goes on.
    """

    def __init__(self) -> None:
        super().__init__()
        self._start_ms = None
        self._logged = False

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        """Create the sweep's parent run (or find it again, on resume) and leave its id for the jobs."""
        check_installed()
        settings = Settings.from_config(config)
        sweep_dir = Path(config.hydra.sweep.dir)
        state = {"uri": settings.uri}
        with _guarded(settings, f"the sweep {sweep_dir}"):
            try:
                state = _start_sweep(settings, config, sweep_dir)
            except Exception as error:
                state["error"] = f"{type(error).__name__}: {error}"
                raise
            finally:
                # The jobs read it: with an error recorded they do not try (and warn) again.
                write_json(sweep_dir / SWEEP_RUN, state)

    def on_job_start(self, config: DictConfig, **kwargs) -> None:
        """Note the start; a single run that ends with ``sys.exit`` is logged at exit instead."""
        self._start_ms = int(time.time() * 1000)
        self._logged = False
        if not _in_sweep(config):
            check_installed()
            atexit.register(self._log_at_exit, config)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs) -> None:
        """Log the job's run from its run directory."""
        self._logged = True
        escaped = job_return._return_value if job_return.status == JobStatus.FAILED else None
        self._log(config, error=f"{type(escaped).__name__}: {escaped}" if escaped is not None else None)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        """Write the sweep report, then attach it to the parent run and close the parent."""
        try:
            super().on_multirun_end(config, **kwargs)
        finally:
            sweep_dir = Path(config.hydra.sweep.dir)
            state = _read_state(sweep_dir)
            if state.get("run_id"):
                settings = Settings.from_config(config)
                with _guarded(settings, f"the sweep {sweep_dir}"):
                    _end_sweep(client(settings), state["run_id"], sweep_dir)

    def _log(self, config: DictConfig, *, error: str | None = None) -> None:
        settings = Settings.from_config(config)
        run_dir = config.hydra.runtime.output_dir
        parent = experiment = None
        if _in_sweep(config):
            state = _read_state(Path(config.hydra.sweep.dir))
            if state.get("error") and state.get("uri") == settings.uri:
                return  # the sweep already warned that the store is unavailable
            if state.get("uri") == settings.uri:
                parent, experiment = state.get("run_id"), state.get("experiment_id")
        with _guarded(settings, f"the run {run_dir}"):
            mlflow_client = client(settings)
            if experiment is None:
                experiment = experiment_id(mlflow_client, experiment_name(config), settings)
            record = job_record(config, error=error)
            log_job(mlflow_client, experiment, record, parent_run_id=parent, start_ms=self._start_ms)

    def _log_at_exit(self, config: DictConfig) -> None:
        if not self._logged:  # the run ended before Hydra's job end (sys.exit on a bad config)
            self._logged = True
            self._log(config)


def _start_sweep(settings: Settings, config: DictConfig, sweep_dir: Path) -> dict:
    """The sweep's parent run: the one of an earlier attempt of this sweep directory, or a new one."""
    mlflow_client = client(settings)
    earlier = _read_state(sweep_dir)
    if earlier.get("run_id") and earlier.get("uri") == settings.uri:
        from mlflow.exceptions import MlflowException

        try:
            if mlflow_client.get_run(earlier["run_id"]).info.lifecycle_stage == "active":
                mlflow_client.update_run(earlier["run_id"], status="RUNNING")
                return earlier
        except MlflowException:  # deleted from the store meanwhile: start a new parent
            pass
    experiment = experiment_id(mlflow_client, experiment_name(config), settings)
    overrides = " ".join(OmegaConf.select(config, "hydra.overrides.task", default=None) or [])
    run = mlflow_client.create_run(
        experiment,
        run_name=f"sweep {sweep_dir.parent.name}/{sweep_dir.name}: {overrides}"[:_MAX_NAME_CHARS],
        tags={
            "overrides": overrides,
            "sweep_dir": str(sweep_dir.resolve()),
            "mlflow.source.name": "cleanrun",
            "mlflow.user": _user(),
        },
    )
    return {"uri": settings.uri, "experiment_id": experiment, "run_id": run.info.run_id}


def _end_sweep(mlflow_client, run_id: str, sweep_dir: Path) -> None:
    """Attach the report and plots, count the jobs, and close the parent (FAILED if a job failed)."""
    for name in SWEEP_ARTIFACTS:
        path = sweep_dir / name
        if path.is_dir():
            mlflow_client.log_artifacts(run_id, str(path), artifact_path=name)
        elif path.is_file():
            mlflow_client.log_artifact(run_id, str(path))
    status = collect(sweep_dir)["status"]
    counts = {f"n_jobs_{state}": int((status == state).sum()) for state in ("done", "failed", "incomplete")}
    log_batch(mlflow_client, run_id, metrics={"n_jobs": len(status), **counts})
    mlflow_client.set_terminated(run_id, status="FINISHED" if counts["n_jobs_done"] == len(status) else "FAILED")


def _read_state(sweep_dir: Path) -> dict:
    try:
        return json.loads((sweep_dir / SWEEP_RUN).read_text())
    except (OSError, ValueError):
        return {}
