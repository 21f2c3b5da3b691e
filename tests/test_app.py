"""The command line: run directories, reproducibility, and one clear error line for bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from runner.run import artifacts
from runner.run.config import check_config, config_hash
from tests.helpers import RUN_SPECIFIC, cleanrun, compose_config, run_dirs

SLOW = pytest.mark.slow


def comparable(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {key: value for key, value in metrics.items() if not key.startswith(RUN_SPECIFIC)}


def test_a_run_writes_a_self_describing_directory(tmp_path):
    result = cleanrun(tmp_path, "dataset=iris", "cv.folds=3")
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(tmp_path)
    for name in (
        "label_issues.csv",
        "confident_joint.csv",
        "noise_matrix.csv",
        "inverse_noise_matrix.csv",
        "true_noise_matrix.csv",
        "pred_probs.npy",
        "metrics.json",
        ".hydra/config.yaml",
        ".hydra/overrides.yaml",
    ):
        assert (run_dir / name).exists(), name
    assert "test accuracy" in result.stderr + result.stdout and str(run_dir.name) in result.stderr + result.stdout
    issues = pd.read_csv(run_dir / "label_issues.csv")
    assert list(issues.columns[:7]) == [
        "rank",
        "row",
        "index",
        "given_label",
        "predicted_label",
        "label_quality",
        "is_label_issue",
    ]
    assert {"true_label", "is_true_error", "sample_weight"} <= set(issues.columns)
    assert set(issues["given_label"]) == {"setosa", "versicolor", "virginica"}
    noise_matrix = artifacts.read_matrix(run_dir / "noise_matrix.csv")
    assert list(noise_matrix.columns) == ["setosa", "versicolor", "virginica"]
    assert noise_matrix.sum(axis=0).to_numpy() == pytest.approx(1.0)


def test_same_config_same_results_and_rerun_from_saved_config(tmp_path):
    overrides = ("dataset=wine", "cv.folds=3", "strategy=weight", "seed=3")
    first = cleanrun(tmp_path, *overrides)
    second = cleanrun(tmp_path, *overrides)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    one, two = run_dirs(tmp_path)
    assert one != two
    assert (one / "label_issues.csv").read_bytes() == (two / "label_issues.csv").read_bytes()
    assert comparable(one) == comparable(two)
    assert json.loads((two / "metrics.json").read_text())["cv_cache_hit"] is True

    again = cleanrun(tmp_path, config_path=one / ".hydra")
    assert again.returncode == 0, again.stderr
    (rerun_dir,) = {path.parent for path in tmp_path.rglob("metrics.json")} - {one, two}
    assert (rerun_dir / "label_issues.csv").read_bytes() == (one / "label_issues.csv").read_bytes()
    assert comparable(rerun_dir) == comparable(one)


def write_tables(directory: Path) -> dict:
    """Good and broken input tables, by name, for the bad-input cases."""
    good = pd.DataFrame({"x": range(40), "y": [i % 7 for i in range(40)], "label": ["a", "b"] * 20})
    paths = {name: directory / f"{name}.csv" for name in ("csv", "header_only", "empty", "inf", "one_class")}
    good.to_csv(paths["csv"], index=False)
    good.head(0).to_csv(paths["header_only"], index=False)
    paths["empty"].write_text("")
    good.assign(x=good["x"].astype(float).where(good.index != 5, np.inf)).to_csv(paths["inf"], index=False)
    good.assign(label=0).to_csv(paths["one_class"], index=False)
    (directory / "a_directory").mkdir()
    return {**{name: str(path) for name, path in paths.items()}, "a_directory": str(directory / "a_directory")}


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["dataset=csv", "dataset.path=/no/such/file.csv"], "/no/such/file.csv"),
        (["dataset=csv", "dataset.path={csv}", "dataset.label_column=nope"], "nope"),
        (["dataset=iris", "cv.folds=abc"], "cv.folds"),
        (["dataset=iris", "cv.folds=200"], "cv_n_folds=200 needs at least 200 examples"),
        pytest.param(["dataset=csv"], "dataset.path is mandatory", marks=SLOW),
        pytest.param(["dataset=iris", "noise.rate=abc"], "noise.rate='abc' must be a number", marks=SLOW),
        pytest.param(["dataset=csv", "dataset.path={header_only}"], "header_only.csv' has no rows", marks=SLOW),
        pytest.param(["dataset=csv", "dataset.path={empty}"], "empty.csv' is empty", marks=SLOW),
        pytest.param(["dataset=csv", "dataset.path={a_directory}"], "a_directory' is a directory", marks=SLOW),
        pytest.param(["dataset=csv", "dataset.path={inf}"], "Feature column 'x'", marks=SLOW),
        pytest.param(["dataset=csv", "dataset.path={inf}", "standardize=false"], "Feature column 'x'", marks=SLOW),
        pytest.param(["dataset=csv", "dataset.path={one_class}", "noise=none"], "one class only ('0')", marks=SLOW),
        pytest.param(
            ["dataset=iris", "pred_probs_dtype=int8"], "pred_probs_dtype='int8' must be float32 or float64", marks=SLOW
        ),
    ],
)
def test_bad_input_gives_one_error_line_on_stderr_and_no_metrics(tmp_path, overrides, message):
    tables = write_tables(tmp_path)
    result = cleanrun(tmp_path, *(o.format(**tables) for o in overrides))
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and message in errors[0], result.stdout + result.stderr
    assert "ERROR" not in result.stdout and "Traceback" not in result.stdout + result.stderr
    assert "np.int64" not in errors[0]
    assert "fitted in" not in result.stdout, "refused only after fitting"
    (run_dir,) = run_dirs(tmp_path)
    assert not (run_dir / "metrics.json").exists()
    assert json.loads((run_dir / "failure.json").read_text())["error"]


@pytest.mark.parametrize(
    "override, message",
    [
        ("seed=-1", "seed=-1 must be an integer in [0, 2**32 - 1]"),
        ("cv.folds=1", "cv.folds=1 must be an integer >= 2"),
        ("cv.n_jobs=0", "cv.n_jobs=0 must be null or a non-zero integer"),
        ("cv.rounds=0", "cv.rounds=0 must be an integer >= 1"),
        ("cv.validate_cleaning=maybe", "cv.validate_cleaning='maybe' must be true or false"),
        ("cv.validation_min_z=-1", "cv.validation_min_z=-1 must be a number >= 0"),
        (
            "method=recommended cv.validation_criterion=other",
            "cv.validation_criterion='other' must be one of corrected, given, log_likelihood, brier",
        ),
        ("cv.validation_folds=1", "cv.validation_folds=1 must be an integer >= 2"),
        (
            "cv.validation_gate=strict",
            "cv.validation_gate='strict' must be one of dominance, min_count, bootstrap, none",
        ),
        ("cv.validation_min_count=-1", "cv.validation_min_count=-1 must be an integer >= 0"),
        ("trusted_rows=-5", "trusted_rows=-5 must be an integer >= 0"),
        ("threads_per_fit=0", "threads_per_fit=0 must be null or an integer >= 1"),
        ("pred_probs_dtype=float16", "pred_probs_dtype='float16' must be float32 or float64"),
        ("noise.rate=1.5", "noise.rate=1.5 must be a number in [0, 1)"),
        ("noise.rate=true", "noise.rate=True must be a number"),
        ("noise.frac_zero_noise_rates=2", "noise.frac_zero_noise_rates=2 must be a number in [0, 1]"),
        ("dataset.test_size=1.5", "dataset.test_size=1.5 must be a fraction in [0, 1) or a number of rows"),
        ("detection.frac_noise=0", "detection.frac_noise=0 must be a number in (0, 1]"),
        ("detection.frac_noise=1.01", "detection.frac_noise=1.01 must be a number in (0, 1]"),
        ("detection.min_examples_per_class=-1", "detection.min_examples_per_class=-1 must be an integer >= 0"),
        ("strategy=weight strategy.issue_weight=-0.5", "strategy.issue_weight=-0.5 must be a number >= 0"),
        ("save_pred_probs=maybe", "save_pred_probs='maybe' must be true or false"),
    ],
)
def test_out_of_range_config_values_are_refused_naming_key_and_range(override, message):
    with pytest.raises(ValueError) as error:
        check_config(compose_config(["dataset=iris", *override.split()]))
    assert message in str(error.value)


def test_in_range_config_values_pass():
    for overrides in (
        ["threads_per_fit=null", "cv.n_jobs=-1", "detection.frac_noise=1.0"],
        ["noise=none", "pred_probs_dtype=float32", "dataset.test_size=30", "seed=4294967295"],
        ["method=recommended", "cv.validation_min_z=1.5", "cv.validation_criterion=given"],
    ):
        check_config(compose_config(["dataset=iris", *overrides]))


def test_a_failed_rerun_into_a_run_directory_leaves_no_earlier_metrics(tmp_path):
    run_dir = tmp_path / "run"
    assert cleanrun(tmp_path, "dataset=iris", "cv.folds=3", f"hydra.run.dir={run_dir}").returncode == 0
    assert (run_dir / "metrics.json").is_file()
    failed = cleanrun(tmp_path, "dataset=iris", "cv.folds=3", "noise.rate=0.9", f"hydra.run.dir={run_dir}")
    assert failed.returncode != 0 and "noise.rate" in failed.stderr
    assert not (run_dir / "metrics.json").exists(), "the earlier attempt's metrics pass for this one's"
    assert "noise.rate" in json.loads((run_dir / "failure.json").read_text())["error"]


def test_a_class_rarer_than_folds_runs(tmp_path):
    """SPEC §4.7: 2 examples of class c and 5 folds train as in the reference (only a class with
    no training example at all is refused)."""
    rng = np.random.default_rng(0)
    labels = np.array(["a"] * 20 + ["b"] * 20 + ["c"] * 2)
    frame = pd.DataFrame({"x": rng.normal(size=42) + 3 * (labels == "b") - 3 * (labels == "c"), "label": labels})
    frame.to_csv(tmp_path / "train.csv", index=False)
    frame.to_csv(tmp_path / "test.csv", index=False)
    result = cleanrun(
        tmp_path,
        "dataset=csv",
        f"dataset.path={tmp_path / 'train.csv'}",
        f"dataset.test_path={tmp_path / 'test.csv'}",
        "noise=none",
        "cv.folds=5",
        "compare_baseline=false",
    )
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(tmp_path)
    issues = pd.read_csv(run_dir / "label_issues.csv")
    assert (issues["given_label"] == "c").sum() == 2
    assert not issues.loc[issues["given_label"] == "c", "is_label_issue"].any()  # n_k <= 10: never pruned


def test_the_runner_refuses_a_class_left_without_training_examples_before_fitting():
    """Noise can take every label of a class away: no model could learn it."""
    from sklearn.linear_model import LogisticRegression

    from runner import CleanLearning
    from runner.datasets import load_sklearn
    from runner.datasets.corrupt import Corruption
    from runner.run.experiment import run_experiment

    fits = []

    class Recording(LogisticRegression):
        def fit(self, X, y, sample_weight=None):
            fits.append(len(y))
            return super().fit(X, y, sample_weight)

    def take_class_away(labels, n_classes, *, seed=0):
        return Corruption(np.where(labels == 1, 0, labels), None)

    with pytest.raises(ValueError, match=r"class 'class_1' has no training example"):
        run_experiment(load_sklearn(name="wine"), CleanLearning(Recording(), seed=0), noise=take_class_away)
    assert fits == []


def test_unknown_option_lists_the_choices(tmp_path):
    result = cleanrun(tmp_path, "classifier=nope")
    assert result.returncode != 0
    assert "Available options in 'classifier'" in result.stderr and "xgboost" in result.stderr


def test_runs_started_together_get_their_own_directories(tmp_path):
    command = [sys.executable, "-m", "runner", "dataset=iris", "cv.folds=3", "compare_baseline=false"]
    processes = [
        subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)
    ]
    assert [process.wait(timeout=300) for process in processes] == [0, 0]
    assert len(run_dirs(tmp_path)) == 2


@pytest.mark.slow
def test_a_non_editable_install_finds_its_configs(tmp_path):
    """``pip install .`` (no -e) ships conf/ as the package runner.conf and the console script runs."""
    import sysconfig

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # The dependencies come from this environment as a plain path (its .pth files, among them
    # the editable install of cleanrun, are not run), so `runner` is the freshly installed copy.
    Path(purelib, "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # A copy of the sources: a build/ directory left in the checkout could supply stale files.
    repo = Path(__file__).resolve().parents[1]
    source = tmp_path / "source"
    shutil.copytree(
        repo,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "outputs", "build", "*.egg-info", "__pycache__", "examples", "benchmarks"
        ),
    )
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    run = subprocess.run(
        [str(venv / "bin" / "cleanrun"), "dataset=iris", "cv.folds=3", "save_pred_probs=false"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "ignore", "CLEANRUN_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert run.returncode == 0, run.stderr
    installed = subprocess.run(
        [str(python), "-c", "import runner; print(runner.__file__)"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert installed.startswith(purelib), installed
    (metrics,) = tmp_path.glob("outputs/runs/*/*/metrics.json")
    assert json.loads(metrics.read_text())["dataset"] == "iris"


def test_the_config_digest_ignores_settings_that_change_no_result(tmp_path, monkeypatch):
    base = ["dataset=iris", "cv.folds=3"]
    digest = config_hash(compose_config(base))
    for other in (
        ["cache_dir=/elsewhere"],
        ["cache_dir=null"],
        ["save_pred_probs=false"],
        ["resume=/a/sweep"],
        ["+tracking.uri=file:/tmp/mlruns"],
    ):
        assert config_hash(compose_config(base + other)) == digest, other
    monkeypatch.setenv("CLEANRUN_CACHE_DIR", str(tmp_path / "cache"))
    assert config_hash(compose_config(base)) == digest
    for other in (["seed=1"], ["cv.folds=4"], ["threads_per_fit=2"], ["strategy=weight"]):
        assert config_hash(compose_config(base + other)) != digest, other


def test_the_config_digest_sees_a_data_file_by_name_and_content(tmp_path, monkeypatch):
    table = write_tables(tmp_path)["csv"]
    monkeypatch.chdir(tmp_path)
    absolute = config_hash(compose_config(["dataset=csv", f"dataset.path={table}"]))
    assert config_hash(compose_config(["dataset=csv", "dataset.path=csv.csv"])) == absolute
    Path(table).write_text(Path(table).read_text().replace("a", "c"))
    assert config_hash(compose_config(["dataset=csv", f"dataset.path={table}"])) != absolute


@pytest.mark.slow
def test_a_cache_that_cannot_be_written_does_not_fail_the_run(tmp_path):
    (tmp_path / "a_file").write_text("")
    result = cleanrun(tmp_path, "dataset=iris", "cv.folds=3", f"cache_dir={tmp_path / 'a_file' / 'cache'}")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1 and "a_file/cache" in warnings[0] and "cannot be written" in warnings[0]
    (run_dir,) = run_dirs(tmp_path)
    assert (run_dir / "metrics.json").is_file()


@pytest.mark.slow
def test_tampered_cache_entries_are_named_and_recomputed(tmp_path):
    overrides = ("dataset=iris", "cv.folds=3", f"cache_dir={tmp_path / 'cache'}")
    assert cleanrun(tmp_path, *overrides).returncode == 0
    entries = sorted((tmp_path / "cache").glob("*.npy"))
    for entry in entries:  # the out-of-fold probabilities and the baseline's predictions
        array = np.load(entry)
        np.save(entry, np.full_like(array, 0.5) if array.ndim == 2 else np.full_like(array, 99))
    assert {np.load(entry).ndim for entry in entries} == {1, 2}
    again = cleanrun(tmp_path, *overrides)
    assert again.returncode == 0, again.stderr
    warnings = [line for line in again.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == len(entries), warnings  # one per tampered entry, naming it
    assert all(any(str(entry) in warning for warning in warnings) for entry in entries)
    first, second = run_dirs(tmp_path)
    assert comparable(second) == comparable(first)
    assert json.loads((second / "metrics.json").read_text())["cv_cache_hit"] is False


def test_the_learner_is_built_from_every_learner_key_of_the_config():
    from runner.run.build import build_learner

    cfg = compose_config(
        [
            "method=recommended",
            "cv.folds=4",
            "cv.n_jobs=2",
            "cv.rounds=2",
            "cv.round_mode=relabel",
            "final_fit=more_iterations",
            "threads_per_fit=2",
            "cache_dir=null",
            "pred_probs_dtype=float32",
            "seed=7",
        ]
    )
    params = build_learner(cfg).get_params(deep=False)
    assert {
        key: params[key]
        for key in (
            "seed",
            "cv_n_folds",
            "n_jobs",
            "cv_backend",
            "cv_scheduler_address",
            "detection_rounds",
            "round_mode",
            "round_mean",
            "validate_cleaning",
            "validation_min_z",
            "validation_criterion",
            "final_params",
            "skip_final_fit",
            "threads_per_fit",
            "cv_cache_dir",
            "pred_probs_dtype",
            "ensemble",
        )
    } == {
        "seed": 7,
        "cv_n_folds": 4,
        "n_jobs": 2,
        "cv_backend": None,
        "cv_scheduler_address": None,
        "detection_rounds": 2,
        "round_mode": "relabel",
        "round_mean": False,
        "validate_cleaning": True,
        "validation_min_z": 3.0,
        "validation_criterion": "given",
        "final_params": {"max_iter": 3000},
        "skip_final_fit": False,
        "threads_per_fit": 2,
        "cv_cache_dir": None,
        "pred_probs_dtype": "float32",
        "ensemble": None,
    }
    assert type(params["clf"]).__name__ == "LogisticRegression"
    assert params["strategy"].reweight is False and params["detector"].filter_by == "prune_by_noise_rate"
    members = build_learner(compose_config(["cv=ensemble"])).ensemble
    assert [type(member).__name__ for member in members] == [
        "LogisticRegression",
        "ExtraTreesClassifier",
        "KNeighborsClassifier",
    ]


# --------------------------------------------------------------------------------------------
# The objective returned to an optimising sweeper


def _train_and_test_tables(folder: Path):
    """A training table and two test tables that differ only in their labels."""
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame.rename(columns={"target": "label"})
    train, test = frame.iloc[::2], frame.iloc[1::2]
    paths = {name: folder / f"{name}.csv" for name in ("train", "test", "test_scrambled")}
    train.to_csv(paths["train"], index=False)
    test.to_csv(paths["test"], index=False)
    test.assign(label=np.random.default_rng(0).permutation(test["label"].to_numpy())).to_csv(
        paths["test_scrambled"], index=False
    )
    return paths


def test_the_default_objective_is_computed_without_the_test_split(tmp_path):
    from runner.run.app import objective_value, run

    paths = _train_and_test_tables(tmp_path)
    values, accuracies = [], []
    for test in ("test", "test_scrambled"):
        cfg = compose_config(
            [
                "dataset=csv",
                f"dataset.path={paths['train']}",
                f"dataset.test_path={paths[test]}",
                "cv.folds=3",
                "cache_dir=null",
            ]
        )
        assert cfg.objective == "cv_given_accuracy"
        result = run(cfg, tmp_path / test)
        values.append(objective_value(cfg, result.metrics))
        accuracies.append(result.metrics["test_accuracy"])
    # Other test labels change every test score but not the objective.
    assert values[0] == values[1] and 0.5 < values[0] <= 1
    assert accuracies[0] != accuracies[1]


def test_the_objective_is_any_metric_and_the_cleaning_check_score_needs_the_check():
    from runner.run.app import objective_value, reads_test_labels

    cfg = compose_config(["objective=test_accuracy"])
    assert objective_value(cfg, {"test_accuracy": 0.9, "cv_given_accuracy": 0.8}) == 0.9
    assert objective_value(cfg, {}) is None
    assert reads_test_labels("test_accuracy") and reads_test_labels("baseline_test_accuracy")
    assert reads_test_labels("recovered_fraction") and not reads_test_labels("cv_given_accuracy")
    with pytest.raises(ValueError, match="add cv.validate_cleaning=true"):
        check_config(compose_config(["objective=holdout_given_accuracy_cleaned"]))
    check_config(compose_config(["objective=holdout_given_accuracy_cleaned", "cv.validate_cleaning=true"]))
    with pytest.raises(ValueError, match="objective"):
        check_config(compose_config(["objective=''"]))
