# The two commands of README.md: `make run` (the main job on the embedded default) and `make test`.
# Each creates and fills the project's virtual environment (.venv) itself, exactly as uv.lock says.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# uv itself is pinned: the lock file's format and the resolver's choices belong to one uv version.
UV_VERSION := 0.13.9
UV := $(BIN)/uv
# Extras installed for each target; the test suite needs the components of every part.
RUN_EXTRAS := kafka kafka-fast kinesis gateway analytics
TEST_EXTRAS := dev kafka kafka-fast kinesis gateway airflow spark databricks analytics
AIRFLOW_EXTRAS := kafka kafka-fast airflow
ANALYTICS_EXTRAS := analytics
# --frozen: install what uv.lock says, never re-resolve; --inexact: keep the other targets' extras.
SYNC = $(UV) sync --frozen --inexact --quiet $(addprefix --extra ,$(1))

.DEFAULT_GOAL := help
UNIT_TESTS := -m "not slow and not kafka and not integration"
# pytest-xdist workers; each test module is one group (tests/conftest.py). TEST_WORKERS=0 runs in-process.
TEST_WORKERS ?= 2
PARALLEL := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadgroup)

.PHONY: help run test test-unit system-packages lint lint-python manifest airflow lock venv-run venv-test venv-airflow clean
.PHONY: sql docs venv-analytics

## help: list the targets
help:
	@awk '/^## / {line = substr($$0, 4); split(line, part, ": "); printf "  make %-10s %s\n", part[1], substr(line, length(part[1]) + 3)}' $(MAKEFILE_LIST)

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# One stamp per extras set, redone whenever the dependencies change.
$(VENV)/.stamp-run: pyproject.toml uv.lock Makefile | $(UV)
	$(call SYNC,$(RUN_EXTRAS))
	touch $@

$(VENV)/.stamp-test: pyproject.toml uv.lock Makefile | $(UV)
	$(call SYNC,$(TEST_EXTRAS))
	touch $@

$(VENV)/.stamp-airflow: pyproject.toml uv.lock Makefile | $(UV)
	$(call SYNC,$(AIRFLOW_EXTRAS))
	touch $@

venv-run: $(VENV)/.stamp-run
venv-test: $(VENV)/.stamp-test
venv-airflow: $(VENV)/.stamp-airflow
venv-analytics: $(VENV)/.stamp-analytics

$(VENV)/.stamp-analytics: pyproject.toml uv.lock Makefile | $(UV)
	$(call SYNC,$(ANALYTICS_EXTRAS))
	touch $@

## run: the main job: source DB, emulator, raw landing, bronze, dbt silver and gold, report (ARGS=...)
run: venv-run
	$(BIN)/pinpipe run $(ARGS)

## test: Python linters, then the whole pytest suite (it starts its own Kafka, moto, Spark, Airflow; sqlfluff runs in it)
test: venv-test lint-python system-packages
	$(BIN)/python -m pytest $(PARALLEL) --durations=25 $(PYTEST_ARGS)

## test-unit: the quick tests only: no server, no dbt or Airflow process, no kill -9 (a few minutes; PYTEST_ARGS=...)
test-unit: venv-test
	$(BIN)/python -m pytest $(PARALLEL) $(UNIT_TESTS) $(PYTEST_ARGS)

## system-packages: install the Debian packages the tests use (chromium, faketime) where missing
system-packages:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v faketime >/dev/null 2>&1 || missing="$$missing faketime"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; \
	  elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
	  else echo "make system-packages: missing:$$missing; install them as root: apt-get install -y$$missing" >&2; exit 1; fi; \
	  $$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends $$missing; fi

## lint: ruff, ruff format, mypy and sqlfluff
lint: lint-python
	$(BIN)/sqlfluff lint dbt_project

lint-python: venv-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## manifest: dbt_project/target/manifest.json, which the Airflow DAG renders its dbt tasks from
manifest: venv-run
	$(BIN)/dbt parse --project-dir dbt_project --profiles-dir . --quiet

## airflow: Airflow standalone on 127.0.0.1:8080 with this DAG only (AIRFLOW_HOME=data/airflow)
AIRFLOW_PORT ?= 8080
AIRFLOW_ENV = PATH="$(CURDIR)/$(BIN):$$PATH" AIRFLOW_HOME="$(CURDIR)/data/airflow" \
	AIRFLOW__CORE__DAGS_FOLDER="$(CURDIR)/dags" AIRFLOW__CORE__LOAD_EXAMPLES=False \
	AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__PORT=$(AIRFLOW_PORT) \
	AIRFLOW__API__BASE_URL=http://127.0.0.1:$(AIRFLOW_PORT) AIRFLOW__COSMOS__ENABLE_TELEMETRY=False

airflow: venv-airflow manifest
	mkdir -p data/airflow
	$(AIRFLOW_ENV) $(BIN)/python scripts/airflow_local.py standalone

## sql: Harlequin (terminal SQL IDE) on the warehouse, read-only, bronze/silver/gold/live readable (ARGS=...)
sql: venv-analytics
	$(BIN)/pinpipe sql $(ARGS)

## docs: dbt docs generate, then serve them offline on 127.0.0.1:8081 only (DOCS_PORT=...; Ctrl-C stops)
DOCS_PORT ?= 8081
docs: venv-run
	$(BIN)/pinpipe dbt docs generate
	$(BIN)/dbt docs serve --project-dir dbt_project --profiles-dir . --host 127.0.0.1 --port $(DOCS_PORT) --no-browser

## lock: re-resolve uv.lock after a change of pyproject.toml's dependencies (needs the registry)
lock: | $(UV)
	$(UV) lock

## clean: remove the virtual environment, the data folder and dbt's output
clean:
	rm -rf $(VENV) data dbt_project/target dbt_project/logs
