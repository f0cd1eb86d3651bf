# Vigil: `make demo` brings the whole stack up and runs the daily validation once;
# `make test` runs every test. Both work from a fresh clone with only Python 3.11+:
# uv is bootstrapped into .tools/, the environment is built into .venv/ from uv.lock.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS ?= .tools
VENV ?= .venv
UV := $(TOOLS)/bin/uv
VPY := $(VENV)/bin/python
# Rebuilt only when the lock or the project changes; `make demo` twice costs nothing here.
VENV_STAMP := $(VENV)/.vigil-synced
STATE_DIR := $(or $(VIGIL_STATE_DIR),.state)

# uv builds the environment at $(VENV), whatever virtualenv the caller has activated.
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
unexport VIRTUAL_ENV

.PHONY: help env demo up status stop clean distclean test test-fast test-unit test-integration \
	test-dags test-e2e lint bench

help:
	@echo "make demo    start PostgreSQL, the demo system and Airflow; run demo_daily once"
	@echo "make test    run the whole test suite (unit, integration, dags, e2e)"
	@echo "make test-fast         the unit layer only: seconds, no services"
	@echo "make test-unit|test-integration|test-dags|test-e2e   one layer of the suite"
	@echo "make stop    stop everything make demo started"
	@echo "make clean   stop, then delete the state folder ($(STATE_DIR))"
	@echo "make status  show what runs"
	@echo "make lint    ruff check, ruff format --check, mypy"
	@echo "make bench   run every benchmarks/bench_*.py"
	@echo "make env     only build the environment ($(VENV))"

env: $(VENV_STAMP)

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "Vigil needs Python 3.11 or newer as '$(PYTHON)' (found: $$($(PYTHON) --version 2>&1))."; \
	  echo "Install it, or point PYTHON at one: make PYTHON=python3.12 demo"; exit 1; }
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV_STAMP): uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	@touch $@

demo: $(VENV_STAMP)
	@$(VPY) -m vigil.stack demo

up: $(VENV_STAMP)
	@$(VPY) -m vigil.stack up

status: $(VENV_STAMP)
	@$(VPY) -m vigil.stack status

# Without an environment nothing can have been started by `make demo`: no need to build one.
stop:
	@if [ -x $(VPY) ]; then $(VPY) -m vigil.stack down; else echo "no $(VENV): nothing to stop"; fi

clean:
	@if [ -x $(VPY) ]; then $(VPY) -m vigil.stack clean; \
	else rm -rf $(STATE_DIR) && echo "removed $(STATE_DIR)"; fi

# Also drops the environment and the bootstrapped uv (next `make` rebuilds them).
distclean: clean
	rm -rf $(VENV) $(TOOLS) test-artifacts

test: $(VENV_STAMP)
	$(VENV)/bin/pytest -q tests

# One layer each (the markers in pyproject.toml); test-fast is the quick loop while editing.
test-fast test-unit: $(VENV_STAMP)
	$(VENV)/bin/pytest -q -m unit tests/unit

test-integration: $(VENV_STAMP)
	$(VENV)/bin/pytest -q -m integration tests/integration

test-dags: $(VENV_STAMP)
	$(VENV)/bin/pytest -q -m dags tests/dags

test-e2e: $(VENV_STAMP)
	$(VENV)/bin/pytest -q -m e2e tests/e2e

lint: $(VENV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(VENV_STAMP)
	@shopt -s nullglob; files=(benchmarks/bench_*.py); \
	if [ $${#files[@]} -eq 0 ]; then echo "no benchmarks/bench_*.py yet"; exit 0; fi; \
	for f in "$${files[@]}"; do echo "== $$f"; $(VPY) "$$f" || exit $$?; done
