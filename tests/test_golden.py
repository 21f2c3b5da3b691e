"""Golden runs: fixed configs whose artifacts must stay byte for byte what the recorded files in tests/golden hold.

Four runs from the command line (the default run, an own-data run with given probabilities, a four-strategy
sweep, ``method=recommended``); every file they write is compared with its recorded copy, except what
legitimately differs between identical runs: timings, the cache hit flag, the commit, library versions, the
config digest (it changes whenever a config key is added) and Hydra's own ``.hydra`` records. Paths of the
temporary working directory are replaced by ``<CWD>``. Binary files (``.npy``, ``.png``) are compared by
SHA-256 digest. Rerecord after an intended change of behaviour with
``.venv/bin/python tests/test_golden.py`` (then review the diff).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

GOLDEN = Path(__file__).parent / "golden"
INPUTS = GOLDEN / "inputs"  # the own-data table and its out-of-fold probabilities (made once, outside cleanrun)
# metrics.json keys (and summary.csv columns) that may differ between identical runs
VOLATILE_PREFIXES = ("time_", "cv_cache_hit", "git_commit", "versions", "config_hash")
BINARY_SUFFIXES = (".npy", ".png")
HYDRA_RECORDS = ("multirun.yaml",)  # Hydra's record of the composed sweep config (like .hydra/)
COMMON = ["cache_dir=null", "hydra.run.dir=outputs/run", "hydra.sweep.dir=outputs/sweep"]

CASES = {
    "default": [],
    "own_data": [
        "dataset=csv",
        f"dataset.path={INPUTS / 'own.csv'}",
        "dataset.label_column=species",
        "dataset.id_column=id",
        "dataset.test_size=0",
        "noise=none",
        "cv=given",
        f"cv.pred_probs_path={INPUTS / 'own_pred_probs.csv'}",
        "final_fit=skip",
    ],
    "sweep": ["dataset=iris", "cv.folds=3", "strategy=remove,weight,relabel,none"],
    "recommended": ["dataset=iris", "method=recommended"],
}
SWEEPS = ("sweep",)


def run_case(name: str, cwd: Path) -> Path:
    """Run one golden case in ``cwd``; its output directory."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("CLEANRUN_CACHE_DIR", None)
    result = subprocess.run(
        [sys.executable, "-m", "runner", *(["-m"] if name in SWEEPS else []), *COMMON, *CASES[name]],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return cwd / "outputs" / ("sweep" if name in SWEEPS else "run")


def _volatile(key: str) -> bool:
    return key.startswith(VOLATILE_PREFIXES)


def normalized(path: Path, cwd: Path) -> str:
    """A file's comparable content: text with the working directory masked, or a digest."""
    if path.suffix in BINARY_SUFFIXES:
        return "sha256 " + hashlib.sha256(path.read_bytes()).hexdigest() + "\n"
    text = path.read_text().replace(str(cwd.resolve()), "<CWD>").replace(str(cwd), "<CWD>")
    if path.name == "metrics.json":
        metrics = {key: value for key, value in json.loads(text).items() if not _volatile(key)}
        return json.dumps(metrics, indent=1, sort_keys=True) + "\n"
    if path.name == "summary.csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frame = frame.drop(columns=[column for column in frame.columns if _volatile(column)])
        return frame.to_csv(index=False).replace(str(cwd.resolve()), "<CWD>").replace(str(cwd), "<CWD>")
    return text


def artifacts_of(out: Path, cwd: Path) -> dict[str, str]:
    """Every artifact under ``out`` (Hydra's .hydra records and logs aside), by relative path."""
    return {
        str(path.relative_to(out)): normalized(path, cwd)
        for path in sorted(out.rglob("*"))
        if path.is_file()
        and ".hydra" not in path.parts
        and path.name not in HYDRA_RECORDS
        and path.suffix != ".log"
        and not path.name.startswith(".")
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_artifacts_match_the_golden_run(name, tmp_path):
    produced = artifacts_of(run_case(name, tmp_path), tmp_path)
    recorded = {
        str(path.relative_to(GOLDEN / name)): path.read_text()
        for path in sorted((GOLDEN / name).rglob("*"))
        if path.is_file()
    }
    assert sorted(produced) == sorted(recorded)
    for relative, content in recorded.items():
        assert produced[relative] == content, f"{name}/{relative} differs from its golden copy"


def record() -> None:
    """Rerun every case and overwrite its golden files."""
    for name in CASES:
        with tempfile.TemporaryDirectory() as cwd:
            produced = artifacts_of(run_case(name, Path(cwd)), Path(cwd))
        shutil.rmtree(GOLDEN / name, ignore_errors=True)
        for relative, content in produced.items():
            target = GOLDEN / name / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)


if __name__ == "__main__":
    record()
