# Two commands for a newcomer: `make report` and `make test`. Both create .venv (Python 3.11) when absent.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all
SNAKEMAKE_ARGS ?=
PYTEST_ARGS ?=
# Bytecode caches (__pycache__/, ignored by git) are kept whatever the shell says: where PYTHONDONTWRITEBYTECODE is set
# (as in many container images), every notebook job, kernel and Snakemake run would compile the helpers again, and
# each of the test suite's few hundred Python processes too (pytest re-writing every test module's asserts).
export PYTHONDONTWRITEBYTECODE :=

.PHONY: publish install report test test-quick lint bench scale variants clean clean-variants distclean help diff snapshot

# `make help` lists every target (tests/test_pipeline.py checks that each .PHONY target is listed here).
help:
	@echo "make report          run the pipeline (notebooks -> results -> figures -> supplementary -> manuscript)"
	@echo "                     one-off override: make report SNAKEMAKE_ARGS=\"--config lod_rule=lod\" (own folder)"
	@echo "make test            the whole test suite, in parallel (lint, unit tests, notebook execution, agreement with R)"
	@echo "make test-quick      the fast tests only (leaves out those marked slow: pipeline runs, renders), in parallel"
	@echo "make lock            refresh requirements-lock.txt from pyproject.toml (UPGRADE=1: newest allowed versions)"
	@echo "make bench-tests     time make test-quick and make test (wall, CPU, counts): build/benchmarks/tests.md"
	@echo "make lint            ruff"
	@echo "make install         create .venv (Python 3.11) and install the package with its dev tools"
	@echo "make variants        run every analysis variant in config/variants/ and compare them"
	@echo "make bench           benchmarks (not part of make test)"
	@echo "make scale           scale-up check: the notebook chain on a synthetic study of N=10000 participants"
	@echo "make clean           remove what the pipeline made (build/, figures, _manuscript/), keeping variants"
	@echo "make clean-variants  remove the variants' builds (build/variants/)"
	@echo "make distclean       clean + clean-variants + .venv"
	@echo "make preview         run the pipeline, then Quarto's live preview of the article (edit index.qmd, see it)"
	@echo "make quarto          install Quarto 1.7.34 from PyPI (quarto-cli) unless one is on PATH or QUARTO= (make install does it)"
	@echo "make diff            what changed in the paper: BASE= and NEW= (build folders or git refs; default BASE build/snapshot), VARIANT=<name>"
	@echo "make snapshot        keep the current build in build/snapshot, the default BASE of make diff until the next make snapshot"
	@echo "make publish         the article, its notebooks and the supplementary as one site folder (_publish/)"
	@echo "make bench-render    where the manuscript's render time goes (benchmark, not part of make test)"
	@echo "make help            this list"

# A .venv made for another folder (the project was copied or moved) runs the other folder's code: its scripts and
# the editable install point there. Detected on every make call; .venv is then rebuilt (another VENV is refused).
VENV_HELPERS := $(shell test -x $(BIN)/python && { $(BIN)/python -c 'import os, helpers; print(os.path.realpath(helpers.__file__))' 2>/dev/null || echo none; })
ifneq ($(VENV_HELPERS),)
ifneq ($(VENV_HELPERS),$(realpath src/helpers/__init__.py))
ifeq ($(VENV),.venv)
$(info .venv was made for another folder (it runs $(VENV_HELPERS)): rebuilding it for $(CURDIR))
$(shell rm -rf .venv)
else
$(error $(VENV) runs the package from $(VENV_HELPERS), not from $(CURDIR)/src: run `$(BIN)/pip install -e ".[dev]"` there first)
endif
endif
endif

# Installs exactly requirements-lock.txt (pip checks every hash), then the package itself (editable, no deps):
# the lock holds the runtime dependencies and the pipeline, lab, dev and quarto extras of pyproject.toml.
# quarto-cli is left to `make quarto` (skipped when a quarto is on PATH). `make lock` refreshes the lock.
.PHONY: lock bench-tests
LOCK := requirements-lock.txt
$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), "Python >= 3.11 needed, found " + sys.version' 
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python src/helpers/environment.py requirements --without quarto-cli > $(VENV)/requirements-lock.txt
	$(BIN)/python -m pip install --quiet --require-hashes -r $(VENV)/requirements-lock.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name mbpm-report --display-name "Python 3 (mbpm-report)" >/dev/null
	@$(MAKE) --no-print-directory quarto
	@touch $(STAMP)

