"""Finding label issues: which examples' given labels are most likely wrong.

Every method returns a boolean mask over the N examples (or their indices ranked by label
quality). The ``prune_*`` methods remove, per cell of the confident joint, as many examples as
it estimates to be mislabeled there:

* ``prune_by_class`` — per given class ``k``, the ``n_k - C[k, k]`` examples with the lowest
  self-confidence;
* ``prune_by_noise_rate`` — per cell ``(given k, true j)``, the ``C[k, j]`` examples with the
  largest margin ``P[i, j] - P[i, k]``; a class's flags are the union over ``j``;
* ``both`` — the intersection of the two.

``confident_learning`` flags the off-diagonal examples of the confident joint itself,
``predicted_neq_given`` those whose argmax is not the given label, and ``low_self_confidence`` /
``low_normalized_margin`` the lowest-scoring examples, as many as :func:`num_label_issues`
estimates. All but the ``low_*`` methods then keep a flag only where some other class is more
probable than the given one.

Selections of "the m smallest" use a partition (linear time) and fall back to numpy's default
argsort only when ties straddle the cut, so the chosen examples are those the reference's full
sort would choose.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from runner.confident._validation import check_choice, check_labels_and_pred_probs
from runner.confident.count import (
    _check_square,
    _confident_joint_and_off_diagonals,
    calibrate_confident_joint,
    group_by_label,
    round_preserving_row_totals,
    unflag_near_given,
)
from runner.confident.rank import RANK_METHODS, compute_label_quality_scores, rank_flagged

log = logging.getLogger(__name__)

PRUNE_METHODS = ("prune_by_noise_rate", "prune_by_class", "both")
SCORE_METHODS = {"low_self_confidence": "self_confidence", "low_normalized_margin": "normalized_margin"}
FILTER_METHODS = PRUNE_METHODS + (
    "confident_learning",
    "predicted_neq_given",
    "low_normalized_margin",
    "low_self_confidence",
)


# --------------------------------------------------------------------------------------------
# Selection


def smallest(values: np.ndarray, m: int) -> np.ndarray:
    """Indices of the ``m`` smallest values: the set ``np.argsort(values)[:m]``, found faster.

    A partition finds the m-th smallest value ``v`` in linear time; when exactly ``m`` values
    are ``<= v`` they are the answer. When ties at ``v`` cross the cut, which of them the
    reference keeps depends on numpy's (unstable) sort, so that sort decides.
    """
    n = len(values)
    if m <= 0:
        return np.empty(0, dtype=np.int64)
    if m >= n:
        return np.arange(n)
    cut = np.partition(values, m - 1)[m - 1]
    chosen = np.flatnonzero(values <= cut)
    if len(chosen) == m:
        return chosen
    return np.argsort(values)[:m]


def _smallest_in_each_row(values: np.ndarray, counts: np.ndarray):
    """Columns among the ``counts[r]`` smallest of some row ``r``; rows with ties at the cut.

    Returns ``(flagged, tied)``: a column mask (the union over the rows whose cut is
    unambiguous) and the rows where ties straddle the cut, which the caller settles with
    numpy's sort. One partition of the contiguous rows finds every cut at once.
    """
    n_columns = values.shape[1]
    counts = np.minimum(counts, n_columns)
    deepest = counts.max()
    head = values if deepest >= n_columns else np.partition(values, deepest - 1, axis=1)[:, :deepest]
    cuts = np.sort(head, axis=1)[np.arange(len(values)), counts - 1]
    below = values <= cuts[:, None]
    # Summing a uint8 view is twice as fast as count_nonzero along an axis.
    exact = below.view(np.uint8).sum(axis=1, dtype=np.int64) == counts
    return below[exact].any(axis=0), np.flatnonzero(~exact)


# --------------------------------------------------------------------------------------------
# The prune matrix


def prune_counts(
    confident_joint,
    label_counts,
    *,
    min_examples_per_class: int = 1,
    frac_noise: float = 1.0,
    num_to_remove_per_class=None,
) -> np.ndarray:
    """How many examples to flag in each cell: ``M[true j, given k]`` (the confident joint, transposed).

    Each given class keeps at least ``min_examples_per_class`` examples: its diagonal is raised
    to that many and the shortfall is taken evenly from its non-zero noise counts. Then only
    ``frac_noise`` of each noise count is flagged (the rest moves to the diagonal), truncating
    toward zero. ``num_to_remove_per_class`` instead redistributes a requested total per
    class in proportion to the estimated noise.
    """
    counts = np.asarray(confident_joint).T.astype(np.float64)
    diagonal = np.diagonal(counts).copy()
    kept = np.maximum(diagonal, min_examples_per_class)
    n_nonzero = np.maximum(np.count_nonzero(counts, axis=0) - 1, 1)
    counts = np.maximum(counts - (kept - diagonal) / n_nonzero, 0)
    np.fill_diagonal(counts, kept)

    flagged_counts = counts * frac_noise
    np.fill_diagonal(flagged_counts, kept)
    np.fill_diagonal(flagged_counts, kept + np.sum(counts - flagged_counts, axis=0))
    counts = flagged_counts.astype(np.int64)

    if num_to_remove_per_class is None:
        return counts
    # Spread the requested removals of true class j over the given classes in proportion to
    # the estimated noise; the row total of M normalises its column (numpy broadcasting), as
    # the reference does.
    to_remove = np.asarray(num_to_remove_per_class)
    with np.errstate(divide="ignore", invalid="ignore"):
        proportions = counts / np.sum(counts, axis=1)
        noise_per_class = proportions.sum(axis=1) - np.diagonal(proportions)
        target = (proportions.T * to_remove / noise_per_class).T
    np.fill_diagonal(target, np.asarray(label_counts) - to_remove)
    return round_preserving_row_totals(target)


# --------------------------------------------------------------------------------------------
# Methods: each returns the flagged indices (before the near-given filter)


def _prunable_classes(counts, min_examples_per_class, method):
    """Classes with enough examples to prune; warn about the others."""
    too_small = np.flatnonzero((counts <= min_examples_per_class) & (counts > 0))
    if too_small.size:
        warnings.warn(
            f"{method}: classes {too_small.tolist()} have at most min_examples_per_class="
            f"{min_examples_per_class} examples, so none of them is flagged",
            UserWarning,
            stacklevel=5,  # the caller of find_label_issues
        )
    return np.flatnonzero((counts > min_examples_per_class) & (counts > 1))


def _flag_by_class(labels, pred_probs, groups, prune_matrix, min_examples_per_class):
    order, starts, counts = groups
    flagged = np.zeros(len(labels), dtype=bool)
    for k in _prunable_classes(counts, min_examples_per_class, "prune_by_class"):
        members = order[starts[k] : starts[k] + counts[k]]
        n_flag = counts[k] - prune_matrix[k, k]
        if n_flag >= 1:
            flagged[members[smallest(pred_probs[members, k], n_flag)]] = True
    return flagged


def _flag_by_noise_rate(labels, pred_probs, groups, prune_matrix, min_examples_per_class):
    order, starts, counts = groups
    flagged = np.zeros(len(labels), dtype=bool)
    for k in _prunable_classes(counts, min_examples_per_class, "prune_by_noise_rate"):
        to_flag = np.maximum(prune_matrix[:, k], 0)
        to_flag[k] = 0
        targets = np.flatnonzero(to_flag)
        if not targets.size:
            continue
        members = order[starts[k] : starts[k] + counts[k]]
        rows = np.take(pred_probs, members, axis=0)
        # Flag the largest margins P[i, j] - P[i, k], i.e. the smallest P[i, k] - P[i, j];
        # one contiguous row per target class j keeps the partition fast.
        negated_margins = rows.T[targets]
        np.subtract(rows[:, k], negated_margins, out=negated_margins)
        hit, tied = _smallest_in_each_row(negated_margins, to_flag[targets])
        for j in targets[tied]:
            # Settle ties as the reference's sort does, on bit-identical values: the negated
            # margin, whose zeros are -0.0 (which some sorts order before +0.0).
            exact_values = -(pred_probs[members, j] - pred_probs[members, k])
            hit[np.argsort(exact_values)[: to_flag[j]]] = True
        flagged[members[hit]] = True
    return flagged


# --------------------------------------------------------------------------------------------


def _warn_about_unused_options(filter_by, frac_noise, num_to_remove_per_class, confident_joint):
    if filter_by in PRUNE_METHODS:
        return
    if frac_noise != 1.0 or num_to_remove_per_class is not None:
        warnings.warn(
            f"frac_noise and num_to_remove_per_class only apply to {PRUNE_METHODS}; "
            f"ignored with filter_by={filter_by!r}",
            UserWarning,
            stacklevel=3,
        )
    if num_to_remove_per_class is not None:
        raise ValueError(f"num_to_remove_per_class needs filter_by in {PRUNE_METHODS}, got {filter_by!r}")
    if confident_joint is not None and filter_by == "confident_learning":
        warnings.warn(
            "filter_by='confident_learning' computes its own confident joint; the supplied confident_joint is ignored",
            UserWarning,
            stacklevel=3,
        )


def find_label_issues(
    labels,
    pred_probs,
    *,
    return_indices_ranked_by: str | None = None,
    rank_by_kwargs=None,
    filter_by: str = "prune_by_noise_rate",
    frac_noise: float = 1.0,
    num_to_remove_per_class=None,
    min_examples_per_class: int = 1,
    confident_joint=None,
    n_jobs=None,
    verbose: bool = False,
    multi_label: bool = False,
    flag_predicted_given: bool = False,
) -> np.ndarray:
    """Flag the examples whose given label is likely wrong.

    Parameters
    ----------
    labels : array-like of shape (N,)
        Given labels, integers in ``0..K-1``.
    pred_probs : ndarray of shape (N, K)
        Out-of-fold predicted probabilities (float32 is used as is).
    return_indices_ranked_by : {None, "self_confidence", "normalized_margin", "confidence_weighted_entropy"}
        Return the flagged indices ordered by this label-quality score, worst first, instead of
        a mask.
    rank_by_kwargs : dict, optional
        Passed to the score (e.g. ``{"adjust_pred_probs": True}``).
    filter_by : str, default "prune_by_noise_rate"
        One of ``prune_by_noise_rate``, ``prune_by_class``, ``both``, ``confident_learning``,
        ``predicted_neq_given``, ``low_normalized_margin``, ``low_self_confidence``.
    frac_noise : float, default 1.0
        Flag only this fraction of each estimated noise count (``prune_*`` methods).
    num_to_remove_per_class : int or array-like of shape (K,), optional
        How many examples of each class to flag (``prune_*`` methods; exact for
        ``prune_by_class`` before the final filter); one int applies to every class.
    min_examples_per_class : int, default 1
        Never leave fewer examples than this in a class; classes this small are not pruned.
    confident_joint : ndarray of shape (K, K), optional
        Used as is (not calibrated) by the ``prune_*`` methods; computed when omitted.
    n_jobs : int, optional
        Accepted for compatibility; the vectorised implementation runs in one process.
    verbose : bool
        Log progress at INFO level.
    multi_label : bool
        Not supported.
    flag_predicted_given : bool, default False
        cleanrun's extension. By default (as in the reference) a flag is dropped when the given
        label is the example's most probable class. Under heavy, asymmetric noise the model
        trained on the noisy labels often still prefers the wrong label, and that final filter
        then undoes most of what the confident joint found; True keeps those flags.

    Returns
    -------
    ndarray
        Boolean mask of shape (N,), or int64 indices when ``return_indices_ranked_by`` is set.

    Raises
    ------
    ValueError
        Invalid inputs, or an unknown ``filter_by`` / ``return_indices_ranked_by`` (the valid
        names are listed).

    Examples
    --------
    >>> find_label_issues([0, 0, 1], np.array([[.9, .1], [.1, .9], [.2, .8]]))
    array([False,  True, False])
    """
    if multi_label:
        raise NotImplementedError("multi_label is not supported: cleanrun handles single-label data")
    check_choice("filter_by", filter_by, FILTER_METHODS)
    if return_indices_ranked_by is not None:
        check_choice("return_indices_ranked_by", return_indices_ranked_by, RANK_METHODS)
    if n_jobs is not None and n_jobs < 1:
        raise ValueError(f"n_jobs must be >= 1 or None, got {n_jobs}")
    labels, pred_probs = check_labels_and_pred_probs(labels, pred_probs)
    _warn_about_unused_options(filter_by, frac_noise, num_to_remove_per_class, confident_joint)
    n_classes = pred_probs.shape[1]
    if num_to_remove_per_class is not None and np.ndim(num_to_remove_per_class) == 0:
        num_to_remove_per_class = np.full(n_classes, num_to_remove_per_class)
    if num_to_remove_per_class is not None and np.shape(num_to_remove_per_class) != (n_classes,):
        raise ValueError(
            f"num_to_remove_per_class must be one count or K={n_classes} counts (one per class), "
            f"got shape {np.shape(num_to_remove_per_class)}"
        )
    if confident_joint is not None and filter_by in PRUNE_METHODS:
        confident_joint = _check_square(confident_joint, "confident_joint", n_classes)

    groups = group_by_label(labels, n_classes)
    if filter_by == "predicted_neq_given":
        flagged = np.flatnonzero(pred_probs.argmax(axis=1) != labels)
    elif filter_by in SCORE_METHODS:
        flagged = _flag_lowest_scores(labels, pred_probs, groups, SCORE_METHODS[filter_by])
    else:
        computed_joint, off_diagonals = _confident_joint_and_off_diagonals(
            labels, pred_probs, None, groups, calibrate=True
        )
        if filter_by == "confident_learning":
            flagged = off_diagonals
        else:
            if confident_joint is None:
                confident_joint = computed_joint
            prune_matrix = prune_counts(
                confident_joint,
                groups[2],
                min_examples_per_class=min_examples_per_class,
                frac_noise=frac_noise,
                num_to_remove_per_class=num_to_remove_per_class,
            )
            flagged = _flag_pruned(labels, pred_probs, groups, prune_matrix, min_examples_per_class, filter_by)
    if filter_by not in SCORE_METHODS and not flag_predicted_given:
        flagged = unflag_near_given(labels, pred_probs, flagged)
    if verbose:
        log.info("find_label_issues(%s): %d of %d flagged", filter_by, len(flagged), len(labels))

    mask = np.zeros(len(labels), dtype=bool)
    mask[flagged] = True
    if return_indices_ranked_by is None:
        return mask
    scores = compute_label_quality_scores(labels, pred_probs, return_indices_ranked_by, **(rank_by_kwargs or {}))
    return rank_flagged(mask, scores)


def _flag_pruned(labels, pred_probs, groups, prune_matrix, min_examples_per_class, filter_by):
    args = (labels, pred_probs, groups, prune_matrix, min_examples_per_class)
    if filter_by == "prune_by_class":
        mask = _flag_by_class(*args)
    elif filter_by == "prune_by_noise_rate":
        mask = _flag_by_noise_rate(*args)
    else:
        mask = _flag_by_class(*args) & _flag_by_noise_rate(*args)
    return np.flatnonzero(mask)


def _flag_lowest_scores(labels, pred_probs, groups, method):
    """As many lowest-scoring examples as ``num_label_issues`` estimates."""
    _, off_diagonals = _confident_joint_and_off_diagonals(labels, pred_probs, None, groups, calibrate=False)
    n_issues = len(unflag_near_given(labels, pred_probs, off_diagonals))
    scores = compute_label_quality_scores(labels, pred_probs, method)
    return np.sort(smallest(scores, n_issues))


def find_predicted_neq_given(labels, pred_probs, *, multi_label: bool = False) -> np.ndarray:
    """Mask of the examples whose most probable class is not the given label.

    Parameters
    ----------
    labels : array-like of shape (N,)
    pred_probs : ndarray of shape (N, K)

    Returns
    -------
    ndarray of bool, shape (N,)
    """
    if multi_label:
        raise NotImplementedError("multi_label is not supported: cleanrun handles single-label data")
    labels, pred_probs = check_labels_and_pred_probs(labels, pred_probs)
    return pred_probs.argmax(axis=1) != labels


def find_label_issues_using_argmax_confusion_matrix(
    labels,
    pred_probs,
    *,
    calibrate: bool = True,
    filter_by: str = "prune_by_noise_rate",
) -> np.ndarray:
    """:func:`find_label_issues` with the confusion matrix of (given label, argmax) as the joint.

    A simpler baseline than the confident joint: every example counts, towards its argmax.
    """
    labels, pred_probs = check_labels_and_pred_probs(labels, pred_probs)
    n_classes = pred_probs.shape[1]
    flat = labels * n_classes + pred_probs.argmax(axis=1)
    joint = np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    if calibrate:
        joint = calibrate_confident_joint(joint, labels)
    return find_label_issues(labels, pred_probs, confident_joint=joint, filter_by=filter_by)
