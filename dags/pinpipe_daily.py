"""
### pinpipe_daily: Kafka → raw landing → bronze → dbt silver and gold, once a day

The Apache Airflow DAG of pinpipe (rendered from the dbt graph by astronomer-cosmos).

1. **ingest.land_from_kafka** drains the uid's topics `<uid>.pin|geo|user` into the raw landing
   `<lake>/raw/topics/…` up to the end offsets seen when it starts (offsets committed after each
   durable write: a retry lands only what is missing). With the DAG param `source` = `lake`
   (default from `PINPIPE_DAG_SOURCE`), the task is skipped: the emulator's lake sink already wrote
   the landing.
2. **ingest.load_bronze** loads the new landing objects into the bronze Delta tables (exactly once;
   bad records go to `bronze/quarantine`).
3. **dbt** (astronomer-cosmos `DbtTaskGroup`): per source a freshness check, per model a `run` task
   followed by a `test` task with the model's data tests, and a task per test that reads several
   models. A failing error-severity test fails the run and stops everything built from that model:
   a bad row caught in silver leaves gold as the last good run built it.
4. **record_run** logs and returns (XCom) the row counts of the gold tables, read with a
   read-only DuckDB connection.

Target: `PINPIPE_DBT_TARGET` (`duckdb` by default, `databricks` in production). On DuckDB the run
executes one task at a time (`max_active_tasks=1`): the warehouse is one file with one writer.
Configuration: the `PINPIPE_*` variables of the project's settings (lake, warehouse, uid,
`PINPIPE_KAFKA_BOOTSTRAP`) and the DAG's own (see `dags/pinpipe_dag/config.py` and
`docs/operations.md`). Each task runs a step of `pinpipe.pipeline`, the same code as the `pinpipe`
command line.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, TaskGroup, TriggerRule, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException
from pinpipe_dag.config import SOURCES, DagConfig
from pinpipe_dag.dbt_graph import dbt_task_group

# Deferred imports: the scheduler parses this file every few minutes, so the pipeline's steps (Delta
# Lake, DuckDB, Kafka clients: about a second of imports) are imported inside the tasks, when a task
# runs, as Airflow's best practices ask for top-level code.

DAG_ID = "pinpipe_daily"
CONFIG = DagConfig.from_env()

default_args: dict[str, Any] = {
    "owner": "pinpipe",
    "retries": 2,
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
}
if CONFIG.pool:
    default_args["pool"] = CONFIG.pool


@task(task_id="land_from_kafka")
def land_from_kafka() -> dict[str, Any]:
    """Drain Kafka to the raw landing; skipped when the run's ``source`` param is ``lake``."""
    source = get_current_context()["params"]["source"]
    if source == "lake":
        raise AirflowSkipException("source=lake: the emulator's lake sink writes the raw landing itself")
    from pinpipe import pipeline  # see "Deferred imports" above

    return asdict(pipeline.land_from_kafka(CONFIG.settings, client_id="pinpipe-airflow"))


@task(task_id="load_bronze", trigger_rule=TriggerRule.NONE_FAILED)
def load_bronze() -> dict[str, Any]:
    """Load new raw landing objects into bronze (runs after the drain, or alone when it was skipped)."""
    from pinpipe import pipeline  # see "Deferred imports" above

    pipeline.ensure_warehouse_folder(CONFIG.settings)
    return pipeline.load_report_record(pipeline.load_bronze(CONFIG.settings))


@task(task_id="record_run")
def record_run() -> dict[str, Any]:
    """Row counts of the gold tables (read-only DuckDB), with the ingestion figures of this run."""
    if not CONFIG.single_writer:
        raise AirflowSkipException(f"target {CONFIG.target}: gold row counts are read from DuckDB only")
    ti = get_current_context()["ti"]
    landed = ti.xcom_pull(task_ids="ingest.land_from_kafka")
    loaded = ti.xcom_pull(task_ids="ingest.load_bronze")
    from pinpipe import pipeline  # see "Deferred imports" above

    return pipeline.record_run(CONFIG.settings, landed, loaded)


with DAG(
    dag_id=DAG_ID,
    description="Kafka → raw landing → Delta bronze → dbt silver/gold (cosmos), daily",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    max_active_tasks=CONFIG.max_active_tasks,
    dagrun_timeout=timedelta(hours=6),
    default_args=default_args,
    tags=["pinpipe", "dbt", "cosmos", "kafka", CONFIG.target],
    doc_md=__doc__,
    params={
        "source": Param(
            CONFIG.source,
            type="string",
            enum=list(SOURCES),
            description="kafka: drain the topics to the landing first; lake: the landing is already written",
        )
    },
) as dag:
    with TaskGroup("ingest", tooltip="Kafka → raw landing → bronze Delta") as ingest:
        land_from_kafka() >> load_bronze()
    dbt = dbt_task_group(CONFIG, group_id="dbt")
    ingest >> dbt >> record_run()
