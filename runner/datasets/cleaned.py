"""The cleaned table: the user's own file with the strategy's decisions applied to its rows.

For a file dataset (``dataset=csv``) a run writes ``cleaned.csv`` (``cleaned.parquet`` for a Parquet input) next to
its other artifacts: the input rows in their original order and with their original columns, where

* rows the strategy removed are left out (``remove``; ``relabel_confident``'s unsure rows);
* rows the strategy relabelled carry their new label in the label column (``relabel``, ``relabel_confident``);
* when the strategy weights rows (``weight``, ``soft_weight``, and ``remove``'s class re-weighting), a
  ``sample_weight`` column holds each row's weight in the final fit;
* rows that were not checked -- held-out test rows (unless ``dataset.test_size=0``) and rows without a label --
  pass through unchanged, with an empty ``sample_weight``.

Everything the strategy did not decide to change is exactly as in the input: a CSV's kept records are copied as the
text they occupy in the file (:mod:`runner.datasets.records`: cells, quoting, delimiter, duplicate header names, BOM
and line endings), and only a relabelled row's label cell and the added ``sample_weight`` cell are written anew; a
Parquet file's rows are taken with pyarrow and written with the input's schema (types, nullability, categoricals,
metadata). The file is read again a record at a time (CSV) or a row group at a time (Parquet), so writing never
holds a second copy of the table; it is written under a temporary name and renamed, like every artifact
(:func:`runner.common.atomic.atomic_path`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runner.common.atomic import atomic_path
from runner.datasets.dataset import TableSource
from runner.datasets.records import ENCODING, format_record, line_ending, open_text, records

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
    plan = _Plan(
        positions=positions,
        order=order,
        positions_in_order=positions[order],
        n_trained=len(cleaning.rows),
        cleaning=cleaning,
    )
    path = Path(run_dir) / cleaned_name(source)
    with atomic_path(path) as temporary:
        if source.is_parquet:
            _write_parquet(temporary, plan)
        else:
            _write_csv(temporary, plan)
    removed = int(checked.sum() - len(np.unique(cleaning.rows)))
    log.info("cleaned table: %s (%d rows, %d removed)", path, len(positions), removed)
    return path


@dataclass(frozen=True, eq=False)
class _Plan:
    """Which output rows each file row becomes: ``positions[order]`` are file rows in file order (repeats allowed);
    an output entry ``k < n_trained`` is a training row with ``cleaning.labels[k]`` and its weight."""

    positions: np.ndarray
    order: np.ndarray
    positions_in_order: np.ndarray
    n_trained: int
    cleaning: Cleaning

    def entries(self, start: int, end: int) -> np.ndarray:
        """The output entries of file rows ``start .. end-1``, in file order."""
        first, last = np.searchsorted(self.positions_in_order, [start, end])
        return self.order[first:last]

    def changed_rows(self, n_rows_read: int) -> ValueError:
        source = self.cleaning.source
        return ValueError(
            f"'{source.path}' has {n_rows_read} rows now but had {source.n_rows} when the run read it; the cleaned "
            "table was not written."
        )


def _write_csv(path: Path, plan: _Plan) -> None:
    """The kept records as written in the file; only a relabelled row's label cell and the weight cell are new."""
    source, cleaning = plan.cleaning.source, plan.cleaning
    delimiter, label = source.delimiter, source.label_index
    weighted = cleaning.sample_weight is not None
    weight_at = None  # the weight's position when the file has a column of that name already (else appended)
    pending = ""  # the last piece written is held back: a last line without an ending gets one if more follow
    with (
        open_text(source.path) as handles,
        open(path, "w", encoding=ENCODING, errors="surrogateescape", newline="") as out,
    ):
        rows = records(handles.handle, delimiter)
        header_text, header = next(rows, ("", []))
        ending = line_ending(header_text) or "\n"
        if weighted and WEIGHT_COLUMN in header:
            weight_at = header.index(WEIGHT_COLUMN)
            log.warning(
                "cleaned table: the input's own %r column is replaced by the final fit's weights", WEIGHT_COLUMN
            )
        pending = _with_weight(header_text, WEIGHT_COLUMN, delimiter) if weighted and weight_at is None else header_text
        row = -1
        wanted, entries, next_at = plan.positions_in_order.tolist(), plan.order.tolist(), 0
        for row, (text, cells) in enumerate(rows):
            if row >= source.n_rows:
                raise plan.changed_rows(row + 1)
            first = next_at
            while next_at < len(wanted) and wanted[next_at] == row:
                next_at += 1
            for entry in entries[first:next_at]:
                trained = entry < plan.n_trained
                new_label = str(cleaning.labels[entry]) if trained else None
                weight = _weight_text(cleaning.sample_weight[entry]) if weighted and trained else ""
                if weight_at is not None or (new_label is not None and new_label != cells[label]):
                    edited = cells + [""] * (len(header) - len(cells))  # a short row: pandas read the rest as empty
                    if new_label is not None:
                        edited[label] = new_label
                    if weight_at is not None:
                        edited[weight_at] = weight
                    piece = format_record(edited, delimiter, line_ending(text))
                    if weighted and weight_at is None:
                        piece = _with_weight(piece, weight, delimiter)
                else:
                    piece = _with_weight(text, weight, delimiter) if weighted else text
                out.write(pending if pending[-1:] in ("\n", "\r") else pending + ending)
                pending = piece
        if row + 1 != source.n_rows:
            raise plan.changed_rows(row + 1)
        out.write(pending)


