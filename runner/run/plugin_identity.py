"""What each config group of a run chose: its option, the callable it names, and that callable's source.

A run is described by the options chosen in its config groups (``detection=mine``) and by the
``_target_`` each option names (``my_detector.Mine``). :func:`chosen_plugins` records both, flat,
for ``metrics.json`` and the run's summary, so a plugin that has no ``filter_by`` or other
telling key is still on record.

Results also depend on the plugin's *code*. Code installed in a package is identified by that
package's version (``metrics.json``'s ``versions``), but a researcher's own plugin in a plain
folder (or an editable install) changes without any version: :func:`target_sources` gives the
content digest of the file that defines each such ``_target_``, which the config digest counts,
so ``resume=`` reruns the jobs whose plugin file was edited. Only the defining file counts: a
helper module it imports does not.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import sysconfig
from pathlib import Path

__all__ = ["chosen_plugins", "config_targets", "target_sources"]

# Groups whose choices Hydra records but which configure Hydra itself, not the run.
_HYDRA_GROUP = "hydra"
# cleanrun's own code: versioned with cleanrun.
_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # runner/, this file being runner/run/plugin_identity.py


def chosen_plugins(config: dict, choices: dict) -> dict:
    """The option chosen in every config group, and the ``_target_`` of every group node that names one.

    Parameters
    ----------
    config : dict
        The resolved run config (``OmegaConf.to_container(cfg, resolve=True)``).
    choices : dict
        Hydra's ``runtime.choices``: group → chosen option (``hydra/...`` groups are left out);
        may be empty (a config composed without Hydra's command line).

    Returns
    -------
    dict
        ``{"<group>_option": option, "<group>_target": target, ...}``: an option for every
        group in ``choices``, a target for every top-level node with a ``_target_`` (``method``
        and ``cv`` name none); groups in the config's order. A nested group ``a/b`` gives
        ``a_b_option``.
    """
    record = {}
    chosen = [group for group, option in choices.items() if option is not None]
    # In the config's order (dataset, noise, classifier, ...), then the groups that hold no key (method).
    groups = [key for key, node in config.items() if key in chosen or (isinstance(node, dict) and "_target_" in node)]
    for group in dict.fromkeys(groups + chosen):
        if group.split("/")[0] == _HYDRA_GROUP:
            continue
        key = group.replace("/", "_").replace(".", "_")
        if choices.get(group) is not None:
            record[f"{key}_option"] = str(choices[group])
        node = config
        for part in group.split("/"):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get("_target_"), str):
            record[f"{key}_target"] = node["_target_"]
    return record


def config_targets(config) -> list[str]:
    """Every ``_target_`` string in a config container (dicts and lists, any depth), in order, once each."""
    found: dict[str, None] = {}
    stack = [config]
    while stack:
        node = stack.pop(0)
        if isinstance(node, dict):
            if isinstance(node.get("_target_"), str):
                found[node["_target_"]] = None
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return list(found)


def target_sources(config) -> dict[str, str]:
    """``{target: "<file name> <content digest>"}`` for every ``_target_`` defined outside installed code.

    Installed code is cleanrun's own package and whatever lives in the interpreter's standard
    library or ``site-packages``; everything else (a module in the user's folder, on
    ``PYTHONPATH`` or installed in editable mode from a source tree) counts. A target that cannot
    be imported or has no source file is left out: the run itself will say what is wrong with it.
    """
    sources = {}
    for target in config_targets(config):
        path = _defining_file(target)
        if path is not None and not _installed(path):
            sources[target] = f"{path.name} {hashlib.blake2b(path.read_bytes(), digest_size=12).hexdigest()}"
    return sources


def _defining_file(target: str) -> Path | None:
    """The source file of the module that defines ``target`` (``module.attr[.attr]``), or None."""
    parts = target.split(".")
    for cut in range(len(parts) - 1, 0, -1):  # the longest importable module prefix, as Hydra resolves it
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
            for attribute in parts[cut:]:
                obj = getattr(obj, attribute)
            module = inspect.getmodule(obj)
        except Exception:  # an unimportable target is the run's error to report, not the digest's
            continue
        name = getattr(module, "__file__", None)
        path = Path(name).resolve() if name else None
        return path if path is not None and path.suffix == ".py" and path.is_file() else None
    return None


def _installed(path: Path) -> bool:
    """Whether ``path`` belongs to cleanrun or to an installed (versioned) package or the standard library."""
    roots = [_PACKAGE_DIR, *(Path(sysconfig.get_paths()[key]).resolve() for key in ("stdlib", "purelib", "platlib"))]
    return any(path.is_relative_to(root) for root in roots) or any(
        part in ("site-packages", "dist-packages") for part in path.parts
    )
