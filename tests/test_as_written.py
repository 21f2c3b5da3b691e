"""Your file, as written: cell-exact cleaned tables, labels read as written, a run that owns its directory."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.datasets import make_blobs

from runner import CleanLearning
from runner.common import atomic
from runner.datasets import cleaned as cleaned_module
from runner.datasets import load_table
from runner.datasets.cleaned import Cleaning, write_cleaned_table
from runner.datasets.dataset import InvalidDataset
from runner.datasets.files import RESERVED_COLUMNS
from runner.datasets.given import match_pred_probs, read_pred_probs
from runner.run import artifacts
from runner.run.app import check_config, run
from tests.helpers import cleanrun, compose_config

AWKWARD = (
    "\ufeffzip,f0,f0,label,note\r\n"
    '00037,1,TRUE,NA,"a,b"\r\n'
    '00038,2.5E-4,+5,007,"multi\nline"\r\n'
    '00039,,0.00,7,"say ""hi"""\r\n'
    "00040,3,n/a,NA,\r\n"
    '00041,4,null,,""\r\n'
    "00042,5,1,7,ünï\r\n"
    "00043,6,1,007,z"
)


def cells_of(text: str, delimiter: str = ",") -> list[list[str]]:
    return [row for row in csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), delimiter=delimiter) if row]


def cleaning(dataset, keep, labels, weights=None) -> Cleaning:
    """A strategy's decisions on the training rows at positions ``keep`` of the split."""
    return Cleaning(
        source=dataset.source,
        checked_rows=dataset.train_rows,
        rows=dataset.train_rows[keep],
        labels=np.asarray(labels, dtype=dataset.classes.dtype),
        sample_weight=None if weights is None else np.asarray(weights, dtype=float),
    )


# --- cell-exact pass-through -----------------------------------------------------------------------------------


def test_cleaned_csv_keeps_every_cell_header_bom_quoting_and_line_ending(tmp_path):
    path = tmp_path / "awkward.csv"
    path.write_bytes(AWKWARD.encode())
    dataset = load_table(path=path, label_column="label", test_size=0)
    assert dataset.classes.tolist() == ["007", "7", "NA"]  # text order (not all classes are integers)
    # rows 0..6 (row 4 has no label); keep all but file row 2, relabel file row 1 (007 -> 7), weight them
    keep = [0, 1, 3, 4, 5]
    labels = dataset.classes[dataset.y_train[keep]].copy()
    labels[1] = "7"
    out = write_cleaned_table(tmp_path, cleaning(dataset, keep, labels, [1.0, 0.5, 1.0, 2.0, 1.0]))
    written = out.read_bytes().decode()
    assert written.startswith("\ufeffzip,f0,f0,label,note,sample_weight\r\n")
    assert written.count("\r\n") == 6 and not written.endswith("\n")  # CRLF kept, no line ending added at the end
    rows_in, rows_out = cells_of(AWKWARD), cells_of(written)
    expected = [rows_in[0] + ["sample_weight"]]
    for file_row, weight in zip([0, 1, 3, 4, 5, 6], ["1.0", "0.5", "1.0", "", "2.0", "1.0"]):
        expected.append(rows_in[file_row + 1] + [weight])
    expected[2][3] = "7"  # the relabelled cell, and nothing else
    assert rows_out == expected
    # a passed-through record is the same text, quoting included
    assert '\r\n00037,1,TRUE,NA,"a,b",1.0\r\n00038,2.5E-4,+5,7,"multi\nline",0.5\r\n' in written
    assert "00039" not in written


def test_cleaned_csv_without_weights_is_the_input_minus_removed_rows(tmp_path):
    path = tmp_path / "semi.csv"
    text = "id;label;x\n001;NA;+1\n\n002;null;1e3\n   \n003;NA;TRUE\n004;null;\n"  # blank lines are no rows
    path.write_text(text, newline="")
    dataset = load_table(path=path, label_column="label", test_size=0)
    assert dataset.source.delimiter == ";"
    keep = [0, 1, 3]
    out = write_cleaned_table(tmp_path, cleaning(dataset, keep, dataset.classes[dataset.y_train[keep]]))
    assert out.read_text() == "id;label;x\n001;NA;+1\n002;null;1e3\n004;null;\n"