def _with_weight(text: str, cell: str, delimiter: str) -> str:
    """A record's text with one more cell at its end (before its line ending)."""
    ending = line_ending(text)
    body = text[: len(text) - len(ending)]
    # a number (or nothing) needs no quoting unless the delimiter is part of it; a lone empty cell stays empty
    # (the csv writer would write it as "")
    if delimiter in cell or '"' in cell:
        cell = format_record([cell], delimiter, "")
    return body + delimiter + cell + ending


def _weight_text(weight) -> str:
    return repr(float(weight))


def _write_parquet(path: Path, plan: _Plan) -> None:
    """The kept rows of the Parquet file with its schema (types, nullability, categoricals, metadata), a row group
    of the input at a time; only a relabelled row's label and the added weight column are new."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cleaning = plan.cleaning
    source = cleaning.source
    weighted = cleaning.sample_weight is not None
    start = 0
    with pq.ParquetFile(source.path) as parquet:
        schema = parquet.schema_arrow
        weight_at = schema.get_field_index(WEIGHT_COLUMN) if weighted else -1
        if weighted and weight_at >= 0:
            log.warning(
                "cleaned table: the input's own %r column is replaced by the final fit's weights", WEIGHT_COLUMN
            )
            schema = schema.set(weight_at, pa.field(WEIGHT_COLUMN, pa.float64()))
        elif weighted:
            schema = schema.append(pa.field(WEIGHT_COLUMN, pa.float64()))
        label_field = schema.field(source.label_index)
        with pq.ParquetWriter(path, schema) as writer:
            for batch in parquet.iter_batches(batch_size=CHUNK_ROWS):
                end = start + batch.num_rows
                if end > source.n_rows:
                    raise plan.changed_rows(end)
                picked = plan.entries(start, end)
                table = pa.Table.from_batches([batch]).take(pa.array(plan.positions[picked] - start))
                trained = picked < plan.n_trained
                if trained.any():
                    labels = table.column(source.label_index).to_pylist()
                    for i in np.flatnonzero(trained):
                        labels[i] = _python(cleaning.labels[picked[i]])
                    table = table.set_column(source.label_index, label_field, _arrow_array(labels, label_field.type))
                if weighted:
                    weights = np.full(len(picked), np.nan)
                    weights[trained] = cleaning.sample_weight[picked[trained]]
                    column = pa.array(weights, mask=~trained)
                    if weight_at >= 0:
                        table = table.set_column(weight_at, schema.field(weight_at), column)
                    else:
                        table = table.append_column(schema.field(WEIGHT_COLUMN), column)
                writer.write_table(table.cast(schema))
                start = end
    if start != source.n_rows:
        raise plan.changed_rows(start)


def _python(value):
    """A class value as the plain Python value pyarrow converts (numpy scalars to int / float / str)."""
    return value.item() if isinstance(value, np.generic) else value


def _arrow_array(values: list, type_):
    """``values`` as an array of the column's type (a dictionary column through its value type)."""
    import pyarrow as pa

    if pa.types.is_dictionary(type_):
        return pa.array(values, type=type_.value_type).dictionary_encode().cast(type_)
    return pa.array(values, type=type_)
