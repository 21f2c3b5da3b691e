"""Synthetic label noise: random noise matrices and the noisy labels they induce.

This module is for benchmarks. It builds a noise matrix with a chosen trace (the higher the trace, the less noise)
and corrupts a vector of true labels with it, so that the noise a detector should find is known exactly.

Symbols
-------
N
    Number of examples.
K
    Number of classes; labels are integers ``0..K-1``.
noise_matrix
    Array of shape ``(K, K)`` with ``noise_matrix[i, j] = P(given label = i | true label = j)``: rows are the given
    (noisy) label, columns the true label, so every column sums to 1. ``trace(noise_matrix)`` is the sum of the
    per-class probabilities of keeping the true label.
py
    Array of shape ``(K,)``, the prior ``P(true label = j)``.

Randomness never touches numpy's global state: every function takes ``seed`` (an int, ``None`` or a
``numpy.random.Generator``) and hands one Generator down to the helpers it calls, so one seed fixes a whole call.
The names and parameters mirror ``cleanlab.benchmarking.noise_generation`` (2.9.0); the results match it in
distribution, not draw for draw. Validity verdicts and flip counts match it exactly.

Where the reference would return a wrong result or loop for nothing, this module raises ``ValueError`` instead: a
``py`` that is not strictly positive or does not sum to 1 (no matrix could ever pass the validity check), a 2-class
noise-free request with ``trace < 1`` (the reference returns negative entries), ball-splitting bounds that cannot
be met (the reference returns a split that breaks them), and a ``noise_matrix`` whose columns do not sum to 1.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

__all__ = [
    "generate_noise_matrix_from_trace",
    "generate_noisy_labels",
    "noise_matrix_is_valid",
    "generate_n_rand_probabilities_that_sum_to_m",
    "randomly_distribute_N_balls_into_K_bins",
]

log = logging.getLogger(__name__)

# Slack for "sums to 1" and "lies within the bounds" checks; the same tolerance the reference uses.
_EPS = 1e-6


def noise_matrix_is_valid(noise_matrix, py, *, verbose=False) -> bool:
    """Tell whether learning from labels corrupted by ``noise_matrix`` can beat chance for every class.

    With the joint ``J[i, j] = noise_matrix[i, j] * py[j]`` and the noisy-label prior ``ps = noise_matrix @ py``,
    the matrix is valid when ``J`` sums to 1 (within 1e-6) and, for every class ``i``,
    ``ps[i] * py[i] < J[i, i]``; for ``py[i] > 0`` that reads ``noise_matrix[i, i] > ps[i]``: the given label ``i``
    is more frequent among truly-``i`` examples than among all examples.

    Parameters
    ----------
    noise_matrix : array-like of shape (K, K)
        ``P(given = i | true = j)``; columns should sum to 1.
    py : array-like of shape (K,)
        Prior of the true labels; should sum to 1. A class with prior 0 makes the matrix invalid.
    verbose : bool, default=False
        Log the reason for an invalid matrix at INFO level instead of DEBUG.

    Returns
    -------
    bool
        True if the matrix is valid for this prior.

    Raises
    ------
    ValueError
        If ``noise_matrix`` is not square or ``py`` does not have one entry per class.

    Examples
    --------
    >>> noise_matrix_is_valid([[0.8, 0.3], [0.2, 0.7]], [0.5, 0.5])
    True
    """
    noise_matrix = _as_square_matrix(noise_matrix)
    K = noise_matrix.shape[0]
    py = np.asarray(py, dtype=float)
    if py.shape != (K,):
        raise ValueError(f"py must have shape ({K},), one prior per class of the noise matrix; got shape {py.shape}.")
    level = logging.INFO if verbose else logging.DEBUG

    joint = noise_matrix * py  # J[i, j] = P(given = i, true = j)
    total = joint.sum()
    if not abs(total - 1) < _EPS:
        log.log(level, "invalid noise matrix: the joint sums to %r, not 1 (do the columns and py sum to 1?)", total)
        return False
    ps = noise_matrix @ py
    # Written as a product rather than a division so that a class with py = 0 counts as invalid (0 < 0 fails).
    beats_chance = ps * py < np.diag(joint)
    if not beats_chance.all():
        log.log(
            level,
            "invalid noise matrix: for classes %s, P(given=i | true=i) does not exceed P(given=i)",
            np.flatnonzero(~beats_chance).tolist(),
        )
        return False
    return True


def generate_noise_matrix_from_trace(
    K,
    trace,
    *,
    max_trace_prob=1.0,
    min_trace_prob=1e-5,
    max_noise_rate=1 - 1e-5,
    min_noise_rate=0.0,
    valid_noise_matrix=True,
    py=None,
    frac_zero_noise_rates=0.0,
    seed=0,
    max_iter=10000,
) -> np.ndarray | None:
    """Draw a random noise matrix with a given trace.

    For ``K > 2`` each attempt draws the diagonal (``K`` probabilities summing to ``trace`` within
    ``[min_trace_prob, max_trace_prob]``), forces the requested share of off-diagonal entries to 0, and splits
    each remaining column mass ``1 - noise_matrix[c, c]`` over the other rows of column ``c`` within
    ``[min_noise_rate, max_noise_rate]``. With ``valid_noise_matrix=True`` an attempt is kept only if
    :func:`noise_matrix_is_valid` accepts it for ``py``; after ``max_iter`` rejected attempts the function gives up.

    ``K = 2`` has a closed form and skips the validity check, because any 2x2 column-stochastic matrix with trace
    above 1 is valid for every prior: a diagonal ``(a, b)`` with ``a + b = trace`` gives
    ``[[a, 1 - b], [1 - a, b]]``, or, when ``frac_zero_noise_rates >= 0.5``, one class is kept noise-free:
    ``[[1, 2 - trace], [0, trace - 1]]`` or that matrix rotated by 180 degrees, with equal probability. As in the
    reference, the probability bounds and ``py`` are not used for ``K = 2``.

    Parameters
    ----------
    K : int
        Number of classes, at least 2.
    trace : float
        Sum of the diagonal, in ``[0, K]``; must exceed 1 when ``valid_noise_matrix`` is True.
    max_trace_prob, min_trace_prob : float, default=1.0 and 1e-5
        Bounds on each diagonal entry (``K > 2`` only).
    max_noise_rate, min_noise_rate : float, default=1 - 1e-5 and 0.0
        Bounds on each off-diagonal entry that is not forced to 0 (``K > 2`` only).
    valid_noise_matrix : bool, default=True
        Only return a matrix that :func:`noise_matrix_is_valid` accepts for ``py``.
    py : array-like of shape (K,), optional
        Prior of the true labels, strictly positive and summing to 1. Required when ``valid_noise_matrix`` is True
        and ``K > 2``.
    frac_zero_noise_rates : float, default=0.0
        Fraction, in ``[0, 1]``, of the ``K * (K - 1)`` off-diagonal entries to set to exactly 0. A column whose
        diagonal is 1 counts with its ``K - 1`` zeros. A column with diagonal below 1 must keep at least one
        non-zero entry, so at most ``K - 2`` of its entries are forced to 0 and a larger request is capped.
        The result may hold more zeros than requested.
    seed : int, numpy.random.Generator or None, default=0
        Source of randomness; the same seed gives the same matrix.
    max_iter : int, default=10000
        Number of attempts before giving up; below 1, no attempt is made.

    Returns
    -------
    ndarray of shape (K, K) or None
        Column-stochastic noise matrix with the requested trace, or None if no attempt was accepted.

    Raises
    ------
    ValueError
        If ``K < 2``; ``trace`` is outside ``[0, K]``, or ``<= 1`` with ``valid_noise_matrix``; ``py`` is missing or
        malformed when it is needed; a bound or ``frac_zero_noise_rates`` is outside ``[0, 1]`` or the bounds cannot
        be met; ``K = 2`` with ``frac_zero_noise_rates >= 0.5`` and ``trace < 1`` (no column can then be
        noise-free).

    Examples
    --------
    >>> noise_matrix = generate_noise_matrix_from_trace(3, 2.4, py=[0.2, 0.3, 0.5], seed=1)
    >>> noise_matrix.shape, round(float(np.trace(noise_matrix)), 6)
    ((3, 3), 2.4)
    """
    if int(K) != K or K < 2:
        raise ValueError(f"K must be an integer >= 2, but K = {K}.")
    K = int(K)
    if valid_noise_matrix and trace <= 1:
        raise ValueError(
            f"trace = {trace}, but a valid noise matrix needs trace > 1; lower the noise or pass "
            "valid_noise_matrix=False."
        )
    if not 0 <= trace <= K:
        raise ValueError(f"trace must lie in [0, K] = [0, {K}], but trace = {trace}.")
    if not 0 <= frac_zero_noise_rates <= 1:
        raise ValueError(f"frac_zero_noise_rates must lie in [0, 1], but it is {frac_zero_noise_rates}.")
    for low_name, low, high_name, high in (
        ("min_trace_prob", min_trace_prob, "max_trace_prob", max_trace_prob),
        ("min_noise_rate", min_noise_rate, "max_noise_rate", max_noise_rate),
    ):
        if not 0 <= low <= high <= 1:
            raise ValueError(
                f"need 0 <= {low_name} <= {high_name} <= 1, but got {low_name} = {low}, {high_name} = {high}."
            )
    if K > 2 and valid_noise_matrix:
        py = _check_prior(py, K)
    if max_iter < 1:
        return None
    rng = np.random.default_rng(seed)

    if K == 2:
        return _two_class_noise_matrix(trace, frac_zero_noise_rates, rng)

    slack = 1e-12 * K  # rounding in K * bound, e.g. 3 * 0.7 < 2.1
    if not K * min_trace_prob - slack <= trace <= K * max_trace_prob + slack:
        raise ValueError(
            f"trace = {trace} cannot be split into K = {K} diagonal entries within [min_trace_prob, max_trace_prob] "
            f"= [{min_trace_prob}, {max_trace_prob}]: need {K} * min_trace_prob <= trace <= {K} * max_trace_prob."
        )
    for _ in range(max_iter):
        noise_matrix = _draw_noise_matrix(
            K, trace, max_trace_prob, min_trace_prob, max_noise_rate, min_noise_rate, frac_zero_noise_rates, rng
        )
        if not valid_noise_matrix or noise_matrix_is_valid(noise_matrix, py):
            return noise_matrix
    log.debug("no valid noise matrix with trace %s found in %d attempts", trace, max_iter)
    return None


def _two_class_noise_matrix(trace, frac_zero_noise_rates, rng):
    """Closed-form K = 2 noise matrix (see generate_noise_matrix_from_trace)."""
    if frac_zero_noise_rates >= 0.5:
        # One zero off-diagonal means one column is [1, 0], leaving trace - 1 for the other diagonal entry.
        if trace < 1:
            raise ValueError(
                f"with K = 2 and frac_zero_noise_rates >= 0.5 one class is noise-free, which needs trace >= 1; "
                f"got trace = {trace}."
            )
        noise_matrix = np.array([[1.0, 2.0 - trace], [0.0, trace - 1.0]])
        # Pick which class stays noise-free at random.
        return noise_matrix if rng.random() > 0.5 else np.rot90(noise_matrix, 2).copy()
    a, b = generate_n_rand_probabilities_that_sum_to_m(2, trace, seed=rng)
    return np.array([[a, 1.0 - b], [1.0 - a, b]])


def _draw_noise_matrix(K, trace, max_trace_prob, min_trace_prob, max_noise_rate, min_noise_rate, frac_zero, rng):
    """One K > 2 attempt: diagonal, forced zeros, then each column's noise mass spread over random rows."""
    diagonal = generate_n_rand_probabilities_that_sum_to_m(
        K, trace, max_prob=max_trace_prob, min_prob=min_trace_prob, seed=rng
    )
    noise_matrix = np.diag(diagonal)
    noisy_columns = np.flatnonzero(diagonal != 1)

    # A column with diagonal exactly 1 already holds K - 1 zeros. Every other column must keep at least one
    # non-zero rate to carry its mass 1 - diagonal, hence at most K - 2 forced zeros per column.
    n_zeros = int(K * (K - 1) * frac_zero) - (K - 1) * (K - noisy_columns.size)
    n_zeros = min(max(n_zeros, 0), (K - 2) * noisy_columns.size)
    zeros_per_column = randomly_distribute_N_balls_into_K_bins(
        n_zeros, max(noisy_columns.size, 1), max_balls_per_bin=K - 2, seed=rng
    )

    for column, n_zero in zip(noisy_columns, zeros_per_column):
        n_rates = K - 1 - int(n_zero)
        mass = 1 - diagonal[column]
        if not n_rates * min_noise_rate - 1e-12 <= mass <= n_rates * max_noise_rate + 1e-12:
            raise ValueError(
                f"column {column} has noise mass 1 - noise_matrix[{column}, {column}] = {mass:.6g} to split into "
                f"{n_rates} noise rates within [min_noise_rate, max_noise_rate] = [{min_noise_rate}, "
                f"{max_noise_rate}], which is impossible; loosen the noise-rate bounds or change the trace."
            )
        rates = generate_n_rand_probabilities_that_sum_to_m(
            n_rates, mass, max_prob=max_noise_rate, min_prob=min_noise_rate, seed=rng
        )
        other_rows = np.delete(np.arange(K), column)
        rows = rng.choice(other_rows, size=n_rates, replace=False)
        noise_matrix[rows, column] = rates
    return noise_matrix


