"""Provenance: which code computed a result -- cleanrun's version, the library versions, the git commit.

Built here once; ``metrics.json`` records all of it, and the cache keys its entries by the versions
that change out-of-fold probabilities (:func:`runner.learn.cache.cache_key`).
"""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

#: cleanrun's version (``runner.__version__``).
VERSION = "0.1.0"


def library_versions() -> dict:
    """Versions of Python and of every library a result depends on, cleanrun's included."""
    import hydra
    import sklearn
    import xgboost

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "sklearn": sklearn.__version__,
        "xgboost": xgboost.__version__,
        "hydra": hydra.__version__,
        "cleanrun": VERSION,
    }


def git_commit() -> str | None:
    """The commit of the cleanrun checkout, when running from one."""
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "HEAD"],
                cwd=Path(__file__).parent,
                capture_output=True,
                text=True,
                timeout=5,
                check=True,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        return None
