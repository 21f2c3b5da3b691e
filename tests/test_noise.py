"""Tests for runner.confident.noise: noise matrices from a trace and noisy-label generation.

Our functions take explicit seeds while cleanlab 2.9.0 draws from numpy's global RNG, so the two agree in
distribution and validity, not draw for draw. Deterministic parts (validity, flip counts) must agree exactly.
Every call into cleanlab goes through ``_reference`` so that its reseeding of the global RNG does not leak.
"""

import numpy as np
import pytest
from cleanlab.benchmarking import noise_generation as reference
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from runner.confident.noise import (
    generate_n_rand_probabilities_that_sum_to_m,
    generate_noise_matrix_from_trace,
    generate_noisy_labels,
    noise_matrix_is_valid,
    randomly_distribute_N_balls_into_K_bins,
)

SEEDS = [0, 1, 2]


def _reference(function, *args, global_seed=None, **kwargs):
    """Call a cleanlab function, optionally seeding the global RNG, and restore the global RNG afterwards."""
    state = np.random.get_state()
    try:
        if global_seed is not None:
            np.random.seed(global_seed)
        return function(*args, **kwargs)
    finally:
        np.random.set_state(state)


def _skewed_prior(K):
    """A strictly positive, non-uniform prior of shape (K,)."""
    weights = np.arange(1, K + 1, dtype=float)
    return weights / weights.sum()


def _off_diagonal(noise_matrix):
    return noise_matrix[~np.eye(noise_matrix.shape[0], dtype=bool)]


def _flip_counts(true_labels, noisy_labels, K):
    """counts[i, j] = #(noisy = i, true = j)."""
    counts = np.zeros((K, K), dtype=np.int64)
    np.add.at(counts, (noisy_labels, true_labels), 1)
    return counts


# --------------------------------------------------------------------------------------------------------------
# generate_noise_matrix_from_trace
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("K", [2, 3, 5, 10])
def test_generated_matrix_has_trace_and_is_a_valid_noise_matrix(K, seed):
    # Low enough that about half of the raw draws for K > 2 are invalid, so the validity filter matters.
    trace = 1 + 0.3 * (K - 1)
    py = _skewed_prior(K)
    noise_matrix = generate_noise_matrix_from_trace(K, trace, py=py, seed=seed)

    assert noise_matrix.shape == (K, K)
    assert np.trace(noise_matrix) == pytest.approx(trace, abs=1e-6)
    np.testing.assert_allclose(noise_matrix.sum(axis=0), 1, atol=1e-9)
    assert noise_matrix.min() >= 0 and noise_matrix.max() <= 1
    assert noise_matrix_is_valid(noise_matrix, py)
    assert _reference(reference.noise_matrix_is_valid, noise_matrix, py)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("K, frac_zero_noise_rates", [(3, 0.5), (5, 0.25), (5, 0.6), (10, 0.5)])
