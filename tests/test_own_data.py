"""Your own data: issues traced to the file's rows, every row checked, a cleaned table, predictions from anywhere."""

from __future__ import annotations

import json
import logging
import pickle
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier

from runner import CleanLearning
from runner.datasets import cleaned as cleaned_module
from runner.datasets.given import match_pred_probs, read_pred_probs
from runner.run.app import run
from tests.helpers import cleanrun, compose_config, run_dirs

CLASSES = np.array(["ant", "bee", "cat"])
N_ROWS = 240
FEATURES = [f"f{i}" for i in range(4)]


@pytest.fixture(scope="module")
def blobs(tmp_path_factory):
    """A small CSV of three well-separated classes in which 16 known rows carry a wrong label.

    Returns the path, the wrong rows (row numbers in the file) and their true labels.
    """
    X, y = make_blobs(n_samples=N_ROWS, centers=3, n_features=4, cluster_std=0.5, random_state=0)
    labels = CLASSES[y].astype(object)
    wrong = np.sort(np.random.default_rng(0).choice(N_ROWS, 16, replace=False))
    labels[wrong] = CLASSES[(y[wrong] + 1) % 3]
    frame = pd.DataFrame(X.round(6), columns=FEATURES).assign(label=labels)
    path = tmp_path_factory.mktemp("own") / "blobs.csv"
    frame.to_csv(path, index=False)
    return path, wrong, CLASSES[y[wrong]]


def only_run_dir(cwd):
    (run_dir,) = run_dirs(cwd)
    return run_dir


def flagged_rows(run_dir):
    issues = pd.read_csv(run_dir / "label_issues.csv")
    return issues, np.sort(issues.loc[issues["is_label_issue"], "row"].to_numpy())


@pytest.mark.slow
def test_issues_name_the_wrong_rows_of_the_file_and_the_cleaned_table_drops_exactly_them(blobs, tmp_path):
    path, wrong, _ = blobs
    result = cleanrun(
        tmp_path, "dataset=csv", f"dataset.path={path}", "dataset.test_size=0", "noise=none", "cv.folds=3"
    )
    assert result.returncode == 0, result.stderr
    run_dir = only_run_dir(tmp_path)
    issues, flagged = flagged_rows(run_dir)
    table = pd.read_csv(path)
    # every row of the file is checked, and the issues are exactly the rows whose labels we broke
    assert sorted(issues["row"]) == list(range(N_ROWS))
    np.testing.assert_array_equal(flagged, wrong)
    np.testing.assert_array_equal(issues["given_label"], table["label"].to_numpy()[issues["row"]])
    # ranked, worst first; the flagged rows are the worst ones here
    assert list(issues["rank"]) == list(range(1, N_ROWS + 1))
    assert issues["label_quality"].is_monotonic_increasing
    assert issues["is_label_issue"].iloc[: len(wrong)].all()
    cleaned = pd.read_csv(run_dir / "cleaned.csv")
    assert list(cleaned.columns) == [*table.columns, "sample_weight"]  # remove re-weights the classes
    expected = table.drop(index=wrong).reset_index(drop=True)
    pd.testing.assert_frame_equal(cleaned.drop(columns="sample_weight"), expected)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["n_test"] == 0 and not any(key.startswith(("test_", "baseline_")) for key in metrics)
    output = result.stdout + result.stderr
    assert "no test split (dataset.test_size=0)" in output and "10 most suspicious labels" in output
    worst = issues.iloc[0]
    assert re.search(
        rf"^\s+1\s+{worst['row']}\s+{worst['given_label']}\s+{worst['predicted_label']}\s+0\.\d{{4}}"
        r"\s+yes$",
        output,
        re.MULTILINE,
    ), output  # rank 1: its row, given and suggested label


