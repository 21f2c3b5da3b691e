"""benchmarks/decision_audit.py: it names the test that decided each recommended job, from a sweep's files."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("decision_audit", ROOT / "benchmarks" / "decision_audit.py")
decision_audit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(decision_audit)

BASELINE, CLEAN = 0.70, 0.90
#: dataset -> (reference test accuracy, recommended: used, held-out kept, cleaned, standard error, label margin)
CELLS = {
    "gate_veto": (0.80, False, 0.60, 0.70, 0.01, -0.20),  # z = 10 passes, the margin vetoes
    "z_veto": (0.65, False, 0.60, 0.61, 0.01, 0.30),  # z = 1 fails, the margin passes
    "used": (0.73, True, 0.60, 0.65, 0.01, 0.10),  # both pass
    "both_veto": (0.72, False, 0.61, 0.60, 0.01, -0.10),  # both fail
    "no_check": (0.75, False, None, None, None, None),  # halves impossible: no held-out fields
    "misread": (0.74, True, 0.60, 0.70, 0.01, -0.30),  # used although the gate fails: not what the tests say
}


def _job(sweep, number, dataset, method, metrics, min_z=3.0, extra=()):
    job = sweep / str(number)
    (job / ".hydra").mkdir(parents=True)
    overrides = [
        f"dataset={dataset}",
        "noise=matrix",
        "noise.rate=0.2",
        "classifier=logistic_regression",
        f"method={method}",
        "seed=0",
        *extra,
    ]
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {line}\n" for line in overrides))
    cv = {"validation_min_z": min_z} if method == "recommended" else {}
    (job / ".hydra" / "config.yaml").write_text(json.dumps({"cv": cv}))
    (job / "metrics.json").write_text(
        json.dumps(
            {
                "dataset": dataset,
                "classifier": "logistic_regression",
                "seed": 0,
                "n_train": 750,
                "baseline_test_accuracy": BASELINE,
                "clean_labels_test_accuracy": CLEAN,
                **metrics,
            }
        )
    )


@pytest.fixture
def sweep(tmp_path):
    number = 0
    for dataset, (reference, used, kept, cleaned, error, margin) in CELLS.items():
        _job(tmp_path, number, dataset, "reference", {"test_accuracy": reference})
        check = (
            {}
            if kept is None
            else {
                "holdout_accuracy_kept": kept,
                "holdout_accuracy_cleaned": cleaned,
                "holdout_accuracy_standard_error": error,
                "noise_matrix_label_margin": margin,
            }
        )
        accuracy = reference - 0.01 if used else BASELINE
        _job(tmp_path, number + 1, dataset, "recommended", {"test_accuracy": accuracy, "cleaning_used": used, **check})
        number += 2
    (tmp_path / str(number)).mkdir()  # a job that never finished is left out
    (tmp_path / str(number) / ".hydra").mkdir()
    (tmp_path / str(number) / ".hydra" / "overrides.yaml").write_text("- dataset=unfinished\n- method=recommended\n")
    return tmp_path


def test_each_job_is_assigned_the_test_that_decided_it(sweep):
    rows = decision_audit.audit(decision_audit.load([sweep])).set_index("dataset")
    assert len(rows) == len(CELLS)
    assert rows.loc["gate_veto", "decision"] == "gate alone vetoed"
    assert rows.loc["z_veto", "decision"] == "z test alone vetoed"
    assert rows.loc["used", "decision"] == "used (both passed)"
    assert rows.loc["both_veto", "decision"] == "both vetoed"
    assert rows.loc["no_check", "decision"] == "no check"
    assert rows.loc["gate_veto", "z"] == pytest.approx(10.0)
    assert rows.loc["gate_veto", "held_out_gain"] == pytest.approx(10.0)
    assert rows.loc["gate_veto", "min_z"] == 3.0
    assert rows.loc["gate_veto", "margin"] == pytest.approx(-0.20)
    # the reference job of the same cell gives the gain the veto gave up
    assert rows.loc["gate_veto", "reference_gain"] == pytest.approx(10.0)
    assert rows.loc["z_veto", "reference_gain"] == pytest.approx(-5.0)
    assert rows.loc["used", "recommended_gain"] == pytest.approx(2.0)
    assert rows.loc["gate_veto", "noise_cost"] == pytest.approx(20.0) and rows.loc["gate_veto", "n_train"] == 750
    assert not rows.loc["gate_veto", "used"] and rows.loc["used", "used"]
    # a job whose decision the replayed tests contradict is flagged, the others agree
    assert list(rows.index[~rows["replay_agrees"]]) == ["misread"]


def test_summary_counts_the_vetoes_and_what_the_reference_did_there(sweep):
    rows = decision_audit.audit(decision_audit.load([sweep]))
    table = decision_audit.summary(rows)
    assert table.loc["gate alone vetoed", "jobs"] == 2  # gate_veto and misread
    assert table.loc["gate alone vetoed", "reference > +1 pt"] == 2
    assert table.loc["z test alone vetoed", "reference < -1 pt"] == 1
    assert table.loc["gate alone vetoed", "reference gain mean"] == pytest.approx(7.0)
    assert table["jobs"].sum() == len(CELLS)
    text = decision_audit.render(rows)
    assert "The z test passed in 3 of 6 jobs; the gate alone vetoed 2 of them" in text
    assert "do not reproduce: 1" in text


def test_a_threshold_from_the_config_changes_the_z_test(tmp_path):
    _job(tmp_path, 0, "t", "reference", {"test_accuracy": 0.8})
    _job(
        tmp_path,
        1,
        "t",
        "recommended",
        {
            "test_accuracy": 0.8,
            "cleaning_used": True,
            "holdout_accuracy_kept": 0.60,
            "holdout_accuracy_cleaned": 0.61,
            "holdout_accuracy_standard_error": 0.01,
            "noise_matrix_label_margin": np.nan,
        },
        min_z=0.5,
    )
    rows = decision_audit.audit(decision_audit.load([tmp_path]))
    assert rows.loc[0, "decision"] == "used (both passed)" and rows.loc[0, "replay_agrees"]


def test_a_sweep_without_cells_is_refused(tmp_path):
    job = tmp_path / "0"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("- method=recommended\n")
    (job / ".hydra" / "config.yaml").write_text("{}")
    (job / "metrics.json").write_text(json.dumps({"test_accuracy": 0.5}))
    with pytest.raises(SystemExit, match="noise"):
        decision_audit.load([tmp_path])


def test_a_removal_sweep_gives_the_vetoed_cleanings_own_test_gain(sweep, tmp_path_factory):
    removal = tmp_path_factory.mktemp("removal")
    _job(removal, 0, "gate_veto", "reference", {"test_accuracy": 0.76}, extra=["+strategy.reweight=false"])
    _job(removal, 1, "z_veto", "reference", {"test_accuracy": 0.68}, extra=["+strategy.reweight=false"])
    rows = decision_audit.audit(decision_audit.load([sweep, removal])).set_index("dataset")
    assert rows.loc["gate_veto", "removal_gain"] == pytest.approx(6.0)
    assert rows.loc["gate_veto", "reference_gain"] == pytest.approx(10.0)  # the re-weighted reference, apart
    assert rows.loc["z_veto", "removal_gain"] == pytest.approx(-2.0)
    assert np.isnan(rows.loc["used", "removal_gain"])
    table = decision_audit.summary(rows.reset_index())
    assert table.loc["gate alone vetoed", "removal > +1 pt"] == 1
    assert table.loc["z test alone vetoed", "removal < -1 pt"] == 1
    text = decision_audit.render(rows.reset_index())
    assert "The vetoed cleaning itself (removal without re-weighting, run in 1 of those jobs): +6.00 pt" in text


def test_replayed_rules_pool_the_removal_gain_of_the_jobs_each_rule_cleans(sweep, tmp_path_factory):
    removal = tmp_path_factory.mktemp("removal")
    # removal gains: gate_veto +6, z_veto -2, used +2, both_veto -4, no_check +1, misread +3 (noise cost 20 each)
    for number, (dataset, accuracy) in enumerate(
        [
            ("gate_veto", 0.76),
            ("z_veto", 0.68),
            ("used", 0.72),
            ("both_veto", 0.66),
            ("no_check", 0.71),
            ("misread", 0.73),
        ]
    ):
        _job(removal, number, dataset, "reference", {"test_accuracy": accuracy}, extra=["+strategy.reweight=false"])
    rows = decision_audit.audit(decision_audit.load([sweep, removal]))
    table = decision_audit.rules(rows)
    # z passes in gate_veto, used, misread: 6 + 2 + 3 = 11 of 6 x 20 points of noise cost
    assert table.loc["z test alone (no gate)", "matrix 0.2"] == pytest.approx(11 / 120)
    assert table.loc["z test alone (no gate)", "jobs cleaned"] == 3
    # the gate passes where the margin is positive or missing: z_veto, used, no_check: -2 + 2 + 1
    assert table.loc["gate alone (no z test)", "matrix 0.2"] == pytest.approx(1 / 120)
    assert table.loc["removal, always", "jobs harmed"] == 2
    assert table.loc["best of removal or none (reads test)", "matrix 0.2"] == pytest.approx(12 / 120)
    assert table.loc["recommended as run (z test and gate)", "jobs cleaned"] == 2
    assert "Replayed rules over the removal counterfactual (6 jobs that have it" in decision_audit.render(rows)


def test_matrix_facts_name_the_worst_class_and_the_injected_margin(tmp_path):
    import pandas as pd

    names = ["a", "b", "c"]
    estimated = [[0.9, 0.1, 0.5], [0.05, 0.8, 0.1], [0.05, 0.1, 0.4]]  # class c: 0.4 - 0.5 = -0.1, the worst
    joint = [[600, 10, 40], [20, 250, 10], [10, 10, 50]]  # given c: 70 of 1000 rows
    true = [[0.8, 0.1, 0.2], [0.1, 0.8, 0.2], [0.1, 0.1, 0.6]]  # every class dominant: margin 0.4
    for name, values in [("noise_matrix", estimated), ("confident_joint", joint), ("true_noise_matrix", true)]:
        pd.DataFrame(values, index=names, columns=names).to_csv(tmp_path / f"{name}.csv")
    facts = decision_audit._matrix_facts(tmp_path)
    assert facts["worst_class_share"] == pytest.approx(0.07)
    assert facts["true_margin"] == pytest.approx(0.4)
    assert np.isnan(decision_audit._matrix_facts(tmp_path / "missing")["true_margin"])
