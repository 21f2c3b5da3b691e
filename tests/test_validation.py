"""Bad input at the public boundary of runner.confident: one clear ValueError, nothing else.

Part one lists the bad inputs one by one (SPEC intro item 4, §2.2) and checks that every
public function taking ``(labels, pred_probs)`` — and ``estimate_latent`` /
``calibrate_confident_joint``, which take ``(confident_joint, labels)`` — raises a
``ValueError`` whose message names the problem. Part two throws random shapes, dtypes and
values at the same functions with hypothesis: each call returns a result of the right shape
and dtype or raises ``ValueError``; no other exception, no silently wrong shape.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.confident import (
    calibrate_confident_joint,
    compute_confident_joint,
    estimate_latent,
    estimate_py_and_noise_matrices_from_probabilities,
    find_label_issues,
    get_confident_thresholds,
    get_label_quality_scores,
    num_label_issues,
    order_label_issues,
)
from tests.helpers import FILTER_METHODS, PRUNE_METHODS, PY_METHODS, RANK_METHODS, make_pred_probs

LABELS, PRED_PROBS, _ = make_pred_probs(30, 3, seed=0)
CONFIDENT_JOINT = compute_confident_joint(LABELS, PRED_PROBS)
ESTIMATION_METHODS = ["off_diagonal", "off_diagonal_calibrated", "off_diagonal_custom"]


def _n_rows(pred_probs):
    return np.shape(pred_probs)[0] if np.ndim(pred_probs) else 0


# Every public function of (labels, pred_probs), called with its defaults.
PUBLIC = {
    "find_label_issues": lambda labels, pred_probs: find_label_issues(labels, pred_probs),
    "compute_confident_joint": lambda labels, pred_probs: compute_confident_joint(labels, pred_probs),
    "num_label_issues": lambda labels, pred_probs: num_label_issues(labels, pred_probs),
    "get_label_quality_scores": lambda labels, pred_probs: get_label_quality_scores(labels, pred_probs),
    "get_confident_thresholds": lambda labels, pred_probs: get_confident_thresholds(labels, pred_probs),
    "order_label_issues": lambda labels, pred_probs: order_label_issues(
        np.ones(_n_rows(pred_probs), dtype=bool), labels, pred_probs
    ),
    "estimate_py_and_noise_matrices_from_probabilities": (
        lambda labels, pred_probs: estimate_py_and_noise_matrices_from_probabilities(labels, pred_probs)
    ),
}
# The functions of (confident_joint, labels), with a valid 3x3 matrix.
FROM_JOINT = {
    "estimate_latent": lambda labels: estimate_latent(CONFIDENT_JOINT, labels),
    "calibrate_confident_joint": lambda labels: calibrate_confident_joint(CONFIDENT_JOINT, labels),
}


def with_entry(value, row=4, column=1):
    pred_probs = PRED_PROBS.copy()
    pred_probs[row, column] = value
    return pred_probs


def with_label(value, index=7):
    labels = LABELS.copy()
    labels[index] = value
    return labels


# (labels, pred_probs, regex the message must match)
BAD_PRED_PROBS = {
    "length-mismatch": (LABELS[:-1], PRED_PROBS, r"different lengths: 29 vs 30"),
    "pred_probs-1d": (LABELS, PRED_PROBS[:, 0], r"2-D"),
    "pred_probs-3d": (LABELS, PRED_PROBS[:, :, None], r"2-D"),
    "nan": (LABELS, with_entry(np.nan), r"NaN"),
    "+inf": (LABELS, with_entry(np.inf), r"inf"),
    "-inf": (LABELS, with_entry(-np.inf), r"inf"),
    "rows-not-summing-to-1": (LABELS, PRED_PROBS * 0.9, r"sum to 1"),
    "one-row-not-summing-to-1": (LABELS, with_entry(PRED_PROBS[4, 1] + 0.01), r"1 rows do not \(row 4"),
    "above-1": (LABELS, with_entry(1.5, row=0, column=0), r"\[0, 1\]"),
    "below-0": (LABELS, np.tile([[-0.2, 0.6, 0.6]], (30, 1)), r"\[0, 1\]"),
    "one-column": (np.zeros(30, dtype=int), np.ones((30, 1)), r"at least 2 columns"),
    "zero-columns": (np.zeros(30, dtype=int), np.ones((30, 0)), r"at least 2 columns"),
    "empty": (np.array([], dtype=int), np.empty((0, 3)), r"empty"),
    "empty-list": ([], np.empty((0, 3)), r"empty"),
    "strings-as-probabilities": (LABELS, PRED_PROBS.astype(str), r"numeric"),
}
BAD_LABELS = {
    "negative-label": (with_label(-1), r"0\.\.K-1"),
    "label-equal-to-K": (with_label(3), r"0\.\.K-1"),
    "label-above-K": (with_label(10), r"0\.\.K-1"),
    "float-labels": (LABELS + 0.5, r"integers"),
    "integer-valued-float-labels": (LABELS.astype(float), r"integers"),
    "string-labels": (LABELS.astype(str), r"integers"),
    "object-labels": (LABELS.astype(object), r"integers"),
    "labels-none": (np.array([None] * 30), r"integers"),
    "labels-2d": (np.stack([LABELS, LABELS], axis=1), r"1-D"),
    "labels-scalar": (np.int64(1), r"1-D"),
}

OUT_OF_RANGE = ("negative-label", "label-equal-to-K", "label-above-K")


@pytest.mark.parametrize("function", PUBLIC)
@pytest.mark.parametrize("case", BAD_PRED_PROBS)
def test_bad_pred_probs_raise_value_error_naming_the_problem(function, case):
    labels, pred_probs, match = BAD_PRED_PROBS[case]
    with pytest.raises(ValueError, match=match):
        PUBLIC[function](labels, pred_probs)


@pytest.mark.parametrize("function", PUBLIC)
@pytest.mark.parametrize("case", BAD_LABELS)
def test_bad_labels_raise_value_error_naming_the_problem(function, case):
    labels, match = BAD_LABELS[case]
    with pytest.raises(ValueError, match=match):
        PUBLIC[function](labels, PRED_PROBS)


@pytest.mark.parametrize("function", FROM_JOINT)
@pytest.mark.parametrize("case", BAD_LABELS)
def test_bad_labels_with_a_confident_joint_raise_value_error(function, case):
    labels, match = BAD_LABELS[case]
    if case in OUT_OF_RANGE:
        match = r"lie in 0\.\.2"  # the range comes from the size of the matrix
    with pytest.raises(ValueError, match=match):
        FROM_JOINT[function](labels)


@pytest.mark.parametrize("function", ["find_label_issues", "num_label_issues", "order_label_issues"])
def test_single_class_other_than_zero_is_refused(function):
    with pytest.raises(ValueError, match="single class"):
        PUBLIC[function](np.full(30, 2), PRED_PROBS)
    PUBLIC[function](np.zeros(30, dtype=int), PRED_PROBS)  # {0} is the reference's allowance


@pytest.mark.parametrize("function", ["get_label_quality_scores", "get_confident_thresholds"])
def test_scores_and_thresholds_allow_any_single_class(function):
    result = PUBLIC[function](np.full(30, 2), PRED_PROBS)
    assert result.shape == ((30,) if function == "get_label_quality_scores" else (3,))


def test_empty_labels_for_estimate_latent():
    with pytest.raises(ValueError, match="non-empty"):
        estimate_latent(CONFIDENT_JOINT, [])


# --------------------------------------------------------------------------------------------
# Unknown option names: the message lists the valid ones


def assert_lists(valid, function, **kwargs):
    with pytest.raises(ValueError) as error:
        function(**kwargs)
    message = str(error.value)
    assert "'nope'" in message
    for name in valid:
        assert repr(name) in message


def test_unknown_filter_by_lists_the_valid_names():
    assert_lists(FILTER_METHODS, find_label_issues, labels=LABELS, pred_probs=PRED_PROBS, filter_by="nope")


def test_unknown_ranking_lists_the_valid_names():
    assert_lists(RANK_METHODS, find_label_issues, labels=LABELS, pred_probs=PRED_PROBS, return_indices_ranked_by="nope")
    assert_lists(RANK_METHODS, get_label_quality_scores, labels=LABELS, pred_probs=PRED_PROBS, method="nope")
    assert_lists(
        RANK_METHODS,
        order_label_issues,
        label_issues_mask=np.ones(30, dtype=bool),
        labels=LABELS,
        pred_probs=PRED_PROBS,
        rank_by="nope",
    )


def test_unknown_py_method_lists_the_valid_names():
    assert_lists(PY_METHODS, estimate_latent, confident_joint=CONFIDENT_JOINT, labels=LABELS, py_method="nope")
    assert_lists(
        PY_METHODS,
        estimate_py_and_noise_matrices_from_probabilities,
        labels=LABELS,
        pred_probs=PRED_PROBS,
        py_method="nope",
    )


def test_unknown_estimation_method_lists_the_valid_names():
    assert_lists(ESTIMATION_METHODS, num_label_issues, labels=LABELS, pred_probs=PRED_PROBS, estimation_method="nope")


# --------------------------------------------------------------------------------------------
# Other arguments

WRONG_JOINTS = {
    "4x4": (np.eye(4, dtype=int), r"\(K, K\) = \(3, 3\).*\(4, 4\)"),
    "2x2": (np.eye(2, dtype=int), r"\(K, K\) = \(3, 3\).*\(2, 2\)"),
    "3x2": (np.ones((3, 2), dtype=int), r"square"),
    "1-d": (np.ones(3, dtype=int), r"square"),
    "nan": (np.where(np.eye(3, dtype=bool), np.nan, 1.0), r"NaN"),
    "strings": (CONFIDENT_JOINT.astype(str), r"numbers"),
}


@pytest.mark.parametrize("filter_by", PRUNE_METHODS)
@pytest.mark.parametrize("case", WRONG_JOINTS)
def test_wrong_confident_joint_for_prune_methods(filter_by, case):
    joint, match = WRONG_JOINTS[case]
    with pytest.raises(ValueError, match=match):
        find_label_issues(LABELS, PRED_PROBS, filter_by=filter_by, confident_joint=joint)


@pytest.mark.parametrize("case", WRONG_JOINTS)
def test_wrong_confident_joint_for_the_other_entry_points(case):
    joint, match = WRONG_JOINTS[case]
    with pytest.raises(ValueError, match=match):
        num_label_issues(LABELS, PRED_PROBS, confident_joint=joint, estimation_method="off_diagonal_custom")
    if "K, K" in match:
        return  # square matrices of another size define their own K here
    for function in (estimate_latent, calibrate_confident_joint):
        with pytest.raises(ValueError, match=match):
            function(joint, LABELS)


def test_confident_joint_is_ignored_by_confident_learning():
    with pytest.warns(UserWarning, match="ignored"):
        mask = find_label_issues(LABELS, PRED_PROBS, filter_by="confident_learning", confident_joint=np.eye(4))
    np.testing.assert_array_equal(mask, find_label_issues(LABELS, PRED_PROBS, filter_by="confident_learning"))


def test_off_diagonal_custom_needs_a_confident_joint():
    with pytest.raises(ValueError, match="needs a confident_joint"):
        num_label_issues(LABELS, PRED_PROBS, estimation_method="off_diagonal_custom")


@pytest.mark.parametrize("filter_by", PRUNE_METHODS)
@pytest.mark.parametrize("to_remove", [[1, 2], [1, 2, 3, 4], [[1, 2, 3]], [[1], [2], [3]]])
def test_wrong_length_num_to_remove_per_class(filter_by, to_remove):
    with pytest.raises(ValueError, match=r"num_to_remove_per_class must be one count or K=3 counts"):
        find_label_issues(LABELS, PRED_PROBS, filter_by=filter_by, num_to_remove_per_class=to_remove)


@pytest.mark.parametrize("filter_by", ["confident_learning", "predicted_neq_given", "low_self_confidence"])
def test_num_to_remove_per_class_needs_a_prune_method(filter_by):
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="needs filter_by in"):
        find_label_issues(LABELS, PRED_PROBS, filter_by=filter_by, num_to_remove_per_class=[1, 1, 1])


@pytest.mark.parametrize("n_jobs", [0, -1])
def test_n_jobs_below_one(n_jobs):
    with pytest.raises(ValueError, match="n_jobs must be >= 1"):
        find_label_issues(LABELS, PRED_PROBS, n_jobs=n_jobs)


@pytest.mark.parametrize(
    "thresholds, match",
    [
        ([0.5, 0.5], r"shape \(K,\) = \(3,\)"),
        (np.full((3, 1), 0.5), r"shape"),
        ([np.nan] * 3, "NaN"),
        (["a"] * 3, "numbers"),
    ],
)
def test_bad_thresholds(thresholds, match):
    with pytest.raises(ValueError, match=match):
        compute_confident_joint(LABELS, PRED_PROBS, thresholds=thresholds)


def test_mask_of_wrong_length_for_order_label_issues():
    with pytest.raises(ValueError, match=r"label_issues_mask must have shape \(30,\)"):
        order_label_issues(np.ones(29, dtype=bool), LABELS, PRED_PROBS)


def test_multi_label_is_refused():
    with pytest.raises(NotImplementedError, match="multi_label"):
        find_label_issues(LABELS, PRED_PROBS, multi_label=True)


@pytest.mark.parametrize("labels", [list(LABELS), tuple(LABELS), LABELS[:, None], LABELS.astype(np.uint8), LABELS == 1])
def test_array_like_labels_are_accepted(labels):
    expected = find_label_issues(np.asarray(labels).reshape(-1).astype(int), PRED_PROBS)
    np.testing.assert_array_equal(find_label_issues(labels, PRED_PROBS), expected)


def test_rows_within_the_tolerance_are_accepted():
    pred_probs = PRED_PROBS * (1 + 5e-5)  # a float32 softmax over many classes is off by ~1e-5
    assert find_label_issues(LABELS, pred_probs).shape == (30,)


# --------------------------------------------------------------------------------------------
# Property-based: random shapes, dtypes and values


def rarely(*defects, odds=12):
    """A strategy drawing ``None`` (no defect) most of the time, else one of ``defects``."""
    return st.sampled_from([None] * odds + list(defects))


@st.composite
def inputs(draw):
    """``(labels, pred_probs)``: often valid, otherwise broken in one or more ways."""
    # sampled_from draws uniformly (st.integers favours the bounds) and shrinks towards the front.
    n_samples = draw(st.sampled_from([*range(1, 61), 0]))
    n_classes = draw(st.sampled_from([2, 3, 4, 5, 6, 0, 1]))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.int64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if dtype is np.int64:  # integer probabilities are valid only as one-hot rows
        pred_probs = np.eye(max(n_classes, 1), dtype=dtype)[rng.integers(0, max(n_classes, 1), n_samples)]
        pred_probs = pred_probs[:, :n_classes]
    else:
        concentration = draw(st.sampled_from([0.05, 1.0, 20.0]))  # near one-hot .. near uniform
        pred_probs = rng.dirichlet(np.full(max(n_classes, 1), concentration), n_samples)[:, :n_classes]
        pred_probs = pred_probs.astype(dtype)
        value = draw(rarely(np.nan, np.inf, -np.inf, 1.5, -0.1, 0.0, odds=12))
        if value is not None and pred_probs.size:
            pred_probs[rng.integers(n_samples), rng.integers(n_classes)] = value
    n_labels = max(n_samples + (draw(rarely(-1, 1)) or 0), 0)  # sometimes mismatched lengths
    low = draw(rarely(-1)) or 0  # sometimes negative labels
    high = max(n_classes, 1) + (draw(rarely(1)) or 0)  # sometimes labels >= K
    labels = rng.integers(low, high, n_labels).astype(draw(rarely(np.float64, np.int32)) or np.int64)
    return labels, pred_probs


def outcome(function, *args, **kwargs):
    """The result, or None if the function refused the input with a ValueError."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small classes warn; that is fine here
        try:
            return function(*args, **kwargs)
        except ValueError:
            return None


