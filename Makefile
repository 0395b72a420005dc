# `make` alone lists the targets. Every target sets up .venv first when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# checkov pins packaging<24, which pytest 9 cannot use, so it lives in a venv of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help install system-deps run demo test test-unit test-integration faults bench lint format clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml devtools/pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]' -e ./devtools
	@touch $(STAMP)

install: $(STAMP) $(CHECKOV_STAMP) ## Create .venv (project, devtools/, pinned dependencies) and .venv-checkov

$(CHECKOV_STAMP): constraints-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -c constraints-checkov.txt checkov
	@touch $(CHECKOV_STAMP)

system-deps: ## Install redis-server, chromium, wrk and nginx from Debian when missing (needs root)
	scripts/install-system-deps

run: $(STAMP) ## Run broker, API and worker in the foreground (Ctrl-C stops all)
	$(BIN)/python -m cryptostats_dev.stack

demo: $(STAMP) ## Like run, plus the CoinGecko simulator and a short interval (no internet needed)
	$(BIN)/python -m cryptostats_dev.stack --demo

test: $(STAMP) $(CHECKOV_STAMP) ## Run every test: unit, integration and fault scenarios (starts its own redis-server)
	$(BIN)/pytest

test-unit: $(STAMP) ## Run the unit tests only
	$(BIN)/pytest tests/unit

test-integration: $(STAMP) $(CHECKOV_STAMP) ## Run the integration tests only (real processes)
	$(BIN)/pytest tests/integration

faults: $(STAMP) ## Run the fault scenarios with real processes and print their table (about 4 min)
	$(BIN)/python -m cryptostats_dev.faults

bench: $(STAMP) ## Benchmark the real stack with wrk, directly and through nginx; write BENCHMARKS.md
	$(BIN)/python -m cryptostats_dev.bench $(BENCH_ARGS)
	$(BIN)/python -m cryptostats_dev.bench_proxy $(BENCH_PROXY_ARGS)

lint: $(STAMP) ## Check style, formatting and types
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP) ## Format the code and fix what ruff can
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .mypy_cache .ruff_cache artifacts
