"""Properties of runner.confident.filter.find_label_issues on data with a known noise matrix.

The labels are corrupted by a known noise matrix (see ``tests.test_count.noisy_dataset``), so
the flipped examples are known: every ``filter_by`` must flag mostly true errors. The other
tests check what SPEC §2 states about the options — ``both`` is an intersection, ``frac_noise``
and ``min_examples_per_class`` only ever flag less, ``low_*`` flag exactly ``num_label_issues``,
ranked indices are the flagged ones in ascending score, and results depend neither on
``n_jobs`` nor on float32 vs float64.
"""

from __future__ import annotations

import numpy as np
import pytest

from runner.confident import find_label_issues, get_label_quality_scores, num_label_issues
from tests.helpers import FILTER_METHODS, PRUNE_METHODS, RANK_METHODS, noisy_dataset

SEEDS = [0, 1, 2]


def dataset(seed, n_samples=1000, n_classes=4, **kwargs):
    """Given labels, pred_probs and the mask of true label errors."""
    labels, pred_probs, true_labels, _ = noisy_dataset(n_samples, n_classes, seed, **kwargs)
    return labels, pred_probs, labels != true_labels


def unflagged_per_class(labels, mask, n_classes):
    return np.bincount(labels[~mask], minlength=n_classes)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("filter_by", FILTER_METHODS)
def test_flags_mostly_true_errors(filter_by, seed):
    labels, pred_probs, errors = dataset(seed)
    mask = find_label_issues(labels, pred_probs, filter_by=filter_by)
    assert mask.shape == labels.shape and mask.dtype == bool
    precision = (mask & errors).sum() / mask.sum()
    recall = (mask & errors).sum() / errors.sum()
    # Chance precision is the noise rate, about 0.25 here.
    assert precision > 0.8, precision
    assert recall > 0.7, recall


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("filter_by", [m for m in FILTER_METHODS if not m.startswith("low_")])
def test_flagged_examples_have_a_more_probable_class_than_the_given_one(filter_by, seed):
    """SPEC §2.5: a flag survives only where another class beats P[i, s_i] + 1e-6."""
    labels, pred_probs, _ = dataset(seed)
    mask = find_label_issues(labels, pred_probs, filter_by=filter_by)
    flagged = np.flatnonzero(mask)
    others = pred_probs[flagged].copy()
    others[np.arange(len(flagged)), labels[flagged]] = -np.inf
    assert (others.max(axis=1) > pred_probs[flagged, labels[flagged]]).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_both_is_within_the_intersection_of_the_prune_methods(seed):
    labels, pred_probs, _ = dataset(seed)
    by_class = find_label_issues(labels, pred_probs, filter_by="prune_by_class")
    by_noise_rate = find_label_issues(labels, pred_probs, filter_by="prune_by_noise_rate")
    both = find_label_issues(labels, pred_probs, filter_by="both")
    assert both.any()
    assert not (both & ~(by_class & by_noise_rate)).any()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("filter_by", PRUNE_METHODS)
def test_smaller_frac_noise_flags_a_subset_and_zero_flags_nothing(filter_by, seed):
    labels, pred_probs, _ = dataset(seed)
    masks = [
        find_label_issues(labels, pred_probs, filter_by=filter_by, frac_noise=frac)
        for frac in (1.0, 0.8, 0.5, 0.2, 0.0)
    ]
    for larger, smaller in zip(masks, masks[1:]):
        assert not (smaller & ~larger).any()
    assert masks[2].sum() < masks[0].sum()  # frac_noise has an effect at all
    assert not masks[-1].any()


@pytest.mark.filterwarnings("ignore:.*min_examples_per_class:UserWarning")
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("filter_by", ["prune_by_class", "both"])
@pytest.mark.parametrize("min_examples", [5, 100, 230])
def test_min_examples_per_class_are_left_unflagged(filter_by, min_examples, seed):
    labels, pred_probs, _ = dataset(seed)
    counts = np.bincount(labels, minlength=4)
    mask = find_label_issues(labels, pred_probs, filter_by=filter_by, min_examples_per_class=min_examples)
    assert (unflagged_per_class(labels, mask, 4) >= np.minimum(counts, min_examples)).all()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("min_examples", [5, 50])
def test_min_examples_per_class_with_prune_by_noise_rate(min_examples, seed):
    """Holds for moderate values only: for m near the class size the shrunken noise counts are
    clipped at 0 and the union can leave fewer than m (reference behaviour, pinned by parity)."""
    labels, pred_probs, _ = dataset(seed)
    counts = np.bincount(labels, minlength=4)
    mask = find_label_issues(labels, pred_probs, min_examples_per_class=min_examples)
    assert (unflagged_per_class(labels, mask, 4) >= np.minimum(counts, min_examples)).all()


