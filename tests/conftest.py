"""Shared fixtures: real out-of-fold probabilities, computed once per session."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from threadpoolctl import threadpool_limits


def _noisy(y, rate, seed):
    rng = np.random.default_rng(seed)
    n_classes = y.max() + 1
    flip = rng.random(len(y)) < rate
    noisy = y.copy()
    noisy[flip] = (noisy[flip] + rng.integers(1, n_classes, flip.sum())) % n_classes
    return noisy


@pytest.fixture(scope="session")
def real_cases():
    """``{name: (noisy labels, out-of-fold pred_probs)}`` from real classifiers on bundled data."""
    cases = {}
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    setups = {
        "digits-logreg": (load_digits, LogisticRegression(max_iter=1000)),
        "wine-forest": (load_wine, RandomForestClassifier(n_estimators=50, random_state=0)),
        "breast_cancer-logreg": (load_breast_cancer, LogisticRegression(max_iter=5000)),
    }
    with threadpool_limits(1):
        for name, (load, clf) in setups.items():
            X, y = load(return_X_y=True)
            labels = _noisy(y, 0.2, seed=0)
            pred_probs = cross_val_predict(clf, X, labels, cv=folds, method="predict_proba")
            cases[name] = (labels, pred_probs)
    return cases
