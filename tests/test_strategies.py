"""Strategies on data with known label errors: what each built-in one does to the final training set.

The toy problem: ``make_classification`` with 5 classes, 30% of the training labels flipped by a
known noise matrix, out-of-fold probabilities from logistic regression, confident-learning
detection. Every seed-dependent assertion holds for every seed in ``SEEDS``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from runner import CleanLearning
from runner.datasets.corrupt import matrix_noise
from runner.detection import ConfidentLearning, Detection
from runner.strategies import (
    BUILT_IN,
    KeepAll,
    Relabel,
    RelabelConfident,
    SoftWeight,
    TrainingSet,
    check_training_set,
)

SEEDS = [0, 1, 2]
N_CLASSES = 5


def noisy_problem(seed):
    """``(X_train, true, noisy, X_test, y_test)``: a 5-class toy problem, 30% flipped training labels."""
    X, y = make_classification(
        1200,
        10,
        n_informative=5,
        n_redundant=0,
        n_classes=N_CLASSES,
        n_clusters_per_class=1,
        class_sep=2.0,
        random_state=seed,
    )
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, stratify=y, random_state=seed)
    noisy = matrix_noise(y_train, N_CLASSES, rate=0.3, seed=seed).labels
    return X_train, y_train, noisy, X_test, y_test


@pytest.fixture(scope="module", params=SEEDS, ids=lambda seed: f"seed{seed}")
def case(request):
    """The problem of one seed, with its out-of-fold probabilities and detection (computed once)."""
    seed = request.param
    X_train, true, noisy, X_test, y_test = noisy_problem(seed)
    learner = CleanLearning(LogisticRegression(), seed=seed, cv_n_folds=3, strategy="none").fit(X_train, noisy)
    detection = ConfidentLearning().detect(noisy, learner.pred_probs)
    return dict(
        seed=seed,
        X_train=X_train,
        true=true,
        noisy=noisy,
        X_test=X_test,
        y_test=y_test,
        pred_probs=learner.pred_probs,
        detection=detection,
        errors=true != noisy,
    )


def test_the_toy_problem_has_the_errors_it_claims(case):
    # The assertions below lean on a detection that finds most errors; check it does.
    flagged = case["detection"].label_issues
    assert 0.2 < case["errors"].mean() < 0.4
    assert (case["errors"] & flagged).sum() / flagged.sum() > 0.7  # precision
    assert (case["errors"] & flagged).sum() / case["errors"].sum() > 0.6  # recall


def final_accuracy(case, strategy):
    """Test accuracy of the final model trained with ``strategy`` on the case's (cached) pred_probs."""
    learner = CleanLearning(LogisticRegression(), seed=case["seed"], cv_n_folds=3, strategy=strategy)
    learner.fit(case["X_train"], case["noisy"], pred_probs=case["pred_probs"])
    return np.mean(learner.predict(case["X_test"]) == case["y_test"])


# --------------------------------------------------------------------------------------------
# every built-in strategy


@pytest.mark.parametrize("name", sorted(BUILT_IN))
def test_every_built_in_strategy_keeps_the_contract(case, name):
    strategy = BUILT_IN[name]()
    labels = case["noisy"]
    result = check_training_set(strategy.select(case["detection"], labels), labels, N_CLASSES, name)
    weights = np.ones(len(result.rows)) if result.sample_weight is None else result.sample_weight
    assert np.all(np.bincount(result.labels, weights=weights, minlength=N_CLASSES) > 0)
    if strategy.requires_sample_weight:
        assert result.sample_weight is not None


@pytest.mark.parametrize("name", sorted(BUILT_IN))
def test_the_callers_weights_reach_every_kept_row(case, name):
    labels = case["noisy"]
    caller = np.random.default_rng(0).uniform(0.5, 2.0, len(labels))
    without = BUILT_IN[name]().select(case["detection"], labels)
    weighted = BUILT_IN[name]().select(case["detection"], labels, caller)
    np.testing.assert_array_equal(weighted.rows, without.rows)
    # Remove replaces its own re-weighting by the caller's weights; the others multiply.
    own = 1.0 if without.sample_weight is None or name == "remove" else without.sample_weight
    np.testing.assert_allclose(weighted.sample_weight, caller[weighted.rows] * own)


# --------------------------------------------------------------------------------------------
# soft_weight


def test_soft_weight_is_the_documented_function():
    labels = np.array([0, 0, 0, 1, 1, 2, 2])
    quality = np.array([0.9, 0.6, 0.0, 0.8, 0.2, 0.0, 0.0])  # thresholds: 0.5, 0.5, (0: no threshold)
    expected = np.array([1.0, 1.0, 0.0, 1.0, 0.4**2, 1.0, 1.0])
    np.testing.assert_allclose(SoftWeight().weights(quality, labels), expected)
    np.testing.assert_allclose(SoftWeight(power=1).weights(quality, labels)[4], 0.4)
    np.testing.assert_array_equal(SoftWeight(power=0).weights(quality, labels), np.ones(7))


