"""
### pinpipe_daily: Kafka → raw landing → bronze → dbt silver and gold, once a day

The Apache Airflow DAG of pinpipe (rendered from the dbt graph by astronomer-cosmos).

1. **ingest.land_from_kafka** drains the uid's topics `<uid>.pin|geo|user` into the raw landing
   `<lake>/raw/topics/…` up to the end offsets seen when it starts (offsets committed after each
   durable write: a retry lands only what is missing). The run param `source` (default from
   `PINPIPE_DAG_SOURCE`, else `auto`): `auto` drains when the broker answers within 3 s and else
   skips the drain (the log says which), `kafka` drains or fails at once without retries when the
   broker does not answer, `lake` skips the drain (the emulator's lake sink wrote the landing).
2. **ingest.load_bronze** loads the new landing objects into the bronze Delta tables (exactly once;
   bad records go to `bronze/quarantine`).
3. **ingest.source_freshness** runs `dbt source freshness`: a bronze table whose newest record is
   older than 3 days fails the run (a warning after 26 hours).
4. **dbt** (astronomer-cosmos `DbtTaskGroup`, watcher execution): `dbt.dbt_producer_watcher` runs
   one `dbt build` (the only writer of the warehouse); per model, a sensor task `dbt.<model>_build`
   shows the model's state (its run and its data tests) and dbt log. A failing error-severity test
   fails its model's task (and the build task), and dbt skips everything built from that model: a
   bad row caught in silver leaves gold as the last good run built it.
5. **record_run** logs and returns (XCom) the row counts of the gold tables, read with a
   read-only DuckDB connection, and updates the Airflow Assets `pinpipe://gold/<table>`.

Target: `PINPIPE_DBT_TARGET` (`duckdb` by default, `databricks` in production). On DuckDB every dbt
call of the DAG holds one writer lock: the warehouse is one file with one writer.
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
from airflow.sdk import DAG, Asset, Param, TaskGroup, TriggerRule, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from pinpipe_dag.config import SOURCES, DagConfig
from pinpipe_dag.dbt_graph import dbt_task_group, gold_tables

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


@task(task_id="source_freshness")
def source_freshness() -> None:
    """``dbt source freshness`` on bronze (watcher execution; local execution has a task per source):
    fails when a source's newest record is older than its ``error_after``, warns after ``warn_after``."""
    from pinpipe.warehouse.dbt_runner import run_dbt  # see "Deferred imports" above

    run_dbt(CONFIG.settings, ["source", "freshness"])


def gold_asset(table: str) -> Asset:
    """The Airflow Asset of one gold table (what downstream DAGs schedule on)."""
    return Asset(name=f"pinpipe.gold.{table}", uri=f"pinpipe://gold/{table}", group="pinpipe")


@task(task_id="land_from_kafka")
def land_from_kafka() -> dict[str, Any]:
    """Drain Kafka to the raw landing; skipped with ``source=lake``, or ``auto`` and no broker."""
    source = get_current_context()["params"]["source"]
    if source == "lake":
        raise AirflowSkipException("source=lake: the emulator's lake sink writes the raw landing itself")
    from pinpipe_dag.kafka_probe import broker_problem  # see "Deferred imports" above (kafka extra)

    problem = broker_problem(CONFIG.settings.kafka_bootstrap)
    if problem and source == "auto":
        raise AirflowSkipException(f"source=auto: {problem}; reading the lake landing as it is")
    if problem:  # source=kafka: a retry in minutes would not find a broker either
        raise AirflowFailException(f"source=kafka: {problem}")
    print(f"source={source}: Kafka broker at {CONFIG.settings.kafka_bootstrap} answers; draining it")
    from pinpipe import pipeline  # see "Deferred imports" above

    return asdict(pipeline.land_from_kafka(CONFIG.settings, client_id="pinpipe-airflow"))


@task(task_id="load_bronze", trigger_rule=TriggerRule.NONE_FAILED)
def load_bronze() -> dict[str, Any]:
    """Load new raw landing objects into bronze (runs after the drain, or alone when it was skipped)."""
    from pinpipe import pipeline  # see "Deferred imports" above

    pipeline.ensure_warehouse_folder(CONFIG.settings)
    return pipeline.load_report_record(pipeline.load_bronze(CONFIG.settings))


def record_run(outlets: list[Asset]) -> Any:
    """The ``record_run`` task, updating ``outlets`` (the gold tables' Assets) when it succeeds."""

    @task(task_id="record_run", outlets=outlets)
    def _record_run() -> dict[str, Any]:
        return _record()

    return _record_run()


def _record() -> dict[str, Any]:
    """Row counts of the gold tables (read-only DuckDB), with the ingestion figures of this run."""
    if not CONFIG.single_writer:
        print(f"target {CONFIG.target}: gold row counts are read from DuckDB only")
        return {"gold_row_counts": None}
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
            description=(
                "auto: drain Kafka when its broker answers, else read the lake landing; "
                "kafka: drain the topics first (fail when the broker does not answer); "
                "lake: the landing is already written"
            ),
        )
    },
) as dag:
    with TaskGroup("ingest", tooltip="Kafka → raw landing → bronze Delta") as ingest:
        loaded = land_from_kafka() >> load_bronze()
        if CONFIG.execution == "watcher":
            loaded >> source_freshness()
    dbt = dbt_task_group(CONFIG, group_id="dbt")
    ingest >> dbt >> record_run([gold_asset(table) for table in gold_tables(dbt)])
