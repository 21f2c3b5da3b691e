"""Where cleanrun deliberately differs from cleanlab 2.9.0: one test per difference.

Each test runs the reference and cleanrun on the same input and asserts both behaviours, so it
documents what the reference does (accepts NaN, accepts unnormalised rows, a bare
AssertionError, a crash, a silently ignored wrong-shaped matrix, reseeding numpy's global RNG,
...) and what we do instead. SPEC intro items 1, 4 and 5, plus the differences named in the
docstrings of runner/confident, and README item 10 (cross-validation on few examples per class).
Items 2, 3 and 6 (CleanLearning refits, label encoding, thread pinning) are tested with
CleanLearning.
"""

from __future__ import annotations

import multiprocessing
import warnings

import numpy as np
import pytest

cleanlab = pytest.importorskip("cleanlab")
from cleanlab import count as ref_count  # noqa: E402
from cleanlab import filter as ref_filter  # noqa: E402
from cleanlab import rank as ref_rank  # noqa: E402
from cleanlab.benchmarking import noise_generation as ref_noise  # noqa: E402
from cleanlab.classification import CleanLearning as ReferenceCleanLearning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from runner import CleanLearning  # noqa: E402
from runner.confident import (  # noqa: E402
    calibrate_confident_joint,
    find_label_issues,
    find_label_issues_using_argmax_confusion_matrix,
    generate_noise_matrix_from_trace,
    get_label_quality_scores,
    num_label_issues,
    randomly_distribute_N_balls_into_K_bins,
)
from tests.helpers import make_pred_probs  # noqa: E402

LABELS, PRED_PROBS, _ = make_pred_probs(300, 3, seed=0)


