"""CleanLearning: parity with cleanlab's CleanLearning, strategies, conventions, bad input."""

from __future__ import annotations

import logging
import os
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_info, threadpool_limits

from runner import CleanLearning
from runner.confident.noise import generate_noise_matrix_from_trace, generate_noisy_labels
from runner.detection import NoisePosterior
from runner.learn.parallel import lone_fit_limits
from tests.helpers import make_pred_probs, with_rare_classes, without_class

cleanlab_classification = pytest.importorskip("cleanlab.classification")


def noisy_split(load, trace_fraction=0.75, seed=0):
    """Train/test split of a bundled dataset; train labels corrupted by a known noise matrix."""
    X, y = load(return_X_y=True)
    X = StandardScaler().fit_transform(X)  # so that logistic regression converges
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)
    n_classes = y.max() + 1
    py = np.bincount(y_train) / len(y_train)
    noise_matrix = generate_noise_matrix_from_trace(
        n_classes, trace_fraction * n_classes, py=py, valid_noise_matrix=True, seed=seed
    )
    noisy = generate_noisy_labels(y_train, noise_matrix, seed=seed)
    return X_train, noisy, X_test, y_test, noise_matrix


DATASETS = {
    "wine": lambda: noisy_split(load_wine),
    "breast_cancer": lambda: noisy_split(load_breast_cancer),
    "digits": lambda: noisy_split(lambda return_X_y: tuple(a[:900] for a in load_digits(return_X_y=True))),
}
CLASSIFIERS = {
    "logreg": lambda: LogisticRegression(max_iter=300),
    "hgb": lambda: HistGradientBoostingClassifier(max_iter=15, random_state=0),
}


def both_fits(clf, X, labels, cv_n_folds=5, **fit_kwargs):
    """Ours and the reference's CleanLearning fitted on the same data under the same thread cap."""
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = CleanLearning(clone(clf), seed=0, cv_n_folds=cv_n_folds).fit(X, labels, **fit_kwargs)
        reference = cleanlab_classification.CleanLearning(clone(clf), seed=0, cv_n_folds=cv_n_folds).fit(
            X, labels, **fit_kwargs
        )
    return ours, reference


def assert_same_fit(ours, reference, X_test, given_weights=None):
    np.testing.assert_array_equal(
        ours.label_issues_df["is_label_issue"].to_numpy(), reference.label_issues_df["is_label_issue"].to_numpy()
    )
    for name in ("noise_matrix", "inverse_noise_matrix", "py"):
        if getattr(reference, name) is not None:
            np.testing.assert_allclose(getattr(ours, name), getattr(reference, name), rtol=0, atol=1e-9)
    if given_weights is not None:
        # The reference keeps no record of the caller's weights; we record what the fit used.
        used = np.where(ours.label_issues_mask, 0.0, given_weights)
        np.testing.assert_array_equal(ours.sample_weight.to_numpy(), used)
    elif reference.sample_weight is None:
        assert ours.sample_weight is None
    else:
        np.testing.assert_allclose(
            ours.sample_weight.to_numpy(), reference.sample_weight.to_numpy(), rtol=0, atol=1e-12
        )
    np.testing.assert_array_equal(ours.predict(X_test), reference.predict(X_test))
    np.testing.assert_allclose(ours.predict_proba(X_test), reference.predict_proba(X_test), rtol=0, atol=1e-12)


@pytest.mark.parametrize("classifier", sorted(CLASSIFIERS))
@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_parity_with_reference(dataset, classifier):
    X, labels, X_test, _, _ = DATASETS[dataset]()
    ours, reference = both_fits(CLASSIFIERS[classifier](), X, labels)
    assert_same_fit(ours, reference, X_test)
    np.testing.assert_array_equal(ours.confident_joint, reference.confident_joint)
    for column in ("label_quality", "given_label", "predicted_label"):
        np.testing.assert_array_equal(
            ours.label_issues_df[column].to_numpy(), reference.label_issues_df[column].to_numpy()
        )


