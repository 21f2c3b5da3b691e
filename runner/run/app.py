"""The Hydra entry point: config → plugin objects → one experiment → a run directory.

``python -m runner`` (console script ``cleanrun``) composes ``conf/`` with the command-line
overrides and calls :func:`run`, which instantiates each config group (every option names its
plugin with ``_target_``), runs :func:`runner.run.experiment.run_experiment` and writes the
artifacts. :func:`run` takes a plain config and an output directory, so tests and notebooks
call it without Hydra's command line.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import warnings
from pathlib import Path

import hydra
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from runner.run import artifacts
from runner.contracts import check_dataset
from runner.datasets import standardized
from runner.run.experiment import ExperimentResult, run_experiment, save_result
from runner.datasets.given import match_pred_probs, read_pred_probs
from runner.learn.parallel import check_cores

log = logging.getLogger("cleanrun")

# Part of the run directory name: two runs started in the same second get different ones.
OmegaConf.register_new_resolver("pid", os.getpid, use_cache=True, replace=True)
# `resume=<sweep dir>` reuses that sweep directory instead of a new one.
OmegaConf.register_new_resolver("resume_or", lambda resume, default: resume or default, replace=True)

# From a source checkout (an editable install) the configs are read from conf/ at the top of the
# repository, so edits show at once; an installed wheel carries them as the package runner.conf.
SOURCE_CONF = Path(__file__).resolve().parents[2] / "conf"
CONFIG_PATH = str(SOURCE_CONF) if (SOURCE_CONF / "config.yaml").is_file() else "pkg://runner.conf"

# conf/hydra/launcher/ holds complete presets under the launcher plugins' own names (joblib,
# submitit_*, ray); Hydra then checks them against the plugin's schema and warns that this
# matching by name is deprecated. The check is harmless and the presets do not rely on it.
warnings.filterwarnings("ignore", message=r"\s*'hydra/launcher/.*' is validated against ConfigStore schema")

# Errors of the user's making (bad config, data, labels): one line, not a traceback.
USER_ERRORS = (ValueError, TypeError, KeyError, FileNotFoundError, ImportError, artifacts.WriteError,
               artifacts.RunDirectoryBusy)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# Numbers the config may hold, checked before any work: key -> (what is allowed, test). A key an
# option does not have (noise.rate with noise=none) is not checked.
CONFIG_RANGES = {
    "seed": ("an integer in [0, 2**32 - 1]", lambda v: _is_int(v) and 0 <= v < 2**32),
    "cv.folds": ("an integer >= 2", lambda v: _is_int(v) and v >= 2),
    "cv.n_jobs": ("null or a non-zero integer (-1 = all cores)", lambda v: v is None or (_is_int(v) and v != 0)),
    "cv.rounds": ("an integer >= 1", lambda v: _is_int(v) and v >= 1),
    "cv.validate_cleaning": ("true or false", lambda v: isinstance(v, bool)),
    "cv.validation_min_z": ("a number >= 0", lambda v: _is_number(v) and v >= 0),
    "cv.validation_criterion": ("corrected or given", lambda v: v in ("corrected", "given")),
    "threads_per_fit": ("null or an integer >= 1", lambda v: v is None or (_is_int(v) and v >= 1)),
    "pred_probs_dtype": ("float32 or float64", lambda v: v in ("float32", "float64")),
    "noise.rate": ("a number in [0, 1)", lambda v: _is_number(v) and 0 <= v < 1),
    "noise.frac_zero_noise_rates": ("a number in [0, 1]", lambda v: _is_number(v) and 0 <= v <= 1),
    # 0 is left to the loader (what an empty test split means is its decision).
    "dataset.test_size": (
        "a fraction in [0, 1) or a number of rows",
        lambda v: (_is_int(v) and v >= 0) or (_is_number(v) and 0 <= v < 1),
    ),
    "dataset.max_categories": ("null or an integer >= 1", lambda v: v is None or (_is_int(v) and v >= 1)),
    "dataset.max_rows": ("null or an integer >= 2", lambda v: v is None or (_is_int(v) and v >= 2)),
    "dataset.min_class_rows": ("an integer >= 0", lambda v: _is_int(v) and v >= 0),
    "dataset.sep": ("null or a one-character delimiter", lambda v: v is None or (isinstance(v, str) and len(v) == 1)),
    "detection.frac_noise": ("a number in (0, 1]", lambda v: _is_number(v) and 0 < v <= 1),
    "detection.min_examples_per_class": ("an integer >= 0", lambda v: _is_int(v) and v >= 0),
    "strategy.issue_weight": ("a number >= 0", lambda v: _is_number(v) and v >= 0),
}
CONFIG_FLAGS = ("standardize", "compare_baseline", "compare_clean", "save_pred_probs")
_ABSENT = object()


def check_config(cfg: DictConfig) -> None:
    """Refuse a missing, ill-typed or out-of-range value before any work, naming the key."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ValueError(
            f"config value {missing[0]} is mandatory and not set: add {missing[0]}=... to the command line"
        )
    for key in CONFIG_FLAGS:
        value = OmegaConf.select(cfg, key)
        if not isinstance(value, bool):
            raise ValueError(f"config value {key}={value!r} must be true or false")
    for key, (allowed, test) in CONFIG_RANGES.items():
        value = OmegaConf.select(cfg, key, default=_ABSENT)
        if value is not _ABSENT and not test(value):
            raise ValueError(f"config value {key}={value!r} must be {allowed}")
    check_unknown_keys(cfg)


