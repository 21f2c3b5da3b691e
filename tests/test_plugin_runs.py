"""Plugins from a researcher's plain folder, through the command line, as a user meets them there.

* a detector that returns no ``pred_probs`` runs with ``strategy=relabel``;
* ``metrics.json`` and the run's summary record the option and ``_target_`` of every group;
* ``resume=`` reruns a job whose plugin's Python file changed, and only that one;
* errors name the plugin by its option (``strategy=broken``, ``detection=bad_scores``,
  ``dataset=bad_labels``), a bad score says how many and which, NaN features are refused before
  any fit;
* ``python -m runner.report`` refuses a directory that is no sweep in one line and writes nothing;
  ``summary.csv`` has the same metric columns whatever was swept; counts print as integers.

Every run is a subprocess started in the folder, with the folder's ``conf/`` on
``hydra.searchpath`` and the folder itself importable (Python puts the working directory of
``-m`` on ``sys.path``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from omegaconf import OmegaConf

from runner.run.plugin_identity import target_sources
from tests.helpers import compose_config

DETECTORS = textwrap.dedent('''
    """A researcher's detectors: flag rows whose given label looks unlikely."""
    import numpy as np
    from runner.contracts import Detection


    class Mine:
        """Flags rows whose given label has an out-of-fold probability below ``threshold``; no pred_probs."""

        def __init__(self, threshold=0.3):
            self.threshold = threshold

        def detect(self, labels, pred_probs):
            given = pred_probs[np.arange(len(labels)), labels]
            return Detection(label_issues=given < self.threshold, label_quality=given)


    class BadScores:
        """Breaks the contract: three scores outside [0, 1]."""

        def detect(self, labels, pred_probs):
            scores = pred_probs[np.arange(len(labels)), labels].copy()
            scores[:3] = [-1.0, 2.0, np.nan]
            return Detection(label_issues=np.zeros(len(labels), dtype=bool), label_quality=scores)
''')

STRATEGIES = textwrap.dedent('''
    """A researcher's strategies."""
    import numpy as np
    from runner.contracts import TrainingSet

    WEIGHT = 0.5


    class DownWeight:
        """Flagged rows get weight WEIGHT."""

        requires_sample_weight = True

        def select(self, detection, labels, sample_weight=None):
            weights = np.where(detection.label_issues, WEIGHT, 1.0)
            return TrainingSet(np.arange(len(labels)), labels, weights)


    class Broken:
        """Breaks the contract: labels beyond the classes."""

        requires_sample_weight = False

        def select(self, detection, labels, sample_weight=None):
            return TrainingSet(np.arange(len(labels)), labels + 5)
''')

LOADERS = textwrap.dedent('''
    """A researcher's loaders, each building a Dataset that breaks the contract."""
    import numpy as np
    from runner.datasets import Dataset


    def _split(*, seed, labels, holes=False):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(len(labels), 3))
        if holes:
            X[[4, 9], 1] = np.nan
        return dict(X_train=X[:80], y_train=labels[:80], X_test=X[80:], y_test=labels[80:],
                    classes=np.array(["a", "b"]), feature_names=["x0", "x1", "x2"], name="mine")


    def bad_labels(*, seed):
        return Dataset(**_split(seed=seed, labels=np.arange(100) % 3))


    def holes(*, seed):
        return Dataset(**_split(seed=seed, labels=np.arange(100) % 2, holes=True))
