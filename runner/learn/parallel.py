"""Where the fold fits run: a joblib backend chosen by name, its resources held for one call.

Cross-validation fits K clones of the classifier, one per fold, through ``joblib.Parallel``.
:func:`fold_backend` turns a backend name into the joblib configuration of the block it
wraps:

``None``
    joblib's default (``loky`` worker processes), or whatever an enclosing
    ``joblib.parallel_config`` chose: the caller stays in control.
``"loky"``, ``"threading"``, ``"multiprocessing"``, ``"sequential"``, or any name registered
with ``joblib.register_parallel_backend`` (``"ray"`` after ``ray.util.joblib.register_ray()``)
    that joblib backend.
``"dask"``
    the workers of a Dask cluster: a ``dask.distributed.Client`` connected to
    ``scheduler_address``, or, without one, to a ``LocalCluster`` of ``n_jobs`` single-threaded
    worker processes listening on 127.0.0.1 only. Client and local cluster live exactly as long
    as the block, so an idle cluster never holds memory during detection or the final fit. The
    features are sent to the cluster once per cross-validation (joblib scatters large
    arguments), not once per fold. Needs the ``dask`` extra.

The backend decides only *where* a fold runs: the folds, their order and the thread cap of every
fit are fixed by :mod:`runner.learn.cv`, so the out-of-fold probabilities are bit-identical on every
backend. ``n_jobs`` is the number of folds fitted at once (joblib's meaning: None = the backend's
default, -1 = all cores, or all worker threads of a Dask cluster); ``n_jobs=1`` makes joblib run
the folds one after another in the calling process, whatever the backend.

Threads: every fit runs under a BLAS/OpenMP cap (``threads_per_fit``), so one job uses at most
``n_jobs x threads_per_fit`` cores for its folds, and a sweep of ``J`` parallel jobs at most
``J x n_jobs x threads_per_fit``; :func:`check_cores` warns when that exceeds the machine.
"""

from __future__ import annotations

import logging
import os
from contextlib import ExitStack, contextmanager, nullcontext

from joblib import parallel_config
from joblib.parallel import BACKENDS, EXTERNAL_BACKENDS, ParallelBackendBase

log = logging.getLogger(__name__)

DASK_EXTRA_HINT = "pip install 'cleanrun[dask]' (or pip install 'dask[distributed]')"


def available_backends() -> list[str]:
    """Names :func:`fold_backend` accepts now (joblib's registered backends plus ``dask``)."""
    return sorted(set(BACKENDS) | set(EXTERNAL_BACKENDS) | {"dask"})


@contextmanager
def fold_backend(backend=None, *, n_jobs=None, scheduler_address=None):
    """Run the ``joblib.Parallel`` calls of the block on ``backend``; yields their ``n_jobs``.

    Parameters
    ----------
    backend : str, joblib backend instance or None
        See the module docstring; None leaves joblib's configuration as it is.
    n_jobs : int or None
        Folds fitted at once. With ``"dask"`` and no ``scheduler_address`` it is also the number
        of local worker processes (None or -1: one per core).
    scheduler_address : str, optional
        ``tcp://host:8786`` of a running Dask scheduler (``"dask"`` only).

    Yields
    ------
    int or None
        The ``n_jobs`` to give ``joblib.Parallel`` inside the block.

    Raises
    ------
    ValueError
        For an unknown backend name (the message lists the available ones), or a
        ``scheduler_address`` with a backend other than ``"dask"``.
    ImportError
        For ``"dask"`` without ``dask.distributed`` installed (the message names the extra).
    """
    if backend is not None and not isinstance(backend, (str, ParallelBackendBase)):
        raise TypeError(f"backend must be a joblib backend name or instance, got {type(backend).__name__}")
    if scheduler_address and backend != "dask":
        raise ValueError(
            f"scheduler_address={scheduler_address!r} needs backend='dask' (got backend={backend!r}); "
            "e.g. cv.backend=dask cv.scheduler_address=tcp://host:8786"
        )
    if backend == "dask":
        with _dask(n_jobs, scheduler_address) as n_jobs:
            yield n_jobs
        return
    if isinstance(backend, str) and backend not in BACKENDS and backend not in EXTERNAL_BACKENDS:
        raise ValueError(
            f"unknown joblib backend {backend!r}; available: {', '.join(available_backends())} "
            "(a Ray cluster: call ray.util.joblib.register_ray() first, then use 'ray')"
        )
    with nullcontext() if backend is None else parallel_config(backend=backend):
        yield n_jobs


