"""benchmarks/gain_ceiling.py: the per-cell best choice bounds every method, and it reads our reports."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("gain_ceiling", ROOT / "benchmarks" / "gain_ceiling.py")
gain_ceiling = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gain_ceiling)

REPORT = """# Sweep report

| dataset | noise | noise.rate | classifier | noisy baseline | clean labels | reference (Δ pt) | guarded (Δ pt) |
| --- | --- | --- | --- | --- | --- | --- | --- |
| a | matrix | 0.2 | lr | 0.700 | 0.900 | 0.800 (+10.0) | 0.700 (+0.0) |
| b | matrix | 0.2 | lr | 0.800 | 0.900 | 0.750 (-5.0) | 0.820 (+2.0) |
| a | instance | 0.4 | lr | 0.600 | 0.800 | 0.500 (-10.0) | 0.590 (-1.0) |

## Results
"""


def test_ceiling_takes_the_best_of_each_cell_or_none(tmp_path):
    report = tmp_path / "report.md"
    report.write_text(REPORT)
    table = gain_ceiling.ceiling(gain_ceiling.cell_table(report))
    # matrix 0.2: lost 0.2 + 0.1; reference gains 0.1 - 0.05, guarded 0 + 0.02, best per cell 0.1 + 0.02.
    assert table.loc["reference", ("matrix", "0.2")] == pytest.approx(0.05 / 0.3)
    assert table.loc["guarded", ("matrix", "0.2")] == pytest.approx(0.02 / 0.3)
    assert table.loc["ceiling (best per cell, or none)", ("matrix", "0.2")] == pytest.approx(0.12 / 0.3)
    # Where every method loses, the ceiling is no cleaning.
    assert table.loc["ceiling (best per cell, or none)", ("instance", "0.4")] == 0


@pytest.mark.parametrize("name", ["robustness_report.md", "robustness_fresh_report.md"])
def test_recorded_reports_parse_and_the_ceiling_bounds_every_method(name):
    cells = gain_ceiling.cell_table(ROOT / "benchmarks" / "results" / name)
    assert len(cells) == 96 and list(cells.columns[6:]) == ["reference", "recommended"]
    table = gain_ceiling.ceiling(cells)
    best = table.loc["ceiling (best per cell, or none)"]
    assert np.all(best.to_numpy() >= table.drop(index=best.name).max().to_numpy() - 1e-12)
    assert np.all(best.to_numpy() >= 0)
