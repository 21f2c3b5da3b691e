"""How error messages name a plugin: by the config option that chose it, else by its class.

The Hydra app marks every plugin it builds with its option (:func:`name_plugin`:
``strategy=mine``), so that a message says what the user typed; a plugin built in Python is named
by its class (``Mine``). :func:`label` turns either into a message's subject (``strategy Mine``).
"""

from __future__ import annotations

__all__ = ["label", "name_plugin", "plugin_name"]

# Where name_plugin keeps a plugin's option (an attribute, so that copies of the plugin keep it).
_OPTION = "_cleanrun_option"


def name_plugin(plugin, option: str):
    """Mark ``plugin`` with the config option that chose it, for error messages; returns ``plugin``.

    Parameters
    ----------
    plugin : object
        A strategy, detector or other object built from a config group.
    option : str
        ``"<group>=<option>"``, e.g. ``"strategy=mine"``.

    Notes
    -----
    The mark is an attribute set past a frozen dataclass's guard; an object that takes no
    attribute (``__slots__``) stays unmarked and is named by its class.
    """
    try:
        object.__setattr__(plugin, _OPTION, option)
    except (AttributeError, TypeError):
        pass
    return plugin


def plugin_name(plugin) -> str:
    """How error messages name ``plugin``: its option (``strategy=mine``), else its class name (``Mine``)."""
    option = getattr(plugin, _OPTION, None)
    return option if isinstance(option, str) else type(plugin).__name__


def label(kind: str, name: str) -> str:
    """``name`` as a message's subject: an option label (``detection=mine``) as is, a bare name after ``kind``."""
    return name if name.startswith(f"{kind.split()[0]}=") else f"{kind} {name}"