def test_frac_zero_noise_rates_gives_at_least_the_requested_zeros(K, frac_zero_noise_rates, seed):
    noise_matrix = generate_noise_matrix_from_trace(
        K, 0.7 * K, py=np.full(K, 1 / K), frac_zero_noise_rates=frac_zero_noise_rates, seed=seed
    )

    n_zeros = int(np.sum(_off_diagonal(noise_matrix) == 0))
    assert n_zeros >= int(K * (K - 1) * frac_zero_noise_rates)
    np.testing.assert_allclose(noise_matrix.sum(axis=0), 1, atol=1e-9)
    assert np.trace(noise_matrix) == pytest.approx(0.7 * K, abs=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("K", [3, 5])
def test_frac_zero_noise_rates_of_one_is_capped_at_k_minus_2_zeros_per_noisy_column(K, seed):
    # A column with diagonal < 1 needs a non-zero rate to carry its mass, so it keeps exactly one when all
    # zeros are requested; the reference behaves the same.
    noise_matrix = generate_noise_matrix_from_trace(
        K, 0.75 * K, py=np.full(K, 1 / K), frac_zero_noise_rates=1.0, seed=seed
    )
    for column in range(K):
        off_diagonal = np.delete(noise_matrix[:, column], column)
        expected_zeros = K - 1 if noise_matrix[column, column] == 1 else K - 2
        assert np.sum(off_diagonal == 0) == expected_zeros


@pytest.mark.parametrize("seed", SEEDS)
def test_noise_rate_and_trace_prob_bounds_are_respected(seed):
    K, trace = 5, 2.5
    kwargs = dict(min_trace_prob=0.3, max_trace_prob=0.7, min_noise_rate=0.05, max_noise_rate=0.2)
    noise_matrix = generate_noise_matrix_from_trace(K, trace, py=np.full(K, 1 / K), seed=seed, **kwargs)

    diagonal, off_diagonal = np.diag(noise_matrix), _off_diagonal(noise_matrix)
    assert diagonal.min() >= 0.3 and diagonal.max() <= 0.7
    assert off_diagonal.min() >= 0.05 and off_diagonal.max() <= 0.2
    assert np.trace(noise_matrix) == pytest.approx(trace, abs=1e-6)


@pytest.mark.parametrize("trace", [1.2, 1.5, 1.9])
def test_two_classes_with_a_noise_free_class_is_one_of_two_fixed_matrices(trace):
    upper = np.array([[1, 2 - trace], [0, trace - 1]])
    rotated = np.array([[trace - 1, 0], [2 - trace, 1]])
    seen = set()
    for seed in range(40):
        noise_matrix = generate_noise_matrix_from_trace(2, trace, frac_zero_noise_rates=0.5, seed=seed)
        if np.allclose(noise_matrix, upper):
            seen.add("upper")
        else:
            np.testing.assert_allclose(noise_matrix, rotated)
            seen.add("rotated")
    assert seen == {"upper", "rotated"}, "the noise-free class should be chosen at random"


@pytest.mark.parametrize("seed", SEEDS)
def test_two_classes_ignore_py_and_probability_bounds(seed):
    # K = 2 has its own branch: any trace > 1 is valid for every prior, and the bounds are not applied.
    noise_matrix = generate_noise_matrix_from_trace(2, 1.6, py=None, max_trace_prob=0.5, max_noise_rate=0.01, seed=seed)
    (a, off_01), (off_10, b) = noise_matrix
    assert a + b == pytest.approx(1.6)
    assert off_01 == pytest.approx(1 - b) and off_10 == pytest.approx(1 - a)
    assert 0 <= min(a, b) and max(a, b) <= 1
    for py in ([0.5, 0.5], [0.05, 0.95], [0.99, 0.01]):
        assert noise_matrix_is_valid(noise_matrix, py)


def test_two_classes_diagonal_is_uniform_on_its_feasible_interval():
    # The diagonal (a, 1.5 - a) with both entries <= 1 leaves a uniform on [0.5, 1], as in the reference.
    a = [generate_noise_matrix_from_trace(2, 1.5, seed=seed)[0, 0] for seed in range(500)]
    assert stats.kstest(a, stats.uniform(loc=0.5, scale=0.5).cdf).pvalue > 1e-3


@pytest.mark.parametrize("K", [2, 3])
def test_max_iter_below_one_returns_none_like_the_reference(K):
    kwargs = dict(py=np.full(K, 1 / K), max_iter=0)
    assert generate_noise_matrix_from_trace(K, 1.5, **kwargs) is None
    assert _reference(reference.generate_noise_matrix_from_trace, K, 1.5, **kwargs) is None


def test_gives_up_with_none_when_no_valid_matrix_is_found():
    # With this skewed prior, a trace of 1.2 over 5 classes practically never yields a valid matrix.
    kwargs = dict(py=_skewed_prior(5), max_iter=50)
    assert generate_noise_matrix_from_trace(5, 1.2, **kwargs) is None
    assert _reference(reference.generate_noise_matrix_from_trace, 5, 1.2, **kwargs) is None


def test_valid_noise_matrix_false_allows_a_trace_below_one():
    noise_matrix = generate_noise_matrix_from_trace(4, 0.5, valid_noise_matrix=False, seed=3)
    assert np.trace(noise_matrix) == pytest.approx(0.5, abs=1e-6)
    np.testing.assert_allclose(noise_matrix.sum(axis=0), 1, atol=1e-9)
    assert not noise_matrix_is_valid(noise_matrix, np.full(4, 0.25))


def test_same_seed_same_matrix_and_different_seeds_differ():
    py = _skewed_prior(4)
    first = generate_noise_matrix_from_trace(4, 2.5, py=py, seed=7)
    np.testing.assert_array_equal(first, generate_noise_matrix_from_trace(4, 2.5, py=py, seed=7))
    assert not np.allclose(first, generate_noise_matrix_from_trace(4, 2.5, py=py, seed=8))


def test_a_generator_seed_is_used_and_advanced():
    py = _skewed_prior(4)
    rng = np.random.default_rng(11)
    first = generate_noise_matrix_from_trace(4, 2.5, py=py, seed=rng)
    second = generate_noise_matrix_from_trace(4, 2.5, py=py, seed=rng)
    assert not np.allclose(first, second)
    fresh_generator = np.random.default_rng(11)
    np.testing.assert_array_equal(first, generate_noise_matrix_from_trace(4, 2.5, py=py, seed=fresh_generator))


@pytest.mark.parametrize("K, trace", [(3, 2.0), (5, 3.5)])
def test_reference_and_our_matrices_are_valid_for_both_implementations(K, trace):
    py = _skewed_prior(K)
    for seed in range(10):
        theirs = _reference(reference.generate_noise_matrix_from_trace, K, trace, py=py, seed=seed)
        ours = generate_noise_matrix_from_trace(K, trace, py=py, seed=seed)
        assert noise_matrix_is_valid(theirs, py)
        assert _reference(reference.noise_matrix_is_valid, ours, py)


def test_generated_matrices_follow_the_reference_distribution():
    # Not draw for draw, but the sorted diagonal and the off-diagonal rates come from the same distribution.
    K, trace, py = 5, 3.5, np.full(5, 0.2)
    seeds = range(150)
    ours = np.array([generate_noise_matrix_from_trace(K, trace, py=py, seed=seed) for seed in seeds])
    theirs = np.array([_reference(reference.generate_noise_matrix_from_trace, K, trace, py=py, seed=s) for s in seeds])
    for name, summary in (
        ("largest diagonal entry", lambda m: np.diagonal(m, axis1=1, axis2=2).max(axis=1)),
        ("smallest diagonal entry", lambda m: np.diagonal(m, axis1=1, axis2=2).min(axis=1)),
        ("off-diagonal rates", lambda m: m[:, ~np.eye(K, dtype=bool)].ravel()),
    ):
        assert stats.ks_2samp(summary(ours), summary(theirs)).pvalue > 1e-3, name


# --------------------------------------------------------------------------------------------------------------
# noise_matrix_is_valid
# --------------------------------------------------------------------------------------------------------------


def _random_matrices_and_priors(rng, n_cases):
    """Valid, invalid and borderline (noise_matrix, py) pairs."""
    for case in range(n_cases):
        K = int(rng.integers(2, 8))
        noise_matrix = rng.dirichlet(np.ones(K), size=K).T
        py = rng.dirichlet(np.ones(K))
        kind = case % 6
        if kind == 1:  # strengthen the diagonal: mostly valid
            noise_matrix = noise_matrix + np.eye(K) * rng.uniform(0, 3)
            noise_matrix /= noise_matrix.sum(axis=0)
        elif kind == 2:  # identical columns: the diagonal ties with ps
            noise_matrix = np.tile(rng.dirichlet(np.ones(K))[:, None], (1, K))
        elif kind == 3:  # uniform matrix, another exact tie
            noise_matrix = np.full((K, K), 1 / K)
        elif kind == 4:  # a prior that misses the 1e-6 tolerance or sits just inside it
            noise_matrix = noise_matrix + np.eye(K) * 2
            noise_matrix /= noise_matrix.sum(axis=0)
            py = py * (1 + rng.choice([-2e-6, -5e-7, 5e-7, 2e-6]))
        elif kind == 5:  # a class with prior 0
            noise_matrix = noise_matrix + np.eye(K) * 2
            noise_matrix /= noise_matrix.sum(axis=0)
            py[rng.integers(K)] = 0
            py /= py.sum()
        yield noise_matrix, py


def test_noise_matrix_is_valid_agrees_exactly_with_the_reference():
    rng = np.random.default_rng(2024)
    verdicts = []
    for noise_matrix, py in _random_matrices_and_priors(rng, 3000):
        ours = noise_matrix_is_valid(noise_matrix, py)
        theirs = bool(_reference(reference.noise_matrix_is_valid, noise_matrix, py))
        assert ours == theirs, (noise_matrix, py)
        verdicts.append(ours)
    # Both outcomes must be exercised in bulk, or the agreement says little.
    assert 300 < sum(verdicts) < len(verdicts) - 300


def test_noise_matrix_is_valid_on_hand_made_cases():
    py = np.array([0.5, 0.3, 0.2])
    assert noise_matrix_is_valid(np.eye(3), py)
    assert noise_matrix_is_valid([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]], py)
    # Given label 2 is rarer among true-2 examples (0.2) than overall (0.3 * 0.5 + 0.3 * 0.3 + 0.2 * 0.2): invalid.
    assert not noise_matrix_is_valid([[0.6, 0.1, 0.4], [0.1, 0.6, 0.4], [0.3, 0.3, 0.2]], py)
    assert not noise_matrix_is_valid(np.eye(3), [0.5, 0.5, 0.0])  # prior 0
    assert not noise_matrix_is_valid(np.eye(3), [0.5, 0.3, 0.3])  # joint sums to 1.1


