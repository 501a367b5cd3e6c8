# The two commands of the README: `make run` (the main job on the embedded default) and `make test`.
# Each creates and fills the project's virtual environment (.venv) itself; nothing else is needed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Extras installed for each target; the test suite needs the components of every issue.
RUN_EXTRAS :=
TEST_EXTRAS := dev,kafka

.PHONY: run test lint venv-run venv-test clean

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv

# One stamp per extras set, redone whenever pyproject.toml changes.
$(VENV)/.stamp-run: pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e ".[$(RUN_EXTRAS)]"
	touch $@

$(VENV)/.stamp-test: pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e ".[$(TEST_EXTRAS)]"
	touch $@

venv-run: $(VENV)/.stamp-run
venv-test: $(VENV)/.stamp-test

## make run: build the source DB, post events, land them, load bronze, build silver and gold.
run: venv-run
	$(BIN)/pinpipe run $(ARGS)

## make test: linters, then the whole pytest suite (starts its own Kafka broker).
test: venv-test lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) data dbt_project/target dbt_project/logs
