"""``python -m runner``: run an experiment from the Hydra config (see :mod:`runner.run.app`)."""

from runner.run.app import main

if __name__ == "__main__":
    main()
