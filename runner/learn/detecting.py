"""The detection steps of :class:`~runner.learn.estimator.CleanLearning`: out-of-fold probabilities (one
classifier or an ensemble, over iterative rounds), the detector, and the state the reference leaves.

A mixin of the estimator: its methods read the estimator's parameters and set its fitted state.
"""

from __future__ import annotations

import inspect
import time

import numpy as np
import pandas as pd

from runner.confident.rank import get_label_quality_scores
from runner.contracts import check_detection
from runner.detection import ConfidentLearning, Detection, with_pred_probs
from runner.learn.cv import cached_cross_val_pred_probs, check_fold_sizes
from runner.plugin_names import label, plugin_name

FORBIDDEN_DETECTION_KWARGS = ("return_indices_ranked_by", "multi_label")
IGNORED_DETECTION_KWARGS = ("n_jobs", "verbose")  # accepted for compatibility; detection needs no pool


class _NotGiven(dict):
    """The empty ``find_label_issues_kwargs`` of an instance created without them (``get_params`` says None)."""


class DetectionSteps:
    """Cross-validation and detection of :class:`~runner.learn.estimator.CleanLearning`."""

    def _detect(
        self,
        X,
        labels,
        clf,
        *,
        pred_probs,
        thresholds,
        noise_matrix,
        inverse_noise_matrix,
        clf_kwargs,
        validation_func,
    ) -> Detection:
        """Cross-validate (unless pred_probs are given), detect; stores the detection state."""
        n_classes = self.num_classes
        for name, matrix in (("noise_matrix", noise_matrix), ("inverse_noise_matrix", inverse_noise_matrix)):
            if matrix is not None and np.trace(matrix) <= 1:
                raise ValueError(f"trace({name}) must exceed 1 (labels better than chance), got {np.trace(matrix)}")
        detector = self._detector()
        known = {"noise_matrix": noise_matrix, "inverse_noise_matrix": inverse_noise_matrix, "thresholds": thresholds}
        known = {name: value for name, value in known.items() if value is not None}
        if known and not isinstance(detector, ConfidentLearning):
            raise ValueError(f"{', '.join(known)} can only be given with the confident-learning detector")
        if X is not None and "features" in inspect.signature(detector.detect).parameters:
            known["features"] = X  # detectors that need the rows themselves (runner.filters)
        if pred_probs is not None:
            pred_probs = np.asarray(pred_probs)
            if pred_probs.shape != (len(labels), n_classes):
                raise ValueError(
                    f"pred_probs must have shape (N, K) = ({len(labels)}, {n_classes}), got {pred_probs.shape}"
                )
        else:
            if X is None:
                raise ValueError("X is required for cross-validation when pred_probs are not given")
            check_fold_sizes(labels, self.cv_n_folds, self.classes_)

        self.timings_ = {"cv_s": 0.0, "cv_compute_s": 0.0, "detect_s": 0.0}
        self.cv_cache_hit_ = None
        if pred_probs is None:
            pred_probs = self._cv_pred_probs(clf, X, labels, clf_kwargs, validation_func)
        detection = self._timed_detection(detector, labels, pred_probs, known)
        # Iterative detection: cross-validate again with fold models that no longer learn the
        # flagged labels — without those rows ("drop") or with them relabelled to the label the
        # detection suggests ("relabel") — and detect again on every row: cleaner models give
        # better probabilities. Stop early when the flags stop changing.
        # round_mean: a running sum of the rounds' probabilities (a copy only when asked for).
        rounds_total, n_rounds = (pred_probs.astype(np.float64) if self.round_mean else None), 1
        for _ in range(1, self.detection_rounds):
            if X is None:
                raise ValueError("detection_rounds > 1 needs X: every round cross-validates again")
            flagged = detection.label_issues
            if self.round_mode == "drop":
                retrain = {"train_mask": ~flagged}
            else:
                retrain = {"train_labels": np.where(flagged, _suggested_labels(detection, pred_probs), labels)}
            pred_probs = self._cv_pred_probs(clf, X, labels, clf_kwargs, validation_func, **retrain)
            if self.round_mean:
                rounds_total += pred_probs
                n_rounds += 1
            detection = self._timed_detection(detector, labels, pred_probs, known)
            if np.array_equal(detection.label_issues, flagged):
                break
        if n_rounds > 1:
            pred_probs = (rounds_total / n_rounds).astype(pred_probs.dtype, copy=False)
            detection = self._timed_detection(detector, labels, pred_probs, known)

        mask = np.asarray(detection.label_issues, dtype=bool)
        self.ps = np.bincount(labels, minlength=n_classes) / len(labels)
        self.py, self.confident_joint = detection.py, detection.confident_joint
        self.noise_matrix, self.inverse_noise_matrix = detection.noise_matrix, detection.inverse_noise_matrix
        self.pred_probs = pred_probs
        self.label_issues_mask = mask
        frame = {"is_label_issue": mask}
        if detection.label_quality is not None:
            frame["label_quality"] = detection.label_quality
        frame["given_label"] = self.classes_[labels]
        frame["predicted_label"] = self.classes_[_suggested_labels(detection, pred_probs)]
        self.label_issues_df = pd.DataFrame(frame)
        if self.detector is None:
            self._store_detection_kwargs(detection.confident_joint)
        self._log("detection: %d of %d examples flagged", mask.sum(), len(labels))
        return detection

    def _store_detection_kwargs(self, confident_joint):
        """Leave in ``find_label_issues_kwargs`` what the detection used, as the reference does.

        That is the defaults merged in and the estimated ``confident_joint`` (unless the caller
        gave one or chose ``filter_by="confident_learning"``): code written for the reference
        reads it there. The caller's own value is kept aside: ``get_params`` (hence ``clone``)
        and the next ``fit`` use it, so a second fit still starts fresh.
        """
        given = self._given_detection_kwargs()
        merged = {"min_examples_per_class": ConfidentLearning.min_examples_per_class, **(given or {})}
        if "confident_joint" not in merged and merged.get("filter_by") != "confident_learning":
            merged["confident_joint"] = confident_joint
        added = {name: value for name, value in merged.items() if name not in (given or {})}
        self.find_label_issues_kwargs = merged
        self._stored_detection_kwargs = (merged, dict(merged), given, added)

    def _given_detection_kwargs(self):
        """``find_label_issues_kwargs`` as the caller set them, without what detection stored.

        A dict replaced (``set_params``) is the caller's; one changed in place keeps the
        caller's changes but loses the entries detection added.
        """
        current = self.find_label_issues_kwargs
        if type(current) is _NotGiven and not current:
            return None
        stored = self.__dict__.get("_stored_detection_kwargs")
        if stored is None or current is not stored[0]:
            return current
        _, snapshot, given, added = stored
        if current.keys() == snapshot.keys() and all(current[name] is value for name, value in snapshot.items()):
            return given
        return {name: value for name, value in current.items() if not (name in added and added[name] is value)}

    def _cv_pred_probs(self, clf, X, labels, clf_kwargs, validation_func, members=None, **retrain):
        """Out-of-fold probabilities of ``clf`` — or the mean over the ``ensemble`` members'."""
        started = time.perf_counter()
        members = members or (list(self.ensemble) if self.ensemble else [clf])
        total, hits = None, []
        for member in members:
            probs, hit, seconds = cached_cross_val_pred_probs(
                member,
                X,
                labels,
                cache_dir=self.cv_cache_dir,
                n_folds=self.cv_n_folds,
                seed=self.seed,
                n_jobs=self.n_jobs,
                backend=self.cv_backend,
                scheduler_address=self.cv_scheduler_address,
                fit_kwargs=clf_kwargs,
                validation_func=validation_func,
                threads_per_fit=self.threads_per_fit,
                dtype=np.dtype(self.pred_probs_dtype),
                **retrain,
            )
            total = probs if total is None else total + probs
            hits.append(hit)
            self.timings_["cv_compute_s"] += seconds
        # The cache hit of the first cross-validation is the run's (later rounds never were).
        if self.cv_cache_hit_ is None:
            self.cv_cache_hit_ = all(hits)
        self.timings_["cv_s"] += time.perf_counter() - started
        return total / len(members) if len(members) > 1 else total

    def _timed_detection(self, detector, labels, pred_probs, known):
        started = time.perf_counter()
        detection = check_detection(
            detector.detect(labels, pred_probs, **known),
            len(labels),
            self.num_classes,
            plugin_name(detector),
            labels=labels,
        )
        # The strategies that relabel need pred_probs, which the detector may leave out: they are these.
        detection = with_pred_probs(detection, pred_probs)
        self.timings_["detect_s"] += time.perf_counter() - started
        return detection

    def _detector(self):
        """The detector: ``detector`` if set, else confident learning configured as the reference."""
        if self.detector is not None:
            if not callable(getattr(self.detector, "detect", None)):
                raise TypeError(
                    f"{label('detector', plugin_name(self.detector))} needs a detect(labels, pred_probs) method"
                )
            return self.detector
        options = dict(self._given_detection_kwargs() or {})
        for name in FORBIDDEN_DETECTION_KWARGS:
            if name in options:
                raise ValueError(f"find_label_issues_kwargs may not contain {name!r}")
        for name in IGNORED_DETECTION_KWARGS:
            options.pop(name, None)
        scoring = dict(self.label_quality_scores_kwargs or {})
        if "method" in scoring:
            scoring["rank_by"] = scoring.pop("method")
        try:
            return ConfidentLearning(
                **options,
                **scoring,
                converge_latent_estimates=self.converge_latent_estimates,
                pulearning=self.pulearning,
            )
        except TypeError as error:
            raise ValueError(
                f"unknown option in find_label_issues_kwargs / label_quality_scores_kwargs: {error}"
            ) from None

    def _given_issues(self, label_issues, labels, encoded, pred_probs) -> Detection:
        """A Detection from caller-supplied issues (DataFrame, bool mask or int indices)."""
        n = len(encoded)
        if isinstance(label_issues, pd.DataFrame):
            if "is_label_issue" not in label_issues.columns:
                raise ValueError("a label_issues DataFrame needs an 'is_label_issue' column")
            if len(label_issues) != n:
                raise ValueError(f"label_issues has {len(label_issues)} rows for {n} labels")
            if "given_label" in label_issues.columns and not np.array_equal(
                label_issues["given_label"].to_numpy(), np.asarray(labels)
            ):
                raise ValueError("label_issues['given_label'] differs from the labels passed to fit")
            frame = label_issues.copy()
        else:
            issues = np.asarray(label_issues)
            if issues.dtype == bool:
                if issues.shape != (n,):
                    raise ValueError(f"a label_issues mask must have shape ({n},), got {issues.shape}")
                mask = issues
            elif issues.dtype.kind in "iu" and issues.ndim == 1:
                if len(np.unique(issues)) != len(issues) or (issues.size and (issues.min() < 0 or issues.max() >= n)):
                    raise ValueError("label_issues indices must be unique and within 0..N-1")
                mask = np.zeros(n, dtype=bool)
                mask[issues] = True
            else:
                raise ValueError("label_issues must be a DataFrame, a boolean mask or an array of integer indices")
            frame = pd.DataFrame({"is_label_issue": mask})
        if "label_quality" not in frame.columns and pred_probs is not None:
            frame["label_quality"] = get_label_quality_scores(
                encoded, pred_probs, **(self.label_quality_scores_kwargs or {})
            )
        self.label_issues_df = frame
        noise_matrix = self.noise_matrix
        if noise_matrix is not None and np.shape(noise_matrix) != (self.num_classes, self.num_classes):
            noise_matrix = None
        return Detection(
            label_issues=frame["is_label_issue"].to_numpy(dtype=bool),
            label_quality=frame["label_quality"].to_numpy() if "label_quality" in frame.columns else None,
            pred_probs=None if pred_probs is None else np.asarray(pred_probs),
            noise_matrix=noise_matrix,
        )


def _suggested_labels(detection: Detection, pred_probs: np.ndarray) -> np.ndarray:
    """The label the detection suggests for every row: the argmax of its ``pred_probs`` (the
    out-of-fold prediction, or e.g. NoisePosterior's most probable true class, which is what
    strategy "relabel" trains on), else of the out-of-fold probabilities."""
    suggestion = pred_probs if detection.pred_probs is None else np.asarray(detection.pred_probs)
    return suggestion.argmax(axis=1)