def generate_noisy_labels(true_labels, noise_matrix, *, seed=None) -> np.ndarray:
    """Corrupt true labels so that the noisy labels follow ``noise_matrix`` exactly, count for count.

    For every pair ``i != j`` exactly ``int(noise_matrix[i, j] * py[j] * N)`` examples of true class ``j`` (with
    ``py[j] = n_j / N``, so about ``floor(noise_matrix[i, j] * n_j)``) receive the noisy label ``i``; which
    examples of class ``j`` flip is drawn uniformly at random without replacement. The rest keep their label.

    Parameters
    ----------
    true_labels : array-like of shape (N,)
        Integer labels in ``0..K-1`` (integer-valued floats are accepted).
    noise_matrix : array-like of shape (K, K)
        ``P(given = i | true = j)``; columns must sum to 1 (within 1e-6). Classes absent from ``true_labels``
        are allowed.
    seed : int, numpy.random.Generator or None, default=None
        Source of randomness; the same seed gives the same labels.

    Returns
    -------
    ndarray of shape (N,)
        Noisy labels, integer dtype (that of ``true_labels`` when it is an integer array).

    Raises
    ------
    ValueError
        If ``noise_matrix`` is not a square matrix of probabilities whose columns sum to 1, or ``true_labels`` is
        not a 1-D array of integers in ``0..K-1``.

    Examples
    --------
    >>> generate_noisy_labels([0, 0, 0, 0, 1, 1, 1, 1], [[0.5, 0.0], [0.5, 1.0]], seed=0).tolist().count(1)
    6
    """
    noise_matrix = _check_noise_matrix(noise_matrix)
    K = noise_matrix.shape[0]
    labels = _check_labels(true_labels, K)
    rng = np.random.default_rng(seed)
    noisy_labels = labels.copy()
    N = labels.size
    if N == 0:
        return noisy_labels

    counts = np.bincount(labels, minlength=K)
    n_flips = flip_counts(labels, noise_matrix)

    # Group example indices by true class once instead of scanning all labels for every class.
    members_by_class = np.split(np.argsort(labels, kind="stable"), np.cumsum(counts)[:-1])
    for true_class in np.flatnonzero(n_flips.sum(axis=0)):
        new_labels = np.repeat(np.arange(K), n_flips[:, true_class])
        members = members_by_class[true_class]
        if new_labels.size > members.size:
            # Only reachable through the 1e-6 slack on column sums with a huge class; refuse rather than
            # silently skip the class as the reference does.
            raise ValueError(
                f"noise_matrix asks for {new_labels.size} flips in true class {true_class}, which has only "
                f"{members.size} examples; make column {true_class} sum to 1."
            )
        flipped = rng.choice(members, size=new_labels.size, replace=False)
        noisy_labels[flipped] = new_labels
    return noisy_labels


