# The two commands of the README: `make run` (the main job on the embedded default) and `make test`.
# Each creates and fills the project's virtual environment (.venv) itself; nothing else is needed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Extras installed for each target; the test suite needs the components of every issue.
RUN_EXTRAS := kafka,kinesis,gateway
TEST_EXTRAS := dev,kafka,kinesis,gateway,airflow,spark,databricks
AIRFLOW_EXTRAS := kafka,airflow

.PHONY: run test lint manifest airflow venv-run venv-test venv-airflow clean

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv

# One stamp per extras set, redone whenever pyproject.toml changes.
$(VENV)/.stamp-run: pyproject.toml Makefile | $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e ".[$(RUN_EXTRAS)]"
	touch $@

$(VENV)/.stamp-test: pyproject.toml Makefile | $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e ".[$(TEST_EXTRAS)]"
	touch $@

$(VENV)/.stamp-airflow: pyproject.toml Makefile | $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e ".[$(AIRFLOW_EXTRAS)]"
	touch $@

venv-run: $(VENV)/.stamp-run
venv-test: $(VENV)/.stamp-test
venv-airflow: $(VENV)/.stamp-airflow

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

## make manifest: dbt_project/target/manifest.json, which the Airflow DAG renders its dbt tasks from.
manifest: venv-run
	$(BIN)/dbt parse --project-dir dbt_project --profiles-dir . --quiet

## make airflow: Airflow standalone on 127.0.0.1:8080, AIRFLOW_HOME=data/airflow, this DAG only.
AIRFLOW_PORT ?= 8080
AIRFLOW_ENV = PATH="$(CURDIR)/$(BIN):$$PATH" AIRFLOW_HOME="$(CURDIR)/data/airflow" \
	AIRFLOW__CORE__DAGS_FOLDER="$(CURDIR)/dags" AIRFLOW__CORE__LOAD_EXAMPLES=False \
	AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__PORT=$(AIRFLOW_PORT) \
	AIRFLOW__API__BASE_URL=http://127.0.0.1:$(AIRFLOW_PORT) AIRFLOW__COSMOS__ENABLE_TELEMETRY=False

airflow: venv-airflow manifest
	mkdir -p data/airflow
	$(AIRFLOW_ENV) $(BIN)/airflow standalone

clean:
	rm -rf $(VENV) data dbt_project/target dbt_project/logs
