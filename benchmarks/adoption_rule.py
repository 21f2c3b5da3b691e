"""Does a candidate replace today's method? The adoption rule of the sixth and seventh confirmation sets.

Fixed in their split files (results/confirmation6_split.md, results/confirmation7_split.md) before their sweeps,
and computed from benchmarks/acceptance.py's own tables: the candidate must harm no cell (more than 1 point below
its noisy baseline), recover in each noise kind and rate at least today's fraction minus 0.02 and more summed over
the four ("noisy baseline" accounting), and cost at most 3x the reference (median per job).

    python benchmarks/adoption_rule.py REFERENCE_DIR TODAY_DIR CANDIDATE_DIR
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import acceptance as a  # noqa: E402

MARGIN = 0.02
MAX_COST = 3.0


def decide(reference: str, today: str, candidate: str, names=("today", "candidate")) -> bool:
    """Print the rule's three conditions for the sweeps named and whether the candidate is adopted."""
    today_name, candidate_name = names
    jobs = a.load([("reference", [reference]), (today_name, [today]), (candidate_name, [candidate])])
    own = a.cells(jobs)
    delta = own[candidate_name] - own["baseline"]
    harmed = own[delta < -a.HARM_THRESHOLD]
    print(f"1. no harm: {len(harmed)} of {len(own)} cells below -1 pt; worst {100 * delta.min():+.2f} pt")
    noisy = a.recovered_fractions(a.cells(jobs, own_baseline=False), "reference", ["reference"])
    diff = noisy.loc[candidate_name] - noisy.loc[today_name]
    print("2. noisy-baseline recovered fraction per setting:")
    print(noisy.loc[[candidate_name, today_name]].round(4).to_string())
    print("   differences:", ", ".join(f"{c} {v:+.4f}" for c, v in diff.items()), f"(each must be >= -{MARGIN})")
    sums = noisy.loc[candidate_name].sum(), noisy.loc[today_name].sum()
    print(f"   sums: {candidate_name} {sums[0]:.4f}, {today_name} {sums[1]:.4f} (the first must be higher)")
    cost = a.cost_ratios(jobs, "reference")[candidate_name]
    print(f"3. cost: {cost:.2f}x the reference (median per job; must be <= {MAX_COST:g})")
    adopted = harmed.empty and (diff >= -MARGIN).all() and sums[0] > sums[1] and cost <= MAX_COST
    print("verdict:", "ADOPT" if adopted else "stays an option")
    return adopted


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference")
    parser.add_argument("today")
    parser.add_argument("candidate")
    args = parser.parse_args(argv)
    decide(args.reference, args.today, args.candidate)


if __name__ == "__main__":
    main()
