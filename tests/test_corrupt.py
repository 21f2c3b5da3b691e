"""Benchmark label noise (runner.datasets.corrupt): instance-dependent noise on data with known labels."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from runner import CleanLearning
from runner.datasets import load_sklearn, standardized
from runner.datasets.corrupt import clean_label_probabilities, instance_noise, matrix_noise
from runner.run.experiment import run_experiment


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return StandardScaler().fit_transform(X[:600]), y[:600]


def pair_counts(true, given, n_classes=10):
    counts = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(counts, (given, true), 1)
    return counts


@pytest.mark.parametrize("rate", [0.2, 0.4])
def test_instance_noise_has_the_matrix_and_the_exact_pair_counts_of_matrix_noise(digits, rate):
    X, y = digits
    instance = instance_noise(y, 10, features=X, rate=rate, seed=3)
    uniform = matrix_noise(y, 10, rate=rate, seed=3)
    np.testing.assert_array_equal(instance.noise_matrix, uniform.noise_matrix)
    np.testing.assert_array_equal(pair_counts(y, instance.labels), pair_counts(y, uniform.labels))
    assert not np.array_equal(instance.labels, uniform.labels)


def test_instance_noise_flips_the_examples_closest_to_the_class_they_flip_to(digits):
    X, y = digits
    closeness = clean_label_probabilities(X, y, 10, seed=0)
    rows = np.arange(len(y))
    scores = {}
    for name, noise in [
        ("instance", instance_noise(y, 10, features=X, rate=0.3, seed=0)),
        ("uniform", matrix_noise(y, 10, rate=0.3, seed=0)),
    ]:
        flipped = noise.labels != y
        # how much the clean-label model believes the new label of each flipped example
        scores[name] = closeness[rows, noise.labels][flipped].mean()
        assert flipped.mean() == pytest.approx(0.3, abs=0.08)
    assert scores["instance"] > 5 * scores["uniform"]
    # and the examples that kept their label are the ones the model is surest of
    instance = instance_noise(y, 10, features=X, rate=0.3, seed=0)
    kept = instance.labels == y
    assert closeness[rows, y][kept].mean() > closeness[rows, y][~kept].mean() + 0.05


def test_instance_noise_is_seeded_and_zero_rate_is_the_identity(digits):
    X, y = digits
    first, again = (instance_noise(y, 10, features=X, rate=0.2, seed=5) for _ in range(2))
    np.testing.assert_array_equal(first.labels, again.labels)
    assert not np.array_equal(first.labels, instance_noise(y, 10, features=X, rate=0.2, seed=6).labels)
    none = instance_noise(y, 10, features=X, rate=0.0, seed=5)
    np.testing.assert_array_equal(none.labels, y)
    np.testing.assert_array_equal(none.noise_matrix, np.eye(10))
    with pytest.raises(ValueError, match=r"noise.rate must be in"):
        instance_noise(y, 10, features=X, rate=0.95)


def test_clean_label_probabilities_are_out_of_fold_and_cover_absent_classes(digits):
    X, y = digits
    keep = y != 9  # class 9 absent: its column stays 0
    probs = clean_label_probabilities(X[keep], y[keep], 10, seed=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1)
    assert np.all(probs[:, 9] == 0)
    in_sample = LogisticRegression(max_iter=1000).fit(X[keep], y[keep]).predict_proba(X[keep])
    # out of fold: less sure of the training labels than a model that saw them
    assert probs[np.arange(keep.sum()), y[keep]].mean() < in_sample[np.arange(keep.sum()), y[keep]].mean()


def test_the_runner_gives_instance_noise_the_training_features():
    dataset = standardized(load_sklearn(name="breast_cancer", seed=0))
    result = run_experiment(
        dataset,
        CleanLearning(LogisticRegression(max_iter=500), seed=0),
        noise=functools.partial(instance_noise, rate=0.2),
        compare_baseline=False,
    )
    expected = instance_noise(dataset.y_train, 2, features=dataset.X_train, rate=0.2, seed=0)
    issues = result.label_issues.sort_values("index")  # ranked worst first; `index` is the training position
    np.testing.assert_array_equal(issues["given_label"].to_numpy(), dataset.classes[expected.labels])
    assert "true_noise_matrix" in result.matrices
