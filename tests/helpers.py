"""Helpers shared by the tests: inputs with known structure, the reference's method names, and ways to
run cleanrun (a composed config, the command line, a sweep) and find what it wrote.

``make_pred_probs`` draws true labels, softmax probabilities that favour the true class and
given labels with a fraction flipped uniformly to another class — the setting confident
learning is built for. Variants add the hard parts: exact ties, classes the model never
predicts, classes nobody is labelled with, heavy imbalance.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from runner.confident.noise import generate_noise_matrix_from_trace, generate_noisy_labels
from runner.datasets import Dataset
from runner.datasets.corrupt import matrix_noise
from runner.detection import Detection
from runner.run.config import SOURCE_CONF

# The reference's method names, one list for every test that goes through them.
PY_METHODS = ["cnt", "eqn", "marginal", "marginal_ps"]
PRUNE_METHODS = ["prune_by_noise_rate", "prune_by_class", "both"]
FILTER_METHODS = PRUNE_METHODS + [
    "confident_learning",
    "predicted_neq_given",
    "low_normalized_margin",
    "low_self_confidence",
]
RANK_METHODS = ["self_confidence", "normalized_margin", "confidence_weighted_entropy"]

#: The dataset options' folder (conf/dataset).
DATASET_CONF = SOURCE_CONF / "dataset"


def dataset_options(loader: str) -> list[str]:
    """The options in conf/dataset/ whose ``_target_`` is in module ``loader`` (e.g. ``"rdatasets_tables"``)."""
    return sorted(path.stem for path in DATASET_CONF.glob("*.yaml") if loader in OmegaConf.load(path)._target_)


def load_dataset_option(option: str, **overrides):
    """Instantiate conf/dataset/<option>.yaml with seed 0 and the given overrides."""
    config = OmegaConf.merge({"seed": 0}, {"dataset": OmegaConf.load(DATASET_CONF / f"{option}.yaml")})
    for key, value in overrides.items():
        config.dataset[key] = value
    return instantiate(config.dataset)


def make_pred_probs(
    n_samples: int,
    n_classes: int,
    *,
    seed: int = 0,
    dtype=np.float64,
    noise_rate: float = 0.2,
    signal: float = 2.3,
    class_weights=None,
    decimals: int | None = None,
):
    """Return ``(labels, pred_probs, true_labels)``.

    ``decimals`` rounds the probabilities (then renormalises), which creates many exact ties.
    """
    rng = np.random.default_rng(seed)
    true_labels = rng.choice(n_classes, size=n_samples, p=class_weights)
    logits = rng.normal(size=(n_samples, n_classes))
    logits[np.arange(n_samples), true_labels] += signal
    pred_probs = np.exp(logits)
    pred_probs /= pred_probs.sum(axis=1, keepdims=True)
    if decimals is not None:
        pred_probs = np.round(pred_probs, decimals) + 10.0**-decimals / 100
        pred_probs /= pred_probs.sum(axis=1, keepdims=True)
    labels = true_labels.copy()
    flip = rng.random(n_samples) < noise_rate
    labels[flip] = (labels[flip] + rng.integers(1, n_classes, flip.sum())) % n_classes
    return labels, pred_probs.astype(dtype), true_labels


def with_duplicated_rows(labels, pred_probs, seed=0):
    """Copy every row of a random half onto another row: exact ties in every score."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    src = rng.integers(0, n, n // 2)
    dst = rng.permutation(n)[: n // 2]
    labels, pred_probs = labels.copy(), pred_probs.copy()
    labels[dst], pred_probs[dst] = labels[src], pred_probs[src]
    return labels, pred_probs


def never_predicted(labels, pred_probs, klass):
    """Shrink one column so that the model never predicts (nor trusts) that class."""
    pred_probs = pred_probs.copy()
    pred_probs[:, klass] *= 0.01
    pred_probs /= pred_probs.sum(axis=1, keepdims=True)
    return labels, pred_probs


def without_class(labels, pred_probs, klass):
    """Relabel every example of ``klass``: a column of pred_probs nobody is labelled with."""
    labels = labels.copy()
    labels[labels == klass] = (klass + 1) % pred_probs.shape[1]
    return labels, pred_probs


def with_rare_classes(labels, sizes):
    """Keep only the first ``sizes[k]`` examples of each class k; the others join the next class.

    Classes with fewer examples than cross-validation folds (``{3: 1}``: a singleton class).
    """
    labels = labels.copy()
    n_classes = labels.max() + 1
    for klass, size in sizes.items():
        rows = np.flatnonzero(labels == klass)[size:]
        labels[rows] = (klass + 1) % n_classes
    return labels


def synthetic_cases():
    """``{name: (labels, pred_probs)}`` covering sizes, dtypes, ties and awkward classes."""
    cases = {}
    for n_classes in (2, 3, 10, 50):
        for n_samples in (50, 1000, 20000):
            for dtype in (np.float32, np.float64):
                for seed in range(3):
                    labels, pred_probs, _ = make_pred_probs(n_samples, n_classes, seed=seed, dtype=dtype)
                    if len(np.unique(labels)) < 2:
                        continue
                    cases[f"random-K{n_classes}-N{n_samples}-{dtype.__name__}-s{seed}"] = (
                        labels,
                        pred_probs,
                    )
    for dtype in (np.float32, np.float64):
        name = dtype.__name__
        for n_classes, decimals in ((3, 1), (10, 2), (4, 2)):
            labels, pred_probs, _ = make_pred_probs(3000, n_classes, seed=7, dtype=dtype, decimals=decimals)
            cases[f"ties-rounded-K{n_classes}-d{decimals}-{name}"] = (labels, pred_probs)
        labels, pred_probs, _ = make_pred_probs(3000, 5, seed=8, dtype=dtype)
        cases[f"ties-duplicated-{name}"] = with_duplicated_rows(labels, pred_probs)
        labels, pred_probs, _ = make_pred_probs(2000, 6, seed=9, dtype=dtype)
        cases[f"never-predicted-{name}"] = never_predicted(labels, pred_probs, 5)
        cases[f"absent-class-{name}"] = without_class(labels, pred_probs, 2)
        labels, pred_probs, _ = make_pred_probs(
            4000, 5, seed=10, dtype=dtype, class_weights=[0.85, 0.1, 0.035, 0.0125, 0.0025]
        )
        cases[f"imbalanced-{name}"] = (labels, pred_probs)
        labels, pred_probs, _ = make_pred_probs(3000, 4, seed=11, dtype=dtype, noise_rate=0.45, signal=0.8)
        cases[f"heavy-noise-{name}"] = (labels, pred_probs)
    labels, pred_probs, _ = make_pred_probs(100_000, 10, seed=12, dtype=np.float32)
    cases["large-K10-N100000-float32"] = (labels, pred_probs)
    labels, pred_probs, _ = make_pred_probs(100_000, 3, seed=13, dtype=np.float64, decimals=3)
    cases["large-K3-N100000-float64-ties"] = (labels, pred_probs)
    return cases


def noisy_dataset(n_samples, n_classes, seed, *, trace_frac=0.75, signal=3.0, dtype=np.float64):
    """``(labels, pred_probs, true_labels, noise_matrix)`` with labels corrupted by a known matrix.

    ``noise_matrix[i, j] = P(given = i | true = j)`` has trace ``trace_frac * K`` and every
    diagonal entry >= 0.5, so each class keeps most of its examples.
    """
    _, pred_probs, true_labels = make_pred_probs(
        n_samples, n_classes, seed=seed, noise_rate=0.0, signal=signal, dtype=dtype
    )
    py = np.bincount(true_labels, minlength=n_classes) / n_samples
    noise_matrix = generate_noise_matrix_from_trace(
        n_classes, trace_frac * n_classes, py=py, min_trace_prob=0.5, seed=seed
    )
    labels = generate_noisy_labels(true_labels, noise_matrix, seed=seed)
    return labels, pred_probs, true_labels, noise_matrix


def compose_config(overrides, return_hydra_config=False):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(SOURCE_CONF), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=return_hydra_config)