def with_small_class(seed, n_small=8, n_mislabeled=3):
    """A dataset where class 3 has only ``n_small`` given labels, ``n_mislabeled`` of them wrong."""
    labels, pred_probs, errors = dataset(seed)
    rng = np.random.default_rng(seed)
    truly_3 = np.flatnonzero((labels == 3) & ~errors)
    keep = rng.choice(truly_3, n_small - n_mislabeled, replace=False)
    relabel = np.setdiff1d(np.flatnonzero(labels == 3), keep)
    labels = labels.copy()
    labels[relabel] = np.argmax(pred_probs[relabel, :3], axis=1)  # a plausible other class
    confidently_0 = (labels == 0) & (pred_probs.argmax(axis=1) == 0)
    confidently_0[relabel] = False
    wrong = rng.choice(np.flatnonzero(confidently_0), n_mislabeled, replace=False)
    labels[wrong] = 3
    assert np.bincount(labels)[3] == n_small
    return labels, pred_probs


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("filter_by", PRUNE_METHODS)
def test_class_with_at_most_min_examples_is_never_flagged_and_warns(filter_by, seed):
    labels, pred_probs = with_small_class(seed)
    small = labels == 3
    # With the default min_examples_per_class=1 the planted errors are found ...
    assert find_label_issues(labels, pred_probs, filter_by=filter_by)[small].any()
    # ... but not when the class has no more than min_examples_per_class examples.
    for min_examples in (8, 20):
        with pytest.warns(UserWarning, match=r"classes \[3\].*min_examples_per_class"):
            mask = find_label_issues(labels, pred_probs, filter_by=filter_by, min_examples_per_class=min_examples)
        assert not mask[small].any()


@pytest.mark.parametrize("seed", SEEDS)
def test_num_to_remove_per_class_is_exact_for_prune_by_class(seed):
    labels, pred_probs, _ = dataset(seed)
    to_remove = np.array([5, 0, 3, 7])
    # Precondition for exactness after the near-given filter: the lowest self-confidences of
    # each class are below 1/K, where another class is necessarily more probable.
    for k, r in enumerate(to_remove):
        lowest = np.sort(pred_probs[labels == k, k])[:r]
        assert (lowest < 1 / 4 - 1e-3).all()
    mask = find_label_issues(labels, pred_probs, filter_by="prune_by_class", num_to_remove_per_class=to_remove)
    np.testing.assert_array_equal(np.bincount(labels[mask], minlength=4), to_remove)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("filter_by", ["low_self_confidence", "low_normalized_margin"])
def test_low_methods_flag_exactly_num_label_issues(filter_by, seed):
    labels, pred_probs, _ = dataset(seed)
    mask = find_label_issues(labels, pred_probs, filter_by=filter_by)
    assert mask.sum() == num_label_issues(labels, pred_probs)
    # ... and they are the lowest-scoring examples.
    scores = get_label_quality_scores(labels, pred_probs, method=filter_by.removeprefix("low_"))
    assert scores[mask].max() <= scores[~mask].min()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("rank_by", RANK_METHODS)
@pytest.mark.parametrize("filter_by", ["prune_by_noise_rate", "confident_learning", "low_self_confidence"])
def test_ranked_indices_are_the_flagged_ones_by_ascending_score(filter_by, rank_by, seed):
    labels, pred_probs, _ = dataset(seed)
    mask = find_label_issues(labels, pred_probs, filter_by=filter_by)
    ranked = find_label_issues(labels, pred_probs, filter_by=filter_by, return_indices_ranked_by=rank_by)
    assert ranked.dtype == np.int64
    np.testing.assert_array_equal(np.sort(ranked), np.flatnonzero(mask))
    scores = get_label_quality_scores(labels, pred_probs, method=rank_by)
    assert (np.diff(scores[ranked]) >= 0).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_ranking_with_adjusted_probabilities_uses_the_adjusted_scores(seed):
    labels, pred_probs, _ = dataset(seed)
    kwargs = {"adjust_pred_probs": True}
    ranked = find_label_issues(labels, pred_probs, return_indices_ranked_by="normalized_margin", rank_by_kwargs=kwargs)
    scores = get_label_quality_scores(labels, pred_probs, method="normalized_margin", **kwargs)
    assert (np.diff(scores[ranked]) >= 0).all()
    np.testing.assert_array_equal(np.sort(ranked), np.flatnonzero(find_label_issues(labels, pred_probs)))


@pytest.mark.parametrize("filter_by", FILTER_METHODS)
def test_results_do_not_depend_on_n_jobs(filter_by):
    labels, pred_probs, _ = dataset(0)
    masks = [find_label_issues(labels, pred_probs, filter_by=filter_by, n_jobs=n_jobs) for n_jobs in (None, 1, 2, 4)]
    for mask in masks[1:]:
        np.testing.assert_array_equal(mask, masks[0])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("filter_by", FILTER_METHODS)
def test_float32_and_float64_give_the_same_mask(filter_by, seed):
    labels, pred_probs32, _ = dataset(seed, dtype=np.float32)
    # The same values in float64: continuous probabilities, so no example sits within float32
    # rounding of a threshold or of another example's margin.
    pred_probs64 = pred_probs32.astype(np.float64)
    mask32 = find_label_issues(labels, pred_probs32, filter_by=filter_by)
    mask64 = find_label_issues(labels, pred_probs64, filter_by=filter_by)
    assert mask32.any()
    np.testing.assert_array_equal(mask32, mask64)


@pytest.mark.parametrize("filter_by", FILTER_METHODS)
def test_two_classes(filter_by):
    labels, pred_probs, errors = dataset(0, n_classes=2)
    mask = find_label_issues(labels, pred_probs, filter_by=filter_by)
    assert (mask & errors).sum() > 0.8 * mask.sum()
