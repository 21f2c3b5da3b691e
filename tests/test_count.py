"""Properties of runner.confident.count on synthetic data with a known noise matrix.

The data: true labels and pred_probs that favour the true class (``tests.cases.make_pred_probs``
without its own flips), then given labels corrupted by ``generate_noisy_labels`` under a noise
matrix from ``generate_noise_matrix_from_trace``. So the noise matrix, the latent prior and the
label errors are known, and the estimates of confident learning can be checked against them.
Parity with cleanlab is tested elsewhere (test_parity_cleanlab.py); this file checks what
SPEC §1 states: calibration, normalisation, the §1.5 prior identity, absent classes, float32.
"""

from __future__ import annotations

import numpy as np
import pytest

from runner.confident import (
    calibrate_confident_joint,
    compute_confident_joint,
    estimate_joint,
    estimate_latent,
    estimate_py_and_noise_matrices_from_probabilities,
    find_label_issues,
    get_confident_thresholds,
    num_label_issues,
)
from tests.helpers import PY_METHODS, noisy_dataset, without_class

SEEDS = [0, 1, 2]


def class_counts(labels, n_classes):
    return np.bincount(labels, minlength=n_classes)


def naive_confident_joint(labels, pred_probs):
    """SPEC §1.1-1.2 written out row by row: raw counts and the off-diagonal indices."""
    n_classes = pred_probs.shape[1]
    thresholds = np.array([pred_probs[labels == k, k].mean() for k in range(n_classes)], dtype=pred_probs.dtype)
    thresholds = np.maximum(thresholds, 2e-6)
    joint = np.zeros((n_classes, n_classes), dtype=np.int64)
    off_diagonals = []
    for i, (given, row) in enumerate(zip(labels, pred_probs)):
        confident = np.flatnonzero(row >= thresholds - 1e-6)
        if len(confident) == 0:
            continue
        guess = confident[0] if len(confident) == 1 else int(np.argmax(row))
        joint[given, guess] += 1
        if guess != given:
            off_diagonals.append(i)
    joint[np.diag_indices(n_classes)] = np.maximum(np.diag(joint), 1)
    return joint, np.array(off_diagonals, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# The confident joint


@pytest.mark.parametrize("seed", SEEDS)
def test_raw_confident_joint_follows_the_definition(seed):
    labels, pred_probs, _, _ = noisy_dataset(500, 4, seed)
    joint, off_diagonals = compute_confident_joint(
        labels, pred_probs, calibrate=False, return_indices_of_off_diagonals=True
    )
    expected_joint, expected_off = naive_confident_joint(labels, pred_probs)
    np.testing.assert_array_equal(joint, expected_joint)
    np.testing.assert_array_equal(off_diagonals, expected_off)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n_classes", [3, 5])
def test_calibrated_rows_sum_to_class_counts_and_total_is_n(seed, n_classes):
    labels, pred_probs, _, _ = noisy_dataset(800, n_classes, seed)
    joint = compute_confident_joint(labels, pred_probs)
    assert joint.shape == (n_classes, n_classes)
    assert joint.dtype == np.int64
    np.testing.assert_array_equal(joint.sum(axis=1), class_counts(labels, n_classes))
    assert joint.sum() == len(labels)
    assert (joint >= 0).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_calibrating_twice_is_a_no_op(seed):
    labels, pred_probs, _, _ = noisy_dataset(800, 4, seed)
    raw = compute_confident_joint(labels, pred_probs, calibrate=False)
    once = calibrate_confident_joint(raw, labels)
    np.testing.assert_array_equal(calibrate_confident_joint(once, labels), once)
    np.testing.assert_array_equal(once.sum(axis=1), class_counts(labels, 4))


@pytest.mark.parametrize("seed", SEEDS)
def test_estimate_joint_sums_to_one_with_rows_equal_to_the_given_prior(seed):
    labels, pred_probs, _, _ = noisy_dataset(800, 4, seed)
    joint = estimate_joint(labels, pred_probs)
    assert joint.dtype == np.float64
    assert joint.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(joint.sum(axis=1), class_counts(labels, 4) / len(labels), atol=1e-12)
    # An uncalibrated matrix passed with labels is calibrated first (SPEC §1.4).
    raw = compute_confident_joint(labels, pred_probs, calibrate=False)
    np.testing.assert_allclose(estimate_joint(labels, pred_probs, confident_joint=raw), joint, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_absent_class_has_threshold_two_and_a_zero_row_after_calibration(seed):
    labels, pred_probs, _, _ = noisy_dataset(600, 4, seed)
    labels, pred_probs = without_class(labels, pred_probs, 2)
    thresholds = get_confident_thresholds(labels, pred_probs)
    assert thresholds[2] == 2 and thresholds.dtype == np.float64
    raw = compute_confident_joint(labels, pred_probs, calibrate=False)
    assert raw[2, 2] == 1 and raw[2].sum() == 1  # the diagonal floor, nothing else
    assert raw[:, 2].sum() == 1  # no probability reaches a threshold of 2
    calibrated = compute_confident_joint(labels, pred_probs)
    np.testing.assert_array_equal(calibrated[2], 0)
    assert calibrated.sum() == len(labels)


@pytest.mark.parametrize("seed", SEEDS)
def test_float32_stays_float32_and_matches_the_float32_definition(seed):
    labels, pred_probs, _, _ = noisy_dataset(500, 4, seed, dtype=np.float32)
    thresholds = get_confident_thresholds(labels, pred_probs)
    assert thresholds.dtype == np.float32
    # float32 means (numpy's pairwise float32 sum), not float64 means cast down.
    np.testing.assert_array_equal(thresholds, [pred_probs[labels == k, k].mean() for k in range(4)])
    joint, off_diagonals = compute_confident_joint(
        labels, pred_probs, calibrate=False, return_indices_of_off_diagonals=True
    )
    expected_joint, expected_off = naive_confident_joint(labels, pred_probs)
    np.testing.assert_array_equal(joint, expected_joint)
    np.testing.assert_array_equal(off_diagonals, expected_off)
    assert pred_probs.dtype == np.float32  # the input was not converted in place


# --------------------------------------------------------------------------------------------
# Latent estimates


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("py_method", PY_METHODS)
@pytest.mark.parametrize("converge", [False, True])
def test_noise_matrices_are_column_stochastic(seed, py_method, converge):
    labels, pred_probs, _, _ = noisy_dataset(800, 4, seed)
    joint = compute_confident_joint(labels, pred_probs)
    py, noise_matrix, inverse = estimate_latent(joint, labels, py_method=py_method, converge_latent_estimates=converge)
    for matrix in (noise_matrix, inverse):
        assert matrix.shape == (4, 4)
        assert (matrix >= 0).all()
        np.testing.assert_allclose(matrix.sum(axis=0), 1, atol=1e-12)
    assert py.shape == (4,) and (py > 0).all()
    assert py.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_noise_matrix_is_recovered_at_large_n(seed):
    labels, pred_probs, true_labels, noise_matrix = noisy_dataset(20_000, 4, seed)
    py, estimated, inverse, _ = estimate_py_and_noise_matrices_from_probabilities(labels, pred_probs)
    assert np.abs(estimated - noise_matrix).mean() < 0.05
    # The inverse noise matrix P(true = i | given = j) and the prior, from the actual flips.
    pairs = np.zeros((4, 4))
    np.add.at(pairs, (true_labels, labels), 1)
    assert np.abs(inverse - pairs / pairs.sum(axis=0)).mean() < 0.05
    np.testing.assert_allclose(py, np.bincount(true_labels) / len(true_labels), atol=0.03)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n_classes", [3, 6])
def test_all_py_methods_equal_column_totals_for_a_calibrated_joint(seed, n_classes):
    """SPEC §1.5: with a calibrated joint and every class present, py = S / N for all methods."""
    labels, pred_probs, _, _ = noisy_dataset(900, n_classes, seed)
    joint = compute_confident_joint(labels, pred_probs)
    assert class_counts(labels, n_classes).all()
    expected = joint.sum(axis=0) / len(labels)
    for py_method in PY_METHODS:
        py, _, _ = estimate_latent(joint, labels, py_method=py_method)
        np.testing.assert_allclose(py, expected, rtol=0, atol=1e-12, err_msg=py_method)


@pytest.mark.parametrize("seed", SEEDS)
def test_calibrated_noise_matrix_diagonal_is_diagonal_over_column_total(seed):
    labels, pred_probs, _, _ = noisy_dataset(800, 4, seed)
    joint = compute_confident_joint(labels, pred_probs)
    _, noise_matrix, inverse = estimate_latent(joint, labels)
    np.testing.assert_allclose(np.diag(noise_matrix), np.diag(joint) / joint.sum(axis=0), atol=1e-12)
    np.testing.assert_allclose(np.diag(inverse), np.diag(joint) / joint.sum(axis=1), atol=1e-12)


# --------------------------------------------------------------------------------------------
# Number of label issues


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n_classes", [2, 4])
def test_off_diagonal_count_equals_confident_learning_mask(seed, n_classes):
    labels, pred_probs, _, _ = noisy_dataset(700, n_classes, seed)
    n_issues = num_label_issues(labels, pred_probs, estimation_method="off_diagonal")
    assert isinstance(n_issues, np.int64)
    assert n_issues == find_label_issues(labels, pred_probs, filter_by="confident_learning").sum()
    assert n_issues > 0


@pytest.mark.parametrize("seed", SEEDS)
def test_calibrated_count_is_the_off_diagonal_mass_of_the_calibrated_joint(seed):
    labels, pred_probs, _, _ = noisy_dataset(700, 4, seed)
    joint = compute_confident_joint(labels, pred_probs)
    off_diagonal_mass = joint.sum() - np.trace(joint)
    assert num_label_issues(labels, pred_probs, estimation_method="off_diagonal_calibrated") == (off_diagonal_mass)
    raw = compute_confident_joint(labels, pred_probs, calibrate=False)
    custom = num_label_issues(labels, pred_probs, confident_joint=raw, estimation_method="off_diagonal_custom")
    assert custom == off_diagonal_mass  # the custom matrix is calibrated first


@pytest.mark.parametrize("seed", SEEDS)
def test_estimated_number_of_issues_is_close_to_the_true_number(seed):
    labels, pred_probs, true_labels, _ = noisy_dataset(3000, 4, seed)
    n_true = (labels != true_labels).sum()
    calibrated = num_label_issues(labels, pred_probs, estimation_method="off_diagonal_calibrated")
    off_diagonal = num_label_issues(labels, pred_probs)
    assert abs(calibrated - n_true) < 0.15 * n_true
    assert 0.6 * n_true < off_diagonal <= calibrated


def test_confident_joint_given_for_another_method_warns_and_is_ignored():
    labels, pred_probs, _, _ = noisy_dataset(300, 3, 0)
    expected = num_label_issues(labels, pred_probs)
    with pytest.warns(UserWarning, match="off_diagonal_custom"):
        ignored = num_label_issues(labels, pred_probs, confident_joint=np.eye(3, dtype=int))
    assert ignored == expected
