"""One run: the Hydra app, the experiment it runs without Hydra, and the run directory it writes.

* :mod:`runner.run.app` -- the Hydra entry point (``python -m runner``, ``cleanrun``);
* :mod:`runner.run.experiment` -- one experiment from plain objects, scored on the test split;
* :mod:`runner.run.artifacts` -- the run directory's files.
"""
