# Two commands for a newcomer: `make report` and `make test`. Both create .venv (Python 3.11) when absent.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all
SNAKEMAKE_ARGS ?=
PYTEST_ARGS ?=

.PHONY: install report test test-quick lint bench scale variants clean help

help:
	@echo "make report   run the whole pipeline (notebooks -> results -> supplementary -> manuscript)"
	@echo "make test     run the whole test suite (lint, unit tests, notebook execution, agreement with R)"
	@echo "make test-quick   unit tests only (no notebook execution)"
	@echo "make bench    benchmarks (not part of make test)"
	@echo "make variants run every analysis variant in config/variants/ and compare them"
	@echo "make scale    scale-up check: the notebook chain on a synthetic study of N=10000 participants"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), "Python >= 3.11 needed, found " + sys.version' 
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name mbpm-report --display-name "Python 3 (mbpm-report)" >/dev/null
	@touch $(STAMP)

install: $(STAMP)

report: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --quiet rules $(SNAKEMAKE_ARGS) -- report
	@$(BIN)/python -m helpers render --build build --summary

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_ARGS)

test-quick: $(STAMP)
	$(BIN)/pytest -m "not notebooks" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

# --- variants, benchmarks, scale (issue 7) ---
# CONFIG: extra `snakemake --config` overrides for the variants, e.g. make variants CONFIG="raw_dir=/data/export"
CONFIG ?=
# BENCH_SIZES: participants for the whole-chain benchmarks (100000 is opt-in: several minutes, ~GBs of files)
BENCH_SIZES ?= 65,1000,10000
N ?= 10000

# Every variant through Snakemake in parallel; --keep-going: a failing variant does not stop the others; an
# interrupted run resumes (finished variants are not redone). The comparison is written even when a variant failed,
# and the target fails afterwards naming the failed variants.
variants: $(STAMP)
	@status=0; \
	$(BIN)/snakemake --cores $(CORES) --keep-going --rerun-incomplete --quiet rules \
	  $(if $(CONFIG),--config $(CONFIG)) $(SNAKEMAKE_ARGS) -- variants || status=$$?; \
	$(BIN)/python -m helpers.variants compare $(if $(CONFIG),--config $(CONFIG)) || status=1; \
	exit $$status

bench: $(STAMP)
	@mkdir -p build/benchmarks
	BENCH_SIZES=$(BENCH_SIZES) $(BIN)/pytest benchmarks --benchmark-only -p no:cacheprovider -o testpaths=benchmarks -o python_files="bench_*.py" \
	  --benchmark-json=build/benchmarks/pytest-benchmark.json $(PYTEST_ARGS)

scale: $(STAMP)
	@mkdir -p build/benchmarks
	BENCH_SIZES=$(N) $(BIN)/pytest benchmarks/bench_pipeline.py --benchmark-only -p no:cacheprovider -o python_files="bench_*.py" \
	  -o testpaths=benchmarks -k "cold" --benchmark-json=build/benchmarks/scale-$(N).json $(PYTEST_ARGS)

clean:
	rm -rf build .snakemake _manuscript
