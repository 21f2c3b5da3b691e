"""benchmarks/gate_replay.py: the gate vetoes the cleanings of jobs whose estimated noise matrix is not dominant."""

import importlib.util
import json
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("gate_replay", ROOT / "benchmarks" / "gate_replay.py")
gate_replay = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gate_replay)

DOMINANT = [[0.8, 0.3], [0.2, 0.7]]
FLIPPED = [[0.4, 0.3], [0.6, 0.7]]  # class 0 is labelled 1 more often than 0: margin -0.2
#: dataset -> (ungated test accuracy, cleaning used, estimated noise matrix, reference test accuracy)
JOBS = {
    "kept": (0.75, True, DOMINANT, 0.72),
    "vetoed": (0.60, True, FLIPPED, 0.66),
    "refused": (0.70, False, DOMINANT, 0.8),
}


def _sweep(root: Path, method: str) -> Path:
    for number, (dataset, (accuracy, used, matrix, reference)) in enumerate(JOBS.items()):
        job = root / method / str(number)
        (job / ".hydra").mkdir(parents=True)
        overrides = [f"dataset={dataset}", "noise=matrix", "noise.rate=0.2", "classifier=lr", "seed=0"]
        (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {line}\n" for line in overrides))
        metrics = {
            "test_accuracy": accuracy if method == "ungated" else reference,
            "baseline_test_accuracy": 0.70,
            "clean_labels_test_accuracy": 0.90,
            "cleaning_used": used,
        }
        (job / "metrics.json").write_text(json.dumps(metrics))
        pd.DataFrame(matrix).to_csv(job / "noise_matrix.csv")
    return root / method


def test_the_gate_keeps_a_cleaning_only_where_the_estimated_noise_matrix_is_dominant(tmp_path, capsys):
    jobs = gate_replay.replay(
        gate_replay._jobs(_sweep(tmp_path, "ungated")), gate_replay._jobs(_sweep(tmp_path, "ref"))
    )
    gains = jobs.set_index("dataset")[["as run", "gated", "reference"]].round(6)
    assert gains.loc["kept"].tolist() == [5.0, 5.0, 2.0]
    assert gains.loc["vetoed"].tolist() == [-10.0, 0.0, -4.0]
    assert gains.loc["refused"].tolist() == [0.0, 0.0, 10.0]
    gate_replay.main([str(tmp_path / "ungated"), str(tmp_path / "ref")])
    out = capsys.readouterr().out
    harmed = dict(line.rsplit(maxsplit=1) for line in out.split("\n\n")[0].splitlines()[1:])
    assert harmed == {"as run": "1", "gated": "0", "reference": "1"}
    # pooled over the three cells, each of which lost 20 points: (5 - 10 + 0) / 60, 5 / 60 and (2 - 4 + 10) / 60
    pooled = out.split("noise.rate")[-1].split()
    assert pooled[1:] == ["as", "run", "-0.083", "gated", "0.083", "reference", "0.133"]
