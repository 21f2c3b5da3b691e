"""Replay verified-row decision rules over the jobs stored by ``benchmarks/trusted_study.py``.

A rule scores each candidate's cross-fitted probabilities of the verified rows (accuracy, log-likelihood or minus
the Brier score of the verified label: :func:`runner.learn.check.check_on_trusted`), keeps the candidates that beat
``kept`` by more than ``min_z`` standard errors of the paired difference and uses the one that wins by most;
otherwise every row. Its test accuracy in a job is then that of the stored final model of its choice. The rule
``method=recommended`` runs (accuracy, ``min_z`` 2, removal and re-weighted removal) must reproduce every job's
recorded choice, which is checked.

Per rule this prints, as ``benchmarks/acceptance.py`` counts them (cells = dataset x noise x rate x classifier,
seeds averaged first):

* cells more than 1 point below the job's own baseline (every row, the verified ones with their verified label)
  and below the noisy baseline (every row with its noisy label), and the worst cell;
* the pooled recovered fraction per noise kind and rate against the noisy baseline, over the cells where the
  noise cost accuracy, beside the reference's and the *ceiling*'s: per cell the best of the reference, no
  cleaning and, when ``--recommended`` names the sweeps of ``method=recommended`` without verified rows, that;
* how many jobs cleaned, and with which candidate; and, as a bound on every rule here, the recovered fraction of
  the best candidate per cell, chosen by the test accuracy itself.

How a rule is chosen. The order, fixed before any rule was replayed: on the sixth confirmation set's jobs (spent by
its report), of the rules with no harmed cell (neither baseline), the largest smallest ratio to the ceiling over the
four noise kinds and rates first; on a tie, the larger ``min_z``. The first rule in that order that is safe on the
development tables' jobs (``--safety``) is chosen. What "safe" means:

* round 1 (``--round 1``, fixed before any rule was replayed): seed 0 only; the rule harms no cell, against either
  baseline. Today's rule failed this itself (breast_cancer and sacramento, test sets of 143 and 233 rows, one job per
  cell), so only the 3-s.e. rules passed (``results/trusted_rule_study.txt``).
* round 2 (the default; fixed at 17:00 UTC on 2026-12-04, commit 5684bea, before any job of seeds 1 and 2 was
  read, knowing round 1's seed-0 results): seeds 0-2, cells averaged over seeds as everywhere else; the rule harms
  no cell against the noisy baseline, and no cell against its own baseline that today's rule does not harm as well:
  no harm beyond the rule already adopted. The rule chosen goes to the next confirmation set against today's
  (``adoption_rule.py``). Its pick, the removal alone at 0.5 standard errors (``results/trusted_rule_round2.txt``),
  was not adopted on the eighth set (``results/confirmation8_report.md``).

    python benchmarks/choose_trusted.py /work/bench/trusted_study6 --recommended /work/bench/conf6_recommended \\
        --safety /work/bench/trusted_study_dev [--round 1]
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from runner.learn.check import check_on_trusted
from runner.sweep.collect import collect
from runner.sweep.studies import CELL_COLUMNS, HARM_THRESHOLD

CELL = list(CELL_COLUMNS)
KEYS = [*CELL, "seed"]
SCORES = ("given", "log_likelihood", "brier")
MIN_Z = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
CANDIDATE_SETS = {"removal": ("strategy",), "removal or re-weighted": ("strategy", "reweighted")}
#: What method=recommended runs with verified rows today.
CURRENT = ("given", 2.0, "removal or re-weighted")


def load(study: Path, seeds=None) -> list[dict]:
    jobs = []
    for path in sorted(study.glob("*.npz")):
        dataset, noise, rate, classifier, seed = path.stem.split("__")
        if seeds is not None and int(seed) not in seeds:
            continue
        with np.load(path) as stored:
            job = {key: stored[key] for key in stored.files}
        job.update(dataset=dataset, noise=noise, rate=float(rate), classifier=classifier, seed=int(seed))
        job["noise.rate"] = job.pop("rate")
        y_test = job["y_test"]
        job["accuracy"] = {
            name.removeprefix("test_"): float(np.mean(job[name].argmax(axis=1) == y_test))
            for name in job
            if name.startswith("test_")
        }
        jobs.append(job)
    return jobs


def decide(checks: dict, score: str, min_z: float, candidates) -> str:
    """The candidate a rule uses ("kept" when none passes), from each candidate's comparison with ``kept`` under
    ``score`` (``checks[score, candidate]``), judged at ``min_z``."""
    passing = [name for name in candidates if replace(checks[score, name], min_z=min_z).use_cleaning]
    return max(passing, key=lambda name: checks[score, name].z) if passing else "kept"


def replay(jobs: list[dict], recommended: dict) -> pd.DataFrame:
    rows = []
    for job in jobs:
        row = {key: job[key] for key in KEYS}
        accuracy = job["accuracy"]
        row.update(
            noisy=accuracy["noisy"],
            clean=accuracy["clean"],
            own=accuracy["kept"],
            removal=accuracy["strategy"],
            reweighted=accuracy["reweighted"],
            reference=accuracy["reference"],
            recommended=recommended.get(tuple(job[key] for key in KEYS), np.nan),
        )
        # The comparison does not depend on the margin: computed once per score and candidate.
        checks = {
            (score, name): check_on_trusted(job["truth"], job["trusted_kept"], job[f"trusted_{name}"], criterion=score)
            for score in SCORES
            for name in ("strategy", "reweighted")
        }
        for score, min_z, candidate_set in itertools.product(SCORES, MIN_Z, CANDIDATE_SETS):
            choice = decide(checks, score, min_z, CANDIDATE_SETS[candidate_set])
            row[(score, min_z, candidate_set)] = choice
            row[("accuracy", score, min_z, candidate_set)] = accuracy[choice]
            if (score, min_z, candidate_set) == CURRENT and choice != str(job["chosen"]):
                raise SystemExit(f"{job['dataset']} {job['seed']}: the replay chose {choice}, the run {job['chosen']}")
        rows.append(row)
    return pd.DataFrame(rows)


def recommended_accuracy(sweeps) -> dict:
    """Test accuracy of ``method=recommended`` (no verified rows) per job key, from sweep directories."""
    found = {}
    for sweep in sweeps or []:
        jobs = collect(sweep)
        jobs = jobs[(jobs["status"] == "done") & (jobs["method"] == "recommended")]
        for _, job in jobs.iterrows():
            key = tuple(job[k] if k != "noise.rate" else float(job[k]) for k in KEYS[:-1]) + (int(job["seed"]),)
            found[key] = float(job["test_accuracy"])
    return found


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    cells = table.groupby(CELL).mean(numeric_only=True)
    lost = cells[cells["clean"] > cells["noisy"]]
    bound = ["reference", "noisy"] + (["recommended"] if cells["recommended"].notna().all() else [])
    groups = [lost.index.get_level_values("noise"), lost.index.get_level_values("noise.rate")]
    cost = (lost["clean"] - lost["noisy"]).groupby(groups).sum()

    def recovered(accuracy: pd.Series) -> pd.Series:
        return (accuracy - lost["noisy"]).groupby(groups).sum() / cost

    ceiling = recovered(lost[bound].max(axis=1))
    reference = recovered(lost["reference"])
    oracle = recovered(lost[["own", "removal", "reweighted"]].max(axis=1))
    results = []
    for score, min_z, candidate_set in itertools.product(SCORES, MIN_Z, CANDIDATE_SETS):
        accuracy = cells[("accuracy", score, min_z, candidate_set)]
        own_delta, noisy_delta = accuracy - cells["own"], accuracy - cells["noisy"]
        own_harmed = frozenset(own_delta.index[own_delta < -HARM_THRESHOLD])
        fraction = recovered(accuracy[lost.index])
        choices = table[(score, min_z, candidate_set)]
        results.append(
            {
                "score": score,
                "min_z": min_z,
                "candidates": candidate_set,
                "harmed (own)": len(own_harmed),
                "harmed (noisy)": int((noisy_delta < -HARM_THRESHOLD).sum()),
                "worst own (pt)": 100 * own_delta.min(),
                "cleaned jobs": int((choices != "kept").sum()),
                "re-weighted": int((choices == "reweighted").sum()),
                **{f"{noise} {rate}": fraction[(noise, rate)] for noise, rate in fraction.index},
                "min ratio to ceiling": float((fraction / ceiling).min()),
                "own-harmed cells": own_harmed,
            }
        )
    results = pd.DataFrame(results)
    bounds = pd.DataFrame(
        [
            {"score": "reference", **{f"{n} {r}": v for (n, r), v in reference.items()}},
            {"score": "ceiling", **{f"{n} {r}": v for (n, r), v in ceiling.items()}},
            {"score": "best candidate per cell", **{f"{n} {r}": v for (n, r), v in oracle.items()}},
        ]
    )
    return pd.concat([results, bounds], ignore_index=True)


def harmless(results: pd.DataFrame) -> pd.Series:
    """Which rules harm no cell, against either baseline."""
    return (results["harmed (own)"] == 0) & (results["harmed (noisy)"] == 0)


def no_new_harm(results: pd.DataFrame) -> pd.Series:
    """Which rules harm no cell against the noisy baseline, and no cell against their own baseline that today's rule
    does not harm too."""
    today = todays_harm(results)
    return (results["harmed (noisy)"] == 0) & results["own-harmed cells"].map(lambda cells: cells <= today)


def todays_harm(results: pd.DataFrame) -> frozenset:
    """The cells today's rule harms against its own baseline."""
    return results.set_index(["score", "min_z", "candidates"]).loc[CURRENT, "own-harmed cells"]