def test_parity_with_given_pred_probs_noise_matrix_and_label_issues():
    X, labels, X_test, _, true_noise_matrix = DATASETS["wine"]()
    clf = LogisticRegression(max_iter=300)
    first, _ = both_fits(clf, X, labels)
    pred_probs = first.pred_probs
    assert_same_fit(*both_fits(clf, X, labels, pred_probs=pred_probs), X_test)
    assert_same_fit(*both_fits(clf, X, labels, noise_matrix=true_noise_matrix), X_test)
    assert_same_fit(*both_fits(clf, X, labels, label_issues=first.label_issues_mask), X_test)
    assert_same_fit(*both_fits(clf, X, labels, label_issues=first.get_label_issues()), X_test)
    weights = np.linspace(0.5, 2, len(labels))
    assert_same_fit(*both_fits(clf, X, labels, sample_weight=weights), X_test, given_weights=weights)


@pytest.mark.parametrize("n_folds", [5, 10])
@pytest.mark.parametrize("n_rare", [1, 2, "folds - 1"])
def test_parity_with_a_class_rarer_than_folds(n_rare, n_folds):
    """SPEC §4.7: a class with fewer examples than folds trains, as in the reference."""
    X, labels, X_test, _, _ = DATASETS["wine"]()
    n_rare = n_folds - 1 if n_rare == "folds - 1" else n_rare
    labels = with_rare_classes(labels, {0: n_rare})
    ours, reference = both_fits(LogisticRegression(max_iter=300), X, labels, cv_n_folds=n_folds)
    assert_same_fit(ours, reference, X_test)
    np.testing.assert_array_equal(ours.confident_joint, reference.confident_joint)
    for column in ("label_quality", "predicted_label"):
        np.testing.assert_array_equal(
            ours.label_issues_df[column].to_numpy(), reference.label_issues_df[column].to_numpy()
        )
    rare = labels == 0
    assert not ours.label_issues_mask[rare].any()  # n_k <= min_examples_per_class: never pruned
    if n_rare == 1:  # lent to its own fold's training part: certain of its label
        assert ours.label_issues_df["label_quality"].to_numpy()[rare] == [1.0]


def test_a_class_rarer_than_folds_in_every_cross_validation_path(tmp_path):
    X, labels, *_ = DATASETS["wine"]()
    labels = with_rare_classes(labels, {0: 1})
    clf = LogisticRegression(max_iter=300)
    paths = (
        {},
        {"ensemble": [clf, KNeighborsClassifier()]},
        {"detection_rounds": 2},
        {"detection_rounds": 2, "round_mode": "relabel", "round_mean": True},
        {"n_jobs": 2},
        {"n_jobs": 2, "cv_backend": "threading"},
        {"cv_cache_dir": tmp_path},
    )
    for options in paths:
        with pytest.warns(UserWarning, match="too few examples for 5-fold cross-validation"):
            cl = CleanLearning(clf, seed=0, **options).fit(X, labels)
        assert cl.pred_probs[labels == 0].tolist() == [[1.0, 0.0, 0.0]], options
    cached = CleanLearning(clf, seed=0, cv_cache_dir=tmp_path).fit(X, labels)
    assert cached.cv_cache_hit_ and cached.pred_probs.tobytes() == cl.pred_probs.tobytes()