@contextmanager
def _dask(n_jobs, scheduler_address):
    """A Dask client (and local cluster) for the block; closed after it, also on error."""
    if n_jobs == 1:
        # joblib runs n_jobs=1 in this process whatever the backend: a cluster would sit idle.
        log.warning(
            "cv.backend=dask with n_jobs=1 fits the folds one after another in this process; "
            "use n_jobs=-1 for every worker of the cluster"
        )
        yield 1
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as error:
        raise ImportError(f"backend='dask' needs dask.distributed: {DASK_EXTRA_HINT}") from error

    # Entered in order and closed in reverse (client, then cluster), also when starting fails.
    with ExitStack() as resources:
        # Dask logs every start, connection and shutdown at INFO; a run's log keeps its warnings.
        resources.enter_context(_logger_level("distributed", logging.WARNING))
        if scheduler_address:
            log.info("folds on the Dask cluster at %s", scheduler_address)
            # set_as_default=False: the client goes to joblib explicitly and leaks nowhere else.
            client = resources.enter_context(Client(scheduler_address, set_as_default=False))
        else:
            n_workers = _local_workers(n_jobs)
            # One thread per worker: parallelism comes from folds, and each fit caps its own
            # threads. Loopback only and no dashboard: nothing is exposed beyond this machine.
            # The scheduler's HTTP routes (health, metrics) would take port 8787 even without a
            # dashboard; a free port lets the clusters of two runs coexist.
            cluster = resources.enter_context(
                LocalCluster(
                    n_workers=n_workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    scheduler_port=0,
                    dashboard_address=None,
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                )
            )
            log.info("folds on a local Dask cluster at %s (%d worker processes)", cluster.scheduler_address, n_workers)
            client = resources.enter_context(Client(cluster, set_as_default=False))
        with parallel_config(backend="dask", client=client):
            # None or -1: as many folds at once as the cluster has worker threads.
            yield -1 if n_jobs is None else n_jobs


@contextmanager
def _logger_level(name: str, level: int):
    """Raise the level of logger ``name`` to at least ``level`` for the block."""
    logger = logging.getLogger(name)
    previous = logger.level
    logger.setLevel(max(level, logger.getEffectiveLevel()))
    try:
        yield
    finally:
        logger.setLevel(previous)


def _local_workers(n_jobs) -> int:
    """Worker processes of a local cluster for joblib's ``n_jobs`` (None: all cores, -2: all but one)."""
    cores = os.cpu_count() or 1
    if n_jobs is None:
        return cores
    if n_jobs == 0:
        raise ValueError("n_jobs=0 is not a number of workers; use a positive number or -1 (all cores)")
    return int(n_jobs) if n_jobs > 0 else max(1, cores + 1 + int(n_jobs))


def lone_fit_limits(threads_per_fit, n_jobs=1, *, remote=False):
    """threadpoolctl limits of a fit that runs alone, after the folds (the final fit).

    BLAS stays at ``threads_per_fit``: more BLAS threads slow small fits down on small machines
    and change their results. OpenMP gets the cores the folds had, ``n_jobs x threads_per_fit``
    (local workers only; ``remote=True``, folds on a cluster, gives none extra): OpenMP learners
    such as HistGradientBoosting parallelise each histogram over features, so they fit faster
    and give the same model. None (no cap) stays None.
    """
    if threads_per_fit is None:
        return None
    workers = 1 if remote or n_jobs is None else min(_local_workers(n_jobs), os.cpu_count() or 1)
    return {"blas": threads_per_fit, "openmp": threads_per_fit * workers}


def check_cores(*, folds=1, threads_per_fit=1, jobs=1, cores=None) -> bool:
    """Warn when ``jobs x folds x threads_per_fit`` exceeds the cores; True when it fits.

    Parameters
    ----------
    folds : int or None
        Folds fitted at once in one job (``cv.n_jobs``; None = 1, -1 = all cores).
    threads_per_fit : int or None
        BLAS/OpenMP threads of every fit (None: uncapped, counted as all cores).
    jobs : int or None
        Jobs of a sweep running at once on this machine (``hydra.launcher.n_jobs``).
    cores : int, optional
        Cores available (default ``os.cpu_count()``).
    """
    cores = cores or os.cpu_count() or 1

    def count(value):
        return 1 if value is None or value == 0 else cores if value < 0 else int(value)

    used = count(jobs) * count(folds) * (cores if threads_per_fit is None else count(threads_per_fit))
    if used > cores:
        log.warning(
            "%s parallel jobs x %s parallel folds x %s threads per fit = %d threads on %d cores: "
            "oversubscribed, fits will slow each other down (lower hydra.launcher.n_jobs, cv.n_jobs "
            "or threads_per_fit)",
            jobs,
            folds,
            threads_per_fit,
            used,
            cores,
        )
        return False
    return True
