"""Label noise for benchmarks: corrupt the training labels on purpose, and remember how.

Each option of the ``noise`` config group is one function here, called with the clean training
labels, the number of classes and the run's seed; it returns a :class:`Corruption` — the noisy
labels and the noise matrix that produced them — so that detection can be scored against the
truth. ``rate`` is the expected fraction of flipped labels: the noise matrix has trace
``K * (1 - rate)``. Test labels are never corrupted.

Class-conditional noise (:func:`matrix_noise`, :func:`symmetric_noise`) picks which examples of a
class flip uniformly at random. Real annotators mislabel the confusing examples instead:
:func:`instance_noise` keeps the class pairs and counts of a noise matrix, but flips the examples
that a model fitted on the clean labels finds closest to the class they flip to. A noise option
that needs the features declares a ``features`` keyword; the runner passes the training features.

:func:`trust_rows` simulates the other side: a user who verified a few training labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from threadpoolctl import threadpool_limits

from runner.confident.noise import flip_counts, generate_noise_matrix_from_trace, generate_noisy_labels

#: Second entropy word of :func:`trust_rows`'s random stream, apart from the noise's own.
TRUSTED_STREAM = 27

#: Folds of the clean-label model that measures how close each example sits to the other classes.
CLOSENESS_FOLDS = 5


@dataclass(frozen=True)
class Corruption:
    """Noisy labels and the injected ``noise_matrix`` (``P(given | true)``; None for no noise)."""

    labels: np.ndarray
    noise_matrix: np.ndarray | None = None


def _check_rate(rate: float, n_classes: int) -> None:
    if not 0 <= rate < 1 - 1 / n_classes:
        raise ValueError(
            f"noise.rate must be in [0, {1 - 1 / n_classes:.3g}) for K={n_classes} classes "
            f"(labels must stay better than chance), got {rate}"
        )


def matrix_noise(labels, n_classes: int, *, rate: float = 0.2, frac_zero_noise_rates: float = 0.0, seed: int = 0):
    """Flip labels with a random valid noise matrix of trace ``K * (1 - rate)``.

    ``frac_zero_noise_rates`` is the fraction of off-diagonal rates forced to zero (structured
    noise: some class pairs are never confused).
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    noise_matrix = _noise_matrix(labels, n_classes, rate, frac_zero_noise_rates, rng)
    if rate == 0:
        return Corruption(labels.copy(), noise_matrix)
    return Corruption(generate_noisy_labels(labels, noise_matrix, seed=rng), noise_matrix)


def instance_noise(
    labels, n_classes: int, *, features, rate: float = 0.2, frac_zero_noise_rates: float = 0.0, seed: int = 0
):
    """Flip the examples that look most like another class, with the counts of a noise matrix.

    The noise matrix is drawn as in :func:`matrix_noise` (same seed, same matrix), and exactly as
    many examples of true class ``j`` receive label ``i`` as there. Which ones is not uniform: an
    example of class ``j`` is drawn for label ``i`` with probability proportional to ``P(i | x)``,
    the out-of-fold probability of class ``i`` under a logistic regression fitted on the clean
    labels. Examples deep inside their class almost never flip; those near class ``i`` usually do.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    noise_matrix = _noise_matrix(labels, n_classes, rate, frac_zero_noise_rates, rng)
    if rate == 0:
        return Corruption(labels.copy(), noise_matrix)
    closeness = clean_label_probabilities(features, labels, n_classes, seed=seed)
    n_flips = flip_counts(labels, noise_matrix)  # the counts of generate_noisy_labels
    noisy = labels.copy()
    for true_class in np.flatnonzero(n_flips.sum(axis=0)):
        candidates = np.flatnonzero(labels == true_class)
        # Larger flows first, so that they get the examples closest to their class.
        for new_label in np.argsort(-n_flips[:, true_class], kind="stable"):
            size = n_flips[new_label, true_class]
            if size == 0:
                break
            weights = closeness[candidates, new_label] + 1e-9  # a certain model still leaves a choice
            chosen = rng.choice(candidates.size, size=size, replace=False, p=weights / weights.sum())
            noisy[candidates[chosen]] = new_label
            candidates = np.delete(candidates, chosen)
    return Corruption(noisy, noise_matrix)


def clean_label_probabilities(features, labels, n_classes: int, *, seed: int = 0) -> np.ndarray:
    """Out-of-fold ``P(class | x)`` of a logistic regression trained on the clean ``labels``."""
    labels = np.asarray(labels)
    folds = min(CLOSENESS_FOLDS, int(np.bincount(labels, minlength=n_classes)[np.unique(labels)].min()))
    if folds < 2:
        raise ValueError("instance noise needs at least 2 examples of every class present")
    model = LogisticRegression(max_iter=1000)
    with threadpool_limits(limits=1):
        probs = cross_val_predict(
            model,
            features,
            labels,
            method="predict_proba",
            cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
        )
    full = np.zeros((len(labels), n_classes))
    full[:, np.unique(labels)] = probs  # predict_proba covers the classes present, in sorted order
    return full


def _noise_matrix(labels, n_classes, rate, frac_zero_noise_rates, rng) -> np.ndarray:
    """A valid noise matrix of trace ``K * (1 - rate)`` for the class proportions of ``labels``."""
    _check_rate(rate, n_classes)
    if rate == 0:
        return np.eye(n_classes)
    py = np.bincount(labels, minlength=n_classes) / len(labels)
    noise_matrix = generate_noise_matrix_from_trace(
        n_classes,
        n_classes * (1 - rate),
        py=py,
        valid_noise_matrix=True,
        frac_zero_noise_rates=frac_zero_noise_rates,
        seed=rng,
    )
    if noise_matrix is None:
        raise ValueError(f"no valid noise matrix with noise.rate={rate} for these class proportions")
    return noise_matrix


def symmetric_noise(labels, n_classes: int, *, rate: float = 0.2, seed: int = 0):
    """Flip a fraction ``rate`` of every class, uniformly to the other classes."""
    _check_rate(rate, n_classes)
    noise_matrix = np.full((n_classes, n_classes), rate / (n_classes - 1))
    np.fill_diagonal(noise_matrix, 1 - rate)
    return Corruption(generate_noisy_labels(np.asarray(labels), noise_matrix, seed=seed), noise_matrix)


def no_noise(labels, n_classes: int, *, seed: int = 0):
    """The labels as given: for real data, whose errors are unknown."""
    return Corruption(np.asarray(labels).copy(), None)


def trust_rows(labels, true_labels, n_trusted: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Simulate a user who verified ``n_trusted`` random training rows: they get their true label back.

    Returns the labels (given, except on the verified rows) and the boolean mask of the verified rows.
    The rows are drawn uniformly, whatever their labels, from a random stream of their own (the noise
    drawn with the same seed stays the same).
    """
    labels, true_labels = np.asarray(labels), np.asarray(true_labels)
    if not 0 <= n_trusted < len(labels):
        raise ValueError(f"trusted_rows must be in [0, {len(labels)}) (training rows), got {n_trusted}")
    rng = np.random.default_rng([seed, TRUSTED_STREAM])
    trusted = np.zeros(len(labels), dtype=bool)
    trusted[rng.choice(len(labels), size=n_trusted, replace=False)] = True
    return np.where(trusted, true_labels, labels), trusted
