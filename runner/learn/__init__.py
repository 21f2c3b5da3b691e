"""Learning: the CleanLearning estimator and what it needs -- out-of-fold probabilities, fold backends, their
cache and the cleaning check.

* :mod:`runner.learn.estimator` -- :class:`~runner.learn.estimator.CleanLearning`;
* :mod:`runner.learn.cv` -- out-of-fold predicted probabilities (folds, parallel fits);
* :mod:`runner.learn.parallel` -- fold backends (loky, threading, Dask) and thread caps;
* :mod:`runner.learn.cache` -- the on-disk cache of out-of-fold probabilities;
* :mod:`runner.learn.check` -- the cleaning check's statistics: scores, paired tests, trust gates, folds;
* :mod:`runner.learn.guard` -- the cleaning check: keep the cleaned training set only if held-out rows say so;
* :mod:`runner.learn.weights` -- how sample weights reach a classifier's fit (a Pipeline's last step included);
* :mod:`runner.learn.progress` -- ``verbose=True`` progress in a script that configured no logging.
"""
