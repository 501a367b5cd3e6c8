"""The daily DAG through a real Airflow: ``airflow standalone`` (scheduler, DAG processor, triggerer,
API server, LocalExecutor on an SQLite metadata DB) in a tmp AIRFLOW_HOME on 127.0.0.1 and free
ports, started and stopped by ``scripts/airflow_local.py`` (what ``make airflow`` runs).

On a lake written by the project's own steps (source DB, emulator through the lake sink; no broker):
unpausing the DAG starts the latest day's run (param ``source`` = ``auto`` finds no broker and reads
the lake), which succeeds with gold equal to the reference answers; a second run after a broken
bronze row fails the model's test task, skips what is built from it and leaves gold unchanged; Ctrl-C
of the wrapper stops every process it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import psutil
import pytest
from deltalake import DeltaTable

from ingestion.settings import ENTITIES, Settings
from tests import dbt_support as support
from tests.dags.test_dag import DB_ROWS, GOLD_COLUMNS, corrupt_bronze, manifest_command, manifest_env

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "scripts"))
import airflow_local as al  # noqa: E402

pytestmark = [pytest.mark.slow]

BIN = Path(sys.executable).parent
DAG_ID = "pinpipe_daily"
ROWS = 300
API_TIMEOUT = 150
RUN_TIMEOUT = 240


@dataclass
class Airflow:
    """A running standalone Airflow and the pipeline settings its DAG reads."""

    env: dict[str, str]
    settings: Settings
    process: al.AirflowProcess

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.env['AIRFLOW_HOME']}/airflow.db?mode=ro", uri=True, timeout=30)

    def wait_run(self, not_in: set[str], timeout: float = RUN_TIMEOUT) -> tuple[str, dict[str, str]]:
        """The first DAG run not in ``not_in`` that ends: its run_id and every task's state."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.process.poll() is None, "airflow standalone exited"
            try:
                with self.db() as db:
                    runs = db.execute(
                        "select run_id, state from dag_run where dag_id = ? order by id", (DAG_ID,)
                    ).fetchall()
                    done = [r for r, s in runs if r not in not_in and s in ("success", "failed")]
                    if done:
                        tis = db.execute(
                            "select task_id, state from task_instance where dag_id = ? and run_id = ?",
                            (DAG_ID, done[0]),
                        ).fetchall()
                        return done[0], {task: str(state) for task, state in tis}
            except sqlite3.OperationalError:  # the scheduler holds a write lock for a moment
                pass
            time.sleep(1)
        raise TimeoutError(f"no run of {DAG_ID} ended within {timeout:.0f}s")

    def wait_rerun(self, run_id: str, timeout: float = RUN_TIMEOUT) -> dict[str, tuple[str, int]]:
        """After a clear: wait for run ``run_id`` to end again; every task's state and try number."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.process.poll() is None, "airflow standalone exited"
            try:
                with self.db() as db:
                    tis = db.execute(
                        "select task_id, state, try_number from task_instance"
                        " where dag_id = ? and run_id = ?",
                        (DAG_ID, run_id),
                    ).fetchall()
                    ended = all(s in ("success", "failed", "skipped", "upstream_failed") for _, s, _ in tis)
                    if ended and self.run_state(run_id) in ("success", "failed"):
                        return {task: (str(state), int(tries)) for task, state, tries in tis}
            except sqlite3.OperationalError:
                pass
            time.sleep(1)
        raise TimeoutError(f"the cleared run {run_id} did not end within {timeout:.0f}s")

    def task_log(self, run_id: str, task_id: str) -> str:
        """Every attempt's log of one task instance, as the UI shows them."""
        logs = Path(
            self.env["AIRFLOW_HOME"], "logs", f"dag_id={DAG_ID}", f"run_id={run_id}", f"task_id={task_id}"
        )
        return "".join(path.read_text(errors="replace") for path in sorted(logs.glob("*.log")))

    def run_state(self, run_id: str) -> str:
        with self.db() as db:
            row = db.execute("select state from dag_run where run_id = ?", (run_id,)).fetchone()
        return str(row[0])


