"""The table loader: a CSV or Parquet file into a :class:`~runner.datasets.dataset.Dataset`, and the split
and identity helpers the other loaders (:mod:`runner.datasets.bundled`, :mod:`runner.datasets.rdatasets_tables`,
:mod:`runner.datasets.package_tables`) share.

A *loader* is a keyword-only function that receives its own config keys plus ``seed`` and returns a
:class:`~runner.datasets.dataset.Dataset`; a new loader is one function plus one YAML file in
``conf/dataset/``. Every loader without a separate test file holds out ``test_size`` of the rows with a
stratified split (``random_state=seed``); ``test_size=0`` holds out none (every row is cross-validated and
cleaned, and nothing is scored). Every row keeps its identity, its row number in the source table
(``Dataset.train_rows`` / ``test_rows``), so label issues trace back to the file. Table features are encoded by
one shared helper fitted on the training rows only (:mod:`runner.datasets.encoding`).
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from runner.datasets.dataset import Dataset, TableSource
from runner.datasets.encoding import _encode_features, _encode_labels
from runner.datasets.files import (
    PARQUET_SUFFIXES,
    check_id_column_name,
    delimiter_hint,
    read_table,
    sniff_delimiter,
)

__all__ = ["load_table", "standardized"]

log = logging.getLogger(__name__)

#: The rows a subsample of a packaged table keeps do not depend on the run's seed: one table per option.
SUBSAMPLE_SEED = 0


def load_table(
    *,
    path: str | Path,
    label_column: str,
    test_path: str | Path | None = None,
    test_size: float = 0.25,
    seed: int = 0,
    feature_columns: Sequence[str] | None = None,
    max_categories: int | None = 32,
    dtype: str = "float32",
    name: str | None = None,
    id_column: str | None = None,
    sep: str | None = None,
    missing_labels: Sequence[str] = (),
    trusted_column: str | None = None,
) -> Dataset:
    """Load a labelled table from a CSV or Parquet file (chosen by extension).

    Parameters
    ----------
    path : str or Path
        Training table (``.csv``, ``.csv.gz``, ``.parquet``, ``.pq`` ...). Relative paths are relative to the
        working directory of the process.
    label_column : str
        Column holding the given labels, of any type (strings, ints, ...). Rows without a label are dropped.
    test_path : str or Path, optional
        Separate test table with the same columns. When given it is used as the test split and ``test_size`` is
        ignored; when ``None``, ``test_size`` of ``path`` is held out with a stratified split.
    test_size : float, default=0.25
        Fraction of rows held out when there is no ``test_path``. ``0`` checks every row: all rows are
        cross-validated and cleaned, none is held out, and there are no test metrics.
    seed : int, default=0
        Random state of the split.
    feature_columns : sequence of str, optional
        Columns to use as features; default all but ``label_column``.
    max_categories : int or None, default=32
        Most one-hot columns per categorical feature; rarer levels share one "infrequent" column. ``None``: no cap.
    dtype : str, default="float32"
        Floating dtype of the encoded features.
    name : str, optional
        Dataset name; default the file name without extensions.
    id_column : str, optional
        A column whose (unique, present) values identify the rows; it names them in the artifacts and is not a
        feature. Default: rows are identified by their row number in the file (0-based, header excluded). It may
        not be named like a column of ``label_issues.csv`` (:data:`runner.datasets.files.RESERVED_COLUMNS`).
    sep : str, optional
        A CSV file's delimiter; default sniffed from its first lines among ``, ; tab |``.
    missing_labels : sequence of str, default=()
        Label cells that mean "no label", besides an empty cell (and a Parquet null). Labels are read as written
        (:func:`runner.datasets.files.read_labels`): every other distinct value is a class, ``NA`` and ``007`` included.
    trusted_column : str, optional
        A boolean column (true/false, 1/0) marking the rows whose labels were verified; not a feature.
        The training rows it marks become ``Dataset.trusted``.

    Returns
    -------
    Dataset
        Encoded as described in the module docstring (median imputation with missing indicators, one-hot);
        ``source`` records ``path`` and each row keeps its row number in its file.

    Raises
    ------
    FileNotFoundError
        If ``path`` or ``test_path`` does not exist (the message names it).
    ValueError
        If the extension is not supported, ``label_column`` or a feature column is missing (the message lists the
        available columns), the test file has different columns, or its labels include classes unseen in training;
        or ``id_column`` is missing, has missing or repeated values; or ``trusted_column`` is missing or not boolean.
    """
    check_id_column_name(id_column)
    missing_labels = [str(marker) for marker in missing_labels]
    delimiter = None  # a CSV's: sniffed once, used to read the file and to write cleaned.csv
    if Path(path).expanduser().is_file() and Path(path).expanduser().suffix.lower() not in PARQUET_SUFFIXES:
        delimiter = sep or sniff_delimiter(Path(path).expanduser())
    train = read_table(
        path, sep=delimiter, label_column=label_column, missing_labels=missing_labels, id_column=id_column
    )
    test = (
        None
        if test_path is None
        else read_table(test_path, sep=sep, label_column=label_column, missing_labels=missing_labels)
    )
    if test is not None and set(test.columns) != set(train.columns):
        missing = [c for c in train.columns if c not in test.columns]
        extra = [c for c in test.columns if c not in train.columns]
        raise ValueError(
            f"Test file '{test_path}' must have the same columns as '{path}': missing {missing}, extra {extra}."
        )
    if name is None:
        name = Path(path).name.split(".")[0]
    dataset = _dataset_from_frames(
        train,
        test,
        label_column=label_column,
        feature_columns=feature_columns,
        name=name,
        test_size=test_size,
        seed=seed,
        max_categories=max_categories,
        dtype=dtype,
        id_column=id_column,
        path=Path(path).expanduser(),
        delimiter=delimiter or ",",
        trusted_column=trusted_column,
    )
    del train, test
    _release_arrow_memory()
    return dataset


def _release_arrow_memory() -> None:
    """Hand the memory pyarrow kept from reading Parquet back to the system.

    pyarrow's allocator keeps freed buffers for reuse; after a large Parquet file has been
    turned into arrays that is hundreds of MB that nothing in a run will reuse (1,250,000 x 20
    float32: ~300 MB).
    """
    pyarrow = sys.modules.get("pyarrow")  # imported by pd.read_parquet; nothing to release otherwise
    if pyarrow is not None:
        pyarrow.default_memory_pool().release_unused()


def _dataset_from_arrays(
    X: np.ndarray,
    labels: np.ndarray,
    *,
    name: str,
    feature_names: list[str],
    test_size: float,
    seed: int,
    dtype: str,
    classes: np.ndarray | None = None,
) -> Dataset:
    """Encode labels (unless ``classes`` says they are codes already), split stratified, cast into a Dataset."""
    X = np.asarray(X).astype(_float_dtype(dtype), copy=False)
    if classes is None:
        classes, codes, _ = _encode_labels(labels)
    else:
        codes = np.asarray(labels, dtype=np.int64)
    train_idx, test_idx = _split_indices(codes, classes, test_size=test_size, seed=seed)
    # take() copies each split once; X itself is not copied again
    dataset = Dataset(
        X_train=X.take(train_idx, axis=0),
        y_train=codes[train_idx],
        X_test=X.take(test_idx, axis=0),
        y_test=codes[test_idx],
        classes=classes,
        feature_names=feature_names,
        name=name,
        train_rows=train_idx,
        test_rows=test_idx,
    )
    log.info("Loaded %r", dataset)
    return dataset


def _dataset_from_frames(
    train: pd.DataFrame,
    test: pd.DataFrame | None,
    *,
    label_column: str,
    feature_columns: Sequence[str] | None,
    name: str,
    test_size: float,
    seed: int,
    max_categories: int | None,
    dtype: str,
    id_column: str | None = None,
    path: Path | None = None,
    delimiter: str = ",",
    trusted_column: str | None = None,
) -> Dataset:
    """Split (unless ``test`` is given), encode labels and features of raw tables into a :class:`Dataset`.

    Each row keeps its row number in ``train`` (or ``test``) as its identity; with ``path`` the dataset also
    records the file as its :class:`TableSource`.
    """
    if label_column not in train.columns:
        raise ValueError(
            f"Label column {label_column!r} not found; available columns: {[str(c) for c in train.columns]}."
            + delimiter_hint(train.columns)
        )
    ids = None if id_column is None else _row_ids(train, id_column, label_column)
    trusted = None if trusted_column is None else _trusted_mask(train, trusted_column, label_column)
    if feature_columns is None:
        feature_columns = [c for c in train.columns if c not in (label_column, id_column, trusted_column)]
    else:
        feature_columns = list(feature_columns)  # a Hydra ListConfig is not a valid pandas indexer
        unknown = [c for c in feature_columns if c not in train.columns]
        if unknown:
            raise ValueError(
                f"Feature columns {unknown} not found; available columns: {[str(c) for c in train.columns]}."
            )
        if label_column in feature_columns:
            raise ValueError(f"Label column {label_column!r} must not also be a feature column.")
        if id_column is not None and id_column in feature_columns:
            raise ValueError(f"Id column {id_column!r} must not also be a feature column.")
        if trusted_column is not None and trusted_column in feature_columns:
            raise ValueError(f"Trusted column {trusted_column!r} must not also be a feature column.")
    if not feature_columns:
        raise ValueError(f"No feature columns besides the label column {label_column!r}.")

    n_rows = len(train)
    # the row numbers of the table become the index, so they survive dropping and splitting rows
    train = train.set_axis(pd.RangeIndex(n_rows), axis=0)  # no data copy (copy-on-write)
    train = _drop_unlabelled(train, label_column, "training")
    if test is None:
        classes, codes, _ = _encode_labels(train[label_column].to_numpy())
        train_idx, test_idx = _split_indices(codes, classes, test_size=test_size, seed=seed)
        y_train, y_test = codes[train_idx], codes[test_idx]
        # every row trains when test_size=0: keep the table as it is rather than copy it in the same order
        train, test = (train if test_idx.size == 0 else train.iloc[train_idx]), train.iloc[test_idx]
    else:
        test = test.set_axis(pd.RangeIndex(len(test)), axis=0)
        test = _drop_unlabelled(test, label_column, "test")
        classes, y_train, y_test = _encode_labels(train[label_column].to_numpy(), test[label_column].to_numpy())
    X_train, X_test, feature_names = _encode_features(
        train[feature_columns], test[feature_columns], max_categories=max_categories, dtype=_float_dtype(dtype)
    )
    source = (
        None
        if path is None
        else TableSource(
            path=Path(path),
            label_column=label_column,
            n_rows=n_rows,
            id_column=id_column,
            ids=ids,
            delimiter=delimiter,
            label_index=list(train.columns).index(label_column),
        )
    )
    train_rows = train.index.to_numpy()
    dataset = Dataset(
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        classes=classes,
        feature_names=feature_names,
        name=name,
        train_rows=train_rows,
        test_rows=test.index.to_numpy(),
        source=source,
        trusted=None if trusted is None else trusted[train_rows],
    )
    log.info("Loaded %r", dataset)
    return dataset


def _dataset_from_packaged_table(
    frame: pd.DataFrame,
    *,
    what: str,
    label_column: str,
    drop_columns: Sequence[str],
    max_rows: int | None,
    min_class_rows: int,
    name: str,
    test_size: float,
    seed: int,
    max_categories: int | None,
    dtype: str,
) -> Dataset:
    """A real table that ships inside a package (``what`` names it in messages) into a :class:`Dataset`.

    The shared steps of the packaged-table loaders (:mod:`runner.datasets.rdatasets_tables`,
    :mod:`runner.datasets.package_tables`): drop ``drop_columns`` (and R's ``rownames``) and the unlabelled
    rows, keep ``max_rows`` rows stratified by class (the same rows for every seed), drop the classes with
    fewer than ``min_class_rows`` rows, then split and encode. A row's identity is its position in ``frame``
    (0-based), whatever rows were left out.
    """
    frame = frame.reset_index(drop=True)
    unknown = [column for column in [label_column, *drop_columns] if column not in frame.columns]
    if unknown:
        raise ValueError(f"{what} has no column(s) {unknown}; columns: {list(frame.columns)}")
    frame = frame.drop(columns=[c for c in ["rownames", *drop_columns] if c in frame.columns])
    frame = frame[frame[label_column].notna()]
    if max_rows is not None and len(frame) > max_rows:
        frame = _stratified_rows(frame, label_column, max_rows)
    frame = _drop_rare_classes(frame, label_column, min_class_rows, what)
    positions = frame.index.to_numpy()
    dataset = _dataset_from_frames(
        frame.reset_index(drop=True),
        None,
        label_column=label_column,
        feature_columns=None,
        name=name,
        test_size=test_size,
        seed=seed,
        max_categories=max_categories,
        dtype=dtype,
    )
    # _dataset_from_frames numbers the rows of the table it was given: back to the packaged table's rows.
    return dataclasses.replace(
        dataset, train_rows=positions[dataset.train_rows], test_rows=positions[dataset.test_rows]
    )


def _stratified_rows(frame: pd.DataFrame, label_column: str, max_rows: int) -> pd.DataFrame:
    labels = frame[label_column].astype(str).to_numpy()
    counts = pd.Series(labels).value_counts()
    # train_test_split cannot stratify on classes with a single row: those rows stay out.
    keep = np.isin(labels, counts.index[counts >= 2])
    frame, labels = frame[keep], labels[keep]
    kept, _ = train_test_split(frame, train_size=max_rows, stratify=labels, random_state=SUBSAMPLE_SEED)
    return kept.sort_index()


def _drop_rare_classes(frame: pd.DataFrame, label_column: str, min_rows: int, what: str) -> pd.DataFrame:
    counts = frame[label_column].value_counts()
    rare = counts.index[counts < min_rows]
    if len(rare):
        log.info("%s: dropping %d class(es) with fewer than %d rows: %s", what, len(rare), min_rows, list(rare))
    return frame[~frame[label_column].isin(rare)]


def _row_ids(table: pd.DataFrame, id_column: str, label_column: str) -> np.ndarray:
    """The values of the id column, one per row: they must exist, be present and be unique to trace a row."""
    if id_column not in table.columns:
        raise ValueError(f"Id column {id_column!r} not found; available columns: {[str(c) for c in table.columns]}.")
    if id_column == label_column:
        raise ValueError(f"Id column {id_column!r} must not be the label column.")
    ids = table[id_column]
    if ids.isna().any():
        raise ValueError(
            f"Id column {id_column!r} has {int(ids.isna().sum())} missing values (e.g. row "
            f"{int(np.flatnonzero(ids.isna().to_numpy())[0])}); every row needs an id to be traced back."
        )
    duplicated = ids.duplicated()
    if duplicated.any():
        raise ValueError(
            f"Id column {id_column!r} has {int(duplicated.sum())} repeated values (e.g. {ids[duplicated].iloc[0]!r}); "
            "ids must be unique to name one row each."
        )
    return ids.to_numpy()


def _trusted_mask(table: pd.DataFrame, trusted_column: str, label_column: str) -> np.ndarray:
    """The trusted column as a boolean mask indexed by row number (true/false, 1/0, or their strings)."""
    if trusted_column not in table.columns:
        raise ValueError(
            f"Trusted column {trusted_column!r} not found; available columns: {[str(c) for c in table.columns]}."
        )
    if trusted_column == label_column:
        raise ValueError(f"Trusted column {trusted_column!r} must not be the label column.")
    values = table[trusted_column]
    if values.dtype == bool:
        return values.to_numpy()
    words = values.astype(str).str.strip().str.lower()
    known = {"true": True, "1": True, "1.0": True, "false": False, "0": False, "0.0": False}
    unknown = ~words.isin(list(known))
    if values.isna().any() or unknown.any():
        example = values[values.isna() | unknown].iloc[0]
        raise ValueError(
            f"Trusted column {trusted_column!r} must hold true/false (or 1/0) in every row, got {example!r}."
        )
    return words.map(known).to_numpy(dtype=bool)


def _split_indices(codes: np.ndarray, classes: np.ndarray, *, test_size: float, seed: int):
    """Stratified train/test row indices (both shuffled), reproducible from ``seed``.

    ``test_size=0`` (check every row): every row trains, in table order, and no row is held out.
    """
    if test_size == 0:
        return np.arange(codes.size), np.arange(0)
    counts = np.bincount(codes, minlength=classes.size)
    too_small = classes[counts < 2]
    if too_small.size:
        raise ValueError(
            f"Classes {too_small.tolist()} have fewer than 2 examples, too few for a stratified train/test split; "
            "drop them or provide a separate test file."
        )
    # split indices rather than X: one copy of X per split, and the indices also serve to slice tables
    return train_test_split(np.arange(codes.size), test_size=test_size, stratify=codes, random_state=seed)


def _drop_unlabelled(frame: pd.DataFrame, label_column: str, what: str) -> pd.DataFrame:
    """Drop rows whose label is missing: they cannot be trained or scored on."""
    missing = frame[label_column].isna()
    if missing.any():
        log.warning(
            "Dropping %d %s rows without a label (empty, or a dataset.missing_labels marker) in column %r",
            int(missing.sum()),
            what,
            label_column,
        )
        frame = frame.loc[~missing]
    return frame


def _float_dtype(dtype: str | np.dtype) -> np.dtype:
    """Validate a floating feature dtype given by name (configs hold strings)."""
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"dtype must be a floating type such as 'float32' or 'float64', got {dtype}.")
    return dtype


def standardized(dataset: Dataset) -> Dataset:
    """The dataset with features scaled to zero mean and unit variance on the training split.

    Linear models, SVC, k-NN and MLPs need it to converge and to weigh features alike; trees
    are unaffected. The scaler sees training rows only, so nothing leaks from the test split.
    """
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(dataset.X_train)
    dtype = dataset.X_train.dtype
    return replace(
        dataset,
        X_train=scaler.transform(dataset.X_train).astype(dtype, copy=False),
        X_test=scaler.transform(dataset.X_test).astype(dtype, copy=False) if dataset.evaluates else dataset.X_test,
    )
