"""``python -m runner.report DIR``: write a sweep's summary, report and plots (see :mod:`runner.sweep.report`)."""

from runner.sweep.report import main

if __name__ == "__main__":
    raise SystemExit(main())
