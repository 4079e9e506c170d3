# Avance: two commands set everything up on a fresh machine.
#   make demo   creates .venv, installs Avance, builds a demo node under var/ and serves the API
#   make test   creates .venv if needed, installs the dev extras and runs the whole suite

FOUND_PYTHON := $(shell for p in python3 python3.13 python3.12 python3.11; do $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { command -v $$p; break; }; done)
PYTHON ?= $(FOUND_PYTHON)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
PORT ?= 8000
DECLARATIONS ?= 3000
PYTEST_ARGS ?=

.PHONY: demo test install bench lint clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 or newer is needed (python3.11, python3.12 ...)" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/avance demo --port $(PORT) --data-dir var --declarations $(DECLARATIONS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	PYTHONPATH=src $(BIN)/lint-imports   # the checked-out tree, whatever is installed

bench: $(STAMP)
	$(BIN)/python bench/bulk_import.py
	$(BIN)/python bench/api_latency.py

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
