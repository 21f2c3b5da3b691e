"""benchmarks/veto_study.py and veto_rules.py: the replayed rules are the runner's, and the summary counts right."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from runner.learn.estimator import CleanLearning

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _module(name):
    sys.path.insert(0, str(BENCHMARKS))  # the scripts import their neighbours by name
    try:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


veto_study, veto_rules = _module("veto_study"), _module("veto_rules")


def _jobs(**columns) -> pd.DataFrame:
    keys = dict(dataset=["a", "a", "b"], noise=["matrix"] * 3, rate=[0.2] * 3, classifier=["lr"] * 3, seed=[0, 1, 0])
    return pd.DataFrame(keys | columns)


def test_the_summary_averages_seeds_per_cell_before_it_judges_harm_and_pools_the_recovered_fraction():
    jobs = _jobs(
        **{
            "accuracy none": [0.70, 0.70, 0.80],
            "accuracy removal": [0.80, 0.59, 0.85],  # cell a: mean -0.005 (one seed -11 pt), cell b: +0.05
            "accuracy reweighted": [0.70, 0.70, 0.80],
            "accuracy clean": [0.90, 0.90, 0.90],
        }
    )
    summary = veto_rules.summarise(jobs, pd.Series(["removal"] * 3))
    assert summary["cells"] == 2 and summary["harmed"] == 0 and summary["worst (pt)"] == pytest.approx(-0.5)
    # pooled over cells: (−0.005 + 0.05) / (0.20 + 0.10)
    assert summary["matrix 0.2"] == pytest.approx(0.15)
    assert (
        veto_rules.summarise(jobs.assign(**{"accuracy removal": [0.80, 0.57, 0.85]}), pd.Series(["removal"] * 3))[
            "harmed"
        ]
        == 1
    )
    mixed = veto_rules.summarise(jobs, pd.Series(["removal", "none", "none"]))
    assert mixed["cleaned"] == pytest.approx(0.33) and mixed["worst (pt)"] == pytest.approx(0.0)


def test_the_veto_keeps_the_reference_unless_the_held_out_rows_say_it_is_worse():
    z = {"z given reweighted": [-0.5, -1.5, 2.0], "z given removal": [4.0, 4.0, 2.0], "margin cl": [0.1, -0.1, 0.1]}
    extra = {f"z {name} {c}": [0.0] * 3 for name in veto_rules.ESTIMATES for c in ("removal", "reweighted")}
    extra |= {f"margin {name}": [0.1] * 3 for name in veto_rules.ESTIMATES[1:]}
    chosen = veto_rules.rules(_jobs(**z, **extra))
    assert list(chosen["veto, given, 1"]) == ["reweighted", "none", "reweighted"]
    assert list(chosen["veto, given, 0"]) == ["none", "none", "reweighted"]
    assert list(chosen["today"]) == ["removal", "none", "none"]  # z > 3 and a dominant estimate
    assert list(chosen["reference"]) == ["reweighted"] * 3


def test_the_candidate_is_the_safe_rule_of_most_gain_and_never_one_that_reads_the_injected_noise():
    table = pd.DataFrame(
        {"harmed": [3, 0, 0, 0], "matrix 0.2": [0.5, 0.1, 0.2, 0.9], "matrix 0.4": [0.5, 0.1, 0.1, 0.9]},
        index=["reference", "today", "veto, given, 0", "veto, corrected injected, 0"],
    )
    assert veto_rules.candidate(table, ["matrix 0.2", "matrix 0.4"]) == "veto, given, 0"
    assert veto_rules.candidate(table.assign(harmed=1), ["matrix 0.2"]) is None


@pytest.mark.parametrize(
    "job, cleans",
    [
        (("digits", "matrix", 0.2, "logistic_regression", 0), True),
        (("breast_cancer", "matrix", 0.4, "logistic_regression", 0), False),
    ],
)
def test_a_stored_job_replays_the_recommended_decision_and_holds_the_reference_final_model(tmp_path, job, cleans):
    veto_study.run_job(tmp_path, *job, 10_000, str(tmp_path / "cache"))
    jobs = veto_rules.load(tmp_path)
    assert len(jobs) == 1
    dataset, classifier, given, options = veto_study.job_inputs(*job, 10_000)
    assert isinstance(classifier, LogisticRegression)
    recommended = CleanLearning.recommended(classifier, **options).fit(dataset.X_train, given)
    today = veto_rules.rules(jobs)["today"].iloc[0]
    assert (today == "removal") == recommended.cleaning_check_.use_cleaning == cleans
    # The reference's final model is cleanlab's pipeline: detection, removal, re-weighting, refit.
    reference = CleanLearning(classifier, **options).fit(dataset.X_train, given)
    accuracy = np.mean(reference.predict(dataset.X_test) == dataset.y_test)
    assert jobs["accuracy reweighted"].iloc[0] == pytest.approx(accuracy)
    assert jobs["accuracy none"].iloc[0] != jobs["accuracy clean"].iloc[0]
