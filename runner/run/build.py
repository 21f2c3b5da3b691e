"""Config → objects: the learner, the data and the noise a run's config describes.

Hydra appears only here and in :mod:`runner.run.app`: every group is instantiated from its ``_target_``
(the plugin mechanism), logging the target first, and the objects go to code that knows nothing of
Hydra. Each option is read from the config as composed -- its value and default live in ``conf/`` alone.
"""

from __future__ import annotations

import logging

import numpy as np
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from runner.contracts import check_dataset, name_plugin
from runner.datasets import Dataset, InvalidDataset, standardized
from runner.datasets.given import match_pred_probs, read_pred_probs
from runner.learn.estimator import CleanLearning

log = logging.getLogger("cleanrun")


def instantiate_logged(group: str, node, option: str | None = None):
    """Instantiate one config group, logging its target first; mark the object with its option.

    Hydra wraps the plugin's own exception; the plugin's message is the one that helps, so it
    is raised as is. ``option`` (the group's chosen option) names the plugin in the messages of
    the contract referees (``strategy=mine``: :func:`runner.contracts.name_plugin`).
    """
    log.info("Instantiating %s <%s>", group, node._target_)
    try:
        built = instantiate(node)
    except InstantiationException as error:
        if isinstance(error.__cause__, Exception):
            raise error.__cause__ from None
        raise
    return name_plugin(built, f"{group}={option}") if option else built


def build_learner(cfg: DictConfig, choices: dict | None = None) -> CleanLearning:
    """The unfitted :class:`~runner.learn.estimator.CleanLearning` of a config.

    ``choices`` (Hydra's ``runtime.choices``) name the detector and the strategy in error messages by
    their options (``strategy=mine``).

    Groups ``classifier`` (the estimator), ``cv`` (folds, backends, ensemble, detection rounds and
    the cleaning check), ``detection``, ``strategy`` and ``final_fit`` (``params``, ``skip``), and the
    top-level ``seed``, ``threads_per_fit``, ``cache_dir`` and ``pred_probs_dtype``. ``final_fit.fit_kwargs``
    are arguments of ``fit``, not of the learner (:func:`runner.run.experiment.run_experiment`).
    """
    cv, final_fit = cfg.cv, cfg.final_fit
    choices = choices or {}
    return CleanLearning(
        instantiate_logged("classifier", cfg.classifier),
        seed=cfg.seed,
        cv_n_folds=cv.folds,
        n_jobs=cv.n_jobs,
        cv_backend=cv.backend,
        cv_scheduler_address=cv.scheduler_address,
        ensemble=[instantiate_logged(f"ensemble member {name}", node) for name, node in cv.ensemble.items()] or None,
        detection_rounds=cv.rounds,
        round_mode=cv.round_mode,
        round_mean=cv.round_mean,
        validate_cleaning=cv.validate_cleaning,
        validation_min_z=cv.validation_min_z,
        validation_criterion=cv.validation_criterion,
        validation_folds=cv.validation_folds,
        validation_gate=cv.validation_gate,
        validation_min_count=cv.validation_min_count,
        validation_trusted_min_z=cv.validation_trusted_min_z,
        validation_trusted_rule=cv.validation_trusted_rule,
        validation_shares=None if cv.validation_shares is None else tuple(cv.validation_shares),
        validation_strategies={
            name: instantiate_logged(f"validation strategy {name}", node)
            for name, node in cv.validation_strategies.items()
        }
        or None,
        detector=instantiate_logged("detection", cfg.detection, choices.get("detection")),
        strategy=instantiate_logged("strategy", cfg.strategy, choices.get("strategy")),
        final_params=OmegaConf.to_container(final_fit.params, resolve=True),
        skip_final_fit=bool(final_fit.skip),
        threads_per_fit=cfg.threads_per_fit,
        cv_cache_dir=cfg.cache_dir,
        pred_probs_dtype=cfg.pred_probs_dtype,
    )


def load_data(cfg: DictConfig, choices: dict | None = None) -> tuple[Dataset, np.ndarray | None]:
    """The dataset of a config (standardized when ``standardize``) and, with ``cv=given``, the training
    rows' given out-of-fold probabilities (else None).

    The probabilities file is checked before the data is loaded, its row and class counts once it is.
    A loader whose ``Dataset`` refuses its fields is blamed by its option (``choices``: Hydra's
    ``runtime.choices``) and its target.
    """
    given = None
    if cfg.cv.pred_probs_path:
        if cfg.cv.rounds != 1 or cfg.cv.ensemble:
            raise ValueError(
                "cv.pred_probs_path: given probabilities are used as they are; cv.rounds must be 1 and "
                "cv.ensemble empty (both would cross-validate again)"
            )
        given = read_pred_probs(cfg.cv.pred_probs_path)
    option = (choices or {}).get("dataset")
    name = f"dataset={option} ({cfg.dataset._target_})" if option else cfg.dataset._target_
    try:
        dataset = check_dataset(instantiate_logged("dataset", cfg.dataset), name)
    except InvalidDataset as error:
        raise InvalidDataset(f"{name} returned an invalid Dataset: {error}") from None
    pred_probs = None
    if given is not None:
        pred_probs = match_pred_probs(given, n_rows=dataset.n_rows, classes=dataset.classes, rows=dataset.train_rows)
        del given  # only the training rows' probabilities stay in memory
    if cfg.standardize:
        dataset = standardized(dataset)
    return dataset, pred_probs
