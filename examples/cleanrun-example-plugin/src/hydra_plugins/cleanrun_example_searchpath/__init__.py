"""Adds the example's YAML options to the config search path of every Hydra app in this environment.

Hydra imports every module under the ``hydra_plugins`` namespace package at start-up and uses the
``SearchPathPlugin`` subclasses it finds. Options found this way are real members of their config
groups: ``strategy='glob(*)'`` sweeps and ``--help`` see them (options added only with
``hydra.searchpath=...`` on the command line are not seen by either, in Hydra 1.3).
"""

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class CleanrunExampleSearchPathPlugin(SearchPathPlugin):
    """Appends ``pkg://cleanrun_example.conf``: its ``strategy/``, ``detection/`` and ``dataset/`` folders."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        # Appended, not prepended: cleanrun's own options win on a name clash.
        search_path.append(provider="cleanrun-example", path="pkg://cleanrun_example.conf")