@pytest.mark.parametrize(
    "noise_matrix, py, match",
    [
        (np.ones((2, 3)) / 2, [0.5, 0.5], "square"),
        (np.eye(3), [0.5, 0.5], r"py must have shape \(3,\)"),
    ],
)
def test_noise_matrix_is_valid_rejects_mismatched_shapes(noise_matrix, py, match):
    with pytest.raises(ValueError, match=match):
        noise_matrix_is_valid(noise_matrix, py)


# --------------------------------------------------------------------------------------------------------------
# generate_noisy_labels
# --------------------------------------------------------------------------------------------------------------


def _labels_and_matrix(seed, K, N):
    rng = np.random.default_rng(seed)
    true_labels = rng.integers(0, K, N)
    true_labels[:K] = np.arange(K)  # every class present
    py = np.bincount(true_labels, minlength=K) / N
    noise_matrix = generate_noise_matrix_from_trace(K, 0.6 * K if K > 2 else 1.4, py=py, seed=rng)
    return true_labels, noise_matrix


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("K, N", [(2, 50), (3, 7), (4, 333), (6, 1000)])
def test_flip_counts_are_exact_and_equal_to_the_reference(K, N, seed):
    true_labels, noise_matrix = _labels_and_matrix(seed, K, N)
    noisy_labels = generate_noisy_labels(true_labels, noise_matrix, seed=seed)
    theirs = _reference(reference.generate_noisy_labels, true_labels, noise_matrix, global_seed=seed)

    counts = _flip_counts(true_labels, noisy_labels, K)
    expected = (noise_matrix * (np.bincount(true_labels, minlength=K) / N) * N).astype(int)
    off_diagonal = ~np.eye(K, dtype=bool)
    np.testing.assert_array_equal(counts[off_diagonal], expected[off_diagonal])
    np.testing.assert_array_equal(counts, _flip_counts(true_labels, theirs, K))
    # Flips only move examples within their own true class: class sizes are unchanged.
    np.testing.assert_array_equal(counts.sum(axis=0), np.bincount(true_labels, minlength=K))