RUN_SPECIFIC = ("time_", "cv_cache_hit")  # metrics that may differ between identical runs


def cleanrun(cwd, *overrides, config_path=None, timeout=300):
    command = [sys.executable, "-m", "runner"]
    if config_path is not None:
        command += ["--config-path", str(config_path), "--config-name", "config"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("CLEANRUN_CACHE_DIR", None)
    return subprocess.run([*command, *overrides], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def run_dirs(cwd):
    return sorted(path.parent for path in Path(cwd, "outputs", "runs").glob("*/*/.hydra"))


def sweep(cwd, *overrides, wait=True, timeout=600, program=("-m", "runner")):
    command = [sys.executable, *program, "-m", *overrides]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("CLEANRUN_CACHE_DIR", None)
    if not wait:
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def sweep_dir(cwd) -> Path:
    (directory,) = Path(cwd, "outputs", "multirun").glob("*/*")
    return directory


def check_dataset(ds, *, dtype=np.float32):
    """The contract every loader must meet."""
    assert isinstance(ds, Dataset)
    assert ds.X_train.ndim == ds.X_test.ndim == 2
    assert ds.X_train.dtype == ds.X_test.dtype == dtype
    assert ds.X_train.shape[1] == ds.X_test.shape[1] == len(ds.feature_names) == ds.n_features
    assert all(isinstance(f, str) for f in ds.feature_names)
    assert len(set(ds.feature_names)) == len(ds.feature_names)
    assert ds.y_train.dtype == ds.y_test.dtype == np.int64
    assert ds.X_train.shape[0] == ds.y_train.shape[0] > 0
    assert ds.X_test.shape[0] == ds.y_test.shape[0] > 0
    assert ds.classes.ndim == 1 and ds.n_classes == ds.classes.size >= 2
    assert ds.y_train.min() >= 0 and ds.y_test.min() >= 0
    assert ds.y_train.max() < ds.n_classes and ds.y_test.max() < ds.n_classes
    assert (np.bincount(ds.y_train, minlength=ds.n_classes) > 0).all()
    assert np.isfinite(ds.X_train).all() and np.isfinite(ds.X_test).all()
    assert len(ds.classes[ds.y_train]) == len(ds.y_train)
    assert ds.name in repr(ds)


def noisy_digits(seed=0, rate=0.3, n=900):
    """The first ``n`` digits, standardized, with matrix noise: ``(X, noisy labels, true labels)``."""
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X[:n])
    return X, matrix_noise(y[:n], 10, rate=rate, seed=seed).labels, y[:n]


def digits_dataset(y_train, y_test, X):
    """A Dataset of the digits features ``X``: the first 600 rows train, the rest test."""
    return Dataset(
        X_train=X[:600],
        y_train=y_train,
        X_test=X[600:],
        y_test=y_test,
        classes=np.arange(10),
        feature_names=[f"f{i}" for i in range(64)],
        name="digits",
    )


class ZerosAreOnes:
    """A bad detector: every row labelled 0 but 12 (all correct, in this test) is "really" a 1."""

    def detect(self, labels, pred_probs):
        flagged = labels == 0
        flagged[np.flatnonzero(flagged)[:12]] = False
        suggested = pred_probs.copy()
        suggested[flagged] = np.eye(pred_probs.shape[1])[1]
        return Detection(label_issues=flagged, pred_probs=suggested)


def check_packaged_option(config, table, dataset) -> None:
    """A packaged table's option loaded as configured: no label or dropped column among the features (nor one-hot
    columns of them), every class with at least ``min_class_rows`` rows, and at most ``max_rows`` rows."""
    check_dataset(dataset)
    assert config.label_column not in dataset.feature_names
    for column in config.drop_columns:
        # a kept column may share a dropped one's prefix (hotel_customer: arrival_date_num, arrival_date dropped)
        one_hot = {f"{column}_{level}" for level in [*table[column].astype(str).unique(), "nan", "infrequent_sklearn"]}
        assert not any(name == column or name in one_hot for name in dataset.feature_names)
    counts = np.bincount(np.r_[dataset.y_train, dataset.y_test])
    assert counts.min() >= config.min_class_rows
    if config.max_rows is not None:
        assert counts.sum() <= config.max_rows
