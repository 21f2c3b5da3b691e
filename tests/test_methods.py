"""Beyond the reference: ensemble and iterative detection, on data with known label errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from xgboost import XGBClassifier

import runner.learn.detecting as detecting
from runner import CleanLearning
from runner.datasets.corrupt import matrix_noise
from runner.detection import ConfidentLearning, Detection, NoisePosterior
from runner.learn.cv import cross_val_pred_probs
from runner.posterior import label_posterior
from runner.run.build import build_learner
from tests.helpers import compose_config


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
        {"train_mask": ~flagged}
        if mode == "drop"
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
    real = detecting.cached_cross_val_pred_probs
    monkeypatch.setattr(detecting, "cached_cross_val_pred_probs", lambda *a, **k: calls.append(k) or real(*a, **k))
    cl = CleanLearning(LogisticRegression(max_iter=500), seed=2, detection_rounds=10, detector=FirstRows())
    cl.fit(X, labels)
    assert len(calls) == 2 and "train_mask" in calls[1]
    assert cl.label_issues_mask.sum() == 20


@pytest.mark.parametrize(
    "options, message",
    [
        ({"detection_rounds": 0}, "detection_rounds"),
        ({"round_mode": "swap"}, "round_mode"),
        ({"ensemble": [LogisticRegression(), object()]}, "predict_proba"),
        ({"round_mean": "yes"}, "round_mean"),
    ],
)
def test_bad_method_options_are_refused_before_fitting(options, message):
    X, labels, _ = noisy_digits(seed=0)
    with pytest.raises(ValueError, match=message):
        CleanLearning(LogisticRegression(), **options).fit(X, labels)


def heavy_asymmetric_breast_cancer(seed):
    from sklearn.datasets import load_breast_cancer

    from runner.confident.noise import generate_noisy_labels

    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return X, generate_noisy_labels(y, np.array([[0.95, 0.65], [0.05, 0.35]]), seed=seed), y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_flag_predicted_given_keeps_the_errors_a_heavy_asymmetric_noise_hides(seed):
    """Most of class 1 labelled 0: the model trained on these labels still prefers 0 for them,
    so the reference's final filter drops nearly every flag the confident joint justified."""
    X, labels, y = heavy_asymmetric_breast_cancer(seed)
    truth = labels != y
    clf = LogisticRegression(max_iter=1000)
    default = CleanLearning(clf, seed=seed).fit(X, labels)
    kept = CleanLearning(clf, seed=seed, find_label_issues_kwargs={"flag_predicted_given": True}).fit(X, labels)
    default_precision, default_recall = precision_recall(default.label_issues_mask, truth)
    precision, recall = precision_recall(kept.label_issues_mask, truth)
    assert recall > 2 * default_recall and precision > 0.6
    assert kept.score(X, y) > default.score(X, y)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_posterior_finds_errors_more_precisely_than_the_counts_under_heavy_asymmetric_noise(seed):
    """Same data as above: the posterior, which knows the estimated noise matrix, decides row by
    row, where the reference (even keeping its flags) ranks rows within estimated counts."""
    X, labels, y = heavy_asymmetric_breast_cancer(seed)
    truth = labels != y
    clf = LogisticRegression(max_iter=1000)
    kept = CleanLearning(clf, seed=seed, find_label_issues_kwargs={"flag_predicted_given": True}).fit(X, labels)
    posterior = CleanLearning(clf, seed=seed, detector=NoisePosterior(), strategy="relabel").fit(X, labels)
    kept_precision, kept_recall = precision_recall(kept.label_issues_mask, truth)
    precision, recall = precision_recall(posterior.label_issues_mask, truth)
    assert precision > kept_precision + 0.05 and recall > kept_recall - 0.03
    assert posterior.score(X, y) > kept.score(X, y) + 0.02


def test_the_posterior_detection_flags_and_suggests_the_most_probable_true_class():
    X, labels, _ = noisy_digits(seed=0, rate=0.3)
    pred_probs = cross_val_pred_probs(LogisticRegression(max_iter=500), X, labels, seed=0)
    detection = NoisePosterior().detect(labels, pred_probs)
    reference = ConfidentLearning().detect(labels, pred_probs)
    np.testing.assert_allclose(detection.noise_matrix, reference.noise_matrix)
    posterior = label_posterior(labels, pred_probs, reference.noise_matrix)
    np.testing.assert_allclose(detection.pred_probs, posterior)
    np.testing.assert_array_equal(detection.label_issues, posterior.argmax(axis=1) != labels)
    np.testing.assert_allclose(detection.label_quality, posterior[np.arange(len(labels)), labels])


def test_relabel_rounds_train_on_the_label_the_detection_suggests():
    X, labels, _ = noisy_digits(seed=1, rate=0.3)
    clf = LogisticRegression(max_iter=500)
    first = cross_val_pred_probs(clf, X, labels, seed=1)
    detection = NoisePosterior().detect(labels, first)
    second = CleanLearning(clf, seed=1, detector=NoisePosterior(), detection_rounds=2, round_mode="relabel").fit(
        X, labels
    )
    suggested = np.where(detection.label_issues, detection.pred_probs.argmax(axis=1), labels)
    expected = cross_val_pred_probs(clf, X, labels, seed=1, train_labels=suggested)
    np.testing.assert_allclose(second.pred_probs, expected, rtol=0, atol=1e-12)


