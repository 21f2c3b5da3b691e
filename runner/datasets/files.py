"""Reading a user's CSV or Parquet file: the format by extension, the delimiter, and the label column as written.

Features are parsed by pandas (numbers become numbers); the label and id columns are read a second time as the
text (CSV) or the values (Parquet) the file holds, so that ``NA``, ``null``, ``007`` and ``7`` stay four classes
(:func:`read_labels`). The names an id column may not take are those the run writes beside it
(:data:`RESERVED_COLUMNS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from runner.datasets.records import DELIMITERS, sniff_delimiter

__all__ = [
    "PARQUET_SUFFIXES",
    "RESERVED_COLUMNS",
    "check_id_column_name",
    "delimiter_hint",
    "read_labels",
    "read_table",
    "sniff_delimiter",
]

#: How a missing optional dependency tells the user what to install.
EXTRA_HINT = "pip install -e '.[datasets]' (or pip install 'cleanrun[datasets]')"
COMPRESSION_SUFFIXES = {".gz", ".bz2", ".zip", ".xz", ".zst", ".tar"}
CSV_SUFFIXES = {".csv", ".txt"}
PARQUET_SUFFIXES = {".parquet", ".pq"}


def read_table(
    path: str | Path,
    *,
    sep: str | None = None,
    label_column: str | None = None,
    missing_labels: Sequence[str] = (),
    id_column: str | None = None,
) -> pd.DataFrame:
    """Read a CSV or Parquet file, by extension (compressed CSV allowed); the label and id columns as written."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise ValueError(f"Dataset path '{path}' is a directory; give the path of a CSV or Parquet file in it.")
    if not path.is_file():
        raise FileNotFoundError(f"Dataset file not found: '{path}' (absolute: '{path.absolute()}').")
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in COMPRESSION_SUFFIXES]
    suffix = suffixes[-1] if suffixes else ""
    if suffix in CSV_SUFFIXES:
        sep = sep or sniff_delimiter(path)
        try:
            # low_memory=False: a column's type is inferred from the whole column, not per block of rows
            frame = pd.read_csv(path, sep=sep, low_memory=False)
        except pd.errors.EmptyDataError:
            raise ValueError(f"Dataset file '{path}' is empty: it needs a header line and rows.") from None
    elif suffix in PARQUET_SUFFIXES:
        try:
            frame = pd.read_parquet(path)
        except ImportError as err:
            raise ImportError(f"Reading Parquet file '{path}' needs pyarrow: {EXTRA_HINT}.") from err
    else:
        raise ValueError(
            f"Unsupported file type for '{path}'; use one of "
            f"{sorted(CSV_SUFFIXES | PARQUET_SUFFIXES)} (CSV may be compressed, e.g. .csv.gz)."
        )
    if frame.empty:
        raise ValueError(f"Dataset file '{path}' has no rows (columns: {[str(c) for c in frame.columns]}).")
    for column, markers in ((label_column, missing_labels), (id_column, ())):
        if column is not None and column in frame.columns:
            position = list(frame.columns).index(column)
            frame[column] = read_labels(
                path, position, sep=sep, missing_labels=markers, parquet=suffix in PARQUET_SUFFIXES
            )
    return frame


def read_labels(
    path: Path, position: int, *, sep: str | None, missing_labels: Sequence[str], parquet: bool
) -> np.ndarray:
    """The label column (or the id column) read as written, an object array with None for "no value".

    CSV: every cell as its text (``NA``, ``null``, ``007`` and ``7`` are four classes); an empty cell or one of
    ``missing_labels`` is no label. Parquet: every value in the column's own type (an int64 column gives ints,
    nulls included; a categorical its strings); null, an empty string or a value whose text is in
    ``missing_labels`` is no label.
    """
    if parquet:
        import pyarrow.parquet as pq

        name = pq.read_schema(path).names[position]
        values = pq.read_table(path, columns=[name]).column(0)
        if hasattr(values.type, "value_type"):  # dictionary (a pandas categorical): its values
            values = values.cast(values.type.value_type)
        labels = np.array(values.to_pylist(), dtype=object)
    else:
        labels = (
            pd.read_csv(path, sep=sep, usecols=[position], dtype=str, keep_default_na=False, na_filter=False)
            .iloc[:, 0]
            .to_numpy(dtype=object)
        )
    markers = {"", *missing_labels}
    missing = np.fromiter((value is None or str(value) in markers for value in labels), dtype=bool, count=len(labels))
    labels[missing] = None
    return labels


def delimiter_hint(columns) -> str:
    """A hint for a missing column when the header looks split by another delimiter than the one used."""
    if len(columns) == 1:
        header = str(columns[0])
        for delimiter in DELIMITERS:
            if delimiter in header:
                return (
                    f" The header was read as one column; if the file is separated by {delimiter!r}, set "
                    f"dataset.sep='{delimiter}'."
                )
    return ""


#: Columns of ``label_issues.csv`` (and ``cleaned.csv``'s added weight): an id column may not be named like one.
RESERVED_COLUMNS = (
    "rank",
    "index",
    "given_label",
    "predicted_label",
    "label_quality",
    "is_label_issue",
    "true_label",
    "is_true_error",
    "trusted",
    "sample_weight",
)


def check_id_column_name(id_column) -> None:
    if id_column is not None and str(id_column) in RESERVED_COLUMNS:
        raise ValueError(
            f"dataset.id_column={id_column!r} is the name of a column the run writes; rename the column in the "
            f"file or choose another id column (reserved names: {', '.join(RESERVED_COLUMNS)})."
        )