def test_flip_counts_truncate_on_hand_made_matrix():
    # Class sizes 7, 3, 2: 7 * 0.2 = 1.4 -> 1 flip, 7 * 0.1 = 0.7 -> 0 flips, 3 * 0.5 = 1.5 -> 1 flip.
    true_labels = np.array([0] * 7 + [1] * 3 + [2] * 2)
    noise_matrix = np.array([[0.7, 0.5, 0.0], [0.2, 0.5, 0.0], [0.1, 0.0, 1.0]])
    for seed in range(5):
        noisy_labels = generate_noisy_labels(true_labels, noise_matrix, seed=seed)
        counts = _flip_counts(true_labels, noisy_labels, 3)
        np.testing.assert_array_equal(counts, [[6, 1, 0], [1, 2, 0], [0, 0, 2]])
        theirs = _reference(reference.generate_noisy_labels, true_labels, noise_matrix, global_seed=seed)
        np.testing.assert_array_equal(_flip_counts(true_labels, theirs, 3), counts)


def test_flips_are_spread_uniformly_over_each_class_at_large_n():
    K, N, n_bins = 4, 200_000, 20
    true_labels, noise_matrix = _labels_and_matrix(5, K, N)
    noisy_labels = generate_noisy_labels(true_labels, noise_matrix, seed=5)

    # The noisy-label distribution within each true class follows the matrix (to truncation).
    counts = _flip_counts(true_labels, noisy_labels, K)
    np.testing.assert_allclose(counts / counts.sum(axis=0), noise_matrix, atol=K / counts.sum(axis=0).min())

    for true_class in range(K):
        members = np.flatnonzero(true_labels == true_class)
        position_bin = np.arange(members.size) * n_bins // members.size
        flipped = noisy_labels[members] != true_class
        # Which examples flip does not depend on their position in the data.
        flips_per_bin = np.bincount(position_bin[flipped], minlength=n_bins)
        expected = flipped.sum() * np.bincount(position_bin, minlength=n_bins) / members.size
        assert stats.chisquare(flips_per_bin, expected).pvalue > 1e-3
        # Nor does the new label an example receives.
        table = np.zeros((n_bins, K), dtype=np.int64)
        np.add.at(table, (position_bin[flipped], noisy_labels[members][flipped]), 1)
        table = table[:, table.sum(axis=0) > 0]
        if table.shape[1] > 1:
            assert stats.chi2_contingency(table).pvalue > 1e-3


