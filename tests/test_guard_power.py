"""runner.learn.guard's decision candidates: proper scores, K folds, trust gates on the margin, trusted rows."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold

from runner.learn.check import (
    MIN_PROBABILITY,
    bootstrap_label_margin,
    check_cleaning,
    check_on_trusted,
    forward_probs,
    gate_margin,
    held_out_folds,
    held_out_halves,
    label_margin,
    label_margins,
    score_given_labels,
)


def test_proper_scores_of_the_given_label_have_known_values():
    labels = np.array([0, 1, 2])
    probs = np.array([[0.5, 0.3, 0.2], [0.1, 0.9, 0.0], [1.0, 0.0, 0.0]])
    np.testing.assert_allclose(score_given_labels(labels, probs, "given"), [1, 1, 0])
    np.testing.assert_allclose(
        score_given_labels(labels, probs, "log_likelihood"), [np.log(0.5), np.log(0.9), np.log(MIN_PROBABILITY)]
    )
    np.testing.assert_allclose(
        score_given_labels(labels, probs, "brier"), [-(0.25 + 0.09 + 0.04), -(0.01 + 0.01 + 0.0), -2.0]
    )
    with pytest.raises(ValueError, match="score must be"):
        score_given_labels(labels, probs, "accuracy")


def test_the_paired_log_likelihood_test_has_the_textbook_mean_and_standard_error():
    labels = np.array([0, 1, 0, 1, 0])
    kept = np.array([[0.6, 0.4], [0.5, 0.5], [0.7, 0.3], [0.4, 0.6], [0.2, 0.8]])
    cleaned = np.array([[0.9, 0.1], [0.2, 0.8], [0.8, 0.2], [0.3, 0.7], [0.3, 0.7]])
    check = check_cleaning(labels, kept, cleaned, criterion="log_likelihood", min_z=1.0)
    kept_ll = np.log([0.6, 0.5, 0.7, 0.6, 0.2])
    difference = np.log([0.9, 0.8, 0.8, 0.7, 0.3]) - kept_ll
    assert check.kept_score == pytest.approx(kept_ll.mean())
    assert check.gain == pytest.approx(difference.mean())
    assert check.standard_error == pytest.approx(difference.std(ddof=1) / np.sqrt(5))
    assert check.z == pytest.approx(difference.mean() / (difference.std(ddof=1) / np.sqrt(5)))
    assert check.criterion == "log_likelihood" and check.n_rows == 5
    assert check.use_cleaning  # z = 4.45
    assert check_cleaning(labels, kept, cleaned, criterion="log_likelihood", min_z=4.4).use_cleaning
    assert not check_cleaning(labels, kept, cleaned, criterion="log_likelihood", min_z=4.5).use_cleaning
    # the same probabilities with the roles swapped lose
    assert not check_cleaning(labels, cleaned, kept, criterion="brier").use_cleaning


def test_forward_scores_do_not_penalise_a_clean_model_for_the_noise_it_did_not_learn():
    """A proper score of noisy labels prefers the model of the noise; through ``T`` the model of the truth wins."""
    rng = np.random.default_rng(0)
    noise_matrix = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.2], [0.1, 0.1, 0.7]])
    truth = rng.integers(0, 3, 5000)
    given = np.array([rng.choice(3, p=noise_matrix[:, t]) for t in truth])
    # kept: calibrated to the noise but wrong about the true class one time in four
    guess = np.where(rng.random(5000) < 0.75, truth, (truth + 1) % 3)
    kept = noise_matrix[:, guess].T
    cleaned = 0.98 * np.eye(3)[truth] + 0.01  # sure of the true class
    raw = check_cleaning(given, kept, cleaned, noise_matrix=noise_matrix, criterion="log_likelihood")
    forward = check_cleaning(given, kept, cleaned, noise_matrix=noise_matrix, criterion="forward_log_likelihood")
    assert raw.gain < 0 and not raw.use_cleaning
    assert forward.z > 5 and forward.use_cleaning
    assert check_cleaning(given, kept, cleaned, noise_matrix=noise_matrix, criterion="forward_brier").z > 5
    np.testing.assert_allclose(forward_probs(np.eye(3)[[2]], noise_matrix), noise_matrix[:, [2]].T)
    with pytest.raises(ValueError, match="needs the estimated noise matrix"):
        check_cleaning(given, kept, cleaned, criterion="forward_brier")
    with pytest.raises(ValueError, match="criterion must be one of"):
        check_cleaning(given, kept, cleaned, criterion="accuracy")


def test_the_trust_gate_reads_the_margin_it_is_given():
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    kept = np.eye(3)[[0, 1, 2, 0, 1, 2, 1, 2, 0, 1]]
    cleaned = np.eye(3)[[0, 1, 2, 0, 1, 2, 0, 1, 0, 1]]
    swapped = np.array([[0.8, 0.1, 0.1], [0.1, 0.7, 0.5], [0.1, 0.2, 0.4]])  # margin -0.1
    for criterion in ("given", "log_likelihood", "brier", "forward_log_likelihood"):
        vetoed = check_cleaning(labels, kept, cleaned, noise_matrix=swapped, criterion=criterion)
        assert vetoed.label_margin == pytest.approx(-0.1)
    assert not check_cleaning(labels, kept, cleaned, noise_matrix=swapped, criterion="given").use_cleaning
    gate_off = check_cleaning(labels, kept, cleaned, noise_matrix=swapped, criterion="given", gate_margin=np.nan)
    assert gate_off.use_cleaning
    assert check_cleaning(labels, kept, cleaned, noise_matrix=swapped, criterion="given", gate_margin=0.2).use_cleaning
    assert not check_cleaning(labels, kept, cleaned, criterion="given", gate_margin=0.0).use_cleaning
    # the backward-corrected score needs no yardstick: no gate
    assert np.isnan(check_cleaning(labels, kept, cleaned, noise_matrix=np.eye(3), gate_margin=-1.0).label_margin)


def test_only_classes_with_enough_given_labels_count_toward_the_margin():
    noise_matrix = np.array([[0.9, 0.1, 0.3], [0.05, 0.8, 0.4], [0.05, 0.1, 0.3]])
    np.testing.assert_allclose(label_margins(noise_matrix), [0.85, 0.7, -0.1])
    assert label_margin(noise_matrix) == pytest.approx(-0.1)
    assert label_margin(noise_matrix, counts=[500, 400, 30], min_count=50) == pytest.approx(0.7)
    assert label_margin(noise_matrix, counts=[500, 400, 50], min_count=50) == pytest.approx(-0.1)
    assert np.isnan(label_margin(noise_matrix, counts=[5, 4, 3], min_count=50))
    with pytest.raises(ValueError, match="one entry per class"):
        label_margin(noise_matrix, counts=[5, 4], min_count=50)


def crosstab_noise_matrix(labels, pred_probs):
    """``T`` counted exactly: the probabilities here are one-hot on the true class."""
    joint = np.zeros((pred_probs.shape[1],) * 2)
    np.add.at(joint, (labels, pred_probs.argmax(axis=1)), 1)
    return joint / joint.sum(axis=0, keepdims=True)


def rows_of(true_class, given_counts):
    return [(given, true_class) for given, count in enumerate(given_counts) for _ in range(count)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_bootstrap_vetoes_a_confidently_swapped_class_not_an_uncertain_small_one(seed):
    # true class 2 has 20 rows, 9 labelled 2 and 11 labelled 1: margin -0.1 at about 0.22 standard errors
    small = rows_of(0, [900, 50, 50]) + rows_of(1, [100, 900, 0]) + rows_of(2, [0, 11, 9])
    given, truth = np.array(small).T
    assert label_margin(crosstab_noise_matrix(given, np.eye(3)[truth])) == pytest.approx(-0.1)
    margin = bootstrap_label_margin(given, np.eye(3)[truth], estimate=crosstab_noise_matrix, random_state=seed)
    assert margin > 0
    # true class 2 has 1,000 rows, 450 labelled 2 and 550 labelled 1: the veto stands
    large = rows_of(0, [900, 50, 50]) + rows_of(1, [100, 900, 0]) + rows_of(2, [0, 550, 450])
    given, truth = np.array(large).T
    assert bootstrap_label_margin(given, np.eye(3)[truth], estimate=crosstab_noise_matrix, random_state=seed) <= 0
    lower = bootstrap_label_margin(
        given, np.eye(3)[truth], estimate=crosstab_noise_matrix, random_state=seed, quantile=0.05
    )
    assert lower < -0.05  # the 5% quantile of a margin of -0.1 at standard error ~0.03


def test_the_bootstrap_reestimates_the_reference_noise_matrix():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 1500)
    given = np.where(rng.random(1500) < 0.2, rng.integers(0, 3, 1500), truth)
    pred_probs = 0.7 * np.eye(3)[truth] + 0.1
    first = bootstrap_label_margin(given, pred_probs, n_resamples=50, random_state=0)
    assert first == bootstrap_label_margin(given, pred_probs, n_resamples=50, random_state=0)
    assert 0.5 < first < 1  # about 0.87 kept against 0.07 of each other label
    assert bootstrap_label_margin(given, pred_probs, n_resamples=50, random_state=0, quantile=0.05) < first
    with pytest.raises(ValueError, match="quantile must be in"):
        bootstrap_label_margin(given, pred_probs, quantile=1.0)


def test_k_folds_hold_each_row_out_once_and_halves_are_two_folds():
    labels = np.repeat([0, 1, 2], [50, 20, 10])
    folds = held_out_folds(labels, 5, seed=0)
    assert len(folds) == 5
    held = np.concatenate([held for _, held in folds])
    np.testing.assert_array_equal(np.sort(held), np.arange(80))
    for train, held in folds:
        assert np.intersect1d(train, held).size == 0 and len(train) == 64
        assert np.bincount(labels[held]).tolist() == [10, 4, 2]
    expected = list(StratifiedKFold(n_splits=5, shuffle=True, random_state=0).split(np.zeros(80), labels))
    for (train, held), (want_train, want_held) in zip(folds, expected):
        np.testing.assert_array_equal(train, want_train)
        np.testing.assert_array_equal(held, want_held)
    for (a, b), (c, d) in zip(held_out_halves(labels, seed=3), held_out_folds(labels, 2, seed=3)):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


def test_k_folds_are_refused_when_a_class_cannot_be_cross_validated_in_every_training_part():
    # 3 folds: a class of n rows leaves n - ceil(n / 3) in a training part, which needs 3 for the inner folds
    assert held_out_folds(np.repeat([0, 1], [40, 5]), 3, seed=0) is not None
    assert held_out_folds(np.repeat([0, 1], [40, 4]), 3, seed=0) is None
    # 10 folds: 4 rows leave 3 in a training part, but a held-out fold would lack the class
    assert held_out_folds(np.repeat([0, 1], [40, 9]), 10, seed=0) is None
    assert held_out_folds(np.repeat([0, 1], [40, 10]), 10, seed=0) is not None
    assert held_out_folds(np.repeat([0, 2], [40, 10]), 5, seed=0) is not None  # an absent class is no class
    with pytest.raises(ValueError, match="n_folds must be at least 2"):
        held_out_folds(np.repeat([0, 1], [40, 10]), 1)


def test_trusted_rows_compare_the_models_on_the_verified_labels_without_a_gate():
    truth = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    kept = np.eye(3)[[0, 1, 2, 0, 1, 2, 1, 2, 0, 1]]  # right on 6
    cleaned = np.eye(3)[[0, 1, 2, 0, 1, 2, 0, 1, 0, 1]]  # right on 8
    check = check_on_trusted(truth, kept, cleaned)
    assert (check.kept_accuracy, check.cleaned_accuracy) == (0.6, 0.8)
    difference = np.array([0] * 6 + [1, 1, 0, 0], dtype=float)
    assert check.standard_error == pytest.approx(difference.std(ddof=1) / np.sqrt(10))
    assert np.isnan(check.label_margin) and check.use_cleaning
    assert not check_on_trusted(truth, kept, cleaned, min_z=1.6).use_cleaning
    assert not check_on_trusted(truth, cleaned, kept).use_cleaning
    smooth = check_on_trusted(truth, 0.7 * kept + 0.1, 0.7 * cleaned + 0.1, criterion="log_likelihood")
    assert smooth.gain == pytest.approx(0.2 * (np.log(0.8) - np.log(0.1)))
    with pytest.raises(ValueError, match="criterion on trusted rows"):
        check_on_trusted(truth, kept, cleaned, criterion="forward_brier")
    with pytest.raises(ValueError, match="at least one trusted row"):
        check_on_trusted(truth[:0], kept[:0], cleaned[:0])


def test_a_named_gate_reads_its_margin():
    noise_matrix = np.array([[0.9, 0.1, 0.3], [0.05, 0.8, 0.4], [0.05, 0.1, 0.3]])
    labels = np.repeat([0, 1, 2], [500, 400, 30])
    assert gate_margin("dominance", labels, noise_matrix) is None  # check_cleaning's own label_margin
    assert np.isnan(gate_margin("none", labels, noise_matrix))
    assert gate_margin("min_count", labels, noise_matrix, min_count=50) == pytest.approx(0.7)
    assert gate_margin("min_count", labels, noise_matrix, min_count=30) == pytest.approx(-0.1)
    assert np.isnan(gate_margin("bootstrap", labels, None))  # no noise matrix, no yardstick to doubt
    pred_probs = 0.7 * np.eye(3)[labels] + 0.1
    assert gate_margin("bootstrap", labels, noise_matrix, pred_probs, random_state=0) == bootstrap_label_margin(
        labels, pred_probs, random_state=0
    )
    with pytest.raises(ValueError, match="needs the out-of-fold probabilities"):
        gate_margin("bootstrap", labels, noise_matrix)
    with pytest.raises(ValueError, match="gate must be one of"):
        gate_margin("strict", labels, noise_matrix)
