"""Plugins: the contracts, their referees, and out-of-tree plugins found by the Hydra app.

* every built-in plugin follows its contract (``runner.contracts``), and the example package's do;
* a strategy or detector that breaks its contract is refused with an error naming it and the breach;
* the example plugin package (``examples/cleanrun-example-plugin``) reaches the config groups
  through its Hydra ``SearchPathPlugin``: ``glob(*)`` sweeps and ``--help`` see its options; a
  plain folder reaches them through ``hydra.searchpath``; both in multiruns;
* (slow) the example installs into a fresh virtual environment with ``pip install -e`` and a
  ``glob(*)`` sweep runs its strategy.

The Hydra runs happen in subprocesses, so that the example never joins this process's
``hydra_plugins`` namespace (Hydra scans it once per process).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import os
import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from omegaconf import OmegaConf
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from sklearn.preprocessing import StandardScaler

from runner import CleanLearning
from runner.contracts import (
    DatasetLoader,
    Detection,
    Detector,
    Strategy,
    TrainingSet,
    check_dataset,
    check_detection,
    check_training_set,
)
from runner.detection import ConfidentLearning
from runner.run.app import run
from runner.run.config import SOURCE_CONF
from runner.strategies import BUILT_IN, get_strategy
from runner.sweep.collect import collect
from tests.helpers import FILTER_METHODS, compose_config

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "cleanrun-example-plugin"
EXAMPLE_SRC = EXAMPLE / "src"
EXAMPLE_CONF = EXAMPLE_SRC / "cleanrun_example" / "conf"
EXAMPLE_OPTIONS = {"strategy": "down_weight", "detection": "below_threshold", "dataset": "moons"}
# Groups of cleanrun's own conf/ whose options --help must list.
APP_GROUPS = sorted(p.name for p in SOURCE_CONF.iterdir() if p.is_dir() and p.name != "hydra" and any(p.glob("*.yaml")))


def yaml_options(conf: Path, group: str) -> dict:
    """``{option: its YAML as a dict}`` of one config group folder."""
    return {path.stem: yaml.safe_load(path.read_text()) for path in sorted((conf / group).glob("*.yaml"))}


def target(dotted: str):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


@contextlib.contextmanager
def example_importable():
    """Make ``cleanrun_example`` importable for the block (its modules stay imported afterwards)."""
    sys.path.insert(0, str(EXAMPLE_SRC))
    try:
        yield
    finally:
        sys.path.remove(str(EXAMPLE_SRC))


@pytest.fixture(scope="module")
def example():
    """The example's Python modules, imported without leaving its ``hydra_plugins`` on sys.path."""
    with example_importable():
        return {
            name: importlib.import_module(f"cleanrun_example.{name}")
            for name in ("strategies", "detectors", "datasets")
        }


@pytest.fixture(scope="module")
def wine_case():
    """``(labels, pred_probs, X)``: wine with 20% flipped labels and out-of-fold probabilities."""
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    rng = np.random.default_rng(0)
    flip = rng.random(len(y)) < 0.2
    labels = np.where(flip, (y + rng.integers(1, 3, len(y))) % 3, y)
    pred_probs = cross_val_predict(LogisticRegression(), X, labels, cv=3, method="predict_proba")
    return labels, pred_probs, X


# --------------------------------------------------------------------------------------------
# Every plugin we ship follows its contract


def test_every_built_in_strategy_and_detector_follows_the_protocol():
    for name, cls in BUILT_IN.items():
        assert isinstance(cls(), Strategy), name
        assert get_strategy(cls()) is not None
    assert isinstance(ConfidentLearning(), Detector)


