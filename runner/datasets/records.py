"""A CSV file's records as written: its delimiter, and each record's exact text next to its parsed cells.

The loader parses a CSV with pandas (numbers become numbers); what a run writes back into the user's file format
(``cleaned.csv``) must not go through that parsing, or zip codes lose their zeros and ``NA`` becomes empty. So the
file is read a second time here as text: each record comes with the exact characters it occupies in the file
(quoting, embedded newlines, line ending and, on the header, a UTF-8 byte order mark included), and a record that
is passed through is written as those characters.

Records are split by Python's :mod:`csv` parser with the excel dialect and the file's delimiter, which is how
pandas splits them too (double quotes, a doubled quote inside a quoted cell, no escape character). Blank and
whitespace-only lines are not records, as in pandas. Bytes that are not UTF-8 pass through unchanged
(``surrogateescape``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

__all__ = ["DELIMITERS", "sniff_delimiter", "open_text", "records", "line_ending", "format_record", "BOM"]

#: The delimiters a file may be sniffed to use (``dataset.sep`` names any other).
DELIMITERS = ",;\t|"
BOM = "\ufeff"
ENCODING = "utf-8"
_SNIFF_CHARS = 64 * 1024


def open_text(path: Path):
    """The file as text, decompressed by its suffix (``.gz``, ``.bz2``, ...), line endings left as they are."""
    from pandas.io.common import get_handle

    return get_handle(path, "r", encoding=ENCODING, errors="surrogateescape", compression="infer")


def sniff_delimiter(path: Path) -> str:
    """The delimiter of the file's first lines among :data:`DELIMITERS`; ``,`` when the sample shows none."""
    with open_text(path) as handles:
        sample = handles.handle.read(_SNIFF_CHARS)
    # A sample cut inside a record would confuse the sniffer: keep whole lines only (unless there is just one).
    cut = max(sample.rfind("\n"), sample.rfind("\r"))
    if len(sample) == _SNIFF_CHARS and cut > 0:
        sample = sample[:cut]
    sample = "\n".join(line for line in sample.removeprefix(BOM).splitlines() if line.strip())  # no blank lines
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


class _Lines:
    """The lines of a text stream, remembering those handed out since the last :meth:`take`."""

    def __init__(self, stream):
        self._stream = stream
        self._taken: list[str] = []

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = self._stream.readline()
        if not line:
            raise StopIteration
        self._taken.append(line)
        return line

    def take(self) -> str:
        text = "".join(self._taken)
        self._taken.clear()
        return text


def records(stream, delimiter: str) -> Iterator[tuple[str, list[str]]]:
    """Each record of ``stream`` (header first) as ``(its exact text, its cells)``; blank lines are skipped.

    A skipped line is left out of the next record's text.

    A leading byte order mark stays in the header's text but not in its first cell.
    """
    lines = _Lines(stream)
    first = True
    for cells in csv.reader(lines, dialect="excel", delimiter=delimiter):
        text = lines.take()
        if not text.strip():  # a blank or whitespace-only line, which pandas skips too
            continue
        if first and cells[0].startswith(BOM):
            cells[0] = cells[0][len(BOM) :]
        first = False
        yield text, cells


def line_ending(text: str) -> str:
    """The line ending a record's text ends with (``""`` for a last line without one)."""
    last = text[-1:]
    if last == "\n":
        return "\r\n" if text[-2:-1] == "\r" else "\n"
    return last if last == "\r" else ""


def format_record(cells: list[str], delimiter: str, ending: str) -> str:
    """Cells as one CSV record, quoted only where a value needs it, ended by ``ending``."""
    out = io.StringIO()
    # "\r\n" as the writer's terminator makes it quote any cell holding a line break; then the record's own.
    csv.writer(out, dialect="excel", delimiter=delimiter, lineterminator="\r\n").writerow(cells)
    return out.getvalue()[:-2] + ending
