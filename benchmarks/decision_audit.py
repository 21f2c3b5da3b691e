"""Which of its two tests makes ``method=recommended``'s decision, and what does each veto cost on test?

``method=recommended`` keeps the cleaned training set only when two tests pass (``runner.learn.guard``):

* the *z test*: on the held-out halves, the models trained on the cleaned rows predict the given labels better
  than those trained on every row by more than ``cv.validation_min_z`` standard errors of the paired
  difference (``holdout_accuracy_cleaned``, ``holdout_accuracy_kept``, ``holdout_accuracy_standard_error``);
* the *diagonal-dominance gate*: the estimated noise matrix's label margin
  (``noise_matrix_label_margin``, ``min_k T[k, k] - max_{j != k} T[j, k]``) is positive.

For every ``method=recommended`` job of one or more sweeps this prints the cell (dataset, noise kind, rate,
classifier, seed), the reference's test gain over the noisy baseline in the same cell and seed (the job of
``method=reference``; points), whether recommended used the cleaning, the held-out difference (points) and
its z, the label margin and which test decided. Then, per decision, how often it happened and how the
reference's cleaning did on test in those jobs: above all, how often the gate alone vetoed a cleaning that
the z test passed. A vetoed cleaning never reaches the test split; its own test gain is measured by a sweep
of the same grid with ``method=reference +strategy.reweight=false`` (the reference's flags removed without
its class re-weighting: what recommended trains on when both tests pass), passed as one more sweep directory
and shown as ``removal``; without it, the reference's gain stands in for it. With it, the decisions are also
replayed as simpler rules (the z test alone, the gate alone, always, the best per job) to show what each test
costs and what it prevents.

    python benchmarks/decision_audit.py /work/bench/dev_full_s0 [/work/bench/dev_full_removal_s0 ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from runner.learn.check import label_margin
from runner.sweep.collect import collect

CELL = ["dataset", "noise", "noise.rate", "classifier", "seed"]
#: A job more than this far below its noisy baseline (test accuracy, points) counts as harmed, as in the report.
HARM_POINTS = 1.0
DECISIONS = ["used (both passed)", "gate alone vetoed", "z test alone vetoed", "both vetoed", "no check"]


def load(sweeps) -> pd.DataFrame:
    """The finished jobs of the sweeps, with the job directory (``path``) and the z threshold each ran with."""
    frames = []
    for sweep in sweeps:
        jobs = collect(sweep)
        jobs = jobs[jobs["status"] == "done"].copy()
        jobs["path"] = [str(Path(sweep) / name) for name in jobs["job"]]
        frames.append(jobs)
    jobs = pd.concat(frames, ignore_index=True)
    missing = [column for column in [*CELL, "method"] if column not in jobs.columns]
    if missing:
        raise SystemExit(f"the sweeps do not vary or name {missing}: no cells to compare")
    if "strategy.reweight" in jobs.columns:  # the reference without re-weighting: recommended's own cleaning
        unweighted = (jobs["method"] == "reference") & (jobs["strategy.reweight"].astype(str) == "False")
        jobs.loc[unweighted, "method"] = "removal"
    repeated = jobs.duplicated(subset=[*CELL, "method"])
    if repeated.any():  # the same job in two sweeps: the first sweep named wins
        print(
            f"note: {int(repeated.sum())} job(s) repeat a cell and method of an earlier sweep; the first kept",
            file=sys.stderr,
        )
        jobs = jobs[~repeated]
    jobs["min_z"] = [_min_z(Path(path)) for path in jobs["path"]]
    return jobs


def _min_z(job_dir: Path) -> float:
    """``cv.validation_min_z`` of the job's composed config (NaN when it has none)."""
    config = yaml.safe_load((job_dir / ".hydra" / "config.yaml").read_text())
    return float((config.get("cv") or {}).get("validation_min_z", np.nan))