# The lock: exact versions with hashes of pyproject's dependencies and extras, for Linux and macOS, Python 3.11-3.13,
# resolved against PyPI (whatever index this machine's pip uses). Keeps the versions already locked where pyproject
# allows them; UPGRADE=1 takes the newest ones. tests/test_environment.py fails when pyproject and the lock disagree.
lock:
	@test -x $(BIN)/uv || $(MAKE) --no-print-directory install
	@cp $(LOCK) $(VENV)/lock-new.txt
	$(BIN)/uv pip compile --quiet pyproject.toml --extra dev --extra quarto --universal --generate-hashes --no-config \
	  --index-url https://pypi.org/simple --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade) \
	  -o $(VENV)/lock-new.txt
	@if cmp -s $(VENV)/lock-new.txt $(LOCK); then rm $(VENV)/lock-new.txt; echo "$(LOCK) unchanged"; \
	else mv $(VENV)/lock-new.txt $(LOCK); echo "$(LOCK) updated: commit it with pyproject.toml"; fi

# Quarto (pinned in pyproject's `quarto` extra: quarto-cli from PyPI, which downloads the Quarto release while it
# installs) into the environment, unless a quarto is on PATH or named by QUARTO=. If the download is impossible,
# one line says so and the install goes on: everything but the manuscript builds without Quarto.
.PHONY: quarto preview bench-render
QUARTO ?=
export QUARTO
quarto:
	@if [ -n "$(QUARTO)" ] || command -v quarto >/dev/null 2>&1; then \
	  $(BIN)/python -m helpers.render status; \
	elif $(BIN)/python src/helpers/environment.py requirements --only quarto-cli > $(VENV)/requirements-quarto.txt \
	  && $(BIN)/python -m pip install --quiet --no-deps --require-hashes -r $(VENV)/requirements-quarto.txt \
	     >$(VENV)/quarto-install.log 2>&1; then \
	  echo "Quarto $$($(BIN)/python -m helpers.render exe 2>/dev/null | xargs -r -I{} {} --version) installed into $(VENV) (PyPI quarto-cli)"; \
	else \
	  echo "Quarto NOT installed (pip install quarto-cli failed: $$(grep -m1 -oE 'Error downloading Quarto.*|ERROR: .*' $(VENV)/quarto-install.log | cut -c1-120); log: $(VENV)/quarto-install.log): everything but the manuscript will build; put a quarto on PATH or set QUARTO= to render it"; \
	fi

# Authors' loop: run the pipeline (results, executed notebooks), then Quarto's live preview of the article (HTML):
# every save of index.qmd re-renders it in the browser. PREVIEW_ARGS e.g. "--no-browser --port 4848".
# Profile `preview` (_quarto-preview.yml): HTML only, no resources, into build/preview/ (never _manuscript/);
# --no-clean: Quarto would otherwise delete the output folder before each re-render (the page answered 404 meanwhile).
# helpers.preview runs `quarto preview` and asks it for a render on every save itself: Quarto's own watcher loses a
# save made while a render runs.
PREVIEW_ARGS ?=
preview: $(STAMP)
	@$(BIN)/python -m helpers.render exe >/dev/null
	@$(BIN)/mbpm run --cores $(CORES) $(SNAKEMAKE_ARGS) -- all
	$(BIN)/python -m helpers.preview $(PREVIEW_ARGS)

# Where the render time goes (a benchmark, never part of make test): see benchmarks/bench_render.py.
bench-render: $(STAMP)
	@mkdir -p build/benchmarks
	$(BIN)/python benchmarks/bench_render.py --out build/benchmarks/render.md

install: $(STAMP)

# mbpm run (helpers.runner): Snakemake with --rerun-incomplete, one run at a time, a line per notebook and the total.
# --outputs: where this run's build is (an override's own folder); --rotate-snapshot: keep the build before the last
# change in build/previous (only when this run rebuilt the default build; never touches make snapshot's build/snapshot)
report: $(STAMP)
	@$(BIN)/mbpm run --cores $(CORES) --outputs --rotate-snapshot $(SNAKEMAKE_ARGS) -- report

# The published site (article HTML/Word/JATS/MECA, notebook pages, supplementary pages, diff reports): one folder,
# _publish/, every link relative (see README, "Publishing"). Quarto's `publish` profile, a Snakemake rule.
publish: $(STAMP)
	@$(BIN)/python -m helpers.render exe >/dev/null
	@$(BIN)/mbpm run --cores $(CORES) $(SNAKEMAKE_ARGS) -- publish

