"""runner.sweep.comparison on synthetic sweep tables whose answer is known by construction."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from runner.sweep.comparison import HARM_THRESHOLD, MIN_CELLS, UnknownAxisError, compare, find_axis
from runner.sweep.comparison_section import comparison_section, critical_difference_figure


def sweep(
    effects,
    *,
    datasets=8,
    noises=("matrix", "instance"),
    rates=(0.2, 0.4),
    seeds=3,
    spread=0.01,
    random_state=0,
    axis="method",
):
    """A collect-style frame: one row per job; ``effects[value](rng, n)`` is each job's change over the baseline.

    Cells get a baseline accuracy of their own; a value's test accuracy is the baseline plus its effect;
    the clean-label model is 0.1 above the baseline.
    """
    rng = np.random.default_rng(random_state)
    rows = []
    for d in range(datasets):
        for noise in noises:
            for rate in rates:
                cell_baseline = rng.uniform(0.6, 0.85)
                for seed in range(seeds):
                    baseline = cell_baseline + rng.normal(0, spread)
                    for value, effect in effects.items():
                        rows.append(
                            {
                                "job": str(len(rows)),
                                axis: value,
                                "dataset": f"d{d}",
                                "noise": noise,
                                "noise.rate": rate,
                                "classifier": "logistic_regression",
                                "seed": seed,
                                "status": "done",
                                "error": "",
                                "test_accuracy": baseline + effect(rng),
                                "baseline_test_accuracy": baseline,
                                "clean_labels_test_accuracy": baseline + 0.1,
                            }
                        )
    return pd.DataFrame(rows)


def noise_only(scale=0.01):
    return lambda rng: rng.normal(0, scale)


def shifted(by, scale=0.01):
    return lambda rng: by + rng.normal(0, scale)


def test_a_method_better_in_every_cell_ranks_first_and_differs_significantly():
    jobs = sweep({"reference": noise_only(), "better": shifted(0.05), "other": noise_only()})
    result = compare(jobs)
    tests = result.tests
    assert result.axis == "method"
    assert next(iter(tests["mean_ranks"])) == "better" and tests["mean_ranks"]["better"] == 1.0
    assert tests["omnibus"]["rejects"] and tests["omnibus"]["p_value"] < 0.05
    by_pair = {frozenset((p["a"], p["b"])): p for p in tests["pairwise"]["pairs"]}
    for rival in ("reference", "other"):
        pair = by_pair[frozenset(("better", rival))]
        assert pair["significant"] and pair["better"] == "better"
    section = comparison_section(result)
    assert section.startswith("## Which differences are real")
    assert "better better than reference" in section and "better better than other" in section


@pytest.mark.parametrize("posthoc", ["wilcoxon", "nemenyi"])
def test_identical_methods_differ_in_nothing(posthoc):
    same = {"a": noise_only(), "b": noise_only()}
    jobs = sweep(same)
    # b's scores are exactly a's: the same method run twice.
    a = jobs["method"] == "a"
    jobs.loc[~a, "test_accuracy"] = jobs.loc[a, "test_accuracy"].to_numpy()
    for frame in (jobs, sweep({"a": noise_only(), "b": noise_only(), "c": noise_only()}, random_state=1)):
        tests = compare(frame, posthoc=posthoc).tests
        assert not any(p["significant"] for p in tests["pairwise"]["pairs"])
        if tests["omnibus"] is not None:
            assert not tests["omnibus"]["rejects"]
        assert "No pair differs" in comparison_section(compare(frame, posthoc=posthoc))


def test_too_few_cells_for_a_test_says_so_instead_of_a_p_value():
    jobs = sweep(
        {"reference": noise_only(), "better": shifted(0.05), "other": noise_only()},
        datasets=MIN_CELLS - 1,
        noises=("matrix",),
        rates=(0.2,),
    )
    result = compare(jobs)
    assert result.tests["cells_ranked"] == MIN_CELLS - 1
    assert result.tests["omnibus"] is None and result.tests["pairwise"] is None
    assert f"needs at least {MIN_CELLS}" in result.tests["no_tests"]
    section = comparison_section(result)
    assert "No significance test" in section and "p =" not in section
    assert result.tests["mean_ranks"]["better"] == 1.0  # descriptive ranks are still given
    assert critical_difference_figure(result) is None


def test_a_two_value_sweep_over_one_dataset_explains_why_there_are_no_ranks():
    jobs = sweep({"remove": shifted(0.02), "none": noise_only()}, datasets=1, noises=("matrix",), rates=(0.2,), seeds=3)
    jobs = jobs.rename(columns={"method": "strategy"})
    result = compare(jobs)
    assert result.axis == "strategy"
    assert "ranks across cells need at least 2" in result.tests["no_ranks"]
    assert "No rank section" in comparison_section(result)
    assert len(result.cells) == 2 and result.cells["ci_low"].notna().all()
    assert critical_difference_figure(result) is None


def test_two_values_over_many_cells_use_the_signed_rank_test_without_an_omnibus():
    result = compare(sweep({"remove": shifted(0.03), "none": noise_only()}))
    assert result.tests["omnibus"] is None
    (pair,) = result.tests["pairwise"]["pairs"]
    assert pair["significant"] and pair["better"] == "remove"


def test_harm_by_the_threshold_and_by_the_interval():
    jobs = sweep(
        {"steady_loss": shifted(-0.02, 0.002), "noisy_loss": shifted(-0.02, 0.2), "none": shifted(0, 0.002)},
        datasets=2,
        noises=("matrix",),
        rates=(0.2,),
        seeds=3,
    )
    result = compare(jobs)
    harm = result.tests["harm"]
    assert harm["steady_loss"]["cells_mean_below_threshold"] == 2
    assert harm["steady_loss"]["cells_significantly_below"] == 2
    # A mean loss that swings by ±0.2 from seed to seed is not significantly below the baseline.
    assert harm["noisy_loss"]["cells_significantly_below"] == 0
    assert harm["none"] == {**harm["none"], "cells_mean_below_threshold": 0, "cells_significantly_below": 0}
    steady = result.cells[result.cells["method"] == "steady_loss"]
    assert (steady["delta"] < -HARM_THRESHOLD).all() and (steady["delta_ci_high"] < 0).all()
    assert bool(steady["significantly_below"].all()) and steady["harm_1pt"].all()


def test_one_seed_gives_no_interval_and_no_verdict_on_significance():
    result = compare(sweep({"a": shifted(-0.05), "b": noise_only()}, seeds=1))
    assert result.cells["delta_ci_low"].isna().all()
    assert result.cells["significantly_below"].isna().all()
    assert result.tests["harm"]["a"]["cells_with_interval"] == 0


def test_recovered_fraction_with_a_bootstrap_interval_over_datasets():
    # "half" recovers half of the 0.1 lost to noise in every job; "varied" recovers a dataset-dependent share.
    jobs = sweep({"half": shifted(0.05, 0.0), "none": shifted(0.0, 0.0)}, datasets=6)
    result = compare(jobs)
    entries = {(e["value"], e["noise_rate"]): e for e in result.tests["recovered"]}
    half = entries[("half", 0.2)]
    assert half["recovered"] == pytest.approx(0.5)
    assert half["ci_low"] == pytest.approx(0.5) and half["ci_high"] == pytest.approx(0.5)
    assert half["n_datasets"] == 6 and half["n_seeds"] == 3 and half["seed_std"] == pytest.approx(0, abs=1e-9)
    jobs = jobs.copy()
    halves = jobs["method"] == "half"
    share = jobs.loc[halves, "dataset"].str[1:].astype(int) / 10  # dataset d0 recovers 0, d5 recovers 0.5
    jobs.loc[halves, "test_accuracy"] = jobs.loc[halves, "baseline_test_accuracy"] + 0.1 * share
    varied = {(e["value"], e["noise_rate"]): e for e in compare(jobs).tests["recovered"]}[("half", 0.2)]
    assert varied["recovered"] == pytest.approx(0.25)
    assert varied["ci_low"] < 0.25 < varied["ci_high"]
    assert varied["ci_low"] >= 0 and varied["ci_high"] <= 0.5


def test_failed_jobs_are_excluded_and_counted_never_imputed():
    jobs = sweep({"reference": noise_only(), "better": shifted(0.05), "other": noise_only()})
    failed = jobs.index[(jobs["method"] == "better") & (jobs["seed"] == 0)][:4]
    jobs.loc[failed, "status"] = "failed"
    jobs.loc[failed, ["test_accuracy", "baseline_test_accuracy", "clean_labels_test_accuracy"]] = np.nan
    jobs.loc[jobs.index[-1], "status"] = "incomplete"
    result = compare(jobs)
    assert result.tests["jobs_excluded"]["failed"] == 4 and result.tests["jobs_excluded"]["incomplete"] == 1
    assert result.tests["jobs_used"] == len(jobs) - 5
    # The ranks pair seeds: a (cell, seed) without every value is left out, not filled in.
    assert result.tests["cell_seeds_unpaired"] == 5
    assert result.tests["cells_ranked"] == 32
    better = result.cells[result.cells["method"] == "better"]
    assert sorted(better["n_seeds"].unique()) == [2, 3]
    assert "4 failed, 1 incomplete" in comparison_section(result)


def test_the_axis_is_found_or_named():
    jobs = sweep({"a": noise_only(), "b": noise_only()})
    assert find_axis(jobs) == ("method", "")
    both = jobs.assign(strategy=np.where(jobs.index % 2, "remove", "weight"))
    both = both[["job", "method", "strategy", *[c for c in jobs.columns if c not in ("job", "method")]]]
    axis, reason = find_axis(both)
    assert axis is None and "method, strategy" in reason and "--compare" in reason
    result = compare(both, "strategy")
    assert result.axis == "strategy" and "method" in result.tests["cell_columns"]
    with pytest.raises(UnknownAxisError, match="not an override"):
        compare(jobs, "detection")
    with pytest.raises(ValueError, match="posthoc must be one of"):
        compare(jobs, posthoc="t-test")
    # An override only a failed job has (a debug flag) is neither the axis nor a cell column.
    debug = jobs.assign(debug=pd.Series(None, index=jobs.index, dtype=object))
    debug = debug[["job", "method", "debug", *[c for c in jobs.columns if c not in ("job", "method")]]]
    debug.loc[0, ["debug", "status"]] = [True, "failed"]
    assert find_axis(debug) == ("method", "") and "debug" not in compare(debug).tests["cell_columns"]
    no_axis = compare(jobs[jobs["method"] == "a"])
    assert no_axis.axis is None and "No comparison" in comparison_section(no_axis)
    no_metric = compare(jobs.drop(columns="test_accuracy").assign(status="failed"))
    assert no_metric.axis is None and "no job has test_accuracy" in no_metric.tests["no_comparison"]
    assert no_metric.tests["jobs_excluded"]["failed"] == len(jobs)
    json.dumps(no_metric.tests, allow_nan=False)


def test_results_are_json_and_the_diagram_a_png(tmp_path):
    result = compare(sweep({"reference": noise_only(), "better": shifted(0.05), "other": noise_only()}))
    json.dumps(result.tests, allow_nan=False)
    path = tmp_path / "critical_difference.png"
    critical_difference_figure(result).savefig(path, format="png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    expected = [
        "dataset",
        "noise",
        "noise.rate",
        "classifier",
        "method",
        "n_seeds",
        "mean",
        "ci_low",
        "ci_high",
        "baseline",
        "delta",
        "delta_ci_low",
        "delta_ci_high",
        "harm_1pt",
        "significantly_below",
        "rank",
    ]
    assert list(result.cells.columns) == expected
    assert len(result.cells) == 32 * 3
    ranked = result.cells.groupby(["dataset", "noise", "noise.rate"])["rank"].apply(sorted)
    assert all(r == [1.0, 2.0, 3.0] for r in ranked)


def test_seeds_that_agree_give_a_zero_width_interval():
    # A method that keeps every row scores exactly the baseline on every seed: Δ = 0, not "unknown".
    result = compare(sweep({"keeps_all": shifted(0.0, 0.0), "other": noise_only()}))
    kept = result.cells[result.cells["method"] == "keeps_all"]
    assert (kept["delta_ci_low"] == 0).all() and (kept["delta_ci_high"] == 0).all()
    assert not kept["significantly_below"].any() and kept["significantly_below"].notna().all()
