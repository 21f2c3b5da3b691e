"""MkDocs hook: the recorded reports of ``benchmarks/results/`` as pages of the site.

The research pages link the recorded reports with relative links that work on GitHub
(``../../benchmarks/results/robustness_fresh_report.md``), which point outside ``docs/``: MkDocs
cannot follow them, and ``--strict`` refuses them. This hook adds every file of
``benchmarks/results/`` to the site as ``results/<file name>.md`` (a ``.txt`` file inside a code
block; a report's ``## Plots`` section dropped, since the plots are not recorded) and rewrites those
links to the added pages. A link to a file that does not exist is left alone, so the strict build
still fails on it.
"""

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File

_RESULTS = "benchmarks/results"
_LINK = re.compile(r"\]\(((?:\.\./)+)" + _RESULTS + r"/([^)#\s]+)(#[^)\s]*)?\)")


def _results_dir(config) -> Path:
    return Path(config["docs_dir"]).parent / _RESULTS


def _page_source(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    header = f"*Recorded in `{_RESULTS}/{path.name}`, included verbatim.*\n\n"
    if path.suffix == ".md":
        title, _, body = text.partition("\n")
        if not title.startswith("# "):
            title, body = "# Recorded report", text
        header = header.replace("verbatim", "verbatim except its plots, which are not recorded")
        return f"{title}: {path.name}\n\n{header}" + body.split("\n## Plots\n")[0]
    return f"# {path.name}\n\n{header}```text\n{text}\n```\n"


def on_files(files, config):
    for path in sorted(_results_dir(config).glob("*")):
        if path.suffix in (".md", ".txt"):
            uri = f"results/{path.name}.md" if path.suffix == ".txt" else f"results/{path.name}"
            files.append(File.generated(config, uri, content=_page_source(path)))
    return files


def on_page_markdown(markdown, page, config, files):
    page_dir = posixpath.dirname(page.file.src_uri)
    depth = len(page_dir.split("/")) if page_dir else 0

    def rewrite(match):
        ups, name, anchor = match.group(1), match.group(2), match.group(3) or ""
        if ups.count("../") != depth + 1 or not (_results_dir(config) / name).is_file():
            return match.group(0)
        uri = f"results/{name}.md" if name.endswith(".txt") else f"results/{name}"
        return f"]({posixpath.relpath(uri, page_dir or '.')}{anchor})"

    return _LINK.sub(rewrite, markdown)
