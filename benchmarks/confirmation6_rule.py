"""The sixth confirmation set's adoption rule, as fixed before its sweeps (results/confirmation6_split.md).

Computed from benchmarks/acceptance.py's own tables: the candidate (verified rows choosing among cleanings) must
harm no cell, recover in each noise kind and rate at least today's verified-row rule's fraction minus 0.02 and
more summed over the four ("noisy baseline" accounting), and cost at most 3x the reference (median per job).

    python benchmarks/confirmation6_rule.py [BENCH_DIR]   # BENCH_DIR holds conf6_{reference,plain300,choice300}
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import acceptance as a  # noqa: E402

BENCH = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/bench")
MARGIN = 0.02

CHOICE = "recommended, 300 trusted rows choosing among cleanings"
PLAIN = "recommended, 300 trusted rows"
named = [
    ("reference", [str(BENCH / "conf6_reference")]),
    (PLAIN, [str(BENCH / "conf6_plain300")]),
    (CHOICE, [str(BENCH / "conf6_choice300")]),
]
jobs = a.load(named)
own = a.cells(jobs)
harmed = own[own[CHOICE] - own["baseline"] < -a.HARM_THRESHOLD]
print(f"1. no harm: {len(harmed)} of {len(own)} cells below -1 pt; worst {(own[CHOICE] - own['baseline']).min():+.2f}")
noisy = a.recovered_fractions(a.cells(jobs, own_baseline=False), "reference", ["reference"])
diff = noisy.loc[CHOICE] - noisy.loc[PLAIN]
print("2. noisy-baseline recovered fraction, choice - plain per setting:")
print(noisy.loc[[CHOICE, PLAIN]].round(4).to_string())
print("   differences:", ", ".join(f"{c} {v:+.4f}" for c, v in diff.items()), f"(each must be >= -{MARGIN})")
print(f"   sums: choice {noisy.loc[CHOICE].sum():.4f}, plain {noisy.loc[PLAIN].sum():.4f} (choice must be >= plain)")
cost = a.cost_ratios(jobs, "reference")[CHOICE]
print(f"3. cost: {cost:.2f}x the reference (median per job; must be <= 3)")
ok = harmed.empty and (diff >= -MARGIN).all() and noisy.loc[CHOICE].sum() >= noisy.loc[PLAIN].sum() and cost <= 3
print("verdict:", "ADOPT" if ok else "stays an option")