# Tests on every core (pytest-xdist). --dist loadfile: a module's tests stay on one worker, so its module fixtures
# (a render, a copy of the build) are made once (loadgroup would do it per group, but pytest-xdist 3.8 cannot tag
# groups under pytest 9.2: it sets item._nodeid, which pytest no longer reads). The pipeline is built once per
# session and shared by the workers (tests/conftest.py, built_project; it also orders the long modules first, and
# --no-loadscope-reorder keeps that order: xdist would otherwise hand out the modules with the most tests first).
# test-quick leaves out what is marked slow (CONTRIBUTING.md).
# Workers: `make test` runs one more than the cores this process may use. Its end-to-end tests spend part of their
# time waiting on what they start (Quarto, Jupyter kernels, Snakemake's status checks, a browser), and the extra
# worker keeps every core busy. On 2 cores (make bench-tests), 2 workers took 244 s with 1.7 cores busy on average,
# and 3 workers took 231 s with 2.0. test-quick is all computation: one worker per core (xdist's auto) is faster.
PYTEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print(len(os.sched_getaffinity(0)) + 1 if hasattr(os, "sched_getaffinity") else os.cpu_count() + 1)')
PYTEST_QUICK_WORKERS ?= auto
PYTEST_XDIST = --dist loadfile --no-loadscope-reorder
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_XDIST) $(PYTEST_ARGS)

test-quick: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_QUICK_WORKERS) $(PYTEST_XDIST) -m "not slow" $(PYTEST_ARGS)

# How long the suite takes (wall and CPU seconds, test counts, machine, date): build/benchmarks/tests.md (+ .json).
bench-tests: $(STAMP)
	$(BIN)/python benchmarks/bench_tests.py --out build/benchmarks/tests.md

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
	$(BIN)/mbpm run --cores $(CORES) --keep-going $(if $(CONFIG),--config $(CONFIG)) $(SNAKEMAKE_ARGS) -- variants \
	  || status=$$?; \
	test $$status = 2 || $(BIN)/mbpm variants compare $(if $(CONFIG),--config $(CONFIG)) || status=1; \
	exit $$status

bench: $(STAMP)
	@mkdir -p build/benchmarks
	BENCH_SIZES=$(BENCH_SIZES) $(BIN)/pytest benchmarks --benchmark-only -p no:cacheprovider -o testpaths=benchmarks -o python_files="bench_*.py" \
	  --benchmark-json=build/benchmarks/pytest-benchmark.json $(PYTEST_ARGS)

scale: $(STAMP)
	@mkdir -p build/benchmarks
	BENCH_SIZES=$(N) $(BIN)/pytest benchmarks/bench_pipeline.py --benchmark-only -p no:cacheprovider -o python_files="bench_*.py" \
	  -o testpaths=benchmarks -k "cold" --benchmark-json=build/benchmarks/scale-$(N).json $(PYTEST_ARGS)

# --- revision diff (issue 14) ---
# BASE, NEW: a build folder (build, build/snapshot, build/previous, build/variants/<name>, build/overrides/<slug>) or a
# git ref (HEAD~1, a tag), built once into build/.diff-base/<sha>/. Default BASE: build/snapshot (make snapshot),
# else build/previous (kept by make report), else HEAD; default NEW: build. VARIANT: compare <NEW>/variants/<name>.
BASE ?=
NEW ?=
VARIANT ?=

diff: $(STAMP)
	$(BIN)/mbpm diff $(if $(BASE),--base $(BASE)) $(if $(NEW),--new $(NEW)) $(if $(VARIANT),--variant $(VARIANT))

snapshot: $(STAMP)
	$(BIN)/mbpm snapshot

# clean: everything the pipeline made except the variants (slow to redo). Snakemake deletes the outputs it declares
# (figures/ included); the rest of build/ (logs, benchmarks, overrides, failed) goes with it. Snakemake's records
# in .snakemake/ stay (only its logs go): they hold the content checksums of the variants' inputs (a raw file saved
# again with the same bytes re-runs nothing) and the markers of an interrupted variant (tests/test_clean.py).
clean:
	@if test -x $(BIN)/snakemake; then $(BIN)/snakemake --cores 1 --quiet all --delete-all-output all \
	  || echo "snakemake could not list its outputs: figures/ left as is"; fi
	rm -rf $(filter-out build/variants,$(wildcard build/* build/.[!.]*)) .snakemake/log _manuscript _publish

clean-variants:
	rm -rf build/variants

distclean: clean clean-variants
	rm -rf build .venv .snakemake
