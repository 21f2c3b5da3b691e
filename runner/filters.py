"""Classical noise filters as detectors: the standard baselines a label-cleaning method is compared with.

:class:`VoteFilter`
    The majority- and consensus-vote filters of Brodley & Friedl (JAIR 1999): every classifier
    of a set predicts each training row out of fold; a row is flagged when more than half of the
    classifiers (``rule="majority"``) or all of them (``rule="consensus"``) predict a class other
    than its given label.
:class:`EditedNearestNeighbours`
    Wilson's editing (1972): a row is flagged when its given label is not the most common label
    among its ``n_neighbors`` nearest training rows (itself excluded).

Both need the training features, which the learner passes to a detector whose ``detect`` has a
``features`` keyword (see :class:`runner.detection.Detector`); the out-of-fold probabilities of
the run's own classifier are not used by either. Like every detector they return a
:class:`~runner.detection.Detection`; neither estimates a noise matrix.

Symbols: N training rows, K classes; labels are integer codes ``0..K-1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

from runner.detection import Detection
from runner.learn.cv import cached_cross_val_pred_probs

__all__ = ["EditedNearestNeighbours", "VoteFilter", "keep_classes"]

VOTE_RULES = ("majority", "consensus")


@dataclass
class VoteFilter:
    """Flag the rows that a set of classifiers, each predicting out of fold, misclassifies.

    Parameters
    ----------
    classifiers : dict or list of estimators
        The voters (each with ``fit`` and ``predict_proba``; cloned for every fold). A dict, as
        the YAML options give it (``{name: estimator}``), or a list.
    rule : {"majority", "consensus"}
        Flag a row when more than half of the voters misclassify it, or when every one does.
    folds : int
        Cross-validation folds of each voter (stratified, shuffled with ``seed``: the same folds
        as the run's own cross-validation).
    seed : int, optional
        ``random_state`` of the fold shuffle.
    threads_per_fit : int or None
        BLAS/OpenMP threads of every fold fit (None: no cap).
    cache_dir : str or path, optional
        The out-of-fold probabilities cache (:mod:`runner.cache`): a voter that is also the run's
        classifier, or that another job of a sweep already cross-validated, costs nothing.
    min_examples_per_class : int
        Never flag so many rows of a class that fewer than this many (or than it has, if fewer)
        stay unflagged: the rows of that class with the best label quality are kept.

    Notes
    -----
    The detection's ``label_quality`` is the voters' mean probability of the given label, and its
    ``pred_probs`` their mean out-of-fold probabilities (``strategy=relabel`` suggests its argmax).
    """

    classifiers: dict | list = field(default_factory=dict)
    rule: str = "majority"
    folds: int = 5
    seed: int | None = None
    threads_per_fit: int | None = 1
    cache_dir: str | None = None
    min_examples_per_class: int = 10

    def __post_init__(self):
        # Refused at instantiation, before any cross-validation is paid for.
        if self.rule not in VOTE_RULES:
            raise ValueError(f"VoteFilter: rule must be one of {', '.join(VOTE_RULES)}, got {self.rule!r}")
        if not self.voters():
            raise ValueError("VoteFilter: classifiers is empty; give at least one classifier to vote")
        for voter in self.voters():
            if not callable(getattr(voter, "predict_proba", None)):
                raise TypeError(f"VoteFilter: every classifier needs predict_proba; {type(voter).__name__} has none")

    def voters(self) -> list:
        """The classifiers, as a list."""
        return list(self.classifiers.values()) if isinstance(self.classifiers, dict) else list(self.classifiers)

    def detect(self, labels, pred_probs, *, features=None) -> Detection:
        """Flag the rows the voters misclassify; ``features`` (N, ...) are the training features."""
        if features is None:
            raise ValueError("VoteFilter needs the training features: use it through CleanLearning.fit(X, ...)")
        labels = np.asarray(labels)
        n_classes = pred_probs.shape[1]
        wrong = np.zeros(len(labels), dtype=np.int64)
        total = np.zeros((len(labels), n_classes))
        for voter in self.voters():
            probs = cached_cross_val_pred_probs(
                voter,
                features,
                labels,
                cache_dir=self.cache_dir,
                n_folds=self.folds,
                seed=self.seed,
                threads_per_fit=self.threads_per_fit,
            ).pred_probs
            wrong += probs.argmax(axis=1) != labels
            total += probs
        n_voters = len(self.voters())
        flagged = wrong == n_voters if self.rule == "consensus" else 2 * wrong > n_voters
        mean = total / n_voters
        quality = np.clip(mean[np.arange(len(labels)), labels], 0.0, 1.0)
        return Detection(
            label_issues=keep_classes(flagged, labels, quality, self.min_examples_per_class, n_classes),
            label_quality=quality,
            pred_probs=mean,
        )


@dataclass
class EditedNearestNeighbours:
    """Flag the rows whose given label is not the most common one among their nearest neighbours.

    Parameters
    ----------
    n_neighbors : int
        Neighbours consulted per row (Wilson's rule uses 3), the row itself excluded.
    metric : str
        Any distance of :class:`sklearn.neighbors.NearestNeighbors` (features should be on
        comparable scales: the runner standardises them by default).
    threads_per_fit : int or None
        BLAS/OpenMP threads of the neighbour search (None: no cap).
    min_examples_per_class : int
        As in :class:`VoteFilter`.

    Notes
    -----
    A row is flagged when another class has strictly more of its neighbours than its given label
    (a tie with its own label keeps it). ``label_quality`` is the share of neighbours with the
    given label; ``pred_probs`` each class's share (``strategy=relabel`` suggests the most common
    one).
    """

    n_neighbors: int = 3
    metric: str = "euclidean"
    threads_per_fit: int | None = 1
    min_examples_per_class: int = 10

    def __post_init__(self):
        if not isinstance(self.n_neighbors, int) or self.n_neighbors < 1:
            raise ValueError(f"EditedNearestNeighbours: n_neighbors must be an integer >= 1, got {self.n_neighbors!r}")

    def detect(self, labels, pred_probs, *, features=None) -> Detection:
        """Flag the rows their neighbours outvote; ``features`` (N, ...) are the training features."""
        if features is None:
            raise ValueError(
                "EditedNearestNeighbours needs the training features: use it through CleanLearning.fit(X, ...)"
            )
        labels = np.asarray(labels)
        n_samples, n_classes = pred_probs.shape
        if self.n_neighbors >= n_samples:
            raise ValueError(
                f"EditedNearestNeighbours: n_neighbors={self.n_neighbors} needs more than {self.n_neighbors} rows, "
                f"got {n_samples}"
            )
        with threadpool_limits(limits=self.threads_per_fit):
            # kneighbors() without X leaves each row out of its own neighbourhood.
            neighbours = (
                NearestNeighbors(n_neighbors=self.n_neighbors, metric=self.metric)
                .fit(features)
                .kneighbors(return_distance=False)
            )
        shares = np.zeros((n_samples, n_classes))
        np.add.at(shares, (np.repeat(np.arange(n_samples), self.n_neighbors), labels[neighbours].ravel()), 1.0)
        shares /= self.n_neighbors
        own = shares[np.arange(n_samples), labels]
        flagged = own < shares.max(axis=1)
        return Detection(
            label_issues=keep_classes(flagged, labels, own, self.min_examples_per_class, n_classes),
            label_quality=own,
            pred_probs=shares,
        )


def keep_classes(flagged, labels, quality, min_examples_per_class: int, n_classes: int) -> np.ndarray:
    """Unflag, in each class, the best-scored flagged rows until ``min_examples_per_class`` rows stay.

    A class with fewer rows than that keeps every row. The final fit needs every class.

    Parameters
    ----------
    flagged : ndarray of bool, shape (N,)
    labels : ndarray of shape (N,)
    quality : ndarray of shape (N,)
        Label quality (higher: more likely right); ties keep the earlier row.
    min_examples_per_class : int
    n_classes : int

    Returns
    -------
    ndarray of bool, shape (N,)
    """
    flagged = np.array(flagged, dtype=bool)
    counts = np.bincount(labels, minlength=n_classes)
    kept = np.bincount(labels[~flagged], minlength=n_classes)
    for label in np.flatnonzero(kept < np.minimum(min_examples_per_class, counts)):
        rows = np.flatnonzero(flagged & (labels == label))
        best = rows[np.argsort(-quality[rows], kind="stable")]
        flagged[best[: min(min_examples_per_class, counts[label]) - kept[label]]] = False
    return flagged
