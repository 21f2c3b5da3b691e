"""Deciding the cleaning: K held-out folds, trust gates and trusted (verified) rows, wired into the learner and runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits, make_blobs
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from runner import CleanLearning
from runner.datasets import load_table
from runner.datasets.corrupt import Corruption, trust_rows
from runner.learn.check import CleaningCheck, bootstrap_label_margin, held_out_folds, label_margin
from runner.run.app import run
from runner.run.build import build_learner
from runner.run.experiment import run_experiment
from runner.strategies import Relabel, Remove
from tests.helpers import ZerosAreOnes, compose_config, digits_dataset, noisy_digits


def _ids(X):
    return np.rint(np.asarray(X)[:, -1] * 1000).astype(int)


class Recording(LogisticRegression):
    """Logistic regression that records which rows (their id, the last feature) each fit saw and then predicted."""

    fits: list = []
    predicted: list = []

    def fit(self, X, y, sample_weight=None):
        Recording.fits.append(_ids(X))
        return super().fit(X, y, sample_weight=sample_weight)

    def predict_proba(self, X):
        Recording.predicted.append((Recording.fits[-1], _ids(X)))
        return super().predict_proba(X)


@pytest.mark.parametrize("validate", [True, False])
def test_trusted_rows_never_train_the_models_they_judge_and_join_the_final_fit(validate):
    X, labels, truth = noisy_digits(n=600)
    X = np.column_stack([X, np.arange(600) / 1000])
    labels, trusted = trust_rows(labels, truth, 100, seed=0)
    Recording.fits, Recording.predicted = [], []
    learner = CleanLearning(Recording(max_iter=300), seed=0, validate_cleaning=validate).fit(X, labels, trusted=trusted)
    *deciding, final = Recording.fits
    # the cross-validation of the untrusted rows; then the two candidates on each half of the trusted rows
    assert len(deciding) == 5 + 2 * 2
    judges = set(np.flatnonzero(trusted))
    assert all(judges.isdisjoint(rows) for rows in deciding[:5])
    judged = [(set(fit), set(rows)) for fit, rows in Recording.predicted if set(rows) <= judges]
    assert len(judged) == 4 and all(fit.isdisjoint(rows) for fit, rows in judged)
    assert set().union(*(rows for _, rows in judged)) == judges
    assert all(len(fit & judges) == len(judges) // 2 for fit, _ in judged)
    assert judges <= set(final)
    assert not learner.label_issues_mask[trusted].any()
    assert (learner.label_issues_df["label_quality"].to_numpy()[trusted] == 1).all()
    assert len(learner.label_issues_df) == len(learner.pred_probs) == 600
    rows = learner.training_set_.rows
    np.testing.assert_array_equal(learner.training_set_.labels[np.isin(rows, list(judges))], truth[trusted])
    assert (learner.cleaning_check_ is not None) == validate


def test_the_trusted_check_compares_the_noisy_and_the_cleaned_model_on_the_verified_labels():
    X, noisy, truth = noisy_digits()
    labels, trusted = trust_rows(noisy, truth, 200, seed=1)
    clf = LogisticRegression(max_iter=500)
    learner = CleanLearning(clf, seed=0, validate_cleaning=True, validation_min_z=2.0).fit(X, labels, trusted=trusted)
    rows, judges = np.flatnonzero(~trusted), np.flatnonzero(trusted)
    plain = CleanLearning(clf, seed=0, skip_final_fit=True).fit(X[rows], labels[rows])
    kept_rows = rows[plain.training_set_.rows]
    kept, cleaned = np.zeros(len(judges), int), np.zeros(len(judges), int)
    with threadpool_limits(limits=1):
        for seen, judged in KFold(2, shuffle=True, random_state=0).split(judges):
            # each half of the trusted rows weighs as much as all of them will in the final fit
            twice = np.full(len(seen), len(judges) / len(seen))
            for predictions, fit_rows, weights in [
                (kept, rows, np.ones(len(rows))),
                (cleaned, kept_rows, plain.training_set_.sample_weight),
            ]:
                both = np.concatenate([fit_rows, judges[seen]])
                weights = np.concatenate([np.ones(len(fit_rows)) if weights is None else weights, twice])
                model = clone(clf).fit(X[both], labels[both], sample_weight=weights)
                predictions[judged] = model.predict(X[judges[judged]])
    assert set(learner.trusted_pred_probs_) == {"kept", "strategy"}
    np.testing.assert_array_equal(learner.trusted_pred_probs_["kept"].argmax(axis=1), kept)
    np.testing.assert_array_equal(learner.trusted_pred_probs_["strategy"].argmax(axis=1), cleaned)
    check = learner.trusted_check_
    assert check.n_rows == 200 and check is learner.cleaning_check_
    assert check.kept_accuracy == np.mean(kept == truth[trusted])
    assert check.cleaned_accuracy == np.mean(cleaned == truth[trusted])
    # 30% noise on digits: cleaning wins on the verified labels, and the final fit is the cleaned rows plus them
    assert check.use_cleaning
    np.testing.assert_array_equal(
        np.sort(learner.training_set_.rows), np.sort(np.concatenate([kept_rows, np.flatnonzero(trusted)]))
    )
    np.testing.assert_array_equal(learner.label_issues_mask[rows], plain.label_issues_mask)


class RecordingNeighbours(KNeighborsClassifier):
    """Nearest neighbours (no sample weights) that record the ids of the rows each fit saw."""

    fits: list = []

    def fit(self, X, y):
        RecordingNeighbours.fits.append(_ids(X))
        return super().fit(X, y)


def test_a_classifier_without_weights_sees_its_half_of_the_trusted_rows_twice():
    X, labels, truth = noisy_digits(n=400)
    X = np.column_stack([X, np.arange(400) / 1000])
    labels, trusted = trust_rows(labels, truth, 60, seed=0)
    RecordingNeighbours.fits = []
    CleanLearning.recommended(RecordingNeighbours(), seed=0).fit(X, labels, trusted=trusted)
    candidates = RecordingNeighbours.fits[5:9]
    judges = np.flatnonzero(trusted)
    for rows in candidates:
        counts = np.bincount(rows, minlength=400)[judges]
        assert sorted(set(counts)) == [0, 2] and (counts == 2).sum() == len(judges) // 2


def test_a_classifier_without_weights_fits_the_reweighted_removal_not_again():
    X, labels, truth = noisy_digits(n=400)
    X = np.column_stack([X, np.arange(400) / 1000])
    labels, trusted = trust_rows(labels, truth, 60, seed=0)
    RecordingNeighbours.fits = []
    learner = CleanLearning.recommended(RecordingNeighbours(), seed=0, validation_trusted_min_z=0.0)
    learner.fit(X, labels, trusted=trusted)
    assert learner.validation_strategies == {"reweighted": Remove(reweight=True)}
    # 5 folds of detection, every untrusted row and the removal on each half of the trusted rows, the final fit.
    assert len(RecordingNeighbours.fits) == 5 + 2 * 2 + 1
    assert learner.cleaning_choice_ in ("strategy", None)


def test_trusted_rows_are_judged_by_their_own_margin():
    X, noisy, truth = noisy_digits(n=600)
    labels, trusted = trust_rows(noisy, truth, 150, seed=0)
    clf = LogisticRegression(max_iter=300)
    fits = {
        margins: CleanLearning(
            clf, seed=0, validate_cleaning=True, validation_min_z=margins[0], validation_trusted_min_z=margins[1]
        ).fit(X, labels, trusted=trusted)
        for margins in [(50.0, None), (50.0, 0.0), (0.0, 50.0)]
    }
    # the same two candidate models every time; only the margin the verdict demands differs
    assert len({fit.trusted_check_.gain for fit in fits.values()}) == 1
    assert fits[(50.0, 0.0)].trusted_check_.gain > 0
    assert [fit.trusted_check_.min_z for fit in fits.values()] == [50.0, 0.0, 50.0]
    assert [fit.cleaning_check_.use_cleaning for fit in fits.values()] == [False, True, False]


def test_either_rule_adds_the_given_label_check_of_the_other_rows():
    X, noisy, truth = noisy_digits(n=600)
    labels, trusted = trust_rows(noisy, truth, 150, seed=0)
    given = dict(
        validate_cleaning=True, validation_min_z=0.0, validation_criterion="given", validation_gate="dominance"
    )
    clf = LogisticRegression(max_iter=300)
    fits = {
        rule: CleanLearning(clf, seed=0, validation_trusted_min_z=50.0, validation_trusted_rule=rule, **given).fit(
            X, labels, trusted=trusted
        )
        for rule in ("trusted", "either")
    }
    alone = CleanLearning(clf, seed=0, **given).fit(X[~trusted], labels[~trusted])
    assert not fits["trusted"].cleaning_check_.use_cleaning  # the verified rows cannot pass at 50 s.e.
    assert fits["either"].trusted_check_.gain >= 0  # ...but they do not disagree, so the given labels decide
    # exactly the check a learner without the trusted rows makes of the other rows, and its verdict
    assert fits["either"].cleaning_check_ == alone.cleaning_check_ and alone.cleaning_check_.use_cleaning
    assert fits["either"].trusted_check_.z == fits["trusted"].trusted_check_.z
    rows = np.flatnonzero(~trusted)[alone.training_set_.rows]
    assert sorted(fits["either"].training_set_.rows) == sorted([*rows, *np.flatnonzero(trusted)])
    assert len(fits["trusted"].training_set_.rows) == 600


@pytest.mark.parametrize(
    "cleaned, asked, used", [(0.60, False, True), (0.50, True, True), (0.49, False, False)], ids=str
)
def test_either_rule_asks_the_given_labels_only_where_the_verified_rows_do_not_disagree(
    monkeypatch, cleaned, asked, used
):
    X, noisy, truth = noisy_digits(n=400)
    labels, trusted = trust_rows(noisy, truth, 100, seed=0)

    def verdict(truth, kept_probs, cleaned_probs, *, min_z, criterion="given"):
        return CleaningCheck(0.50, cleaned, standard_error=0.01, min_z=min_z, n_rows=len(truth))

    asked_rows = []

    def given_label_check(self, X, labels, *args):
        asked_rows.append(len(labels))
        self.cleaning_check_ = CleaningCheck(0.8, 0.9, standard_error=0.01, min_z=3.0, n_rows=len(labels))
        self.cleaning_checks_ = {"given": self.cleaning_check_}
        return self.cleaning_check_

    monkeypatch.setattr("runner.learn.guard.check_on_trusted", verdict)
    monkeypatch.setattr(CleanLearning, "_given_label_check", given_label_check)
    learner = CleanLearning.recommended(LogisticRegression(max_iter=300), seed=0, validation_trusted_rule="either")
    learner.fit(X, labels, trusted=trusted)
    assert asked_rows == ([400 - 100] if asked else [])
    assert learner.cleaning_check_.use_cleaning == used
    assert (learner.cleaning_check_ is learner.trusted_check_) != asked


def test_trusted_rows_choose_among_cleanings_the_one_that_wins_by_most_standard_errors():
    X, noisy, truth = noisy_digits(n=600)
    labels, trusted = trust_rows(noisy, truth, 150, seed=0)
    clf = LogisticRegression(max_iter=300)
    params = dict(seed=0, validation_trusted_min_z=0.0)
    alone = {
        name: CleanLearning.recommended(clf, strategy=strategy, validation_strategies=None, **params).fit(
            X, labels, trusted=trusted
        )
        for name, strategy in [("strategy", Remove(reweight=False)), ("relabelled", "relabel")]
    }
    both = CleanLearning.recommended(clf, validation_strategies={"relabelled": "relabel"}, **params)
    both.fit(X, labels, trusted=trusted)
    z = {name: learner.trusted_check_.z for name, learner in alone.items()}
    assert all(learner.cleaning_check_.use_cleaning for learner in alone.values()) and len(set(z.values())) == 2
    winner = max(z, key=z.get)
    assert both.cleaning_choice_ == winner and both.trusted_check_.z == z[winner]
    np.testing.assert_array_equal(both.training_set_.rows, alone[winner].training_set_.rows)
    np.testing.assert_array_equal(both.training_set_.labels, alone[winner].training_set_.labels)
    refused = CleanLearning.recommended(
        clf, seed=0, validation_trusted_min_z=1e6, validation_strategies={"relabelled": "relabel"}
    ).fit(X, labels, trusted=trusted)
    assert refused.cleaning_choice_ is None and len(refused.training_set_.rows) == 600


def test_other_cleanings_are_refused_before_any_fit_when_they_are_not_strategies():
    X, labels, truth = noisy_digits(n=300)
    labels, trusted = trust_rows(labels, truth, 50, seed=0)
    with pytest.raises(ValueError, match="unknown strategy 'nonsense'"):
        CleanLearning.recommended(validation_strategies={"x": "nonsense"}).fit(X, labels, trusted=trusted)
    with pytest.raises(ValueError, match="validation_strategies must be None or a dict"):
        CleanLearning.recommended(validation_strategies=[Remove()]).fit(X, labels, trusted=trusted)


def test_trusted_rows_refuse_a_harmful_cleaning():
    X, y = load_digits(return_X_y=True)
    X, y = StandardScaler().fit_transform(X[:900]), y[:900]
    trusted = np.zeros(900, dtype=bool)
    trusted[np.random.default_rng(0).choice(900, 150, replace=False)] = True
    clf = LogisticRegression(max_iter=500)
    learner = CleanLearning(clf, seed=0, detector=ZerosAreOnes(), strategy="relabel", validate_cleaning=True).fit(
        X, y, trusted=trusted
    )
    assert not learner.cleaning_check_.use_cleaning
    assert learner.cleaning_check_.cleaned_accuracy < learner.cleaning_check_.kept_accuracy
    assert sorted(learner.training_set_.rows) == list(range(900))
    np.testing.assert_array_equal(learner.training_set_.labels[np.argsort(learner.training_set_.rows)], y)


def test_bad_trusted_masks_are_refused_before_any_fit():
    X, labels, _ = noisy_digits(n=300)
    learner = CleanLearning(LogisticRegression(), seed=0)
    with pytest.raises(ValueError, match="boolean mask of shape"):
        learner.fit(X, labels, trusted=np.ones(300, dtype=int))
    with pytest.raises(ValueError, match="every row is trusted"):
        learner.fit(X, labels, trusted=np.ones(300, dtype=bool))
    with pytest.raises(ValueError, match="one trusted row cannot judge"):
        learner.fit(X, labels, trusted=np.arange(300) == 7)
    some = np.arange(300) < 50
    with pytest.raises(ValueError, match="label_issues cannot be given"):
        learner.fit(X, labels, trusted=some, label_issues=np.zeros(300, dtype=bool))
    with pytest.raises(ValueError, match="validation_gate must be one of"):
        CleanLearning(validation_gate="strict").fit(X, labels)
    with pytest.raises(ValueError, match="validation_folds must be an integer >= 2"):
        CleanLearning(validation_folds=1).fit(X, labels)
    with pytest.raises(ValueError, match="validation_criterion must be one of"):
        CleanLearning(validation_criterion="accuracy").fit(X, labels)
    with pytest.raises(ValueError, match="validation_trusted_min_z must be None or a number >= 0"):
        CleanLearning(validation_trusted_min_z=-1.0).fit(X, labels)
    # no trusted row: the fit is the plain one
    plain = CleanLearning(LogisticRegression(max_iter=300), seed=0).fit(X, labels)
    none = CleanLearning(LogisticRegression(max_iter=300), seed=0).fit(X, labels, trusted=np.zeros(300, dtype=bool))
    np.testing.assert_array_equal(plain.clf_.coef_, none.clf_.coef_)
    assert none.trusted_check_ is None


def test_k_held_out_folds_are_each_predicted_by_models_of_the_other_folds():
    X, labels, _ = noisy_digits(n=600)
    clf = LogisticRegression(max_iter=300)
    learner = CleanLearning(clf, seed=0, validate_cleaning=True, validation_folds=3).fit(X, labels)
    kept = np.zeros((600, 10))
    with threadpool_limits(limits=1):
        for train, held in held_out_folds(labels, 3, seed=0):
            kept[held] = clone(clf).fit(X[train], labels[train]).predict_proba(X[held])
    np.testing.assert_allclose(learner.validation_pred_probs_["kept"], kept)
    assert learner.cleaning_check_.n_rows == 600


@pytest.mark.parametrize("gate", ["dominance", "min_count", "bootstrap", "none"])
def test_the_gate_reads_the_margin_it_names(gate):
    X, labels, _ = noisy_digits(n=600)
    learner = CleanLearning(
        LogisticRegression(max_iter=300),
        seed=0,
        validate_cleaning=True,
        validation_criterion="given",
        validation_gate=gate,
        validation_min_count=62,
    ).fit(X, labels)
    margin = learner.cleaning_check_.label_margin
    expected = {
        "dominance": label_margin(learner.noise_matrix),
        "min_count": label_margin(learner.noise_matrix, np.bincount(labels, minlength=10), 62),
        "bootstrap": bootstrap_label_margin(labels, learner.pred_probs, random_state=0),
        "none": np.nan,
    }[gate]
    np.testing.assert_equal(margin, expected)


def test_the_choice_reads_no_true_training_label_but_the_simulated_trusted_rows():
    X, labels, truth = noisy_digits(n=800)
    _, trusted = trust_rows(np.zeros(600), np.zeros(600), 150, seed=0)  # which rows: not the labels

    def given_labels(y_train, n_classes, *, seed):
        return Corruption(labels[:600].copy(), None)  # the same given labels whatever the truth

    rng = np.random.default_rng(0)
    other = truth[:600].copy()
    other[~trusted] = rng.permutation(other[~trusted])  # other true labels, but where they were verified
    runs = [
        run_experiment(
            digits_dataset(y_train, y_test, X),
            CleanLearning(LogisticRegression(max_iter=300), seed=0, validate_cleaning=True),
            noise=given_labels,
            compare_baseline=False,
            trusted_rows=150,
        )
        for y_train, y_test in [(truth[:600], truth[600:]), (other, rng.permutation(truth[600:]))]
    ]
    for key in (
        "cleaning_used",
        "holdout_accuracy_kept",
        "holdout_accuracy_cleaned",
        "n_label_issues",
        "n_trusted",
        "trusted_accuracy_noisy",
        "trusted_accuracy_cleaned",
    ):
        assert runs[0].metrics[key] == runs[1].metrics[key]
    assert runs[0].metrics["test_accuracy"] != runs[1].metrics["test_accuracy"]  # the test labels did differ
    assert runs[0].label_issues["trusted"].sum() == 150


def test_simulated_trusted_rows_get_their_true_label_and_leave_the_noise_alone():
    noisy, truth = np.array([1, 1, 0, 0, 2, 2, 1, 0]), np.array([0, 1, 0, 2, 2, 1, 1, 0])
    labels, trusted = trust_rows(noisy, truth, 3, seed=4)
    assert trusted.sum() == 3
    np.testing.assert_array_equal(labels, np.where(trusted, truth, noisy))
    again, same = trust_rows(noisy, truth, 3, seed=4)
    np.testing.assert_array_equal(same, trusted)
    with pytest.raises(ValueError, match="^trusted_rows must be in"):
        trust_rows(noisy, truth, 8)


def test_a_trusted_column_marks_training_rows_and_is_no_feature(tmp_path):
    X, y = make_blobs(n_samples=120, centers=3, n_features=3, random_state=0)
    verified = np.arange(120) % 4 == 0
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(label=y, verified=verified)
    frame.to_csv(tmp_path / "t.csv", index=False)
    dataset = load_table(path=tmp_path / "t.csv", label_column="label", trusted_column="verified", seed=0)
    assert dataset.feature_names == ["a", "b", "c"]
    np.testing.assert_array_equal(dataset.trusted, verified[dataset.train_rows])
    frame.assign(verified=np.where(verified, "yes", "no")).to_csv(tmp_path / "words.csv", index=False)
    with pytest.raises(ValueError, match="must hold true/false"):
        load_table(path=tmp_path / "words.csv", label_column="label", trusted_column="verified")
    with pytest.raises(ValueError, match="Trusted column 'checked' not found"):
        load_table(path=tmp_path / "t.csv", label_column="label", trusted_column="checked")


def test_a_run_on_a_table_with_trusted_rows_reports_their_accuracy(tmp_path):
    X, y = make_blobs(n_samples=300, centers=3, n_features=3, cluster_std=2.0, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(label=y, verified=np.arange(300) % 5 == 0)
    frame.to_csv(tmp_path / "t.csv", index=False)
    cfg = compose_config(
        [
            "dataset=csv",
            f"dataset.path={tmp_path / 't.csv'}",
            "dataset.trusted_column=verified",
            "method=recommended",
            "noise.rate=0.2",
            "cv.folds=3",
        ]
    )
    metrics = run(cfg, tmp_path / "run").metrics
    expected = load_table(path=tmp_path / "t.csv", label_column="label", trusted_column="verified", seed=0).trusted
    assert metrics["n_trusted"] == expected.sum() > 0
    assert 0 <= metrics["trusted_accuracy_noisy"] <= 1 and 0 <= metrics["trusted_accuracy_cleaned"] <= 1
    assert "cleaning_used" in metrics and metrics["cleaning_checked_on"] == "trusted_rows"
    with pytest.raises(ValueError, match="use one or the other"):
        run(
            compose_config(
                [
                    "dataset=csv",
                    f"dataset.path={tmp_path / 't.csv'}",
                    "dataset.trusted_column=verified",
                    "trusted_rows=10",
                    "cv.folds=3",
                ]
            ),
            tmp_path / "both",
        )
    with pytest.raises(ValueError, match="cv.validation_gate"):
        run(
            compose_config(["dataset=csv", f"dataset.path={tmp_path / 't.csv'}", "cv.validation_gate=strict"]),
            tmp_path / "bad",
        )


def test_cv_validation_strategies_reach_the_learner():
    reweighted = {"reweighted": Remove(reweight=True)}
    assert build_learner(compose_config(["method=recommended"])).validation_strategies == reweighted
    added = compose_config(
        ["method=recommended", "+cv.validation_strategies.relabelled={_target_:runner.strategies.Relabel}"]
    )
    both = build_learner(added).validation_strategies
    assert both["reweighted"] == reweighted["reweighted"] and isinstance(both.pop("relabelled"), Relabel)
    assert both == reweighted
    alone = compose_config(["method=recommended", "~cv.validation_strategies.reweighted"])
    assert build_learner(alone).validation_strategies is None
    assert build_learner(compose_config([])).validation_strategies is None
