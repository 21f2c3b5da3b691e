"""Scale: folds on any joblib backend (Dask included) give the same bits; the large-data path stays lean.

The Dask tests start their own clusters on 127.0.0.1 (a few seconds each) and stop them; they
are skipped when the ``dask`` extra is not installed. The memory tests measure with
``tracemalloc`` (numpy reports its buffers to it) on inputs large enough for an N x K copy to
stand out from everything else.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from xgboost import XGBClassifier

from runner import CleanLearning
from runner.common import atomic
from runner.common.atomic import write_table
from runner.datasets import make_synthetic
from runner.datasets.corrupt import matrix_noise
from runner.learn.cv import cross_val_pred_probs
from runner.learn.parallel import check_cores, fold_backend
from runner.run import artifacts
from runner.run.experiment import run_experiment, save_result

CLASSIFIERS = {
    # OpenMP inside: bit-identical only because every fit runs under the thread cap
    "hist_gradient_boosting": HistGradientBoostingClassifier(max_iter=15, random_state=0),
    "xgboost": XGBClassifier(n_estimators=15, max_depth=3, tree_method="hist", n_jobs=1, random_state=0),
}


@functools.cache
def small_problem():
    X, y = make_classification(n_samples=1200, n_features=8, n_informative=5, n_classes=3, random_state=0)
    return X.astype(np.float32), matrix_noise(y, 3, rate=0.2, seed=0).labels


def pred_probs_on(backend, clf, n_jobs=2, **options):
    X, labels = small_problem()
    return cross_val_pred_probs(
        clf, X, labels, n_folds=5, seed=0, n_jobs=n_jobs, backend=backend, dtype=np.float32, **options
    )


# ----------------------------------------------------------------------------------------------
# Backends


@pytest.fixture(scope="module")
def dask_cluster():
    """A two-worker Dask cluster on the loopback interface, for the tests of this module only."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            scheduler_port=0,
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        yield cluster, client


@pytest.mark.parametrize("name", list(CLASSIFIERS))
def test_pred_probs_are_bit_identical_on_every_backend(name, dask_cluster):
    cluster, client = dask_cluster
    clf = CLASSIFIERS[name]
    sequential = pred_probs_on(None, clf, n_jobs=1)
    from distributed import get_task_stream

    with get_task_stream(client) as stream:
        on_dask = pred_probs_on("dask", clf, n_jobs=-1, scheduler_address=cluster.scheduler_address)
    assert any("_fit_fold" in task["key"] for task in stream.data), "the folds did not run on the cluster"
    for backend, pred_probs in {
        "loky": pred_probs_on("loky", clf),
        "threading": pred_probs_on("threading", clf),
        "dask": on_dask,
    }.items():
        assert pred_probs.dtype == np.float32
        assert np.array_equal(pred_probs, sequential), f"{backend} differs from the sequential folds"


def test_a_run_with_folds_on_a_local_dask_cluster_is_the_same_run(caplog):
    """No scheduler address: the run starts a local cluster on 127.0.0.1 and stops it after CV."""
    pytest.importorskip("distributed")
    dataset = make_synthetic(n_samples=1500, n_features=8, n_informative=5, n_classes=3, seed=0)

    def run(cv_backend):
        learner = CleanLearning(
            CLASSIFIERS["hist_gradient_boosting"], seed=0, n_jobs=2, cv_backend=cv_backend, pred_probs_dtype="float32"
        )
        return run_experiment(dataset, learner, noise=functools.partial(matrix_noise, rate=0.2), compare_baseline=False)

    children = set(multiprocessing.active_children())  # e.g. loky workers of earlier tests
    with caplog.at_level(logging.INFO, logger="runner.learn.parallel"):
        on_dask = run(cv_backend="dask")
    assert "local Dask cluster at tcp://127.0.0.1:" in caplog.text
    assert set(multiprocessing.active_children()) <= children, "the local cluster's workers outlived the run"
    on_loky = run(cv_backend="loky")
    assert np.array_equal(on_dask.pred_probs, on_loky.pred_probs)
    pd.testing.assert_frame_equal(on_dask.label_issues, on_loky.label_issues)
    assert on_dask.metrics["test_accuracy"] == on_loky.metrics["test_accuracy"]


def test_dask_with_one_job_runs_here_without_a_cluster(caplog):
    with caplog.at_level(logging.WARNING, logger="runner.learn.parallel"):
        with fold_backend("dask", n_jobs=1) as n_jobs:
            assert n_jobs == 1
    assert "one after another in this process" in caplog.text


def test_dask_without_the_extra_names_it(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "distributed", None)  # import distributed fails
    with pytest.raises(ImportError, match=r"cleanrun\[dask\]"):
        with fold_backend("dask", n_jobs=2):
            pass


def test_unknown_backend_lists_the_available_ones():
    with pytest.raises(ValueError, match="unknown joblib backend 'lokky'; available: .*dask.*loky.*threading"):
        pred_probs_on("lokky", CLASSIFIERS["xgboost"])


