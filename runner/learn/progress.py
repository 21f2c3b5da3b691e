"""Progress of a fit, shown to a user who asked for it with ``verbose=True``.

cleanrun reports progress through :mod:`logging` (``runner.*`` loggers at INFO). An application
that configured logging (the Hydra app, a notebook with ``logging.basicConfig``) sees it where
it sends its logs; a plain script configured nothing, and Python shows only warnings then. So
``verbose=True`` in such a script attaches one handler to the ``runner`` logger for the duration
of the call, writing the INFO lines to stderr, and removes it afterwards: nothing is printed
twice, and the user's own logging setup is never changed.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys

__all__ = ["reports_progress", "verbose_logging"]

LOGGER = "runner"
FORMAT = "cleanrun: %(message)s"


@contextlib.contextmanager
def verbose_logging(verbose: bool):
    """Within the block, show the ``runner`` loggers' INFO lines on stderr if ``verbose`` and nobody listens.

    "Nobody listens": no handler on the ``runner`` logger or any ancestor (``Logger.hasHandlers``).
    """
    logger = logging.getLogger(LOGGER)
    if not verbose or logger.hasHandlers():
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def reports_progress(method):
    """Decorate an estimator method so that it runs under :func:`verbose_logging` (``self.verbose``)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with verbose_logging(bool(getattr(self, "verbose", False))):
            return method(self, *args, **kwargs)

    return wrapper