@pytest.mark.slow
def test_relabel_changes_exactly_the_flagged_labels(blobs, tmp_path):
    path, wrong, truth = blobs
    result = cleanrun(
        tmp_path,
        "dataset=csv",
        f"dataset.path={path}",
        "dataset.test_size=0",
        "noise=none",
        "cv.folds=3",
        "strategy=relabel",
        "final_fit=skip",
    )
    assert result.returncode == 0, result.stderr
    run_dir = only_run_dir(tmp_path)
    issues, flagged = flagged_rows(run_dir)
    np.testing.assert_array_equal(flagged, wrong)
    cleaned, table = pd.read_csv(run_dir / "cleaned.csv"), pd.read_csv(path)
    assert list(cleaned.columns) == list(table.columns)  # relabel does not weight
    changed = np.flatnonzero(cleaned["label"].to_numpy() != table["label"].to_numpy())
    np.testing.assert_array_equal(changed, wrong)
    np.testing.assert_array_equal(cleaned["label"].to_numpy()[wrong], truth)  # back to the true labels
    suggested = issues.set_index("row").loc[wrong, "predicted_label"]
    np.testing.assert_array_equal(cleaned["label"].to_numpy()[wrong], suggested)
    pd.testing.assert_frame_equal(cleaned.drop(columns="label"), table.drop(columns="label"))
    assert "there is no test accuracy" in result.stdout + result.stderr


@pytest.mark.slow
def test_check_every_row_flags_rows_a_test_split_would_hide(blobs, tmp_path):
    path, wrong, _ = blobs
    common = ("dataset=csv", f"dataset.path={path}", "noise=none", "cv.folds=3")
    for name in ("split", "every"):
        (tmp_path / name).mkdir()
    split = cleanrun(tmp_path / "split", *common)
    every = cleanrun(tmp_path / "every", *common, "dataset.test_size=0")
    assert split.returncode == 0 and every.returncode == 0, split.stderr + every.stderr
    split_issues, split_flagged = flagged_rows(only_run_dir(tmp_path / "split"))
    _, every_flagged = flagged_rows(only_run_dir(tmp_path / "every"))
    hidden = np.setdiff1d(wrong, split_issues["row"])  # wrong rows that fell into the 25% test split
    assert len(split_issues) == N_ROWS * 3 // 4 and hidden.size > 0
    assert not np.isin(hidden, split_flagged).any()
    assert np.isin(hidden, every_flagged).all()
    # the split run's cleaned table keeps its unchecked test rows as they are, with an empty weight
    cleaned = pd.read_csv(only_run_dir(tmp_path / "split") / "cleaned.csv")
    assert len(cleaned) == N_ROWS - len(split_flagged)
    assert cleaned["sample_weight"].isna().sum() == N_ROWS - len(split_issues)


def outside_pred_probs(path):
    """Out-of-fold probabilities from a model cleanrun never sees (k-NN on folds of our own)."""
    table = pd.read_csv(path)
    codes = np.searchsorted(CLASSES, table["label"].to_numpy())
    folds = StratifiedKFold(4, shuffle=True, random_state=7)
    probs = cross_val_predict(
        KNeighborsClassifier(15), table[FEATURES].to_numpy(), codes, cv=folds, method="predict_proba"
    )
    return table, codes, probs


