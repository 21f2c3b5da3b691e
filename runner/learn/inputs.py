"""Input checks of :class:`~runner.learn.estimator.CleanLearning`: its options, the classifier, the features,
the labels (encoded to ``0..K-1``) and the sample weights -- refused with a clear message before any fit.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.multiclass import type_of_target

from runner.learn.check import CRITERIA, GATES, TRUSTED_RULES
from runner.learn.cv import default_classifier, n_samples_of
from runner.learn.weights import unweighted_reason, weight_route
from runner.plugin_names import label
from runner.strategies import get_strategy


class InputChecks:
    """Checks of :class:`~runner.learn.estimator.CleanLearning`'s options and inputs (a mixin)."""

    def _check_options(self):
        """Refuse ill-typed constructor options before any fitting."""
        if not isinstance(self.detection_rounds, int) or self.detection_rounds < 1:
            raise ValueError(f"detection_rounds must be an integer >= 1, got {self.detection_rounds!r}")
        if self.round_mode not in ("drop", "relabel"):
            raise ValueError(f"round_mode must be 'drop' or 'relabel', got {self.round_mode!r}")
        if not isinstance(self.round_mean, bool):
            raise ValueError(f"round_mean must be true or false, got {self.round_mean!r}")
        if not isinstance(self.skip_final_fit, bool):
            raise ValueError(f"skip_final_fit must be true or false, got {self.skip_final_fit!r}")
        if self.validation_criterion not in CRITERIA:
            raise ValueError(
                f"validation_criterion must be one of {', '.join(CRITERIA)}; got {self.validation_criterion!r}"
            )
        if not isinstance(self.validation_folds, int) or self.validation_folds < 2:
            raise ValueError(f"validation_folds must be an integer >= 2, got {self.validation_folds!r}")
        if self.validation_gate not in GATES:
            raise ValueError(f"validation_gate must be one of {', '.join(GATES)}; got {self.validation_gate!r}")
        if not isinstance(self.validation_min_count, int) or self.validation_min_count < 0:
            raise ValueError(f"validation_min_count must be an integer >= 0, got {self.validation_min_count!r}")
        trusted_min_z = self.validation_trusted_min_z
        if trusted_min_z is not None and not (isinstance(trusted_min_z, numbers.Real) and trusted_min_z >= 0):
            raise ValueError(f"validation_trusted_min_z must be None or a number >= 0, got {trusted_min_z!r}")
        shares = self.validation_shares
        if shares is not None and not (
            isinstance(shares, list | tuple)
            and len(shares) > 0
            and all(isinstance(share, numbers.Real) and 0 < share <= 1 for share in shares)
        ):
            raise ValueError(f"validation_shares must be None or numbers in (0, 1], got {shares!r}")
        others = self.validation_strategies
        if others is not None:
            if not isinstance(others, Mapping):
                raise ValueError(f"validation_strategies must be None or a dict of name: strategy, got {others!r}")
            for other in others.values():
                get_strategy(other)  # an unknown name or an object without select is refused here, before any fit
        rule = self.validation_trusted_rule
        if rule not in TRUSTED_RULES:
            raise ValueError(f"validation_trusted_rule must be one of {', '.join(TRUSTED_RULES)}; got {rule!r}")
        if self.ensemble is not None:
            for member in self.ensemble:
                if not callable(getattr(member, "predict_proba", None)):
                    raise ValueError(f"every ensemble member needs predict_proba; {type(member).__name__} has none")

    def _checked_classifier(self):
        self._check_options()
        clf = self.clf if self.clf is not None else default_classifier()
        for method in ("fit", "predict_proba"):
            if not callable(getattr(clf, method, None)):
                raise ValueError(
                    f"clf must have a {method} method; {type(clf).__name__} does not "
                    "(for SVC use probability=True, or wrap it in CalibratedClassifierCV)"
                )
        return clf

    def _features(self, X):
        if X is None:
            raise ValueError("X is required")
        if sparse.issparse(X):
            X = X.tocsr()  # row indexing for the folds
        elif not hasattr(X, "shape") and not hasattr(X, "iloc"):
            X = np.asarray(X)  # lists and other array-likes
        if self.clf is None and getattr(X, "ndim", 2) > 2:
            X = X.reshape(len(X), -1)
        return X

    def _encode(self, labels, width) -> np.ndarray:
        """Labels as codes 0..K-1; sets ``classes_`` and ``num_classes``."""
        self.classes_, codes = encode_labels(labels, width)
        self.num_classes = len(self.classes_)
        return codes


