"""The plugin contracts, in one place: what a dataset loader, a detector and a strategy must do.

A plugin is one Python callable plus one YAML file whose ``_target_`` names it, in a config
group (``conf/dataset/``, ``conf/detection/``, ``conf/strategy/``) of cleanrun's own ``conf/``
or of a folder or package on Hydra's search path. The three contracts:

:class:`DatasetLoader`
    ``loader(*, seed, **options) -> Dataset`` — a train/test split with labels encoded
    ``0..K-1`` (:class:`runner.datasets.Dataset` checks itself when built).
:class:`Detector`
    ``detector.detect(labels, pred_probs) -> Detection`` — from the given labels (N,) and the
    out-of-fold probabilities (N, K): the label-issue mask, label-quality scores, and the noise
    estimates when the detector has them. A detector whose ``detect`` has a ``features``
    keyword also receives the training features (N, ...), e.g. :mod:`runner.filters`.
:class:`Strategy`
    ``strategy.select(detection, labels, sample_weight=None) -> TrainingSet`` — the rows,
    labels and sample weights of the final fit, plus a class attribute
    ``requires_sample_weight``.

The referees — :func:`check_dataset`, :func:`check_detection` and :func:`check_training_set` —
refuse a result that breaks its contract with an error that names the plugin and the breach;
cleanrun calls them on every plugin's output, and a plugin's own tests can call them too.

Errors name a plugin the way its user chose it: the Hydra app marks every plugin it builds with
its option (:func:`name_plugin`: ``strategy=mine``), and :func:`plugin_name` gives that label, or
the class name for a plugin built in Python (messages then say ``strategy Mine``).

Symbols: N examples, K classes; labels are integer codes ``0..K-1``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from runner.datasets import Dataset
from runner.detection import Detection, Detector
from runner.plugin_names import label as _label
from runner.plugin_names import name_plugin, plugin_name
from runner.strategies import Strategy, TrainingSet, check_training_set

__all__ = [
    "Dataset",
    "DatasetLoader",
    "Detection",
    "Detector",
    "Strategy",
    "TrainingSet",
    "check_dataset",
    "check_detection",
    "check_training_set",
    "name_plugin",
    "plugin_name",
]

# Columns of a noise matrix are probability distributions; this much rounding is tolerated.
SUM_TOLERANCE = 1e-4

# How many offending values an error message quotes.
SHOWN_VALUES = 5


@runtime_checkable
class DatasetLoader(Protocol):
    """Loads a labelled train/test split: any callable with this signature.

    A loader is usually a keyword-only function, e.g. ``runner.datasets.load_sklearn``. Its YAML
    file passes its own keys as keyword arguments and ``seed: ${seed}``, so the same seed gives
    the same split.
    """

    def __call__(self, *, seed: int, **options) -> Dataset:
        """The split.

        Parameters
        ----------
        seed : int
            Drives everything random in the loader (split, generation).
        **options
            The loader's own config keys (the YAML file's keys other than ``_target_``).

        Returns
        -------
        Dataset
            Features, labels encoded ``0..K-1``, the class values that decode them, and a name.
        """


def check_dataset(result, name: str) -> Dataset:
    """Refuse a loader's result that is not a :class:`~runner.datasets.Dataset`.

    A ``Dataset`` validates its own fields when built (shapes, label codes, every class in the
    training split), so the type is all that is left to check.

    Parameters
    ----------
    result : object
        What the loader returned.
    name : str
        The loader's name (its ``_target_``, or its option ``dataset=mine``), for the message.

    Returns
    -------
    Dataset

    Raises
    ------
    TypeError
        If ``result`` is not a ``Dataset``.
    """
    if not isinstance(result, Dataset):
        raise TypeError(
            f"{_label('dataset loader', name)} must return a runner.datasets.Dataset, got {type(result).__name__}"
        )
    return result


def check_detection(detection, n_samples: int, n_classes: int, name: str, *, labels=None) -> Detection:
    """Refuse a detector's result that breaks the contract, naming the detector and the breach.

    Parameters
    ----------
    detection : object
        What the detector's ``detect`` returned.
    n_samples : int
        N, the number of labels it was given.
    n_classes : int
        K, the number of columns of the ``pred_probs`` it was given.
    name : str
        The detector's name (its class, or its option ``detection=mine``: :func:`plugin_name`),
        for the messages.
    labels : ndarray of shape (N,), optional
        The labels it was given. A class none of them holds has no distribution to estimate:
        its column of a noise matrix may be all zeros (as confident learning leaves it).

    Returns
    -------
    Detection
        ``detection``, unchanged.

    Raises
    ------
    TypeError
        If ``detection`` is not a :class:`~runner.detection.Detection`, or ``label_issues`` is
        not a boolean array.
    ValueError
        If ``label_issues`` or ``label_quality`` does not have shape (N,); ``label_quality``
        holds a value outside ``[0, 1]`` or NaN (the message says how many, and quotes some);
        ``pred_probs`` is not (N, K); a noise matrix, the confident joint or ``py`` has the
        wrong shape, a negative or non-finite entry, or (noise matrices) columns that do not sum
        to 1 (or to 0, for a class absent from ``labels``).
    """
    who = _label("detector", name)
    if not isinstance(detection, Detection):
        raise TypeError(f"{who} must return a runner.detection.Detection, got {type(detection).__name__}")
    mask = np.asarray(detection.label_issues)
    if mask.dtype != bool:
        raise TypeError(
            f"{who} returned label_issues of dtype {mask.dtype}; it must be a boolean mask "
            "(True = the label looks wrong)"
        )
    if mask.shape != (n_samples,):
        raise ValueError(f"{who} returned label_issues of shape {mask.shape}, not ({n_samples},)")
    if detection.label_quality is not None:
        scores = _numbers(detection.label_quality, "label_quality", name)
        if scores.shape != (n_samples,):
            raise ValueError(f"{who} returned label_quality of shape {scores.shape}, not ({n_samples},)")
        outside = ~((scores >= 0) & (scores <= 1))  # also NaN
        if outside.any():
            values = np.unique(scores[outside])[:SHOWN_VALUES].tolist()  # NaN sorts last
            raise ValueError(
                f"{who} returned {int(outside.sum())} of {n_samples} label_quality scores outside [0, 1] "
                f"(or NaN), e.g. {', '.join(f'{value:g}' for value in values)}; scores must lie in [0, 1] "
                "(lower = more suspicious)"
            )
    if detection.pred_probs is not None:
        shape = np.shape(detection.pred_probs)
        if shape != (n_samples, n_classes):
            raise ValueError(f"{who} returned pred_probs of shape {shape}, not ({n_samples}, {n_classes})")
    square = (n_classes, n_classes)
    absent = np.zeros(n_classes, dtype=bool)
    if labels is not None:
        absent = np.bincount(np.asarray(labels), minlength=n_classes)[:n_classes] == 0
    for field, shape, columns_sum_to_one in (
        ("noise_matrix", square, True),
        ("inverse_noise_matrix", square, True),
        ("confident_joint", square, False),
        ("py", (n_classes,), False),
    ):
        value = getattr(detection, field)
        if value is None:
            continue
        array = _numbers(value, field, name)
        if array.shape != shape:
            raise ValueError(f"{who} returned {field} of shape {array.shape}, not {shape}")
        if not np.all(np.isfinite(array)) or array.min(initial=0) < 0:
            raise ValueError(f"{who} returned {field} with negative, NaN or infinite entries")
        sums = array.sum(axis=0)
        distributions = np.isclose(sums, 1, rtol=0, atol=SUM_TOLERANCE) | (absent & (sums == 0))
        if columns_sum_to_one and not distributions.all():
            raise ValueError(
                f"{who} returned a {field} whose columns do not sum to 1 (each column is a "
                "distribution, or all zeros for a class no label holds; see runner.detection.Detection)"
            )
    return detection


def _numbers(value, field: str, name: str) -> np.ndarray:
    """``value`` as a float array, or an error naming the detector and the field."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{_label('detector', name)} returned a {field} that is not an array of numbers") from None
