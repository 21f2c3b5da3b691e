"""Beyond the reference: ensemble and iterative detection, on data with known label errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

import runner.learning as learning
from runner import CleanLearning
from runner.detection import Detection
from runner.corrupt import matrix_noise
from runner.cv import cross_val_pred_probs


def noisy_digits(seed, rate=0.3, n=900):
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X[:n])
    y = y[:n]
    return X, matrix_noise(y, 10, rate=rate, seed=seed).labels, y


def members():
    return [
        LogisticRegression(max_iter=500),
        ExtraTreesClassifier(n_estimators=50, random_state=0),
        KNeighborsClassifier(n_neighbors=15, weights="distance"),
    ]


def precision_recall(flagged, truth):
    hits = np.sum(flagged & truth)
    return hits / max(flagged.sum(), 1), hits / truth.sum()


def f1(flagged, truth):
    return 2 * np.sum(flagged & truth) / (flagged.sum() + truth.sum())


def test_ensemble_detects_with_the_mean_of_its_members_probabilities():
    X, labels, _ = noisy_digits(seed=0)
    cl = CleanLearning(LogisticRegression(max_iter=500), seed=0, ensemble=members()).fit(X, labels)
    expected = np.mean([cross_val_pred_probs(m, X, labels, seed=0) for m in members()], axis=0)
    np.testing.assert_allclose(cl.pred_probs, expected, rtol=0, atol=1e-12)
    # the final model is still the classifier, not the ensemble
    assert isinstance(cl.clf_, LogisticRegression)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ensemble_finds_more_of_the_true_errors_than_one_model(seed):
    X, labels, truth_labels = noisy_digits(seed)
    truth = labels != truth_labels
    single = CleanLearning(LogisticRegression(max_iter=500), seed=seed).fit(X, labels)
    ensemble = CleanLearning(LogisticRegression(max_iter=500), seed=seed, ensemble=members()).fit(X, labels)
    assert precision_recall(ensemble.label_issues_mask, truth)[0] > precision_recall(single.label_issues_mask, truth)[0]
    assert f1(ensemble.label_issues_mask, truth) > f1(single.label_issues_mask, truth)


@pytest.mark.parametrize("mode", ["drop", "relabel"])
def test_a_second_round_refits_the_folds_without_learning_the_flagged_labels(mode):
    X, labels, _ = noisy_digits(seed=1)
    clf = LogisticRegression(max_iter=500)
    first = CleanLearning(clf, seed=1).fit(X, labels)
    second = CleanLearning(clf, seed=1, detection_rounds=2, round_mode=mode).fit(X, labels)
    flagged = first.label_issues_mask
    retrain = (
        {"train_mask": ~flagged} if mode == "drop"
        else {"train_labels": np.where(flagged, first.pred_probs.argmax(axis=1), labels)}
    )
    expected = cross_val_pred_probs(clf, X, labels, seed=1, **retrain)
    np.testing.assert_allclose(second.pred_probs, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_iterative_detection_recovers_errors_that_one_round_misses(seed):
    X, labels, truth_labels = noisy_digits(seed, rate=0.4)
    truth = labels != truth_labels
    clf = LogisticRegression(max_iter=500)
    one = CleanLearning(clf, seed=seed).fit(X, labels)
    three = CleanLearning(clf, seed=seed, detection_rounds=3, round_mode="relabel").fit(X, labels)
    assert precision_recall(three.label_issues_mask, truth)[1] > precision_recall(one.label_issues_mask, truth)[1]
    assert three.score(X, truth_labels) > one.score(X, truth_labels)


def test_rounds_stop_when_the_flags_stop_changing(monkeypatch):
    X, labels, _ = noisy_digits(seed=2, rate=0.1)

    class FirstRows:
        """Flags the same rows whatever the probabilities: the second round changes nothing."""

        def detect(self, labels, pred_probs):
            return Detection(label_issues=np.arange(len(labels)) < 20)

    calls = []
    real = learning.cached_cross_val_pred_probs
    monkeypatch.setattr(learning, "cached_cross_val_pred_probs", lambda *a, **k: calls.append(k) or real(*a, **k))
    cl = CleanLearning(LogisticRegression(max_iter=500), seed=2, detection_rounds=10, detector=FirstRows())
    cl.fit(X, labels)
    assert len(calls) == 2 and "train_mask" in calls[1]
    assert cl.label_issues_mask.sum() == 20


@pytest.mark.parametrize(
    "options, message",
    [({"detection_rounds": 0}, "detection_rounds"), ({"round_mode": "swap"}, "round_mode"),
     ({"ensemble": [LogisticRegression(), object()]}, "predict_proba")],
)
def test_bad_method_options_are_refused_before_fitting(options, message):
    X, labels, _ = noisy_digits(seed=0)
    with pytest.raises(ValueError, match=message):
        CleanLearning(LogisticRegression(), **options).fit(X, labels)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_flag_predicted_given_keeps_the_errors_a_heavy_asymmetric_noise_hides(seed):
    """Most of class 1 labelled 0: the model trained on these labels still prefers 0 for them,
    so the reference's final filter drops nearly every flag the confident joint justified."""
    from sklearn.datasets import load_breast_cancer

    from runner.confident.noise import generate_noisy_labels

    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    labels = generate_noisy_labels(y, np.array([[0.95, 0.65], [0.05, 0.35]]), seed=seed)
    truth = labels != y
    clf = LogisticRegression(max_iter=1000)
    default = CleanLearning(clf, seed=seed).fit(X, labels)
    kept = CleanLearning(clf, seed=seed, find_label_issues_kwargs={"flag_predicted_given": True}).fit(X, labels)
    default_precision, default_recall = precision_recall(default.label_issues_mask, truth)
    precision, recall = precision_recall(kept.label_issues_mask, truth)
    assert recall > 2 * default_recall and precision > 0.6
    assert kept.score(X, y) > default.score(X, y)
