"""Benchmark of the daily Airflow DAG: parse time by Cosmos load mode, and where ``dag.test()`` spends time.

* DAG parse time: the median of N parses of ``dags/pinpipe_daily.py``, each in a fresh interpreter
  (Airflow imported first, as in the DAG processor; the figure is the execution of the DAG file,
  Cosmos included), for ``LoadMode.DBT_MANIFEST`` (the DAG's default), ``LoadMode.DBT_LS`` with
  Cosmos' dbt ls cache off (every parse runs ``dbt ls``) and ``LoadMode.DBT_LS`` with the cache on
  (the first parse fills an Airflow Variable, the others read it).
* ``dag.test()`` in a fresh interpreter on the lake-only variant (source DB → lake sink; no broker):
  total wall time, split into Airflow start-up (import, DAG parse), the sum of the dbt task
  durations, the other tasks, and the rest (dag.test's own scheduling loop and bookkeeping).

* ``--scheduler``: one DAG run through the REAL scheduler (``airflow standalone`` in a tmp
  AIRFLOW_HOME, LocalExecutor), from ``airflow dags trigger`` to the run's success, against
  ``pinpipe dbt build`` of the same project on the same data (bronze loaded once, the warehouse
  rebuilt from empty by each), with the ratio; ``--execution local`` (or ``both``) measures the old
  per-model LOCAL mode too, ``--execution none`` neither; each ``--variant 'LABEL:VAR=VALUE;...'`` runs
  the watcher DAG once more with those environment variables (e.g. Airflow settings). Per run it prints
  the split (run start → dbt build task, the build task, then to the run's end) and the CPU seconds of
  Airflow's processes by component (sampled each second). Target: DAG run <= 1.5 x dbt build + 30 s.

Run: ``.venv/bin/python bench/dag.py [--parses 10] [--rows 500] [--events 400]
[--invocation dbt_runner|subprocess|both]`` or ``.venv/bin/python bench/dag.py --scheduler
[--posts 100000] [--execution watcher|local|both]``. Everything lives in a temporary folder (AIRFLOW_HOME with
an SQLite metadata DB, lake, warehouse); the manifest is rebuilt with ``dbt parse`` first.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DAGS_DIR = REPO_ROOT / "dags"
DAG_FILE = DAGS_DIR / "pinpipe_daily.py"
BIN = Path(sys.executable).parent
DAG_ID = "pinpipe_daily"

PARSE_MODES: dict[str, dict[str, str]] = {
    "DBT_MANIFEST": {"PINPIPE_DAG_LOAD_MODE": "dbt_manifest"},
    "DBT_LS (no cache)": {"PINPIPE_DAG_LOAD_MODE": "dbt_ls", "AIRFLOW__COSMOS__ENABLE_CACHE_DBT_LS": "False"},
    "DBT_LS (cached)": {"PINPIPE_DAG_LOAD_MODE": "dbt_ls", "AIRFLOW__COSMOS__ENABLE_CACHE_DBT_LS": "True"},
}


# --------------------------------------------------------------------------------------------------
# Children: run in a fresh interpreter, print one JSON line


def child_parse() -> dict[str, float]:
    """Import Airflow, then time the execution of the DAG file (what a DAG processor parse costs)."""
    started = time.perf_counter()
    import airflow.sdk  # noqa: F401  (the DAG processor has Airflow imported before it parses)

    imported = time.perf_counter()
    import runpy

    sys.path.insert(0, str(DAGS_DIR))
    namespace = runpy.run_path(str(DAG_FILE))
    parsed = time.perf_counter()
    assert namespace["dag"].dag_id == DAG_ID
    return {
        "airflow_import": imported - started,
        "parse": parsed - imported,
        "tasks": len(namespace["dag"].tasks),
    }


def child_run(source: str) -> dict[str, Any]:
    """``dag.test()`` once, with the split of its wall time."""
    started = time.perf_counter()
    from airflow.dag_processing.dagbag import BundleDagBag
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    imported = time.perf_counter()
    bag = BundleDagBag(dag_folder=str(DAGS_DIR), bundle_path=DAGS_DIR, bundle_name="dags-folder")
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag(DAG_ID)
    parsed = time.perf_counter()
    run = dag.test(run_conf={"source": source})
    finished = time.perf_counter()
    with create_session() as session:
        tis = session.query(TaskInstance).filter(TaskInstance.run_id == run.run_id).all()
        durations = {ti.task_id: float(ti.duration or 0.0) for ti in tis}
        states = sorted({str(ti.state) for ti in tis})
        started_tis = [(ti.start_date, ti.task_id) for ti in tis if ti.start_date is not None]
        first_task = min(started_tis)[1]
    dbt = {t: d for t, d in durations.items() if t.startswith("dbt.")}
    return {
        "state": str(run.state),
        "task_states": states,
        "airflow_import": imported - started,
        "dag_parse": parsed - imported,
        "dag_test": finished - parsed,
        "total": finished - started,
        "dbt_tasks": len(dbt),
        "dbt_seconds": sum(dbt.values()),
        "dbt_max_task": max(dbt.values(), default=0.0),
        "dbt_median_task": statistics.median(dbt.values()) if dbt else 0.0,
        "other_task_seconds": sum(d for t, d in durations.items() if t not in dbt),
        "first_task": first_task,
        "first_task_seconds": durations[first_task],
    }


# --------------------------------------------------------------------------------------------------
# Parent


def run_child(args: list[str], env: dict[str, str], timeout: float = 1800) -> dict[str, Any]:
    """Run this file in a fresh interpreter and return the JSON it printed last."""
    result = subprocess.run(
        [sys.executable, __file__, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    line = [text for text in result.stdout.splitlines() if text.startswith("{")][-1]
    data: dict[str, Any] = json.loads(line)
    return data


def base_env(work: Path) -> dict[str, str]:
    """Airflow and pipeline environment inside ``work``."""
    data = work / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PINPIPE_", "AIRFLOW"))}
    env.update(
        {
            "AIRFLOW_HOME": str(work / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "AIRFLOW__COSMOS__CACHE_DIR": str(work / "cosmos_cache"),
            "PINPIPE_DATA_DIR": str(data),
            "PINPIPE_UID": "benchdag",
            "PINPIPE_DBT_TARGET": "duckdb",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
    )
    return env


def prepare(work: Path, env: dict[str, str]) -> None:
    """Manifest (the ``make manifest`` command) and an Airflow metadata DB."""
    manifest_env = {k: v for k, v in env.items() if not k.startswith("PINPIPE_")}
    for command, cwd, command_env in (
        (
            [str(BIN / "dbt"), "parse", "--project-dir", "dbt_project", "--profiles-dir", ".", "--quiet"],
            REPO_ROOT,
            manifest_env,
        ),
        ([str(BIN / "airflow"), "db", "migrate"], work, env),
    ):
        subprocess.run(command, cwd=cwd, env=command_env, capture_output=True, check=True)


def post_lake_events(env: dict[str, str], rows: int, events: int) -> None:
    """Source DB and ``events`` events through the lake sink (the DAG's lake-only variant reads them)."""
    for args in (
        ["db", "build", "--rows", str(rows)],
        ["emulate", "--events", str(events), "--sink", "lake"],
    ):
        subprocess.run([str(BIN / "pinpipe"), *args], env=env, capture_output=True, check=True)


def bench_parse(env: dict[str, str], parses: int) -> None:
    """Median parse time of the DAG file per Cosmos load mode."""
    print(f"DAG parse time, median of {parses} parses, each in a fresh interpreter:")
    for label, extra in PARSE_MODES.items():
        figures = [run_child(["_parse"], {**env, **extra}) for _ in range(parses)]
        parse = statistics.median(f["parse"] for f in figures)
        spread = (min(f["parse"] for f in figures), max(f["parse"] for f in figures))
        airflow = statistics.median(f["airflow_import"] for f in figures)
        print(
            f"  {label:18s} {parse:6.2f}s  (min {spread[0]:.2f}, max {spread[1]:.2f}; "
            f"{figures[0]['tasks']} tasks; Airflow import before it {airflow:.2f}s)"
        )


def bench_run(work: Path, env: dict[str, str], invocation: str) -> None:
    """Run the whole DAG from a fresh bronze, warehouse and Cosmos cache (same raw landing each time)."""
    (work / "data" / "warehouse.duckdb").unlink(missing_ok=True)
    shutil.rmtree(work / "data" / "lake" / "bronze", ignore_errors=True)
    shutil.rmtree(work / "cosmos_cache", ignore_errors=True)
    figures = run_child(["_run", "lake"], {**env, "PINPIPE_DBT_INVOCATION": invocation})
    total, test = figures["total"], figures["dag_test"]
    warm_up = figures["first_task_seconds"]  # the in-process task runner starts with the first task
    startup = figures["airflow_import"] + figures["dag_parse"] + warm_up
    others = figures["other_task_seconds"] - warm_up
    rest = test - figures["dbt_seconds"] - figures["other_task_seconds"]
    dbt, states = figures["dbt_seconds"], ", ".join(figures["task_states"])
    print(f"dag.test() with dbt invoked as {invocation}: {figures['state']} (tasks: {states})")
    print(f"  total                        {total:7.1f}s")
    print(
        f"  Airflow start-up             {startup:7.1f}s  ({100 * startup / total:4.1f}%: import "
        f"{figures['airflow_import']:.1f}s, DAG parse {figures['dag_parse']:.1f}s, first task "
        f"{figures['first_task']} {warm_up:.1f}s)"
    )
    print(
        f"  dbt tasks (sum of durations) {dbt:7.1f}s  ({100 * dbt / total:4.1f}%: "
        f"{figures['dbt_tasks']} tasks, median {figures['dbt_median_task']:.2f}s, "
        f"longest {figures['dbt_max_task']:.1f}s)"
    )
    print(f"  other tasks                  {others:7.1f}s")
    print(f"  dag.test() loop, bookkeeping {rest:7.1f}s  ({100 * rest / total:4.1f}%)")


def component(proc: Any) -> str:
    """The Airflow component a process belongs to, from its command line (process title)."""
    try:
        title = " ".join(proc.cmdline())
    except Exception:  # gone, or no access
        return "gone"
    for name in ("scheduler", "api-server", "api_server", "dag-processor", "dag_processor", "triggerer"):
        if name in title:
            return name.replace("_", "-")
    if "airflow worker" in title or "LocalExecutor" in title:
        return "workers and task processes"
    return "other"


def run_timeline(db_path: Path) -> dict[str, float]:
    """Phases of the (only) DAG run, seconds from the run's start: ingestion done, build start/end."""
    import sqlite3
    from datetime import datetime

    def at(value: str | None) -> float:
        return (datetime.fromisoformat(value) - start).total_seconds() if value else float("nan")

    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as db:
        run_start, run_end = db.execute("select start_date, end_date from dag_run").fetchone()
        start = datetime.fromisoformat(run_start)
        rows = db.execute("select task_id, start_date, end_date from task_instance").fetchall()
    tasks = {task_id: (at(started), at(ended)) for task_id, started, ended in rows}
    producer = tasks.get("dbt.dbt_producer_watcher")
    timeline = {"run": at(run_end)}
    if producer:
        timeline.update(build_start=producer[0], build_end=producer[1])
    else:  # local execution: the dbt tasks
        dbt = [span for task_id, span in tasks.items() if task_id.startswith("dbt.")]
        timeline.update(build_start=min(s for s, _ in dbt), build_end=max(e for _, e in dbt))
    return timeline


def bench_scheduler(
    work: Path, env: dict[str, str], posts: int, variants: list[tuple[str, dict[str, str]]]
) -> None:
    """A DAG run through the real scheduler against ``pinpipe dbt build`` on the same bronze."""
    import sqlite3

    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    import airflow_local as al

    data = work / "data"
    env = {
        **env,
        "PINPIPE_KAFKA_BOOTSTRAP": f"127.0.0.1:{al.free_port()}",
    }  # no broker: source=auto reads the lake
    for args in (
        ["db", "build", "--rows", str(posts)],
        ["emulate", "--events", str(posts), "--order", "sequential", "--sink", "lake"],
        ["bronze", "load"],
    ):
        subprocess.run([str(BIN / "pinpipe"), *args], env=env, capture_output=True, check=True)
    started = time.perf_counter()
    subprocess.run([str(BIN / "pinpipe"), "dbt", "build"], env=env, capture_output=True, check=True)
    dbt_build = time.perf_counter() - started
    print(f"pinpipe dbt build, {posts:,} posts, empty warehouse: {dbt_build:.1f}s")
    for label, variant_env in variants:
        for path in data.glob("warehouse.duckdb*"):
            path.unlink()
        home = work / f"airflow-{label}"
        # each variant starts cold, as the first run after `make airflow` does (Cosmos caches dbt's
        # partial parse of the first run for the next ones)
        cosmos_cache = {"AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos_cache")}
        run_env = al.standalone_env(home, DAGS_DIR, {**env, **cosmos_cache, **variant_env})
        with (work / f"standalone-{label}.log").open("wb") as log:
            airflow = al.AirflowProcess(["standalone"], run_env, log)
        cpu: dict[int, tuple[str, float]] = {}
        try:
            airflow.wait_http(al.api_url(run_env), 180)
            # a manual run of the paused DAG waits for the unpause; the scheduled run of the latest day
            # comes with the unpause: the benchmark measures that one, from the unpause
            started = time.perf_counter()
            al.airflow_cli(run_env, "dags", "unpause", DAG_ID)
            state = None
            while state not in ("success", "failed"):
                time.sleep(1)
                for proc in airflow.descendants():
                    try:
                        times = proc.cpu_times()
                    except Exception:  # ended between the listing and the read
                        continue
                    name = cpu[proc.pid][0] if proc.pid in cpu else component(proc)
                    cpu[proc.pid] = (name, times.user + times.system)
                try:
                    with sqlite3.connect(f"file:{home}/airflow.db?mode=ro", uri=True, timeout=30) as db:
                        row = db.execute("select state from dag_run where dag_id = ?", (DAG_ID,)).fetchone()
                        tasks = db.execute("select count(*) from task_instance where dag_id = ?", (DAG_ID,))
                        task_count = tasks.fetchone()[0]
                except sqlite3.OperationalError:
                    continue
                state = row[0] if row else None
                if time.perf_counter() - started > 3600:
                    raise TimeoutError("the DAG run did not end within an hour")
            seconds = time.perf_counter() - started
        finally:
            airflow.stop(grace=10)
        ratio = seconds / dbt_build
        target = 1.5 * dbt_build + 30
        print(
            f"DAG run ({label}, {task_count} tasks), real scheduler, unpause to {state}: "
            f"{seconds:.1f}s = {ratio:.2f} x dbt build (target <= {target:.0f}s: "
            f"{'met' if seconds <= target else 'missed'})"
        )
        phases = run_timeline(home / "airflow.db")
        print(
            f"  run start → dbt build task start {phases['build_start']:.1f}s, build task "
            f"{phases['build_end'] - phases['build_start']:.1f}s, then to run end "
            f"{phases['run'] - phases['build_end']:.1f}s"
        )
        by_component: dict[str, float] = {}
        for name, seconds_cpu in cpu.values():
            by_component[name] = by_component.get(name, 0.0) + seconds_cpu
        print(
            "  CPU seconds of Airflow's processes (sampled each second): "
            + ", ".join(
                f"{name} {value:.0f}" for name, value in sorted(by_component.items(), key=lambda x: -x[1])
            )
        )


