"""Config checks before any work, and the digest of what determines a run's results.

:func:`check_config` refuses a missing, ill-typed or out-of-range value with a one-line message naming
the key; :func:`config_hash` is the digest written into ``metrics.json`` (``config_hash``), with which
``resume`` and tracking recognise a finished job.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from runner.run import artifacts


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