@pytest.mark.parametrize("conf", [SOURCE_CONF, EXAMPLE_CONF], ids=["cleanrun", "example"])
def test_every_option_targets_a_plugin_that_follows_its_contract(conf):
    with example_importable():
        for option, node in yaml_options(conf, "strategy").items():
            strategy = target(node["_target_"])(**{k: v for k, v in node.items() if not k.startswith("_")})
            assert get_strategy(strategy) is strategy, option
        for option, node in yaml_options(conf, "detection").items():
            assert callable(getattr(target(node["_target_"]), "detect", None)), option
        for option, node in yaml_options(conf, "dataset").items():
            loader = target(node["_target_"])
            assert isinstance(loader, DatasetLoader), option
            parameters = inspect.signature(loader).parameters
            assert "seed" in parameters, option
            assert node.get("seed") == "${seed}", f"{option}: the split must follow the run's seed"
            assert set(node) - {"_target_", "_convert_"} <= set(parameters), option


@pytest.mark.parametrize("filter_by", FILTER_METHODS)
@pytest.mark.parametrize("rank_by", ["self_confidence", "normalized_margin", "confidence_weighted_entropy"])
def test_confident_learning_passes_the_detector_referee(wine_case, filter_by, rank_by):
    labels, pred_probs, _ = wine_case
    detection = ConfidentLearning(filter_by=filter_by, rank_by=rank_by).detect(labels, pred_probs)
    assert check_detection(detection, len(labels), 3, "ConfidentLearning") is detection


def test_the_example_plugins_do_what_they_say(example, wine_case):
    labels, pred_probs, _ = wine_case
    detection = example["detectors"].BelowThreshold(threshold=0.3).detect(labels, pred_probs)
    check_detection(detection, len(labels), 3, "BelowThreshold")
    self_confidence = pred_probs[np.arange(len(labels)), labels]
    np.testing.assert_array_equal(detection.label_issues, self_confidence < 0.3)
    assert 0 < detection.label_issues.sum() < len(labels)

    DownWeight = example["strategies"].DownWeight
    result = check_training_set(DownWeight(fraction=0.4).select(detection, labels), labels, 3, "down_weight")
    np.testing.assert_array_equal(result.sample_weight, np.where(detection.label_issues, 0.4, 1.0))
    caller = np.linspace(0.5, 1.5, len(labels))
    np.testing.assert_allclose(
        DownWeight(fraction=0.4).select(detection, labels, caller).sample_weight, caller * result.sample_weight
    )
    with pytest.raises(ValueError, match="fraction must lie in"):
        DownWeight(fraction=1.5)

    moons = example["datasets"].load_moons(n_samples=200, seed=3)
    assert check_dataset(moons, "load_moons") is moons
    assert moons.n_classes == 2 and len(moons.y_train) == 150
    np.testing.assert_array_equal(moons.X_train, example["datasets"].load_moons(n_samples=200, seed=3).X_train)


# --------------------------------------------------------------------------------------------
# A strategy that breaks the contract is named, with what it broke

GIVEN = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
ALL = np.arange(10)

BROKEN_RESULTS = {
    "not a TrainingSet": ((ALL, GIVEN, None), TypeError, r"must return a runner\.strategies\.TrainingSet.*got tuple"),
    "labels too short": (TrainingSet(ALL, GIVEN[:9]), ValueError, r"returned 9 labels for 10 rows"),
    "weights too long": (TrainingSet(ALL, GIVEN, np.ones(11)), ValueError, r"returned 11 sample weights for 10 rows"),
    "negative weight": (TrainingSet(ALL, GIVEN, -np.ones(10)), ValueError, r"negative, NaN or infinite sample weights"),
    "NaN weight": (TrainingSet(ALL, GIVEN, np.r_[np.nan, np.ones(9)]), ValueError, r"negative, NaN or infinite"),
    "infinite weight": (TrainingSet(ALL, GIVEN, np.r_[np.inf, np.ones(9)]), ValueError, r"negative, NaN or infinite"),
    "weights not numbers": (TrainingSet(ALL, GIVEN, ["heavy"] * 10), ValueError, r"weights that are not numbers"),
    "label outside the classes": (TrainingSet(ALL, GIVEN + 1), ValueError, r"labels outside the classes 0\.\.2"),
    "negative label": (TrainingSet(ALL, GIVEN - 1), ValueError, r"labels outside the classes 0\.\.2"),
    "float labels": (TrainingSet(ALL, GIVEN.astype(float)), ValueError, r"labels of dtype float64, not integer codes"),
    "a mask for rows": (TrainingSet(GIVEN > 0, GIVEN[GIVEN > 0]), ValueError, r"not indices.*np\.flatnonzero\(mask\)"),
    "row out of range": (TrainingSet(ALL + 1, GIVEN), ValueError, r"rows that are not indices into the 10 examples"),
    "class removed": (TrainingSet(ALL[3:], GIVEN[3:]), ValueError, r"left classes \[0\] with no training examples"),
    "class weighted away": (TrainingSet(ALL, GIVEN, (GIVEN != 2).astype(float)), ValueError, r"left classes \[2\]"),
}


