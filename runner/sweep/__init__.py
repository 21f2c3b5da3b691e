"""Sweeps: collect the jobs of a multirun, report on them, log them to a tracking store.

* :mod:`runner.sweep.report` -- ``summary.csv``, ``report.md``, plots, the end-of-sweep callback and the
  ``cleanrun-report`` command;
* :mod:`runner.sweep.tracking` -- MLflow tracking of runs and sweeps.
"""
