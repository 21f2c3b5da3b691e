"""Confident learning, as pure numpy functions on ``labels`` (N,) and ``pred_probs`` (N, K).

The submodules follow the reference's layout, so code written for cleanlab ports by changing
the import: :mod:`~runner.confident.count` (confident joint, noise matrices),
:mod:`~runner.confident.filter` (label issues), :mod:`~runner.confident.rank` (label-quality
scores) and :mod:`~runner.confident.noise` (noise generation for benchmarks). Nothing here
knows about classifiers, files or Hydra.
"""

from runner.confident.count import (
    calibrate_confident_joint,
    compute_confident_joint,
    estimate_joint,
    estimate_latent,
    estimate_py_and_noise_matrices_from_probabilities,
    get_confident_thresholds,
    num_label_issues,
)
from runner.confident.filter import (
    find_label_issues,
    find_label_issues_using_argmax_confusion_matrix,
    find_predicted_neq_given,
)
from runner.confident.noise import (
    generate_n_rand_probabilities_that_sum_to_m,
    generate_noise_matrix_from_trace,
    generate_noisy_labels,
    noise_matrix_is_valid,
    randomly_distribute_N_balls_into_K_bins,
)
from runner.confident.rank import (
    find_top_issues,
    get_confidence_weighted_entropy_for_each_label,
    get_label_quality_ensemble_scores,
    get_label_quality_scores,
    get_normalized_margin_for_each_label,
    get_self_confidence_for_each_label,
    order_label_issues,
)

__all__ = [
    "calibrate_confident_joint",
    "compute_confident_joint",
    "estimate_joint",
    "estimate_latent",
    "estimate_py_and_noise_matrices_from_probabilities",
    "find_label_issues",
    "find_label_issues_using_argmax_confusion_matrix",
    "find_predicted_neq_given",
    "find_top_issues",
    "generate_n_rand_probabilities_that_sum_to_m",
    "generate_noise_matrix_from_trace",
    "generate_noisy_labels",
    "get_confidence_weighted_entropy_for_each_label",
    "get_confident_thresholds",
    "get_label_quality_ensemble_scores",
    "get_label_quality_scores",
    "get_normalized_margin_for_each_label",
    "get_self_confidence_for_each_label",
    "noise_matrix_is_valid",
    "num_label_issues",
    "order_label_issues",
    "randomly_distribute_N_balls_into_K_bins",
]
