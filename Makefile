SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test
.DELETE_ON_ERROR:

UV_VERSION := 0.13.9
VENV       := .venv
BIN        := $(VENV)/bin
# What `make test` installs (everything) and what `make run` needs (the server extra only).
STAMP      := $(VENV)/.synced
RUN_STAMP  := $(VENV)/.synced-server
JS         := clients/js
# npm ci empties node_modules, so the stamp inside it goes with it.
JS_STAMP   := $(JS)/node_modules/.installed
# The React example (Vite, React): its own package.json and lock, for tests/examples/test_react.py.
REACT_EX    := examples/react
REACT_STAMP := $(REACT_EX)/node_modules/.installed
# uv manages .venv (not its own default) and never downloads a Python build.
UV         := UV_PROJECT_ENVIRONMENT=$(VENV) UV_PYTHON_DOWNLOADS=never $(BIN)/uv

PYTEST_ARGS ?=

.PHONY: env env-server js-env lock lint fmt test bench run clean

env: $(STAMP)
env-server: $(RUN_STAMP)

# Fresh machine: a venv from python3, with uv pinned inside it.
define ensure_uv
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/uv --version 2>/dev/null | grep -qx 'uv $(UV_VERSION)' \
		|| $(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
endef

# The locked sync; --inexact keeps pip and uv themselves in the venv (and what the other
# target installed).
$(STAMP): pyproject.toml uv.lock
	$(ensure_uv)
	$(UV) sync --locked --inexact --all-groups --all-extras
	touch $@ $(RUN_STAMP)

# Serving needs the server extra and nothing of the development groups.
$(RUN_STAMP): pyproject.toml uv.lock
	$(ensure_uv)
	$(UV) sync --locked --inexact --no-dev --extra server
	touch $@

# The browser SDK's npm dev dependencies (typescript; react, react-dom, @testing-library/react
# and happy-dom for the React bindings' tests), exactly as clients/js/package-lock.json has them,
# and the React example's (vite, react), as examples/react/package-lock.json has them; again
# only when a lock or package.json changes. make test needs them; make run does not. Without
# npm the JS tests skip.
js-env: $(JS_STAMP) $(REACT_STAMP)

$(JS_STAMP): $(JS)/package.json $(JS)/package-lock.json
	if command -v npm >/dev/null; then \
		(cd $(JS) && npm ci --no-audit --no-fund) && touch $@; \
	else \
		echo "js-env: npm is not installed; the JS package tests will be skipped" >&2; \
	fi

# The example links idmint from clients/js (file:../../clients/js), so that package.json counts.
$(REACT_STAMP): $(REACT_EX)/package.json $(REACT_EX)/package-lock.json $(JS)/package.json
	if command -v npm >/dev/null; then \
		(cd $(REACT_EX) && npm ci --no-audit --no-fund) && touch $@; \
	else \
		echo "js-env: npm is not installed; the React example's test will be skipped" >&2; \
	fi

# Re-resolve uv.lock after editing dependencies in pyproject.toml.
lock: $(STAMP)
	$(UV) lock

lint: env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src
	$(BIN)/lint-imports --no-cache

fmt: env
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint js-env
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
run: env-server
	$(BIN)/idmint init --if-missing --serving
	$(BIN)/idmint serve

clean:
	rm -rf $(VENV) $(JS)/node_modules $(REACT_EX)/node_modules $(REACT_EX)/dist .mypy_cache .ruff_cache .pytest_cache .hypothesis build dist
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
