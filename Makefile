# Two commands for a newcomer: `make report` and `make test`. Both create .venv (Python 3.11) when absent.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all
SNAKEMAKE_ARGS ?=
PYTEST_ARGS ?=

.PHONY: install report test test-quick lint bench variants clean help

help:
	@echo "make report   run the whole pipeline (notebooks -> results -> supplementary -> manuscript)"
	@echo "make test     run the whole test suite (lint, unit tests, notebook execution, agreement with R)"
	@echo "make test-quick   unit tests only (no notebook execution)"
	@echo "make bench    benchmarks (not part of make test)"
	@echo "make variants run every analysis variant in config/variants/ and compare them"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), "Python >= 3.11 needed, found " + sys.version' 
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name mbpm-report --display-name "Python 3 (mbpm-report)" >/dev/null
	@touch $(STAMP)

install: $(STAMP)

report: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --quiet rules $(SNAKEMAKE_ARGS)
	@$(BIN)/python -m helpers render --build build

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_ARGS)

test-quick: $(STAMP)
	$(BIN)/pytest -m "not notebooks" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/pytest benchmarks --benchmark-only --benchmark-json=build/benchmarks.json -p no:cacheprovider

clean:
	rm -rf build .snakemake _manuscript
