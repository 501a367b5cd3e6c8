"""Benchmark of the dbt project on the duckdb target, and of the main job.

Each figure is printed with a baseline measured in the same run on the same data, so the ratio means
something on a noisy machine:

* ``dbt build`` (models, data tests, unit tests) on N posts (distinct indexes with pin, geo and user;
  a few of them re-sent) vs the same models' compiled SQL run directly in a fresh DuckDB
  (``create or replace table ... as <compiled select>`` in dependency order, then the data tests'
  compiled queries), the bronze tables either copied in once (deltalake -> Arrow -> DuckDB tables) or
  read in place (their Arrow datasets behind views, as the project's sources do); the ratio is dbt's
  overhead. dbt's fixed start-up is shown too (``dbt build`` on an empty selection, ``dbt debug``),
  and where dbt's time goes (run_results.json: models, data tests, unit tests, hook, the rest);
* incremental routine ``dbt build`` runs (models and data tests, as ``pinpipe run`` and the DAG run
  it; ``ROUTINE_BUILD``) vs the same command's full build, each after landing and loading 1% new posts, as
  daily runs: the history is loaded two days ago; on day 1 it is still within the staging models'
  look-back of silver's latest row (all of bronze is read), on day 2 only the last two days' files are;
* the main job (``pinpipe --data-dir <tmp> run``) at its default size, first and second run.

Targets: a full build at 1M posts under 60 s; an incremental run under 20% of the full build.

dbt writes its target/ and logs/ under the benchmark's temporary folder, never into dbt_project/.
``--project-dir`` measures another copy of the dbt project (e.g. a previous version) on the same
kind of data; the main job always runs the repository's own.

Run: ``.venv/bin/python bench/dbt_build.py [--posts 100000 1000000] [--resend 0.05] [--increment 0.01]
[--project-dir DIR] [--skip-main-job] [--skip-direct] [--keep]`` (``--keep`` leaves the work folder with
its lakes, warehouses and each dbt call's ``run_results-N.json`` for a closer look).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
from deltalake import DeltaTable

from emulator.generate import generate_source_db
from emulator.posting import PostingPlan, post_events
from emulator.sinks import open_sink
from emulator.source import EventSource
from ingestion.bronze.loader import BronzeLoader
from ingestion.settings import PROJECT_ROOT, Settings
from pinpipe.warehouse.dbt_runner import DBT_PROJECT, ROUTINE_BUILD, dbt_environment
from pinpipe.warehouse.reader import BRONZE_TABLES

BIN = Path(sys.executable).parent
NODE_KINDS = ("model.", "test.", "unit_test.", "operation.")
RUN_NUMBERS = itertools.count(1)


@dataclass
class DbtRun:
    """One timed dbt invocation and what its run_results.json says."""

    seconds: float
    results: list[dict[str, Any]]

    def node_seconds(self, kind: str) -> float:
        """Summed execution time of the nodes whose unique_id starts with ``kind``."""
        return sum(r["execution_time"] for r in self.results if r["unique_id"].startswith(kind))

    def breakdown(self) -> str:
        """Where the wall time went: each kind of node, then the rest (start-up, parse, between nodes)."""
        counts = Counter(r["unique_id"].split(".")[0] for r in self.results)
        models, tests, unit_tests, hooks = (self.node_seconds(kind) for kind in NODE_KINDS)
        rest = self.seconds - models - tests - unit_tests - hooks
        ranked = sorted(self.results, key=lambda r: r["execution_time"], reverse=True)[:6]
        slowest = ", ".join(f"{node_name(r['unique_id'])} {r['execution_time']:.1f}s" for r in ranked)
        return (
            f"{counts['model']} models {models:.1f}s, {counts['test']} data tests {tests:.1f}s, "
            f"{counts['unit_test']} unit tests {unit_tests:.1f}s, on-run-start hook {hooks:.1f}s, "
            f"rest (start-up, parse, between nodes) {rest:.1f}s; slowest: {slowest}"
        )


def node_name(unique_id: str) -> str:
    """A short name: the model, or the test's name without the hash (``test.pinpipe.<name>.<hash>``)."""
    kind, _, name = unique_id.split(".", 2)
    if kind == "test" and "." in name:
        name = name.rsplit(".", 1)[0]
    return name[:48]