# Config groups whose keys are checked by check_unknown_keys (tracking and hydra have their own schemas).
CHECKED_GROUPS = ("dataset", "noise", "classifier", "cv", "detection", "strategy", "final_fit")
# Hydra's instantiation keys, allowed in every node with a _target_.
_HYDRA_KEYS = {"_target_", "_partial_", "_convert_", "_recursive_", "_args_"}


def check_unknown_keys(cfg: DictConfig) -> None:
    """Refuse a key its group does not have (a typo, or one added with ``+``), naming the group's valid keys.

    The valid keys of a group whose node names a plugin (``_target_``) are that callable's parameters (not
    checked when it takes ``**kwargs``, as XGBoost's classifier does); those of a group read by the runner
    itself (``cv``, ``final_fit``) are the keys its options in ``conf/`` define.
    """
    for group in CHECKED_GROUPS:
        node = cfg.get(group)
        if not isinstance(node, DictConfig):
            continue
        valid = _plugin_parameters(node.get("_target_")) if "_target_" in node else _option_keys(group)
        if valid is None:
            continue
        unknown = [key for key in node if key not in valid and key not in _HYDRA_KEYS]
        if unknown:
            raise ValueError(
                f"config key {group}.{unknown[0]} is not a key of {group}; valid keys: "
                f"{', '.join(sorted(valid - _HYDRA_KEYS))}"
            )


def _plugin_parameters(target) -> set[str] | None:
    """The keyword parameters of the plugin ``target`` names; None when it takes any (or cannot be resolved)."""
    import inspect

    from hydra.utils import get_object

    try:
        parameters = inspect.signature(get_object(str(target))).parameters.values()
    except Exception:  # noqa: BLE001 - a target that does not resolve fails with its own message when built
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters if p.kind is not inspect.Parameter.VAR_POSITIONAL}


def _option_keys(group: str) -> set[str]:
    """Every top-level key of the options of ``group`` in the config directory (``defaults`` excluded), and
    every key the ``method`` bundles set in that group."""
    keys = set()
    for text in _option_texts(group):
        loaded = OmegaConf.create(text)
        if isinstance(loaded, DictConfig):
            keys.update(key for key in loaded if key != "defaults")
    for text in _option_texts("method"):
        node = OmegaConf.create(text).get(group)
        if isinstance(node, DictConfig):
            keys.update(node)
    return keys


def _option_texts(group: str):
    if CONFIG_PATH.startswith("pkg://"):
        from importlib.resources import files

        folder = files(CONFIG_PATH.removeprefix("pkg://")).joinpath(group)
    else:
        folder = Path(CONFIG_PATH) / group
    for option in folder.iterdir():
        if option.name.endswith(".yaml"):
            yield option.read_text()