@pytest.mark.parametrize("breach", BROKEN_RESULTS)
def test_the_strategy_referee_names_the_plugin_and_the_breach(breach):
    result, error, message = BROKEN_RESULTS[breach]
    with pytest.raises(error, match=rf"^strategy MyStrategy .*{message}"):
        check_training_set(result, GIVEN, 3, "MyStrategy")


def test_the_callers_negative_weights_pass_the_strategy_referee_only_when_allowed():
    weights = np.r_[-1.0, np.ones(9)]
    with pytest.raises(ValueError, match="negative"):
        check_training_set(TrainingSet(ALL, GIVEN, weights), GIVEN, 3, "remove")
    result = check_training_set(TrainingSet(ALL, GIVEN, weights), GIVEN, 3, "remove", allow_negative_weights=True)
    np.testing.assert_array_equal(result.sample_weight, weights)
    with pytest.raises(ValueError, match=r"left classes \[2\]"):  # a class of zero weights stays refused
        check_training_set(
            TrainingSet(ALL, GIVEN, np.where(GIVEN == 2, 0.0, -1.0)), GIVEN, 3, "remove", allow_negative_weights=True
        )


def test_a_valid_result_passes_the_strategy_referee():
    # Repeated rows (resampling) and zero weights that leave every class some weight are allowed.
    rows = np.r_[ALL, 0, 3]
    result = check_training_set(TrainingSet(rows, GIVEN[rows], np.r_[np.zeros(3), np.ones(9)]), GIVEN, 3, "ok")
    assert result.sample_weight.dtype == np.float64 and len(result.rows) == 12


def test_cleanlearning_refuses_a_broken_strategy_by_name(wine_case):
    labels, pred_probs, X = wine_case

    class NaNWeights:
        requires_sample_weight = True

        def select(self, detection, labels, sample_weight=None):
            return TrainingSet(np.arange(len(labels)), labels, np.full(len(labels), np.nan))

    with pytest.raises(ValueError, match=r"strategy NaNWeights returned negative, NaN or infinite sample weights"):
        CleanLearning(LogisticRegression(), strategy=NaNWeights()).fit(X, labels, pred_probs=pred_probs)


@pytest.mark.parametrize(
    "strategy, message",
    [
        (type("NoSelect", (), {"requires_sample_weight": False})(), r"strategy NoSelect needs a select\("),
        (type("NoFlag", (), {"select": lambda self, *args: None})(), r"NoFlag needs a class attribute requires_sample"),
    ],
    ids=["no select", "no requires_sample_weight"],
)
def test_a_strategy_object_without_the_contracts_members_is_refused(strategy, message):
    with pytest.raises(TypeError, match=message):
        get_strategy(strategy)


# --------------------------------------------------------------------------------------------
# A detector that breaks the contract is named, with what it broke

N, K = 6, 3
MASK = np.array([True, False, False, True, False, False])
SCORES = np.linspace(0.1, 0.9, N)
PROBS = np.full((N, K), 1 / K)
NOISE = np.full((K, K), 1 / K)

