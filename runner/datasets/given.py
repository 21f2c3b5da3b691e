"""Out-of-fold probabilities made elsewhere (``cv=given``): read a file, check it, match it to the rows.

Users whose model is not a scikit-learn estimator (PyTorch, Keras, a hosted model) compute their own out-of-fold
``pred_probs`` and hand them in with ``cv.pred_probs_path``. The file holds one row per row of the input table, in
file order (rows without a label included), and one column per class in the sorted order of the class values --
the order of scikit-learn's ``classes_``:

* ``.npy`` -- a 2-D float array saved with ``np.save`` (pickled object arrays are refused: unpickling runs code);
  float16 is accepted, its rows checked to sum to 1 at float16's own precision and then normalised in float64;
* ``.csv`` -- numbers only, with or without a header row. A header names the classes exactly as they are written
  in the label column, in any order (``0,1,2`` too, as ``pd.DataFrame(P).to_csv(index=False)`` writes them); a
  header naming a class the labels do not have, or missing one, is refused. A first row of numbers is a header
  when it is not a row of probabilities, or when it names the classes and the file has one row more than the
  input table.

:func:`read_pred_probs` checks what the file alone can tell (format, numbers, finite, in [0, 1], rows summing to 1)
and runs before the dataset is loaded; :func:`match_pred_probs` checks the row and class counts against the dataset
and picks the training rows. Both run before any fitting, and every error is one line naming the file and the fix.

Symbols: N rows of the input table, K classes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from runner.confident._validation import as_pred_probs, check_pred_probs

__all__ = ["GivenPredProbs", "read_pred_probs", "match_pred_probs"]

log = logging.getLogger(__name__)

SUFFIXES = (".npy", ".csv")


@dataclass(frozen=True, eq=False)
class GivenPredProbs:
    """A checked file of probabilities: ``values`` (N, K) and the CSV header names, if any."""

    path: Path
    values: np.ndarray
    column_names: list[str] | None = None
    #: The first row's text when it is numbers that could be class names or probabilities (``0,1``).
    first_row: list[str] | None = None


def read_pred_probs(path) -> GivenPredProbs:
    """Read ``path`` (``.npy`` or ``.csv``) and check its numbers.

    Parameters
    ----------
    path : str or Path
        The file of probabilities, one row per input row, one column per class.

    Returns
    -------
    GivenPredProbs

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the type is not ``.npy``/``.csv``, the ``.npy`` holds pickled objects, the content is not a 2-D array
        of numbers, or it holds NaN/inf, values outside [0, 1] or rows that do not sum to 1.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"cv.pred_probs_path: file not found: '{path}' (absolute: '{path.absolute()}'); give the path of an "
            ".npy or .csv file of out-of-fold probabilities."
        )
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(
            f"cv.pred_probs_path '{path}': unsupported file type {suffix!r}; use .npy (np.save) or .csv "
            "(one column per class)."
        )
    names = first_row = None
    if suffix == ".npy":
        values = _read_npy(path)
    else:
        values, names, first_row = _read_csv(path)
    if values.dtype == np.float16:
        values = _from_float16(values, path)
    try:
        values = as_pred_probs(values)
        check_pred_probs(values)
    except ValueError as error:
        raise ValueError(
            f"cv.pred_probs_path '{path}': {error} (one row of class probabilities per input row)."
        ) from None
    return GivenPredProbs(path=path, values=values, column_names=names, first_row=first_row)


