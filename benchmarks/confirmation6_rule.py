"""The sixth confirmation set's adoption rule (benchmarks/adoption_rule.py), as fixed before its sweeps
(results/confirmation6_split.md): the candidate is the verified rows choosing among cleanings, today's rule the
verified rows judging the removal alone.

    python benchmarks/confirmation6_rule.py [BENCH_DIR]   # BENCH_DIR holds conf6_{reference,plain300,choice300}
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from adoption_rule import decide  # noqa: E402

BENCH = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/bench")
decide(
    str(BENCH / "conf6_reference"),
    str(BENCH / "conf6_plain300"),
    str(BENCH / "conf6_choice300"),
    names=("recommended, 300 trusted rows", "recommended, 300 trusted rows choosing among cleanings"),
)
