"""The daily Airflow DAG for real: Airflow 3 (SQLite metadata DB in a tmp AIRFLOW_HOME), the dbt project
rendered by astronomer-cosmos from its manifest, real dbt on a real DuckDB file, a real Kafka broker.

Airflow reads its configuration when it is first imported, so nothing here imports it at module level:
the module-scoped ``airflow_env`` fixture sets AIRFLOW_HOME and the PINPIPE_* environment first, migrates
the metadata DB (``airflow db migrate``) and builds the manifest (the ``make manifest`` command). One
successful ``dag.test()`` run is shared by the tests; the failing run works on the same lake afterwards.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import sqlalchemy as sa
from deltalake import DeltaTable, write_deltalake

from devservices.kafka import LocalKafka
from emulator.generate import generate_source_db
from emulator.posting import PostingPlan, pick_indexes, post_events
from emulator.schema import TABLES
from emulator.sinks.kafka import KafkaSink
from emulator.sinks.lake import LakeSink
from emulator.source import EventSource
from ingestion.bronze.tables import read_table
from ingestion.settings import ENTITIES, INDEX_FIELD, Settings
from pinpipe.report.questions import gold_questions
from tests import dbt_support as support

pytestmark = [pytest.mark.slow, pytest.mark.kafka]

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGS_DIR = REPO_ROOT / "dags"
DAG_FILE = DAGS_DIR / "pinpipe_daily.py"
MANIFEST = REPO_ROOT / "dbt_project" / "target" / "manifest.json"
BIN = Path(sys.executable).parent
DAG_ID = "pinpipe_daily"
DB_ROWS = 500
EVENTS = 400
POSTING_SEED = 7
GOLD_COLUMNS = {
    "most_popular_category_by_country": ("country", "category", "category_count"),
    "most_popular_category_by_year": ("post_year", "category", "category_count"),
    "median_follower_count_by_age_group": ("age_group", "median_follower_count"),
    "users_joined_by_year": ("join_year", "number_users_joined"),
}
"""Gold questions checked against the independent computation (docs/data-contract.md, analytics semantics)."""


# --------------------------------------------------------------------------------------------------
# Environment: broker, AIRFLOW_HOME, metadata DB, manifest


def manifest_command() -> list[str]:
    """What ``make manifest`` runs from the repository root: ``dbt parse`` writes the manifest."""
    return [str(BIN / "dbt"), "parse", "--project-dir", "dbt_project", "--profiles-dir", ".", "--quiet"]


def manifest_env() -> dict[str, str]:
    """dbt_project/target/manifest.json is built with a developer's environment, not a test's paths."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINPIPE_")}
    env.update({"PINPIPE_DBT_TARGET": "duckdb", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
    return env


@dataclass
class AirflowEnv:
    """Where one test module's Airflow and pipeline state live."""

    home: Path
    settings: Settings
    broker: LocalKafka


@pytest.fixture(scope="module")
def airflow_env(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[AirflowEnv]:
    """AIRFLOW_HOME in tmp, SQLite metadata DB migrated, manifest built, PINPIPE_* pointing at tmp."""
    root = tmp_path_factory.mktemp("airflow")
    home, data = root / "airflow_home", root / "data"
    data.mkdir()
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW__COSMOS__CACHE_DIR": str(root / "cosmos_cache"),
        "PINPIPE_DATA_DIR": str(data),
        "PINPIPE_LAKE": str(data / "lake"),
        "PINPIPE_WAREHOUSE": str(data / "warehouse.duckdb"),
        "PINPIPE_SOURCE_DB_URL": f"sqlite:///{data / 'source.db'}",
        "PINPIPE_UID": f"t{uuid.uuid4().hex[:11]}",
        "PINPIPE_DBT_TARGET": "duckdb",
        # dag.test() runs tasks one after the other in one process: the per-model LOCAL execution is
        # tested here; the default watcher execution runs under the real scheduler in
        # test_airflow_scheduler.py
        "PINPIPE_DAG_EXECUTION": "local",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith(("PINPIPE_DAG_", "PINPIPE_DBT_"))]:
            patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        # The manifest and the metadata DB are built while the broker starts.
        manifest = start_logged(manifest_command(), manifest_env(), root / "dbt_parse.log")
        migrate = start_logged(
            [str(BIN / "airflow"), "db", "migrate"], dict(os.environ), root / "migrate.log"
        )
        broker: LocalKafka = request.getfixturevalue("broker")
        patch.setenv("PINPIPE_KAFKA_BOOTSTRAP", broker.bootstrap_servers)
        for process, log in ((manifest, root / "dbt_parse.log"), (migrate, root / "migrate.log")):
            assert process.wait(timeout=300) == 0, log.read_text()[-4000:]
        yield AirflowEnv(home=home, settings=Settings(), broker=broker)


def start_logged(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a command from the repository root with its output in a file."""
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def parse_dag_folder() -> tuple[Any, list[warnings.WarningMessage]]:
    """Parse dags/ as the DAG processor does (bundle path on sys.path), recording every warning."""
    from airflow.dag_processing.dagbag import BundleDagBag

    for name in [n for n in sys.modules if n == "pinpipe_dag" or n.startswith("pinpipe_dag.")]:
        del sys.modules[name]  # re-import the helpers too, so their warnings would show
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = BundleDagBag(dag_folder=str(DAGS_DIR), bundle_path=DAGS_DIR, bundle_name="dags-folder")
    return bag, list(caught)


@pytest.fixture(scope="module")
def parsed(airflow_env: AirflowEnv) -> tuple[Any, list[warnings.WarningMessage]]:
    return parse_dag_folder()


@pytest.fixture(scope="module")
def dag(parsed: tuple[Any, list[warnings.WarningMessage]]) -> Any:
    bag, _ = parsed
    loaded = bag.get_dag(DAG_ID)
    assert loaded is not None, bag.import_errors
    return loaded


# --------------------------------------------------------------------------------------------------
# Running the DAG


@dataclass
class Run:
    """One ``dag.test()`` run: its state, its task instances and what gold held afterwards."""

    state: str
    states: dict[str, str]
    durations: dict[str, float]
    xcoms: dict[str, Any]
    seconds: float
    gold: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)


def without_retries(dag: Any) -> Any:
    """A copy of the DAG whose tasks fail at once (the DAG retries a failed task after minutes)."""
    copied = copy.deepcopy(dag)
    for task in copied.tasks:
        task.retries = 0
    return copied


def run_dag(dag: Any, **conf: Any) -> Run:
    """``dag.test()`` and what it left in the metadata DB."""
    from airflow.models import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    started = datetime.now(UTC)
    dag_run = without_retries(dag).test(run_conf=conf or None)
    seconds = (datetime.now(UTC) - started).total_seconds()
    with create_session() as session:
        tis = session.query(TaskInstance).filter(TaskInstance.run_id == dag_run.run_id).all()
        states = {ti.task_id: str(ti.state) for ti in tis}
        durations = {ti.task_id: float(ti.duration or 0.0) for ti in tis}
        rows = (
            session.query(XComModel)
            .filter(XComModel.run_id == dag_run.run_id, XComModel.key == "return_value")
            .all()
        )
        xcoms = {row.task_id: XComModel.deserialize_value(row) for row in rows}
    xcoms = {task: json.loads(value) if isinstance(value, str) else value for task, value in xcoms.items()}
    return Run(str(dag_run.state), states, durations, xcoms, seconds)


def posted_indexes() -> list[int]:
    """The indexes the emulator posts for this plan (random order, repeats included)."""
    picks = pick_indexes("random", POSTING_SEED, DB_ROWS - 1)
    return [index for index, _ in zip(picks, range(EVENTS), strict=False)]


def source_records(url: str, indexes: set[int]) -> dict[str, list[dict[str, Any]]]:
    """The source DB rows of ``indexes`` as the wire carries them (datetimes as ISO-8601 text)."""
    engine = sa.create_engine(url)
    records: dict[str, list[dict[str, Any]]] = {}
    try:
        with engine.connect() as connection:
            for entity in ENTITIES:
                table = TABLES[entity]
                rows = connection.execute(sa.select(table).where(table.c[INDEX_FIELD[entity]].in_(indexes)))
                records[entity] = [
                    {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row._mapping.items()}
                    for row in rows
                ]
    finally:
        engine.dispose()
    return records


@dataclass
class Pipeline:
    """The shared successful run and what was posted for it."""

    env: AirflowEnv
    dag: Any
    run: Run
    indexes: list[int]
    records: dict[str, list[dict[str, Any]]]
    bronze_indexes: dict[str, list[int]]


@pytest.fixture(scope="module")
def pipeline(airflow_env: AirflowEnv, dag: Any) -> Pipeline:
    """Source DB of 500 rows, 400 events through the emulator's Kafka sink, then the whole DAG."""
    settings = airflow_env.settings
    generate_source_db(settings.source_db_url, rows=DB_ROWS, seed=5)
    summary = post_events(
        EventSource(settings.source_db_url),
        KafkaSink(settings),
        PostingPlan(events=EVENTS, order="random", seed=POSTING_SEED, max_index=DB_ROWS - 1),
        handle_signals=False,
    )
    assert (summary.records_delivered, summary.records_failed) == (3 * EVENTS, 0)
    indexes = posted_indexes()
    run = run_dag(dag)
    print(f"dag.test(): {run.state} in {run.seconds:.1f}s")
    if run.state == "success":
        run.gold = support.gold_snapshot(settings.warehouse)
    bronze = {
        entity: sorted(
            int(i) for i in read_table(settings, entity, [INDEX_FIELD[entity]]).column(0).to_pylist()
        )
        for entity in ENTITIES
    }
    records = source_records(settings.source_db_url, set(indexes))
    return Pipeline(airflow_env, dag, run, indexes, records, bronze)


# --------------------------------------------------------------------------------------------------
# The DAG file and its graph


def test_dag_folder_imports_without_errors_or_warnings(
    parsed: tuple[Any, list[warnings.WarningMessage]],
) -> None:
    bag, caught = parsed
    assert bag.import_errors == {}
    assert DAG_ID in bag.dag_ids
    assert bag.captured_warnings == {}
    assert [f"{w.category.__name__}: {w.message} ({w.filename})" for w in caught] == []
    assert "airflow" in DAG_FILE.read_text(encoding="utf-8").lower()


PARSE_IN_FRESH_INTERPRETER = """
import json, os, runpy, sys, time
sys.path.insert(0, sys.argv[1])
started = time.perf_counter()
dag = runpy.run_path(sys.argv[2])["dag"]
seconds = time.perf_counter() - started
heavy = sorted({"duckdb", "deltalake", "kafka"} & set(sys.modules))
group = dag.task_group.get_child_by_label("dbt")
os.environ.update(PINPIPE_DBT_TARGET="databricks", PINPIPE_DATABRICKS_CONN_ID="databricks_default")
production = runpy.run_path(sys.argv[2])["dag"]
profile = production.task_dict["dbt.posts.run"].profile_config
print(json.dumps({
    "seconds": seconds, "heavy": heavy, "load_method": group.dbt_graph.load_method.value,
    "tasks": len(dag.tasks), "databricks_tasks": len(production.tasks),
    "databricks_max_active_tasks": production.max_active_tasks,
    "databricks_target": profile.target_name,
    "databricks_mapping": type(profile.profile_mapping).__name__,
}))
"""


def test_dag_file_parses_cheaply_for_each_target(airflow_env: AirflowEnv, tmp_path: Path) -> None:
    """A parse opens no warehouse, runs no dbt (it reads the manifest) and loads no Kafka, Delta or
    DuckDB library; with PINPIPE_DBT_TARGET=databricks the same graph targets Databricks."""
    warehouse = tmp_path / "never" / "warehouse.duckdb"
    result = subprocess.run(
        [sys.executable, "-c", PARSE_IN_FRESH_INTERPRETER, str(DAGS_DIR), str(DAG_FILE)],
        env={**os.environ, "PINPIPE_WAREHOUSE": str(warehouse)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    figures = json.loads(result.stdout.splitlines()[-1])
    assert figures["load_method"] == "dbt_manifest"
    assert figures["heavy"] == []
    assert not warehouse.parent.exists()
    assert figures["databricks_tasks"] == figures["tasks"]
    assert figures["databricks_max_active_tasks"] > 1
    assert figures["databricks_target"] == "databricks"
    assert figures["databricks_mapping"] == "DatabricksTokenProfileMapping"
    print(f"DAG file execution (Cosmos import and manifest included): {figures['seconds']:.2f}s")


def test_schedule_and_defaults(dag: Any) -> None:
    assert dag.dag_id == DAG_ID
    assert dag.schedule == "@daily"
    assert dag.timetable.expression == "0 0 * * *"
    assert dag.catchup is False
    assert dag.start_date == datetime(2026, 1, 1, tzinfo=UTC)
    assert dag.max_active_runs == 1
    assert dag.max_active_tasks == 1  # duckdb: one writer
    assert {"pinpipe", "dbt", "cosmos"} <= set(dag.tags)
    assert dag.doc_md and "record_run" in dag.doc_md and "lake" in dag.doc_md
    assert dag.params["source"] == "auto"
    for task in dag.tasks:
        assert task.owner == "pinpipe", task.task_id
        assert task.retries == 2, task.task_id
        assert task.retry_delay == timedelta(minutes=5), task.task_id


def test_gold_tables_are_assets_updated_by_record_run(dag: Any) -> None:
    """Downstream DAGs schedule on ``Asset("pinpipe://gold/<table>")`` (docs/airflow.md)."""
    manifest = _manifest()
    gold = {
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and node["original_file_path"].startswith("models/marts/")
        and node["config"].get("schema") == "gold"
        and node["config"].get("materialized") in ("table", "incremental")
    }
    assert {"posts", *(question.table for question in gold_questions())} <= gold  # every question
    uris = {outlet.uri for outlet in dag.task_dict["record_run"].outlets}
    assert uris == {f"pinpipe://gold/{table}" for table in gold}


def _manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return data


def test_task_graph_is_the_dbt_graph(dag: Any) -> None:
    manifest = _manifest()
    models = {uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"}
    tests = {uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] == "test"}
    sources = manifest["sources"]
    tasks = dag.task_dict
    # The task(s) standing for each dbt node: a model's run task (first) and its test task (last).
    first: dict[str, str] = {}
    last: dict[str, str] = {}
    for uid, node in models.items():
        has_own_tests = any(t["depends_on"]["nodes"] == [uid] for t in tests.values())
        first[uid] = f"dbt.{node['name']}.run" if has_own_tests else f"dbt.{node['name']}_run"
        last[uid] = f"dbt.{node['name']}.test" if has_own_tests else first[uid]
        assert first[uid] in tasks, uid
        assert last[uid] in tasks, uid
        if has_own_tests:
            assert tasks[last[uid]].upstream_task_ids == {first[uid]}
            assert tasks[last[uid]].select == node["name"]
    for uid, node in sources.items():
        first[uid] = last[uid] = f"dbt.{node['source_name']}_{node['name']}_source"
        assert first[uid] in tasks, uid
        assert tasks[first[uid]].upstream_task_ids == {"ingest.load_bronze"}
    # Every dependency of the manifest is an edge, and there is no other edge into a run task.
    for uid, node in models.items():
        # a model reading no other node (metricflow_time_spine) starts after ingestion
        parents = {last[p] for p in node["depends_on"]["nodes"]} or {"ingest.load_bronze"}
        assert tasks[first[uid]].upstream_task_ids == parents, uid
    # A test reading several nodes runs once, after all of them.
    multi_parent = {uid: t for uid, t in tests.items() if len(t["depends_on"]["nodes"]) > 1}
    assert multi_parent
    for uid, node in multi_parent.items():
        task_id = f"dbt.{node['name']}_test"
        assert task_id in tasks, uid
        assert tasks[task_id].upstream_task_ids == {last[p] for p in node["depends_on"]["nodes"]}
    dbt_tasks = {t for t in tasks if t.startswith("dbt.")}
    expected = (
        set(first.values()) | set(last.values()) | {f"dbt.{t['name']}_test" for t in multi_parent.values()}
    )
    assert dbt_tasks == expected
    # Ingestion first, the record last.
    assert tasks["ingest.load_bronze"].upstream_task_ids == {"ingest.land_from_kafka"}
    leaves = {t for t in dbt_tasks if not tasks[t].downstream_task_ids - {"record_run"}}
    assert tasks["record_run"].upstream_task_ids == leaves
    # The test tasks run the model's data tests, not unit tests, and not the detached ones.
    pins_test = tasks["dbt.stg_pinterest__pins.test"]
    assert "resource_type:unit_test" in pins_test.exclude
    assert "relationships_posts_ind__ind__ref_stg_pinterest__pins_" in pins_test.exclude


def test_dbt_tasks_get_the_settings_environment(airflow_env: AirflowEnv, dag: Any) -> None:
    task = dag.task_dict["dbt.posts.run"]
    settings = airflow_env.settings
    assert task.env["PINPIPE_LAKE"] == settings.lake
    assert task.env["PINPIPE_WAREHOUSE"] == settings.warehouse
    assert task.env["PINPIPE_DBT_TARGET"] == "duckdb"
    assert task.profile_config.target_name == "duckdb"
    assert task.profile_config.profiles_yml_filepath == REPO_ROOT / "profiles.yml"
    assert Path(task.dbt_executable_path) == BIN / "dbt"


def test_configuration_variants(monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(DAGS_DIR))
    from pinpipe_dag.config import DagConfig, DagConfigError

    for name in [n for n in os.environ if n.startswith(("PINPIPE_DAG_", "PINPIPE_DBT_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PINPIPE_DAG_SOURCE", " Lake ")
    monkeypatch.setenv("PINPIPE_DAG_POOL", "")
    monkeypatch.setenv("PINPIPE_WAREHOUSE", "relative/warehouse.duckdb")
    lake = DagConfig.from_env()
    assert (lake.source, lake.load_mode, lake.invocation) == ("lake", "dbt_manifest", "subprocess")
    assert (lake.execution, lake.pool, lake.max_active_tasks) == ("watcher", None, 16)
    assert "PINPIPE_DUCKDB_KEEP_OPEN" not in lake.dbt_env()  # a dbt process keeps the file to its exit
    monkeypatch.setenv("PINPIPE_DAG_EXECUTION", " Local ")
    local = DagConfig.from_env()
    assert (local.max_active_tasks, local.invocation) == (1, "dbt_runner")  # one dbt task at a time
    assert local.dbt_env()["PINPIPE_DUCKDB_KEEP_OPEN"] == "false"  # dbt inside the task's process
    monkeypatch.delenv("PINPIPE_DAG_SOURCE")
    assert DagConfig.from_env().source == "auto"
    assert Path(lake.warehouse).is_absolute() and lake.warehouse.endswith("relative/warehouse.duckdb")
    monkeypatch.setenv("PINPIPE_DAG_SOURCE", "s3")
    with pytest.raises(DagConfigError, match="PINPIPE_DAG_SOURCE='s3'"):
        DagConfig.from_env()
    monkeypatch.delenv("PINPIPE_DAG_SOURCE")
    monkeypatch.setenv("PINPIPE_DAG_MAX_ACTIVE_TASKS", "0")
    with pytest.raises(DagConfigError, match="PINPIPE_DAG_MAX_ACTIVE_TASKS='0'"):
        DagConfig.from_env()
    monkeypatch.delenv("PINPIPE_DAG_MAX_ACTIVE_TASKS")
    monkeypatch.setenv("PINPIPE_DBT_TARGET", "databricks")
    monkeypatch.setenv("PINPIPE_DAG_POOL", "duckdb_writer")
    production = DagConfig.from_env()
    assert (production.target, production.max_active_tasks, production.pool) == (
        "databricks",
        8,
        "duckdb_writer",
    )


# --------------------------------------------------------------------------------------------------
# End to end


def test_dag_run_succeeds_end_to_end(pipeline: Pipeline) -> None:
    run = pipeline.run
    assert run.state == "success", {t: s for t, s in run.states.items() if s != "success"}
    assert set(run.states) == set(pipeline.dag.task_dict)
    assert set(run.states.values()) == {"success"}
    landed = run.xcoms["ingest.land_from_kafka"]
    assert landed["records"] == 3 * EVENTS and landed["stopped_by"] == "drained"
    loaded = run.xcoms["ingest.load_bronze"]
    assert loaded["records_loaded"] == 3 * EVENTS and loaded["quarantined"] == 0
    # Bronze holds exactly the posted events: every delivery of every index, nothing else.
    assert pipeline.bronze_indexes == {entity: sorted(pipeline.indexes) for entity in ENTITIES}
    record = run.xcoms["record_run"]
    assert record["gold_row_counts"] == {table: len(rows) for table, rows in run.gold.items()}
    assert record["gold_row_counts"]["posts"] == len(set(pipeline.indexes))
    assert record["landed_records"] == 3 * EVENTS
    dbt_seconds = sum(s for t, s in run.durations.items() if t.startswith("dbt."))
    print(f"dag.test(): {run.seconds:.1f}s, of which dbt tasks {dbt_seconds:.1f}s")


def test_gold_answers_match_the_posted_events(pipeline: Pipeline) -> None:
    assert pipeline.run.state == "success"
    posts = support.reference_posts(pipeline.records)
    assert len(posts) == len(set(pipeline.indexes)) < EVENTS  # repeats were posted, counted once
    expected = support.reference_answers(posts)
    with duckdb.connect(pipeline.env.settings.warehouse, read_only=True) as connection:
        for table, columns in GOLD_COLUMNS.items():
            rows = connection.execute(f"select {', '.join(columns)} from gold.{table}").fetchall()
            assert sorted(rows) == expected[table], table
        assert connection.execute("select count(*), count(distinct ind) from gold.posts").fetchall() == [
            (len(posts), len(posts))
        ]
    # The data exercise the contract's corner cases: ties broken alphabetically, an even-sized median.
    assert _has_category_tie(posts), "no tie in the most popular category per country"
    assert any(n % 2 == 0 for n in _group_sizes(posts, "age_group")), "no even-sized median group"


def _has_category_tie(posts: list[dict[str, Any]]) -> bool:
    counts: dict[tuple[str, str], int] = {}
    for post in posts:
        if post["country"] is not None and post["category"] is not None:
            key = (post["country"], post["category"])
            counts[key] = counts.get(key, 0) + 1
    best: dict[str, list[int]] = {}
    for (country, _), n in counts.items():
        best.setdefault(country, []).append(n)
    return any(sorted(ns)[-2:] == [max(ns)] * 2 for ns in best.values() if len(ns) > 1)


def _group_sizes(posts: list[dict[str, Any]], key: str) -> list[int]:
    sizes: dict[Any, int] = {}
    for post in posts:
        if post[key] is not None and post["follower_count"] is not None:
            sizes[post[key]] = sizes.get(post[key], 0) + 1
    return list(sizes.values())


def test_lake_variant_skips_the_drain(pipeline: Pipeline, tmp_path: Path) -> None:
    """``source=lake``: the emulator's lake sink writes the landing; no broker is read."""
    settings = pipeline.env.settings
    summary = post_events(
        EventSource(settings.source_db_url),
        LakeSink(settings),
        PostingPlan(events=25, order="sequential"),
        handle_signals=False,
    )
    assert summary.records_failed == 0
    ingest = pipeline.dag.partial_subset(task_ids=["ingest.load_bronze"], include_upstream=True)
    run = run_dag(ingest, source="lake")
    assert run.state == "success"
    assert run.states == {"ingest.land_from_kafka": "skipped", "ingest.load_bronze": "success"}
    assert run.xcoms["ingest.load_bronze"]["records_loaded"] == 3 * 25


def corrupt_bronze(settings: Settings) -> None:
    """Append to bronze a pin row that reuses the delivery identity of a row silver holds, for a new
    index: the loader never writes that (exactly once), and silver's error-severity uniqueness test
    catches it."""
    with duckdb.connect(settings.warehouse, read_only=True) as connection:
        held = connection.execute(
            "select _landing_object, _offset from silver.stg_pinterest__pins order by ind limit 1"
        ).fetchone()
    assert held is not None
    path = f"{settings.lake}/bronze/pin"
    table = DeltaTable(path).to_pyarrow_table()
    same = pc.and_(pc.equal(table["_landing_object"], held[0]), pc.equal(table["_offset"], held[1]))
    row = table.filter(same)
    assert row.num_rows == 1
    new_index = str(10 * DB_ROWS)
    record = json.loads(row["_raw_json"][0].as_py())
    record["index"] = int(new_index)
    row = row.set_column(row.schema.get_field_index("index"), "index", pa.array([new_index], pa.string()))
    raw = pa.array([json.dumps(record)], pa.string())
    row = row.set_column(row.schema.get_field_index("_raw_json"), "_raw_json", raw)
    write_deltalake(path, row, mode="append")


def test_data_quality_failure_fails_the_run_and_keeps_gold(pipeline: Pipeline) -> None:
    assert pipeline.run.state == "success"
    settings = pipeline.env.settings
    before = support.gold_snapshot(settings.warehouse)
    corrupt_bronze(settings)
    run = run_dag(pipeline.dag)
    assert run.state == "failed"
    failed = {task for task, state in run.states.items() if state == "failed"}
    assert failed == {"dbt.stg_pinterest__pins.test"}
    downstream = pipeline.dag.task_dict["dbt.stg_pinterest__pins.test"].get_flat_relative_ids(upstream=False)
    assert {run.states[t] for t in downstream} == {"upstream_failed"}
    assert "dbt.posts.run" in downstream and "record_run" in downstream
    assert run.states["dbt.stg_pinterest__pins.run"] == "success"
    assert support.gold_snapshot(settings.warehouse) == before