@pytest.mark.slow
@pytest.mark.parametrize("form", ["npy", "csv_named_shuffled"])
def test_given_pred_probs_give_the_issues_of_clean_learning_on_the_same_arrays(blobs, tmp_path, form):
    path, _, _ = blobs
    table, codes, probs = outside_pred_probs(path)
    if form == "npy":
        probs_path = tmp_path / "probs.npy"
        np.save(probs_path, probs)
    else:  # a CSV whose header names the classes, in another order: taken by name
        probs_path = tmp_path / "probs.csv"
        pd.DataFrame(probs, columns=CLASSES)[["cat", "ant", "bee"]].to_csv(probs_path, index=False)
    result = cleanrun(
        tmp_path,
        "dataset=csv",
        f"dataset.path={path}",
        "dataset.test_size=0",
        "noise=none",
        "cv=given",
        f"cv.pred_probs_path={probs_path}",
    )
    assert result.returncode == 0, result.stderr
    run_dir = only_run_dir(tmp_path)
    issues = pd.read_csv(run_dir / "label_issues.csv").sort_values("row")
    ours = CleanLearning(LogisticRegression()).fit(table[FEATURES].to_numpy(), table["label"], pred_probs=probs)
    np.testing.assert_array_equal(issues["is_label_issue"], ours.label_issues_mask)
    np.testing.assert_allclose(issues["label_quality"], ours.label_issues_df["label_quality"])
    from cleanlab.classification import CleanLearning as ReferenceCleanLearning

    reference = ReferenceCleanLearning(LogisticRegression()).fit(table[FEATURES].to_numpy(), codes, pred_probs=probs)
    np.testing.assert_array_equal(issues["is_label_issue"], reference.label_issues_mask)
    np.testing.assert_array_equal(np.load(run_dir / "pred_probs.npy"), probs)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["time_cv_s"] == 0 and "test_accuracy" not in metrics


def bad_probs_files(tmp_path, probs):
    """Each bad file, with the words its one error line must contain."""
    nan = probs.copy()
    nan[5, 1] = np.nan
    unnormalised = probs.copy()
    unnormalised[9] *= 0.5
    pickled = np.empty(len(probs), dtype=object)
    pickled[:] = [list(row) for row in probs]
    files = {
        "rows.npy": (probs[:-1], "has 239 rows but the input table has 240"),
        "classes.csv": (np.hstack([probs, np.zeros((len(probs), 1))]), "has 4 columns but the labels have 3 classes"),
        "nan.npy": (nan, "NaN"),
        "sums.csv": (unnormalised, "must sum to 1"),
        "pickled.npy": (pickled, "pickled"),
    }
    for name, (values, _) in files.items():
        target = tmp_path / name
        if name.endswith(".csv"):
            pd.DataFrame(values).to_csv(target, index=False, header=False)
        elif values.dtype == object:
            np.save(target, values, allow_pickle=True)
        else:
            np.save(target, values)
    return {name: message for name, (_, message) in files.items()}


@pytest.mark.slow
def test_bad_given_pred_probs_give_one_error_line_and_no_artifacts(blobs, tmp_path):
    path, _, _ = blobs
    _, _, probs = outside_pred_probs(path)
    for name, message in bad_probs_files(tmp_path, probs).items():
        cwd = tmp_path / name.replace(".", "_")
        cwd.mkdir()
        result = cleanrun(
            cwd,
            "dataset=csv",
            f"dataset.path={path}",
            "dataset.test_size=0",
            "noise=none",
            "cv=given",
            f"cv.pred_probs_path={tmp_path / name}",
        )
        assert result.returncode != 0, name
        output = result.stdout + result.stderr
        errors = [line for line in output.splitlines() if "ERROR" in line]
        assert len(errors) == 1 and message in errors[0] and name in errors[0], output
        assert "Traceback" not in output
        run_dir = only_run_dir(cwd)
        assert {p.name for p in run_dir.iterdir()} <= {".hydra", "app.log", "failure.json"}, name


# --- in process: the pieces ----------------------------------------------------------------------------------


