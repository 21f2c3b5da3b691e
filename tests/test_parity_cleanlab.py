"""Parity with the reference, cleanlab 2.9.0, on identical inputs.

Masks and ranked indices must be identical, integer matrices equal, float matrices equal
within 1e-9 and scores equal to the last bit where the reference computes in the same dtype.
Cases: random pred_probs over K in {2, 3, 10, 50}, N from 50 to 100,000, float32 and float64,
exact ties, classes never predicted or never labelled, heavy imbalance, and the out-of-fold
probabilities of real classifiers on bundled datasets. Cross-validation itself is compared on
classes with fewer examples than folds (SPEC §1.8 step 5).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

cleanlab = pytest.importorskip("cleanlab")
from cleanlab import count as ref_count  # noqa: E402
from cleanlab import filter as ref_filter  # noqa: E402
from cleanlab import rank as ref_rank  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from runner.confident import count, filter, rank  # noqa: E402
from runner.learn.cv import cross_val_pred_probs  # noqa: E402
from tests.helpers import PY_METHODS, RANK_METHODS, make_pred_probs, synthetic_cases, with_rare_classes  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore")

SYNTHETIC = synthetic_cases()
REAL = ("digits-logreg", "wine-forest", "breast_cancer-logreg")
CASES = list(SYNTHETIC) + list(REAL)


@pytest.fixture(params=CASES)
def case(request, real_cases):
    if request.param in SYNTHETIC:
        return SYNTHETIC[request.param]
    return real_cases[request.param]


def assert_same(ours, ref):
    """Identical arrays (same shape, dtype kind and values)."""
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.shape == ref.shape
    assert ours.dtype.kind == ref.dtype.kind
    np.testing.assert_array_equal(ours, ref)


def assert_close(ours, ref, atol=1e-9):
    if isinstance(ref, tuple):
        assert len(ours) == len(ref)
        for o, r in zip(ours, ref):
            assert_close(o, r, atol)
        return
    np.testing.assert_allclose(np.asarray(ours), np.asarray(ref), rtol=0, atol=atol)


def reference(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def test_confident_joint(case):
    labels, pred_probs = case
    for calibrate in (True, False):
        ours = count.compute_confident_joint(
            labels, pred_probs, calibrate=calibrate, return_indices_of_off_diagonals=True
        )
        ref = reference(
            ref_count.compute_confident_joint,
            labels,
            pred_probs,
            calibrate=calibrate,
            return_indices_of_off_diagonals=True,
        )
        assert_same(ours[0], ref[0])
        assert_same(ours[1], ref[1])
    assert_same(
        count.get_confident_thresholds(labels, pred_probs),
        ref_count.get_confident_thresholds(labels, pred_probs),
    )
    # A user's row-major matrix is calibrated in row-major order, like the reference does.
    raw = np.ascontiguousarray(count.compute_confident_joint(labels, pred_probs, calibrate=False))
    assert_same(count.calibrate_confident_joint(raw, labels), ref_count.calibrate_confident_joint(raw, labels))
    assert_close(count.estimate_joint(labels, pred_probs), ref_count.estimate_joint(labels, pred_probs))
    assert_close(
        count.estimate_joint(labels, pred_probs, confident_joint=raw),
        ref_count.estimate_joint(labels, pred_probs, confident_joint=raw),
    )
    thresholds = np.full(pred_probs.shape[1], 1 / pred_probs.shape[1])
    assert_same(
        count.compute_confident_joint(labels, pred_probs, thresholds=thresholds),
        ref_count.compute_confident_joint(labels, pred_probs, thresholds=thresholds),
    )


def test_latent_estimates(case):
    labels, pred_probs = case
    calibrated = count.compute_confident_joint(labels, pred_probs)
    raw = count.compute_confident_joint(labels, pred_probs, calibrate=False)
    for joint in (calibrated, raw):
        for py_method in PY_METHODS:
            for converge in (False, True):
                kwargs = dict(py_method=py_method, converge_latent_estimates=converge)
                try:
                    ref = reference(ref_count.estimate_latent, joint, labels, **kwargs)
                except np.linalg.LinAlgError:
                    with pytest.raises(np.linalg.LinAlgError):
                        count.estimate_latent(joint, labels, **kwargs)
                    continue
                assert_close(count.estimate_latent(joint, labels, **kwargs), ref)
    assert_close(
        count.estimate_py_and_noise_matrices_from_probabilities(labels, pred_probs),
        reference(ref_count.estimate_py_and_noise_matrices_from_probabilities, labels, pred_probs),
    )


def test_num_label_issues(case):
    labels, pred_probs = case
    for method in ("off_diagonal", "off_diagonal_calibrated"):
        assert count.num_label_issues(labels, pred_probs, estimation_method=method) == reference(
            ref_count.num_label_issues, labels, pred_probs, estimation_method=method
        )
    raw = count.compute_confident_joint(labels, pred_probs, calibrate=False)
    kwargs = dict(confident_joint=raw, estimation_method="off_diagonal_custom")
    assert count.num_label_issues(labels, pred_probs, **kwargs) == reference(
        ref_count.num_label_issues, labels, pred_probs, **kwargs
    )


def _filter_options(labels, pred_probs):
    n_classes = pred_probs.shape[1]
    raw = count.compute_confident_joint(labels, pred_probs, calibrate=False)
    counts = np.bincount(labels, minlength=n_classes)
    yield {}
    yield {"frac_noise": 0.5}
    yield {"frac_noise": 0.3}
    yield {"min_examples_per_class": 5}
    yield {"min_examples_per_class": int(np.median(counts[counts > 0]))}
    yield {"confident_joint": raw}
    yield {"num_to_remove_per_class": counts // 7}


@pytest.mark.parametrize("filter_by", ["prune_by_noise_rate", "prune_by_class", "both"])
def test_find_label_issues_prune_methods(case, filter_by):
    labels, pred_probs = case
    for options in _filter_options(labels, pred_probs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = ref_filter.find_label_issues(labels, pred_probs, filter_by=filter_by, n_jobs=1, **options)
            ours = filter.find_label_issues(labels, pred_probs, filter_by=filter_by, **options)
        assert_same(ours, ref), options


@pytest.mark.parametrize(
    "filter_by", ["confident_learning", "predicted_neq_given", "low_normalized_margin", "low_self_confidence"]
)
def test_find_label_issues_other_methods(case, filter_by):
    labels, pred_probs = case
    assert_same(
        filter.find_label_issues(labels, pred_probs, filter_by=filter_by),
        reference(ref_filter.find_label_issues, labels, pred_probs, filter_by=filter_by),
    )


@pytest.mark.parametrize("rank_by", RANK_METHODS)
def test_ranked_indices(case, rank_by):
    labels, pred_probs = case
    adjust_options = (False, True) if rank_by != "confidence_weighted_entropy" else (False,)
    for filter_by in ("prune_by_noise_rate", "both", "confident_learning"):
        for adjust in adjust_options:
            kwargs = dict(
                filter_by=filter_by,
                return_indices_ranked_by=rank_by,
                rank_by_kwargs={"adjust_pred_probs": adjust},
            )
            assert_same(
                filter.find_label_issues(labels, pred_probs, **kwargs),
                reference(ref_filter.find_label_issues, labels, pred_probs, n_jobs=1, **kwargs),
            )
    mask = filter.find_label_issues(labels, pred_probs)
    assert_same(
        rank.order_label_issues(mask, labels, pred_probs, rank_by=rank_by),
        reference(ref_rank.order_label_issues, mask, labels, pred_probs, rank_by=rank_by),
    )


def test_quality_scores(case):
    labels, pred_probs = case
    for method in RANK_METHODS:
        for adjust in (False, True) if method != "confidence_weighted_entropy" else (False,):
            ours = rank.get_label_quality_scores(labels, pred_probs, method=method, adjust_pred_probs=adjust)
            ref = ref_rank.get_label_quality_scores(labels, pred_probs, method=method, adjust_pred_probs=adjust)
            assert ours.dtype == ref.dtype
            assert_same(ours, ref)
    scores = rank.get_label_quality_scores(labels, pred_probs)
    assert_same(rank.find_top_issues(scores, top=20), ref_rank.find_top_issues(scores, top=20))


def test_helper_filters(case):
    labels, pred_probs = case
    assert_same(
        filter.find_predicted_neq_given(labels, pred_probs),
        ref_filter.find_predicted_neq_given(labels, pred_probs),
    )
    if (
        np.bincount(pred_probs.argmax(axis=1), minlength=pred_probs.shape[1]).all()
        and np.bincount(labels, minlength=pred_probs.shape[1]).all()
    ):  # otherwise the reference crashes (see test_deliberate_differences)
        for calibrate in (True, False):
            assert_same(
                filter.find_label_issues_using_argmax_confusion_matrix(labels, pred_probs, calibrate=calibrate),
                reference(
                    ref_filter.find_label_issues_using_argmax_confusion_matrix,
                    labels,
                    pred_probs,
                    calibrate=calibrate,
                ),
            )


@pytest.mark.parametrize("weighting", ["uniform", "accuracy", "log_loss_search", "custom"])
@pytest.mark.parametrize("method", RANK_METHODS)
def test_ensemble_scores(real_cases, weighting, method):
    labels, pred_probs = real_cases["digits-logreg"]
    n_classes = pred_probs.shape[1]
    members = [pred_probs, 0.5 * pred_probs + 0.5 / n_classes, np.roll(pred_probs, 1, axis=0)]
    kwargs = dict(method=method, weight_ensemble_members_by=weighting)
    if weighting == "custom":
        kwargs["custom_weights"] = np.array([0.5, 0.2, 0.3])
    ours = rank.get_label_quality_ensemble_scores(labels, members, **kwargs)
    ref = ref_rank.get_label_quality_ensemble_scores(labels, members, verbose=False, **kwargs)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)


def test_ensemble_refuses_custom_weights_without_custom_weighting(real_cases):
    labels, pred_probs = real_cases["wine-forest"]
    kwargs = dict(weight_ensemble_members_by="accuracy", custom_weights=np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="custom"):
        ref_rank.get_label_quality_ensemble_scores(labels, [pred_probs, pred_probs], **kwargs)
    with pytest.raises(ValueError, match="weight_ensemble_members_by='custom'"):
        rank.get_label_quality_ensemble_scores(labels, [pred_probs, pred_probs], **kwargs)


@pytest.mark.parametrize("filter_by", ["prune_by_noise_rate", "prune_by_class", "both"])
@pytest.mark.parametrize("to_remove", [0, 3, 7])
def test_one_count_for_every_class_in_num_to_remove_per_class(filter_by, to_remove):
    labels, pred_probs, _ = make_pred_probs(1000, 4, seed=5)
    ours = filter.find_label_issues(labels, pred_probs, filter_by=filter_by, num_to_remove_per_class=to_remove)
    ref = reference(
        ref_filter.find_label_issues,
        labels,
        pred_probs,
        filter_by=filter_by,
        num_to_remove_per_class=to_remove,
        n_jobs=1,
    )
    assert_same(ours, ref)
    per_class = filter.find_label_issues(
        labels, pred_probs, filter_by=filter_by, num_to_remove_per_class=[to_remove] * 4
    )
    assert_same(ours, per_class)


# --------------------------------------------------------------------------------------------
# Cross-validation with classes that have fewer examples than folds (SPEC §1.8 step 5, §4.7)


def _digits_with_rare_classes(sizes):
    X, y = load_digits(return_X_y=True)
    X, y = StandardScaler().fit_transform(X[:400]), y[:400]
    return X, with_rare_classes(y, sizes)


RARE_CLASSES = [
    pytest.param(n_folds, {3: n_rare}, id=f"{n_folds}folds-{n_rare}examples")
    for n_folds in (5, 10)
    for n_rare in (1, 2, n_folds - 1)
] + [pytest.param(n_folds, {3: 1, 7: 1}, id=f"{n_folds}folds-two-singletons") for n_folds in (5, 10)]


@pytest.mark.parametrize("n_folds, sizes", RARE_CLASSES)
def test_cross_validation_with_rare_classes(n_folds, sizes):
    X, labels = _digits_with_rare_classes(sizes)
    clf = LogisticRegression(max_iter=200)
    with threadpool_limits(1), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        theirs = ref_count.estimate_cv_predicted_probabilities(X, labels, clf, cv_n_folds=n_folds, seed=0)
        n_theirs = len(caught)
        ours = cross_val_pred_probs(clf, X, labels, n_folds=n_folds, seed=0)
    assert_same(ours, theirs)
    # A held-out example lent to a training fold, and only then, is certain of its label and
    # announced by a warning (the reference warns that it duplicated data across folds).
    lent = [w for w in caught[:n_theirs] if "Duplicated" in str(w.message)]
    lent_ours = [w for w in caught[n_theirs:] if "too few examples" in str(w.message)]
    assert bool(lent) == bool(lent_ours)
    assert all(issubclass(w.category, UserWarning) for w in lent_ours)
    one_hot = np.flatnonzero(ours.max(axis=1) == 1)
    if min(sizes.values()) == 1:
        singletons = [np.flatnonzero(labels == k)[0] for k, size in sizes.items() if size == 1]
        assert set(singletons) <= set(one_hot) and lent_ours
        np.testing.assert_array_equal(ours[singletons].argmax(axis=1), labels[singletons])
    else:
        assert not lent_ours  # two or more examples: every training fold holds the class
