"""Replay decision rules without verified rows over the jobs of ``benchmarks/veto_study.py``.

Each rule reads, per job, only what a user has (the given labels, the halves check's held-out probabilities, the
detections' noise matrices) and picks one of three final models: every row (``none``), the flagged rows removed
(``removal``), or the reference's cleaning, the flags removed and the rest re-weighted (``reweighted``). The rules:

* ``today``: ``method=recommended`` without verified rows: the removal if its held-out agreement with the given
  labels beats every row's by more than 3 standard errors, and the estimated noise matrix is diagonally dominant;
* ``veto, given, t``: the reference's cleaning unless its held-out given-label agreement is *below* every row's by
  more than ``t`` standard errors (the burden of proof on harm, not on gain);
* ``veto, corrected T, t``: the same, each prediction scored ``T⁺[prediction, given]`` (backward-corrected);
* ``prove, corrected T, t``: the removal if its backward-corrected score wins by more than ``t`` standard errors;
* ``today, gate T``: today's rule with the dominance gate read from another estimate of ``T``;

with ``T`` confident learning's estimate from the full cross-validation (``cl``), from a second detection round whose
folds train without the first round's flags (``round2``), or the injected noise itself (``injected``: analysis only,
a bound on what a better estimate could do). The reference itself (always ``reweighted``) and the removal without a
check (always ``removal``) are printed as rules too. With ``--ensemble``, jobs run with both classifiers on the same
given labels also get ``T`` from the mean of the two classifiers' out-of-fold probabilities (``ensemble``); those
rules were added after the study was read, so they are exploratory and never the candidate.

**How the candidate is chosen, fixed before any job of the study was read** (2026-12-07, 23:39 UTC, commit 2c2e8e8
or its amendment): cells are (dataset, noise, rate, classifier), each the mean over its seeds. A rule is *safe* when
no cell is more than 1 point below the noisy baseline. Among the safe rules that read no analysis-only input, the
candidate is the one with the largest sum, over the four noise kinds and rates, of the pooled recovered fraction
``Σ(accuracy − baseline) / Σ(clean − baseline)``; it is worth a confirmation run only if that fraction is at least
the reference's in each of the four (the issue's gain target). If no rule is safe, or the candidate falls short of
the reference anywhere, the study says so and nothing is adopted.

    python benchmarks/veto_rules.py /work/bench/veto_dev
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from runner.confident.count import estimate_py_and_noise_matrices_from_probabilities
from runner.learn.check import check_cleaning, label_margin

sys.path.insert(0, str(Path(__file__).parent))
from check_power import injected_noise_matrix  # noqa: E402

HARM = 1.0  # points below the noisy baseline that make a cell harmed
VETO_Z = (0.0, 1.0, 2.0, 3.0)
PROVE_Z = (1.0, 2.0, 3.0)
TODAY_Z = 3.0
ESTIMATES = ("cl", "round2", "injected")
ANALYSIS_ONLY = "injected"
AFTER_THE_READ = "ensemble"
CANDIDATES = ("none", "removal", "reweighted")
PARTNER = {"logistic_regression": "hist_gradient_boosting", "hist_gradient_boosting": "logistic_regression"}


def job_statistics(stored: dict, partner_probs=None) -> dict:
    """Every z and label margin a rule may read in one job, and each candidate's test accuracy; with
    ``partner_probs`` (the other classifier's out-of-fold probabilities of the same given labels), also those of the
    ``ensemble`` estimate of ``T``."""
    given, kept = stored["given"], stored["kept_probs"]
    n_classes = kept.shape[1]
    estimates = {
        "cl": stored["noise_matrix"],
        "round2": stored["noise_matrix_round2"],
        "injected": injected_noise_matrix(given, stored["true"], n_classes),
    }
    if partner_probs is not None:
        mean_probs = (stored["pred_probs"].astype(np.float64) + partner_probs) / 2
        estimates[AFTER_THE_READ] = estimate_py_and_noise_matrices_from_probabilities(
            given, mean_probs, converge_latent_estimates=False
        )[1]
    row = {}
    for candidate in ("removal", "reweighted"):
        probs = stored["cleaned_probs" if candidate == "removal" else "reweighted_probs"]
        row[f"z given {candidate}"] = check_cleaning(given, kept, probs, criterion="given", gate_margin=np.nan).z
        for name, matrix in estimates.items():
            row[f"z {name} {candidate}"] = check_cleaning(given, kept, probs, noise_matrix=matrix).z
    for name, matrix in estimates.items():
        row[f"margin {name}"] = label_margin(matrix)
        row[f"diagonal bias {name}"] = float((np.diagonal(matrix) - np.diagonal(estimates["injected"])).mean())
        row[f"diagonal error {name}"] = float(np.abs(np.diagonal(matrix) - np.diagonal(estimates["injected"])).mean())
    y_test = stored["y_test"]
    tests = {"none": "test_baseline", "removal": "test_cleaned", "reweighted": "test_reweighted", "clean": "test_clean"}
    for name, key in tests.items():
        row[f"accuracy {name}"] = float(np.mean(stored[key].argmax(axis=1) == y_test))
    return row


def load(study: Path, ensemble: bool = False) -> pd.DataFrame:
    """One row per stored job: its grid keys and :func:`job_statistics`; with ``ensemble``, only the jobs whose
    partner (the same job with the other classifier) is stored too, each with the ``ensemble`` estimate."""
    rows = []
    for path in sorted(study.glob("*.npz")):
        dataset, noise, rate, classifier, seed = path.stem.split("__")
        partner_probs = None
        if ensemble:
            other = PARTNER[classifier]
            partner = path.with_name(path.name.replace(f"__{classifier}__", f"__{other}__"))
            if not partner.exists():
                continue
            with np.load(partner) as stored:
                partner_probs = stored["pred_probs"].astype(np.float64)
        with np.load(path) as stored:
            statistics = job_statistics({key: stored[key] for key in stored.files}, partner_probs)
        keys = dict(dataset=dataset, noise=noise, rate=float(rate), classifier=classifier, seed=int(seed))
        rows.append(keys | statistics)
    return pd.DataFrame(rows)


def rules(jobs: pd.DataFrame) -> dict[str, pd.Series]:
    """Each rule's choice per job (a candidate's name), by rule name."""
    estimates = [name for name in (*ESTIMATES, AFTER_THE_READ) if f"margin {name}" in jobs]
    chosen = {
        "reference": pd.Series("reweighted", index=jobs.index),
        "removal, no check": pd.Series("removal", index=jobs.index),
    }

    def pick(condition, candidate):
        return pd.Series(np.where(condition, candidate, "none"), index=jobs.index)

    chosen["today"] = pick((jobs["z given removal"] > TODAY_Z) & (jobs["margin cl"] > 0), "removal")
    for t in VETO_Z:
        chosen[f"veto, given, {t:g}"] = pick(jobs["z given reweighted"] >= -t, "reweighted")
        for name in estimates:
            chosen[f"veto, corrected {name}, {t:g}"] = pick(jobs[f"z {name} reweighted"] >= -t, "reweighted")
    for t in PROVE_Z:
        for name in estimates:
            chosen[f"prove, corrected {name}, {t:g}"] = pick(jobs[f"z {name} removal"] > t, "removal")
    for name in estimates[1:]:
        chosen[f"today, gate {name}"] = pick(
            (jobs["z given removal"] > TODAY_Z) & (jobs[f"margin {name}"] > 0), "removal"
        )
    return chosen


def summarise(jobs: pd.DataFrame, choice: pd.Series) -> dict:
    """Harm, gain and use of one rule: cells harmed, the worst cell, pooled recovered fraction per noise and rate."""
    frame = jobs[["dataset", "noise", "rate", "classifier"]].assign(
        chosen=accuracy_of(jobs, choice), baseline=jobs["accuracy none"], clean=jobs["accuracy clean"]
    )
    cells = frame.groupby(["dataset", "noise", "rate", "classifier"]).mean()
    delta = 100 * (cells["chosen"] - cells["baseline"])
    sums = cells.groupby(level=["noise", "rate"]).sum()
    recovered = (sums["chosen"] - sums["baseline"]) / (sums["clean"] - sums["baseline"])
    summary = {
        "cells": len(cells),
        "harmed": int((delta < -HARM).sum()),
        "worst (pt)": round(float(delta.min()), 2),
        "cleaned": round(float((choice != "none").mean()), 2),
    }
    summary |= {f"{noise} {rate:g}": round(float(value), 3) for (noise, rate), value in recovered.items()}
    return summary


def accuracy_of(jobs: pd.DataFrame, choice: pd.Series) -> np.ndarray:
    """The test accuracy of the candidate ``choice`` picked in each job."""
    return np.select(
        [choice.to_numpy() == name for name in CANDIDATES], [jobs[f"accuracy {name}"].to_numpy() for name in CANDIDATES]
    )


def estimate_accuracy(jobs: pd.DataFrame, by=("classifier",)) -> pd.DataFrame:
    """How close each estimate of ``T`` is to the injected noise, per group of jobs (``by``): the mean error of its
    diagonal (signed: negative where it overstates the noise; and absolute), and how often its dominance gate agrees
    with the injected matrix's (passes where that one is dominant, vetoes where it is not), with the count of each
    kind of disagreement."""
    injected_dominant = jobs["margin injected"] > 0
    rows = {}
    for name in (*ESTIMATES, AFTER_THE_READ):
        if name == ANALYSIS_ONLY or f"margin {name}" not in jobs:
            continue
        passes = jobs[f"margin {name}"] > 0
        frame = pd.DataFrame(
            {
                "diagonal bias": jobs[f"diagonal bias {name}"],
                "diagonal error": jobs[f"diagonal error {name}"],
                "gate agrees": passes == injected_dominant,
                "passes, not dominant": passes & ~injected_dominant,
                "vetoes, dominant": ~passes & injected_dominant,
            }
        )
        counts = ["passes, not dominant", "vetoes, dominant"]
        for key, group in frame.groupby([jobs[column] for column in by]):
            means = group.drop(columns=counts).mean().to_dict()
            rows[(*key, name)] = {"jobs": len(group)} | means | group[counts].sum().to_dict()
    return pd.DataFrame(rows).T.round(3)


def candidate(table: pd.DataFrame, settings: list[str]) -> str | None:
    """The rule the procedure in this module's docstring picks, or None."""
    eligible = table[(table["harmed"] == 0) & ~table.index.str.contains(f"{ANALYSIS_ONLY}|{AFTER_THE_READ}")]
    eligible = eligible.drop(index=["reference", "removal, no check"], errors="ignore")
    if eligible.empty:
        return None
    return eligible[settings].sum(axis=1).idxmax()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path, help="a directory of benchmarks/veto_study.py jobs")
    parser.add_argument("--classifier", help="only the jobs of this classifier")
    parser.add_argument("--ensemble", action="store_true", help="add T from both classifiers (exploratory)")
    args = parser.parse_args(argv)
    jobs = load(args.study, ensemble=args.ensemble)
    if args.classifier:
        jobs = jobs[jobs["classifier"] == args.classifier].reset_index(drop=True)
    complete = jobs.groupby(["dataset", "noise", "rate", "classifier"])["seed"].transform("size")
    print(f"{args.study}: {len(jobs)} jobs, seeds per cell {sorted(int(n) for n in complete.unique())}")
    table = pd.DataFrame({name: summarise(jobs, choice) for name, choice in rules(jobs).items()}).T
    settings = [column for column in table.columns if column.startswith(("matrix", "instance"))]
    with pd.option_context("display.width", 250, "display.max_rows", 200, "display.max_columns", 20):
        print(table)
        print("\nThe estimates of T against the injected noise matrix:")
        print(estimate_accuracy(jobs))
        print(estimate_accuracy(jobs, by=("classifier", "noise", "rate")))
    chosen = candidate(table, settings)
    if chosen is None:
        print("\nNo rule without analysis-only input is safe: no candidate.")
        return
    short = [s for s in settings if table.loc[chosen, s] < table.loc["reference", s]]
    print(f"\nCandidate: {chosen!r}; short of the reference in: {', '.join(short) or 'none'}")


if __name__ == "__main__":
    main()