BROKEN_DETECTIONS = {
    "not a Detection": ({"label_issues": MASK}, TypeError, r"must return a runner\.detection\.Detection, got dict"),
    "integer mask": (Detection(MASK.astype(int)), TypeError, r"label_issues of dtype int64; it must be a boolean mask"),
    "mask too short": (Detection(MASK[:5]), ValueError, r"label_issues of shape \(5,\), not \(6,\)"),
    "2-D mask": (Detection(MASK[:, None]), ValueError, r"label_issues of shape \(6, 1\), not \(6,\)"),
    "scores too long": (Detection(MASK, np.r_[SCORES, 0.5]), ValueError, r"label_quality of shape \(7,\), not \(6,\)"),
    "NaN score": (Detection(MASK, np.r_[np.nan, SCORES[1:]]), ValueError, r"label_quality scores outside \[0, 1\]"),
    "score above 1": (Detection(MASK, SCORES * 2), ValueError, r"label_quality scores outside \[0, 1\]"),
    "scores not numbers": (Detection(MASK, ["low"] * N), ValueError, r"label_quality that is not an array of numbers"),
    "pred_probs of another K": (Detection(MASK, SCORES, PROBS[:, :2]), ValueError, r"pred_probs of shape \(6, 2\)"),
    "noise matrix of another K": (Detection(MASK, noise_matrix=np.eye(2)), ValueError, r"noise_matrix of shape \(2, 2"),
    "noise matrix not a distribution": (
        Detection(MASK, noise_matrix=NOISE * 2),
        ValueError,
        r"noise_matrix whose columns do not sum to 1",
    ),
    "negative inverse noise matrix": (
        Detection(MASK, inverse_noise_matrix=np.eye(K) * 2 - NOISE),
        ValueError,
        r"inverse_noise_matrix with negative",
    ),
    "NaN confident joint": (Detection(MASK, confident_joint=np.full((K, K), np.nan)), ValueError, r"confident_joint"),
    "py of another K": (Detection(MASK, py=np.ones(2) / 2), ValueError, r"py of shape \(2,\), not \(3,\)"),
}


@pytest.mark.parametrize("breach", BROKEN_DETECTIONS)
def test_the_detector_referee_names_the_plugin_and_the_breach(breach):
    detection, error, message = BROKEN_DETECTIONS[breach]
    with pytest.raises(error, match=rf"^detector MyDetector .*{message}"):
        check_detection(detection, N, K, "MyDetector")


def test_a_zero_column_passes_the_detector_referee_only_for_a_class_no_label_holds():
    labels = np.array([0, 0, 1, 1, 0, 1])  # class 2: no example
    noise = np.array([[0.9, 0.2, 0.0], [0.1, 0.8, 0.0], [0.0, 0.0, 0.0]])
    detection = Detection(MASK, noise_matrix=noise, inverse_noise_matrix=noise)
    assert check_detection(detection, N, K, "absent", labels=labels) is detection
    with pytest.raises(ValueError, match="columns do not sum to 1"):
        check_detection(detection, N, K, "absent")  # without the labels, no class is known to be absent
    with pytest.raises(ValueError, match="columns do not sum to 1"):
        check_detection(detection, N, K, "present", labels=np.array([0, 1, 2, 0, 1, 2]))


def test_a_minimal_detection_passes_the_detector_referee():
    # Only the mask is required.
    assert check_detection(Detection(MASK), N, K, "minimal").label_quality is None
    full = Detection(MASK, SCORES, PROBS, NOISE, NOISE, np.ones((K, K)), np.ones(K) / K)
    assert check_detection(full, N, K, "full") is full


def test_cleanlearning_refuses_a_broken_detector_by_name(wine_case):
    labels, pred_probs, X = wine_case

    class ZeroOneMask:
        def detect(self, labels, pred_probs):
            return Detection(label_issues=(pred_probs.argmax(axis=1) != labels).astype(int))

    with pytest.raises(TypeError, match=r"detector ZeroOneMask returned label_issues of dtype int64"):
        CleanLearning(LogisticRegression(), detector=ZeroOneMask()).fit(X, labels, pred_probs=pred_probs)