def flip_counts(labels, noise_matrix) -> np.ndarray:
    """``n_flips[i, j]``: how many examples of true class ``j`` receive label ``i`` (``int(P(i | j) * py[j] * N)``).

    The diagonal is 0. Same floating-point expression and truncation as the reference, so that flip counts agree
    exactly; :func:`runner.datasets.corrupt.instance_noise` uses the same counts.
    """
    labels = np.asarray(labels)
    K, N = len(noise_matrix), labels.size
    py = np.bincount(labels, minlength=K) / N
    n_flips = (np.asarray(noise_matrix) * py * N).astype(np.int64)
    np.fill_diagonal(n_flips, 0)
    return n_flips


def generate_n_rand_probabilities_that_sum_to_m(n, m, *, max_prob=1.0, min_prob=0.0, seed=None) -> np.ndarray:
    """Draw ``n`` random non-negative numbers that sum to ``m``, each within ``[min_prob, max_prob]``.

    Starts from ``m`` times a flat Dirichlet draw (uniform on the simplex) and, while the largest entry is above
    ``max_prob`` or the smallest below ``min_prob``, splits the mass of those two entries again at random within
    the bounds. The sum is preserved at every step, and the result is close to uniform on the bounded simplex.

    Parameters
    ----------
    n : int
        Number of values, at least 0 (``n = 0`` gives an empty array, as in the reference).
    m : float
        Target sum, at least 0.
    max_prob, min_prob : float, default=1.0 and 0.0
        Bounds on each value.
    seed : int, numpy.random.Generator or None, default=None
        Source of randomness.

    Returns
    -------
    ndarray of shape (n,)
        The values, summing to ``m`` up to rounding.

    Raises
    ------
    ValueError
        If ``m < 0``, ``n < 0``, or the bounds are infeasible: ``max_prob < m / n`` or ``min_prob > m / n``
        (beyond a rounding slack of 1e-12).

    Examples
    --------
    >>> x = generate_n_rand_probabilities_that_sum_to_m(4, 2.0, max_prob=0.6, seed=0)
    >>> bool(np.isclose(x.sum(), 2.0) and x.max() <= 0.6)
    True
    """
    if int(n) != n or n < 0:
        raise ValueError(f"n must be a non-negative integer, but n = {n}.")
    n = int(n)
    if m < 0:
        raise ValueError(f"m must be >= 0, but m = {m}.")
    if n == 0:
        return np.zeros(0)
    # Tolerate rounding, e.g. m = n * max_prob computed in floating point a hair above it.
    slack = 1e-12 * max(1.0, m)
    if n * max_prob < m - slack:
        raise ValueError(f"max_prob = {max_prob} is below m / n = {m} / {n} = {m / n}; the values cannot sum to m.")
    if n * min_prob > m + slack:
        raise ValueError(f"min_prob = {min_prob} is above m / n = {m} / {n} = {m / n}; the values cannot sum to m.")
    # A bound at m / n leaves a single feasible point; the adjustment loop could only chase rounding errors there.
    if n * max_prob <= m + slack:
        return np.full(n, float(max_prob))
    if n * min_prob >= m - slack:
        return np.full(n, float(min_prob))
    rng = np.random.default_rng(seed)
    values = rng.dirichlet(np.ones(n)) * m
    _move_mass_into_bounds(values, min_prob, max_prob, rng)
    return values


