"""Learning: the CleanLearning estimator and what it needs -- out-of-fold probabilities, fold backends, their
cache and the cleaning check.

* :mod:`runner.learn.estimator` -- :class:`~runner.learn.estimator.CleanLearning`;
* :mod:`runner.learn.cv` -- out-of-fold predicted probabilities (folds, parallel fits);
* :mod:`runner.learn.parallel` -- fold backends (loky, threading, Dask) and thread caps;
* :mod:`runner.learn.cache` -- the on-disk cache of out-of-fold probabilities;
* :mod:`runner.learn.guard` -- the cleaning check: keep the cleaned training set only if held-out rows say so.
"""