def test_a_table_longer_than_a_chunk_is_written_back_byte_for_byte(tmp_path):
    # a column that is integers for the first 100,000+ rows and text below: pandas would infer it per chunk
    n_rows = cleaned_module.CHUNK_ROWS + 20_000
    values = np.where(np.arange(n_rows) < cleaned_module.CHUNK_ROWS + 5, "1", "00037").astype(object)
    values[::7] = ""
    labels = np.array(["NA", "7", "007"], dtype=object)[np.arange(n_rows) % 3]
    path = tmp_path / "long.csv"
    path.write_text("v,label\n" + "".join(f"{v},{c}\n" for v, c in zip(values, labels)))
    dataset = load_table(path=path, label_column="label", test_size=0)
    every_row = np.arange(len(dataset.y_train))
    out = write_cleaned_table(tmp_path, cleaning(dataset, every_row, dataset.classes[dataset.y_train]))
    assert out.read_bytes() == path.read_bytes()


def test_cleaned_parquet_keeps_the_schema_across_row_groups(tmp_path, monkeypatch):
    monkeypatch.setattr(cleaned_module, "CHUNK_ROWS", 2)  # several chunks on a small file
    table = pa.table(
        {
            "f": pa.array([1.0, 2, 3, 4, 5, 6]),
            "n": pa.array([1, None, 3, 4, 5, 6], pa.int64()),
            "c": pa.array(["a", "b", "a", "b", "a", "b"]).dictionary_encode(),
            "s": pa.array(["x", "y", "z", "w", "v", "u"], pa.string()),
            "label": pa.array([1, 2, None, 1, 2, 1], pa.int64()),
        }
    ).replace_schema_metadata({"owner": "me"})
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=3)
    dataset = load_table(path=path, label_column="label", test_size=0)
    assert dataset.classes.tolist() == [1, 2] and all(type(c) is int for c in dataset.classes)
    keep = [0, 1, 3, 4]  # file rows 0, 1, 4, 5
    labels = np.array([2, 2, 1, 1], dtype=object)
    out = write_cleaned_table(tmp_path, cleaning(dataset, keep, labels, [1.0, 0.5, 1.0, 1.0]))
    written = pq.read_table(out)
    assert written.schema.remove(written.schema.get_field_index("sample_weight")).equals(
        table.schema, check_metadata=True
    )
    assert written.column("label").to_pylist() == [2, 2, None, 1, 1]
    assert written.column("n").to_pylist() == [1, None, 3, 5, 6]
    assert written.column("c").to_pylist() == ["a", "b", "a", "a", "b"]
    assert written.column("sample_weight").to_pylist() == [1.0, 0.5, None, 1.0, 1.0]


# --- labels as written -----------------------------------------------------------------------------------------


def blobs_csv(path, classes, n_rows=160, blank_rows=()):
    X, y = make_blobs(n_samples=n_rows, centers=len(classes), n_features=3, cluster_std=0.6, random_state=1)
    labels = np.asarray(classes, dtype=object)[y]
    labels[list(blank_rows)] = ""
    frame = pd.DataFrame(X.round(4), columns=["a", "b", "c"]).assign(
        zip=[f"{i:05d}" for i in range(n_rows)], label=labels
    )
    path.write_text(frame.to_csv(index=False))
    return path


def test_na_like_and_zero_padded_labels_are_classes_and_stay_as_written(tmp_path):
    path = blobs_csv(tmp_path / "regions.csv", ["NA", "null", "007", "7"], blank_rows=[5])
    cfg = compose_config(
        [
            "dataset=csv",
            f"dataset.path={path}",
            "dataset.test_size=0",
            "noise=none",
            "cv.folds=3",
            "strategy=relabel",
            "compare_baseline=false",
        ]
    )
    out = tmp_path / "run"
    run(cfg, out)
    issues = pd.read_csv(out / "label_issues.csv", dtype=str, keep_default_na=False)
    assert set(issues["given_label"]) == {"NA", "null", "007", "7"}
    assert len(issues) == 159  # only the blank label is no label
    assert json.loads((out / "metrics.json").read_text())["n_classes"] == 4
    rows_in, rows_out = cells_of(path.read_text()), cells_of((out / "cleaned.csv").read_text())
    assert rows_out[0] == rows_in[0]
    assert [row[:4] for row in rows_out] == [row[:4] for row in rows_in]  # features and zips untouched
    assert {row[4] for row in rows_out[1:]} <= {"NA", "null", "007", "7", ""}


