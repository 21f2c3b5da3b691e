"""Properties of runner.confident.rank: label-quality scores, their formulas and orderings.

Each score is checked against its definition in SPEC §3.1 written out in the test, on data
with a known noise matrix (``tests.test_count.noisy_dataset``), and must rank the truly
mislabeled examples below the others. Also: the K=2 identity of normalized margin and
self-confidence, the one-hot quirk of confidence_weighted_entropy, ``find_top_issues``,
``order_label_issues`` and ensemble scores.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from runner.confident import (
    find_label_issues,
    find_top_issues,
    get_confident_thresholds,
    get_label_quality_ensemble_scores,
    get_label_quality_scores,
    order_label_issues,
)
from tests.helpers import noisy_dataset

SEEDS = [0, 1, 2]
METHODS = ["self_confidence", "normalized_margin", "confidence_weighted_entropy"]


def dataset(seed, n_classes=4, dtype=np.float64):
    labels, pred_probs, true_labels, _ = noisy_dataset(800, n_classes, seed, dtype=dtype)
    return labels, pred_probs, labels != true_labels


def scores_of(labels, pred_probs, method, **kwargs):
    return get_label_quality_scores(labels, pred_probs, method=method, **kwargs)


def max_other(labels, pred_probs):
    others = pred_probs.copy()
    others[np.arange(len(labels)), labels] = -np.inf
    return others.max(axis=1)


def normalized_margin_formula(labels, pred_probs):
    given = pred_probs[np.arange(len(labels)), labels]
    return (given - max_other(labels, pred_probs) + 1) / 2


def confidence_weighted_entropy_formula(labels, pred_probs):
    n_classes = pred_probs.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(pred_probs > 0, pred_probs * np.log(pred_probs), 0.0)
    entropy = -terms.sum(axis=1) / np.log(n_classes)
    x = entropy / np.maximum(pred_probs[np.arange(len(labels)), labels], 1e-6)
    return np.log1p(x) / np.maximum(x, 1e-6)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    "method, adjust",
    [(method, False) for method in METHODS]
    + [("self_confidence", True), ("normalized_margin", True)],  # CWE cannot be adjusted
)
def test_scores_lie_in_unit_interval_and_rank_errors_low(method, adjust, seed):
    labels, pred_probs, errors = dataset(seed)
    scores = scores_of(labels, pred_probs, method, adjust_pred_probs=adjust)
    assert scores.shape == labels.shape
    assert (scores >= 0).all() and (scores <= 1).all()
    # Lower = more suspicious: the true errors should score well below the correct labels.
    assert roc_auc_score(errors, -scores) > 0.9


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_self_confidence_is_the_probability_of_the_given_label(seed, dtype):
    labels, pred_probs, _ = dataset(seed, dtype=dtype)
    scores = scores_of(labels, pred_probs, "self_confidence")
    assert scores.dtype == dtype
    np.testing.assert_array_equal(scores, pred_probs[np.arange(len(labels)), labels])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normalized_margin_follows_its_formula(seed, dtype):
    labels, pred_probs, _ = dataset(seed, dtype=dtype)
    scores = scores_of(labels, pred_probs, "normalized_margin")
    assert scores.dtype == dtype
    np.testing.assert_allclose(scores, normalized_margin_formula(labels, pred_probs), rtol=0, atol=1e-7)


@pytest.mark.parametrize("seed", SEEDS)
def test_confidence_weighted_entropy_follows_its_formula(seed):
    labels, pred_probs, _ = dataset(seed, dtype=np.float32)
    scores = scores_of(labels, pred_probs, "confidence_weighted_entropy")
    assert scores.dtype == np.float64  # always, even for float32 input
    expected = confidence_weighted_entropy_formula(labels, pred_probs.astype(np.float64))
    np.testing.assert_allclose(scores, expected, rtol=1e-5)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("method", ["self_confidence", "normalized_margin"])
def test_adjusted_scores_score_the_threshold_shifted_probabilities(method, seed):
    labels, pred_probs, _ = dataset(seed)
    thresholds = get_confident_thresholds(labels, pred_probs)
    shifted = pred_probs - thresholds + thresholds.max()
    adjusted = shifted / shifted.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(
        scores_of(labels, pred_probs, method, adjust_pred_probs=True),
        scores_of(labels, adjusted, method),
        rtol=0,
        atol=1e-12,
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_two_classes_normalized_margin_equals_self_confidence(seed):
    labels, pred_probs, _ = dataset(seed, n_classes=2)
    np.testing.assert_allclose(
        scores_of(labels, pred_probs, "normalized_margin"),
        scores_of(labels, pred_probs, "self_confidence"),
        rtol=0,
        atol=1e-12,
    )


def test_one_hot_rows_score_zero_with_confidence_weighted_entropy():
    """Documented quirk (SPEC §3.1): zero entropy gives the worst score, right label or not."""
    pred_probs = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.2, 0.5, 0.3], [0.0, 0.0, 1.0]])
    labels = np.array([0, 0, 1, 2])  # rows 0 and 3 one-hot on their label, row 1 one-hot elsewhere
    scores = scores_of(labels, pred_probs, "confidence_weighted_entropy")
    np.testing.assert_array_equal(scores[[0, 1, 3]], 0.0)
    assert 0 < scores[2] < 1
    # The other scores see a one-hot row on the given label as perfect.
    for method in ("self_confidence", "normalized_margin"):
        assert scores_of(labels, pred_probs, method)[[0, 3]].tolist() == [1.0, 1.0]


def test_adjusting_confidence_weighted_entropy_raises():
    labels, pred_probs, _ = dataset(0)
    kwargs = {"adjust_pred_probs": True}
    with pytest.raises(ValueError, match="adjust_pred_probs.*confidence_weighted_entropy"):
        scores_of(labels, pred_probs, "confidence_weighted_entropy", **kwargs)
    with pytest.raises(ValueError, match="adjust_pred_probs.*confidence_weighted_entropy"):
        find_label_issues(
            labels, pred_probs, return_indices_ranked_by="confidence_weighted_entropy", rank_by_kwargs=kwargs
        )
    with pytest.raises(ValueError, match="adjust_pred_probs.*confidence_weighted_entropy"):
        order_label_issues(
            np.ones(len(labels), bool),
            labels,
            pred_probs,
            rank_by="confidence_weighted_entropy",
            rank_by_kwargs=kwargs,
        )


def test_confidence_weighted_entropy_refuses_probabilities_just_above_one():
    """Validation tolerates 1 + 1e-6; this score does not (no tolerance, as in the reference)."""
    pred_probs = np.array([[1 + 5e-7, 0.0], [0.3, 0.7]])
    labels = np.array([0, 1])
    assert scores_of(labels, pred_probs, "self_confidence")[0] == 1 + 5e-7
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        scores_of(labels, pred_probs, "confidence_weighted_entropy")


# --------------------------------------------------------------------------------------------
# Orderings


def test_find_top_issues_returns_the_lowest_scores_lowest_first():
    scores = np.array([0.9, 0.1, 0.5, 0.05, 0.7, 0.3])
    assert find_top_issues(scores, top=3).tolist() == [3, 1, 5]
    assert find_top_issues(scores, top=None).tolist() == [3, 1, 5, 2, 4, 0]
    assert find_top_issues(scores, top=100).tolist() == [3, 1, 5, 2, 4, 0]
    assert len(find_top_issues(np.linspace(1, 0, 50))) == 10  # default top=10


@pytest.mark.parametrize("seed", SEEDS)
def test_find_top_issues_on_scores_prefers_true_errors(seed):
    labels, pred_probs, errors = dataset(seed)
    top = find_top_issues(scores_of(labels, pred_probs, "normalized_margin"), top=50)
    assert errors[top].mean() > 0.95


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("rank_by", METHODS)
def test_order_label_issues_sorts_the_flagged_examples_by_score(rank_by, seed):
    labels, pred_probs, _ = dataset(seed)
    mask = find_label_issues(labels, pred_probs)
    ordered = order_label_issues(mask, labels, pred_probs, rank_by=rank_by)
    np.testing.assert_array_equal(np.sort(ordered), np.flatnonzero(mask))
    scores = scores_of(labels, pred_probs, rank_by)
    assert (np.diff(scores[ordered]) >= 0).all()
    np.testing.assert_array_equal(ordered, find_label_issues(labels, pred_probs, return_indices_ranked_by=rank_by))


# --------------------------------------------------------------------------------------------
# Ensembles


def ensemble_members(labels, pred_probs, seed):
    """Three different models' probabilities: the original, a smoothed and a noisier one."""
    rng = np.random.default_rng(seed)
    n_classes = pred_probs.shape[1]
    noisy = pred_probs * rng.uniform(0.5, 1.5, size=pred_probs.shape)
    return [pred_probs, 0.6 * pred_probs + 0.4 / n_classes, noisy / noisy.sum(axis=1, keepdims=True)]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("method", METHODS)
def test_uniform_ensemble_is_the_mean_of_member_scores(method, seed):
    labels, pred_probs, _ = dataset(seed)
    members = ensemble_members(labels, pred_probs, seed)
    expected = np.mean([scores_of(labels, p, method) for p in members], axis=0)
    ensemble = get_label_quality_ensemble_scores(labels, members, method=method, weight_ensemble_members_by="uniform")
    np.testing.assert_allclose(ensemble, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_custom_and_accuracy_weighted_ensembles(seed):
    labels, pred_probs, _ = dataset(seed)
    members = ensemble_members(labels, pred_probs, seed)
    member_scores = np.array([scores_of(labels, p, "self_confidence") for p in members])
    weights = np.array([0.5, 0.2, 0.3])
    np.testing.assert_allclose(
        get_label_quality_ensemble_scores(labels, members, weight_ensemble_members_by="custom", custom_weights=weights),
        weights @ member_scores,
        atol=1e-12,
    )
    accuracy = np.array([np.mean(p.argmax(axis=1) == labels) for p in members])
    np.testing.assert_allclose(
        get_label_quality_ensemble_scores(labels, members),  # default: accuracy weighting
        (accuracy / accuracy.sum()) @ member_scores,
        atol=1e-12,
    )
