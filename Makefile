# cleanrun — the two commands of the README, plus benchmarks.
#   make run    create .venv, install, run the default experiment (digits, 20% noise, logistic regression)
#   make test   create .venv, install, run the whole test suite
#   make docs   create .venv, install, serve the documentation site locally (mkdocs serve)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install run lint test test-fast docs bench bench-accuracy clean

# Reinstall whenever the project's dependencies change.
$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(INSTALLED)

install: $(INSTALLED)

run: $(INSTALLED)
	$(BIN)/python -m runner $(ARGS)

# Lint and formatting first: a style error fails in seconds, before the suite's minutes.
lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest -q

test-fast: $(INSTALLED)
	$(BIN)/python -m pytest -q -m "not slow"

docs: $(INSTALLED)
	$(BIN)/mkdocs serve

bench: $(INSTALLED)
	$(BIN)/python benchmarks/bench_detect.py
	$(BIN)/python benchmarks/bench_fit.py
	$(BIN)/python benchmarks/bench_overhead.py
	$(BIN)/python benchmarks/bench_sweep.py
	$(BIN)/python benchmarks/bench_tracking.py

# The accuracy benchmark (a long sweep on local processes); its report.md lands in the sweep directory.
bench-accuracy: $(INSTALLED)
	$(BIN)/python -m runner -m experiment=benchmark $(ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .hypothesis site
