"""benchmarks/acceptance.py: issue 27's criteria, judged on cells averaged over seeds, from sweeps' files."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
_spec = importlib.util.spec_from_file_location("acceptance", ROOT / "benchmarks" / "acceptance.py")
acceptance = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(acceptance)

BASELINE, CLEAN = 0.70, 0.90
#: method -> dataset -> (test accuracy of seed 0, of seed 1, cost in seconds)
RUNS = {
    "reference": {"a": (0.80, 0.80, 1.0), "b": (0.75, 0.75, 1.0)},
    # a: one seed 3 points below, the other 2.5 above: the cell's mean is -0.25, no harm; b gains less
    "careful": {"a": (0.67, 0.725, 2.0), "b": (0.72, 0.72, 4.0)},
    # a: 2 points below on both seeds: harmed; b: the clean-label model itself
    "bold": {"a": (0.68, 0.68, 1.0), "b": (0.90, 0.90, 1.0)},
}


def _sweep(root: Path, method: str, baseline: float = BASELINE, **extra) -> Path:
    sweep = root / method
    for number, (dataset, seed) in enumerate((d, s) for d in RUNS[method] for s in (0, 1)):
        job = sweep / str(number)
        (job / ".hydra").mkdir(parents=True)
        overrides = [f"dataset={dataset}", "noise=matrix", "noise.rate=0.2", "classifier=lr", f"seed={seed}"]
        (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {line}\n" for line in overrides))
        accuracy, cost = RUNS[method][dataset][seed], RUNS[method][dataset][2]
        metrics = {
            "dataset": dataset,
            "seed": seed,
            "test_accuracy": accuracy,
            "baseline_test_accuracy": baseline,
            "clean_labels_test_accuracy": CLEAN,
            "time_cv_compute_s": cost,
            **extra,
        }
        (job / "metrics.json").write_text(json.dumps(metrics))
    return sweep


@pytest.fixture
def report(tmp_path, capsys):
    sweeps = [f"{method}={_sweep(tmp_path, method)}" for method in RUNS]
    acceptance.main([*sweeps, "--ceiling", "careful", "--trusted", "bold"])
    return capsys.readouterr().out


def test_harm_is_judged_on_the_mean_over_seeds(report):
    assert "careful: no harm: 0 of 2 cells below -1 pt -> holds" in report
    assert "bold: no harm: 1 of 2 cells below -1 pt -> FAILS" in report


def test_gain_is_pooled_and_held_to_the_reference_and_the_ceiling(report):
    # reference recovers (10 + 5) / 40; careful (-0.25 + 2) / 40, short; bold (-2 + 20) / 40
    assert (
        "careful (own baseline): recovered at least the reference's in every noise kind and rate: short in matrix 0.2"
        in report
    )
    assert (
        "bold (own baseline): recovered at least the reference's in every noise kind and rate: yes -> holds" in report
    )
    # the ceiling of reference, careful and none: max(10, -0.25, 0) + max(5, 2, 0) = 15 of 40; bold 18 / 15
    assert "bold (own baseline): at least 0.9 of the ceiling: matrix 0.2 1.20 -> holds" in report


def test_cost_is_the_median_ratio_to_the_reference_job_of_the_same_cell_and_seed(report):
    assert "careful: cost 3.00x the reference (median per job) -> holds" in report
    assert "bold: cost 1.00x" in report


def test_a_method_with_verified_rows_is_judged_against_its_own_baseline_and_credited_against_the_noisy_one(
    tmp_path, capsys
):
    # verified rows lift the method's own baseline to 0.80: at 0.79 it harms; against 0.70 it recovers 9 of 20
    RUNS["verified"] = {"a": (0.79, 0.79, 1.0), "b": (0.79, 0.79, 1.0)}
    try:
        sweeps = [
            f"reference={_sweep(tmp_path, 'reference')}",
            f"verified={_sweep(tmp_path, 'verified', 0.80, n_trusted=300)}",
        ]
        acceptance.main([*sweeps, "--trusted", "verified"])
    finally:
        del RUNS["verified"]
    report = capsys.readouterr().out
    assert "verified: no harm: 2 of 2 cells below -1 pt -> FAILS" in report
    assert "verified (own baseline): at least 0.9 of the ceiling: matrix 0.2 -0.13 -> FAILS" in report
    assert "verified (noisy baseline): at least 0.9 of the ceiling: matrix 0.2 1.20 -> holds" in report
