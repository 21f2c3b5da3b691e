"""The dataset contract: what every loader returns (:class:`Dataset`), and the file a table came from
(:class:`TableSource`).

A :class:`Dataset` holds a dense numeric feature matrix, labels encoded to ``0..K-1`` (``y_train``,
``y_test``, shape (N,)), the original class values that decode them (``classes``, shape (K,)) and every row's
identity in its source (``train_rows`` / ``test_rows``); it checks itself when made, so a loader's mistake
(labels outside ``0..K-1``, a class missing from the training split, NaN or inf features) is refused with
:class:`InvalidDataset` before any fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from runner.datasets.files import PARQUET_SUFFIXES

__all__ = ["Dataset", "InvalidDataset", "TableSource"]


@dataclass(frozen=True, eq=False, repr=False)
class TableSource:
    """The file a dataset's training rows come from: what traces them back and rebuilds the cleaned table.

    Parameters
    ----------
    path : Path
        The table (CSV or Parquet).
    label_column : str
        Its column of given labels.
    n_rows : int
        Rows in the file (header excluded), labelled or not.
    id_column : str, optional
        A column whose values identify the rows (``dataset.id_column``).
    ids : ndarray of shape (n_rows,), optional
        Its value for every row of the file, by row number.
    delimiter : str
        A CSV file's delimiter (``dataset.sep`` or sniffed).
    label_index : int
        The label column's position among the file's columns (headers may repeat a name).
    """

    path: Path
    label_column: str
    n_rows: int
    id_column: str | None = None
    ids: np.ndarray | None = None
    delimiter: str = ","
    label_index: int = 0

    @property
    def is_parquet(self) -> bool:
        """Parquet, else CSV (possibly compressed): the loader accepted no other file."""
        return self.path.suffix.lower() in PARQUET_SUFFIXES


class InvalidDataset(ValueError):
    """A :class:`Dataset` refused its own fields: the loader that built it broke the contract."""


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A labelled train/test split, ready for cross-validation and the final fit.

    Parameters
    ----------
    X_train : ndarray of shape (N_train, n_features)
        Numeric features (float32 unless a loader was asked for another dtype).
    y_train : ndarray of shape (N_train,)
        Labels encoded to ``0..K-1`` (int64); every class occurs at least once.
    X_test : ndarray of shape (N_test, n_features)
        Held-out features; noise is never injected here.
    y_test : ndarray of shape (N_test,)
        Held-out labels, encoded like ``y_train``.
    classes : ndarray of shape (K,)
        The dataset's own class values (strings allowed); ``classes[y_train]`` gives them back.
    feature_names : list of str
        One name per column of ``X_train``.
    name : str
        Short name, used in logs and ``metrics.json``.
    train_rows, test_rows : ndarray of int, optional
        Each row's identity: its row number (0-based, header excluded) in the source table -- the file, or the
        packaged / generated table of a bundled set (rows of a separate test file: their row in that file).
        Default (a loader that does not set them): the training rows are ``0..N_train-1`` and the test rows
        follow them.
    source : TableSource, optional
        The file the training rows come from (file datasets), so the cleaned table can be written from it.
    trusted : ndarray of bool, shape (N_train,), optional
        Training rows whose labels were verified (``dataset.trusted_column``); None: none.

    Raises
    ------
    InvalidDataset
        (a ``ValueError``) If shapes disagree, a label is outside ``0..K-1``, a class is absent from the training
        split, or the features are not a 2-D numeric array of finite values (a loader imputes missing values).

    Notes
    -----
    Integer labels of another width are converted to int64 (a copy), so that plugins may hand over int32 codes.
    Equality is identity (``eq=False``): comparing arrays field by field has no single truth value.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: np.ndarray
    feature_names: list[str]
    name: str
    train_rows: np.ndarray | None = None
    test_rows: np.ndarray | None = None
    source: TableSource | None = None
    trusted: np.ndarray | None = None

    def __post_init__(self) -> None:
        # frozen: normalise through object.__setattr__, once, before anything else sees the instance
        classes = np.asarray(self.classes)
        if classes.ndim != 1 or classes.size == 0:
            raise InvalidDataset(f"classes must be a non-empty 1-D array, got shape {classes.shape}.")
        if len(pd.unique(classes)) != classes.size:
            raise InvalidDataset(f"classes must be unique, got {classes.tolist()}.")
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "feature_names", [str(f) for f in self.feature_names])
        n_classes = classes.size
        for split in ("train", "test"):
            X = getattr(self, f"X_{split}")
            y = np.asarray(getattr(self, f"y_{split}"))
            if not isinstance(X, np.ndarray) or X.ndim != 2 or not np.issubdtype(X.dtype, np.number):
                raise InvalidDataset(
                    f"X_{split} must be a 2-D numeric numpy array, got "
                    f"{type(X).__name__} with shape {getattr(X, 'shape', None)} and dtype {getattr(X, 'dtype', None)}."
                )
            if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
                raise InvalidDataset(
                    f"y_{split} must be a 1-D integer array encoded to 0..K-1, got shape {y.shape} and dtype "
                    f"{y.dtype}; encode labels with np.unique(labels, return_inverse=True)."
                )
            if X.shape[0] != y.shape[0]:
                raise InvalidDataset(f"X_{split} has {X.shape[0]} rows but y_{split} has {y.shape[0]}.")
            if X.shape[1] != len(self.feature_names):
                raise InvalidDataset(
                    f"X_{split} has {X.shape[1]} columns but there are {len(self.feature_names)} feature_names."
                )
            if y.size and (y.min() < 0 or y.max() >= n_classes):
                raise InvalidDataset(
                    f"y_{split} must lie in 0..{n_classes - 1} (K={n_classes} classes), "
                    f"got values from {y.min()} to {y.max()}."
                )
            object.__setattr__(self, f"y_{split}", y.astype(np.int64, copy=False))
        if n_classes < 2:
            raise InvalidDataset(
                f"Dataset {self.name!r} has one class only ({classes.tolist()[0]!r}); label-noise detection "
                "needs at least 2 classes: check the label column."
            )
        for split in ("train", "test"):
            _refuse_non_finite(getattr(self, f"X_{split}"), self.feature_names, f"{self.name!r} ({split} split)")
        n_train, n_test = self.X_train.shape[0], self.X_test.shape[0]
        for split, default in (("train", np.arange(n_train)), ("test", n_train + np.arange(n_test))):
            rows = getattr(self, f"{split}_rows")
            rows = default if rows is None else np.asarray(rows)
            if rows.shape != default.shape or (rows.size and rows.dtype.kind not in "iu"):
                raise InvalidDataset(
                    f"{split}_rows must hold one integer row number per {split} row ({default.size}), got "
                    f"shape {rows.shape} and dtype {rows.dtype}."
                )
            object.__setattr__(self, f"{split}_rows", rows.astype(np.int64, copy=False))
        if self.trusted is not None:
            trusted = np.asarray(self.trusted)
            if trusted.dtype != bool or trusted.shape != (self.X_train.shape[0],):
                raise ValueError(
                    f"trusted must be a boolean mask of the {self.X_train.shape[0]} training rows, got "
                    f"dtype {trusted.dtype} and shape {trusted.shape}."
                )
            object.__setattr__(self, "trusted", trusted)
        missing = np.flatnonzero(np.bincount(self.y_train, minlength=n_classes) == 0)
        if missing.size:
            raise InvalidDataset(
                f"Classes {classes[missing].tolist()} have no example in the training split; every class must "
                "be present to fit a classifier (lower test_size or drop these classes)."
            )

    @property
    def n_classes(self) -> int:
        """Number of classes K."""
        return int(self.classes.size)

    @property
    def n_rows(self) -> int:
        """Rows of the source table, labelled or not (given probabilities have one row for each)."""
        return self.source.n_rows if self.source is not None else self.X_train.shape[0] + self.X_test.shape[0]

    @property
    def evaluates(self) -> bool:
        """Whether there are held-out rows to score on (``test_size=0`` checks every row instead)."""
        return self.X_test.shape[0] > 0

    @property
    def n_features(self) -> int:
        """Number of feature columns."""
        return int(self.X_train.shape[1])

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, n_train={self.X_train.shape[0]}, n_test={self.X_test.shape[0]}, "
            f"n_features={self.n_features}, n_classes={self.n_classes}, dtype={self.X_train.dtype})"
        )


def _refuse_non_finite(X: np.ndarray, feature_names: list[str], where: str) -> None:
    """Refuse a feature column holding NaN or inf, naming it: few classifiers accept them, and those
    that do not fail deep inside their fit, after the cross-validation was paid for."""
    # Column sums first, without a temporary of X's size: only a column whose sum is not finite
    # (an inf, a NaN or an overflow) is searched.
    with np.errstate(over="ignore", invalid="ignore"):
        suspects = np.flatnonzero(~np.isfinite(X.sum(axis=0, dtype=np.float64)))
    for column in suspects:
        for kind, test in (("NaN", np.isnan), ("infinite", np.isinf)):
            rows = np.flatnonzero(test(X[:, column]))
            if rows.size:
                raise InvalidDataset(
                    f"Feature column {feature_names[column]!r} of dataset {where} holds {rows.size} {kind} "
                    f"value(s) (first at row {rows[0]} of the split); impute, replace or drop them in the loader "
                    "(the file loaders impute an empty cell)."
                )


# ---------------------------------------------------------------------------------------------------------------
# Loaders
