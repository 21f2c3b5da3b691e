"""Label-quality scores: how likely each given label is to be correct, in [0, 1].

Lower is more suspicious. Three scores of one example ``i`` with given label ``s_i``:

* ``self_confidence`` — ``P[i, s_i]``;
* ``normalized_margin`` — ``(P[i, s_i] - max_{k != s_i} P[i, k] + 1) / 2``;
* ``confidence_weighted_entropy`` — ``log(1 + x) / x`` with ``x = H_i / P[i, s_i]`` and
  ``H_i`` the entropy of row ``i`` normalised by ``log K``.

``adjust_pred_probs`` first subtracts each class's confident threshold (its mean
self-confidence) from its column, which removes the bias towards classes the model favours.
Scores keep the dtype of ``pred_probs`` (entropy-based ones are float64); passes that need an
(N, K) temporary run over bounded blocks of rows.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.special import xlogy
from sklearn.metrics import log_loss

from runner.confident._validation import check_choice, check_labels_and_pred_probs
from runner.confident.count import _thresholds, group_by_label, row_blocks, self_confidence

log = logging.getLogger(__name__)

RANK_METHODS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
ENSEMBLE_WEIGHTINGS = ("uniform", "accuracy", "log_loss_search", "custom")
SCORE_FLOOR = 1e-6  # floor of denominators in the entropy score
LOG_LOSS_FLOOR = 1e-6  # probabilities are clipped to this before a log loss, as in the reference


def get_self_confidence_for_each_label(labels, pred_probs) -> np.ndarray:
    """``P[i, s_i]``: the predicted probability of the given label.

    Parameters
    ----------
    labels : ndarray of shape (N,)
    pred_probs : ndarray of shape (N, K)

    Returns
    -------
    ndarray of shape (N,), dtype of ``pred_probs``
    """
    labels, pred_probs = check_labels_and_pred_probs(labels, pred_probs, allow_one_class=True)
    return self_confidence(labels, pred_probs)


def _max_other(labels, block) -> np.ndarray:
    """Largest probability of a class other than the given one, per row of a block."""
    others = block.copy()
    others[np.arange(len(block)), labels] = -np.inf
    return others.max(axis=1)


def _normalized_margin(labels, pred_probs) -> np.ndarray:
    scores = np.empty(len(labels), dtype=pred_probs.dtype)
    for rows in row_blocks(len(labels)):
        block, given = pred_probs[rows], labels[rows]
        scores[rows] = (self_confidence(given, block) - _max_other(given, block) + 1) / 2
    return scores


def get_normalized_margin_for_each_label(labels, pred_probs) -> np.ndarray:
    """``(P[i, s_i] - max_{k != s_i} P[i, k] + 1) / 2``: the margin of the given label, in [0, 1].

    Parameters
    ----------
    labels : ndarray of shape (N,)
    pred_probs : ndarray of shape (N, K)

    Returns
    -------
    ndarray of shape (N,), dtype of ``pred_probs``
    """
    labels, pred_probs = check_labels_and_pred_probs(labels, pred_probs, allow_one_class=True)
    return _normalized_margin(labels, pred_probs)


def _normalized_entropy(block) -> np.ndarray:
    """Entropy of each row divided by ``log K`` (``xlogy`` makes 0 log 0 = 0), float64."""
    return -np.sum(xlogy(block, block), axis=1) / np.log(block.shape[1])


def _confidence_weighted_entropy(labels, pred_probs) -> np.ndarray:
    if pred_probs.min() < 0 or pred_probs.max() > 1:
        raise ValueError("confidence_weighted_entropy needs every probability in [0, 1] exactly")
    scores = np.empty(len(labels), dtype=np.float64)
    for rows in row_blocks(len(labels)):
        block, given = pred_probs[rows], labels[rows]
        x = _normalized_entropy(block) / np.maximum(self_confidence(given, block), SCORE_FLOOR)
        scores[rows] = np.log(x + 1) / np.maximum(x, SCORE_FLOOR)
    return scores


def get_confidence_weighted_entropy_for_each_label(labels, pred_probs) -> np.ndarray:
    """Entropy of the prediction, weighted by the confidence in the given label, mapped to [0, 1].

    An exactly one-hot row has zero entropy and scores 0 (the worst), as in the reference.

    Parameters
    ----------
    labels : ndarray of shape (N,)
    pred_probs : ndarray of shape (N, K)

    Returns
    -------
    ndarray of shape (N,), float64
    """
    labels, pred_probs = check_labels_and_pred_probs(labels, pred_probs, allow_one_class=True)
    return _confidence_weighted_entropy(labels, pred_probs)


def _adjusted_rows(block, thresholds) -> np.ndarray:
    """Rows with each class's threshold subtracted (shifted to stay >= 0), renormalised."""
    shifted = block - thresholds + thresholds.max()
    return shifted / shifted.sum(axis=1)[:, None]