def test_missing_labels_names_more_markers_and_integer_labels_keep_their_text(tmp_path):
    path = blobs_csv(tmp_path / "ints.csv", ["1", "2", "?"], blank_rows=[3, 9])
    dataset = load_table(path=path, label_column="label", test_size=0, missing_labels=["?"])
    assert dataset.classes.tolist() == ["1", "2"]
    cfg = compose_config(
        [
            "dataset=csv",
            f"dataset.path={path}",
            "dataset.test_size=0",
            "noise=none",
            "cv.folds=3",
            "dataset.missing_labels=[?]",
            "compare_baseline=false",
        ]
    )
    run(cfg, tmp_path / "run")
    cleaned_labels = [row[4] for row in cells_of((tmp_path / "run" / "cleaned.csv").read_text())[1:]]
    assert set(cleaned_labels) <= {"1", "2", "?", ""} and "?" in cleaned_labels and "" in cleaned_labels
    issues = pd.read_csv(tmp_path / "run" / "label_issues.csv", dtype=str)
    assert set(issues["given_label"]) == {"1", "2"} and set(issues["predicted_label"]) <= {"1", "2"}


def test_parquet_integer_labels_with_nulls_stay_integers(tmp_path):
    X, y = make_blobs(n_samples=90, centers=3, n_features=2, random_state=0)
    labels = pa.array([None if i == 4 else int(v) * 10 for i, v in enumerate(y)], pa.int64())
    pq.write_table(pa.table({"x0": X[:, 0], "x1": X[:, 1], "y": labels}), tmp_path / "t.parquet")
    cfg = compose_config(
        [
            "dataset=csv",
            f"dataset.path={tmp_path / 't.parquet'}",
            "dataset.label_column=y",
            "dataset.test_size=0",
            "noise=none",
            "cv.folds=3",
            "compare_baseline=false",
        ]
    )
    run(cfg, tmp_path / "run")
    issues = pd.read_csv(tmp_path / "run" / "label_issues.csv", dtype=str)
    assert set(issues["given_label"]) == {"0", "10", "20"}
    assert pq.read_schema(tmp_path / "run" / "cleaned.parquet").field("y").type == pa.int64()


def test_ids_are_read_as_written(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("zip,x,label\n00037,1,a\n0038,2,b\n39,3,a\nNA,4,b\n")
    dataset = load_table(path=path, label_column="label", id_column="zip", test_size=0)
    assert dataset.source.ids.tolist() == ["00037", "0038", "39", "NA"]
    path.write_text("zip,x,label\n00037,1,a\n,2,b\n39,3,a\n")
    with pytest.raises(ValueError, match="Id column 'zip' has 1 missing values"):
        load_table(path=path, label_column="label", id_column="zip", test_size=0)


def test_sep_is_sniffed_or_given_and_a_wrong_one_gets_a_hint(tmp_path):
    path = tmp_path / "tabs.csv"
    path.write_text("x\ty\tlabel\n1\t2\ta\n3\t4\tb\n5\t6\ta\n7\t8\tb\n")
    assert load_table(path=path, label_column="label", test_size=0).source.delimiter == "\t"
    with pytest.raises(ValueError, match=r"read as one column; if the file is separated by '\\t', set dataset.sep"):
        load_table(path=path, label_column="label", test_size=0, sep=",")


# --- cv=given headers ------------------------------------------------------------------------------------------


def probs_file(path, values, header=None):
    text = "" if header is None else ",".join(header) + "\n"
    text += "".join(",".join(str(v) for v in row) + "\n" for row in values)
    path.write_text(text)
    return path


def test_given_headers_are_class_names_as_text(tmp_path):
    probs = np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]])
    classes = np.array(["ant", "bee", "cat"])
    wrong = read_pred_probs(probs_file(tmp_path / "w.csv", probs, ["bee", "ant", "dog"]))
    with pytest.raises(ValueError, match=r"not classes: \['dog'\], missing: \['cat'\]"):
        match_pred_probs(wrong, n_rows=2, classes=classes, rows=np.arange(2))
    named = read_pred_probs(probs_file(tmp_path / "n.csv", probs, ["cat", "ant", "bee"]))
    np.testing.assert_array_equal(
        match_pred_probs(named, n_rows=2, classes=classes, rows=np.arange(2)), probs[:, [1, 2, 0]]
    )
    # integer class names, as pd.DataFrame(P).to_csv(index=False) writes them
    numbered = read_pred_probs(probs_file(tmp_path / "i.csv", probs, ["2", "0", "1"]))
    np.testing.assert_array_equal(
        match_pred_probs(numbered, n_rows=2, classes=np.array(["0", "1", "2"]), rows=np.arange(2)), probs[:, [1, 2, 0]]
    )
    # binary: "0,1" is also a row of probabilities; it is a header when the file has one row more than the table
    binary = np.array([[0.3, 0.7], [0.9, 0.1]])
    both = read_pred_probs(probs_file(tmp_path / "b.csv", binary, ["1", "0"]))
    np.testing.assert_array_equal(
        match_pred_probs(both, n_rows=2, classes=np.array(["0", "1"]), rows=np.arange(2)), binary[:, ::-1]
    )
    plain = read_pred_probs(probs_file(tmp_path / "p.csv", binary))
    np.testing.assert_array_equal(
        match_pred_probs(plain, n_rows=2, classes=np.array(["0", "1"]), rows=np.arange(2)), binary
    )