def leftovers(process: al.AirflowProcess) -> list[str]:
    return [" ".join(p.cmdline()[:3]) for p in process.everything()]


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Airflow]:
    """Lake and bronze-less warehouse written by the project's steps, then standalone Airflow."""
    root = tmp_path_factory.mktemp("airflow_scheduler")
    data = root / "data"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PINPIPE_", "AIRFLOW"))}
    base.update(
        {
            "PINPIPE_DATA_DIR": str(data),
            "PINPIPE_UID": "airflowsched",
            "PINPIPE_DBT_TARGET": "duckdb",
            "PINPIPE_KAFKA_BOOTSTRAP": f"127.0.0.1:{al.free_port()}",  # nothing listens: no broker
            "AIRFLOW__COSMOS__CACHE_DIR": str(root / "cosmos_cache"),
            "AIRFLOW__CORE__PARALLELISM": "16",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
    )
    env = al.standalone_env(root / "home", REPO_ROOT / "dags", base)
    manifest = subprocess.run(manifest_command(), cwd=REPO_ROOT, env=manifest_env(), capture_output=True)
    assert manifest.returncode == 0, manifest.stdout[-3000:]
    for args in (
        ["db", "build", "--rows", str(ROWS)],
        ["emulate", "--events", str(ROWS), "--order", "sequential", "--sink", "lake"],
    ):
        done = subprocess.run([str(BIN / "pinpipe"), *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
    with (root / "standalone.log").open("wb") as log:
        process = al.AirflowProcess(["standalone"], env, log)
    try:
        process.wait_http(al.api_url(env), API_TIMEOUT)
        with pytest.MonkeyPatch.context() as patch:
            for name in [n for n in os.environ if n.startswith("PINPIPE_")]:
                patch.delenv(name)
            patch.setenv("PINPIPE_DATA_DIR", str(data))
            patch.setenv("PINPIPE_UID", "airflowsched")
            settings = Settings()
        yield Airflow(env, settings, process)
    finally:
        process.stop(grace=10)
        assert leftovers(process) == []


def bronze_records(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    """The records in bronze, in delivery order (what the reference answers are computed from)."""
    records = {}
    for entity in ENTITIES:
        table = DeltaTable(f"{settings.lake}/bronze/{entity}").to_pyarrow_table(
            columns=["_offset", "_raw_json"]
        )
        rows = sorted(zip(table["_offset"].to_pylist(), table["_raw_json"].to_pylist(), strict=True))
        records[entity] = [json.loads(raw) for _, raw in rows]
    return records


def test_scheduled_run_then_a_failing_run(airflow: Airflow) -> None:
    started = time.monotonic()
    al.airflow_cli(airflow.env, "dags", "unpause", DAG_ID)  # starts the latest day's run
    run_id, states = airflow.wait_run(set())
    scheduled_run = run_id
    first = time.monotonic() - started
    failed = {t: s for t, s in states.items() if s != "success"}
    assert airflow.run_state(run_id) == "success", failed
    assert failed == {"ingest.land_from_kafka": "skipped"}  # source=auto, no broker: the lake landing
    assert "dbt.dbt_producer_watcher" in states and "dbt.posts_build" in states
    settings = airflow.settings
    expected = support.reference_answers(support.reference_posts(bronze_records(settings)))
    with duckdb.connect(settings.warehouse, read_only=True) as connection:
        for table, columns in GOLD_COLUMNS.items():
            rows = connection.execute(f"select {', '.join(columns)} from gold.{table}").fetchall()
            assert sorted(rows) == expected[table], table
        assert connection.execute("select count(*) from gold.posts").fetchone() == (ROWS,)
    gold = support.gold_snapshot(settings.warehouse)

    # Clearing one task (with what follows it) rebuilds that model and runs its tests, alone.
    # (Airflow 3.3 matches -t as a substring of the task id, whatever its help says about regexes)
    al.airflow_cli(airflow.env, "tasks", "clear", DAG_ID, "-t", "dbt.posts_build", "-d", "-y")
    cleared = airflow.wait_rerun(run_id)
    assert airflow.run_state(run_id) == "success", cleared
    assert cleared["dbt.posts_build"] == ("success", 2)
    assert cleared["record_run"] == ("success", 2)
    assert cleared["dbt.dbt_producer_watcher"] == ("success", 1)  # no second whole build
    assert cleared["dbt.stg_pinterest__pins_build"] == ("success", 1)
    rerun_log = airflow.task_log(run_id, "dbt.posts_build")
    assert "Retry attempt #1" in rerun_log and "dbt run completed successfully on retry" in rerun_log
    assert support.gold_snapshot(settings.warehouse) == gold

    # A broken bronze row: silver's uniqueness test fails; dbt skips what is built from the model.
    corrupt_bronze(settings)
    started = time.monotonic()
    al.airflow_cli(airflow.env, "dags", "trigger", DAG_ID, "--run-id", "manual_broken")
    run_id, states = airflow.wait_run({run_id})
    second = time.monotonic() - started
    assert run_id == "manual_broken"
    assert airflow.run_state(run_id) == "failed"
    # the model's task (built, a test failed), and the build itself (dbt exits non-zero); nothing else
    failed_tasks = {t for t, s in states.items() if s == "failed"}
    assert failed_tasks == {"dbt.stg_pinterest__pins_build", "dbt.dbt_producer_watcher"}
    assert states["dbt.stg_pinterest__geos_build"] == "success"
    assert states["dbt.posts_build"] in ("upstream_failed", "skipped")
    assert states["record_run"] == "upstream_failed"
    # the failed task's log says why, in the UI's log of that task
    assert "was built, but its data tests failed" in airflow.task_log(run_id, "dbt.stg_pinterest__pins_build")
    assert support.gold_snapshot(settings.warehouse) == gold

    # Retrying the whole run (docs/airflow.md): fix the data, rebuild the silver model that kept the
    # bad row, then trigger a new run: it succeeds and gold is the reference again.
    DeltaTable(f"{settings.lake}/bronze/pin").delete(f"\"index\" = '{10 * DB_ROWS}'")
    rebuilt = subprocess.run(
        [str(BIN / "pinpipe"), "dbt", "build", "--full-refresh", "--select", "stg_pinterest__pins"],
        env=airflow.env,
        capture_output=True,
        text=True,
    )
    assert rebuilt.returncode == 0, rebuilt.stdout[-3000:] + rebuilt.stderr[-3000:]
    al.airflow_cli(airflow.env, "dags", "trigger", DAG_ID, "--run-id", "manual_fixed")
    run_id, states = airflow.wait_run({scheduled_run, "manual_broken"})
    assert run_id == "manual_fixed" and airflow.run_state(run_id) == "success", states
    assert {t for t, s in states.items() if s != "success"} == {"ingest.land_from_kafka"}
    with duckdb.connect(settings.warehouse, read_only=True) as connection:
        for table, columns in GOLD_COLUMNS.items():
            rows = connection.execute(f"select {', '.join(columns)} from gold.{table}").fetchall()
            assert sorted(rows) == expected[table], table
    print(f"real scheduler: first run {first:.0f}s (from unpause), failing run {second:.0f}s (from trigger)")


def test_ctrl_c_stops_everything(tmp_path: Path) -> None:
    """The wrapper of ``make airflow``: SIGINT stops standalone and every process it started."""
    env = al.standalone_env(tmp_path / "home", tmp_path / "no_dags")
    (tmp_path / "no_dags").mkdir()
    env["AIRFLOW__CORE__PARALLELISM"] = "4"
    with (tmp_path / "wrapper.log").open("wb") as log:
        wrapper = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "scripts" / "airflow_local.py"), "--grace", "10"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    watcher = al.AirflowProcess.__new__(al.AirflowProcess)
    watcher.pid, watcher._known, watcher.process = wrapper.pid, {}, wrapper
    try:
        deadline = time.monotonic() + API_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(al.api_url(env), timeout=2):
                    break
            except OSError:
                assert wrapper.poll() is None, (tmp_path / "wrapper.log").read_text()[-3000:]
                watcher.descendants()
                time.sleep(0.5)
        started = time.monotonic()
        processes = [p for p in watcher.descendants() if p.is_running()]
        assert len(processes) >= 4  # standalone, scheduler, dag-processor, api-server, triggerer, ...
        wrapper.send_signal(signal.SIGINT)
        wrapper.wait(timeout=120)
        # every process of the standalone stops on Ctrl-C; the bound is generous (a loaded machine)
        _, alive = psutil.wait_procs(processes, timeout=max(1, 120 - (time.monotonic() - started)))
        assert [p.pid for p in alive if p.status() != "zombie"] == []
    finally:
        if wrapper.poll() is None:
            wrapper.kill()
        for proc in watcher._known.values():
            with contextlib.suppress(psutil.Error):
                proc.kill()
