"""CleanLearning as a data scientist uses it: pipelines, sample weights, plugins, progress, DataFrames.

* a scikit-learn ``Pipeline`` gets the sample weights of ``weight`` / ``soft_weight``, of
  ``remove``'s class re-weighting and of the caller's ``fit(sample_weight=)`` — through metadata
  routing when the user turned it on, else as ``<last step>__sample_weight``; where they cannot
  reach the model, ``weight`` is refused before any fit and ``remove`` says once what it dropped;
* a detector that returns no ``pred_probs`` combines with ``relabel``: the runner hands the
  strategy the out-of-fold probabilities;
* errors name a plugin the same way everywhere, and a bad score says how many and which;
* ``verbose=True`` shows progress in a plain script; a DataFrame fit records ``feature_names_in_``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from runner import CleanLearning
from runner.contracts import Detection


class RecordingClassifier(LogisticRegression):
    """A logistic regression that keeps the ``sample_weight`` its ``fit`` received (None: none)."""

    fits: list = []  # every fit of every copy, in order: (n_rows, weights)

    def fit(self, X, y, sample_weight=None):
        self.received_weight_ = None if sample_weight is None else np.array(sample_weight, dtype=float)
        RecordingClassifier.fits.append((len(y), self.received_weight_))
        return super().fit(X, y, sample_weight=sample_weight)


@pytest.fixture(autouse=True)
def no_recorded_fits():
    RecordingClassifier.fits.clear()
    yield
    RecordingClassifier.fits.clear()


@pytest.fixture(scope="module")
def noisy():
    """``(X, labels)``: 3 classes, 300 rows, 20% of the labels flipped."""
    X, y = make_classification(n_samples=300, n_features=6, n_informative=4, n_classes=3, random_state=0)
    rng = np.random.default_rng(0)
    flip = rng.random(len(y)) < 0.2
    return X, np.where(flip, (y + 1) % 3, y)


def last_step(learner):
    return learner.clf_.steps[-1][1]


def full_weights(learner):
    """The final fit's weights of every row (0 for rows it did not train on)."""
    weights = np.zeros(len(learner.label_issues_mask))
    weights[learner.training_set_.rows] = learner.training_set_.sample_weight
    return weights


# --------------------------------------------------------------------------------------------
# Sample weights reach a pipeline's last step


@pytest.mark.parametrize("strategy", ["weight", "soft_weight"])
def test_a_pipeline_gets_the_strategys_weights_without_metadata_routing(noisy, strategy):
    X, labels = noisy
    learner = CleanLearning(make_pipeline(StandardScaler(), RecordingClassifier()), strategy=strategy, seed=0)
    learner.fit(X, labels)
    received = last_step(learner).received_weight_
    assert received is not None and len(received) == len(labels)
    np.testing.assert_array_equal(received, learner.training_set_.sample_weight)
    if strategy == "weight":
        np.testing.assert_array_equal(received, np.where(learner.label_issues_mask, 0.0, 1.0))
    np.testing.assert_array_equal(learner.sample_weight, full_weights(learner))


def test_a_pipeline_gets_the_weights_through_metadata_routing_when_the_user_turned_it_on(noisy):
    X, labels = noisy
    with sklearn.config_context(enable_metadata_routing=True):
        pipeline = make_pipeline(
            StandardScaler().set_fit_request(sample_weight=False),
            RecordingClassifier().set_fit_request(sample_weight=True),
        )
        learner = CleanLearning(pipeline, strategy="weight", seed=0).fit(X, labels)
    np.testing.assert_array_equal(last_step(learner).received_weight_, np.where(learner.label_issues_mask, 0.0, 1.0))


def test_under_metadata_routing_a_pipeline_that_requests_no_weights_is_refused_before_any_fit(noisy):
    X, labels = noisy
    with sklearn.config_context(enable_metadata_routing=True):
        pipeline = make_pipeline(StandardScaler(), RecordingClassifier())
        with pytest.raises(
            ValueError,
            match=r"strategy 'weight' needs sample weights.*set_fit_request"
            r"\(sample_weight=True\) on its last step \('recordingclassifier'\)",
        ):
            CleanLearning(pipeline, strategy="weight", seed=0).fit(X, labels)
    assert RecordingClassifier.fits == []


def test_removes_class_reweighting_reaches_a_pipelines_last_step(noisy):
    X, labels = noisy
    learner = CleanLearning(make_pipeline(StandardScaler(), RecordingClassifier()), seed=0).fit(X, labels)
    received = last_step(learner).received_weight_
    kept = learner.training_set_.rows
    assert len(kept) < len(labels) and received is not None
    expected = 1.0 / np.diagonal(learner.noise_matrix)[labels[kept]]
    np.testing.assert_allclose(received, expected)
    assert "sample_weight" in learner.label_issues_df.columns


def test_the_callers_own_weights_reach_a_pipeline(noisy):
    X, labels = noisy
    weights = np.linspace(0.5, 2.0, len(labels))
    pipeline = make_pipeline(StandardScaler(), RecordingClassifier())
    learner = CleanLearning(pipeline, seed=0).fit(X, labels, sample_weight=weights)
    np.testing.assert_array_equal(last_step(learner).received_weight_, weights[learner.training_set_.rows])
    checked = CleanLearning(pipeline, seed=0, validate_cleaning=True).fit(X, labels, sample_weight=weights)
    assert checked.cleaning_check_ is not None
    # every fit of the held-out check got weights too (the folds of the cross-validation never do)
    assert any(weights is not None and len(weights) < len(labels) for _, weights in RecordingClassifier.fits)