def is_valid(labels, pred_probs):
    """Whether the input satisfies every documented requirement (then no error is allowed)."""
    n_classes = pred_probs.shape[1] if pred_probs.ndim == 2 else 0
    return (
        labels.dtype.kind == "i"
        and len(labels) == len(pred_probs) > 0
        and n_classes >= 2
        and np.isfinite(pred_probs).all()
        and pred_probs.min() >= 0
        and pred_probs.max() <= 1
        and np.allclose(pred_probs.astype(np.float64).sum(axis=1), 1, rtol=0, atol=1e-4)
        and labels.min() >= 0
        and labels.max() < n_classes
    )


PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(inputs(), st.sampled_from(FILTER_METHODS), st.sampled_from([None] + RANK_METHODS))
def test_find_label_issues_returns_a_mask_or_raises_value_error(data, filter_by, ranked_by):
    labels, pred_probs = data
    result = outcome(find_label_issues, labels, pred_probs, filter_by=filter_by)
    if is_valid(labels, pred_probs) and (labels.min() == labels.max() == 0 or len(set(labels)) > 1):
        assert result is not None
    if result is None:
        return
    assert result.shape == (len(labels),) and result.dtype == bool
    ranked = outcome(find_label_issues, labels, pred_probs, filter_by=filter_by, return_indices_ranked_by=ranked_by)
    if ranked_by is not None and ranked is not None:
        assert ranked.dtype.kind == "i" and ranked.ndim == 1
        np.testing.assert_array_equal(np.sort(ranked), np.flatnonzero(result))