def test_round_mean_detects_on_the_mean_of_every_rounds_probabilities():
    X, labels, _ = noisy_digits(seed=2, rate=0.3)
    clf = LogisticRegression(max_iter=500)
    options = dict(seed=2, detector=NoisePosterior(), detection_rounds=2, round_mode="relabel")
    last = CleanLearning(clf, **options).fit(X, labels)
    mean = CleanLearning(clf, round_mean=True, **options).fit(X, labels)
    first = cross_val_pred_probs(clf, X, labels, seed=2)
    np.testing.assert_allclose(mean.pred_probs, (first + last.pred_probs) / 2, rtol=0, atol=1e-12)
    expected = NoisePosterior().detect(labels, mean.pred_probs).label_issues
    np.testing.assert_array_equal(mean.label_issues_mask, expected)


def test_ensemble_posterior_recovers_more_than_the_ensemble_rounds_at_heavy_noise():
    """method=ensemble_posterior against method=ensemble_iterative on 40% noise, over three seeds
    (it is not better on every seed: seed 2 of these goes the other way)."""
    scores = {"iterative": [], "posterior": []}
    for seed in (0, 1, 2):
        X, labels, truth_labels = noisy_digits(seed, rate=0.4)
        clf = LogisticRegression(max_iter=500)
        rounds = dict(seed=seed, ensemble=members(), detection_rounds=3, round_mode="relabel")
        iterative = CleanLearning(clf, find_label_issues_kwargs={"flag_predicted_given": True}, **rounds)
        posterior = CleanLearning(clf, detector=NoisePosterior(), strategy="relabel", round_mean=True, **rounds)
        scores["iterative"].append(iterative.fit(X, labels).score(X, truth_labels))
        scores["posterior"].append(posterior.fit(X, labels).score(X, truth_labels))
    assert np.mean(scores["posterior"]) > np.mean(scores["iterative"]) + 0.01


def test_the_issue_table_shows_the_label_the_posterior_suggests():
    X, labels, _ = noisy_digits(seed=0, rate=0.3)
    cl = CleanLearning(LogisticRegression(max_iter=500), seed=0, detector=NoisePosterior(), strategy="relabel")
    cl.fit(X, labels)
    posterior = NoisePosterior().detect(labels, cl.pred_probs).pred_probs
    np.testing.assert_array_equal(cl.label_issues_df["predicted_label"], posterior.argmax(axis=1))
    # ... which is not always the out-of-fold prediction
    assert np.any(posterior.argmax(axis=1) != cl.pred_probs.argmax(axis=1))


def test_a_negative_class_floor_is_refused_at_instantiation():
    with pytest.raises(ValueError, match="min_examples_per_class"):
        NoisePosterior(min_examples_per_class=-1)


def test_the_posterior_never_relabels_a_class_out_of_existence():
    """iris, 40% matrix noise, seed 2 (the `experiment=recovery` ensemble on held-out data): the
    posterior moves every example labelled 2 to another class unless the class keeps its labels."""
    from runner.datasets import load_sklearn, standardized

    dataset = standardized(load_sklearn(name="iris", seed=2))
    labels = matrix_noise(dataset.y_train, 3, rate=0.4, seed=2).labels
    ensemble = [
        LogisticRegression(max_iter=1000, random_state=2),
        ExtraTreesClassifier(n_estimators=100, random_state=2),
        KNeighborsClassifier(n_neighbors=15, weights="distance"),
    ]
    options = dict(
        seed=2, ensemble=ensemble, detection_rounds=3, round_mode="relabel", round_mean=True, strategy="relabel"
    )
    with pytest.raises(ValueError, match=r"left classes \[2\] with no training examples"):
        CleanLearning(
            LogisticRegression(max_iter=1000), detector=NoisePosterior(min_examples_per_class=0), **options
        ).fit(dataset.X_train, labels)
    cl = CleanLearning(LogisticRegression(max_iter=1000), detector=NoisePosterior(), **options)
    cl.fit(dataset.X_train, labels)
    trained_on = np.where(cl.label_issues_mask, cl.label_issues_df["predicted_label"], labels)
    assert np.bincount(trained_on, minlength=3).min() >= 10
    assert cl.score(dataset.X_test, dataset.y_test) > 0.85


@pytest.mark.parametrize("classifier", ["knn", "logistic_regression"])
def test_cv_ensemble_own_detects_with_the_runs_own_classifier_and_xgboost(classifier):
    cfg = compose_config(["method=ensemble_own", f"classifier={classifier}", "seed=3"])
    learner = build_learner(cfg)
    own, boosted = sorted(learner.ensemble, key=lambda member: type(member).__name__ == "XGBClassifier")
    assert type(own) is type(learner.clf) and own.get_params() == learner.clf.get_params()
    assert own is not learner.clf
    assert isinstance(boosted, XGBClassifier) and boosted.random_state == 3
    assert learner.strategy.reweight is False


def test_ensemble_own_relabel_relabels_where_the_ensemble_is_confident_and_removes_the_rest():
    cfg = compose_config(["method=ensemble_own_relabel", "classifier=logistic_regression"])
    learner = build_learner(cfg)
    assert len(learner.ensemble) == 2 and learner.detector.filter_by == "prune_by_noise_rate"
    pred_probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.8, 0.2]])
    detection = Detection(label_issues=np.array([True, True, False, False]), pred_probs=pred_probs)
    chosen = learner.strategy.select(detection, np.array([1, 0, 1, 0]))
    assert chosen.rows.tolist() == [0, 2, 3] and chosen.labels.tolist() == [0, 1, 0]