_SCORERS = {
    "self_confidence": self_confidence,
    "normalized_margin": _normalized_margin,
    "confidence_weighted_entropy": _confidence_weighted_entropy,
}


def compute_label_quality_scores(labels, pred_probs, method, adjust_pred_probs=False):
    """Scores of already validated inputs (the shared core of the public scoring functions)."""
    check_choice("method", method, RANK_METHODS)
    scorer = _SCORERS[method]
    if not adjust_pred_probs:
        return scorer(labels, pred_probs)
    if method == "confidence_weighted_entropy":
        raise ValueError("adjust_pred_probs=True is not supported with confidence_weighted_entropy")
    thresholds = _thresholds(labels, pred_probs, group_by_label(labels, pred_probs.shape[1]))
    blocks = [scorer(labels[rows], _adjusted_rows(pred_probs[rows], thresholds)) for rows in row_blocks(len(labels))]
    return np.concatenate(blocks)


def get_label_quality_scores(
    labels,
    pred_probs,
    *,
    method: str = "self_confidence",
    adjust_pred_probs: bool = False,
) -> np.ndarray:
    """Score every label's quality; lower scores are more likely label errors.

    Parameters
    ----------
    labels : array-like of shape (N,)
        Given labels, integers in ``0..K-1``.
    pred_probs : ndarray of shape (N, K)
        Out-of-fold predicted probabilities.
    method : {"self_confidence", "normalized_margin", "confidence_weighted_entropy"}
    adjust_pred_probs : bool, default False
        Subtract per-class confident thresholds from ``pred_probs`` before scoring (not with
        ``confidence_weighted_entropy``).

    Returns
    -------
    ndarray of shape (N,)
        Scores in [0, 1].

    Raises
    ------
    ValueError
        Invalid inputs, an unknown method (the valid ones are listed).

    Examples
    --------
    >>> get_label_quality_scores(np.array([0, 1]), np.array([[.9, .1], [.6, .4]]))
    array([0.9, 0.4])
    """
    check_choice("method", method, RANK_METHODS)
    labels, pred_probs = check_labels_and_pred_probs(labels, pred_probs, allow_one_class=True)
    return compute_label_quality_scores(labels, pred_probs, method, adjust_pred_probs)


def rank_flagged(label_issues_mask, scores) -> np.ndarray:
    """Indices of the flagged examples, most suspicious (lowest score) first."""
    flagged = np.flatnonzero(label_issues_mask)
    return flagged[np.argsort(scores[flagged])]


def order_label_issues(
    label_issues_mask,
    labels,
    pred_probs,
    *,
    rank_by: str = "self_confidence",
    rank_by_kwargs=None,
) -> np.ndarray:
    """Order the flagged examples by label quality, most likely mislabeled first.

    Parameters
    ----------
    label_issues_mask : ndarray of bool, shape (N,)
    labels : array-like of shape (N,)
    pred_probs : ndarray of shape (N, K)
    rank_by : {"self_confidence", "normalized_margin", "confidence_weighted_entropy"}
    rank_by_kwargs : dict, optional
        Passed to :func:`get_label_quality_scores` (e.g. ``adjust_pred_probs``).

    Returns
    -------
    ndarray of int64
        Indices of the flagged examples.
    """
    check_choice("rank_by", rank_by, RANK_METHODS)
    labels, pred_probs = check_labels_and_pred_probs(labels, pred_probs)
    mask = np.asarray(label_issues_mask, dtype=bool)
    if mask.shape != labels.shape:
        raise ValueError(f"label_issues_mask must have shape {labels.shape}, got {mask.shape}")
    scores = compute_label_quality_scores(labels, pred_probs, rank_by, **(rank_by_kwargs or {}))
    return rank_flagged(mask, scores)