def match_pred_probs(given: GivenPredProbs, *, n_rows: int, classes: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The probabilities of the training rows, after checking the file has one row per input row and one
    column per class.

    Parameters
    ----------
    given : GivenPredProbs
        From :func:`read_pred_probs`.
    n_rows : int
        Rows of the input table (``Dataset.n_rows``).
    classes : ndarray of shape (K,)
        The class values, sorted (``Dataset.classes``).
    rows : ndarray of int
        Row numbers of the training rows (``Dataset.train_rows``).

    Returns
    -------
    ndarray of shape (len(rows), K)
        ``given.values`` itself when the training rows are every row in file order (no copy).

    Raises
    ------
    ValueError
        If the row count or the class count differs from the dataset's.
    """
    values, path, names = given.values, given.path, given.column_names
    class_names = [str(c) for c in classes]
    if given.first_row is not None and len(values) == n_rows + 1 and sorted(given.first_row) == sorted(class_names):
        values, names = values[1:], given.first_row  # the first row names the classes
    if len(values) != n_rows:
        raise ValueError(
            f"cv.pred_probs_path '{path}' has {len(values)} rows but the input table has {n_rows}; it needs one "
            "row per input row, in file order (rows without a label included)."
        )
    n_classes = len(classes)
    if values.shape[1] != n_classes:
        raise ValueError(
            f"cv.pred_probs_path '{path}' has {values.shape[1]} columns but the labels have {n_classes} classes "
            f"{[str(c) for c in classes]}; it needs one column per class, in that (sorted) order."
        )
    if names is not None and sorted(names) != sorted(class_names):
        raise ValueError(
            f"cv.pred_probs_path '{path}' has header {names} but the labels' classes are {class_names} "
            f"(not classes: {sorted(set(names) - set(class_names))}, missing: "
            f"{sorted(set(class_names) - set(names))}); name each column by its class exactly as in the label "
            "column, or write no header (columns in the sorted class order)."
        )
    if names is not None:
        order = [names.index(c) for c in class_names]
        if order != list(range(n_classes)):
            log.info("cv.pred_probs_path: columns taken by name, in the sorted class order %s", list(classes))
            values = values[:, order]
    if np.array_equal(rows, np.arange(n_rows)):
        return values
    return values[rows]


def _read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as error:
        if "pickle" in str(error).lower():
            raise ValueError(
                f"cv.pred_probs_path '{path}' holds pickled Python objects, which cleanrun does not load "
                "(unpickling can run code); save a float array: np.save(path, pred_probs.astype('float64'))."
            ) from None
        raise ValueError(f"cv.pred_probs_path '{path}' is not a readable .npy file: {error}") from None
    except OSError as error:
        raise ValueError(f"cv.pred_probs_path '{path}' is not a readable .npy file: {error}") from None


def _read_csv(path: Path) -> tuple[np.ndarray, list[str] | None, list[str] | None]:
    """The numbers of a CSV, its header names as written (None without a header) and, when the first row is
    numbers that may yet be class names, that row's text."""
    try:
        first = (
            pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False, na_filter=False).iloc[0].tolist()
        )
    except (pd.errors.EmptyDataError, IndexError):
        raise ValueError(f"cv.pred_probs_path '{path}' is empty.") from None
    numbers = all(_is_number(value) for value in first)
    try:
        frame = pd.read_csv(path, header=None, skiprows=0 if numbers else 1, dtype=np.float64)
    except ValueError as error:
        raise ValueError(
            f"cv.pred_probs_path '{path}' holds a value that is not a number ({error}); it must hold only "
            "probabilities, with at most one header row."
        ) from None
    values = frame.to_numpy()
    if not numbers:
        if first and first[0] == "":  # a header cell left empty: a row index column
            raise ValueError(
                f"cv.pred_probs_path '{path}' has a first column without a name, most likely a row index; write "
                "the CSV without it (DataFrame.to_csv(path, index=False))."
            )
        return values, first, None
    if len(values) and not _is_probability_row(values[0]):
        return values[1:], first, None  # numbers, but not probabilities: class names such as 0,1,2
    return values, None, first


def _is_probability_row(row: np.ndarray) -> bool:
    return bool(np.all((row >= 0) & (row <= 1)) and abs(row.sum() - 1) <= 1e-6 * len(row))


def _from_float16(values: np.ndarray, path: Path) -> np.ndarray:
    """float16 probabilities as float64 rows that sum to 1, after checking them at float16's own precision (a
    sum of K values each rounded to float16 is off by up to K half-ulps)."""
    if values.ndim == 2 and values.shape[1] and np.isfinite(values).all():
        wide = values.astype(np.float64)
        sums = wide.sum(axis=1)
        tolerance = values.shape[1] * float(np.finfo(np.float16).eps)
        bad = np.flatnonzero(np.abs(sums - 1) > tolerance)
        if bad.size:
            raise ValueError(
                f"cv.pred_probs_path '{path}': {bad.size} rows of the float16 probabilities do not sum to 1 even at "
                f"float16 precision (row {bad[0]} sums to {sums[bad[0]]:.4g}); save them as float32 or float64 "
                "after normalising: np.save(path, (p / p.sum(axis=1, keepdims=True)).astype('float32'))."
            )
        with np.errstate(invalid="ignore", divide="ignore"):
            return wide / sums[:, None]
    return values


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