def test_soft_weight_down_weights_the_known_errors(case):
    result = SoftWeight().select(case["detection"], case["noisy"])
    weights, errors, flagged = result.sample_weight, case["errors"], case["detection"].label_issues
    np.testing.assert_array_equal(result.rows, np.arange(len(errors)))  # every row kept
    np.testing.assert_array_equal(result.labels, case["noisy"])  # labels untouched
    assert weights.min() >= 0 and weights.max() == 1
    assert weights[errors].mean() < 0.5 * weights[~errors].mean()
    assert weights[flagged].mean() < 0.5 * weights[~flagged].mean()
    assert roc_auc_score(errors, -weights) > 0.85  # a low weight ranks the true errors first
    # Rows at least as confident as their class's average keep their full weight.
    quality = case["detection"].label_quality
    thresholds = np.array([quality[case["noisy"] == k].mean() for k in range(N_CLASSES)])
    np.testing.assert_array_equal(weights[quality >= thresholds[case["noisy"]]], 1.0)


def test_soft_weight_beats_training_on_the_noisy_labels(case):
    assert final_accuracy(case, "soft_weight") > final_accuracy(case, "none") + 0.02


def test_soft_weight_needs_scores_and_a_valid_power(case):
    detection = Detection(label_issues=case["detection"].label_issues)
    with pytest.raises(ValueError, match="'soft_weight' needs label_quality"):
        SoftWeight().select(detection, case["noisy"])
    for power in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="power must be >= 0"):
            SoftWeight(power=power)


# --------------------------------------------------------------------------------------------
# relabel_confident


def test_relabel_confident_relabels_the_confident_flagged_rows_and_drops_the_others(case):
    detection, noisy, true = case["detection"], case["noisy"], case["true"]
    flagged = detection.label_issues
    predicted, confidence = case["pred_probs"].argmax(axis=1), case["pred_probs"].max(axis=1)
    confident = flagged & (confidence >= 0.7)
    assert 0 < confident.sum() < flagged.sum()  # the case exercises both branches

    result = RelabelConfident(min_confidence=0.7).select(detection, noisy)
    np.testing.assert_array_equal(result.rows, np.flatnonzero(~flagged | confident))
    new_labels = np.full(len(noisy), -1)
    new_labels[result.rows] = result.labels
    np.testing.assert_array_equal(new_labels[~flagged], noisy[~flagged])
    np.testing.assert_array_equal(new_labels[confident], predicted[confident])
    # The point of the threshold: the labels it sets are right far more often than relabel's.
    relabel_accuracy = np.mean(predicted[flagged] == true[flagged])
    confident_accuracy = np.mean(new_labels[confident] == true[confident])
    assert confident_accuracy > 0.7 and confident_accuracy > relabel_accuracy + 0.05
    # And the final training set holds fewer wrong labels than the noisy one and relabel's.
    wrong = np.mean(result.labels != true[result.rows])
    assert wrong < 0.5 * case["errors"].mean()
    assert wrong < np.mean(Relabel().select(detection, noisy).labels != true)


def test_relabel_confident_at_the_ends_of_its_range(case):
    detection, noisy = case["detection"], case["noisy"]
    everything = RelabelConfident(min_confidence=0.0).select(detection, noisy)
    relabelled = Relabel().select(detection, noisy)
    np.testing.assert_array_equal(everything.rows, relabelled.rows)
    np.testing.assert_array_equal(everything.labels, relabelled.labels)
    certain = RelabelConfident(min_confidence=1.0).select(detection, noisy)
    sure = case["pred_probs"].max(axis=1) == 1.0
    np.testing.assert_array_equal(certain.rows, np.flatnonzero(~detection.label_issues | sure))


def test_relabel_confident_beats_training_on_the_noisy_labels(case):
    assert final_accuracy(case, "relabel_confident") > final_accuracy(case, "none") + 0.02


def test_relabel_confident_needs_pred_probs_and_a_valid_threshold(case):
    detection = Detection(label_issues=case["detection"].label_issues)
    with pytest.raises(ValueError, match="'relabel_confident' needs out-of-fold pred_probs"):
        RelabelConfident().select(detection, case["noisy"])
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"min_confidence must lie in \[0, 1\]"):
            RelabelConfident(min_confidence=bad)


# --------------------------------------------------------------------------------------------
# the contract's referee


def test_the_baseline_is_untouched_by_detection(case):
    result = KeepAll().select(case["detection"], case["noisy"])
    assert isinstance(result, TrainingSet) and result.sample_weight is None
    np.testing.assert_array_equal(result.labels, case["noisy"])


def test_relabel_confident_never_empties_a_class():
    # Every row of class 2 is flagged and unsure: the referee must refuse the result by name.
    labels = np.array([0, 0, 1, 1, 2, 2])
    pred_probs = np.array([[0.9, 0.05, 0.05]] * 2 + [[0.05, 0.9, 0.05]] * 2 + [[0.5, 0.4, 0.1]] * 2)
    detection = Detection(label_issues=labels == 2, pred_probs=pred_probs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = RelabelConfident().select(detection, labels)
    with pytest.raises(ValueError, match=r"relabel_confident left classes \[2\]"):
        check_training_set(result, labels, 3, "relabel_confident")