def _move_mass_into_bounds(values, low, high, rng, max_steps=100_000):
    """Re-split mass between the extreme entries (in place, sum-preserving) until all lie in [low, high].

    Each step takes the largest entry ``i`` and the smallest ``j`` with joint mass ``t`` and redraws ``j``
    uniformly between ``max(low, t - high)`` and ``min(high, t - low)``, giving ``i`` the rest. When that interval
    is proper, both entries end inside the bounds; this is a Gibbs step of the uniform distribution on the bounded
    simplex, so the result stays close to a flat Dirichlet conditioned on the bounds (exactly so for two entries).
    When ``t > 2 * high`` (or ``t < 2 * low``) no split of the pair fits, and the same draw between the two
    endpoints at least moves mass from the extreme entry towards the others, which the next steps spread further.
    """
    for _ in range(max_steps):
        i, j = int(np.argmax(values)), int(np.argmin(values))
        if (values[i] <= high and values[j] >= low) or i == j:  # i == j: all equal, so m / n is in bounds
            return
        total = values[i] + values[j]
        start, stop = max(low, total - high), min(high, total - low)
        # Written out because Generator.uniform rejects start > stop, the case t > 2 * high above.
        values[j] = start + rng.random() * (stop - start)
        values[i] = total - values[j]
    # Rounding can keep an entry a few ulps outside for ever; that is within the callers' tolerance.
    if values.max() > high + _EPS or values.min() < low - _EPS:  # pragma: no cover - defensive
        raise RuntimeError(f"could not bring the values within [{low}, {high}] in {max_steps} steps.")


