# The two promises of the README: `make demo` and `make test`, from nothing but Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test lint bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv

# one stamp per extra set, rebuilt when pyproject.toml changes
$(VENV)/.stamp-cpu: pyproject.toml | $(BIN)/python
	$(BIN)/uv pip install --python $(BIN)/python -q -e '.[cpu]' || $(BIN)/pip install -q -e '.[cpu]'
	touch $@

$(VENV)/.stamp-dev: pyproject.toml | $(BIN)/python
	$(BIN)/uv pip install --python $(BIN)/python -q -e '.[dev]' || $(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.stamp-cpu

demo: $(VENV)/.stamp-cpu
	$(BIN)/reefdask demo --out demo-output

test: $(VENV)/.stamp-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# style, types, and the architecture (import-linter contracts in pyproject.toml; docs/architecture.md)
lint: $(VENV)/.stamp-dev
	$(BIN)/ruff check .
	$(BIN)/mypy reefdask
	$(BIN)/lint-imports --no-logo

bench: $(VENV)/.stamp-dev
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

# rewrite the generated reference pages docs/cli.md and docs/config.md (tests/test_docs.py checks them)
docs: $(VENV)/.stamp-cpu
	$(BIN)/python -m pipelines.docgen docs/

clean:
	rm -rf $(VENV) demo-output .pytest_cache .hypothesis