def load_a_dict(*, seed):
    """A loader that breaks the contract: a dict instead of a Dataset."""
    return {"X": np.zeros((4, 2)), "labels": np.array([0, 1, 0, 1]), "seed": seed}


def test_the_app_refuses_a_loader_that_returns_no_dataset(tmp_path):
    message = r"dataset loader tests\.test_plugins\.load_a_dict must return a runner\.datasets\.Dataset, got dict"
    with pytest.raises(TypeError, match=message):
        check_dataset(load_a_dict(seed=0), "tests.test_plugins.load_a_dict")
    cfg = compose_config(["cv.folds=3", "cache_dir=null"])
    cfg.dataset = OmegaConf.create({"_target_": "tests.test_plugins.load_a_dict", "seed": "${seed}"})
    with pytest.raises(TypeError, match=r"load_a_dict must return a runner\.datasets\.Dataset"):
        run(cfg, tmp_path)


# --------------------------------------------------------------------------------------------
# Out-of-tree plugins through the Hydra app (subprocesses)


def cleanrun(cwd, *arguments, python=sys.executable, pythonpath=None, timeout=300):
    """``python -m runner ARGUMENTS`` in ``cwd``; the example is importable only through ``pythonpath``."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "CLEANRUN_CACHE_DIR")}
    env["PYTHONWARNINGS"] = "ignore"
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    result = subprocess.run(
        [str(python), "-m", "runner", *arguments], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def jobs(cwd) -> pd.DataFrame:
    """One row per job of the sweep under ``cwd``: its overrides, status and metrics."""
    (directory,) = Path(cwd, "outputs", "multirun").glob("*/*")
    return collect(directory)


def job_dir(cwd, job) -> Path:
    (directory,) = Path(cwd, "outputs", "multirun").glob(f"*/*/{job}")
    return directory


def listed_options(help_text: str) -> dict:
    """``{group: [options]}`` from the ``group: a, b, c`` lines of ``--help``."""
    return {m[1]: m[2].split(", ") for m in re.finditer(r"^([a-z_]+): (\S.*)$", help_text, flags=re.MULTILINE)}


# Small and quick: no baseline fit, no pred_probs file, and no sweep report (its plots take
# seconds); the tests read the job directories with runner.sweep.collect.collect instead.
TINY_SWEEP = ["cv.folds=3", "compare_baseline=false", "save_pred_probs=false", "~hydra.callbacks.sweep_summary"]


def test_help_lists_every_option_of_every_group_and_how_to_add_one(tmp_path):
    text = cleanrun(tmp_path, "--help")
    listed = listed_options(text)
    for group in APP_GROUPS:
        assert listed[group] == sorted(yaml_options(SOURCE_CONF, group)), group
    assert "down_weight" not in listed["strategy"]  # the example is not installed here...
    assert "runner.contracts" in text and "hydra.searchpath" in text and "SearchPathPlugin" in text

    with_plugin = listed_options(cleanrun(tmp_path, "--help", pythonpath=EXAMPLE_SRC))
    for group, option in EXAMPLE_OPTIONS.items():  # ...and is listed once its package is on sys.path
        assert with_plugin[group] == sorted([*listed[group], option]), group


def test_a_plugin_package_joins_glob_sweeps(tmp_path):
    """The SearchPathPlugin puts the example's options in their groups: ``glob(*)`` runs them all.

    The example's dataset and detector run under every strategy, cleanrun's and the example's.
    """
    cleanrun(
        tmp_path,
        "-m",
        "dataset=moons",
        "dataset.n_samples=300",
        "detection=below_threshold",
        "strategy=glob(*)",
        *TINY_SWEEP,
        f"cache_dir={tmp_path / 'cache'}",
        pythonpath=EXAMPLE_SRC,
    )
    sweep = jobs(tmp_path)
    assert sorted(sweep["strategy"]) == sorted([*yaml_options(SOURCE_CONF, "strategy"), "down_weight"])
    assert set(sweep["status"]) == {"done"}, sweep[["strategy", "status", "error"]]
    assert set(sweep["dataset_metric"]) == {"moons"} and set(sweep["n_train"]) == {225}
    assert list(sweep["cv_cache_hit"]).count(False) == 1  # the strategies shared one cross-validation

    down_weight = sweep.loc[sweep["strategy"] == "down_weight", "job"].item()
    issues = pd.read_csv(job_dir(tmp_path, down_weight) / "label_issues.csv")
    flagged = issues["is_label_issue"]
    assert 0 < flagged.sum() and (issues.loc[flagged, "label_quality"] < 0.2).all()  # BelowThreshold flagged them
    np.testing.assert_array_equal(issues["sample_weight"], np.where(flagged, 0.25, 1.0))  # DownWeight weighted them


def test_a_plugin_in_a_plain_folder_through_hydra_searchpath(tmp_path):
    """One Python file and one YAML file in the researcher's folder, run from there, in a multirun."""
    folder = tmp_path / "research"
    (folder / "conf" / "strategy").mkdir(parents=True)
    shutil.copy(EXAMPLE_SRC / "cleanrun_example" / "strategies.py", folder / "my_strategy.py")
    (folder / "conf" / "strategy" / "mine.yaml").write_text("_target_: my_strategy.DownWeight\nfraction: 0.5\n")
    cleanrun(
        folder,
        "-m",
        f"hydra.searchpath=[file://{folder / 'conf'}]",
        "strategy=mine,none",
        "dataset=iris",
        *TINY_SWEEP,
        "cache_dir=null",
    )
    sweep = jobs(folder).set_index("strategy")
    assert set(sweep["status"]) == {"done"}, sweep[["status", "error"]]
    mine = job_dir(folder, sweep.loc["mine", "job"])
    issues = pd.read_csv(mine / "label_issues.csv")
    assert issues["is_label_issue"].any()
    np.testing.assert_array_equal(issues["sample_weight"], np.where(issues["is_label_issue"], 0.5, 1.0))
    assert json.loads((mine / "metrics.json").read_text())["strategy"] == "mine"