def test_each_example_is_equally_likely_to_flip_across_seeds():
    true_labels = np.repeat([0, 1, 2], 20)
    noise_matrix = np.array([[0.7, 0.1, 0.2], [0.2, 0.8, 0.1], [0.1, 0.1, 0.7]])
    n_seeds = 1000
    flip_frequency = np.zeros(true_labels.size)
    for seed in range(n_seeds):
        flip_frequency += generate_noisy_labels(true_labels, noise_matrix, seed=seed) != true_labels
    for true_class in range(3):
        per_example = flip_frequency[true_labels == true_class]
        expected = np.full(per_example.size, per_example.mean())
        assert stats.chisquare(per_example, expected).pvalue > 1e-3


def test_same_seed_same_labels_and_different_seeds_differ():
    true_labels, noise_matrix = _labels_and_matrix(0, 5, 2000)
    first = generate_noisy_labels(true_labels, noise_matrix, seed=3)
    np.testing.assert_array_equal(first, generate_noisy_labels(true_labels, noise_matrix, seed=3))
    from_generator = generate_noisy_labels(true_labels, noise_matrix, seed=np.random.default_rng(3))
    np.testing.assert_array_equal(first, from_generator)
    assert not np.array_equal(first, generate_noisy_labels(true_labels, noise_matrix, seed=4))
    np.testing.assert_array_equal(true_labels, _labels_and_matrix(0, 5, 2000)[0])  # input left untouched


def test_noisy_labels_accept_lists_integer_floats_and_absent_classes():
    noise_matrix = np.array([[0.5, 0.0, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0]])  # class 2 never occurs
    from_list = generate_noisy_labels([0, 0, 0, 0, 1, 1], noise_matrix, seed=0)
    from_floats = generate_noisy_labels(np.array([0.0, 0, 0, 0, 1, 1]), noise_matrix, seed=0)
    np.testing.assert_array_equal(from_list, from_floats)
    assert np.issubdtype(from_floats.dtype, np.integer)
    assert np.sum(from_list[:4] == 1) == 2 and np.all(from_list[4:] == 1)
    assert generate_noisy_labels(np.array([], dtype=int), noise_matrix, seed=0).size == 0


# --------------------------------------------------------------------------------------------------------------
# Helpers: random probabilities and balls into bins
# --------------------------------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 12),
    mean=st.floats(0.0, 1.0),
    low_frac=st.floats(0.0, 1.0),
    high_frac=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_probabilities_sum_to_m_within_bounds(n, mean, low_frac, high_frac, seed):
    m = n * mean
    min_prob, max_prob = mean * low_frac, mean + (1 - mean) * high_frac  # feasible: min <= m/n <= max
    values = generate_n_rand_probabilities_that_sum_to_m(n, m, max_prob=max_prob, min_prob=min_prob, seed=seed)
    assert values.shape == (n,)
    assert values.sum() == pytest.approx(m, abs=1e-9)
    assert values.min() >= min_prob - 1e-12 and values.max() <= max_prob + 1e-12