def test_float16_probabilities_are_checked_at_their_precision(tmp_path):
    probs = np.random.default_rng(0).dirichlet(np.ones(7), size=50)
    np.save(tmp_path / "half.npy", probs.astype(np.float16))
    given_probs = read_pred_probs(tmp_path / "half.npy")
    assert given_probs.values.dtype == np.float64
    np.testing.assert_allclose(given_probs.values.sum(axis=1), 1, atol=1e-12)
    np.testing.assert_allclose(given_probs.values, probs, atol=5e-3)
    np.save(tmp_path / "bad.npy", (probs * 1.1).astype(np.float16))
    with pytest.raises(ValueError, match=r"float16 precision.*astype\('float32'\)"):
        read_pred_probs(tmp_path / "bad.npy")


# --- reserved names, config checks ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["index", "rank", "given_label", "sample_weight"])
def test_an_id_column_named_like_an_output_column_is_refused_before_reading(tmp_path, name):
    with pytest.raises(ValueError, match=rf"dataset.id_column='{name}' .*reserved names: rank, index"):
        load_table(path=tmp_path / "not-read.csv", label_column="label", id_column=name)
    assert name in RESERVED_COLUMNS


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("+cv.fold=3", r"config key cv.fold is not a key of cv; valid keys: .*folds"),
        ("+classifier.max_iterations=5", r"classifier.max_iterations is not a key of classifier; valid keys: C,"),
        ("+dataset.seperator=x", r"dataset.seperator is not a key of dataset; valid keys: .*sep"),
    ],
)
def test_unknown_keys_are_refused_naming_the_valid_ones(tmp_path, override, message):
    cfg = compose_config(["dataset=csv", "dataset.path=x.csv", override])
    with pytest.raises(ValueError, match=message):
        check_config(cfg)
    check_config(compose_config(["++classifier.max_iter=50"]))  # a key the classifier has


@pytest.mark.parametrize(
    ("key", "value"),
    [("max_rows", -5), ("max_rows", 0), ("max_rows", "abc"), ("min_class_rows", -5), ("min_class_rows", "abc")],
)
def test_rdataset_row_limits_are_in_the_range_table(key, value):
    cfg = compose_config(["dataset=diamonds", f"dataset.{key}={value}"])
    with pytest.raises(ValueError, match=rf"config value dataset.{key}=.* must be"):
        check_config(cfg)


# --- a run owns its directory ------------------------------------------------------------------------------------