@PROPERTY_SETTINGS
@given(inputs(), st.booleans())
def test_confident_joint_and_thresholds_have_shape_k(data, calibrate):
    labels, pred_probs = data
    joint = outcome(compute_confident_joint, labels, pred_probs, calibrate=calibrate)
    thresholds = outcome(get_confident_thresholds, labels, pred_probs)
    assert (joint is None) == (thresholds is None) == (not is_valid(labels, pred_probs))
    if joint is None:
        return
    n_classes = pred_probs.shape[1]
    assert joint.shape == (n_classes, n_classes) and joint.dtype == np.int64
    assert thresholds.shape == (n_classes,) and thresholds.dtype.kind == "f"
    if calibrate:
        np.testing.assert_array_equal(joint.sum(axis=1), np.bincount(labels, minlength=n_classes))
    for function in (calibrate_confident_joint, estimate_latent):
        assert outcome(function, joint, labels) is not None


@PROPERTY_SETTINGS
@given(inputs(), st.sampled_from(PY_METHODS), st.booleans())
def test_latent_estimates_have_shape_k(data, py_method, converge):
    labels, pred_probs = data
    joint = outcome(compute_confident_joint, labels, pred_probs)
    if joint is None:
        return
    # An explicit, possibly mismatched joint: its size defines K, and labels must fit it.
    result = outcome(estimate_latent, joint, labels, py_method=py_method, converge_latent_estimates=converge)
    if result is None:
        assert py_method == "eqn"  # a singular noise matrix (LinAlgError is a ValueError)
        return
    n_classes = len(joint)
    py, noise_matrix, inverse = result
    assert py.shape == (n_classes,)
    assert noise_matrix.shape == inverse.shape == (n_classes, n_classes)
    assert np.isfinite(py).all() and np.isfinite(noise_matrix).all() and np.isfinite(inverse).all()


