"""cleanrun: confident learning for noisy labels, as a library and a Hydra experiment runner.

``from runner import CleanLearning`` works like cleanlab's; the confident-learning functions
live in :mod:`runner.confident` (``count``, ``filter``, ``rank``, ``noise``).

The package by stage, each importing only from the ones before it:

* :mod:`runner.common` -- atomic file writes and provenance, used by every stage;
* :mod:`runner.confident` -- the algorithm, pure numpy;
* :mod:`runner.detection`, :mod:`runner.strategies`, :mod:`runner.datasets`, :mod:`runner.contracts` -- the
  plugin contracts and the built-in detectors, strategies and dataset loaders;
* :mod:`runner.learn` -- the :class:`CleanLearning` estimator and what it needs to learn;
* :mod:`runner.run` -- one run from a Hydra config (``python -m runner``);
* :mod:`runner.sweep` -- sweeps: the report, its plots and sections, callbacks and tracking.
"""

from runner.common.provenance import VERSION
from runner.confident import (
    compute_confident_joint,
    estimate_latent,
    estimate_py_and_noise_matrices_from_probabilities,
    find_label_issues,
    get_label_quality_scores,
    num_label_issues,
)
from runner.learn.cv import (
    estimate_confident_joint_and_cv_pred_proba,
    estimate_cv_predicted_probabilities,
    estimate_noise_matrices,
    estimate_py_noise_matrices_and_cv_pred_proba,
)
from runner.learn.estimator import CleanLearning

__version__ = VERSION

__all__ = [
    "CleanLearning",
    "compute_confident_joint",
    "estimate_confident_joint_and_cv_pred_proba",
    "estimate_cv_predicted_probabilities",
    "estimate_latent",
    "estimate_noise_matrices",
    "estimate_py_and_noise_matrices_from_probabilities",
    "estimate_py_noise_matrices_and_cv_pred_proba",
    "find_label_issues",
    "get_label_quality_scores",
    "num_label_issues",
]
