"""The documentation: the README's shape, and the site built with ``mkdocs build --strict``.

The strict build fails on a broken link or anchor, a page of the nav that does not exist, and a
docstring the API reference cannot render; ``docs/hooks.py`` turns the links to the recorded reports
in ``benchmarks/results/`` into pages of the site.
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 250


def _load_hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_is_short():
    n_lines = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert n_lines <= README_MAX_LINES, f"README.md has {n_lines} lines; move the long form to docs/"


def test_readme_answers_which_method_before_any_table():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    heading = next(i for i, line in enumerate(lines) if re.match(r"#+ Which method should I use\?", line))
    first_table = next(i for i, line in enumerate(lines) if line.lstrip().startswith("|"))
    assert heading < first_table


def test_readme_links_to_existing_files():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if "://" not in t]
    assert local, "the README links no docs page"
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


@pytest.mark.parametrize(
    ("page", "link", "expected"),
    [
        ("research/do-no-harm.md", "../../benchmarks/results/gain_ceiling.txt", "../results/gain_ceiling.txt.md"),
        ("benchmarks.md", "../benchmarks/results/benchmark_report.md#results", "results/benchmark_report.md#results"),
        # a missing report, or a path that does not reach the repository root, is left for --strict to refuse
        ("benchmarks.md", "../benchmarks/results/missing.md", "../benchmarks/results/missing.md"),
        ("research/index.md", "../benchmarks/results/gain_ceiling.txt", "../benchmarks/results/gain_ceiling.txt"),
    ],
)
def test_links_to_recorded_reports_become_site_pages(page, link, expected):
    hooks = _load_hooks()
    config = {"docs_dir": str(ROOT / "docs")}
    page_obj = SimpleNamespace(file=SimpleNamespace(src_uri=page))
    out = hooks.on_page_markdown(f"see [it]({link}).", page=page_obj, config=config, files=None)
    assert out == f"see [it]({expected})."


def test_site_builds_strict(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr[-5000:]
    site = tmp_path / "site"
    for page in ["api/runner", "api/confident", "api/contracts", "api/detection", "api/strategies", "api/datasets"]:
        assert (site / page / "index.html").is_file(), page
    assert 'id="runner.CleanLearning.fit"' in (site / "api/runner/index.html").read_text(encoding="utf-8")
    for report in sorted((ROOT / "benchmarks" / "results").glob("*")):
        name = report.name if report.suffix == ".txt" else report.stem
        assert (site / "results" / name / "index.html").is_file(), report.name