def find_top_issues(quality_scores, *, top: int | None = 10) -> np.ndarray:
    """Indices of the ``top`` lowest scores, lowest first (all of them if ``top`` is None)."""
    quality_scores = np.asarray(quality_scores)
    order = np.argsort(quality_scores)
    return order if top is None else order[:top]


def _log_loss(labels, pred_probs) -> float:
    """Log loss of the given labels, with probabilities floored at 1e-6 (rows renormalised)."""
    n_classes = pred_probs.shape[1]
    clipped = np.clip(pred_probs, LOG_LOSS_FLOOR, None)
    return log_loss(labels, clipped / clipped.sum(axis=1)[:, None], labels=np.arange(n_classes))


def _ensemble_weights(labels, pred_probs_list, weighting, custom_weights, t_values):
    """One weight per member; custom weights are used as given (not normalised)."""
    if weighting == "accuracy":
        accuracy = np.array([np.mean(p.argmax(axis=1) == labels) for p in pred_probs_list])
        return accuracy / accuracy.sum()
    if weighting == "custom":
        if custom_weights is None or len(custom_weights) != len(pred_probs_list):
            raise ValueError("custom_weights must have one weight per member of pred_probs_list")
        return np.asarray(custom_weights, dtype=np.float64)
    # log_loss_search: weights exp(-t * log_loss); pick the t whose weighted average of the
    # members' probabilities has the lowest (unclipped) log loss itself.
    classes = np.arange(pred_probs_list[0].shape[1])
    losses = np.array([_log_loss(labels, p) for p in pred_probs_list])
    best_loss, best_weights = np.inf, None
    for t in t_values:
        weights = np.exp(-t * losses)
        weights = weights / weights.sum()
        averaged = sum(w * p for w, p in zip(weights, pred_probs_list))
        loss = log_loss(labels, averaged, labels=classes)
        if loss < best_loss:
            best_loss, best_weights = loss, weights
    return best_weights


def get_label_quality_ensemble_scores(
    labels,
    pred_probs_list,
    *,
    method: str = "self_confidence",
    adjust_pred_probs: bool = False,
    weight_ensemble_members_by: str = "accuracy",
    custom_weights=None,
    log_loss_search_T_values=(1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2, 2e2),
    verbose: bool = False,
) -> np.ndarray:
    """Label-quality scores averaged over an ensemble of models.

    Parameters
    ----------
    labels : array-like of shape (N,)
    pred_probs_list : list of ndarray of shape (N, K)
        One array of out-of-fold probabilities per model.
    method, adjust_pred_probs
        As in :func:`get_label_quality_scores`.
    weight_ensemble_members_by : {"uniform", "accuracy", "log_loss_search", "custom"}
        ``accuracy`` weighs each model by its accuracy on the given labels;
        ``log_loss_search`` by ``exp(-t * log_loss)`` with the ``t`` (from
        ``log_loss_search_T_values``) whose weighted average of probabilities fits the labels
        best; ``custom`` uses ``custom_weights``.
    custom_weights : array-like of shape (len(pred_probs_list),), optional
        One weight per model; only with ``weight_ensemble_members_by="custom"`` (anything else
        refuses them rather than ignoring them silently).

    Returns
    -------
    ndarray of shape (N,)
    """
    check_choice("weight_ensemble_members_by", weight_ensemble_members_by, ENSEMBLE_WEIGHTINGS)
    check_choice("method", method, RANK_METHODS)
    if custom_weights is not None and weight_ensemble_members_by != "custom":
        raise ValueError(
            f"custom_weights are only used with weight_ensemble_members_by='custom', got {weight_ensemble_members_by!r}"
        )
    if not isinstance(pred_probs_list, (list, tuple)) or not pred_probs_list:
        raise ValueError("pred_probs_list must be a non-empty list of (N, K) arrays")
    checked = [check_labels_and_pred_probs(labels, p, allow_one_class=True) for p in pred_probs_list]
    labels = checked[0][0]
    members = [p for _, p in checked]
    if len({p.shape for p in members}) > 1:
        raise ValueError("every array in pred_probs_list must have the same shape")
    scores = [compute_label_quality_scores(labels, p, method, adjust_pred_probs) for p in members]
    if weight_ensemble_members_by == "uniform":
        return np.mean(scores, axis=0)
    weights = _ensemble_weights(labels, members, weight_ensemble_members_by, custom_weights, log_loss_search_T_values)
    log.debug("ensemble weights: %s", weights)
    return sum(w * s for w, s in zip(weights, scores))
