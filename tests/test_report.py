"""Tests for runner.sweep (collect, report, plots, studies, callbacks): collecting a sweep, summary.csv,
report.md, plots, callback and CLI.

Every sweep here is fake: job directories written by :func:`write_job` with the files the app
and Hydra would leave, so the tests run in seconds and know every number they check.
"""

from __future__ import annotations

import itertools
import json
import logging
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from runner.sweep import collect as collect_module
from runner.sweep import plots
from runner.sweep.callbacks import SweepSummary
from runner.sweep.collect import collect
from runner.sweep.report import write_report, write_summary

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CLASSES = ["a", "b", "c"]

DATASETS = ("digits", "wine")
RATES = (0.1, 0.3)
STRATEGIES = ("remove", "none")
SEEDS = (0, 1)

# Job numbers follow itertools.product(DATASETS, RATES, STRATEGIES, SEEDS), like Hydra's basic
# sweeper. The broken jobs sit outside the group (digits, 0.1, remove) = jobs 0 and 1.
FAILED_JOB, KILLED_JOB, TRUNCATED_JOB = 3, 5, 10
ERROR = "ValueError: class 'b' has 2 members | fewer than n_splits=5\nsee the traceback"


# --------------------------------------------------------------------------------------------
# Fake sweeps
# --------------------------------------------------------------------------------------------


def fake_metrics(dataset: str, rate: float, strategy: str, seed: int) -> dict:
    """Deterministic metrics that differ across every override and seed."""
    harm = 0.5 if strategy == "none" else 0.2
    offset = 0.05 if dataset == "wine" else 0.0
    return {
        "dataset": dataset,
        "classifier": "LogisticRegression",
        "strategy": strategy,
        "filter_by": "prune_by_noise_rate",
        "seed": seed,
        "n_train": 1000,
        "n_label_issues": int(100 * rate) + 3 * seed,
        "test_accuracy": 0.95 - harm * rate - offset + 0.013 * seed,
        "baseline_test_accuracy": 0.95 - 0.5 * rate - offset + 0.004 * seed,
        "detection_precision": 0.8 - 0.1 * rate + 0.02 * seed,
        "detection_recall": 0.7 + 0.03 * seed,
        "detection_f1": 0.75 + 0.01 * seed,
        "cv_cache_hit": seed == 1,
        "versions": {"numpy": "2.0", "sklearn": "1.5"},
        "git_commit": "abc123",
    }


def write_matrix(path: Path, matrix: list[list[float]]) -> None:
    """A K×K CSV with class names as header and index, as artifacts.py writes them."""
    pd.DataFrame(matrix, index=CLASSES, columns=CLASSES).to_csv(path)


