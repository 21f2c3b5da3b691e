"""The command line: run directories, reproducibility, and one clear error line for bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from runner import artifacts

RUN_SPECIFIC = ("time_", "cv_cache_hit")  # metrics that may differ between identical runs


def cleanrun(cwd, *overrides, config_path=None, timeout=300):
    command = [sys.executable, "-m", "runner"]
    if config_path is not None:
        command += ["--config-path", str(config_path), "--config-name", "config"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("CLEANRUN_CACHE_DIR", None)
    return subprocess.run(
        [*command, *overrides], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


def run_dirs(cwd):
    return sorted(path.parent for path in Path(cwd, "outputs", "runs").glob("*/*/.hydra"))


def comparable(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {key: value for key, value in metrics.items() if not key.startswith(RUN_SPECIFIC)}


def test_a_run_writes_a_self_describing_directory(tmp_path):
    result = cleanrun(tmp_path, "dataset=iris", "cv.folds=3")
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(tmp_path)
    for name in ("label_issues.csv", "confident_joint.csv", "noise_matrix.csv", "inverse_noise_matrix.csv",
                 "true_noise_matrix.csv", "pred_probs.npy", "metrics.json", ".hydra/config.yaml",
                 ".hydra/overrides.yaml"):
        assert (run_dir / name).exists(), name
    assert "test accuracy" in result.stderr + result.stdout and str(run_dir.name) in result.stderr + result.stdout
    issues = pd.read_csv(run_dir / "label_issues.csv")
    assert list(issues.columns[:7]) == ["rank", "row", "index", "given_label", "predicted_label", "label_quality",
                                        "is_label_issue"]
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


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["dataset=csv", "dataset.path=/no/such/file.csv"], "/no/such/file.csv"),
        (["dataset=csv", "dataset.path={csv}", "dataset.label_column=nope"], "nope"),
        (["dataset=iris", "cv.folds=abc"], "cv.folds"),
        (["dataset=iris", "cv.folds=45"], "at least cv_n_folds=45"),
    ],
)
def test_bad_input_gives_one_error_line_and_no_metrics(tmp_path, overrides, message):
    csv = tmp_path / "table.csv"
    pd.DataFrame({"x": range(40), "label": ["a", "b"] * 20}).to_csv(csv, index=False)
    result = cleanrun(tmp_path, *(o.format(csv=csv) for o in overrides))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    errors = [line for line in output.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and message in errors[0], output
    assert "Traceback" not in output
    (run_dir,) = run_dirs(tmp_path)
    assert not (run_dir / "metrics.json").exists()
    assert json.loads((run_dir / "failure.json").read_text())["error"]


def test_unknown_option_lists_the_choices(tmp_path):
    result = cleanrun(tmp_path, "classifier=nope")
    assert result.returncode != 0
    assert "Available options in 'classifier'" in result.stderr and "xgboost" in result.stderr


def test_runs_started_together_get_their_own_directories(tmp_path):
    command = [sys.executable, "-m", "runner", "dataset=iris", "cv.folds=3", "compare_baseline=false"]
    processes = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for _ in range(2)]
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
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    # The dependencies come from this environment as a plain path (its .pth files, among them
    # the editable install of cleanrun, are not run), so `runner` is the freshly installed copy.
    Path(purelib, "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # A copy of the sources: a build/ directory left in the checkout could supply stale files.
    repo = Path(__file__).resolve().parents[1]
    source = tmp_path / "source"
    shutil.copytree(repo, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "outputs", "build", "*.egg-info", "__pycache__", "examples", "benchmarks"))
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", str(source)],
        check=True, capture_output=True, timeout=300,
    )
    run = subprocess.run(
        [str(venv / "bin" / "cleanrun"), "dataset=iris", "cv.folds=3", "save_pred_probs=false"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "ignore", "CLEANRUN_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert run.returncode == 0, run.stderr
    installed = subprocess.run(
        [str(python), "-c", "import runner; print(runner.__file__)"],
        cwd=tmp_path, check=True, capture_output=True, text=True,
    ).stdout
    assert installed.startswith(purelib), installed
    (metrics,) = tmp_path.glob("outputs/runs/*/*/metrics.json")
    assert json.loads(metrics.read_text())["dataset"] == "iris"