def test_read_pred_probs_checks_the_file_alone(tmp_path):
    probs = np.array([[0.2, 0.8], [0.5, 0.5], [1.0, 0.0]])
    np.save(tmp_path / "p.npy", probs)
    given = read_pred_probs(tmp_path / "p.npy")
    assert given.values is not None and given.column_names is None
    # rows chosen by row number; every row in order: no copy
    assert match_pred_probs(given, n_rows=3, classes=np.array(["a", "b"]), rows=np.arange(3)) is given.values
    np.testing.assert_array_equal(
        match_pred_probs(given, n_rows=3, classes=np.array(["a", "b"]), rows=np.array([2, 0])), probs[[2, 0]]
    )
    # a header of other names than the classes: refused, listing both
    pd.DataFrame(probs, columns=["p1", "p0"]).to_csv(tmp_path / "p.csv", index=False)
    named = read_pred_probs(tmp_path / "p.csv")
    assert named.column_names == ["p1", "p0"]
    with pytest.raises(ValueError, match=r"header \['p1', 'p0'\] but the labels' classes are \['a', 'b'\]"):
        match_pred_probs(named, n_rows=3, classes=np.array(["a", "b"]), rows=np.arange(3))
    with pytest.raises(ValueError, match="has 2 columns but the labels have 3 classes"):
        match_pred_probs(named, n_rows=3, classes=np.array(["a", "b", "c"]), rows=np.arange(3))
    # a row index written along: named as the likely cause
    pd.DataFrame(probs).to_csv(tmp_path / "indexed.csv")
    with pytest.raises(ValueError, match=r"first column without a name.*index=False"):
        read_pred_probs(tmp_path / "indexed.csv")
    (tmp_path / "p.txt").write_text("0.5,0.5\n")
    with pytest.raises(ValueError, match="unsupported file type '.txt'"):
        read_pred_probs(tmp_path / "p.txt")
    with pytest.raises(FileNotFoundError, match="cv.pred_probs_path: file not found"):
        read_pred_probs(tmp_path / "nowhere.npy")
    (tmp_path / "words.csv").write_text("a,b\n0.5,x\n")
    with pytest.raises(ValueError, match="not a number"):
        read_pred_probs(tmp_path / "words.csv")
    with open(tmp_path / "plain.npy", "wb") as stream:
        pickle.dump(probs, stream)
    with pytest.raises(ValueError, match="pickled Python objects"):
        read_pred_probs(tmp_path / "plain.npy")


def in_process(tmp_path, *overrides):
    noise = [] if any(o.startswith("noise=") for o in overrides) else ["noise=none"]
    cfg = compose_config([*noise, "cv.folds=3", "cache_dir=null", *overrides])
    return run(cfg, tmp_path)


@pytest.mark.parametrize("strategy", ["weight", "soft_weight"])
def test_parquet_in_parquet_out_with_the_weights_of_the_final_fit(blobs, tmp_path, strategy, monkeypatch):
    monkeypatch.setattr(cleaned_module, "CHUNK_ROWS", 37)  # several chunks, the last one short
    path, _, _ = blobs
    table = pd.read_csv(path)
    parquet = tmp_path / "blobs.parquet"
    table.to_parquet(parquet, index=False)
    result = in_process(
        tmp_path, "dataset=csv", f"dataset.path={parquet}", "dataset.test_size=0", f"strategy={strategy}"
    )
    cleaned = pd.read_parquet(tmp_path / "cleaned.parquet")
    assert not (tmp_path / "cleaned.csv").exists()
    pd.testing.assert_frame_equal(cleaned.drop(columns="sample_weight"), table)
    weights = result.label_issues.set_index("row").sort_index()["sample_weight"]
    np.testing.assert_allclose(cleaned["sample_weight"], weights)
    assert (cleaned["sample_weight"] < 1).any()


def test_id_column_names_the_rows_of_the_issue_table(blobs, tmp_path, monkeypatch):
    monkeypatch.setattr(cleaned_module, "CHUNK_ROWS", 50)
    path, wrong, _ = blobs
    table = pd.read_csv(path).assign(key=lambda t: [f"id-{i:03d}" for i in range(len(t))])
    table.to_csv(tmp_path / "keyed.csv", index=False)
    result = in_process(
        tmp_path,
        "dataset=csv",
        f"dataset.path={tmp_path / 'keyed.csv'}",
        "dataset.id_column=key",
        "dataset.test_size=0",
        "strategy=remove",
    )
    issues = pd.read_csv(tmp_path / "label_issues.csv")
    assert list(issues.columns[:3]) == ["rank", "key", "index"] and "row" not in issues.columns
    assert sorted(issues.loc[issues["is_label_issue"], "key"]) == [f"id-{i:03d}" for i in wrong]
    cleaned = pd.read_csv(tmp_path / "cleaned.csv")
    pd.testing.assert_frame_equal(cleaned.drop(columns="sample_weight"), table.drop(index=wrong).reset_index(drop=True))
    assert result.metrics["n_train"] == N_ROWS


