"""Label noise for benchmarks: corrupt the training labels on purpose, and remember how.

Each option of the ``noise`` config group is one function here, called with the clean training
labels, the number of classes and the run's seed; it returns a :class:`Corruption` — the noisy
labels and the noise matrix that produced them — so that detection can be scored against the
truth. ``rate`` is the expected fraction of flipped labels: the noise matrix has trace
``K * (1 - rate)``. Test labels are never corrupted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runner.confident.noise import generate_noise_matrix_from_trace, generate_noisy_labels


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
    _check_rate(rate, n_classes)
    labels = np.asarray(labels)
    if rate == 0:
        return Corruption(labels.copy(), np.eye(n_classes))
    rng = np.random.default_rng(seed)
    py = np.bincount(labels, minlength=n_classes) / len(labels)
    noise_matrix = generate_noise_matrix_from_trace(
        n_classes, n_classes * (1 - rate), py=py, valid_noise_matrix=True,
        frac_zero_noise_rates=frac_zero_noise_rates, seed=rng,
    )
    if noise_matrix is None:
        raise ValueError(f"no valid noise matrix with noise.rate={rate} for these class proportions")
    return Corruption(generate_noisy_labels(labels, noise_matrix, seed=rng), noise_matrix)


def symmetric_noise(labels, n_classes: int, *, rate: float = 0.2, seed: int = 0):
    """Flip a fraction ``rate`` of every class, uniformly to the other classes."""
    _check_rate(rate, n_classes)
    noise_matrix = np.full((n_classes, n_classes), rate / (n_classes - 1))
    np.fill_diagonal(noise_matrix, 1 - rate)
    return Corruption(generate_noisy_labels(np.asarray(labels), noise_matrix, seed=seed), noise_matrix)


def no_noise(labels, n_classes: int, *, seed: int = 0):
    """The labels as given: for real data, whose errors are unknown."""
    return Corruption(np.asarray(labels).copy(), None)