def config_hash(cfg: DictConfig) -> str:
    """A digest of what determines a run's results: equal digests, equal results.

    Settings that only say how a run runs (:data:`runner.run.artifacts.RUN_SETTINGS`: ``cache_dir``,
    ``resume``, ``tracking``, ...) are left out, and a data file counts by its name and content, not by the
    path it was reached by: resuming with another cache or from another directory skips the
    finished jobs, and a data file edited since reruns them.
    """
    plain = {
        key: value
        for key, value in OmegaConf.to_container(cfg, resolve=True).items()
        if not artifacts.is_run_setting(key)
    }
    dataset = plain.get("dataset")
    for key in ("path", "test_path"):
        if isinstance(dataset, dict) and isinstance(dataset.get(key), str):
            dataset[key] = _file_identity(dataset[key])
    return hashlib.blake2b(OmegaConf.to_yaml(OmegaConf.create(plain)).encode(), digest_size=12).hexdigest()


def _file_identity(path: str) -> str:
    """A data file's name and content digest; the path itself when it is not a readable file."""
    try:
        with open(Path(path).expanduser(), "rb") as stream:
            return f"{Path(path).name} {hashlib.file_digest(stream, 'blake2b').hexdigest()}"
    except OSError:
        return path


def below_warning():
    """Logging filter of the stdout handler (conf/hydra/job_logging): warnings and errors go to stderr."""
    return lambda record: record.levelno < logging.WARNING


def _build(group: str, node):
    """Instantiate one config group, logging its target first.

    Hydra wraps the plugin's own exception; the plugin's message is the one that helps, so it
    is raised as is.
    """
    log.info("Instantiating %s <%s>", group, node.get("_target_"))
    try:
        return instantiate(node)
    except InstantiationException as error:
        if isinstance(error.__cause__, Exception):
            raise error.__cause__ from None
        raise


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
    # cv=given: the file is checked before anything else, its row and class counts once the data is loaded
    given = None
    if cfg.cv.get("pred_probs_path"):
        if cfg.cv.get("rounds", 1) != 1 or cfg.cv.get("ensemble"):
            raise ValueError("cv.pred_probs_path: given probabilities are used as they are; cv.rounds must be 1 and "
                             "cv.ensemble empty (both would cross-validate again)")
        given = read_pred_probs(cfg.cv.pred_probs_path)
    dataset = check_dataset(_build("dataset", cfg.dataset), cfg.dataset.get("_target_"))
    pred_probs = None
    if given is not None:
        pred_probs = match_pred_probs(given, n_rows=dataset.n_rows, classes=dataset.classes,
                                      rows=dataset.train_rows)
        del given  # only the training rows' probabilities stay in memory
    if cfg.standardize:
        dataset = standardized(dataset)
    final_fit = OmegaConf.to_container(cfg.final_fit, resolve=True)
    result = run_experiment(
        dataset,
        _build("classifier", cfg.classifier),
        noise=_build("noise", cfg.noise),
        detector=_build("detection", cfg.detection),
        strategy=_build("strategy", cfg.strategy),
        cv_folds=cfg.cv.folds,
        cv_n_jobs=cfg.cv.n_jobs,
        cv_backend=cfg.cv.backend,
        cv_scheduler_address=cfg.cv.get("scheduler_address"),
        ensemble=[_build(f"ensemble member {name}", node) for name, node in cfg.cv.get("ensemble", {}).items()]
        or None,
        detection_rounds=cfg.cv.get("rounds", 1),
        round_mode=cfg.cv.get("round_mode", "drop"),
        round_mean=cfg.cv.get("round_mean", False),
        validate_cleaning=cfg.cv.get("validate_cleaning", False),
        validation_min_z=cfg.cv.get("validation_min_z", 0.0),
        validation_criterion=cfg.cv.get("validation_criterion", "corrected"),
        final_params=final_fit.get("params"),
        final_fit_kwargs=final_fit.get("fit_kwargs"),
        seed=cfg.seed,
        compare_baseline=cfg.compare_baseline,
        compare_clean=cfg.compare_clean,
        threads_per_fit=cfg.threads_per_fit,
        cache_dir=cfg.cache_dir,
        pred_probs_dtype=cfg.pred_probs_dtype,
        names={group: choices[group] for group in ("classifier", "strategy") if group in choices},
        pred_probs=pred_probs,
        skip_final_fit=bool(final_fit.get("skip", False)),
    )
    # The features are not needed any more: the cleaned table is read again from the file, in their place.
    del dataset, pred_probs
    result.metrics["config_hash"] = config_hash(cfg)
    save_result(output_dir, result, save_pred_probs=cfg.save_pred_probs)
    log.info("%s", summary(result.metrics, output_dir, one_line=_in_sweep(), issues=result.label_issues))
    return result