@dataclass(frozen=True)
class Project:
    """The dbt project under test and where one benchmark case keeps dbt's target/ and logs/."""

    project_dir: Path

    def dbt(self, settings: Settings, work: Path, *args: str, check: bool = True) -> DbtRun:
        """Run ``dbt <args>`` in its own process, as the CLI and Airflow do."""
        command = [
            str(BIN / "dbt"),
            *args,
            "--project-dir",
            str(self.project_dir),
            "--profiles-dir",
            str(PROJECT_ROOT),
            "--target-path",
            str(work / "target"),
            "--log-path",
            str(work / "logs"),
        ]
        started = time.perf_counter()
        done = subprocess.run(
            command,
            env=dbt_environment(settings),
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - started
        if check and done.returncode != 0:
            raise RuntimeError(f"dbt {' '.join(args)} failed:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}")
        results_file = work / "target" / "run_results.json"
        results: list[dict[str, Any]] = []
        if results_file.exists() and args[0] in ("build", "run", "test", "compile"):
            results = json.loads(results_file.read_text(encoding="utf-8"))["results"]
            results_file.rename(work / "target" / f"run_results-{next(RUN_NUMBERS)}.json")
        return DbtRun(seconds, results)


def fixed_clock(at: datetime) -> Callable[[], datetime]:
    """A bronze loader clock stuck at ``at`` (the loads' ``_ingested_at``)."""
    return lambda: at


def make_lake(work: Path, posts: int, resend: float, extra: int, ingested_at: datetime) -> Settings:
    """Source DB with room for ``extra`` more posts, ``posts`` indexes posted (the first ``resend``
    share twice) through the lake sink, loaded into bronze as if at ``ingested_at``."""
    settings = Settings(data_dir=work / "data")
    settings.data_dir.mkdir(parents=True)
    started = time.perf_counter()
    generate_source_db(settings.source_db_url, rows=posts + 2 * extra, seed=0)
    generated = time.perf_counter() - started
    source = EventSource(settings.source_db_url)
    try:
        # sequential order wraps after max_index: the events beyond `posts` re-send indexes 0, 1, ...
        plan = PostingPlan(events=posts + round(posts * resend), order="sequential", max_index=posts - 1)
        summary = post_events(source, open_sink("lake", settings), plan, handle_signals=False)
    finally:
        source.close()
    started = time.perf_counter()
    report = BronzeLoader(settings, clock=fixed_clock(ingested_at)).load()
    loaded = time.perf_counter() - started
    print(
        f"  lake: source DB {posts + 2 * extra:,} rows {generated:.1f}s; posted {summary.events:,} events "
        f"{summary.seconds:.1f}s; bronze {report.records_loaded:,} records {loaded:.1f}s"
    )
    return settings


def add_posts(settings: Settings, first: int, count: int, ingested_at: datetime) -> None:
    """Land ``count`` new posts (indexes ``first``..) through the lake sink and load them into bronze."""
    source = EventSource(settings.source_db_url)
    sink = open_sink("lake", settings)
    try:
        indexes = list(range(first, first + count))
        for start in range(0, count, 500):
            sink.send(source.events(start, indexes[start : start + 500]))
    finally:
        sink.close()
        source.close()
    BronzeLoader(settings, clock=fixed_clock(ingested_at)).load()


def manifest_nodes(work: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The compiled models in dependency order, and the compiled data tests, from target/manifest.json."""
    manifest = json.loads((work / "target" / "manifest.json").read_text(encoding="utf-8"))
    nodes = manifest["nodes"]
    models = {uid: n for uid, n in nodes.items() if n["resource_type"] == "model"}
    ordered: list[dict[str, Any]] = []
    seen: set[str] = set()

    def visit(uid: str) -> None:
        if uid in seen or uid not in models:
            return
        seen.add(uid)
        for parent in models[uid]["depends_on"]["nodes"]:
            visit(parent)
        ordered.append(models[uid])

    for uid in sorted(models):
        visit(uid)
    tests = [n for n in nodes.values() if n["resource_type"] == "test" and n.get("compiled_code")]
    return ordered, tests


@dataclass
class Direct:
    """The compiled SQL run straight in DuckDB: seconds per step."""

    bronze: float
    models: float
    tests: float

    @property
    def total(self) -> float:
        return self.bronze + self.models + self.tests


def run_direct(settings: Settings, compiled: Path, work: Path, *, copy_bronze: bool) -> Direct:
    """The compiled models, then the data tests, in a fresh DuckDB named like the warehouse.

    Bronze is copied in once (deltalake -> Arrow table -> DuckDB table) or read in place (each Delta
    table's Arrow dataset behind a view, as the project's sources do on DuckDB). The close (checkpoint)
    counts with the data tests.
    """
    models, tests = manifest_nodes(compiled)
    work.mkdir()
    conn = duckdb.connect(str(work / f"{models[0]['database']}.duckdb"))
    started = time.perf_counter()
    conn.execute("create schema bronze")
    for name in BRONZE_TABLES:
        delta = DeltaTable(f"{settings.lake}/bronze/{name}")
        if copy_bronze:
            conn.register("bronze_arrow", delta.to_pyarrow_table())
            conn.execute(f"create table bronze.{name} as select * from bronze_arrow")
            conn.unregister("bronze_arrow")
        else:
            conn.register(f"bronze_{name}_dataset", delta.to_pyarrow_dataset())
            conn.execute(f"create view bronze.{name} as select * from bronze_{name}_dataset")
    bronze = time.perf_counter() - started
    started = time.perf_counter()
    for schema in sorted({m["schema"] for m in models}):
        conn.execute(f"create schema if not exists {schema}")
    for model in models:
        conn.execute(f"create or replace table {model['relation_name']} as {model['compiled_code']}")
    modelled = time.perf_counter() - started
    started = time.perf_counter()
    for test in tests:
        conn.execute(f"select count(*) from ({test['compiled_code']})").fetchall()
    conn.close()
    return Direct(bronze, modelled, time.perf_counter() - started)


def bench_build(
    project: Project, work: Path, posts: int, resend: float, increment: float, *, direct: bool = True
) -> None:
    extra = max(1, round(posts * increment))
    print(f"dbt build on {posts:,} posts ({resend:.0%} re-sent; +{extra:,} new for the incremental runs):")
    history_at = datetime.now(UTC) - timedelta(days=2)
    settings = make_lake(work, posts, resend, extra, history_at)

    baseline = ""
    if direct:
        # Compile on an empty warehouse: the full (non-incremental) SQL of every model.
        compiled = work / "compile"
        compiled.mkdir()
        project.dbt(
            settings.model_copy(update={"warehouse": str(compiled / "warehouse.duckdb")}), compiled, "compile"
        )
        copied = run_direct(settings, compiled, work / "direct-copy", copy_bronze=True)
        in_place = run_direct(settings, compiled, work / "direct-in-place", copy_bronze=False)
        baseline = (
            f"; baseline: the compiled SQL straight in DuckDB, bronze read in place {in_place.total:.1f}s "
            f"(bronze {in_place.bronze:.1f}s, models {in_place.models:.1f}s, "
            f"data tests {in_place.tests:.1f}s), "
            f"bronze copied in once {copied.total:.1f}s (copy {copied.bronze:.1f}s, models "
            f"{copied.models:.1f}s, data tests {copied.tests:.1f}s); ratio dbt/in place "
            f"{{ratio_in_place:.2f}}, dbt/copied {{ratio_copied:.2f}}"
        )

    full = project.dbt(settings, work, *ROUTINE_BUILD)
    unit = project.dbt(settings, work, "test", "--select", "resource_type:unit_test")
    if direct:
        baseline = baseline.format(
            ratio_in_place=full.seconds / in_place.total, ratio_copied=full.seconds / copied.total
        )
    print(
        f"  full dbt build (routine: models + data tests; the {len(unit.results)} unit tests take "
        f"{unit.seconds:.1f}s more as `dbt test`): {full.seconds:.1f}s wall (target < 60 s at 1M posts)"
        f"{baseline}"
    )
    print(f"    where dbt's time goes: {full.breakdown()}")

    # Two daily runs, each after 1% new posts: on day 1 the history is within the models' look-back
    # of silver's latest row (all of bronze is read); on day 2 it is not (only the last two days' files).
    for day in (1, 2):
        add_posts(settings, posts + (day - 1) * extra, extra, history_at + timedelta(days=day))
        incremental = project.dbt(settings, work, *ROUTINE_BUILD)
        print(
            f"  incremental dbt build on day {day}, {extra:,} new posts: {incremental.seconds:.1f}s wall; "
            f"baseline: the full build {full.seconds:.1f}s; ratio {incremental.seconds / full.seconds:.0%} "
            f"(target < 20%)"
        )
        print(f"    where dbt's time goes: {incremental.breakdown()}")


def bench_startup(project: Project, work: Path) -> None:
    """dbt's fixed cost: an empty selection (parse, connect, no node) and dbt debug, on an empty lake."""
    settings = Settings(data_dir=work / "data")
    settings.data_dir.mkdir(parents=True)
    empty = min(project.dbt(settings, work, "build", "--select", "tag:no_such_tag").seconds for _ in range(2))
    debug = project.dbt(settings, work, "debug", check=False).seconds
    version = subprocess.run([str(BIN / "dbt"), "--version"], capture_output=True, text=True, check=False)
    print(
        f"dbt fixed start-up: `dbt build` on an empty selection {empty:.1f}s, `dbt debug` {debug:.1f}s "
        f"({version.stdout.splitlines()[1].strip(' -')}); project {project.project_dir}"
    )


def bench_main_job(work: Path) -> None:
    """``pinpipe run`` at its default size: a first run on an empty data dir, then a second one."""
    env = {
        **os.environ,
        "DBT_TARGET_PATH": str(work / "target"),
        "DBT_LOG_PATH": str(work / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    times = []
    for _ in range(2):
        started = time.perf_counter()
        subprocess.run(
            [str(BIN / "pinpipe"), "--data-dir", str(work / "data"), "run", "--quiet-dbt"],
            env=env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            check=True,
        )
        times.append(time.perf_counter() - started)
    print(
        f"main job `pinpipe run` (default: 11,153 rows, 5,000 events): first run {times[0]:.1f}s, "
        f"second run (nothing new) {times[1]:.1f}s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--posts", type=int, nargs="+", default=[100_000, 1_000_000], help="post counts")
    parser.add_argument("--resend", type=float, default=0.05, help="share of posts delivered twice")
    parser.add_argument("--increment", type=float, default=0.01, help="new posts for the incremental runs")
    parser.add_argument("--project-dir", type=Path, default=DBT_PROJECT, help="the dbt project to measure")
    parser.add_argument("--skip-main-job", action="store_true", help="leave out the main job")
    parser.add_argument("--skip-direct", action="store_true", help="leave out the straight-SQL baselines")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (lakes, run_results)")
    args = parser.parse_args()
    project = Project(args.project_dir.resolve())
    work = Path(tempfile.mkdtemp(prefix="pinpipe-bench-dbt-"))
    try:
        bench_startup(project, work / "startup")
        for posts in args.posts:
            bench_build(
                project,
                work / f"build-{posts}",
                posts,
                args.resend,
                args.increment,
                direct=not args.skip_direct,
            )
        if not args.skip_main_job:
            bench_main_job(work / "main-job")
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
