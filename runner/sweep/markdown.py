"""Markdown for the sweep report: pipe tables, values as typed on the command line, mean ± std."""

from __future__ import annotations

import numpy as np
import pandas as pd

_MISSING = "—"


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown pipe table; cells are escaped so a ``|`` or newline cannot break it."""
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(_escape_cell(cell) for cell in line) + " |" for line in lines)


def _escape_cell(cell) -> str:
    """One markdown table cell."""
    return " ".join(str(cell).split()).replace("|", "\\|")


def _format_value(value) -> str:
    """An override value as it would be typed on the command line; missing → ``—``."""
    if _is_missing(value):
        return _MISSING
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    return str(value)


def _is_missing(value) -> bool:
    """True for a missing scalar (None, NaN, pd.NA); False for anything else."""
    return pd.api.types.is_scalar(value) and bool(pd.isna(value))


def _format_mean_std(values: pd.Series) -> str:
    """``"0.912 ± 0.004"`` over the non-missing values; no std for a single value."""
    values = values.dropna()
    if values.empty:
        return _MISSING
    if len(values) == 1:
        return f"{values.iloc[0]:.3f}"
    return f"{values.mean():.3f} ± {values.std(ddof=1):.3f}"


def _overrides_text(row: pd.Series, columns: list[str]) -> str:
    """``key=value`` for each override the job has, space-separated."""
    return " ".join(f"{c}={_format_value(row[c])}" for c in columns if not _is_missing(row[c]))