def audit(jobs: pd.DataFrame) -> pd.DataFrame:
    """One row per ``method=recommended`` job: the two tests, the decision, and the cell's test gains."""
    points = 100 * (jobs["test_accuracy"] - jobs["baseline_test_accuracy"])
    gains = jobs.assign(gain=points).pivot_table(index=CELL, columns="method", values="gain", aggfunc="first")
    recommended = jobs[jobs["method"] == "recommended"].set_index(CELL)
    rows = pd.DataFrame(index=recommended.index)
    rows["reference_gain"] = gains["reference"].reindex(rows.index) if "reference" in gains else np.nan
    for method in ("removal", "ensemble"):
        if method in gains:
            rows[f"{method}_gain"] = gains[method].reindex(rows.index)
    rows["recommended_gain"] = gains["recommended"].reindex(rows.index)
    rows["n_train"] = recommended["n_train"]
    rows["noise_cost"] = 100 * (recommended["clean_labels_test_accuracy"] - recommended["baseline_test_accuracy"])
    rows["used"] = recommended["cleaning_used"].astype(bool)
    held_out = _column(recommended, "holdout_accuracy_cleaned") - _column(recommended, "holdout_accuracy_kept")
    standard_error = _column(recommended, "holdout_accuracy_standard_error")
    rows["held_out_gain"] = 100 * held_out
    rows["z"] = held_out / standard_error
    rows["min_z"] = recommended["min_z"]
    rows["margin"] = _column(recommended, "noise_matrix_label_margin")
    facts = pd.DataFrame([_matrix_facts(Path(path)) for path in recommended["path"]], index=rows.index)
    rows["worst_class_share"] = facts["worst_class_share"]
    rows["true_margin"] = facts["true_margin"]
    z_passes = (held_out > 0) & (held_out > recommended["min_z"] * standard_error)
    rows["z_passes"] = z_passes
    gate_passes = rows["margin"].isna() | (rows["margin"] > 0)
    checked = pd.notna(held_out)
    rows["decision"] = np.select(
        [~checked, z_passes & gate_passes, z_passes & ~gate_passes, ~z_passes & gate_passes],
        ["no check", DECISIONS[0], DECISIONS[1], DECISIONS[2]],
        default=DECISIONS[3],
    )
    # The tests as replayed here must give the decision the job made; a mismatch means they are misread.
    rows["replay_agrees"] = ~checked | ((z_passes & gate_passes) == rows["used"])
    return rows.reset_index().sort_values(CELL).reset_index(drop=True)


def _matrix_facts(job_dir: Path) -> dict:
    """The given-label share of the class with the smallest estimated margin (row sums of the confident joint),
    and, for analysis only, the label margin of the injected noise matrix (a user never has it)."""
    facts = {"worst_class_share": np.nan, "true_margin": np.nan}
    estimated, joint, true = (
        job_dir / name for name in ("noise_matrix.csv", "confident_joint.csv", "true_noise_matrix.csv")
    )
    if estimated.is_file() and joint.is_file():
        matrix = pd.read_csv(estimated, index_col=0).to_numpy(float)
        others = matrix.copy()
        np.fill_diagonal(others, -np.inf)
        worst = int(np.argmin(np.diagonal(matrix) - others.max(axis=0)))
        given = pd.read_csv(joint, index_col=0).to_numpy(float).sum(axis=1)
        facts["worst_class_share"] = given[worst] / given.sum()
    if true.is_file():
        facts["true_margin"] = label_margin(pd.read_csv(true, index_col=0).to_numpy(float))
    return facts


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """A numeric column, all NaN when no job wrote it (a sweep where no job ran the check)."""
    return pd.to_numeric(frame[name], errors="coerce") if name in frame else pd.Series(np.nan, index=frame.index)


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per decision: jobs, and the reference's test gain there (mean, worst, best; jobs gaining or harmed)."""
    out = []
    for decision in DECISIONS:
        chosen = rows[rows["decision"] == decision]
        gain = chosen["reference_gain"]
        out.append(
            {
                "decision": decision,
                "jobs": len(chosen),
                "reference gain mean": gain.mean(),
                "worst": gain.min(),
                "best": gain.max(),
                f"reference > +{HARM_POINTS:g} pt": int((gain > HARM_POINTS).sum()),
                f"reference < -{HARM_POINTS:g} pt": int((gain < -HARM_POINTS).sum()),
                "recommended gain mean": chosen["recommended_gain"].mean(),
            }
        )
        if "removal_gain" in rows:
            removal = chosen["removal_gain"]
            out[-1].update(
                {
                    "removal gain mean": removal.mean(),
                    f"removal > +{HARM_POINTS:g} pt": int((removal > HARM_POINTS).sum()),
                    f"removal < -{HARM_POINTS:g} pt": int((removal < -HARM_POINTS).sum()),
                }
            )
    return pd.DataFrame(out).set_index("decision")


def rules(rows: pd.DataFrame) -> pd.DataFrame:
    """Replayed decisions over the removal counterfactual: pooled recovered fraction and harmed jobs.

    Each rule says per job whether the final fit uses the cleaning (removal without re-weighting) or every row;
    its gain is then ``removal_gain`` or 0. The recovered fraction ``Σ gain / Σ noise cost`` pools the jobs where
    the noise cost accuracy (clean-label model above the noisy baseline), per noise kind and rate; harmed counts
    jobs more than ``HARM_POINTS`` below the noisy baseline, over all jobs. The last row reads the test split
    (the best of cleaning or not, per job): a bound, not a rule.
    """
    gate_passes = rows["margin"].isna() | (rows["margin"] > 0)
    removal = rows["removal_gain"]
    always = pd.Series(True, index=rows.index)
    # rule -> (test gain per job, whether the job's final fit used a cleaning)
    choices = {
        "reference (re-weighted, always)": (rows["reference_gain"], always),
        "removal, always": (removal, always),
        "recommended as run (z test and gate)": (rows["recommended_gain"], rows["used"]),
        "z test alone (no gate)": (removal.where(rows["z_passes"], 0.0), rows["z_passes"]),
        "gate alone (no z test)": (removal.where(gate_passes, 0.0), gate_passes),
        "best of removal or none (reads test)": (removal.clip(lower=0), removal > 0),
    }
    if "ensemble_gain" in rows:
        choices["ensemble, always"] = (rows["ensemble_gain"], always)
    gains = pd.DataFrame({rule: gain for rule, (gain, _) in choices.items()})
    hurt = rows["noise_cost"] > 0
    keys = [rows["noise"][hurt], rows["noise.rate"][hurt]]
    pooled = gains[hurt].groupby(keys).sum().div(rows["noise_cost"][hurt].groupby(keys).sum(), axis=0).T
    pooled.columns = [f"{noise} {rate}" for noise, rate in pooled.columns]
    pooled["jobs harmed"] = (gains < -HARM_POINTS).sum().astype(int)
    pooled["jobs cleaned"] = pd.Series({rule: int(used.sum()) for rule, (_, used) in choices.items()})
    return pooled