def randomly_distribute_N_balls_into_K_bins(
    N, K, *, max_balls_per_bin=None, min_balls_per_bin=None, seed=None
) -> np.ndarray:
    """Split the integer ``N`` at random into ``K`` non-negative integer parts within per-bin bounds.

    Draws a real-valued split with :func:`generate_n_rand_probabilities_that_sum_to_m` and rounds it by largest
    remainder, which keeps the total at ``N`` and every part within the (integer) bounds.

    Parameters
    ----------
    N : int
        Number of balls, at least 0.
    K : int
        Number of bins, at least 1.
    max_balls_per_bin : int, optional
        Capacity of each bin; default ``N``.
    min_balls_per_bin : int, optional
        Minimum load of each bin; default 0. A minimum above ``N / K`` cannot be met by every
        bin: the balls are then split as evenly as possible, ``N // K`` or ``N // K + 1`` per
        bin (with a warning), as the reference does.
    seed : int, numpy.random.Generator or None, default=None
        Source of randomness.

    Returns
    -------
    ndarray of shape (K,), dtype int64
        Balls per bin, summing to ``N``.

    Raises
    ------
    ValueError
        If ``N < 0``, ``K < 1``, ``min_balls_per_bin < 0``, or ``K * max_balls_per_bin < N`` (the
        balls do not fit; the reference then returns bins that do not hold all ``N`` balls).

    Examples
    --------
    >>> int(randomly_distribute_N_balls_into_K_bins(10, 3, max_balls_per_bin=4, seed=0).sum())
    10
    """
    for name, value, least in (("N", N, 0), ("K", K, 1)):
        if int(value) != value or value < least:
            raise ValueError(f"{name} must be an integer >= {least}, but {name} = {value}.")
    N, K = int(N), int(K)
    high = N if max_balls_per_bin is None else int(max_balls_per_bin)
    low = 0 if min_balls_per_bin is None else int(min_balls_per_bin)
    if low < 0:
        raise ValueError(f"min_balls_per_bin must be >= 0, but min_balls_per_bin = {low}.")
    if K * high < N:
        raise ValueError(f"cannot fit N = {N} balls into {K} bins of at most max_balls_per_bin = {high}.")
    if K * low > N:
        # No split meets the minimum; the one closest to it is the most even split.
        warnings.warn(
            f"cannot put min_balls_per_bin = {low} balls in each of {K} bins with N = {N}; "
            f"splitting them as evenly as possible ({N // K} or {N // K + 1} per bin)",
            UserWarning,
            stacklevel=2,
        )
        low, high = N // K, min(high, N // K + 1)
    rng = np.random.default_rng(seed)
    shares = generate_n_rand_probabilities_that_sum_to_m(K, N, max_prob=high, min_prob=low, seed=rng)
    shares = np.clip(shares, low, high)  # drop rounding residue so floor/ceil stay within the integer bounds
    balls = np.floor(shares).astype(np.int64)
    # Largest-remainder rounding; a bin already at capacity has remainder 0 and is never chosen first.
    missing = N - int(balls.sum())
    remainders = np.where(balls < high, shares - balls, -1.0)
    balls[np.argsort(-remainders, kind="stable")[:missing]] += 1
    return balls