@pytest.mark.slow
def test_the_example_installs_into_a_fresh_venv_and_joins_a_glob_sweep(tmp_path):
    """What a researcher does: ``pip install -e`` their plugin package next to cleanrun, then sweep."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # The fresh venv sees this one's packages (cleanrun, hydra, ...; addsitedir also runs their
    # .pth files, which the editable install of cleanrun needs); nothing comes from the network.
    Path(purelib, "zz_cleanrun_test.pth").write_text(f"import site; site.addsitedir({site.getsitepackages()[0]!r})\n")
    package = shutil.copytree(EXAMPLE, tmp_path / "plugin", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PIP_NO_INDEX": "1"}
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-e", str(package)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, (
        installed.stdout + installed.stderr + "\n(pip install -e needs setuptools>=64 and wheel, or setuptools>=70.1)"
    )

    work = tmp_path / "work"
    work.mkdir()
    assert "down_weight" in listed_options(cleanrun(work, "--help", python=python))["strategy"]
    # The joblib launcher: the jobs run in worker processes of the fresh venv's interpreter.
    cleanrun(
        work,
        "-m",
        "strategy=glob(*)",
        "dataset=iris",
        *TINY_SWEEP,
        f"cache_dir={tmp_path / 'cache'}",
        "hydra/launcher=joblib",
        python=python,
    )
    sweep = jobs(work)
    assert sorted(sweep["strategy"]) == sorted([*yaml_options(SOURCE_CONF, "strategy"), "down_weight"])
    assert set(sweep["status"]) == {"done"}, sweep[["strategy", "status", "error"]]