def chosen_rule(results: pd.DataFrame) -> pd.Series:
    safe = results[harmless(results)]
    return safe.sort_values(["min ratio to ceiling", "min_z"], ascending=False).iloc[0]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path)
    parser.add_argument("--recommended", nargs="*", help="sweeps of method=recommended without verified rows")
    parser.add_argument("--safety", type=Path, help="a study of other tables the chosen rule must not harm")
    parser.add_argument("--round", type=int, choices=(1, 2), default=2, help="what safe means (see the docstring)")
    args = parser.parse_args(argv)
    results = _report(args.study, recommended_accuracy(args.recommended))
    rules = results.dropna(subset=["min_z"])
    if args.safety is not None:
        print(f"\nSafety study {args.safety}:")
        safety = _report(args.safety, {}, seeds={0} if args.round == 1 else None).dropna(subset=["min_z"])
        safe = harmless(safety) if args.round == 1 else no_new_harm(safety)
        rules = rules[safe.to_numpy()]
        print("\nCells today's rule harms against its own baseline:", *sorted(todays_harm(safety)), sep="\n  ")
    rule = chosen_rule(rules)
    print(f"\nChosen (safe, largest smallest ratio to the ceiling, then larger min_z):\n{rule.to_string()}")


def _report(study: Path, recommended: dict, seeds=None) -> pd.DataFrame:
    table = replay(load(study, seeds), recommended)
    results = summarise(table)
    cells = table.groupby(CELL).ngroups
    print(f"{study}: {len(table)} jobs, {cells} cells; the current rule's choices reproduced in every job")
    shown = results.drop(columns="own-harmed cells")
    print(shown.to_string(index=False, float_format=lambda value: f"{value:.3f}"))
    return results


if __name__ == "__main__":
    main()
