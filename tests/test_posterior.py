"""The posterior of the true class under class-conditional noise (runner.posterior)."""

from __future__ import annotations

import numpy as np
import pytest

from runner.posterior import label_posterior, true_class_probs


def random_noise_matrix(rng, n_classes):
    """Columns are distributions with most mass on the diagonal."""
    matrix = rng.dirichlet(np.ones(n_classes), size=n_classes).T * 0.5
    return matrix + 0.5 * np.eye(n_classes)


@pytest.mark.parametrize("n_classes", [2, 3, 7])
def test_true_class_probs_undo_a_known_mixture(n_classes):
    rng = np.random.default_rng(n_classes)
    true_probs = rng.dirichlet(np.ones(n_classes), size=200)
    noise_matrix = random_noise_matrix(rng, n_classes)
    given_probs = true_probs @ noise_matrix.T  # P(given=j | x) = sum_i T[j, i] P(true=i | x)
    np.testing.assert_allclose(true_class_probs(given_probs, noise_matrix), true_probs, atol=1e-9)


def test_the_posterior_is_bayes_rule_on_the_true_class_probabilities():
    # Most of class 1 is labelled 0: T[0, 1] = 0.7 > T[1, 1] = 0.3.
    noise_matrix = np.array([[0.9, 0.7], [0.1, 0.3]])
    # A row the given-label model puts at 0.74 for class 0: 0.74 = 0.9 q + 0.7 (1 - q), q = 0.2.
    posterior = label_posterior(np.array([0]), np.array([[0.74, 0.26]]), noise_matrix)
    expected = np.array([0.9 * 0.2, 0.7 * 0.8])
    np.testing.assert_allclose(posterior[0], expected / expected.sum())
    # The model prefers the given label, yet the true class is most probably 1.
    assert posterior[0].argmax() == 1


def test_a_noiseless_matrix_trusts_every_label():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=100)
    posterior = label_posterior(labels, rng.dirichlet(np.ones(4), size=100), np.eye(4))
    np.testing.assert_allclose(posterior, np.eye(4)[labels], atol=1e-9)


@pytest.mark.parametrize(
    "noise_matrix", [np.full((2, 2), 0.5), np.array([[0.6, 0.0, 0.4], [0.2, 1.0, 0.0], [0.2, 0.0, 0.6]])]
)
def test_posteriors_are_distributions_even_for_a_singular_or_sparse_matrix(noise_matrix):
    rng = np.random.default_rng(1)
    n_classes = len(noise_matrix)
    labels = rng.integers(0, n_classes, size=50)
    posterior = label_posterior(labels, rng.dirichlet(np.ones(n_classes), size=50), noise_matrix)
    assert np.all(np.isfinite(posterior)) and np.all(posterior >= 0)
    np.testing.assert_allclose(posterior.sum(axis=1), 1.0)