def test_a_scheduler_address_needs_the_dask_backend():
    with pytest.raises(ValueError, match="needs backend='dask'"):
        pred_probs_on("loky", CLASSIFIERS["xgboost"], scheduler_address="tcp://127.0.0.1:8786")


def test_no_backend_leaves_an_enclosing_joblib_config_in_charge():
    from joblib import parallel_config
    from joblib.parallel import get_active_backend

    with parallel_config(backend="threading"):
        with fold_backend(None, n_jobs=2) as n_jobs:
            assert type(get_active_backend()[0]).__name__ == "ThreadingBackend"
        with fold_backend("loky", n_jobs=2) as n_jobs:
            assert type(get_active_backend()[0]).__name__ == "LokyBackend"
    assert n_jobs == 2


@pytest.mark.parametrize(
    "jobs, folds, threads, fits",
    [
        (1, 1, 1, True),
        (2, 1, 1, True),
        (1, 2, 1, True),
        (2, 2, 1, False),
        (1, 1, 4, False),
        (1, -1, 1, True),
        (1, 1, None, True),
        (2, 1, None, False),
    ],
)
def test_check_cores_counts_jobs_times_folds_times_threads(jobs, folds, threads, fits, caplog):
    with caplog.at_level(logging.WARNING, logger="runner.learn.parallel"):
        assert check_cores(jobs=jobs, folds=folds, threads_per_fit=threads, cores=2) is fits
    assert ("oversubscribed" in caplog.text) is not fits


def test_a_run_warns_when_its_folds_oversubscribe_the_cores(caplog):
    from runner.run.app import _check_cores
    from tests.helpers import compose_config

    cores = os.cpu_count() or 1
    with caplog.at_level(logging.WARNING, logger="runner.learn.parallel"):
        _check_cores(compose_config([f"cv.n_jobs={cores}"]))
        assert "oversubscribed" not in caplog.text
        _check_cores(compose_config([f"cv.n_jobs={cores + 1}"]))
        assert "oversubscribed" in caplog.text
        caplog.clear()
        # the folds of a remote Dask cluster do not run here
        _check_cores(
            compose_config([f"cv.n_jobs={cores + 1}", "cv.backend=dask", "cv.scheduler_address=tcp://scheduler:8786"])
        )
        assert "oversubscribed" not in caplog.text


# ----------------------------------------------------------------------------------------------
# The large-data path: float32 throughout, bounded temporaries, streamed artifacts


def _peak_extra_bytes(fn):
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        result = fn()
        return result, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def _float32_pred_probs(n_samples, n_classes, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n_samples)
    logits = rng.normal(size=(n_samples, n_classes)).astype(np.float32)
    logits[np.arange(n_samples), labels] += 2.5
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    flip = rng.random(n_samples) < 0.2
    labels[flip] = (labels[flip] + 1) % n_classes
    return labels, logits


def test_detection_adds_at_most_one_and_a_half_pred_probs_arrays():
    """float32 pred_probs stay float32: a float64 copy alone would add 2x the array."""
    labels, pred_probs = _float32_pred_probs(200_000, 20)  # 16 MB
    learner = CleanLearning(seed=0)
    frame, extra = _peak_extra_bytes(lambda: learner.find_label_issues(labels=labels, pred_probs=pred_probs))
    assert extra <= 1.5 * pred_probs.nbytes, f"detection added {extra / pred_probs.nbytes:.2f}x pred_probs"
    assert learner.pred_probs is pred_probs  # kept as given, not converted
    assert frame["is_label_issue"].sum() > 0


def test_a_float32_run_keeps_float32_features_and_pred_probs(tmp_path):
    dataset = make_synthetic(n_samples=2000, n_features=8, n_informative=5, n_classes=4, seed=0)
    assert dataset.X_train.dtype == np.float32
    result = run_experiment(
        dataset,
        CleanLearning(CLASSIFIERS["xgboost"], seed=0, pred_probs_dtype="float32"),
        noise=functools.partial(matrix_noise, rate=0.2),
        compare_baseline=False,
    )
    assert result.pred_probs.dtype == np.float32
    save_result(tmp_path, result)
    assert np.load(tmp_path / artifacts.PRED_PROBS).dtype == np.float32
    table = pd.read_csv(tmp_path / artifacts.LABEL_ISSUES)
    assert len(table) == len(dataset.y_train)


def test_label_issues_are_written_in_chunks(tmp_path, monkeypatch):
    """Only CSV_CHUNK_ROWS rows are ever formatted at once, and the file equals a one-shot write."""
    monkeypatch.setattr(atomic, "CSV_CHUNK_ROWS", 7)
    written = []
    to_csv = pd.DataFrame.to_csv

    def recording_to_csv(frame, *args, **kwargs):
        written.append(len(frame))
        return to_csv(frame, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", recording_to_csv)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "index": np.arange(50),
            "given_label": rng.integers(0, 3, 50),
            "label_quality": rng.random(50),
            "is_label_issue": rng.random(50) < 0.3,
        }
    )
    write_table(tmp_path / "label_issues.csv", frame)
    assert max(written) <= 7 and sum(written) == 50
    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)
    assert (tmp_path / "label_issues.csv").read_text() == frame.to_csv(index=False, lineterminator="\n")
