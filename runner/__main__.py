"""``python -m runner``: run an experiment from the Hydra config (see :mod:`runner.app`)."""

from runner.app import main

if __name__ == "__main__":
    main()