def test_bundled_set_in_check_every_row_mode_has_no_test_metrics(tmp_path):
    result = in_process(tmp_path, "dataset=iris", "dataset.test_size=0", "noise=matrix")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["n_train"] == 150 and metrics["n_test"] == 0
    assert "detection_precision" in metrics and not any(k.startswith(("test_", "baseline_")) for k in metrics)
    assert sorted(result.label_issues["row"]) == list(range(150))
    assert not (tmp_path / "cleaned.csv").exists()  # bundled sets have no file to clean


def test_skip_final_fit_finds_issues_and_the_training_set_but_trains_no_model(blobs):
    from sklearn.exceptions import NotFittedError

    table = pd.read_csv(blobs[0])
    X, labels = table[FEATURES].to_numpy(), table["label"]
    learner = CleanLearning(LogisticRegression(), cv_n_folds=3, seed=0)
    full = learner.fit(X, labels).label_issues_mask.copy()
    assert hasattr(learner, "clf_")
    learner.set_params(skip_final_fit=True).fit(X, labels)  # a second fit starts fresh: the old model goes
    assert not hasattr(learner, "clf_")
    np.testing.assert_array_equal(learner.label_issues_mask, full)
    np.testing.assert_array_equal(learner.training_set_.rows, np.flatnonzero(~full))  # remove
    with pytest.raises(NotFittedError, match="skip_final_fit"):
        learner.predict(X)
    with pytest.raises(ValueError, match="skip_final_fit must be true or false"):
        CleanLearning(skip_final_fit="yes").fit(X, labels)


def test_cleaned_table_refuses_a_file_that_changed_during_the_run(blobs, tmp_path, monkeypatch):
    path, _, _ = blobs
    copy = tmp_path / "moving.csv"
    pd.read_csv(path).to_csv(copy, index=False)
    original = cleaned_module.write_cleaned_table

    def shrink_then_write(run_dir, cleaning):
        pd.read_csv(copy).iloc[:-5].to_csv(copy, index=False)
        return original(run_dir, cleaning)

    monkeypatch.setattr("runner.run.experiment.write_cleaned_table", shrink_then_write)
    with pytest.raises(ValueError, match="has 235 rows now but had 240"):
        in_process(tmp_path, "dataset=csv", f"dataset.path={copy}", "dataset.test_size=0")
    assert not list(tmp_path.glob("cleaned*")) and not list(tmp_path.glob(".cleaned*"))


def test_given_pred_probs_refuse_settings_that_would_cross_validate_again(blobs, tmp_path):
    path, _, _ = blobs
    np.save(tmp_path / "p.npy", outside_pred_probs(path)[2])
    with pytest.raises(ValueError, match="cv.rounds must be 1"):
        in_process(
            tmp_path,
            "dataset=csv",
            f"dataset.path={path}",
            "cv=given",
            f"cv.pred_probs_path={tmp_path / 'p.npy'}",
            "cv.rounds=2",
        )
    assert not (tmp_path / "label_issues.csv").exists()


def test_no_cleaned_table_when_the_labels_were_corrupted_on_purpose(blobs, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="runner.run.experiment"):
        result = in_process(tmp_path, "dataset=csv", f"dataset.path={blobs[0]}", "noise=matrix")
    assert result.cleaning is None and not list(tmp_path.glob("cleaned*"))
    assert "use noise=none" in caplog.text
    assert (tmp_path / "label_issues.csv").is_file() and "true_label" in result.label_issues
