SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test
.DELETE_ON_ERROR:

UV_VERSION := 0.13.9
VENV       := .venv
BIN        := $(VENV)/bin
STAMP      := $(VENV)/.synced
# uv manages .venv (not its own default) and never downloads a Python build.
UV         := UV_PROJECT_ENVIRONMENT=$(VENV) UV_PYTHON_DOWNLOADS=never $(BIN)/uv

PYTEST_ARGS ?=

.PHONY: env lock lint fmt test bench run clean

env: $(STAMP)

# Fresh machine: venv from python3, uv pinned inside it, then the locked sync.
# --inexact keeps pip and uv themselves in the venv.
$(STAMP): pyproject.toml uv.lock
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/uv --version 2>/dev/null | grep -qx 'uv $(UV_VERSION)' \
		|| $(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) sync --locked --inexact --all-groups
	touch $@

# Re-resolve uv.lock after editing dependencies in pyproject.toml.
lock: $(STAMP)
	$(UV) lock

lint: env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src

fmt: env
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The HTTP section drives the server with wrk (Debian's package), installed here when missing.
# BENCH_ARGS passes options on: make bench BENCH_ARGS='--only http --soak 1000000'.
BENCH_ARGS ?=
bench: env
	command -v wrk >/dev/null || apt-get install -y wrk \
		|| { apt-get update && apt-get install -y wrk; } \
		|| echo "bench: wrk could not be installed; the http section will be skipped" >&2
	$(BIN)/python -m bench $(BENCH_ARGS)

# First run: creates the workspace and prints its credentials once; later runs just serve.
run: env
	$(BIN)/idmint init --if-missing
	$(BIN)/idmint serve

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis build dist
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