@PROPERTY_SETTINGS
@given(inputs(), st.sampled_from(ESTIMATION_METHODS))
def test_num_label_issues_is_a_count_or_raises_value_error(data, estimation_method):
    labels, pred_probs = data
    joint = outcome(compute_confident_joint, labels, pred_probs, calibrate=False)
    result = outcome(
        num_label_issues,
        labels,
        pred_probs,
        estimation_method=estimation_method,
        confident_joint=joint if estimation_method == "off_diagonal_custom" else None,
    )
    if result is None:
        return
    assert isinstance(result, np.int64)
    assert 0 <= result <= len(labels)


@PROPERTY_SETTINGS
@given(inputs(), st.sampled_from(RANK_METHODS), st.booleans())
def test_scores_have_shape_n_and_lie_in_unit_interval(data, method, adjust):
    labels, pred_probs = data
    scores = outcome(get_label_quality_scores, labels, pred_probs, method=method, adjust_pred_probs=adjust)
    if is_valid(labels, pred_probs) and not (adjust and method == "confidence_weighted_entropy"):
        assert scores is not None
    if scores is None:
        return
    assert scores.shape == (len(labels),) and scores.dtype.kind == "f"
    assert ((scores >= 0) & (scores <= 1 + 1e-6)).all()
    mask = scores < np.median(scores)
    rank_by_kwargs = {"adjust_pred_probs": adjust}
    ordered = outcome(order_label_issues, mask, labels, pred_probs, rank_by=method, rank_by_kwargs=rank_by_kwargs)
    if ordered is not None:
        np.testing.assert_array_equal(np.sort(ordered), np.flatnonzero(mask))