def main(argv: list[str] | None = None) -> int:
    """Set up a work folder, then the parse and the run benchmarks."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--parses", type=int, default=10)
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--invocation", choices=["dbt_runner", "subprocess", "both"], default="dbt_runner")
    parser.add_argument("--skip-parse", action="store_true")
    parser.add_argument("--skip-run", action="store_true")
    parser.add_argument("--keep", type=Path, help="work folder to use and keep")
    parser.add_argument("--scheduler", action="store_true", help="a DAG run through the real scheduler")
    parser.add_argument("--posts", type=int, default=100_000, help="--scheduler: posts in the lake")
    parser.add_argument("--execution", choices=["watcher", "local", "both", "none"], default="watcher")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL:VAR=VALUE;...",
        help="--scheduler: also run the watcher DAG with these environment variables (repeatable)",
    )
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="pinpipe-bench-dag-"))
    work.mkdir(parents=True, exist_ok=True)
    env = base_env(work)
    try:
        started = time.perf_counter()
        prepare(work, env)
        print(f"set-up (dbt parse → manifest, airflow db migrate): {time.perf_counter() - started:.1f}s")
        if args.scheduler:
            executions = {"both": ["watcher", "local"], "none": []}.get(args.execution, [args.execution])
            variants = [(f"{e} execution", {"PINPIPE_DAG_EXECUTION": e}) for e in executions]
            for spec in args.variant:
                label, _, assignments = spec.partition(":")
                extra = dict(item.split("=", 1) for item in assignments.split(";") if item)
                variants.append((label, {"PINPIPE_DAG_EXECUTION": "watcher", **extra}))
            bench_scheduler(work, env, args.posts, variants)
            return 0
        if not args.skip_parse:
            bench_parse(env, args.parses)
        if not args.skip_run:
            post_lake_events(env, args.rows, args.events)
            invocations = ["dbt_runner", "subprocess"] if args.invocation == "both" else [args.invocation]
            for invocation in invocations:
                bench_run(work, env, invocation)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_parse":
        print(json.dumps(child_parse()))
    elif len(sys.argv) > 2 and sys.argv[1] == "_run":
        print(json.dumps(child_run(sys.argv[2])))
    else:
        # SIGTERM unwinds like Ctrl-C, so the finally blocks stop Airflow and remove the work folder
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        sys.exit(main())