def test_weights_that_cannot_reach_the_model_refuse_weight_and_are_dropped_once_with_a_warning_by_remove(noisy):
    X, labels = noisy
    pipeline = make_pipeline(StandardScaler(), KNeighborsClassifier())
    with pytest.raises(
        ValueError,
        match=r"strategy 'weight' needs sample weights.*KNeighborsClassifier\.fit has no "
        r"sample_weight parameter",
    ):
        CleanLearning(pipeline, strategy="weight", seed=0).fit(X, labels)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        learner = CleanLearning(pipeline, seed=0).fit(X, labels)
    dropped = [w for w in caught if "cannot reach the classifier" in str(w.message)]
    assert len(dropped) == 1, [str(w.message) for w in caught]
    message = str(dropped[0].message)
    assert "strategy 'remove'" in message and "KNeighborsClassifier" in message and "unweighted" in message
    assert learner.sample_weight is None and "sample_weight" not in learner.label_issues_df.columns
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to drop, nothing to say
        CleanLearning(pipeline, seed=0, strategy="none").fit(X, labels)


# --------------------------------------------------------------------------------------------
# Any detector with any strategy; errors that name the plugin


class MarginDetector:
    """Flags rows whose given label's probability is below 0.3; returns no pred_probs, no noise matrix."""

    def detect(self, labels, pred_probs):
        given = pred_probs[np.arange(len(labels)), labels]
        return Detection(label_issues=given < 0.3, label_quality=given)


@pytest.mark.parametrize("strategy", ["relabel", "relabel_confident"])
def test_a_detector_without_pred_probs_combines_with_relabelling_strategies(noisy, strategy):
    X, labels = noisy
    learner = CleanLearning(LogisticRegression(), detector=MarginDetector(), strategy=strategy, seed=0)
    learner.fit(X, labels)
    flagged = learner.label_issues_mask
    assert flagged.any()
    predicted = learner.pred_probs.argmax(axis=1)
    training = learner.training_set_
    relabelled = flagged[training.rows]
    np.testing.assert_array_equal(training.labels[relabelled], predicted[training.rows][relabelled])


class OutOfRangeScores:
    def detect(self, labels, pred_probs):
        scores = pred_probs[np.arange(len(labels)), labels].copy()
        scores[:3] = [-0.5, 1.5, np.nan]
        return Detection(label_issues=np.zeros(len(labels), dtype=bool), label_quality=scores)


def test_out_of_range_scores_are_refused_saying_how_many_and_which(noisy):
    X, labels = noisy
    with pytest.raises(
        ValueError,
        match=r"^detector OutOfRangeScores returned 3 of 300 label_quality scores outside "
        r"\[0, 1\] \(or NaN\), e\.g\. -0\.5, 1\.5, nan",
    ):
        CleanLearning(LogisticRegression(), detector=OutOfRangeScores(), seed=0).fit(X, labels)


class NoClassLeft:
    requires_sample_weight = False

    def select(self, detection, labels, sample_weight=None):
        keep = np.flatnonzero(labels != 0)
        return __import__("runner.strategies", fromlist=["TrainingSet"]).TrainingSet(keep, labels[keep])


def test_the_learner_names_a_strategy_object_and_a_detector_object_alike(noisy):
    X, labels = noisy
    with pytest.raises(ValueError, match=r"^strategy NoClassLeft left classes \[0\]"):
        CleanLearning(LogisticRegression(), strategy=NoClassLeft(), seed=0).fit(X, labels)


# --------------------------------------------------------------------------------------------
# Progress in a plain script; feature names


SCRIPT = textwrap.dedent("""
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from runner import CleanLearning
    X, y = make_classification(n_samples=200, n_classes=3, n_informative=4, random_state=0)
    CleanLearning(LogisticRegression(), verbose={verbose}, seed=0).fit(X, y)
""")


@pytest.mark.parametrize("verbose", [True, False])
def test_verbose_shows_progress_in_a_plain_script(tmp_path, verbose):
    script = tmp_path / "script.py"
    script.write_text(SCRIPT.format(verbose=verbose))
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    if verbose:
        assert "fold 1/5" in output and "fold 5/5" in output, output
        assert "examples flagged" in output and "final fit on" in output, output
    else:
        assert output == ""


def test_a_dataframe_fit_records_feature_names_in(noisy):
    X, labels = noisy
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    learner = CleanLearning(LogisticRegression(), seed=0).fit(frame, labels)
    np.testing.assert_array_equal(learner.feature_names_in_, frame.columns.to_numpy(dtype=object))
    assert learner.n_features_in_ == X.shape[1]
    assert not hasattr(CleanLearning(LogisticRegression(), seed=0).fit(X, labels), "feature_names_in_")
    learner.fit(X, labels)  # a refit on an array forgets the names
    assert not hasattr(learner, "feature_names_in_")
