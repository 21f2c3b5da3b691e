"""Config checks before any work, and the digest of what determines a run's results.

:func:`check_config` refuses a missing, ill-typed or out-of-range value with a one-line message naming
the key; :func:`config_hash` is the digest written into ``metrics.json`` (``config_hash``), with which
``resume`` and tracking recognise a finished job.
"""

from __future__ import annotations

import hashlib
import inspect
from importlib.resources import files
from pathlib import Path

from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf

from runner.learn.check import CRITERIA, GATES, TRUSTED_RULES
from runner.run import artifacts
from runner.run.plugin_identity import target_sources

# From a source checkout (an editable install) the configs are read from conf/ at the top of the
# repository, so edits show at once; an installed wheel carries them as the package runner.conf.
SOURCE_CONF = Path(__file__).resolve().parents[2] / "conf"
CONFIG_PATH = str(SOURCE_CONF) if (SOURCE_CONF / "config.yaml").is_file() else "pkg://runner.conf"


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
    "cv.validation_criterion": ("one of " + ", ".join(CRITERIA), lambda v: v in CRITERIA),
    "cv.validation_folds": ("an integer >= 2", lambda v: _is_int(v) and v >= 2),
    "cv.validation_gate": ("one of " + ", ".join(GATES), lambda v: v in GATES),
    "cv.validation_min_count": ("an integer >= 0", lambda v: _is_int(v) and v >= 0),
    "cv.validation_trusted_min_z": ("null or a number >= 0", lambda v: v is None or (_is_number(v) and v >= 0)),
    "cv.validation_trusted_rule": ("one of " + ", ".join(TRUSTED_RULES), lambda v: v in TRUSTED_RULES),
    "cv.validation_shares": (
        "null or a list of numbers in (0, 1]",
        lambda v: (
            v is None
            or (isinstance(v, ListConfig | list) and len(v) > 0 and all(_is_number(x) and 0 < x <= 1 for x in v))
        ),
    ),
    "trusted_rows": ("an integer >= 0", lambda v: _is_int(v) and v >= 0),
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
    "objective": ("the name of a metrics.json key, e.g. cv_given_accuracy", lambda v: isinstance(v, str) and v),
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
    objective = cfg.get("objective")
    if objective and objective.startswith("holdout_") and not OmegaConf.select(cfg, "cv.validate_cleaning"):
        raise ValueError(f"objective={objective} is a score of the cleaning check: add cv.validate_cleaning=true")
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
    finished jobs, and a data file edited since reruns them. So does a plugin's Python file: the
    file that defines each ``_target_`` outside installed packages counts by its content
    (:func:`runner.run.plugin_identity.target_sources`).
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
    sources = target_sources(plain)
    if sources:  # only then: a config of installed plugins keeps the digest it always had
        plain["_target_sources"] = sources
    return hashlib.blake2b(OmegaConf.to_yaml(OmegaConf.create(plain)).encode(), digest_size=12).hexdigest()


def _file_identity(path: str) -> str:
    """A data file's name and content digest; the path itself when it is not a readable file."""
    try:
        with open(Path(path).expanduser(), "rb") as stream:
            return f"{Path(path).name} {hashlib.file_digest(stream, 'blake2b').hexdigest()}"
    except OSError:
        return path
