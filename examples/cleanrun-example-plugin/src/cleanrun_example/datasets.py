"""load_moons: a cleanrun dataset loader for scikit-learn's two interleaving half circles.

A loader is a function of its own config keys and ``seed`` that returns a
``runner.contracts.Dataset`` (see ``runner.contracts.DatasetLoader``). Its YAML option is
``cleanrun_example/conf/dataset/moons.yaml``.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split

from runner.contracts import Dataset


def load_moons(*, n_samples: int = 1000, noise: float = 0.2, test_size: float = 0.25, seed: int = 0) -> Dataset:
    """Two half circles in 2-D, labels 0 and 1.

    Parameters
    ----------
    n_samples : int, default 1000
        Rows, train and test together.
    noise : float, default 0.2
        Standard deviation of the Gaussian jitter of the points (not label noise: that comes
        from cleanrun's ``noise`` group).
    test_size : float, default 0.25
        Fraction held out, stratified by class.
    seed : int, default 0
        Drives the generation and the split.

    Returns
    -------
    Dataset
    """
    X, y = make_moons(n_samples=n_samples, noise=noise, random_state=seed)
    X_train, X_test, y_train, y_test = train_test_split(
        X.astype(np.float32), y, test_size=test_size, stratify=y, random_state=seed
    )
    return Dataset(
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        classes=np.array(["upper", "lower"]),
        feature_names=["x0", "x1"],
        name="moons",
    )