def _check_cores(cfg: DictConfig) -> None:
    """Warn when parallel jobs x parallel folds x threads per fit exceed this machine's cores."""
    # Launchers that run jobs side by side on this machine (joblib) have n_jobs; SLURM, Ray don't.
    jobs = OmegaConf.select(HydraConfig.get(), "launcher.n_jobs", default=1) if _in_sweep() else 1
    # With a scheduler address the folds run on the cluster's machines, not on this one.
    folds = 1 if cfg.cv.get("scheduler_address") else cfg.cv.n_jobs
    check_cores(jobs=jobs, folds=folds, threads_per_fit=cfg.threads_per_fit)


def _in_sweep() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def summary(metrics: dict, output_dir, *, one_line: bool = False, issues=None) -> str:
    """A short human summary of a finished run (one line for a sweep job).

    ``issues`` (the ranked label-issue table) adds its most suspicious rows.
    """
    if one_line:
        detection = f", precision {metrics['detection_precision']:.3f}" if "detection_precision" in metrics else ""
        accuracy = (
            f"test accuracy {metrics['test_accuracy']:.4f} "
            f"(baseline {metrics.get('baseline_test_accuracy', float('nan')):.4f})"
            if "test_accuracy" in metrics else "no test accuracy"
        )
        return f"done {Path(output_dir).name}: {metrics['n_label_issues']} issues{detection}, {accuracy}"
    # Detectors other than confident learning have no filter_by: leave out its slot.
    parts = [metrics["dataset"], metrics["classifier"], metrics.get("filter_by")]
    lines = [
        f"{' · '.join(part for part in parts if part)} → {metrics['strategy']} · seed {metrics['seed']}",
        f"  label issues found: {metrics['n_label_issues']} of {metrics['n_train']} training labels",
    ]
    if "detection_precision" in metrics or "detection_recall" in metrics:
        lines.append(
            f"  detection precision {metrics.get('detection_precision', float('nan')):.3f}, "
            f"recall {metrics.get('detection_recall', float('nan')):.3f} "
            f"(true noise rate {metrics['true_noise_rate']:.3f})"
        )
    if "test_accuracy" in metrics:
        accuracy = f"  test accuracy {metrics['test_accuracy']:.4f}"
        if "baseline_test_accuracy" in metrics:
            accuracy += f" (baseline on the noisy labels: {metrics['baseline_test_accuracy']:.4f})"
    elif not metrics.get("n_test"):
        accuracy = "  no test split (dataset.test_size=0): every row was checked, so there is no test accuracy"
    else:
        accuracy = "  no final model (final_fit=skip), so there is no test accuracy"
    lines.append(accuracy)
    if issues is not None and len(issues):
        lines += _most_suspicious(issues)
    lines.append(f"  run directory: {output_dir}")
    return "\n".join(lines)


def _most_suspicious(issues, count: int = 10) -> list[str]:
    """The first rows of the ranked issue table, as indented text lines."""
    identity = issues.columns[1]  # `row`, or the id column (runner.run.experiment._issue_table)
    top = issues.head(count)
    shown = pd.DataFrame({
        "rank": top["rank"], identity: top[identity], "given label": top["given_label"],
        "suggested label": top["predicted_label"], "quality": top["label_quality"].map("{:.4f}".format),
        "flagged": top["is_label_issue"].map({True: "yes", False: "no"}),
    })
    header = f"  the {len(top)} most suspicious labels (all {len(issues)} ranked in label_issues.csv):"
    return [header, *("    " + line for line in shown.to_string(index=False).splitlines())]


def _record_failure(output_dir, error: BaseException) -> None:
    """Write failure.json; when that fails too (a full disk, a read-only directory), say so in one line."""
    try:
        artifacts.write_failure(output_dir, error)
    except artifacts.WriteError as write_error:
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
    hydra_config = HydraConfig.get()
    output_dir = Path(hydra_config.runtime.output_dir)
    if cfg.get("resume") and hydra_config.mode == RunMode.MULTIRUN:
        done = artifacts.read_metrics(output_dir)
        if done is not None and done.get("config_hash") == config_hash(cfg):
            log.info("job %s is already done with this config: skipped (resume)", hydra_config.job.num)
            return done.get("test_accuracy")
    _warnings_to_log()
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
    return result.metrics.get("test_accuracy")
