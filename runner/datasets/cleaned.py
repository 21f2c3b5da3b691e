"""The cleaned table: the user's own file with the strategy's decisions applied to its rows.

For a file dataset (``dataset=csv``) a run writes ``cleaned.csv`` (``cleaned.parquet`` for a Parquet input) next to
its other artifacts: the input rows in their original order and with their original columns, where

* rows the strategy removed are left out (``remove``; ``relabel_confident``'s unsure rows);
* rows the strategy relabelled carry their new label in the label column (``relabel``, ``relabel_confident``);
* when the strategy weights rows (``weight``, ``soft_weight``, and ``remove``'s class re-weighting), a
  ``sample_weight`` column holds each row's weight in the final fit;
* rows that were not checked -- held-out test rows (unless ``dataset.test_size=0``) and rows without a label --
  pass through unchanged, with an empty ``sample_weight``.

The table is read again from the file and written a chunk of rows at a time (pyarrow decodes a Parquet file a row
group at a time), so that writing it never holds a second whole copy of the table in pandas; it is written under a
temporary name and renamed, like every artifact
(:func:`runner.common.atomic.atomic_path`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runner.common.atomic import atomic_path
from runner.datasets.tables import TableSource

__all__ = ["Cleaning", "cleaning_of", "write_cleaned_table", "cleaned_name"]

log = logging.getLogger(__name__)

WEIGHT_COLUMN = "sample_weight"
CHUNK_ROWS = 100_000  # rows read and written at a time: the table is never held whole


@dataclass(frozen=True, eq=False)
class Cleaning:
    """What the strategy made of the checked rows of a file, by row number in that file.

    Attributes
    ----------
    source : TableSource
        The file.
    checked_rows : ndarray of int
        Row numbers of the rows that were checked (the training rows).
    rows : ndarray of int
        Row numbers of the rows the final fit trains on (a row may repeat).
    labels : ndarray
        Their labels, as class values.
    sample_weight : ndarray of float, optional
        Their weights; None when the strategy does not weight rows.
    """

    source: TableSource
    checked_rows: np.ndarray
    rows: np.ndarray
    labels: np.ndarray
    sample_weight: np.ndarray | None = None


def cleaning_of(dataset, training_set) -> Cleaning | None:
    """The :class:`Cleaning` of a file dataset from the strategy's ``TrainingSet`` (None for other datasets)."""
    if dataset.source is None or training_set is None:
        return None
    return Cleaning(
        source=dataset.source,
        checked_rows=dataset.train_rows,
        rows=dataset.train_rows[training_set.rows],
        labels=dataset.classes[training_set.labels],
        sample_weight=training_set.sample_weight,
    )


def cleaned_name(source: TableSource) -> str:
    """``cleaned.parquet`` for a Parquet input, else ``cleaned.csv``."""
    return "cleaned.parquet" if source.is_parquet else "cleaned.csv"


def write_cleaned_table(run_dir, cleaning: Cleaning) -> Path:
    """Write the cleaned table into ``run_dir``; return its path.

    Raises
    ------
    ValueError
        If the file no longer has the rows the run read (it changed during the run).
    """
    source = cleaning.source
    checked = np.zeros(source.n_rows, dtype=bool)
    checked[cleaning.checked_rows] = True
    # The output: the final training rows and the unchecked rows, each at its place in the file.
    positions = np.concatenate([cleaning.rows, np.flatnonzero(~checked)])
    order = np.argsort(positions, kind="stable")
    positions_in_order = positions[order]
    n_trained = len(cleaning.rows)
    weighted = cleaning.sample_weight is not None

    def chunks():
        start = 0
        for table in source.read_chunks(CHUNK_ROWS):  # the file once more, a chunk at a time
            end = start + len(table)
            picked = order[np.searchsorted(positions_in_order, start):np.searchsorted(positions_in_order, end)]
            chunk = table.take(positions[picked] - start)
            trained = picked < n_trained
            labels = chunk[source.label_column].to_numpy(copy=True)
            if labels.dtype != cleaning.labels.dtype:
                labels = labels.astype(object)
            labels[trained] = cleaning.labels[picked[trained]]
            chunk[source.label_column] = labels
            if weighted:
                if start == 0 and WEIGHT_COLUMN in chunk.columns:
                    log.warning("cleaned table: the input's own %r column is replaced by the final fit's weights",
                                WEIGHT_COLUMN)
                weights = np.full(len(picked), np.nan)
                weights[trained] = cleaning.sample_weight[picked[trained]]
                chunk[WEIGHT_COLUMN] = weights
            start = end
            yield chunk
        if start != source.n_rows:
            raise ValueError(
                f"'{source.path}' has {start} rows now but had {source.n_rows} when the run read it; the cleaned "
                "table was not written."
            )

    path = Path(run_dir) / cleaned_name(source)
    with atomic_path(path) as temporary:
        if source.is_parquet:
            _write_parquet(temporary, chunks())
        else:
            with open(temporary, "w", newline="") as stream:
                for number, chunk in enumerate(chunks()):
                    chunk.to_csv(stream, index=False, header=number == 0, lineterminator="\n")
    removed = int(checked.sum() - len(np.unique(cleaning.rows)))
    log.info("cleaned table: %s (%d rows, %d removed)", path, len(positions), removed)
    return path


def _write_parquet(path: Path, chunks) -> None:
    """Write DataFrame chunks as the row groups of one Parquet file, with the first chunk's schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    try:
        for chunk in chunks:
            if writer is None:
                batch = pa.Table.from_pandas(chunk, preserve_index=False)
                writer = pq.ParquetWriter(path, batch.schema)
            else:
                batch = pa.Table.from_pandas(chunk, schema=writer.schema, preserve_index=False)
            writer.write_table(batch)
    finally:
        if writer is not None:
            writer.close()

