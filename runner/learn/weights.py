"""How sample weights reach a classifier's ``fit``: the keyword they travel by, or why they cannot.

A strategy's weights (``weight``, ``soft_weight``, ``remove``'s class re-weighting) and the
caller's own ``fit(sample_weight=...)`` are only worth something if they reach the model that
learns. A plain estimator takes them as ``fit(sample_weight=...)``; a scikit-learn ``Pipeline``
has no such parameter (its ``fit`` takes ``**params``), and scikit-learn offers two ways in:

* with metadata routing on (``sklearn.set_config(enable_metadata_routing=True)``), the pipeline
  takes ``sample_weight=`` and hands it to every step that requested it
  (``step.set_fit_request(sample_weight=True)``): the user's choice of steps is respected, and
  scikit-learn's own routing check runs here, before any fit, so a step left unset is refused
  with scikit-learn's message;
* without it, ``<last step>__sample_weight=`` reaches the final estimator only (recursively, for
  a pipeline whose last step is a pipeline): preprocessing steps are fitted unweighted, as when
  the user passes weights to a pipeline by hand.

:func:`weight_route` gives the keyword, :func:`weight_kwargs` the fit keywords, and
:func:`unweighted_reason` one sentence saying why weights cannot reach a classifier, for the
error (a strategy that needs weights) or the warning (weights that are dropped).
"""

from __future__ import annotations

import numpy as np
import sklearn
from sklearn.pipeline import Pipeline
from sklearn.utils.metadata_routing import get_routing_for_object, process_routing
from sklearn.utils.validation import has_fit_parameter

__all__ = ["unweighted_reason", "weight_kwargs", "weight_route"]

WEIGHT = "sample_weight"


def weight_route(clf) -> str | None:
    """The ``fit`` keyword by which sample weights reach ``clf``'s learning model, or None.

    Parameters
    ----------
    clf : estimator
        The classifier (unfitted): a plain estimator, or a ``Pipeline``.

    Returns
    -------
    str or None
        ``"sample_weight"`` for an estimator whose ``fit`` takes it (and for a pipeline under
        metadata routing whose steps request it); ``"<last step>__sample_weight"`` for a
        pipeline without metadata routing whose last step takes weights; None when the weights
        cannot reach the model (:func:`unweighted_reason` says why).
    """
    return _route(clf)[0]


def unweighted_reason(clf) -> str:
    """Why sample weights cannot reach ``clf`` (one sentence, naming the fix where there is one)."""
    return _route(clf)[1]


def weight_kwargs(clf, sample_weight) -> dict:
    """The ``fit`` keywords that carry ``sample_weight`` to ``clf`` (empty when ``sample_weight`` is None).

    Raises
    ------
    ValueError
        If weights are given and cannot reach ``clf`` (the message says why).
    """
    if sample_weight is None:
        return {}
    route, reason = _route(clf)
    if route is None:
        raise ValueError(f"sample weights cannot reach the classifier: {reason}")
    return {route: sample_weight}


def _route(clf) -> tuple[str | None, str]:
    """``(keyword, "")`` when weights reach ``clf``, else ``(None, reason)``."""
    name = type(clf).__name__
    if has_fit_parameter(clf, WEIGHT):
        return WEIGHT, ""
    if isinstance(clf, Pipeline):
        if sklearn.get_config()["enable_metadata_routing"]:
            return _routed(clf)
        last_name, last = clf.steps[-1]
        if last is None or last == "passthrough":
            return None, f"the last step of the {name} ({last_name!r}) is 'passthrough', which learns nothing"
        inner, reason = _route(last)
        if inner is None:
            return None, f"the last step of the {name} ({last_name!r}): {reason}"
        return f"{last_name}__{inner}", ""
    return None, f"{name}.fit has no sample_weight parameter"


def _routed(pipeline: Pipeline) -> tuple[str | None, str]:
    """The route through a pipeline under scikit-learn's metadata routing, checked as its ``fit`` would."""
    name = type(pipeline).__name__
    if WEIGHT not in get_routing_for_object(pipeline).consumes("fit", [WEIGHT]):
        last_name = pipeline.steps[-1][0]
        return None, (
            f"metadata routing is on and no step of the {name} requests sample_weight: call "
            f"set_fit_request(sample_weight=True) on its last step ({last_name!r})"
        )
    try:
        # The same check the pipeline's fit makes: a step that consumes weights but was neither
        # asked for them nor told to ignore them is refused here, before any fit is paid for.
        process_routing(pipeline, "fit", **{WEIGHT: np.ones(1)})
    except (TypeError, ValueError) as error:
        return None, f"metadata routing is on and the {name} refuses sample_weight: {_first_line(error)}"
    return WEIGHT, ""


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
