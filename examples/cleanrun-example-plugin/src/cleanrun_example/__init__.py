"""Example cleanrun plugins: one strategy, one detector and one dataset loader, each with its YAML option.

The options live in ``cleanrun_example/conf/<group>/`` and reach cleanrun's config groups through
the Hydra search-path plugin in ``hydra_plugins/cleanrun_example_searchpath`` (when the package is
installed) or through ``hydra.searchpath=[file://.../cleanrun_example/conf]`` (when it is not).
"""