def _as_square_matrix(noise_matrix):
    """Float array of shape (K, K), or ValueError."""
    noise_matrix = np.asarray(noise_matrix, dtype=float)
    if noise_matrix.ndim != 2 or noise_matrix.shape[0] != noise_matrix.shape[1]:
        raise ValueError(f"noise_matrix must be a square (K, K) matrix, but has shape {noise_matrix.shape}.")
    return noise_matrix


def _check_noise_matrix(noise_matrix):
    """A finite (K, K) matrix of probabilities whose columns sum to 1, or ValueError."""
    noise_matrix = _as_square_matrix(noise_matrix)
    if noise_matrix.size == 0:
        raise ValueError("noise_matrix is empty; it needs at least one class.")
    if not np.all(np.isfinite(noise_matrix)):
        raise ValueError("noise_matrix contains NaN or infinite values.")
    if noise_matrix.min() < -_EPS or noise_matrix.max() > 1 + _EPS:
        raise ValueError(
            f"noise_matrix entries are probabilities and must lie in [0, 1]; found values in "
            f"[{noise_matrix.min()}, {noise_matrix.max()}]."
        )
    column_sums = noise_matrix.sum(axis=0)
    if not np.allclose(column_sums, 1, rtol=0, atol=_EPS):
        hint = ""
        if np.allclose(noise_matrix.sum(axis=1), 1, rtol=0, atol=_EPS):
            hint = " Its rows sum to 1: pass the transpose (rows = given label, columns = true label)."
        raise ValueError(
            f"noise_matrix columns must sum to 1 (P(given | true) for each true class); column sums are "
            f"{np.round(column_sums, 6).tolist()}.{hint}"
        )
    return noise_matrix