@pytest.mark.parametrize(
    "n, m, bounds",
    [(3, 2.5, {}), (4, 1.0, {"max_prob": 0.3}), (5, 1.0, {"min_prob": 0.15}), (10, 3.0, {})],
)
def test_random_probabilities_follow_the_reference_distribution(n, m, bounds):
    rng = np.random.default_rng(0)
    ours = np.array([generate_n_rand_probabilities_that_sum_to_m(n, m, seed=rng, **bounds) for _ in range(2000)])
    theirs = _reference(
        lambda: np.array([reference.generate_n_rand_probabilities_that_sum_to_m(n, m, **bounds) for _ in range(2000)]),
        global_seed=0,
    )
    assert stats.ks_2samp(ours.ravel(), theirs.ravel()).pvalue > 1e-3
    assert stats.ks_2samp(ours.max(axis=1), theirs.max(axis=1)).pvalue > 1e-3


@settings(max_examples=150, deadline=None)
@given(
    K=st.integers(1, 10),
    low=st.integers(0, 5),
    extra=st.integers(0, 6),
    fill=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_balls_sum_to_n_within_bounds(K, low, extra, fill, seed):
    high = low + extra
    N = K * low + int(round(fill * K * extra))  # feasible by construction
    balls = randomly_distribute_N_balls_into_K_bins(N, K, max_balls_per_bin=high, min_balls_per_bin=low, seed=seed)
    assert balls.shape == (K,) and np.issubdtype(balls.dtype, np.integer)
    assert balls.sum() == N
    assert balls.min() >= low and balls.max() <= high


@pytest.mark.parametrize("m", [0.0, 1.0, 2.5])
def test_zero_random_probabilities_are_an_empty_array(m):
    theirs = _reference(reference.generate_n_rand_probabilities_that_sum_to_m, 0, m, global_seed=0)
    ours = generate_n_rand_probabilities_that_sum_to_m(0, m, seed=0)
    assert ours.shape == theirs.shape == (0,)


@pytest.mark.parametrize(
    "N, K, low, high",
    [(10, 10, 2, None), (10, 10, 3, 3), (10, 3, 4, None), (10, 4, 3, None), (7, 3, 3, 5)],
)
def test_a_minimum_above_n_over_k_gives_the_most_even_split(N, K, low, high):
    """No split meets the minimum: the reference splits as evenly as possible; so do we, with a warning."""
    rng = np.random.default_rng(0)
    with pytest.warns(UserWarning, match="min_balls_per_bin"):
        ours = np.array(
            [
                randomly_distribute_N_balls_into_K_bins(N, K, max_balls_per_bin=high, min_balls_per_bin=low, seed=rng)
                for _ in range(300)
            ]
        )
    theirs = _reference(
        lambda: np.array(
            [
                reference.randomly_distribute_N_balls_into_K_bins(N, K, max_balls_per_bin=high, min_balls_per_bin=low)
                for _ in range(300)
            ]
        ),
        global_seed=0,
    )
    for draws in (ours, theirs):
        assert np.all(draws.sum(axis=1) == N)
        assert set(np.unique(draws)) == ({N // K, N // K + 1} if N % K else {N // K})
    # Which bins get the remainder is random, the same for every bin.
    np.testing.assert_allclose(ours.mean(axis=0), N / K, atol=0.2)


def test_balls_without_bounds_can_fill_any_bin():
    rng = np.random.default_rng(0)
    draws = np.array([randomly_distribute_N_balls_into_K_bins(6, 3, seed=rng) for _ in range(3000)])
    assert np.all(draws.sum(axis=1) == 6)
    assert draws.max() == 6 and draws.min() == 0
    # Exchangeable bins: each holds N / K balls on average.
    np.testing.assert_allclose(draws.mean(axis=0), 2, atol=0.1)


# --------------------------------------------------------------------------------------------------------------
# Global RNG and input validation
# --------------------------------------------------------------------------------------------------------------


def test_no_function_touches_numpys_global_random_state():
    np.random.seed(123)
    before = np.random.get_state()
    noise_matrix = generate_noise_matrix_from_trace(4, 2.5, py=np.full(4, 0.25), frac_zero_noise_rates=0.3)
    generate_noise_matrix_from_trace(2, 1.5, frac_zero_noise_rates=0.5)
    generate_noisy_labels(np.repeat(np.arange(4), 50), noise_matrix, seed=None)
    generate_n_rand_probabilities_that_sum_to_m(5, 1.0, max_prob=0.3)
    randomly_distribute_N_balls_into_K_bins(10, 4, max_balls_per_bin=3)
    noise_matrix_is_valid(noise_matrix, np.full(4, 0.25))
    after = np.random.get_state()
    assert before[0] == after[0]
    np.testing.assert_array_equal(before[1], after[1])
    assert before[2:] == after[2:]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(K=1, trace=2), "K must be an integer >= 2"),
        (dict(K=3, trace=1.0, py=[0.3, 0.3, 0.4]), "trace > 1"),
        (dict(K=3, trace=2.0), "py .* must be given"),
        (dict(K=3, trace=2.0, py=[0.5, 0.5]), r"py must have shape \(3,\)"),
        (dict(K=3, trace=2.0, py=[0.3, 0.3, 0.3]), "py must sum to 1"),
        (dict(K=3, trace=2.0, py=[0.5, 0.5, 0.0]), "strictly positive"),
        (dict(K=3, trace=3.5, valid_noise_matrix=False), r"trace must lie in \[0, K\]"),
        (dict(K=3, trace=2.0, py=[0.3, 0.3, 0.4], frac_zero_noise_rates=1.5), "frac_zero_noise_rates"),
        (dict(K=3, trace=2.0, py=[0.3, 0.3, 0.4], min_noise_rate=0.5, max_noise_rate=0.2), "min_noise_rate"),
        (dict(K=3, trace=2.5, py=[0.3, 0.3, 0.4], max_trace_prob=0.8), "max_trace_prob"),
        (dict(K=3, trace=2.7, py=[0.3, 0.3, 0.4], min_noise_rate=0.2), "noise-rate bounds"),
        (dict(K=2, trace=0.5, valid_noise_matrix=False, frac_zero_noise_rates=0.5), "noise-free"),
    ],
)
def test_generate_noise_matrix_rejects_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate_noise_matrix_from_trace(**kwargs)


