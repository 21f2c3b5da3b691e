"""The cleaning check as :class:`~runner.learn.estimator.CleanLearning` runs it (``validate_cleaning``).

The candidates are cross-fitted here: on each training part of :func:`runner.learn.check.held_out_folds` the
learner's own detection and strategy run alone, the classifier is fitted on all of the part and on what the
strategy keeps of it (or of each share of its flags, the most suspicious first), and both predict the held-out
rows; with trusted rows, both candidates predict those instead, cross-fitted over halves of them. What the
predictions are scored by, and when cleaning wins, is :mod:`runner.learn.check`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from runner.detection import Detection
from runner.learn.check import (
    VALIDATION_INNER_FOLDS,
    check_cleaning,
    check_on_trusted,
    gate_margin,
    held_out_folds,
)
from runner.learn.cv import _fit_fold, take_rows
from runner.learn.detecting import _suggested_labels
from runner.plugin_names import label, plugin_name
from runner.strategies import TrainingSet, check_training_set, get_strategy, select_checked


class CleaningCheckSteps:
    """The cleaning check of :class:`~runner.learn.estimator.CleanLearning` (``validate_cleaning``; a mixin)."""

    def _validated(self, detection, select, X, labels, clf, clf_kwargs, sample_weight, weight_key):
        """What ``select`` (the strategy) keeps of ``detection``'s flags, or of the share of them the held-out rows
        chose (``validation_shares``), if it beats every row (runner.learn.guard); else every row."""
        if self.validation_shares is not None and detection.label_quality is None:
            raise ValueError("validation_shares ranks the flags by label quality; the detection gave none")
        check = self._given_label_check(X, labels, clf, clf_kwargs, sample_weight, weight_key)
        if check is not None and check.use_cleaning:
            return select(top_flags(detection, self.cleaning_share_))
        return TrainingSet(np.arange(len(labels)), labels, sample_weight)

    def _given_label_check(self, X, labels, clf, clf_kwargs, sample_weight, weight_key):
        """The held-out comparison of the candidates on given labels (``cleaning_check_``; None when a class is
        too small to split), reading this learner's detection of ``labels`` (its noise matrix and ``pred_probs``)."""
        if X is None:
            raise ValueError("validate_cleaning needs X: it cross-validates the cleaned rows")
        self.validation_pred_probs_, self.cleaning_share_ = None, None
        folds = held_out_folds(labels, self.validation_folds, self.seed)
        if folds is None:
            self._log(
                "validate_cleaning: a class has too few rows to split in %d folds and cross-validate each "
                "training part in %d; every row kept",
                self.validation_folds,
                VALIDATION_INNER_FOLDS,
            )
            self.cleaning_check_, self.cleaning_checks_ = None, {}
            return None
        shares = self.validation_shares or (1.0,)
        kept_probs, cleaned_probs = self._cross_fitted_probs(
            X, labels, clf, clf_kwargs, sample_weight, weight_key, folds, shares
        )
        criterion = self.validation_criterion
        if self.noise_matrix is None and (criterion == "corrected" or criterion.startswith("forward_")):
            criterion = "given" if criterion == "corrected" else criterion.removeprefix("forward_")
            self._log("validate_cleaning: the detector estimated no noise matrix; scoring by %s", criterion)
        margin = gate_margin(
            self.validation_gate,
            labels,
            self.noise_matrix,
            self.pred_probs,
            min_count=self.validation_min_count,
            random_state=self.seed,
        )
        checks = {
            share: {
                name: check_cleaning(
                    labels,
                    kept_probs,
                    cleaned_probs[share],
                    noise_matrix=self.noise_matrix,
                    criterion=name,
                    min_z=self.validation_min_z,
                    gate_margin=margin,
                )
                for name in dict.fromkeys([criterion, "given"])
            }
            for share in shares
        }
        # Of the shares that pass, the one that wins by most standard errors; the larger on a tie.
        passing = [share for share in shares if checks[share][criterion].use_cleaning]
        best = max(passing or shares, key=lambda share: (checks[share][criterion].z, share))
        self.cleaning_share_ = best if passing else None
        self.validation_pred_probs_ = {"kept": kept_probs, "cleaned": cleaned_probs[best]}
        self.cleaning_checks_ = checks[best]
        self.cleaning_check_ = check = self.cleaning_checks_[criterion]
        self._log(
            "validate_cleaning (%s): held-out score %.4f with every row, %.4f cleaned: %s",
            criterion,
            check.kept_score,
            check.cleaned_score,
            "cleaning used" if check.use_cleaning else "every row kept",
        )
        return check

    def _cross_fitted_probs(self, X, labels, clf, clf_kwargs, sample_weight, weight_key, folds, shares):
        """Each held-out fold predicted by ``clf`` trained on the other rows: on all of them, and on what
        this learner's detection and strategy keep of them when they see those rows alone (for each share of
        the flags, the most suspicious first: ``{share: probabilities}``).

        Detecting on the training part alone matters: flags from the full cross-validation come from fold
        models that learned the predicted fold's given labels, so cleaned models trained on them agree
        with those labels, noise included, and the check would favour cleaning (see :mod:`runner.learn.guard`).
        """
        n_classes = self.num_classes
        kept_probs = np.zeros((len(labels), n_classes))
        cleaned_probs = {share: np.zeros((len(labels), n_classes)) for share in shares}
        inner = self.get_params(deep=False) | dict(
            validate_cleaning=False,
            skip_final_fit=True,
            verbose=False,
            cv_n_folds=VALIDATION_INNER_FOLDS,
        )
        for train, held in folds:
            weights = None if sample_weight is None else sample_weight[train]
            part = type(self)(**inner).fit(
                take_rows(X, train), labels[train], sample_weight=weights, clf_kwargs=clf_kwargs
            )
            # The check's cost counts as this learner's: its cross-validations and detections, and the fits below.
            for name in ("cv_s", "cv_compute_s", "detect_s"):
                self.timings_[name] += part.timings_[name]
            # The same fit-and-predict as a fold of the cross-validation; the cleaned rows keep the labels
            # the part's strategy gave them (encoded by the part's own classes_: the classes it has).
            fits = [(kept_probs, train, labels, weights)]
            for share in shares:
                cleaned = part._kept_share(share, labels[train], weights)
                cleaned_rows, cleaned_labels = train[cleaned.rows], labels.copy()
                cleaned_labels[cleaned_rows] = part.classes_[cleaned.labels]
                fits.append((cleaned_probs[share], cleaned_rows, cleaned_labels, cleaned.sample_weight))
            for probs, rows, fit_labels, fit_weights in fits:
                fit_kwargs = dict(clf_kwargs or {})
                if fit_weights is not None and weight_key is not None:
                    fit_kwargs[weight_key] = fit_weights
                probs[held] = self._candidate_probs(clf, X, fit_labels, rows, held, fit_kwargs)
        return kept_probs, cleaned_probs

    def _kept_share(self, share, labels, sample_weight) -> TrainingSet:
        """What this fitted learner's strategy keeps of ``labels`` when only ``share`` of its flags count."""
        if share >= 1:
            return self.training_set_
        codes = np.searchsorted(self.classes_, labels)
        strategy = get_strategy(self.strategy)
        return select_checked(
            strategy,
            top_flags(self._detection, share),
            codes,
            sample_weight,
            self.num_classes,
            plugin_name(strategy),
            allow_negative_weights=sample_weight is not None and bool(np.any(sample_weight < 0)),
        )

    def _candidate_probs(self, clf, X, labels, rows, held, fit_kwargs) -> np.ndarray:
        """``clf`` fitted on ``rows`` predicts ``held``, as a fold of the cross-validation; the fit counts as one."""
        probs, seconds = _fit_fold(clf, X, labels, rows, held, self.num_classes, fit_kwargs, None, self.threads_per_fit)
        self.timings_["cv_s"] += seconds
        self.timings_["cv_compute_s"] += seconds
        return probs

    def _judged_by_trusted(
        self, X, labels, trusted, clf, strategy, strategy_name, sample_weight, weight_key, detect_kwargs
    ) -> TrainingSet:
        """Detect and clean the untrusted rows alone, then cross-fit the two candidates over halves of the trusted
        rows: ``clf`` fitted on every untrusted row and on the cleaned ones, each with one half of the trusted rows,
        predicts the other half, whose verified labels judge the two (``trusted_check_``; with ``validate_cleaning``
        the verdict, or with ``validation_trusted_rule="either"`` one of two: where the verified labels do not
        score the cleaned model lower, the given-label check of the untrusted rows may choose the cleaning too).
        The trusted rows then join the chosen training set.

        Detection must not see the trusted rows: flags from fold models that learned their labels would make the
        cleaned model agree with them more than it deserves. The candidates do see half of them, weighted twice
        (or, for a classifier without weights, repeated), as the final fit sees all of them: on labels as noisy
        as a flipped majority class, a few hundred verified rows can move a model more than the cleaning does,
        and a verdict on candidates without them would judge another choice than the final fit's.
        """
        if X is None:
            raise ValueError("trusted rows need X: the two candidate models are fitted to predict them")
        rows, judges = np.flatnonzero(~trusted), np.flatnonzero(trusted)
        given_probs = detect_kwargs.pop("pred_probs")
        if given_probs is not None:
            given_probs = np.asarray(given_probs)[rows]
        detection = self._detect(take_rows(X, rows), labels[rows], clf, pred_probs=given_probs, **detect_kwargs)
        weights = None if sample_weight is None else sample_weight[rows]
        negative = sample_weight is not None and bool(np.any(sample_weight < 0))
        # The strategy's cleaning first ("strategy"), then any other the verified rows may choose instead.
        strategies = {"strategy": (strategy, strategy_name)} | {
            name: (get_strategy(other), label("validation strategy", name))
            for name, other in (self.validation_strategies or {}).items()
        }
        cleanings = {
            name: select_checked(
                other, detection, labels[rows], weights, self.num_classes, other_name, allow_negative_weights=negative
            )
            for name, (other, other_name) in strategies.items()
        }
        if weight_key is None:
            cleanings = self._distinct_unweighted(cleanings)
        candidates = {"kept": (rows, labels, weights)}
        for name, cleaned in cleanings.items():
            cleaned_rows, cleaned_labels = rows[cleaned.rows], labels.copy()
            cleaned_labels[cleaned_rows] = cleaned.labels
            candidates[name] = (cleaned_rows, cleaned_labels, cleaned.sample_weight)
        probs = {name: np.zeros((len(judges), self.num_classes)) for name in candidates}
        halves = KFold(n_splits=2, shuffle=True, random_state=self.seed).split(judges)
        for seen, judged in halves:
            for name, (fit_rows, fit_labels, fit_weights) in candidates.items():
                fit_kwargs = dict(detect_kwargs["clf_kwargs"] or {})
                verified_rows = judges[seen]
                if weight_key is not None:
                    own = np.ones(len(fit_rows)) if fit_weights is None else fit_weights
                    verified = np.ones(len(seen)) if sample_weight is None else sample_weight[verified_rows]
                    fit_kwargs[weight_key] = np.concatenate([own, verified * len(judges) / len(seen)])
                else:  # a classifier without weights sees the half twice instead
                    verified_rows = np.tile(verified_rows, 2)
                probs[name][judged] = self._candidate_probs(
                    clf, X, fit_labels, np.concatenate([fit_rows, verified_rows]), judges[judged], fit_kwargs
                )
        truth = labels[judges]
        self.trusted_pred_probs_ = probs
        min_z = self.validation_min_z if self.validation_trusted_min_z is None else self.validation_trusted_min_z
        chosen_name, use_cleaning = "strategy", True
        self.trusted_check_ = check_on_trusted(truth, probs["kept"], probs[chosen_name], min_z=min_z)
        if self.validate_cleaning:
            criterion = self.validation_criterion.removeprefix("forward_")
            criterion = "given" if criterion == "corrected" else criterion
            checks = {
                name: {
                    measure: check_on_trusted(truth, probs["kept"], probs[name], criterion=measure, min_z=min_z)
                    for measure in dict.fromkeys(["given", criterion])
                }
                for name in cleanings
            }
            # Of the cleanings that pass, the one that wins by most standard errors; the strategy's on a tie.
            passing = [name for name in cleanings if checks[name][criterion].use_cleaning]
            chosen_name = max(passing or ["strategy"], key=lambda name: checks[name][criterion].z)
            self.trusted_check_ = checks[chosen_name]["given"]
            self.cleaning_checks_ = checks[chosen_name]
            self.cleaning_check_ = self.cleaning_checks_[criterion]
            use_cleaning = self.cleaning_check_.use_cleaning
            self._log(
                "validate_cleaning on %d trusted rows (%s): %.4f with every other row, %.4f cleaned: %s",
                len(judges),
                criterion,
                self.cleaning_check_.kept_score,
                self.cleaning_check_.cleaned_score,
                "cleaning used" if use_cleaning else "every row kept",
            )
            if self.validation_trusted_rule == "either" and not use_cleaning and self.cleaning_check_.gain >= 0:
                use_cleaning = self._given_labels_agree(
                    X, labels, rows, weights, clf, detect_kwargs["clf_kwargs"], weight_key
                )
        self.cleaning_share_ = 1.0 if use_cleaning and self.validate_cleaning else None
        self.cleaning_choice_ = chosen_name if use_cleaning else None
        self._spread_detection(detection, rows, judges, labels, probs["kept"])
        if use_cleaning:
            cleaned = cleanings[chosen_name]
            chosen = TrainingSet(rows[cleaned.rows], cleaned.labels, cleaned.sample_weight)
        else:
            chosen = TrainingSet(rows, labels[rows], weights)
        trusted_weights = None if sample_weight is None else sample_weight[judges]
        joined_weights = None
        if chosen.sample_weight is not None or trusted_weights is not None:
            joined_weights = np.concatenate(
                [
                    np.ones(len(chosen.rows)) if chosen.sample_weight is None else chosen.sample_weight,
                    np.ones(len(judges)) if trusted_weights is None else trusted_weights,
                ]
            )
        joined = TrainingSet(
            np.concatenate([chosen.rows, judges]), np.concatenate([chosen.labels, truth]), joined_weights
        )
        return check_training_set(joined, labels, self.num_classes, strategy_name, allow_negative_weights=negative)

    def _distinct_unweighted(self, cleanings: dict) -> dict:
        """``cleanings`` without those that, their weights unable to reach the classifier, train on the same rows
        and labels as one before them (for such a classifier the re-weighted removal is the removal): the same
        model would be fitted twice and tie."""
        distinct = {}
        for name, cleaned in cleanings.items():
            same = next(
                (
                    earlier
                    for earlier, kept in distinct.items()
                    if np.array_equal(kept.rows, cleaned.rows) and np.array_equal(kept.labels, cleaned.labels)
                ),
                None,
            )
            if same is None:
                distinct[name] = cleaned
            else:
                self._log(
                    "validate_cleaning: %r trains the classifier as %r does (no sample weights); not fitted", name, same
                )
        return distinct

    def _given_labels_agree(self, X, labels, rows, weights, clf, clf_kwargs, weight_key) -> bool:
        """Whether the given-label check, run on the untrusted ``rows`` as if there were no trusted rows, uses
        the cleaning; if it does, its comparison becomes ``cleaning_check_`` (the verified rows' stays
        ``trusted_check_``)."""
        trusted_checks = self.cleaning_check_, self.cleaning_checks_
        check = self._given_label_check(take_rows(X, rows), labels[rows], clf, clf_kwargs, weights, weight_key)
        if check is None or not check.use_cleaning:
            self.cleaning_check_, self.cleaning_checks_ = trusted_checks
            self.validation_pred_probs_ = None
            return False
        self._log("validate_cleaning: the given labels of the other rows chose the cleaning")
        return True

    def _spread_detection(self, detection, rows, judges, labels, judged_probs):
        """The detection state of the untrusted ``rows`` spread over every row: the trusted rows are never
        flagged, have label quality 1 (verified), and the held-out probabilities of ``clf`` trained on every
        untrusted row stand in for their out-of-fold ones."""
        n_rows = len(labels)
        pred_probs = np.zeros((n_rows, self.num_classes), dtype=self.pred_probs.dtype)
        pred_probs[rows], pred_probs[judges] = self.pred_probs, judged_probs
        suggested = np.empty(n_rows, dtype=np.int64)
        suggested[rows], suggested[judges] = _suggested_labels(detection, self.pred_probs), judged_probs.argmax(axis=1)
        mask = np.zeros(n_rows, dtype=bool)
        mask[rows] = self.label_issues_mask
        frame = {"is_label_issue": mask}
        if "label_quality" in self.label_issues_df:
            quality = np.ones(n_rows)
            quality[rows] = self.label_issues_df["label_quality"].to_numpy()
            frame["label_quality"] = quality
        frame["given_label"] = self.classes_[labels]
        frame["predicted_label"] = self.classes_[suggested]
        self.label_issues_df = pd.DataFrame(frame)
        self.pred_probs, self.label_issues_mask = pred_probs, mask


def top_flags(detection: Detection, share: float | None) -> Detection:
    """``detection`` with only the most suspicious ``share`` of its flags (lowest label quality first, rounded up);
    every flag when ``share`` is None or 1."""
    if share is None or share >= 1:
        return detection
    flagged = np.flatnonzero(detection.label_issues)
    ranked = flagged[np.argsort(detection.label_quality[flagged], kind="stable")]
    kept = np.zeros(len(detection.label_issues), dtype=bool)
    kept[ranked[: int(np.ceil(share * len(flagged)))]] = True
    return dataclasses.replace(detection, label_issues=kept)
