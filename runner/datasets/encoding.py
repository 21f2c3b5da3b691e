"""Encoding a table for the classifiers: features to one dense float matrix, labels to codes ``0..K-1``.

Fitted on the training rows only (no test statistics leak into training):

* numeric (and boolean) columns: missing values -> training median, plus one 0/1 ``missingindicator_<col>`` column
  for each column that had missing values in training (the fact that a value is missing can be informative);
* other columns: one-hot, missing as its own ``<missing>`` level, the rarest levels beyond ``max_categories``
  merged into one ``<col>_infrequent_sklearn`` column; levels unseen in training encode as that column or all zeros.

One-hot rather than ordinal codes because it suits both model families we run: linear models (logistic
regression, SVC, MLP) would read an arbitrary order and spacing into ordinal codes, while trees and boosting split
one-hot columns just as well; ``max_categories`` bounds the width (memory is ``N * n_features * 4`` bytes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import OneHotEncoder

from runner.datasets.dataset import InvalidDataset

#: Level given to missing values of a categorical feature, so "missing" gets its own one-hot column.
_MISSING_LEVEL = "<missing>"


def _encode_features(
    train: pd.DataFrame, test: pd.DataFrame, *, max_categories: int | None, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Encode feature tables to dense numeric arrays, fitted on ``train`` only (see the module docstring)."""
    numeric = [c for c in train.columns if is_numeric_dtype(train[c])]  # bool counts as numeric: 0/1
    categorical = [c for c in train.columns if c not in numeric]
    train_blocks, test_blocks, names = [], [], []
    if numeric:
        train_numeric = train[numeric].to_numpy(dtype=dtype, na_value=np.nan)
        test_numeric = test[numeric].to_numpy(dtype=dtype, na_value=np.nan)
        if np.isnan(train_numeric).any() or np.isnan(test_numeric).any():
            for block, split in ((train_numeric, "training"), (test_numeric, "test")):
                infinite = np.flatnonzero(np.isinf(block).any(axis=0))
                if infinite.size:  # the imputer would refuse them first, naming no column
                    raise InvalidDataset(
                        f"Feature column {numeric[infinite[0]]!r} holds infinite value(s) in the {split} rows; "
                        "replace or drop them in the loader."
                    )
            # keep_empty_features: a column missing everywhere in training stays (as 0) so names and widths agree
            imputer = SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)
            train_numeric = imputer.fit_transform(train_numeric)
            test_numeric = _transform(imputer, test_numeric, train_numeric.shape[1])
            names += [str(n) for n in imputer.get_feature_names_out([str(c) for c in numeric])]
        else:  # nothing to impute: the imputer would only copy a large table several times over
            names += [str(c) for c in numeric]
        train_blocks.append(train_numeric)
        test_blocks.append(test_numeric)
    if categorical:
        encoder = OneHotEncoder(
            handle_unknown="infrequent_if_exist", max_categories=max_categories, sparse_output=False, dtype=dtype
        )
        train_blocks.append(encoder.fit_transform(_as_levels(train[categorical])))
        test_blocks.append(_transform(encoder, _as_levels(test[categorical]), train_blocks[-1].shape[1]))
        names += [str(n) for n in encoder.get_feature_names_out([str(c) for c in categorical])]

    def joined(blocks):
        return (blocks[0] if len(blocks) == 1 else np.hstack(blocks)).astype(dtype, copy=False)

    return joined(train_blocks), joined(test_blocks), names


def _transform(fitted, values: np.ndarray, width: int) -> np.ndarray:
    """``fitted.transform(values)``; no rows (``test_size=0``) give no rows, which scikit-learn refuses to transform."""
    return fitted.transform(values) if len(values) else np.empty((0, width), dtype=values.dtype)


def _as_levels(frame: pd.DataFrame) -> np.ndarray:
    """Categorical columns as an object array of str levels, missing values as their own level."""
    # str for every level: OneHotEncoder sorts levels and cannot compare mixed types (e.g. 1 and "a")
    return frame.astype(object).where(frame.notna(), _MISSING_LEVEL).astype(str).to_numpy(dtype=object)


def _encode_labels(
    labels: np.ndarray, test_labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Map labels to ``0..K-1`` (classes sorted); ``test_labels`` must use the same classes."""
    labels = _comparable(labels)
    classes, codes = np.unique(labels, return_inverse=True)
    codes = codes.astype(np.int64, copy=False).reshape(-1)
    order = _class_order(classes)
    if order is not None:
        classes = classes[order]
        codes = np.argsort(order)[codes]
    test_codes = None
    if test_labels is not None:
        test_labels = _comparable(test_labels)
        test_codes = pd.Index(classes).get_indexer(test_labels)
        if (test_codes < 0).any():
            unseen = pd.unique(test_labels[test_codes < 0])
            raise ValueError(
                f"Test labels {unseen.tolist()} do not occur in the training data (classes: {classes.tolist()}); "
                "a classifier cannot predict a class it never saw."
            )
    return classes, codes, test_codes


def _class_order(classes: np.ndarray) -> np.ndarray | None:
    """Text classes that are all integers written in digits (``2``, ``10``, ``007``) in number order, ties in text
    order (``007`` before ``7``): a CSV's integer labels keep the order they had as numbers. None: keep the order."""
    values = classes.tolist()
    if not values or not all(isinstance(v, str) and v.isascii() and v.lstrip("+-").isdigit() for v in values):
        return None
    return np.array(sorted(range(len(values)), key=lambda i: (int(values[i]), values[i])), dtype=np.int64)


def _comparable(labels: np.ndarray) -> np.ndarray:
    """Labels as an array that sorts: object arrays mixing types (1 and "a") become str."""
    labels = np.asarray(labels)
    if labels.dtype == object and len({type(v) for v in labels}) > 1:
        labels = labels.astype(str)
    return labels