''')

OPTIONS = {
    "detection/mine.yaml": "_target_: my_detectors.Mine\nthreshold: 0.3\n",
    "detection/bad_scores.yaml": "_target_: my_detectors.BadScores\n",
    "strategy/mine.yaml": "_target_: my_strategies.DownWeight\n",
    "strategy/broken.yaml": "_target_: my_strategies.Broken\n",
    "dataset/bad_labels.yaml": "_target_: my_loaders.bad_labels\nseed: ${seed}\n",
    "dataset/holes.yaml": "_target_: my_loaders.holes\nseed: ${seed}\n",
}

QUICK = ["dataset=iris", "cv.folds=3", "compare_baseline=false", "save_pred_probs=false", "cache_dir=null"]
NO_REPORT = ["~hydra.callbacks.sweep_summary"]


@pytest.fixture
def folder(tmp_path) -> Path:
    """A plain folder with three plugin files and their options under ``conf/``."""
    root = tmp_path / "research"
    for name, text in {"my_detectors.py": DETECTORS, "my_strategies.py": STRATEGIES, "my_loaders.py": LOADERS}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    for option, text in OPTIONS.items():
        path = root / "conf" / option
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def cleanrun(folder: Path, *arguments) -> subprocess.CompletedProcess:
    """``python -m runner`` in ``folder`` with its ``conf/`` on Hydra's search path."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "CLEANRUN_CACHE_DIR")}
    env["PYTHONWARNINGS"] = "ignore"
    flags = [argument for argument in arguments if argument.startswith("-") and "=" not in argument]
    overrides = [argument for argument in arguments if argument not in flags]
    return subprocess.run(
        [sys.executable, "-m", "runner", *flags, f"hydra.searchpath=[file://{folder / 'conf'}]", *overrides],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def run_dirs(folder: Path) -> list[Path]:
    return sorted(path.parent for path in (folder / "outputs" / "runs").glob("*/*/metrics.json"))


def assert_one_line_error(result, *fragments):
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# --------------------------------------------------------------------------------------------
# A detector without pred_probs, with relabel; what ran is on record


def test_a_plugin_detector_without_pred_probs_runs_with_relabel_and_is_on_record(folder):
    result = cleanrun(folder, "detection=mine", "strategy=relabel", *QUICK)
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = run_dirs(folder)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["detection_option"] == "mine" and metrics["detection_target"] == "my_detectors.Mine"
    assert metrics["strategy_option"] == "relabel" and metrics["strategy_target"] == "runner.strategies.Relabel"
    assert metrics["dataset_option"] == "iris" and metrics["dataset_target"] == "runner.datasets.load_sklearn"
    assert metrics["classifier_option"] == "logistic_regression"
    assert metrics["cv_option"] == "stratified" and "cv_target" not in metrics  # cv names no callable
    assert "filter_by" not in metrics
    issues = pd.read_csv(run / "label_issues.csv")
    assert metrics["n_label_issues"] == issues["is_label_issue"].sum() > 0
    text = result.stdout + result.stderr
    assert "iris · logistic_regression · mine → relabel · seed 0" in text, text
    assert "detection=mine <my_detectors.Mine>" in text and "strategy=relabel <runner.strategies.Relabel>" in text


# --------------------------------------------------------------------------------------------
# Resume sees a plugin's code


def test_resume_reruns_the_jobs_whose_plugin_file_changed(folder):
    first = cleanrun(folder, "-m", "strategy=mine,none", *QUICK, *NO_REPORT)
    assert first.returncode == 0, first.stdout + first.stderr
    (sweep,) = (folder / "outputs" / "multirun").glob("*/*")
    jobs = {
        yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())[0]: job
        for job in sweep.iterdir()
        if (job / ".hydra").is_dir()
    }
    mine, none = jobs["strategy=mine"], jobs["strategy=none"]
    weights = pd.read_csv(mine / "label_issues.csv")["sample_weight"]
    assert set(weights) == {0.5, 1.0}

    again = cleanrun(folder, "-m", "strategy=mine,none", *QUICK, *NO_REPORT, f"resume={sweep}")
    assert again.returncode == 0, again.stdout + again.stderr
    assert (again.stdout + again.stderr).count("skipped (resume)") == 2  # nothing changed: nothing reruns

    source = folder / "my_strategies.py"
    source.write_text(source.read_text().replace("WEIGHT = 0.5", "WEIGHT = 0.25"))
    edited = cleanrun(folder, "-m", "strategy=mine,none", *QUICK, *NO_REPORT, f"resume={sweep}")
    assert edited.returncode == 0, edited.stdout + edited.stderr
    output = edited.stdout + edited.stderr
    assert output.count("skipped (resume)") == 1, output
    assert f"job {none.name} is already done" in output
    assert set(pd.read_csv(mine / "label_issues.csv")["sample_weight"]) == {0.25, 1.0}


def test_the_digest_counts_no_source_of_cleanruns_own_options():
    """Only files outside installed code count: a config of cleanrun's options keeps the digest it had,
    so sweeps recorded before plugin sources counted are not rerun by ``resume=``."""
    conf = Path(__file__).resolve().parents[1] / "conf"
    groups = ["dataset", "noise", "classifier", "cv", "detection", "strategy", "method"]
    options = [f"{group}={path.stem}" for group in groups for path in sorted((conf / group).glob("*.yaml"))]
    for option in options:
        if option.startswith("dataset=") and option not in ("dataset=iris", "dataset=csv", "dataset=synthetic"):
            continue  # the packaged sets name the same loaders
        config = OmegaConf.to_container(
            compose_config([option, "dataset.path=x.csv"] if option == "dataset=csv" else [option]), resolve=False
        )
        assert target_sources(config) == {}, option


# --------------------------------------------------------------------------------------------
# Errors name the option


def test_a_broken_strategy_is_named_by_its_option(folder):
    assert_one_line_error(
        cleanrun(folder, "strategy=broken", *QUICK), "strategy=broken returned labels outside the classes 0..2"
    )


def test_out_of_range_scores_name_the_detector_option_how_many_and_which(folder):
    assert_one_line_error(
        cleanrun(folder, "detection=bad_scores", *QUICK),
        "detection=bad_scores returned 3 of 112 label_quality scores outside [0, 1] (or NaN), e.g. -1, 2, nan",
    )


def test_an_invalid_dataset_is_blamed_on_the_loader_option(folder):
    assert_one_line_error(
        cleanrun(folder, "dataset=bad_labels", "cv.folds=3", "cache_dir=null"),
        "dataset=bad_labels (my_loaders.bad_labels) returned an invalid Dataset",
        "y_train must lie in 0..1",
    )


def test_nan_features_are_refused_before_any_fit_naming_the_loader_option_and_the_column(folder):
    result = cleanrun(folder, "dataset=holes", "cv.folds=3", "cache_dir=null")
    line = assert_one_line_error(
        result, "dataset=holes (my_loaders.holes) returned an invalid Dataset", "'x1'", "2 NaN value(s)"
    )
    assert "fold" not in result.stdout and "Instantiating classifier" not in result.stdout, line


# --------------------------------------------------------------------------------------------
# Sweep reports: refuse what is no sweep; one schema; counts as integers


def report(directory: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "runner.report", str(directory)], capture_output=True, text=True, timeout=120
    )


def test_the_report_refuses_a_directory_that_is_no_sweep_in_one_line_and_writes_nothing(tmp_path):
    single = tmp_path / "outputs" / "2026-01-01" / "12-00-00"
    (single / ".hydra").mkdir(parents=True)
    (single / "metrics.json").write_text(json.dumps({"dataset": "iris", "n_label_issues": 3}))
    before = sorted(tmp_path.rglob("*"))
    result = report(single)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not a sweep directory" in lines[0] and str(single) in lines[0], result.stderr
    assert sorted(tmp_path.rglob("*")) == before


def fake_sweep(directory: Path, overrides: list[list[str]]) -> Path:
    """A sweep directory with one done job per override list; metrics as a run writes them."""
    for number, job_overrides in enumerate(overrides):
        job = directory / str(number)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(job_overrides))
        values = dict(override.split("=") for override in job_overrides)
        metrics = {
            "dataset": "iris",
            "classifier": "logistic_regression",
            "strategy": values.get("strategy", "remove"),
            "strategy_option": values.get("strategy", "remove"),
            "seed": int(values.get("seed", 0)),
            "n_train": 112,
            "n_label_issues": 150,
            "test_accuracy": 0.9 + 0.01 * number,
            "baseline_test_accuracy": 0.88,
        }
        (job / "metrics.json").write_text(json.dumps(metrics))
    return directory


def test_summary_has_one_metric_schema_whatever_was_swept_and_counts_print_as_integers(tmp_path):
    strategies = fake_sweep(tmp_path / "strategies", [["strategy=remove"], ["strategy=none"]])
    seeds = fake_sweep(tmp_path / "seeds", [["seed=0"], ["seed=1"]])
    columns = {}
    for sweep in (strategies, seeds):
        result = report(sweep)
        assert result.returncode == 0, result.stderr
        header = (sweep / "summary.csv").read_text().splitlines()[0].split(",")
        assert len(header) == len(set(header)), header  # overrides and metrics never share a name
        status = header.index("status")
        columns[sweep.name] = (header[1:status], header[status + 2 :])
    assert columns["strategies"][0] == ["strategy"] and columns["seeds"][0] == ["seed"]
    assert columns["strategies"][1] == columns["seeds"][1]  # the same metric columns
    assert {"dataset_metric", "classifier_metric", "strategy_metric", "seed_metric"} <= set(columns["seeds"][1])
    summary = pd.read_csv(seeds / "summary.csv")
    np.testing.assert_array_equal(summary["seed_metric"], [0, 1])
    text = (seeds / "report.md").read_text()
    assert "150.000" not in text
    row = next(line for line in text.splitlines() if line.startswith("|") and "0.905" in line)
    assert "| 150 |" in row, row
