"""Out-of-fold probabilities made elsewhere (``cv=given``): read a file, check it, match it to the rows.

Users whose model is not a scikit-learn estimator (PyTorch, Keras, a hosted model) compute their own out-of-fold
``pred_probs`` and hand them in with ``cv.pred_probs_path``. The file holds one row per row of the input table, in
file order (rows without a label included), and one column per class in the sorted order of the class values --
the order of scikit-learn's ``classes_``:

* ``.npy`` -- a 2-D float array saved with ``np.save`` (pickled object arrays are refused: unpickling runs code);
* ``.csv`` -- numbers only, with or without a header row. When the header names are the class values, the columns
  are taken by name (in any order); other names (``p0, p1, ...``) are ignored and the columns taken in order.

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
    names = None
    if suffix == ".npy":
        values = _read_npy(path)
    else:
        values, names = _read_csv(path)
    try:
        values = as_pred_probs(values)
        check_pred_probs(values)
    except ValueError as error:
        raise ValueError(
            f"cv.pred_probs_path '{path}': {error} (one row of class probabilities per input row)."
        ) from None
    return GivenPredProbs(path=path, values=values, column_names=names)


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
    values, path = given.values, given.path
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
    names = given.column_names
    if names is not None and sorted(names) == sorted(str(c) for c in classes):
        order = [names.index(str(c)) for c in classes]
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


def _read_csv(path: Path) -> tuple[np.ndarray, list[str] | None]:
    """The numbers of a CSV and its header names (None when the first row is numbers too)."""
    try:
        first = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False).iloc[0].tolist()
    except (pd.errors.EmptyDataError, IndexError):
        raise ValueError(f"cv.pred_probs_path '{path}' is empty.") from None
    has_header = not all(_is_number(value) for value in first)
    try:
        frame = pd.read_csv(path, header=0 if has_header else None, dtype=np.float64)
    except ValueError as error:
        raise ValueError(
            f"cv.pred_probs_path '{path}' holds a value that is not a number ({error}); it must hold only "
            "probabilities, with at most one header row."
        ) from None
    names = [str(name) for name in frame.columns] if has_header else None
    if names and names[0].startswith("Unnamed"):  # pandas' name for a header cell left empty
        raise ValueError(
            f"cv.pred_probs_path '{path}' has a first column without a name, most likely a row index; write the "
            "CSV without it (DataFrame.to_csv(path, index=False))."
        )
    return frame.to_numpy(), names


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
