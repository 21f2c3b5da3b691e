"""The classical noise filters (runner.filters) on data whose wrong labels are known."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier

from runner import CleanLearning
from runner.contracts import check_detection
from runner.filters import EditedNearestNeighbours, VoteFilter, keep_classes


def separable_with_flips(seed, n_samples=300, n_classes=3, rate=0.1):
    """Well-separated blobs with ``rate`` of the labels moved to another class: (X, labels, is_error)."""
    centers = 10 * np.stack(
        [np.cos(2 * np.pi * np.arange(n_classes) / n_classes), np.sin(2 * np.pi * np.arange(n_classes) / n_classes)],
        axis=1,
    )
    X, y = make_blobs(n_samples=n_samples, centers=centers, cluster_std=1.5, random_state=seed)
    rng = np.random.default_rng(seed)
    is_error = rng.random(n_samples) < rate
    labels = y.copy()
    labels[is_error] = (y[is_error] + rng.integers(1, n_classes, is_error.sum())) % n_classes
    return X, labels, is_error


def voters():
    return {
        "logistic_regression": LogisticRegression(max_iter=1000),
        "knn": KNeighborsClassifier(5),
        "tree": DecisionTreeClassifier(max_depth=4, random_state=0),
    }


def uniform(n_samples, n_classes=3):
    return np.full((n_samples, n_classes), 1 / n_classes)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "detector",
    [
        VoteFilter(voters(), rule="majority", folds=5, seed=0),
        VoteFilter(voters(), rule="consensus", folds=5, seed=0),
        EditedNearestNeighbours(n_neighbors=3),
    ],
    ids=["majority", "consensus", "enn"],
)
def test_flags_the_wrong_labels(detector, seed):
    X, labels, is_error = separable_with_flips(seed, rate=0.05)
    detection = check_detection(detector.detect(labels, uniform(len(labels)), features=X), len(labels), 3, "filter")
    flagged = detection.label_issues
    precision = (flagged & is_error).sum() / flagged.sum()
    recall = (flagged & is_error).sum() / is_error.sum()
    assert precision >= 0.85 and recall >= 0.85, (precision, recall)
    # The flagged rows are the ones scored lowest: their given label is less likely than the others'.
    assert detection.label_quality[flagged].mean() < detection.label_quality[~flagged].mean()


def test_consensus_flags_a_subset_of_majority():
    X, labels, _ = separable_with_flips(0, rate=0.25)
    majority = VoteFilter(voters(), rule="majority", seed=0).detect(labels, uniform(len(labels)), features=X)
    consensus = VoteFilter(voters(), rule="consensus", seed=0).detect(labels, uniform(len(labels)), features=X)
    assert consensus.label_issues.sum() < majority.label_issues.sum()
    assert not (consensus.label_issues & ~majority.label_issues).any()


def test_enn_votes_of_the_neighbours():
    # One row labelled 1 among rows labelled 0 on a line, far from the rows labelled 1: its 3 neighbours
    # outvote it; the rows next to it still have two neighbours of their own label.
    X = np.r_[np.arange(6), np.arange(20, 26)].astype(float).reshape(-1, 1)
    labels = np.array([0] * 6 + [1] * 6)
    labels[2] = 1
    detection = EditedNearestNeighbours(n_neighbors=3, min_examples_per_class=0).detect(
        labels, uniform(12, 2), features=X
    )
    assert np.flatnonzero(detection.label_issues).tolist() == [2]
    assert detection.label_quality[2] == 0
    np.testing.assert_allclose(detection.pred_probs.sum(axis=1), 1)


def test_keep_classes_unflags_the_best_rows_of_a_class_that_would_shrink_too_much():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    flagged = np.array([True, True, True, False, True, False, False, False])
    quality = np.array([0.1, 0.9, 0.5, 1.0, 0.2, 1.0, 1.0, 1.0])
    kept = keep_classes(flagged, labels, quality, min_examples_per_class=3, n_classes=2)
    # Class 0 keeps 3 rows: its unflagged one and the two best flagged ones; class 1 already keeps 3.
    assert kept.tolist() == [True, False, False, False, True, False, False, False]
    # A class smaller than the floor keeps every row.
    assert not keep_classes(np.ones(2, bool), np.array([0, 0]), np.zeros(2), 10, 1).any()


def test_cleanlearning_passes_the_training_features_to_a_filter():
    X, labels, is_error = separable_with_flips(0)
    learner = CleanLearning(LogisticRegression(max_iter=1000), detector=EditedNearestNeighbours(), seed=0)
    learner.fit(X, labels)
    assert learner.label_issues_mask.sum() > 0
    assert (learner.label_issues_mask & is_error).sum() / is_error.sum() >= 0.85
    assert len(learner.training_set_.rows) == len(labels) - learner.label_issues_mask.sum()


def test_refusals():
    with pytest.raises(ValueError, match="rule must be one of"):
        VoteFilter(voters(), rule="unanimous")
    with pytest.raises(ValueError, match="classifiers is empty"):
        VoteFilter({})
    with pytest.raises(ValueError, match="n_neighbors"):
        EditedNearestNeighbours(n_neighbors=0)
    labels = np.array([0, 1] * 10)
    with pytest.raises(ValueError, match="needs the training features"):
        VoteFilter(voters()).detect(labels, uniform(20, 2))
    with pytest.raises(ValueError, match="needs the training features"):
        EditedNearestNeighbours().detect(labels, uniform(20, 2))