def test_find_label_issues_with_a_class_no_label_holds():
    """A pred_probs column nobody is labelled with: every built-in detector passes the contract,
    and confident learning agrees with the reference for every filter_by."""
    labels, pred_probs = without_class(*make_pred_probs(600, 4, seed=3)[:2], 2)
    for filter_by in (
        "prune_by_noise_rate",
        "prune_by_class",
        "both",
        "confident_learning",
        "predicted_neq_given",
        "low_normalized_margin",
        "low_self_confidence",
    ):
        kwargs = {"find_label_issues_kwargs": {"filter_by": filter_by}}
        ours = CleanLearning(**kwargs)
        frame = ours.find_label_issues(labels=labels, pred_probs=pred_probs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = cleanlab_classification.CleanLearning(**kwargs)
            expected = reference.find_label_issues(labels=labels, pred_probs=pred_probs)
        np.testing.assert_array_equal(frame["is_label_issue"].to_numpy(), expected["is_label_issue"].to_numpy())
        np.testing.assert_array_equal(ours.confident_joint, reference.confident_joint)
        for name in ("noise_matrix", "inverse_noise_matrix", "py"):
            np.testing.assert_allclose(getattr(ours, name), getattr(reference, name), rtol=0, atol=1e-12)
        assert ours.noise_matrix[:, 2].sum() == 0 and ours.inverse_noise_matrix[:, 2].sum() == 0
    for options in ({"converge_latent_estimates": True}, {"detector": NoisePosterior()}):
        frame = CleanLearning(**options).find_label_issues(labels=labels, pred_probs=pred_probs)
        assert frame["is_label_issue"].any()


def test_the_estimated_confident_joint_is_left_in_find_label_issues_kwargs():
    """As in the reference; get_params, clone and the next fit still see what was set."""
    labels, pred_probs, _ = make_pred_probs(300, 3, seed=0)
    given = {"filter_by": "both"}
    ours = CleanLearning(find_label_issues_kwargs=given)
    ours.find_label_issues(labels=labels, pred_probs=pred_probs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = cleanlab_classification.CleanLearning(find_label_issues_kwargs=dict(given))
        reference.find_label_issues(labels=labels, pred_probs=pred_probs)
    assert ours.find_label_issues_kwargs.keys() == reference.find_label_issues_kwargs.keys()
    assert ours.find_label_issues_kwargs["min_examples_per_class"] == 10
    assert ours.find_label_issues_kwargs["confident_joint"] is ours.confident_joint
    np.testing.assert_array_equal(ours.confident_joint, reference.find_label_issues_kwargs["confident_joint"])
    assert given == {"filter_by": "both"}  # the caller's dict is not changed
    assert ours.get_params()["find_label_issues_kwargs"] is given
    assert clone(ours).find_label_issues_kwargs == given
    # A change made in place is the caller's; the entries detection added are not.
    ours.find_label_issues_kwargs["filter_by"] = "prune_by_class"
    assert ours.get_params()["find_label_issues_kwargs"] == {"filter_by": "prune_by_class"}
    # filter_by="confident_learning" ignores a confident joint: none is stored (as in the reference).
    plain = CleanLearning(find_label_issues_kwargs={"filter_by": "confident_learning"})
    plain.find_label_issues(labels=labels, pred_probs=pred_probs)
    assert "confident_joint" not in plain.find_label_issues_kwargs


def test_negative_sample_weights_reach_the_classifier_as_in_the_reference():
    X, labels, X_test, _, _ = DATASETS["wine"]()
    weights = np.random.default_rng(0).standard_normal(len(labels))
    ours, reference = both_fits(LogisticRegression(max_iter=300), X, labels, sample_weight=weights)
    assert_same_fit(ours, reference, X_test, given_weights=weights)
    np.testing.assert_allclose(ours.clf_.coef_, reference.clf.coef_, rtol=0, atol=1e-12)


class NoParams:
    """A classifier outside scikit-learn's API: fit / predict_proba / predict, no get_params."""

    def __init__(self):
        self.model = LogisticRegression(max_iter=300)

    def fit(self, X, y):
        self.model.fit(X, y)

    def predict_proba(self, X):
        return self.model.predict_proba(X)

    def predict(self, X):
        return self.model.predict(X)


def test_a_classifier_without_get_params_is_deep_copied(tmp_path, caplog):
    X, labels, X_test, _, _ = DATASETS["wine"]()
    caplog.set_level(logging.INFO, logger="runner")
    clf = NoParams()
    with threadpool_limits(1):
        cl = CleanLearning(clf, seed=0, cv_cache_dir=tmp_path).fit(X, labels)
        expected = CleanLearning(LogisticRegression(max_iter=300), seed=0).fit(X, labels)
    assert "copy.deepcopy" in caplog.text and "not cached" in caplog.text
    assert not list(tmp_path.iterdir())  # no cache entry: no get_params to key it by
    assert not hasattr(clf.model, "coef_")  # the caller's object is not fitted
    np.testing.assert_array_equal(cl.label_issues_mask, expected.label_issues_mask)
    np.testing.assert_array_equal(cl.predict(X_test), expected.predict(X_test))


def test_any_object_with_fit_and_predict_works_with_given_pred_probs():
    """cleanlab's test_no_fit_sample_weight: no get_params, a fit without sample_weight."""
    X, labels, X_test, _, _ = DATASETS["wine"]()
    pred_probs = CleanLearning(LogisticRegression(max_iter=300), seed=0).fit(X, labels).pred_probs

    class Struct:
        def fit(self, X, y):
            pass

        def predict_proba(self):
            pass

        def predict(self, X):
            return np.zeros(len(X), dtype=int)

    ours = CleanLearning(Struct()).fit(X, labels, pred_probs=pred_probs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = cleanlab_classification.CleanLearning(Struct()).fit(X, labels, pred_probs=pred_probs)
    np.testing.assert_array_equal(ours.label_issues_mask, reference.label_issues_mask)
    assert ours.sample_weight is None and reference.sample_weight is None  # fit takes no sample_weight
    np.testing.assert_array_equal(ours.predict(X_test), reference.predict(X_test))


def test_parallel_folds_give_identical_pred_probs():
    X, labels, *_ = DATASETS["digits"]()
    clf = LogisticRegression(max_iter=300)
    sequential = CleanLearning(clf, seed=1, n_jobs=1).fit(X, labels)
    parallel = CleanLearning(clf, seed=1, n_jobs=2).fit(X, labels)
    assert parallel.pred_probs.tobytes() == sequential.pred_probs.tobytes()
    np.testing.assert_array_equal(parallel.label_issues_mask, sequential.label_issues_mask)


def test_final_fit_takes_the_folds_cores_for_openmp_only_and_gives_the_same_model():
    # HistGradientBoosting is OpenMP-parallel over features: more threads, same model.
    X, labels, X_test, *_ = DATASETS["digits"]()
    clf = HistGradientBoostingClassifier(max_iter=20, random_state=0)
    sequential = CleanLearning(clf, seed=1, n_jobs=1).fit(X, labels)
    parallel = CleanLearning(clf, seed=1, n_jobs=2).fit(X, labels)
    assert parallel.predict_proba(X_test).tobytes() == sequential.predict_proba(X_test).tobytes()

    recorder = CleanLearning(ThreadRecorder(max_iter=300), seed=1, n_jobs=2).fit(X, labels)
    cores = min(2, os.cpu_count())
    assert recorder.clf_.threads_["blas"] == 1
    assert recorder.clf_.threads_.get("openmp", cores) == cores


@pytest.mark.parametrize(
    ("threads", "n_jobs", "remote", "expected"),
    [
        (1, 1, False, {"blas": 1, "openmp": 1}),
        (1, None, False, {"blas": 1, "openmp": 1}),
        (1, 2, False, {"blas": 1, "openmp": min(2, os.cpu_count())}),
        (1, 2, True, {"blas": 1, "openmp": 1}),  # folds on a cluster: this machine's cores unknown
        (None, 2, False, None),
    ],
)
def test_lone_fit_limits(threads, n_jobs, remote, expected):
    assert lone_fit_limits(threads, n_jobs, remote=remote) == expected


class ThreadRecorder(LogisticRegression):
    """Records the thread counts its fit ran under (the final fit's is the last)."""

    def fit(self, X, y, sample_weight=None):
        self.threads_ = {pool["user_api"]: pool["num_threads"] for pool in threadpool_info()}
        return super().fit(X, y, sample_weight)


# --------------------------------------------------------------------------------------------
# Labels of any type


@pytest.mark.parametrize("mapping", ["strings", "gaps"])
def test_any_class_values_round_trip(mapping):
    X, labels, X_test, _, _ = DATASETS["wine"]()
    values = np.array(["cab", "merlot", "syrah"]) if mapping == "strings" else np.array([3, 10, 42])
    clf = LogisticRegression(max_iter=300)
    encoded = CleanLearning(clf, seed=0).fit(X, labels)
    decoded = CleanLearning(clf, seed=0).fit(X, values[labels])
    np.testing.assert_array_equal(decoded.label_issues_mask, encoded.label_issues_mask)
    np.testing.assert_array_equal(decoded.classes_, values)
    np.testing.assert_array_equal(decoded.predict(X_test), values[encoded.predict(X_test)])
    frame = decoded.label_issues_df
    np.testing.assert_array_equal(frame["given_label"].to_numpy(), values[labels])
    assert set(frame["predicted_label"]) <= set(values)


def test_pandas_inputs():
    X, labels, X_test, *_ = DATASETS["wine"]()
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    clf = LogisticRegression(max_iter=300)
    from_frame = CleanLearning(clf, seed=0).fit(frame, pd.Series(labels))
    from_array = CleanLearning(clf, seed=0).fit(X, labels)
    np.testing.assert_array_equal(from_frame.label_issues_mask, from_array.label_issues_mask)


# --------------------------------------------------------------------------------------------
# Strategies


def test_strategies_shape_the_final_training_set():
    X, labels, *_ = DATASETS["breast_cancer"]()
    clf = LogisticRegression(max_iter=300)
    removed = CleanLearning(clf, seed=0).fit(X, labels)
    flagged = removed.label_issues_mask
    assert 0 < flagged.sum() < len(labels)
    weights = removed.sample_weight.to_numpy()
    assert np.all(weights[flagged] == 0) and np.all(weights[~flagged] >= 1)

    weighted = CleanLearning(clf, seed=0, strategy="weight").fit(X, labels)
    np.testing.assert_array_equal(weighted.label_issues_mask, flagged)
    np.testing.assert_array_equal(weighted.sample_weight.to_numpy(), np.where(flagged, 0.0, 1.0))
    # Zero weight and removal are the same training signal for a weighted loss.
    np.testing.assert_allclose(weighted.clf_.coef_, _fit_on(clf, X[~flagged], labels[~flagged]).coef_, atol=1e-3)

    relabeled = CleanLearning(clf, seed=0, strategy="relabel").fit(X, labels)
    assert relabeled.sample_weight is None
    new_labels = np.where(flagged, removed.pred_probs.argmax(axis=1), labels)
    np.testing.assert_allclose(relabeled.clf_.coef_, _fit_on(clf, X, new_labels).coef_, atol=1e-8)

    baseline = CleanLearning(clf, seed=0, strategy="none").fit(X, labels)
    np.testing.assert_allclose(baseline.clf_.coef_, _fit_on(clf, X, labels).coef_, atol=1e-8)


def _fit_on(clf, X, labels):
    with threadpool_limits(1):
        return clone(clf).fit(X, labels)


def test_a_strategy_object_and_its_contract_is_checked():
    X, labels, *_ = DATASETS["wine"]()

    class DropClassZero:
        requires_sample_weight = False

        def select(self, detection, labels, sample_weight=None):
            from runner.strategies import TrainingSet

            rows = np.flatnonzero(labels != 0)
            return TrainingSet(rows, labels[rows])

    with pytest.raises(ValueError, match=r"DropClassZero.*classes \[0\]"):
        CleanLearning(LogisticRegression(max_iter=300), seed=0, strategy=DropClassZero()).fit(X, labels)


# --------------------------------------------------------------------------------------------
# scikit-learn conventions and state


def test_sklearn_conventions():
    X, labels, *_ = DATASETS["wine"]()
    clf = LogisticRegression(max_iter=300)
    cl = CleanLearning(clf, seed=3, cv_n_folds=4, strategy="weight", n_jobs=1)
    cloned = clone(cl).get_params(deep=False)
    assert cloned.pop("clf") is not clf  # cloned deeply, as sklearn does
    assert cloned == {k: v for k, v in cl.get_params(deep=False).items() if k != "clf"}
    cl.set_params(cv_n_folds=3)
    assert cl.cv_n_folds == 3
    state = np.random.get_state()
    assert cl.fit(X, labels) is cl
    assert np.array_equal(np.random.get_state()[1], state[1])
    assert not hasattr(clf, "coef_"), "the caller's classifier must not be fitted in place"
    assert cl.score(X, labels) == pytest.approx(np.mean(cl.predict(X) == labels))


def test_second_fit_starts_fresh():
    """The reference reuses the first fit's confident joint on a refit; we do not."""
    X, labels, *_ = DATASETS["digits"]()
    other = np.roll(labels, 7)
    clf = LogisticRegression(max_iter=300)
    refit = CleanLearning(clf, seed=0).fit(X, labels).fit(X, other)
    fresh = CleanLearning(clf, seed=0).fit(X, other)
    np.testing.assert_array_equal(refit.label_issues_mask, fresh.label_issues_mask)
    np.testing.assert_array_equal(refit.confident_joint, fresh.confident_joint)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = cleanlab_classification.CleanLearning(clf, seed=0)
        stale = reference.fit(X, labels).fit(X, other).label_issues_df["is_label_issue"].to_numpy()
    assert not np.array_equal(stale, fresh.label_issues_mask)


def test_find_label_issues_and_save_space():
    X, labels, *_ = DATASETS["wine"]()
    cl = CleanLearning(LogisticRegression(max_iter=300), seed=0)
    with pytest.warns(UserWarning, match="no label issues yet"):
        assert cl.get_label_issues() is None
    frame = cl.find_label_issues(X, labels, save_space=True)
    assert list(frame.columns) == ["is_label_issue", "label_quality", "given_label", "predicted_label"]
    assert cl.label_issues_df is None
    cl.fit(X, labels, label_issues=frame)
    assert cl.label_issues_df["is_label_issue"].equals(frame["is_label_issue"])
    cl.save_space()
    assert cl.noise_matrix is None and cl.label_issues_df is None
    assert cl.predict(X).shape == labels.shape


# --------------------------------------------------------------------------------------------
# Bad input is refused before any fitting


class CountingClassifier(ClassifierMixin, BaseEstimator):
    """Logistic regression that counts the fits made through it (in this process)."""

    fits = 0

    def fit(self, X, y, sample_weight=None):
        type(self).fits += 1
        self.model_ = LogisticRegression(max_iter=200).fit(X, y, sample_weight=sample_weight)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)


class NoWeightsClassifier(CountingClassifier):
    def fit(self, X, y):
        return super().fit(X, y)


@pytest.mark.parametrize(
    "make_call, message",
    [
        (lambda X, y: CleanLearning(LinearSVC()).fit(X, y), "predict_proba"),
        (lambda X, y: CleanLearning(NoWeightsClassifier(), strategy="weight").fit(X, y), "sample_weight"),
        (lambda X, y: CleanLearning(NoWeightsClassifier()).fit(X, y, sample_weight=np.ones(len(y))), "sample_weight"),
        (lambda X, y: CleanLearning(CountingClassifier(), cv_n_folds=500).fit(X, y), "at least 500 examples"),
        (
            lambda X, y: CleanLearning(CountingClassifier(), cv_n_folds=2).fit(X, y, sample_weight=np.ones(3)),
            r"sample_weight passed to fit must have shape",
        ),
        (
            lambda X, y: CleanLearning(CountingClassifier(), cv_n_folds=2).fit(
                X, y, sample_weight=np.full(len(y), np.nan)
            ),
            "NaN",
        ),
        (
            lambda X, y: CleanLearning(CountingClassifier(), strategy="weight").fit(
                X, y, sample_weight=-np.ones(len(y))
            ),
            r"sample_weight passed to fit has negative values; strategy 'weight'",
        ),
        (lambda X, y: CleanLearning(CountingClassifier()).fit(X[:-1], y), "different lengths"),
        (lambda X, y: CleanLearning(CountingClassifier()).fit(X, np.zeros(len(y), dtype=int)), "only one class"),
        (
            lambda X, y: CleanLearning(CountingClassifier()).fit(X, np.where(np.arange(len(y)) == 5, np.nan, y)),
            "missing",
        ),
        (
            lambda X, y: CleanLearning(CountingClassifier()).fit(
                X, pd.Series(y, dtype=object).where(np.arange(len(y)) != 2, None)
            ),
            "missing",
        ),
        (lambda X, y: CleanLearning(CountingClassifier(), strategy="unknown").fit(X, y), "unknown strategy"),
        (lambda X, y: CleanLearning(CountingClassifier(), cv_n_folds=1).fit(X, y), "at least 2 folds"),
    ],
)
def test_bad_input_is_refused_before_fitting(make_call, message):
    X, labels, *_ = DATASETS["wine"]()
    CountingClassifier.fits = 0
    with pytest.raises(ValueError, match=message):
        make_call(X, labels)
    assert CountingClassifier.fits == 0


def test_knn_without_sample_weight_gets_no_automatic_weights():
    X, labels, *_ = DATASETS["wine"]()
    cl = CleanLearning(KNeighborsClassifier(), seed=0).fit(X, labels)
    assert cl.sample_weight is None and "sample_weight" not in cl.label_issues_df


@parametrize_with_checks(
    [CleanLearning(LogisticRegression(), cv_n_folds=2, seed=0)],
    expected_failed_checks=lambda estimator: {
        "check_fit_score_takes_y": "fit(X, labels): the reference's argument name (y= is accepted too)",
        "check_dont_overwrite_parameters": "fitted state keeps the reference's names (noise_matrix, ...)",
    },
)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        check(estimator)