def encode_labels(labels, width=None):
    """``(classes, codes)``: sorted class values and each label's index into them.

    ``width`` (the number of columns of given pred_probs or noise matrices) may exceed the
    number of classes present when the labels are the integers ``0..width-1`` with some class
    absent; the classes are then ``0..width-1``.
    """
    values = labels.to_numpy() if hasattr(labels, "to_numpy") else np.asarray(labels)
    if values.ndim == 2 and values.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected; flattened to shape (N,)",
            DataConversionWarning,
            stacklevel=3,
        )
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {values.shape}")
    if len(values) == 0:
        raise ValueError("labels are empty")
    missing = pd.isna(values)
    if missing.any():
        rows = np.flatnonzero(missing)
        raise ValueError(
            f"labels contain {len(rows)} missing values (NaN/None), e.g. at rows {rows[:5].tolist()}; "
            "drop or impute them first"
        )
    if values.dtype.kind == "f" and type_of_target(values) == "continuous":
        raise ValueError(
            "labels look continuous (Unknown label type: continuous); CleanLearning is a classifier "
            "and needs class labels"
        )
    try:
        classes, codes = np.unique(values, return_inverse=True)
    except TypeError as error:
        raise ValueError(f"labels mix types that cannot be ordered: {error}") from None
    codes = codes.astype(np.int64)
    if width is not None and width != len(classes):
        if width < len(classes) or values.dtype.kind not in "iu" or classes[0] < 0 or classes[-1] >= width:
            raise ValueError(f"labels have {len(classes)} classes but pred_probs / noise matrices have {width} columns")
        classes, codes = np.arange(width), values.astype(np.int64)
    if len(classes) < 2:
        raise ValueError(f"labels contain only one class ({classes[0]!r}); at least 2 classes are needed")
    return classes, codes


def _width(pred_probs, noise_matrix, inverse_noise_matrix):
    for given in (pred_probs, noise_matrix, inverse_noise_matrix):
        if given is not None:
            shape = np.shape(given)
            if len(shape) != 2:
                raise ValueError(f"pred_probs and noise matrices must be 2-D, got shape {shape}")
            return shape[1]
    return None


def _labels_or_y(labels, y):
    if labels is not None and y is not None:
        raise ValueError("pass labels or y, not both")
    if labels is None and y is None:
        raise ValueError("CleanLearning requires y to be passed, but the target y is None (fit(X, labels))")
    return labels if labels is not None else y


def _n_features(X):
    shape = getattr(X, "shape", None)
    return int(shape[1]) if shape is not None and len(shape) == 2 else None


def _checked_sample_weight(sample_weight, n_samples, strategy, strategy_name) -> np.ndarray:
    """The caller's ``sample_weight`` as float64 (N,), refused here, naming the caller's input."""
    try:
        weights = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("sample_weight passed to fit must be numbers, one weight per example") from None
    if weights.shape != (n_samples,):
        raise ValueError(
            f"sample_weight passed to fit must have shape ({n_samples},), one weight per label; got {weights.shape}"
        )
    if not np.all(np.isfinite(weights)):
        raise ValueError("sample_weight passed to fit contains NaN or infinite values")
    if strategy.requires_sample_weight and weights.min() < 0:
        raise ValueError(
            f"sample_weight passed to fit has negative values; {label('strategy', strategy_name)} scales the "
            "weights and needs them >= 0 (or use strategy 'remove', which passes them to the classifier)"
        )
    return weights


def _check_same_length(a, labels, name_a, name_labels):
    if n_samples_of(a) != len(labels):
        raise ValueError(f"{name_a} and {name_labels} have different lengths: {n_samples_of(a)} vs {len(labels)}")


def _weight_key(clf, strategy, strategy_name, sample_weight) -> str | None:
    """The ``fit`` keyword by which sample weights reach ``clf``'s model (:mod:`runner.learn.weights`: a
    Pipeline's differs), None when they cannot; refuses weights or a weighting strategy that cannot reach it.

    ``strategy_name`` is how messages name the strategy (``'weight'``, ``Mine``, ``strategy=mine``)."""
    key = weight_route(clf)
    if sample_weight is not None and key is None:
        raise ValueError(f"sample_weight cannot be used: it cannot reach the classifier: {unweighted_reason(clf)}")
    if strategy.requires_sample_weight and key is None:
        raise ValueError(
            f"{label('strategy', strategy_name)} needs sample weights, and they cannot reach the classifier: "
            f"{unweighted_reason(clf)} (or use strategy='remove', or another classifier)"
        )
    return key


def _checked_trusted(trusted, n_samples, label_issues):
    """A boolean mask of the trusted rows, or None when no row is trusted."""
    if trusted is None:
        return None
    trusted = np.asarray(trusted)
    if trusted.dtype != bool or trusted.shape != (n_samples,):
        raise ValueError(
            f"trusted must be a boolean mask of shape ({n_samples},), got dtype {trusted.dtype} "
            f"and shape {trusted.shape}"
        )
    if not trusted.any():
        return None
    if trusted.all():
        raise ValueError("every row is trusted: there is nothing to detect or clean")
    if trusted.sum() < 2:
        raise ValueError("one trusted row cannot judge the cleaning: mark at least 2, or none")
    if label_issues is not None:
        raise ValueError("trusted rows need this learner's detection on the other rows; label_issues cannot be given")
    return trusted
