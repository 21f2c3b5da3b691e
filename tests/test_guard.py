"""validate_cleaning (runner.learn.guard): cleaning is kept only when held-out given labels say it helps."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from runner import CleanLearning
from runner.datasets.corrupt import Corruption
from runner.detection import Detection
from runner.learn.check import check_cleaning, held_out_halves, label_margin
from runner.run.experiment import run_experiment
from runner.strategies import Remove
from tests.helpers import ZerosAreOnes, digits_dataset, noisy_digits


def one_hot(predicted, n_classes=3):
    return np.eye(n_classes)[predicted]


def test_check_cleaning_compares_paired_held_out_accuracy_on_the_given_labels():
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    kept = one_hot([0, 1, 2, 0, 1, 2, 1, 2, 0, 1])  # right on the first 6
    cleaned = one_hot([0, 1, 2, 0, 1, 2, 0, 1, 0, 1])  # right on the first 8
    check = check_cleaning(labels, kept, cleaned, criterion="given")
    assert (check.kept_accuracy, check.cleaned_accuracy) == (0.6, 0.8)
    difference = np.array([0] * 6 + [1, 1, 0, 0], dtype=float)
    assert check.standard_error == pytest.approx(difference.std(ddof=1) / np.sqrt(10))
    assert check.gain == pytest.approx(0.2) and check.use_cleaning
    # 0.2 is 1.5 standard errors (0.1333): a stricter rule keeps every row
    assert check_cleaning(labels, kept, cleaned, criterion="given", min_z=1.4).use_cleaning
    assert not check_cleaning(labels, kept, cleaned, criterion="given", min_z=1.6).use_cleaning


def test_a_tie_or_a_loss_keeps_every_row():
    labels = np.array([0, 1, 2, 0])
    probs = one_hot([0, 1, 2, 1])
    assert not check_cleaning(labels, probs, probs, criterion="given").use_cleaning
    assert not check_cleaning(labels, probs, one_hot([0, 1, 0, 1]), criterion="given").use_cleaning
    with pytest.raises(ValueError, match="min_z must be at least 0"):
        check_cleaning(labels, probs, probs, criterion="given", min_z=-1)
    with pytest.raises(ValueError, match="needs the estimated noise matrix"):
        check_cleaning(labels, probs, probs)


def test_given_labels_are_no_yardstick_when_a_class_mostly_carries_another_label():
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    kept, cleaned = one_hot([0, 1, 2, 0, 1, 2, 1, 2, 0, 1]), one_hot([0, 1, 2, 0, 1, 2, 0, 1, 0, 1])
    dominant = np.array([[0.8, 0.1, 0.1], [0.1, 0.7, 0.2], [0.1, 0.2, 0.7]])
    assert label_margin(dominant) == pytest.approx(0.5)
    assert check_cleaning(labels, kept, cleaned, noise_matrix=dominant, criterion="given").use_cleaning
    # true class 2 is labelled 1 more often than 2: a model of the true classes loses on the given labels
    swapped = np.array([[0.8, 0.1, 0.1], [0.1, 0.7, 0.5], [0.1, 0.2, 0.4]])
    assert label_margin(swapped) == pytest.approx(-0.1)
    check = check_cleaning(labels, kept, cleaned, noise_matrix=swapped, criterion="given")
    assert check.gain > 0 and not check.use_cleaning


def test_the_corrected_score_estimates_accuracy_on_the_true_labels():
    """Backward correction: averaged over the noise, the score of a prediction is 1 when it is the true class."""
    rng = np.random.default_rng(0)
    noise_matrix = np.array([[0.7, 0.2, 0.0], [0.3, 0.6, 0.3], [0.0, 0.2, 0.7]])
    truth = rng.integers(0, 3, 200_000)
    given = np.array([rng.choice(3, p=noise_matrix[:, t]) for t in truth[:20_000]])
    predicted = np.where(rng.random(20_000) < 0.8, truth[:20_000], (truth[:20_000] + 1) % 3)
    check = check_cleaning(given, one_hot(predicted), one_hot(truth[:20_000]), noise_matrix=noise_matrix)
    assert check.kept_accuracy == pytest.approx(0.8, abs=0.03)
    assert check.cleaned_accuracy == pytest.approx(1.0, abs=0.03)


def test_each_half_is_predicted_by_models_that_never_saw_its_labels():
    X, labels, _ = noisy_digits()
    clf = LogisticRegression(max_iter=500)
    guarded = CleanLearning(clf, seed=0, validate_cleaning=True, validation_criterion="given").fit(X, labels)
    plain = CleanLearning(clf, seed=0).fit(X, labels)
    kept, cleaned = np.zeros((len(labels), 10)), np.zeros((len(labels), 10))
    with threadpool_limits(limits=1):
        for train, held in held_out_halves(labels, seed=0):
            # the other half's own detection (3 folds within it) and the reference's re-weighted removal
            half = CleanLearning(clf, seed=0, cv_n_folds=3).fit(X[train], labels[train])
            rows = train[~half.label_issues_mask]
            weights = np.diagonal(half.noise_matrix)[labels[rows]] ** -1.0
            kept[held] = clone(clf).fit(X[train], labels[train]).predict_proba(X[held])
            cleaned[held] = clone(clf).fit(X[rows], labels[rows], sample_weight=weights).predict_proba(X[held])
    np.testing.assert_allclose(guarded.validation_pred_probs_["kept"], kept)
    np.testing.assert_allclose(guarded.validation_pred_probs_["cleaned"], cleaned)
    check = guarded.cleaning_check_
    assert check.kept_accuracy == np.mean(kept.argmax(1) == labels)
    assert check.cleaned_accuracy == np.mean(cleaned.argmax(1) == labels)
    # 30% noise on digits: removing the flagged rows wins, and the final model is the reference's
    assert check.use_cleaning
    np.testing.assert_array_equal(guarded.clf_.coef_, plain.clf_.coef_)


@pytest.mark.filterwarnings("ignore:prune_by_noise_rate")
def test_halves_are_stratified_and_refused_when_a_class_is_too_small_to_cross_validate_in_each():
    labels = np.repeat([0, 1, 2], [40, 12, 6])
    (first, second), (third, fourth) = held_out_halves(labels, seed=0)
    np.testing.assert_array_equal(first, fourth)
    np.testing.assert_array_equal(second, third)
    assert np.bincount(labels[first]).tolist() == [20, 6, 3]
    assert held_out_halves(np.repeat([0, 1, 2], [40, 12, 5]), seed=0) is None
    assert held_out_halves(np.repeat([0, 2], [40, 12]), seed=0) is not None  # an absent class is no class
    X, y = load_digits(return_X_y=True)
    rare = np.flatnonzero(y == 9)[5:]  # class 9 keeps 5 rows
    X, y = np.delete(X, rare, axis=0)[:600], np.delete(y, rare)[:600]
    learner = CleanLearning(LogisticRegression(max_iter=300), seed=0, validate_cleaning=True).fit(X, y)
    assert learner.cleaning_check_ is None and learner.validation_pred_probs_ is None
    assert len(learner.training_set_.rows) == len(y)


def test_harmful_cleaning_is_refused_and_the_final_model_trains_on_every_row():
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X[:900])
    y = y[:900]
    clf = LogisticRegression(max_iter=500)
    options = dict(seed=0, detector=ZerosAreOnes(), strategy="relabel")
    reckless = CleanLearning(clf, **options).fit(X, y)
    guarded = CleanLearning(clf, **options, validate_cleaning=True).fit(X, y)
    assert not guarded.cleaning_check_.use_cleaning
    assert guarded.cleaning_check_.cleaned_accuracy < guarded.cleaning_check_.kept_accuracy - 0.05
    with threadpool_limits(limits=1):  # the final fit's cap: BLAS threads change LogisticRegression's result
        every_row = clone(clf).fit(X, y)
    np.testing.assert_array_equal(guarded.clf_.coef_, every_row.coef_)
    assert not np.array_equal(reckless.clf_.coef_, every_row.coef_)
    # the issues are still reported
    np.testing.assert_array_equal(guarded.label_issues_mask, reckless.label_issues_mask)


def test_with_an_ensemble_the_kept_model_is_the_classifier_itself():
    X, labels, _ = noisy_digits(n=500)
    clf = LogisticRegression(max_iter=300)
    guarded = CleanLearning(
        clf, seed=0, ensemble=[LogisticRegression(C=0.1, max_iter=300), clf], validate_cleaning=True
    ).fit(X, labels)
    (train, held), _ = held_out_halves(labels, seed=0)
    with threadpool_limits(limits=1):
        kept = clone(clf).fit(X[train], labels[train]).predict_proba(X[held])
    np.testing.assert_allclose(guarded.validation_pred_probs_["kept"][held], kept)


def test_the_recommended_configuration_is_method_recommended():
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from tests.helpers import DATASET_CONF

    with initialize_config_dir(config_dir=str(DATASET_CONF.parent), version_base="1.3"):
        cfg = compose("config", overrides=["method=recommended"])
    learner = CleanLearning.recommended(LogisticRegression())
    assert learner.validate_cleaning == cfg.cv.validate_cleaning
    assert learner.validation_min_z == cfg.cv.validation_min_z
    assert learner.validation_criterion == cfg.cv.validation_criterion
    assert learner.validation_gate == cfg.cv.validation_gate == "dominance"
    assert learner.validation_trusted_min_z == cfg.cv.validation_trusted_min_z
    assert learner.validation_trusted_rule == cfg.cv.validation_trusted_rule
    assert learner.strategy == instantiate(cfg.strategy) == Remove(reweight=False)
    others = {name: instantiate(node) for name, node in cfg.cv.validation_strategies.items()}
    assert learner.validation_strategies == others == {"reweighted": Remove(reweight=True)}
    assert cfg.detection.filter_by == "prune_by_noise_rate"
    assert CleanLearning.recommended(validation_min_z=1.0).validation_min_z == 1.0


def test_remove_without_reweighting_keeps_the_weights_of_the_kept_rows():
    detection = Detection(label_issues=np.array([True, False, False, False]), noise_matrix=np.diag([0.5, 0.8]) + 0.0)
    labels = np.array([0, 0, 1, 1])
    assert Remove().select(detection, labels).sample_weight.tolist() == [2.0, 1.25, 1.25]
    assert Remove(reweight=False).select(detection, labels).sample_weight is None


def test_the_choice_never_reads_the_test_split_or_the_true_training_labels():
    X, labels, truth = noisy_digits(n=800)
    rng = np.random.default_rng(0)

    def given_labels(y_train, n_classes, *, seed):
        return Corruption(labels[:600].copy(), None)  # the same given labels whatever the truth

    runs = [
        run_experiment(
            digits_dataset(y_train, y_test, X),
            CleanLearning(LogisticRegression(max_iter=300), seed=0, validate_cleaning=True),
            noise=given_labels,
            compare_baseline=False,
        )
        for y_train, y_test in [
            (truth[:600], truth[600:]),
            (rng.permutation(truth[:600]), rng.permutation(truth[600:])),
        ]
    ]
    for key in ("cleaning_used", "holdout_accuracy_kept", "holdout_accuracy_cleaned", "n_label_issues"):
        assert runs[0].metrics[key] == runs[1].metrics[key]
    assert runs[0].metrics["test_accuracy"] != runs[1].metrics["test_accuracy"]  # the test labels did differ
