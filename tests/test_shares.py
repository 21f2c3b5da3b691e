"""Partial cleaning: the check compares shares of the flags, the most suspicious first (``validation_shares``)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from runner import CleanLearning
from runner.datasets.corrupt import trust_rows
from runner.detection import Detection
from runner.learn.guard import top_flags
from runner.run.app import run
from runner.run.build import build_learner
from tests.helpers import compose_config, noisy_digits


def test_top_flags_keeps_the_least_trusted_share_rounded_up():
    quality = np.array([0.9, 0.1, 0.5, 0.3, 0.2, 0.05])
    detection = Detection(label_issues=np.array([False, True, True, True, True, False]), label_quality=quality)
    assert np.flatnonzero(top_flags(detection, 0.5).label_issues).tolist() == [1, 4]
    assert np.flatnonzero(top_flags(detection, 0.6).label_issues).tolist() == [1, 3, 4]
    assert np.flatnonzero(top_flags(detection, 0.01).label_issues).tolist() == [1]
    assert top_flags(detection, 1.0) is detection and top_flags(detection, None) is detection


def _learner(shares, **params):
    options = dict(validate_cleaning=True, validation_min_z=0.0, validation_criterion="given")
    return CleanLearning(LogisticRegression(max_iter=300), seed=0, validation_shares=shares, **options | params)


def test_one_share_of_every_flag_is_the_all_or_nothing_check():
    X, labels, _ = noisy_digits(n=500)
    plain, one = _learner(None).fit(X, labels), _learner((1.0,)).fit(X, labels)
    assert plain.cleaning_check_ == one.cleaning_check_ and one.cleaning_share_ == plain.cleaning_share_ == 1.0
    np.testing.assert_array_equal(plain.training_set_.rows, one.training_set_.rows)


def test_the_chosen_share_of_the_flags_is_what_the_final_fit_drops():
    X, labels, _ = noisy_digits(n=500)
    full, half = _learner((1.0,)).fit(X, labels), _learner((0.5,)).fit(X, labels)
    np.testing.assert_array_equal(full.validation_pred_probs_["kept"], half.validation_pred_probs_["kept"])
    assert not np.array_equal(full.validation_pred_probs_["cleaned"], half.validation_pred_probs_["cleaned"])
    assert half.cleaning_check_.use_cleaning and half.cleaning_share_ == 0.5
    flagged = np.flatnonzero(half.label_issues_mask)
    quality = half.label_issues_df["label_quality"].to_numpy()
    dropped = flagged[np.argsort(quality[flagged], kind="stable")][: int(np.ceil(len(flagged) / 2))]
    assert sorted(half.training_set_.rows) == sorted(set(range(500)) - set(dropped))
    both = _learner((0.5, 1.0)).fit(X, labels)
    z = {share: learner.cleaning_check_.z for share, learner in [(0.5, half), (1.0, full)]}
    assert both.cleaning_share_ == max(z, key=z.get) and both.cleaning_check_.z == max(z.values())


def test_no_share_passing_keeps_every_row():
    X, labels, _ = noisy_digits(n=500)
    learner = _learner((0.25, 0.5), validation_min_z=1e6).fit(X, labels)
    assert learner.cleaning_share_ is None and not learner.cleaning_check_.use_cleaning
    assert len(learner.training_set_.rows) == 500


def test_bad_shares_are_refused_before_any_fit():
    X, labels, truth = noisy_digits(n=300)
    for shares in [(), (0.0, 0.5), (1.5,), ("half",), 0.5]:
        with pytest.raises(ValueError, match="validation_shares must be None or numbers in"):
            _learner(shares).fit(X, labels)
    labels, trusted = trust_rows(labels, truth, 50, seed=0)
    with pytest.raises(ValueError, match="not supported with trusted rows"):
        _learner((0.5,)).fit(X, labels, trusted=trusted)


def test_cv_validation_shares_reaches_the_learner(tmp_path):
    cfg = compose_config(["method=recommended", "cv.validation_shares=[0.25,0.5,1.0]"])
    assert build_learner(cfg).validation_shares == (0.25, 0.5, 1.0)
    assert build_learner(compose_config(["method=recommended"])).validation_shares is None
    with pytest.raises(ValueError, match="cv.validation_shares"):
        run(compose_config(["cv.validation_shares=0.5"]), tmp_path)
