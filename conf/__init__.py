"""The Hydra configs, importable as runner.conf so that a non-editable install finds them (pkg://runner.conf)."""
