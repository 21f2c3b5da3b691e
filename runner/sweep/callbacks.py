"""Hydra callbacks of a sweep: write the report when a multirun ends."""

from __future__ import annotations

import logging

from hydra.experimental.callback import Callback

from runner.sweep.collect import collect
from runner.sweep.report import _report_and_log

log = logging.getLogger(__name__)


class SweepSummary(Callback):
    """Hydra callback: write ``summary.csv``, ``report.md`` and plots when a multirun ends.

    Register it in the Hydra config::

        hydra:
          callbacks:
            sweep_summary:
              _target_: runner.sweep.callbacks.SweepSummary

    cleanrun's jobs record a failure in their directory and return, so Hydra reaches
    ``on_multirun_end`` even when some failed; the report lists them, and then the sweep exits
    with status 1. A sweep killed before its end can be reported with
    ``python -m runner.report DIR``.
    """

    def on_multirun_end(self, config, **kwargs) -> None:
        """Write the report of ``config.hydra.sweep.dir``; log, never raise, on error.

        Parameters
        ----------
        config : omegaconf.DictConfig
            The sweep's config; only ``hydra.sweep.dir`` is read.
        **kwargs
            Ignored (Hydra's callback signature).
        """
        try:
            _report_and_log(config.hydra.sweep.dir)
            failed = int((collect(config.hydra.sweep.dir)["status"] == "failed").sum())
        except Exception:
            # A broken report must not turn the sweep into a failure.
            log.exception("Could not write the sweep report; retry with `python -m runner.report DIR`")
            return
        if failed:
            log.error("%d job(s) of the sweep failed: see report.md", failed)
            raise SystemExit(1)
