"""The cross-validation cache: content digests, value checks, and a cache that cannot be written."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from runner.datasets import load_sklearn
from runner.learn import cache
from runner.learn.cv import cached_cross_val_pred_probs
from runner.run.experiment import _reference_fit_predictions

X, Y = load_iris(return_X_y=True)
CLASSIFIER = LogisticRegression(max_iter=1000)


def warnings_of(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]


def test_an_entry_is_stored_with_its_digest_and_loads(tmp_path):
    array = np.random.default_rng(0).dirichlet(np.ones(3), size=10)
    cache.store(tmp_path, "k", array, seconds=1.5)
    assert json.loads((tmp_path / "k.json").read_text()) == {"digest": cache.content_digest(array), "seconds": 1.5}
    np.testing.assert_array_equal(cache.load(tmp_path, "k", array.shape, array.dtype), array)
    assert cache.compute_seconds(tmp_path, "k") == 1.5


@pytest.mark.parametrize("record", ["other content", "no record"])
def test_an_entry_that_does_not_match_its_digest_is_discarded(tmp_path, caplog, record):
    array = np.full((10, 2), 0.5)
    cache.store(tmp_path, "k", array)
    np.save(tmp_path / "k.npy", np.tile([0.25, 0.75], (10, 1)))  # valid-looking, right shape and dtype
    if record == "no record":
        (tmp_path / "k.json").unlink()
    assert cache.load(tmp_path, "k", array.shape, array.dtype) is None
    (warning,) = warnings_of(caplog)
    assert str(tmp_path / "k.npy") in warning and "digest" in warning
    assert not list(tmp_path.iterdir()), "the bad entry stays"


def test_out_of_fold_probabilities_that_are_no_probabilities_are_recomputed(tmp_path, caplog):
    options = dict(n_folds=3, seed=0, cache_dir=tmp_path)
    first = cached_cross_val_pred_probs(CLASSIFIER, X, Y, **options)
    (entry,) = tmp_path.glob("*.npy")
    # Stored as cleanrun would store it (its digest matches), but rows of 0.5 sum to 1.5.
    cache.store(tmp_path, entry.stem, np.full_like(first.pred_probs, 0.5))
    again = cached_cross_val_pred_probs(CLASSIFIER, X, Y, **options)
    assert not again.cache_hit
    np.testing.assert_array_equal(again.pred_probs, first.pred_probs)
    (warning,) = warnings_of(caplog)
    assert str(entry) in warning and "sum to 1" in warning
    assert cached_cross_val_pred_probs(CLASSIFIER, X, Y, **options).cache_hit  # stored afresh


def test_reference_predictions_outside_the_classes_are_recomputed(tmp_path, caplog):
    dataset = load_sklearn(name="iris")
    first = _reference_fit_predictions(CLASSIFIER, dataset, dataset.y_train, tmp_path)
    (entry,) = tmp_path.glob("*.npy")
    cache.store(tmp_path, entry.stem, np.full_like(first, 99))
    np.testing.assert_array_equal(_reference_fit_predictions(CLASSIFIER, dataset, dataset.y_train, tmp_path), first)
    (warning,) = warnings_of(caplog)
    assert str(entry) in warning and "class codes 0..2" in warning


def test_a_cache_that_cannot_be_written_is_reported_once_and_skipped(tmp_path, caplog):
    (tmp_path / "a_file").write_text("")
    directory = tmp_path / "a_file" / "cache"  # cannot be created, whoever runs the test
    for key in ("one", "two"):
        cache.store(directory, key, np.zeros(3))
    (warning,) = warnings_of(caplog)
    assert str(directory) in warning and "cannot be written" in warning
    result = cached_cross_val_pred_probs(CLASSIFIER, X, Y, n_folds=3, seed=0, cache_dir=directory)
    assert not result.cache_hit and len(warnings_of(caplog)) == 1


def test_a_corrupt_entry_that_cannot_be_deleted_is_recomputed(tmp_path, caplog):
    first = cached_cross_val_pred_probs(CLASSIFIER, X, Y, n_folds=3, seed=0, cache_dir=tmp_path)
    (entry,) = tmp_path.glob("*.npy")
    entry.unlink()
    (entry / "x").mkdir(parents=True)  # neither loads nor can be unlinked
    again = cached_cross_val_pred_probs(CLASSIFIER, X, Y, n_folds=3, seed=0, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.pred_probs, first.pred_probs)
    entry_warning, directory_warning = warnings_of(caplog)
    assert str(entry) in entry_warning and str(tmp_path) in directory_warning
