"""Tables shipped as data files inside Python packages (runner.datasets.package_tables): the loader and its options."""

import contextlib
import sqlite3

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from runner.datasets.package_tables import load_package_table, read_package_table
from tests.helpers import DATASET_CONF, check_packaged_option, dataset_options, load_dataset_option

PACKAGE_OPTIONS = dataset_options("package_tables")


@pytest.mark.parametrize("option", PACKAGE_OPTIONS)
def test_option_drops_the_columns_that_restate_the_label(option):
    config = OmegaConf.load(DATASET_CONF / f"{option}.yaml")
    pytest.importorskip(config.package)
    table = read_package_table(config.package, config.path, config.get("read_options"))
    check_packaged_option(config, table, load_dataset_option(option))


def test_a_table_loads_its_classes_and_rows_keep_their_position_in_the_packaged_file():
    pytest.importorskip("great_tables")
    dataset = load_dataset_option("nuclide_decay")
    # 20 decay modes in the file; the 7 with 20+ rows stay, the 278 nuclides without a mode (stable ones) go
    assert sorted(dataset.classes) == ["A", "B-", "EC", "EC+B+", "N", "P", "SF"]
    assert not {"nuclide", "element", "is_stable"} & set(dataset.feature_names)
    assert "z" in dataset.feature_names
    table = read_package_table("great_tables", "data/16-nuclides.csv")
    labels = table["decay_1"].astype(str).to_numpy()
    np.testing.assert_array_equal(labels[dataset.train_rows], dataset.classes[dataset.y_train].astype(str))
    np.testing.assert_array_equal(labels[dataset.test_rows], dataset.classes[dataset.y_test].astype(str))
    assert len(dataset.y_train) + len(dataset.y_test) == 3038


def test_large_table_is_cut_to_the_same_stratified_rows_for_every_seed():
    pytest.importorskip("river")
    first, second = load_dataset_option("shuttle_anomaly"), load_dataset_option("shuttle_anomaly", seed=1)
    assert len(first.y_train) + len(first.y_test) == 10_000
    rows = lambda d: np.sort(np.r_[d.train_rows, d.test_rows])  # noqa: E731
    np.testing.assert_array_equal(rows(first), rows(second))
    assert not np.array_equal(first.test_rows, second.test_rows)


def test_missing_package_file_and_column_are_named():
    with pytest.raises(ImportError, match=r"no_such_package.*datasets"):
        load_package_table(package="no_such_package", path="data/x.csv", label_column="y")
    pytest.importorskip("great_tables")
    with pytest.raises(FileNotFoundError, match="no_such_file"):
        load_package_table(package="great_tables", path="data/no_such_file.csv", label_column="y")
    with pytest.raises(ValueError, match=r"no column\(s\) \['nope'\]"):
        load_package_table(package="great_tables", path="data/16-nuclides.csv", label_column="nope")


def test_stata_pickle_and_sqlite_files_are_read_by_their_suffix(tmp_path, monkeypatch):
    import runner.datasets.package_tables as package_tables

    frame = pd.DataFrame({"kind": ["a", "b", "a"], "size": [1.0, 2.0, 3.0]})
    frame.to_stata(tmp_path / "table.dta", write_index=False)
    frame.to_pickle(tmp_path / "table.pickle")
    with contextlib.closing(sqlite3.connect(tmp_path / "table.db")) as connection:
        frame.to_sql("things", connection, index=False)
    pd.Series([1, 2]).to_pickle(tmp_path / "series.pkl")
    monkeypatch.setattr(package_tables, "_packaged_file", lambda package, *parts, dataset: tmp_path.joinpath(*parts))
    for path, options in [("table.dta", None), ("table.pickle", None), ("table.db", {"table": "things"})]:
        pd.testing.assert_frame_equal(read_package_table("pkg", path, options), frame, check_dtype=False)
    with pytest.raises(ValueError, match="must name its 'table'"):
        read_package_table("pkg", "table.db")
    with pytest.raises(ValueError, match=r"no table 'nope'; tables: \['things'\]"):
        read_package_table("pkg", "table.db", {"table": "nope"})
    with pytest.raises(ValueError, match="holds a Series"):
        read_package_table("pkg", "series.pkl")


def test_nested_read_options_reach_the_reader_as_plain_containers():
    # OmegaConf hands the YAML's na_values: {Vac: ["0"]} over as its own containers, which read_csv ignores
    pytest.importorskip("pvlib")
    config = OmegaConf.load(DATASET_CONF / "pv_inverter_voltage.yaml")
    table = read_package_table(config.package, config.path, config.read_options)
    assert table["Vac"].isna().sum() == 288 and "0" not in set(table["Vac"].dropna().astype(str))