def reference(function, *args, **kwargs):
    """Call cleanlab quietly, with n_jobs=1 for find_label_issues unless given."""
    if function is ref_filter.find_label_issues:
        kwargs.setdefault("n_jobs", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


def global_rng_state():
    state = np.random.get_state()
    return state[1].copy(), state[2:]


@pytest.fixture
def restore_global_rng():
    """The reference reseeds numpy's global RNG; leave it as we found it."""
    state = np.random.get_state()
    yield
    np.random.set_state(state)


# --------------------------------------------------------------------------------------------
# Item 4: stricter validation, clearer errors


def test_nan_in_pred_probs():
    pred_probs = PRED_PROBS.copy()
    pred_probs[5] = [np.nan, 0.5, 0.5]
    mask = reference(ref_filter.find_label_issues, LABELS, pred_probs)
    assert mask.shape == (300,)  # cleanlab: accepted silently, results undefined
    with pytest.raises(ValueError, match="NaN"):
        find_label_issues(LABELS, pred_probs)


def test_rows_that_do_not_sum_to_one():
    halved = PRED_PROBS * 0.5
    assert reference(ref_filter.find_label_issues, LABELS, halved).any()  # cleanlab: accepted
    with pytest.raises(ValueError, match="sum to 1"):
        find_label_issues(LABELS, halved)
    # Within the tolerance (1e-4) both accept and agree.
    nearly = PRED_PROBS * (1 + 5e-5)
    np.testing.assert_array_equal(
        find_label_issues(LABELS, nearly), reference(ref_filter.find_label_issues, LABELS, nearly)
    )


def test_unknown_filter_by():
    with pytest.raises(AssertionError) as error:
        reference(ref_filter.find_label_issues, LABELS, PRED_PROBS, filter_by="prune_by_nosie_rate")
    assert str(error.value) == ""  # cleanlab: a bare assert, no message
    match = r"unknown filter_by 'prune_by_nosie_rate'; valid: 'prune_by_noise_rate'"
    with pytest.raises(ValueError, match=match):
        find_label_issues(LABELS, PRED_PROBS, filter_by="prune_by_nosie_rate")


def test_integer_valued_float_labels():
    float_labels = LABELS.astype(float)
    with pytest.raises(IndexError):  # cleanlab: passes validation, crashes when indexing
        reference(ref_filter.find_label_issues, float_labels, PRED_PROBS)
    with pytest.raises(ValueError, match="labels must be integers"):
        find_label_issues(float_labels, PRED_PROBS)


def test_two_dimensional_labels():
    labels_2d = np.stack([LABELS, LABELS], axis=1)
    with pytest.raises(TypeError, match="unhashable"):  # cleanlab: set(labels) before validation
        reference(ref_filter.find_label_issues, labels_2d, PRED_PROBS)
    with pytest.raises(ValueError, match="1-D"):
        find_label_issues(labels_2d, PRED_PROBS)


def test_single_column_pred_probs():
    labels, pred_probs = np.zeros(50, dtype=int), np.ones((50, 1))
    assert not reference(ref_filter.find_label_issues, labels, pred_probs).any()  # cleanlab: K=1 runs
    with pytest.raises(ValueError, match="at least 2 columns"):
        find_label_issues(labels, pred_probs)


@pytest.mark.parametrize("filter_by", ["prune_by_noise_rate", "prune_by_class", "both"])
def test_wrong_shaped_confident_joint(filter_by):
    identity = np.eye(4, dtype=int)  # for K = 3
    wrong = reference(ref_filter.find_label_issues, LABELS, PRED_PROBS, filter_by=filter_by, confident_joint=identity)
    right = reference(ref_filter.find_label_issues, LABELS, PRED_PROBS, filter_by=filter_by)
    # cleanlab: used as is, silently. Its zero noise rates flag nothing; for prune_by_class its
    # diagonal of 1 flags all but one example per class, i.e. every example the model disagrees with.
    if filter_by == "prune_by_class":
        expected = find_label_issues(LABELS, PRED_PROBS, filter_by="predicted_neq_given")
    else:
        expected = np.zeros(len(LABELS), dtype=bool)
    np.testing.assert_array_equal(wrong, expected)
    assert not np.array_equal(wrong, right)
    with pytest.raises(ValueError, match=r"confident_joint must have shape \(K, K\) = \(3, 3\)"):
        find_label_issues(LABELS, PRED_PROBS, filter_by=filter_by, confident_joint=identity)


def test_wrong_shaped_confident_joint_for_num_label_issues():
    kwargs = dict(confident_joint=np.eye(4, dtype=int), estimation_method="off_diagonal_custom")
    assert reference(ref_count.num_label_issues, LABELS, PRED_PROBS, **kwargs) == 0  # cleanlab: silently 0
    with pytest.raises(ValueError, match=r"\(K, K\) = \(3, 3\)"):
        num_label_issues(LABELS, PRED_PROBS, **kwargs)


def test_balls_that_do_not_fit_in_the_bins(restore_global_rng):
    theirs = ref_noise.randomly_distribute_N_balls_into_K_bins(N=10, K=3, max_balls_per_bin=2)
    assert theirs.sum() < 10  # cleanlab: 6 of the 10 balls, silently
    with pytest.raises(ValueError, match="cannot fit N = 10 balls into 3 bins"):
        randomly_distribute_N_balls_into_K_bins(10, 3, max_balls_per_bin=2)


def test_n_jobs_below_one():
    with pytest.raises(AssertionError):
        reference(ref_filter.find_label_issues, LABELS, PRED_PROBS, n_jobs=0)
    with pytest.raises(ValueError, match="n_jobs must be >= 1"):
        find_label_issues(LABELS, PRED_PROBS, n_jobs=0)


# --------------------------------------------------------------------------------------------
# Inputs the reference refuses or crashes on, and we handle


@pytest.mark.filterwarnings("ignore:.*min_examples_per_class:UserWarning")  # the singleton classes
def test_argmax_confusion_matrix_with_a_class_never_labelled_nor_predicted():
    """cleanlab builds the confusion matrix from the classes it sees, smaller than K x K."""
    labels, pred_probs, _ = make_pred_probs(50, 50, seed=0)  # 32 of 50 classes occur
    assert len(np.unique(np.r_[labels, pred_probs.argmax(axis=1)])) < 50
    with pytest.raises((ValueError, IndexError)):
        reference(ref_filter.find_label_issues_using_argmax_confusion_matrix, labels, pred_probs)
    mask = find_label_issues_using_argmax_confusion_matrix(labels, pred_probs)
    # Ours: the full K x K confusion matrix, calibrated, as the confident joint.
    confusion = np.zeros((50, 50), dtype=np.int64)
    np.add.at(confusion, (labels, pred_probs.argmax(axis=1)), 1)
    joint = ref_count.calibrate_confident_joint(confusion, labels)
    np.testing.assert_array_equal(joint, calibrate_confident_joint(confusion, labels))
    expected = reference(ref_filter.find_label_issues, labels, pred_probs, confident_joint=joint)
    np.testing.assert_array_equal(mask, expected)
    assert mask.any()


def test_array_likes_for_labels_and_pred_probs():
    with pytest.raises(TypeError):
        reference(ref_filter.find_label_issues, tuple(LABELS), PRED_PROBS)
    with pytest.raises(TypeError):
        reference(ref_filter.find_label_issues, LABELS, PRED_PROBS.tolist())
    with pytest.raises(AttributeError):
        reference(ref_rank.get_label_quality_scores, list(LABELS), PRED_PROBS)
    expected = reference(ref_filter.find_label_issues, LABELS, PRED_PROBS)
    np.testing.assert_array_equal(find_label_issues(tuple(LABELS), PRED_PROBS.tolist()), expected)
    np.testing.assert_array_equal(
        get_label_quality_scores(list(LABELS), PRED_PROBS),
        ref_rank.get_label_quality_scores(LABELS, PRED_PROBS),
    )


def test_multi_label_is_not_supported():
    multi_labels = [[0], [1], [0, 1], [2], []] * 20
    pred_probs = np.random.default_rng(0).uniform(size=(100, 3))  # independent per class
    assert reference(ref_filter.find_label_issues, multi_labels, pred_probs, multi_label=True).shape == (100,)
    with pytest.raises(NotImplementedError, match="single-label"):
        find_label_issues(multi_labels, pred_probs, multi_label=True)


# --------------------------------------------------------------------------------------------
# Cross-validation runs whenever stratified folds can be drawn


def test_few_examples_per_class_on_average_still_cross_validate():
    """cleanlab refuses when N / K < cv_n_folds, though every class has examples in every
    training fold; we refuse only what cannot work (fewer examples than folds, an empty class)."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], [6, 4, 4])  # 14 / 3 < 5 folds
    X = rng.normal(size=(14, 2)) + 2 * labels[:, None]
    with pytest.raises(ValueError, match="Need more data from each class"):
        reference(ReferenceCleanLearning(LogisticRegression(), cv_n_folds=5).fit, X, labels)
    cl = CleanLearning(LogisticRegression(), cv_n_folds=5).fit(X, labels)
    assert cl.pred_probs.shape == (14, 3)
    with pytest.raises(ValueError, match="needs at least 15 examples"):
        CleanLearning(LogisticRegression(), cv_n_folds=15).fit(X, labels)


# --------------------------------------------------------------------------------------------
# Item 5: n_jobs is accepted, no process pool


@pytest.mark.parametrize("filter_by", ["prune_by_noise_rate", "both"])
def test_n_jobs_gives_the_same_result_without_a_process_pool(filter_by, monkeypatch):
    pools = []
    real_pool = multiprocessing.Pool

    def counting_pool(*args, **kwargs):
        pools.append(args)
        return real_pool(*args, **kwargs)

    monkeypatch.setattr(multiprocessing, "Pool", counting_pool)
    theirs = [
        reference(ref_filter.find_label_issues, LABELS, PRED_PROBS, filter_by=filter_by, n_jobs=n_jobs)
        for n_jobs in (1, 2)
    ]
    assert len(pools) >= 1  # cleanlab starts a pool for n_jobs=2 (two for "both")
    pools.clear()
    ours = [find_label_issues(LABELS, PRED_PROBS, filter_by=filter_by, n_jobs=n) for n in (1, 2)]
    assert pools == []
    for mask in theirs + ours[1:]:
        np.testing.assert_array_equal(mask, ours[0])


# --------------------------------------------------------------------------------------------
# Item 1: no global random state (noise generation)


def test_noise_matrix_generation_leaves_the_global_rng_alone(restore_global_rng):
    kwargs = dict(py=[0.3, 0.3, 0.4], seed=5)
    # cleanlab: np.random.seed(seed) inside, so what follows is the same whatever came before.
    follow_ups = []
    for earlier_seed in (1, 2):
        np.random.seed(earlier_seed)
        ref_noise.generate_noise_matrix_from_trace(3, 2.4, **kwargs)
        follow_ups.append(np.random.rand())
    assert follow_ups[0] == follow_ups[1]
    # Ours: the global state is untouched, and the seed still fixes the matrix.
    np.random.seed(1)
    before = global_rng_state()
    ours = generate_noise_matrix_from_trace(3, 2.4, **kwargs)
    after = global_rng_state()
    np.testing.assert_array_equal(before[0], after[0])
    assert before[1] == after[1]
    np.testing.assert_array_equal(ours, generate_noise_matrix_from_trace(3, 2.4, **kwargs))


def test_two_class_noise_free_request_with_trace_below_one(restore_global_rng):
    kwargs = dict(valid_noise_matrix=False, frac_zero_noise_rates=0.5, seed=0)
    theirs = ref_noise.generate_noise_matrix_from_trace(2, 0.5, **kwargs)
    assert theirs.min() < 0  # cleanlab: a "noise matrix" with a negative entry
    with pytest.raises(ValueError, match="noise-free"):
        generate_noise_matrix_from_trace(2, 0.5, **kwargs)


def test_prior_with_a_zero_class(restore_global_rng):
    kwargs = dict(py=[0.5, 0.5, 0.0], max_iter=50, seed=0)
    assert ref_noise.generate_noise_matrix_from_trace(3, 2.0, **kwargs) is None  # after 50 futile tries
    with pytest.raises(ValueError, match="strictly positive"):
        generate_noise_matrix_from_trace(3, 2.0, **kwargs)