def write_job(
    sweep: Path,
    num: int,
    overrides: list[str],
    *,
    metrics: dict | None = None,
    failure: str | None = None,
    truncated: bool = False,
    matrices: bool = False,
    config: str = "seed: 0\n",
) -> Path:
    """One job directory: Hydra's .hydra/ files plus whichever results the job left."""
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    (job / ".hydra" / "config.yaml").write_text(config)
    if metrics is not None:
        text = json.dumps(metrics)
        (job / "metrics.json").write_text(text[: len(text) // 2] if truncated else text)
    if failure is not None:
        (job / "failure.json").write_text(json.dumps({"error": failure, "traceback": "Traceback ..."}))
    if matrices:
        write_matrix(job / "noise_matrix.csv", [[0.8, 0.1, 0.0], [0.1, 0.85, 0.1], [0.1, 0.05, 0.9]])
        write_matrix(job / "true_noise_matrix.csv", [[0.9, 0.1, 0.0], [0.1, 0.8, 0.1], [0.0, 0.1, 0.9]])
    return job


def build_sweep(sweep: Path) -> Path:
    """2 datasets × 2 noise rates × 2 strategies × 2 seeds; one failed, one killed, one truncated."""
    sweep.mkdir(parents=True)
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    (sweep / ".submitit").mkdir()  # not a job: no .hydra/overrides.yaml
    for num, (dataset, rate, strategy, seed) in enumerate(itertools.product(DATASETS, RATES, STRATEGIES, SEEDS)):
        overrides = [f"dataset={dataset}", f"noise.rate={rate}", f"strategy={strategy}", f"seed={seed}"]
        if num == FAILED_JOB:
            write_job(sweep, num, [*overrides, "+debug=true"], failure=ERROR)
        elif num == KILLED_JOB:
            write_job(sweep, num, overrides)
        else:
            metrics = fake_metrics(dataset, rate, strategy, seed)
            write_job(sweep, num, overrides, metrics=metrics, truncated=num == TRUNCATED_JOB, matrices=True)
    return sweep


def build_small_sweep(sweep: Path) -> Path:
    """Two done jobs that differ only by seed: no plot has its data."""
    for seed in SEEDS:
        write_job(sweep, seed, [f"seed={seed}"], metrics={"test_accuracy": 0.9 + 0.01 * seed, "seed": seed})
    return sweep


@pytest.fixture
def sweep(tmp_path) -> Path:
    """A fresh :func:`build_sweep` for tests that write into it."""
    return build_sweep(tmp_path / "multirun")


@pytest.fixture(scope="module")
def reported(tmp_path_factory) -> tuple[Path, str]:
    """A :func:`build_sweep` reported once (plots are the slow part), with its report.md text."""
    sweep = build_sweep(tmp_path_factory.mktemp("reported") / "multirun")
    return sweep, write_report(sweep).read_text()


def markdown_table(markdown: str, first_column: str) -> list[dict[str, str]]:
    """The rows of the pipe table whose header starts with ``first_column``, as dicts."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_column} |"))
    header = [cell.strip() for cell in lines[start].strip("|").split(" | ")]
    rows = []
    for line in itertools.takewhile(lambda line: line.startswith("|"), lines[start + 2 :]):
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        assert len(cells) == len(header), line
        rows.append(dict(zip(header, cells)))
    return rows


def mean_std(values: list[float], digits: int = 3) -> str:
    """The expected cell, computed without pandas (counts such as n_label_issues: 1 decimal)."""
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def assert_png(path: Path) -> None:
    assert path.is_file(), path
    assert path.read_bytes()[:8] == PNG_SIGNATURE


# --------------------------------------------------------------------------------------------
# collect and summary.csv
# --------------------------------------------------------------------------------------------


def test_collect_one_row_per_job_in_numeric_order(sweep):
    df = collect(sweep)
    assert df["job"].tolist() == [str(i) for i in range(16)]  # "10" after "9", not after "1"
    columns = list(df.columns)
    assert columns[:8] == ["job", "dataset", "noise.rate", "strategy", "seed", "debug", "status", "error"]
    # Metrics that collide with override names are kept under another name, not dropped.
    assert {
        "dataset_metric",
        "strategy_metric",
        "seed_metric",
        "filter_by",
        "test_accuracy",
        "cv_cache_hit",
        "git_commit",
    } <= set(columns)
    assert "versions" not in columns


def test_collect_status_and_error(sweep, caplog):
    with caplog.at_level(logging.WARNING, logger="runner.sweep"):
        df = collect(sweep).set_index("job")
    expected = {str(i): "done" for i in range(16)}
    expected.update({str(FAILED_JOB): "failed", str(KILLED_JOB): "incomplete", str(TRUNCATED_JOB): "incomplete"})
    assert df["status"].to_dict() == expected
    assert df.loc[str(FAILED_JOB), "error"] == ERROR
    assert (df.drop(index=str(FAILED_JOB))["error"] == "").all()
    # Incomplete jobs carry no metrics, even the half of them a truncated file holds.
    assert df.loc[[str(KILLED_JOB), str(TRUNCATED_JOB)], "test_accuracy"].isna().all()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(sweep / str(TRUNCATED_JOB) / "metrics.json") in message for message in warnings)


def test_collect_parses_override_values(sweep):
    df = collect(sweep).set_index("job")
    assert pd.api.types.is_float_dtype(df["noise.rate"])
    assert sorted(df["noise.rate"].unique()) == [0.1, 0.3]
    assert pd.api.types.is_integer_dtype(df["seed"])
    assert df.loc["0", "dataset"] == "digits"
    # `+debug=true` is a bool in the one job that has it and missing in every other.
    assert df.loc[str(FAILED_JOB), "debug"] is True
    assert df.drop(index=str(FAILED_JOB))["debug"].isna().all()
    assert df.loc["0", "test_accuracy"] == pytest.approx(fake_metrics("digits", 0.1, "remove", 0)["test_accuracy"])


def test_collect_parses_overrides_as_hydra_does(tmp_path):
    write_job(tmp_path, 0, ["+lr=1e-3", "++flag=false", "name='a b'", "layers=[1,2]", "db@backup=mysql", "~debug"])
    row = collect(tmp_path).iloc[0]
    assert row["lr"] == 0.001 and isinstance(row["lr"], float)
    assert isinstance(row["flag"], (bool, np.bool_)) and not row["flag"]
    assert row["name"] == "a b"
    assert row["layers"] == "[1,2]"  # lists keep their text so that they can be grouped by
    assert row["db@backup"] == "mysql"
    assert row["debug"] == "(deleted)"


def test_a_job_with_a_failure_counts_as_failed_whatever_else_it_holds(tmp_path):
    metrics = fake_metrics("digits", 0.1, "remove", 0)
    write_job(tmp_path, 0, ["seed=0"], metrics=metrics, failure="ValueError: bad rerun")
    write_job(tmp_path, 1, ["seed=1"], metrics=metrics)
    summary = collect(tmp_path)
    assert list(summary["status"]) == ["failed", "done"]
    assert summary.loc[0, "error"] == "ValueError: bad rerun"
    assert pd.isna(summary.loc[0, "test_accuracy"])  # the earlier attempt's metrics are not shown
    assert "2 — 1 done, 1 failed, 0 incomplete" in write_report(tmp_path).read_text()


def test_run_settings_are_no_columns_and_shared_settings_head_the_report(tmp_path):
    for num, (strategy, seed) in enumerate(itertools.product(STRATEGIES, SEEDS)):
        overrides = [
            f"strategy={strategy}",
            f"seed={seed}",
            "dataset=wine",
            "cv.folds=3",
            f"cache_dir=/tmp/cache{num}",
            f"save_pred_probs={num % 2 == 0}".lower(),
            "resume=/somewhere",
            f"+tracking.uri=file:/tmp/mlruns{num}",
        ]
        write_job(tmp_path, num, overrides, metrics=fake_metrics("wine", 0.1, strategy, seed))
    summary = collect(tmp_path)
    assert collect_module.override_columns(summary) == ["strategy", "seed", "dataset", "cv.folds"]
    text = write_report(tmp_path).read_text()
    assert "Every job: `dataset=wine` `cv.folds=3`" in text
    rows = markdown_table(text, "strategy")
    assert [row["strategy"] for row in rows] == list(STRATEGIES)  # grouped by strategy only
    assert {"dataset", "cv.folds"}.isdisjoint(rows[0])
    assert "cache_dir" not in text and "tracking" not in text


def test_collect_warns_when_there_is_no_job(tmp_path, caplog):
    (tmp_path / "2024-01-01").mkdir()  # e.g. the parent of the sweep was given
    df = collect(tmp_path)
    assert df.empty and list(df.columns) == ["job", "status", "error"]
    assert "No job directories" in caplog.text


def test_collect_refuses_a_missing_directory(tmp_path):
    with pytest.raises(NotADirectoryError, match="nope"):
        collect(tmp_path / "nope")


def test_summary_csv_round_trips(sweep):
    path = write_summary(sweep)
    assert path == sweep / "summary.csv"
    read = pd.read_csv(path, dtype={"job": str}).fillna({"error": ""})
    expected = collect(sweep)
    assert list(read.columns) == list(expected.columns)
    for column in ["job", "dataset", "status", "error", "git_commit"]:
        assert read[column].fillna("").tolist() == expected[column].fillna("").tolist(), column
    for column in ["noise.rate", "seed", "test_accuracy", "detection_recall"]:
        pd.testing.assert_series_equal(read[column], expected[column], check_dtype=False)
    assert not list(sweep.glob(".*.tmp"))  # the temporary file was renamed, not left behind


# --------------------------------------------------------------------------------------------
# report.md
# --------------------------------------------------------------------------------------------


def test_report_counts_and_failed_jobs(reported):
    sweep, text = reported
    assert "16 — 13 done, 1 failed, 2 incomplete" in text
    assert str(sweep.resolve()) in text
    (failed,) = markdown_table(text, "job")
    assert failed["job"] == str(FAILED_JOB)
    assert failed["overrides"] == "dataset=digits noise.rate=0.1 strategy=none seed=1 debug=true"
    # One line, and the pipe escaped so that it does not split the cell.
    assert failed["error"] == ERROR.replace("|", "\\|").replace("\n", " ")


def test_report_mean_std_per_group(reported):
    rows = markdown_table(reported[1], "dataset")
    assert len(rows) == 8  # every group has at least one done job
    row = next(r for r in rows if (r["dataset"], r["noise.rate"], r["strategy"]) == ("digits", "0.1", "remove"))
    metrics = [fake_metrics("digits", 0.1, "remove", seed) for seed in SEEDS]
    assert row["n"] == "2"
    for name in ["test_accuracy", "baseline_test_accuracy", "detection_precision", "detection_recall", "detection_f1"]:
        assert row[name] == mean_std([m[name] for m in metrics]), name
    assert row["n_label_issues"] == mean_std([m["n_label_issues"] for m in metrics], digits=1)
    assert row["gain"] == mean_std([m["test_accuracy"] - m["baseline_test_accuracy"] for m in metrics])
    assert "±" in row["gain"]


def test_report_group_with_one_done_job_has_no_std(reported):
    rows = markdown_table(reported[1], "dataset")
    # (digits, 0.1, none): seed 0 done, seed 1 is the failed job.
    row = next(r for r in rows if (r["dataset"], r["noise.rate"], r["strategy"]) == ("digits", "0.1", "none"))
    assert row["n"] == "1"
    assert row["test_accuracy"] == f"{fake_metrics('digits', 0.1, 'none', 0)['test_accuracy']:.3f}"


def test_report_omits_metrics_no_job_has(tmp_path):
    rows = markdown_table(write_report(build_small_sweep(tmp_path)).read_text(), "n")
    assert rows == [{"n": "2", "test_accuracy": mean_std([0.9, 0.91])}]  # one group, no seed column


def test_report_with_no_done_job(tmp_path):
    write_job(tmp_path, 0, ["seed=0"], failure="RuntimeError: boom")
    write_job(tmp_path, 1, ["seed=1"])
    text = write_report(tmp_path).read_text()
    assert "0 done, 1 failed, 1 incomplete" in text
    assert "nothing to aggregate" in text
    assert "RuntimeError: boom" in text
    assert (tmp_path / "summary.csv").is_file()
    assert not (tmp_path / "plots").exists()


# --------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------


def test_report_writes_every_plot_kind(reported):
    sweep, text = reported
    plots = sweep / "plots"
    assert_png(plots / "test_accuracy_vs_noise_rate.png")
    assert_png(plots / "detection_precision_recall.png")
    written = sorted(p.stem for p in (plots / "noise_matrices").glob("*.png"))
    # The first done seed of each of the 8 groups: job 11 stands in for the truncated job 10.
    assert written == sorted(["0", "2", "4", "6", "8", "11", "12", "14"])
    for path in (plots / "noise_matrices").glob("*.png"):
        assert_png(path)
    assert "](plots/test_accuracy_vs_noise_rate.png)" in text


def test_noise_matrix_plots_are_capped(tmp_path, monkeypatch):
    # A cap of 2 on 3 configurations tests the cap without drawing 12 figures.
    monkeypatch.setattr(plots, "MAX_NOISE_MATRIX_PLOTS", 2)
    for num in range(3):
        write_job(tmp_path, num, [f"noise.rate={num / 10}"], metrics={"test_accuracy": 0.9}, matrices=True)
    write_report(tmp_path)
    assert sorted(p.name for p in (tmp_path / "plots" / "noise_matrices").iterdir()) == ["0.png", "1.png"]


def test_noise_matrix_plot_uses_the_first_seed(tmp_path):
    # Job numbers need not follow seeds (the sweep order is the user's): job 1 holds seed 0.
    for num, seed in enumerate([1, 0]):
        write_job(tmp_path, num, ["strategy=remove", f"seed={seed}"], metrics={"test_accuracy": 0.9}, matrices=True)
    write_report(tmp_path)
    assert [p.name for p in (tmp_path / "plots" / "noise_matrices").iterdir()] == ["1.png"]


def test_unreadable_noise_matrix_is_skipped(tmp_path, caplog):
    good = write_job(tmp_path, 0, ["strategy=remove"], metrics={"test_accuracy": 0.9}, matrices=True)
    bad = write_job(tmp_path, 1, ["strategy=none"], metrics={"test_accuracy": 0.8}, matrices=True)
    (bad / "noise_matrix.csv").write_text(",a,b\na,0.9,oops\nb,0.1,0.9\n")
    with caplog.at_level(logging.INFO, logger="runner.sweep"):
        text = write_report(tmp_path).read_text()
    assert [p.name for p in (tmp_path / "plots" / "noise_matrices").iterdir()] == [f"{good.name}.png"]
    assert "unreadable noise matrix" in caplog.text
    assert "| none | 1 | 0.800 |" in text  # the job still counts in the tables


def test_plots_without_their_data_are_skipped(tmp_path, caplog):
    build_small_sweep(tmp_path)  # only seeds vary; nothing about detection or true noise
    with caplog.at_level(logging.INFO, logger="runner.sweep"):
        path = write_report(tmp_path)
    assert path.is_file()
    assert not list(tmp_path.glob("plots/**/*.png"))
    skipped = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    for plot in ["test_accuracy_vs_noise_rate.png", "detection_precision_recall.png", "noise_matrices"]:
        assert plot in skipped


def test_accuracy_plot_needs_numeric_noise_rates(tmp_path, caplog):
    write_job(tmp_path, 0, ["noise.rate=high", "strategy=remove"], metrics={"test_accuracy": 0.9})
    with caplog.at_level(logging.INFO, logger="runner.sweep"):
        write_report(tmp_path)
    assert not (tmp_path / "plots" / "test_accuracy_vs_noise_rate.png").exists()
    assert "numeric noise.rate" in caplog.text


# --------------------------------------------------------------------------------------------
# callback and command line
# --------------------------------------------------------------------------------------------


def test_callback_writes_the_report(tmp_path, caplog):
    sweep = build_small_sweep(tmp_path)
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}})
    with caplog.at_level(logging.INFO, logger="runner.sweep"):
        SweepSummary().on_multirun_end(config)
    assert (sweep / "report.md").is_file()
    assert (sweep / "summary.csv").is_file()
    assert str(sweep / "report.md") in caplog.records[-1].getMessage()


def test_callback_logs_instead_of_raising(tmp_path, caplog):
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "gone")}}})
    with caplog.at_level(logging.ERROR, logger="runner.sweep"):
        SweepSummary().on_multirun_end(config)
    assert "Could not write the sweep report" in caplog.text
    assert "gone" in caplog.text


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "runner.report", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_cli_writes_the_report(tmp_path):
    sweep = build_small_sweep(tmp_path / "sweep")
    result = run_cli(str(sweep), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    path = sweep / "report.md"
    assert path.is_file() and "2 done" in path.read_text()
    assert result.stdout == ""  # progress goes through logging (stderr), never print
    assert result.stderr.strip().splitlines()[-1].endswith(str(path))


def test_cli_missing_directory_exits_2(tmp_path):
    result = run_cli(str(tmp_path / "no_such_sweep"), cwd=tmp_path)
    assert result.returncode == 2
    assert "no_such_sweep" in result.stderr and "does not exist" in result.stderr


def test_importing_does_not_import_matplotlib():
    code = "import sys, runner.report; assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------------------------
# Recovered accuracy (a sweep with the clean-label oracle)
# --------------------------------------------------------------------------------------------


# What the study presets (conf/experiment/robustness.yaml) add to every job's config.
STUDY_SECTIONS = """report:
  sections:
    - _target_: runner.sweep.studies.recovery_section
    - _target_: runner.sweep.studies.no_harm_section
"""


def write_scored_jobs(sweep, jobs, overrides):
    """One job per ``key -> (test, baseline, clean, cost seconds)``, with ``overrides(*key)`` as its overrides."""
    for num, (key, (test, baseline, clean, cost)) in enumerate(jobs.items()):
        metrics = {
            "test_accuracy": test,
            "baseline_test_accuracy": baseline,
            "clean_labels_test_accuracy": clean,
            "time_cv_compute_s": cost,
            "time_detect_s": 0.0,
            "time_final_fit_s": 0.0,
        }
        write_job(sweep, num, overrides(*key), metrics=metrics, config=STUDY_SECTIONS)


@pytest.mark.parametrize("column, reference", [("cv", "stratified"), ("method", "reference")])
def test_recovered_fraction_is_a_ratio_of_sums_per_seed_then_mean_and_std(tmp_path, column, reference):
    """Two datasets x two methods x two seeds at one noise rate, numbers chosen by hand; the cost is
    relative to the reference configuration, swept as cv=stratified or as method=reference."""
    sweep = tmp_path / "sweep"
    # (dataset, cv, seed) -> (test, baseline, clean, cost seconds)
    jobs = {
        ("digits", "stratified", 0): (0.90, 0.80, 1.00, 2.0),
        ("wine", "stratified", 0): (0.70, 0.60, 0.70, 2.0),
        ("digits", "ensemble", 0): (0.95, 0.80, 1.00, 6.0),
        ("wine", "ensemble", 0): (0.70, 0.60, 0.70, 6.0),
        ("digits", "stratified", 1): (0.80, 0.80, 1.00, 2.0),
        ("wine", "stratified", 1): (0.65, 0.60, 0.70, 2.0),
        ("digits", "ensemble", 1): (0.90, 0.80, 1.00, 6.0),
        ("wine", "ensemble", 1): (0.70, 0.60, 0.70, 6.0),
    }
    write_scored_jobs(
        sweep,
        jobs,
        lambda dataset, cv, seed: [
            f"dataset={dataset}",
            "noise.rate=0.2",
            f"{column}={reference if cv == 'stratified' else cv}",
            f"seed={seed}",
            "experiment=recovery",  # a shared override names no method
        ],
    )
    text = write_report(sweep).read_text()
    section = text.split("## Recovered accuracy")[1].split("##")[0]
    rows = {line.split("|")[1].strip(): line for line in section.splitlines() if line.startswith("| ")}
    # stratified: seed 0 (0.1 + 0.1) / (0.2 + 0.1) = 0.667, seed 1 (0 + 0.05) / 0.3 = 0.167
    stratified = [0.2 / 0.3, 0.05 / 0.3]
    assert f"{statistics.mean(stratified):.3f} ± {statistics.stdev(stratified):.3f}" in rows[reference]
    ensemble = [0.25 / 0.3, 0.2 / 0.3]
    assert f"{statistics.mean(ensemble):.3f} ± {statistics.stdev(ensemble):.3f}" in rows["ensemble"]
    # cells: method, recovered, per-job mean, cost. Per-job mean: stratified seed 0
    # (0.1/0.2 + 0.1/0.1) / 2 = 0.75, seed 1 (0 + 0.05/0.1) / 2 = 0.25
    per_job = {reference: [0.75, 0.25], "ensemble": [(0.75 + 1.0) / 2, (0.5 + 1.0) / 2]}
    for method, values in per_job.items():
        cells = [cell.strip() for cell in rows[method].split("|")[1:-1]]
        assert cells[2] == f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"
    assert "3.00×" in rows["ensemble"] and "1.00×" in rows[reference]


def test_no_harm_checks_every_cell_against_its_noisy_baseline_and_costs_per_matched_job(tmp_path):
    """Two cells x two methods x two seeds, numbers chosen by hand."""
    sweep = tmp_path / "sweep"
    # (dataset, method, seed) -> (test, baseline, clean, cost seconds)
    jobs = {
        ("digits", "reference", 0): (0.90, 0.80, 1.00, 2.0),
        ("digits", "reference", 1): (0.80, 0.80, 1.00, 4.0),
        ("digits", "recommended", 0): (0.95, 0.80, 1.00, 3.0),
        ("digits", "recommended", 1): (0.85, 0.80, 1.00, 8.0),
        ("wine", "reference", 0): (0.55, 0.60, 0.70, 1.0),
        ("wine", "reference", 1): (0.60, 0.62, 0.70, 1.0),
        ("wine", "recommended", 0): (0.60, 0.60, 0.70, 1.5),
        ("wine", "recommended", 1): (0.61, 0.62, 0.70, 1.5),
    }
    write_scored_jobs(
        sweep,
        jobs,
        lambda dataset, method, seed: [
            f"dataset={dataset}",
            "noise=instance",
            "noise.rate=0.4",
            f"method={method}",
            f"seed={seed}",
        ],
    )
    section = write_report(sweep).read_text().split("## Do no harm")[1].split("\n## ")[0]
    rows = {
        line.split("|")[1].strip(): [c.strip() for c in line.split("|")[1:-1]]
        for line in section.splitlines()
        if line.startswith("| ")
    }
    # reference on wine: mean 0.575 vs baseline 0.61 -> -3.5 points, one harmed cell of two
    assert rows["reference"][1:5] == ["2", "1", f"{((0.05 - 0.035) / 2) * 100:+.2f}", "-3.50 (wine, instance, 0.4)"]
    # recommended: digits 0.90 vs 0.80 (+10), wine 0.605 vs 0.61 (-0.5): no harm beyond 1 point
    assert rows["recommended"][1:4] == ["2", "0", f"{((0.10 - 0.005) / 2) * 100:+.2f}"]
    # cost per job over its reference job: 1.5, 2, 1.5, 1.5 -> median 1.5
    assert rows["recommended"][5] == "1.50×" and rows["reference"][5] == "1.00×"
    assert rows["wine"][3:] == ["0.610", "0.700", "0.575 (-3.5)", "0.605 (-0.5)"]


# --------------------------------------------------------------------------------------------
# plots follow what was swept
# --------------------------------------------------------------------------------------------


METHODS = ("reference", "ensemble", "ensemble_posterior")


def build_method_sweep(sweep: Path, swept: str = "method", values=METHODS) -> Path:
    """``<swept>=values`` × noise.rate × seed; two methods share one filter_by, as in a real method sweep."""
    for num, (value, rate, seed) in enumerate(itertools.product(values, RATES, SEEDS)):
        position = values.index(value)
        metrics = {
            "filter_by": "prune_by_noise_rate" if position < 2 else None,
            "seed": seed,
            "test_accuracy": 0.9 - rate * (0.1 + 0.1 * position) + 0.01 * seed,
            # the baseline depends on the classifier only, not on the cleaning method
            "baseline_test_accuracy": 0.9 - 0.5 * rate - (0.05 * position if swept == "classifier" else 0),
            "clean_labels_test_accuracy": 0.95,
            "detection_precision": 0.5 + 0.1 * position,
            "detection_recall": 0.6 + 0.1 * position,
        }
        write_job(
            sweep,
            num,
            [f"{swept}={value}", f"noise.rate={rate}", "dataset=digits", f"seed={seed}"],
            metrics={k: v for k, v in metrics.items() if v is not None},
        )
    return sweep


def test_plots_follow_a_method_sweep(tmp_path):
    sweep = build_method_sweep(tmp_path)
    write_report(sweep)
    assert_png(sweep / "plots" / "test_accuracy_vs_noise_rate.png")
    assert_png(sweep / "plots" / "detection_precision_recall.png")
    done = collect_module._done_jobs(collect(sweep))
    group_columns = collect_module._group_columns(done)
    assert plots.swept_columns(done, group_columns) == ["method"]  # dataset is the same everywhere
    lines = plots.accuracy_lines(done, "method")
    assert [(label, style, value) for label, _, style, value in lines] == [
        *((m, "-", m) for m in METHODS),
        ("baseline (noisy labels)", "--", None),
        ("clean labels (oracle)", ":", None),
    ]
    ensemble = lines[1][1]
    assert list(ensemble.index) == list(RATES)
    assert ensemble["mean"].tolist() == pytest.approx([0.9 - r * 0.2 + 0.005 for r in RATES])


def test_a_classifier_sweep_draws_each_classifier_s_baseline(tmp_path):
    classifiers = ("logistic_regression", "random_forest")
    done = collect_module._done_jobs(collect(build_method_sweep(tmp_path, "classifier", classifiers)))
    lines = plots.accuracy_lines(done, "classifier")
    baselines = [(label, value) for label, _, style, value in lines if style == "--"]
    assert baselines == [(f"{c}: baseline (noisy labels)", c) for c in classifiers]
    assert [label for label, _, style, _ in lines if style == ":"] == ["clean labels (oracle)"]


def test_report_of_check_every_row_jobs_has_no_accuracy_plot(tmp_path, caplog):
    for num, strategy in enumerate(["remove", "relabel"]):
        write_job(
            tmp_path,
            num,
            [f"strategy={strategy}", "dataset.test_size=0"],
            metrics={"n_label_issues": 10 + num, "n_test": 0, "strategy": strategy},
        )
    with caplog.at_level(logging.INFO, logger="runner.sweep"):
        text = write_report(tmp_path).read_text()
    rows = {row["strategy"]: row for row in markdown_table(text, "strategy")}
    assert rows["relabel"]["n_label_issues"].startswith("11") and "test_accuracy" not in rows["relabel"]
    assert not (tmp_path / "plots" / "test_accuracy_vs_noise_rate.png").exists()


def test_study_sections_appear_only_when_the_jobs_turn_them_on(tmp_path):
    jobs = {
        ("digits", method, seed): (0.9, 0.8, 1.0, 1.0) for method in ("reference", "recommended") for seed in (0, 1)
    }

    def overrides(dataset, method, seed):
        return [f"dataset={dataset}", "noise.rate=0.2", f"method={method}", f"seed={seed}"]

    write_scored_jobs(tmp_path / "on", jobs, overrides)
    text = write_report(tmp_path / "on").read_text()
    assert "## Recovered accuracy" in text and "## Do no harm" in text
    for num, (key, (test, baseline, clean, _cost)) in enumerate(jobs.items()):
        write_job(
            tmp_path / "off",
            num,
            overrides(*key),
            metrics={"test_accuracy": test, "baseline_test_accuracy": baseline, "clean_labels_test_accuracy": clean},
        )
    text = write_report(tmp_path / "off").read_text()
    assert "## Results" in text and "## Recovered accuracy" not in text and "## Do no harm" not in text


# --------------------------------------------------------------------------------------------
# Which differences are real (runner.sweep.comparison in the report)
# --------------------------------------------------------------------------------------------


def build_ranked_sweep(sweep: Path, n_datasets: int = 8) -> Path:
    """``method`` in {better, reference, other} over n_datasets × 2 rates × 2 seeds; ``better`` wins every cell."""
    gains = {"better": 0.05, "reference": 0.01, "other": 0.0}
    jobs = itertools.product(range(n_datasets), RATES, SEEDS, gains)
    for num, (dataset, rate, seed, method) in enumerate(jobs):
        baseline = 0.6 + 0.03 * dataset - rate * 0.2 + 0.004 * seed
        metrics = {
            "seed": seed,
            "test_accuracy": baseline + gains[method] + 0.002 * ((num * 7) % 3),
            "baseline_test_accuracy": baseline,
            "clean_labels_test_accuracy": baseline + 0.1,
        }
        write_job(
            sweep,
            num,
            [f"method={method}", f"dataset=d{dataset}", f"noise.rate={rate}", f"seed={seed}"],
            metrics=metrics,
        )
    return sweep


def test_the_report_leads_with_which_differences_are_real_and_writes_cells_json_and_diagram(tmp_path):
    sweep = build_ranked_sweep(tmp_path / "sweep")
    text = write_report(sweep).read_text()
    sections = [line for line in text.splitlines() if line.startswith("## ")]
    assert sections[0] == "## Which differences are real"
    assert "better better than reference" in text and "better better than other" in text
    assert "![critical-difference diagram](plots/critical_difference.png)" in text
    assert_png(sweep / "plots" / "critical_difference.png")
    cells = pd.read_csv(sweep / "cells.csv")
    assert len(cells) == 8 * len(RATES) * 3
    assert (cells.loc[cells["method"] == "better", "rank"] == 1).all()
    tests = json.loads((sweep / "comparison.json").read_text())
    assert tests["axis"] == "method" and next(iter(tests["mean_ranks"])) == "better"
    assert tests["omnibus"]["rejects"]
    assert not list(sweep.glob("**/.*.tmp"))  # every file was renamed into place


def test_the_report_of_a_sweep_with_too_few_cells_says_so_and_counts_the_failed_jobs(reported):
    sweep, text = reported
    tests = json.loads((sweep / "comparison.json").read_text())
    assert tests["axis"] == "strategy" and tests["cells_ranked"] == 4
    assert tests["jobs_excluded"]["failed"] == 1 and tests["jobs_excluded"]["incomplete"] == 2
    assert "No significance test: 4 cells" in text and "p =" not in text
    assert not (sweep / "plots" / "critical_difference.png").exists()


def test_a_two_value_sweep_over_one_dataset_reports_why_there_are_no_ranks(tmp_path):
    sweep = tmp_path / "sweep"
    for num, (strategy, seed) in enumerate(itertools.product(STRATEGIES, SEEDS)):
        write_job(
            sweep,
            num,
            ["dataset=digits", f"strategy={strategy}", f"seed={seed}"],
            metrics=fake_metrics("digits", 0.1, strategy, seed),
        )
    text = write_report(sweep).read_text()
    assert "No rank section: 1 cell" in text
    assert len(pd.read_csv(sweep / "cells.csv")) == 2


def test_cli_compare_names_the_axis_and_refuses_one_the_sweep_lacks(tmp_path):
    sweep = build_ranked_sweep(tmp_path / "sweep")
    result = run_cli(str(sweep), "--compare", "noise.rate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    tests = json.loads((sweep / "comparison.json").read_text())
    assert tests["axis"] == "noise.rate" and "method" in tests["cell_columns"]
    result = run_cli(str(sweep), "--compare", "detection", cwd=tmp_path)
    assert result.returncode == 2
    assert "--compare detection: not an override of this sweep" in result.stderr
    assert json.loads((sweep / "comparison.json").read_text())["axis"] == "noise.rate"  # nothing rewritten