def _check_labels(true_labels, K):
    """1-D integer labels in 0..K-1, or ValueError."""
    labels = np.asarray(true_labels)
    if labels.ndim != 1:
        raise ValueError(f"true_labels must be 1-D of shape (N,), but has shape {labels.shape}.")
    if labels.dtype == bool:
        labels = labels.astype(np.int64)
    elif not np.issubdtype(labels.dtype, np.integer):
        if (
            not np.issubdtype(labels.dtype, np.floating)
            or not np.all(np.isfinite(labels))
            or np.any(labels != np.round(labels))
        ):
            raise ValueError(
                f"true_labels must be integers in 0..K-1 (encode other label types first); got dtype {labels.dtype}."
            )
        labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= K):
        raise ValueError(
            f"true_labels must lie in 0..K-1 = 0..{K - 1} for a {K}x{K} noise_matrix; found values in "
            f"[{labels.min()}, {labels.max()}]."
        )
    return labels


def _check_prior(py, K):
    """A strictly positive prior of shape (K,) summing to 1, or ValueError."""
    if py is None:
        raise ValueError(
            "py (the prior of the true labels) must be given when valid_noise_matrix=True and K > 2: validity "
            "depends on it."
        )
    py = np.asarray(py, dtype=float)
    if py.shape != (K,):
        raise ValueError(f"py must have shape ({K},), one prior per class; got shape {py.shape}.")
    # Either failure would make every attempt invalid, and the caller would get None after max_iter tries.
    if not np.all(np.isfinite(py)) or py.min() <= 0:
        raise ValueError(f"py must be strictly positive (a class with prior 0 is never valid); got {py.tolist()}.")
    if not abs(py.sum() - 1) < _EPS:
        raise ValueError(f"py must sum to 1, but sums to {py.sum()}.")
    return py
