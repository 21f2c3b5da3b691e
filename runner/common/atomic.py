"""Atomic file writes: a reader sees a whole file or none.

Each file is written under a temporary name in its own directory and renamed into place
(:func:`atomic_path`); a temporary name starts with a dot and ends with ``.tmp``, so what a killed
writer left is recognisable (:func:`runner.run.artifacts.clear_outcome` removes it).
Used by every stage that writes: the run directory, the cache, the cleaned table, the sweep report.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

# Large tables are written in chunks so the text never has to exist in memory at once.
CSV_CHUNK_ROWS = 200_000


class WriteError(OSError):
    """A file could not be written (full disk, file-size limit, no permission): one line naming it and why."""


@contextmanager
def atomic_path(path: Path):
    """Yield a temporary path next to ``path``; rename it to ``path`` only if the block succeeds.

    Raises
    ------
    WriteError
        If the system refuses the write (the message names ``path`` and the reason).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(handle)
    except OSError as error:
        raise write_error(path, error) from None
    try:
        yield Path(temporary)
        # mkstemp makes the file private (0600); give it the permissions a plain open() would.
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        # numpy reports a short write without an errno ("10000 requested and 496 written")
        if (
            isinstance(error, OSError)
            and not isinstance(error, WriteError)
            and (error.errno in _WRITE_ERRNOS or (type(error) is OSError and error.errno is None))
        ):
            raise write_error(path, error) from None
        raise


# What the system says when it refuses a write: no space, over quota, file too large, no permission, read-only.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM, errno.EROFS}


def write_error(path: Path, error: OSError) -> WriteError:
    """The one-line :class:`WriteError` for a refused write of ``path``."""
    written = WriteError(f"could not write '{path}': {error.strerror or error}")
    written.errno = error.errno  # kept, but out of the message (which would start "[Errno 28]")
    return written


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: Path, data: dict) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(data, indent=2, sort_keys=False, default=_plain) + "\n")


def write_table(path: Path, frame: pd.DataFrame, *, index: bool = False) -> None:
    with atomic_path(path) as temporary:
        with open(temporary, "w", newline="") as stream:
            for start in range(0, max(len(frame), 1), CSV_CHUNK_ROWS):
                chunk = frame.iloc[start : start + CSV_CHUNK_ROWS]
                chunk.to_csv(stream, index=index, header=start == 0, lineterminator="\n")


def write_matrix(path: Path, matrix, class_names) -> None:
    """A K x K matrix with the class names as header and index."""
    names = [str(name) for name in class_names]
    write_table(path, pd.DataFrame(np.asarray(matrix), index=names, columns=names), index=True)


def write_array(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as stream:
            np.save(stream, array, allow_pickle=False)


def _plain(value):
    """JSON for numpy scalars and arrays."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_atomically(path: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write`` on a temporary sibling of ``path``, then rename it to ``path``."""
    # A reader (or the callback and the CLI writing the same sweep at once) never sees half a file.
    with atomic_path(path) as temporary:
        write(temporary)
    return path
