"""Sweeps: collect the jobs of a multirun, report on them, log them to a tracking store.

* :mod:`runner.sweep.collect` -- one row per job of a sweep directory;
* :mod:`runner.sweep.report` -- ``summary.csv``, ``report.md`` and the ``cleanrun-report`` command;
* :mod:`runner.sweep.markdown` -- the report's tables and number formats;
* :mod:`runner.sweep.plots` -- the report's plots;
* :mod:`runner.sweep.studies` -- report sections of the method studies, turned on by presets (``report.sections``);
* :mod:`runner.sweep.callbacks` -- the Hydra callback that writes the report when a sweep ends;
* :mod:`runner.sweep.tracking` -- MLflow tracking of runs and sweeps.
"""