def render(rows: pd.DataFrame) -> str:
    lines = []
    table = rows.drop(columns=["replay_agrees", "z_passes"]).rename(columns={"noise.rate": "rate"})
    table["rate"] = table["rate"].map(str)
    table["n_train"] = table["n_train"].astype("Int64")
    lines.append(
        f"{len(rows)} method=recommended jobs; gains in test-accuracy points over the noisy baseline, "
        "held_out_gain in points of given-label agreement, z = held_out_gain / its standard error"
    )
    lines.append(table.to_string(index=False, float_format=lambda value: f"{value:+.2f}"))
    lines.append("")
    lines.append("Per decision (the reference's test gain in the same cell and seed):")
    lines.append(summary(rows).to_string(float_format=lambda value: f"{value:+.2f}"))
    lines.append("")
    lines.append("Decisions per table (jobs):")
    lines.append(pd.crosstab(rows["dataset"], rows["decision"]).reindex(columns=DECISIONS, fill_value=0).to_string())
    if rows["true_margin"].notna().any():
        lines.append("")
        lines.append("The gate's verdict against the injected noise matrix (analysis only; jobs):")
        verdicts = pd.crosstab(
            [rows["noise"], rows["noise.rate"]],
            [
                rows["true_margin"].gt(0).map({True: "true T dominant", False: "true T not"}),
                rows["margin"].gt(0).map({True: "gate passes", False: "gate vetoes"}),
            ],
        )
        lines.append(verdicts.to_string())
    vetoed = rows[rows["decision"] == "gate alone vetoed"]
    passed = rows[rows["z_passes"]]
    lines.append("")
    lines.append(
        f"The z test passed in {len(passed)} of {len(rows)} jobs; the gate alone vetoed {len(vetoed)} of them "
        f"(in {vetoed['dataset'].nunique()} tables: {', '.join(sorted(vetoed['dataset'].unique()))})."
    )
    if len(vetoed):
        lines.append(
            f"  In those jobs the reference gained {vetoed['reference_gain'].mean():+.2f} pt on average "
            f"(worst {vetoed['reference_gain'].min():+.2f}, best {vetoed['reference_gain'].max():+.2f}); "
            f"label margin {vetoed['margin'].min():+.2f} to {vetoed['margin'].max():+.2f}, "
            f"z {vetoed['z'].min():.1f} to {vetoed['z'].max():.1f}."
        )
        if "removal_gain" in vetoed and vetoed["removal_gain"].notna().any():
            removal = vetoed["removal_gain"].dropna()
            lines.append(
                f"  The vetoed cleaning itself (removal without re-weighting, run in {len(removal)} of "
                f"those jobs): {removal.mean():+.2f} pt on average "
                f"(worst {removal.min():+.2f}, best {removal.max():+.2f}); "
                f"{int((removal > HARM_POINTS).sum())} gained more than {HARM_POINTS:g} pt, "
                f"{int((removal < -HARM_POINTS).sum())} lost more."
            )
    if "removal_gain" in rows and rows["removal_gain"].notna().any():
        counterfactual = rows[rows["removal_gain"].notna()]
        lines.append("")
        lines.append(
            f"Replayed rules over the removal counterfactual ({len(counterfactual)} jobs that have it; pooled "
            "recovered fraction over those where noise cost accuracy; jobs more than "
            f"{HARM_POINTS:g} pt below the noisy baseline):"
        )
        lines.append(rules(counterfactual).to_string(float_format=lambda value: f"{value:+.3f}"))
    disagree = rows[~rows["replay_agrees"]]
    names = disagree[CELL].astype(str).agg("/".join, axis=1)
    lines.append(
        f"Jobs whose decision the replayed tests do not reproduce: {len(disagree)}"
        + (f" ({', '.join(names)})" if len(disagree) else "")
    )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "sweeps", nargs="+", type=Path, help="sweep directories (jobs of method=recommended and method=reference)"
    )
    args = parser.parse_args(argv)
    pd.set_option("display.width", 250)
    print(render(audit(load(args.sweeps))))


if __name__ == "__main__":
    main()
