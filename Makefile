# pricewars: every target sets up .venv itself.  Override the interpreter with
#   make test PYTHON=/path/to/python3.12
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed

# First Python >= 3.12 found: python3.14/3.13/3.12 on PATH (pyenv shims that refuse to run
# are skipped), then any 3.12+ installed under pyenv.
PYTHON ?= $(shell ./.ci/find-python)

.PHONY: demo test test-all bench calvano app lint clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "no Python >= 3.12 found; run: make PYTHON=/path/to/python3.12" >&2; exit 2; }
	@echo "using $(PYTHON) ($$($(PYTHON) --version 2>&1))"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,sweep,viz]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m sim

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

calvano: $(STAMP)
	$(BIN)/python experiments/calvano.py

app: $(STAMP)
	$(BIN)/solara run sim/app.py

lint: $(STAMP)
	$(BIN)/ruff check sim tests benchmarks experiments
	$(BIN)/lint-imports --no-cache

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