@pytest.mark.parametrize(
    "true_labels, noise_matrix, match",
    [
        ([0, 1], np.ones((2, 3)) / 2, "square"),
        ([0, 1], [[0.9, 0.2], [0.2, 0.9]], "columns must sum to 1"),
        ([0, 1], [[0.9, 0.1], [0.3, 0.7]], "pass the transpose"),
        ([0, 1], [[1.5, 0.0], [-0.5, 1.0]], r"\[0, 1\]"),
        ([0, 1], [[np.nan, 0.0], [1.0, 1.0]], "NaN"),
        ([0, 2], np.eye(2), r"0\.\.K-1"),
        ([0, -1], np.eye(2), r"0\.\.K-1"),
        ([0, 0.5], np.eye(2), "integers"),
        (["a", "b"], np.eye(2), "integers"),
        ([[0, 1]], np.eye(2), "1-D"),
    ],
)
def test_generate_noisy_labels_rejects_bad_inputs(true_labels, noise_matrix, match):
    with pytest.raises(ValueError, match=match):
        generate_noisy_labels(true_labels, noise_matrix, seed=0)


@pytest.mark.parametrize(
    "function, args, kwargs, match",
    [
        (generate_n_rand_probabilities_that_sum_to_m, (3, 1.0), dict(max_prob=0.3), "max_prob"),
        (generate_n_rand_probabilities_that_sum_to_m, (3, 1.0), dict(min_prob=0.4), "min_prob"),
        (generate_n_rand_probabilities_that_sum_to_m, (3, -1.0), {}, "m must be >= 0"),
        (randomly_distribute_N_balls_into_K_bins, (10, 3), dict(max_balls_per_bin=3), "cannot fit"),
        (randomly_distribute_N_balls_into_K_bins, (10, 3), dict(min_balls_per_bin=-1), "min_balls_per_bin"),
        (randomly_distribute_N_balls_into_K_bins, (5, 0), {}, "K must be an integer >= 1"),
    ],
)
def test_helpers_reject_infeasible_bounds(function, args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        function(*args, **kwargs)
