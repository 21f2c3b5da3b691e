"""Inputs shared by the tests: labels and pred_probs with known structure.

``make_pred_probs`` draws true labels, softmax probabilities that favour the true class and
given labels with a fraction flipped uniformly to another class — the setting confident
learning is built for. Variants add the hard parts: exact ties, classes the model never
predicts, classes nobody is labelled with, heavy imbalance.
"""

from __future__ import annotations

import numpy as np


def make_pred_probs(
    n_samples: int,
    n_classes: int,
    *,
    seed: int = 0,
    dtype=np.float64,
    noise_rate: float = 0.2,
    signal: float = 2.3,
    class_weights=None,
    decimals: int | None = None,
):
    """Return ``(labels, pred_probs, true_labels)``.

    ``decimals`` rounds the probabilities (then renormalises), which creates many exact ties.
    """
    rng = np.random.default_rng(seed)
    true_labels = rng.choice(n_classes, size=n_samples, p=class_weights)
    logits = rng.normal(size=(n_samples, n_classes))
    logits[np.arange(n_samples), true_labels] += signal
    pred_probs = np.exp(logits)
    pred_probs /= pred_probs.sum(axis=1, keepdims=True)
    if decimals is not None:
        pred_probs = np.round(pred_probs, decimals) + 10.0**-decimals / 100
        pred_probs /= pred_probs.sum(axis=1, keepdims=True)
    labels = true_labels.copy()
    flip = rng.random(n_samples) < noise_rate
    labels[flip] = (labels[flip] + rng.integers(1, n_classes, flip.sum())) % n_classes
    return labels, pred_probs.astype(dtype), true_labels


def with_duplicated_rows(labels, pred_probs, seed=0):
    """Copy every row of a random half onto another row: exact ties in every score."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    src = rng.integers(0, n, n // 2)
    dst = rng.permutation(n)[: n // 2]
    labels, pred_probs = labels.copy(), pred_probs.copy()
    labels[dst], pred_probs[dst] = labels[src], pred_probs[src]
    return labels, pred_probs


def never_predicted(labels, pred_probs, klass):
    """Shrink one column so that the model never predicts (nor trusts) that class."""
    pred_probs = pred_probs.copy()
    pred_probs[:, klass] *= 0.01
    pred_probs /= pred_probs.sum(axis=1, keepdims=True)
    return labels, pred_probs


def without_class(labels, pred_probs, klass):
    """Relabel every example of ``klass``: a column of pred_probs nobody is labelled with."""
    labels = labels.copy()
    labels[labels == klass] = (klass + 1) % pred_probs.shape[1]
    return labels, pred_probs


def with_rare_classes(labels, sizes):
    """Keep only the first ``sizes[k]`` examples of each class k; the others join the next class.

    Classes with fewer examples than cross-validation folds (``{3: 1}``: a singleton class).
    """
    labels = labels.copy()
    n_classes = labels.max() + 1
    for klass, size in sizes.items():
        rows = np.flatnonzero(labels == klass)[size:]
        labels[rows] = (klass + 1) % n_classes
    return labels


def synthetic_cases():
    """``{name: (labels, pred_probs)}`` covering sizes, dtypes, ties and awkward classes."""
    cases = {}
    for n_classes in (2, 3, 10, 50):
        for n_samples in (50, 1000, 20000):
            for dtype in (np.float32, np.float64):
                for seed in range(3):
                    labels, pred_probs, _ = make_pred_probs(
                        n_samples, n_classes, seed=seed, dtype=dtype
                    )
                    if len(np.unique(labels)) < 2:
                        continue
                    cases[f"random-K{n_classes}-N{n_samples}-{dtype.__name__}-s{seed}"] = (
                        labels,
                        pred_probs,
                    )
    for dtype in (np.float32, np.float64):
        name = dtype.__name__
        for n_classes, decimals in ((3, 1), (10, 2), (4, 2)):
            labels, pred_probs, _ = make_pred_probs(3000, n_classes, seed=7, dtype=dtype, decimals=decimals)
            cases[f"ties-rounded-K{n_classes}-d{decimals}-{name}"] = (labels, pred_probs)
        labels, pred_probs, _ = make_pred_probs(3000, 5, seed=8, dtype=dtype)
        cases[f"ties-duplicated-{name}"] = with_duplicated_rows(labels, pred_probs)
        labels, pred_probs, _ = make_pred_probs(2000, 6, seed=9, dtype=dtype)
        cases[f"never-predicted-{name}"] = never_predicted(labels, pred_probs, 5)
        cases[f"absent-class-{name}"] = without_class(labels, pred_probs, 2)
        labels, pred_probs, _ = make_pred_probs(
            4000, 5, seed=10, dtype=dtype, class_weights=[0.85, 0.1, 0.035, 0.0125, 0.0025]
        )
        cases[f"imbalanced-{name}"] = (labels, pred_probs)
        labels, pred_probs, _ = make_pred_probs(3000, 4, seed=11, dtype=dtype, noise_rate=0.45, signal=0.8)
        cases[f"heavy-noise-{name}"] = (labels, pred_probs)
    labels, pred_probs, _ = make_pred_probs(100_000, 10, seed=12, dtype=np.float32)
    cases["large-K10-N100000-float32"] = (labels, pred_probs)
    labels, pred_probs, _ = make_pred_probs(100_000, 3, seed=13, dtype=np.float64, decimals=3)
    cases["large-K3-N100000-float64-ties"] = (labels, pred_probs)
    return cases
