"""The Hydra entry point: config → plugin objects → one experiment → a run directory.

``python -m runner`` (console script ``cleanrun``) composes ``conf/`` with the command-line
overrides and calls :func:`run`, which instantiates each config group (every option names its
plugin with ``_target_``), runs :func:`runner.run.experiment.run_experiment` and writes the
artifacts. :func:`run` takes a plain config and an output directory, so tests and notebooks
call it without Hydra's command line.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from runner.common.atomic import WriteError
from runner.learn.parallel import check_cores
from runner.run import artifacts
from runner.run.build import build_learner, instantiate_logged, load_data
from runner.run.config import CONFIG_PATH, check_config, config_hash
from runner.run.experiment import ExperimentResult, run_experiment, save_result
from runner.run.plugin_identity import chosen_plugins
from runner.run.summary import summary

log = logging.getLogger("cleanrun")

# Part of the run directory name: two runs started in the same second get different ones.
OmegaConf.register_new_resolver("pid", os.getpid, use_cache=True, replace=True)
# `resume=<sweep dir>` reuses that sweep directory instead of a new one.
OmegaConf.register_new_resolver("resume_or", lambda resume, default: resume or default, replace=True)

# conf/hydra/launcher/ holds complete presets under the launcher plugins' own names (joblib,
# submitit_*, ray); Hydra then checks them against the plugin's schema and warns that this
# matching by name is deprecated. The check is harmless and the presets do not rely on it.
warnings.filterwarnings("ignore", message=r"\s*'hydra/launcher/.*' is validated against ConfigStore schema")

# Errors of the user's making (bad config, data, labels): one line, not a traceback.
USER_ERRORS = (ValueError, TypeError, KeyError, FileNotFoundError, ImportError, WriteError, artifacts.RunDirectoryBusy)


def below_warning():
    """Logging filter of the stdout handler (conf/hydra/job_logging): warnings and errors go to stderr."""
    return lambda record: record.levelno < logging.WARNING


def run(cfg: DictConfig, output_dir, choices: dict | None = None) -> ExperimentResult:
    """Run the experiment a config describes and write its artifacts to ``output_dir``.

    The run holds ``output_dir`` while it runs (:func:`runner.run.artifacts.run_lock`: a second run there is
    refused with :class:`runner.run.artifacts.RunDirectoryBusy`) and first removes every artifact an earlier run
    left there (:data:`runner.run.artifacts.RUN_ARTIFACTS`).

    Parameters
    ----------
    cfg : DictConfig
        A composed cleanrun config (``conf/config.yaml`` plus overrides).
    output_dir : str or Path
        The run directory.
    choices : dict, optional
        The chosen option of every group (Hydra's ``runtime.choices``), for display names.
    """
    with artifacts.run_lock(output_dir):
        # What an earlier run left must not pass for this run's outcome.
        artifacts.clear_outcome(output_dir)
        return _run(cfg, output_dir, choices)


def _run(cfg: DictConfig, output_dir, choices: dict | None) -> ExperimentResult:
    check_config(cfg)
    _check_cores(cfg)
    choices = choices or {}
    dataset, pred_probs = load_data(cfg, choices)
    result = run_experiment(
        dataset,
        build_learner(cfg, choices),
        noise=instantiate_logged("noise", cfg.noise),
        seed=cfg.seed,
        trusted_rows=cfg.trusted_rows,
        pred_probs=pred_probs,
        fit_kwargs=OmegaConf.to_container(cfg.final_fit.fit_kwargs, resolve=True),
        compare_baseline=cfg.compare_baseline,
        compare_clean=cfg.compare_clean,
        names={group: choices[group] for group in ("classifier", "strategy") if group in choices},
    )
    # The features are not needed any more: the cleaned table is read again from the file, in their place.
    del dataset, pred_probs
    result.metrics.update(chosen_plugins(OmegaConf.to_container(cfg, resolve=True), choices))
    result.metrics["config_hash"] = config_hash(cfg)
    save_result(output_dir, result, save_pred_probs=cfg.save_pred_probs)
    log.info("%s", summary(result.metrics, output_dir, one_line=_in_sweep(), issues=result.label_issues))
    return result


def _check_cores(cfg: DictConfig) -> None:
    """Warn when parallel jobs x parallel folds x threads per fit exceed this machine's cores."""
    # Launchers that run jobs side by side on this machine (joblib) have n_jobs; SLURM, Ray don't.
    jobs = OmegaConf.select(HydraConfig.get(), "launcher.n_jobs", default=1) if _in_sweep() else 1
    # With a scheduler address the folds run on the cluster's machines, not on this one.
    folds = 1 if cfg.cv.scheduler_address else cfg.cv.n_jobs
    check_cores(jobs=jobs, folds=folds, threads_per_fit=cfg.threads_per_fit)


def _in_sweep() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _record_failure(output_dir, error: BaseException) -> None:
    """Write failure.json; when that fails too (a full disk, a read-only directory), say so in one line."""
    try:
        artifacts.write_failure(output_dir, error)
    except WriteError as write_error:
        log.warning("%s (the failure below is not recorded there)", write_error)


def _warnings_to_log() -> None:
    """Python warnings (pandas, scikit-learn, ...) as one log line each, on stderr with the other warnings."""
    logging.captureWarnings(True)
    warnings.formatwarning = _one_line_warning


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"{category.__name__}: {' '.join(str(message).split())}"


def _choices(hydra_config) -> dict:
    """The chosen option of every group.

    A run started from a saved run directory (``--config-path <run>/.hydra``) composes no
    groups; its choices are those recorded in that directory's ``hydra.yaml``.
    """
    choices = {key: value for key, value in hydra_config.runtime.choices.items() if value is not None}
    for source in hydra_config.runtime.config_sources:
        saved = Path(source.path.removeprefix("file://")) / "hydra.yaml"
        if source.provider == "main" and saved.is_file():
            recorded = OmegaConf.select(OmegaConf.load(saved), "hydra.runtime.choices") or {}
            choices = {**OmegaConf.to_container(recorded), **choices}
    return choices


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="config")
def main(cfg: DictConfig):
    _warnings_to_log()
    hydra_config = HydraConfig.get()
    output_dir = Path(hydra_config.runtime.output_dir)
    if isinstance(cfg.get("objective"), str) and reads_test_labels(cfg.objective):
        log.warning(
            "objective=%s reads the test labels: a sweeper that optimises it chooses on the test split", cfg.objective
        )
    if cfg.resume and hydra_config.mode == RunMode.MULTIRUN:
        done = artifacts.read_metrics(output_dir)
        if done is not None and done.get("config_hash") == config_hash(cfg):
            log.info("job %s is already done with this config: skipped (resume)", hydra_config.job.num)
            return objective_value(cfg, done)
    try:
        result = run(cfg, output_dir, _choices(hydra_config))
    except Exception as error:
        if not isinstance(error, artifacts.RunDirectoryBusy):  # the directory is the other run's
            _record_failure(output_dir, error)
        if hydra_config.mode == RunMode.MULTIRUN:
            # Recorded in failure.json; the sweep goes on, its report lists the failure and the
            # sweep ends with status 1.
            log.error("job %s failed: %s: %s", hydra_config.job.num, type(error).__name__, error)
            return None
        if not isinstance(error, USER_ERRORS):
            raise
        log.error("%s: %s", type(error).__name__, error)
        sys.exit(1)
    return objective_value(cfg, result.metrics)


def reads_test_labels(metric: str) -> bool:
    """Whether a metrics.json key is computed from the test split's labels."""
    return metric.startswith("test_") or "_test_" in metric or metric == "recovered_fraction"


def objective_value(cfg: DictConfig, metrics: dict) -> float | None:
    """The value returned to an optimising sweeper: the metric ``cfg.objective`` names (None if the run has none).

    By default (``cv_given_accuracy``) it is computed from the training split alone, so a tuning
    sweep never chooses on the test labels.
    """
    value = metrics.get(cfg.objective)
    if value is None:
        log.warning("objective %s is not among this run's metrics: the sweeper gets None", cfg.objective)
        return None
    return float(value)