def test_a_rerun_removes_every_artifact_of_the_earlier_run(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    for name in artifacts.RUN_ARTIFACTS:
        (out / name).write_text("from the earlier run")
    (out / "notes.txt").write_text("the user's")
    run(
        compose_config(
            ["dataset=iris", "cv.folds=3", "noise=matrix", "save_pred_probs=false", "compare_baseline=false"]
        ),
        out,
    )
    left = {p.name for p in out.iterdir()}
    assert "pred_probs.npy" not in left and "cleaned.csv" not in left and "failure.json" not in left
    assert "notes.txt" in left and "metrics.json" in left
    assert (out / "label_issues.csv").read_text() != "from the earlier run"
    assert not (out / artifacts.LOCK).exists()


def test_a_second_run_in_a_busy_directory_is_refused_and_a_stale_lock_taken_over(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / artifacts.LOCK).write_text(f"{sleeper.pid}\n")
        cfg = compose_config(["dataset=iris", "cv.folds=3", "compare_baseline=false"])
        with pytest.raises(artifacts.RunDirectoryBusy, match=rf"in use by a run in progress \(pid {sleeper.pid}"):
            run(cfg, out)
        assert (out / "metrics.json").read_text() == "{}"  # the first run's directory is untouched
        assert (out / artifacts.LOCK).read_text() == f"{sleeper.pid}\n"
    finally:
        sleeper.kill()
        sleeper.wait()
    run(cfg, out)  # the holder is gone: its lock is stale and taken over
    assert json.loads((out / "metrics.json").read_text())["dataset"] == "iris"
    assert not (out / artifacts.LOCK).exists()


def test_the_command_line_refuses_a_busy_directory_in_one_line_and_records_nothing(tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / artifacts.LOCK).write_text(f"{os.getpid()}\n")  # this test's process: alive
    done = cleanrun(tmp_path, "dataset=iris", f"hydra.run.dir={out}")
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "RunDirectoryBusy: run directory" in errors[0]
    assert not (out / "failure.json").exists() and not (out / "metrics.json").exists()


def test_hydra_and_sweep_callback_warnings_go_to_stderr():
    logging_config = compose_config([], return_hydra_config=True).hydra.hydra_logging
    assert logging_config.handlers.errors.stream == "ext://sys.stderr"
    assert logging_config.handlers.console.filters == ["below_warning"]


def test_write_failures_are_one_line_naming_the_file(tmp_path):
    target = tmp_path / "metrics.json"
    with pytest.raises(atomic.WriteError, match=rf"could not write '{target}': No space left on device"):
        with atomic.atomic_path(target):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert list(tmp_path.iterdir()) == []
    # a real file-size limit, in a process of its own
    code = (
        "import resource, numpy as np\n"
        "from runner.common import atomic\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        f"atomic.write_array(__import__('pathlib').Path({str(tmp_path)!r}) / 'big.npy', np.zeros(10000))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode != 0
    assert f"WriteError: could not write '{tmp_path / 'big.npy'}'" in done.stderr


def test_python_warnings_become_one_log_line_on_stderr():
    code = (
        "import logging, sys, warnings\n"
        "from runner.run.app import _warnings_to_log\n"
        "logging.basicConfig(stream=sys.stderr, format='%(levelname)s %(message)s')\n"
        "_warnings_to_log()\n"
        "warnings.warn('a message\\n  spread over lines', UserWarning)\n"
    )
    done = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True, text=True)
    assert done.stderr.strip() == "WARNING UserWarning: a message spread over lines"


# --- drop-in ---------------------------------------------------------------------------------------------------


def test_a_fresh_clean_learning_has_find_label_issues_kwargs_like_the_reference():
    from cleanlab.classification import CleanLearning as Reference

    fresh, reference = CleanLearning(), Reference()
    assert fresh.find_label_issues_kwargs == reference.find_label_issues_kwargs == {}
    assert fresh.find_label_issues_kwargs.get("confident_joint") is None
    assert fresh.get_params()["find_label_issues_kwargs"] is None
    assert clone(fresh).find_label_issues_kwargs == {}
    given_kwargs = {"filter_by": "both"}
    assert CleanLearning(find_label_issues_kwargs=given_kwargs).get_params()["find_label_issues_kwargs"] is given_kwargs


# --- the property: any awkward CSV passes through cell for cell, labels as written --------------------------------


def _infinite(cell: str) -> bool:
    try:
        return bool(np.isinf(float(cell)))
    except ValueError:
        return False


def test_an_infinite_feature_is_refused_by_name_also_beside_a_column_to_impute(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("label,f0,f1\na,1,\nb,2,INF\na,3,4\nb,4,5\n")
    with pytest.raises(InvalidDataset, match="Feature column 'f1' holds infinite"):
        load_table(path=path, label_column="label", test_size=0)


AWKWARD_CELLS = st.sampled_from(
    [
        "00037",
        "007",
        "7",
        "NA",
        "n/a",
        "null",
        "None",
        "NaN",
        "TRUE",
        "True",
        "false",
        "2.5E-4",
        "+5",
        "-0",
        "0.00",
        "1",
        "1.0",
        "",
        " ",
        "a,b",
        'say "hi"',
        "two\nlines",
        "cr\r\nlf",
        "ünï",
        "日本",
        "#",
        "'q'",
    ]
) | st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=6).filter(
    lambda cell: not _infinite(cell)  # a number too large for any float is refused, not passed through
)
LABELS = st.sampled_from(["NA", "null", "007", "7", "n/a", "None", "TRUE", "1", "1.0", "", "a b", "x,y"])


@st.composite
def awkward_tables(draw):
    n_columns = draw(st.integers(1, 4))
    names = draw(
        st.lists(st.sampled_from(["f0", "f1", "zip", "NA", "x y"]), min_size=n_columns, max_size=n_columns)
    )  # duplicates allowed
    n_rows = draw(st.integers(3, 40))
    label_position = draw(st.integers(0, n_columns))
    header = names[:label_position] + ["label"] + names[label_position:]
    rows = []
    for _ in range(n_rows):
        cells = draw(st.lists(AWKWARD_CELLS, min_size=n_columns, max_size=n_columns))
        rows.append(cells[:label_position] + [draw(LABELS)] + cells[label_position:])
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    bom = draw(st.booleans())
    delimiter = draw(st.sampled_from([",", ";"]))
    return header, rows, ending, bom, delimiter, label_position


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(table=awkward_tables(), seed=st.integers(0, 2**16))
def test_property_cleaned_csv_is_cell_exact_and_labels_are_as_written(tmp_path_factory, table, seed):
    header, rows, ending, bom, delimiter, label_position = table
    # a record whose cells are all empty or blank is a blank line, which is no row: keep one cell non-blank
    rows = [row if any(cell.strip() for cell in row) else row[:-1] + ["k"] for row in rows]
    out = io.StringIO()
    for row in [header, *rows]:
        # "\r\n" as the writer's terminator quotes a cell holding either character; then the file's own ending
        record = io.StringIO()
        csv.writer(record, delimiter=delimiter, lineterminator="\r\n").writerow(row)
        out.write(record.getvalue()[:-2] + ending)
    directory = tmp_path_factory.mktemp("prop")
    path = directory / "table.csv"
    path.write_bytes((("\ufeff" if bom else "") + out.getvalue()).encode("utf-8", "surrogatepass"))
    labelled = sorted({row[label_position] for row in rows} - {""})
    if len(labelled) < 2:
        return  # a table needs two classes to load
    dataset = load_table(path=path, label_column="label", test_size=0, sep=delimiter)
    # labels as written: every distinct non-empty cell is a class, spelled as in the file
    assert sorted(dataset.classes.tolist()) == labelled
    assert [dataset.classes[c] for c in dataset.y_train] == [rows[r][label_position] for r in dataset.train_rows]
    rng = np.random.default_rng(seed)
    keep = np.flatnonzero(rng.random(len(dataset.y_train)) < 0.7)
    labels = dataset.classes[dataset.y_train[keep]].copy()
    flip = rng.random(len(keep)) < 0.3
    labels[flip] = rng.choice(dataset.classes, flip.sum())
    weights = rng.random(len(keep)) if seed % 2 else None
    written = write_cleaned_table(directory, cleaning(dataset, keep, labels, weights)).read_bytes()
    assert written.startswith(b"\xef\xbb\xbf") == bom
    text = written.decode("utf-8", "surrogateescape")
    assert text.endswith(ending)
    got = cells_of(text, delimiter)
    extra = [] if weights is None else ["sample_weight"]
    assert got[0] == header + extra
    unlabelled = [r for r, row in enumerate(rows) if row[label_position] == ""]
    expected = []
    for r in sorted([*dataset.train_rows[keep].tolist(), *unlabelled]):
        expected.append(list(rows[r]))
    new_labels = dict(zip(dataset.train_rows[keep].tolist(), labels.tolist()))
    for row, r in zip(expected, sorted([*dataset.train_rows[keep].tolist(), *unlabelled])):
        if r in new_labels:
            row[label_position] = new_labels[r]
    body = [row[: len(header)] for row in got[1:]]
    assert body == expected
