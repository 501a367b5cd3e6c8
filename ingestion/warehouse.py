"""The warehouse side of the CLI: run dbt on the project with the settings' environment, and read gold.

dbt always runs as ``dbt <command> --project-dir dbt_project --profiles-dir <repo root>`` with
PINPIPE_LAKE, PINPIPE_WAREHOUSE and PINPIPE_DBT_TARGET taken from the settings, in its own process (so
its DuckDB connection is closed when it exits and analysts can open the file afterwards).
"""

from __future__ import annotations

import ctypes
import functools
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from ingestion.bronze.loader import BronzeLoader
from ingestion.delta_scan import bounded_dataset
from ingestion.errors import PinpipeError
from ingestion.lake import Lake, s3_storage_options
from ingestion.local_services.processes import LocalServiceError
from ingestion.local_services.spark import spark_environment
from ingestion.locks import POLL_SECONDS, FileLock, LockHeld, waits_by_default
from ingestion.settings import PROJECT_ROOT, Settings

DBT_PROJECT = PROJECT_ROOT / "dbt_project"

log = logging.getLogger(__name__)

GOLD_QUESTIONS: list[tuple[str, str, str]] = [
    (
        "most_popular_category_by_country",
        "Q1 most popular category per country",
        "category_count desc, country",
    ),
    ("most_popular_category_by_year", "Q2 most popular category per post year", "post_year"),
    (
        "top_poster_by_country",
        "Q3 poster with the most followers per country",
        "follower_count desc, country",
    ),
    ("country_with_top_poster", "Q3 country whose top poster has the most followers", "country"),
    ("most_popular_category_by_age_group", "Q4 most popular category per age group", "age_group"),
    ("median_follower_count_by_age_group", "Q5 median follower count per age group", "age_group"),
    ("users_joined_by_year", "Q6 people who joined per year", "join_year"),
    ("median_follower_count_by_join_year", "Q7 median follower count per join year", "join_year"),
    (
        "median_follower_count_by_age_group_and_join_year",
        "Q8 median follower count per age group and join year",
        "age_group, join_year",
    ),
]
"""Gold answer tables (schema ``gold``), what they answer, and the order the report shows them in."""

ROUTINE_BUILD = ["build", "--exclude-resource-type", "unit_test"]
"""The dbt command of a routine (e.g. daily) run: models and data tests. The unit tests check the SQL,
not the data: they run in the test suite (``make test``) and with a plain ``pinpipe dbt build``, and the
Airflow DAG leaves them out too."""


def dbt_executable() -> str:
    """The dbt of this environment (beside the running Python), else the one on PATH."""
    beside = Path(sys.executable).with_name("dbt")
    if beside.exists():
        return str(beside)
    found = shutil.which("dbt")
    if not found:
        raise PinpipeError("dbt is not installed in this environment: run `make run` or `make test`")
    return found


def dbt_environment(settings: Settings) -> dict[str, str]:
    """The process environment for dbt: this one plus the settings' PINPIPE_* values."""
    env = {**os.environ, **settings.dbt_env(), "PINPIPE_DBT_TARGET": settings.dbt_target}
    if settings.dbt_target == "spark":
        try:
            env.update(spark_environment(settings.data_dir))
        except LocalServiceError as exc:
            raise PinpipeError(str(exc)) from None
    if settings.lake.startswith("s3://"):
        # deltalake in the dbt process (the delta plugin) reads its S3 options from the environment:
        # the endpoint of an S3-compatible store, and AWS_ALLOW_HTTP for a plain-http one (moto).
        env.update(s3_storage_options())
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    if not sys.stdout.isatty():
        # dbt colours its log lines whatever the output; escape codes in a file or a CI log are noise
        env.setdefault("DBT_USE_COLORS", "false")
    return env


def run_dbt(settings: Settings, args: list[str], *, quiet: bool = False) -> None:
    """Run one dbt command on the project; raises PinpipeError naming the command, and the nodes
    that failed, if it fails (LockHeld, exit 75, while another process has the warehouse open).

    The bronze tables are created (empty) first where missing: the sources read all of them. One dbt
    per warehouse: holds the lock file ``<warehouse>.lock`` beside the DuckDB file while dbt runs.
    dbt inherits the locked descriptor, so the lock is held until the last of pinpipe and dbt exits,
    and on Linux dbt is killed when pinpipe dies (``kill -9`` included): no orphaned dbt writes on.
    """
    Path(settings.warehouse).parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{settings.warehouse}.lock", f"the warehouse {settings.warehouse}") as lock:
        _run_dbt(settings, args, quiet=quiet, lock=lock)


def _run_dbt(settings: Settings, args: list[str], *, quiet: bool, lock: FileLock | None = None) -> None:
    BronzeLoader(settings).ensure_tables()
    command = [
        dbt_executable(),
        *args,
        "--project-dir",
        str(DBT_PROJECT),
        "--profiles-dir",
        str(PROJECT_ROOT),
    ]
    if quiet:
        command.insert(1, "--quiet")
    on_duckdb = settings.dbt_target == "duckdb"
    records = on_duckdb and bool(args) and args[0] in BUILDING_COMMANDS
    env = dbt_environment(settings)
    results = run_results_path(args, env)
    while True:
        if on_duckdb:
            ensure_warehouse_writable(settings.warehouse)  # LockHeld, or waits with --wait
        started = datetime.now(UTC)
        before = bronze_versions(settings) if records else {}
        completed = subprocess.run(
            command,
            env=env,
            cwd=PROJECT_ROOT,
            check=False,
            stderr=sys.stderr,
            pass_fds=() if lock is None else (lock.fileno(),),
            preexec_fn=_die_with_parent(),  # dbt dies with pinpipe (Linux): see there
        )
        failed = failed_nodes(results, started) if completed.returncode != 0 else []
        if completed.returncode == 0 or failed or not on_duckdb:
            break
        # dbt stopped before running a node: if the file is held now, another process opened it after
        # the check above and dbt could not open it (nothing was built): refuse or wait, as above
        if _warehouse_holder(Path(settings.warehouse).expanduser()) is None:
            break
    failure = None if completed.returncode == 0 else dbt_failure(args, completed.returncode, failed)
    if records:
        try:
            record_build(settings, args, started, before, bronze_versions(settings), completed.returncode)
        except Exception as exc:
            if failure is None:
                raise
            reason = exc.reason if isinstance(exc, BuildRecordNotWritten) else _first_line(exc)
            raise PinpipeError(f"{failure}; its build record could not be written either: {reason}") from None
    if failure is not None:
        raise PinpipeError(failure)


PR_SET_PDEATHSIG = 1
"""prctl(2) option: the signal the calling process gets when its parent (thread) dies."""


@functools.cache
def _prctl() -> Any:
    """libc's prctl, resolved once in the parent (nothing is looked up between fork and exec)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGKILL when this process dies (Linux), else None.

    It runs between fork and exec, so it only calls prctl (looked up beforehand) and getppid. The
    signal follows the death of the thread that forked: the one that waits for the child here. If
    this process died before prctl took effect, the child has been re-parented: it kills itself.
    Elsewhere the child outlives a killed parent, but holds the warehouse lock until it exits.
    """
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()
    sigkill = int(signal.SIGKILL)

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, sigkill, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), sigkill)

    return preexec


def run_results_path(args: list[str], env: dict[str, str]) -> Path:
    """Where dbt writes run_results.json: ``--target-path``, else DBT_TARGET_PATH, else ``target``
    (the project's target-path), under the project folder unless absolute."""
    target = env.get("DBT_TARGET_PATH") or "target"
    for position, arg in enumerate(args):
        if arg == "--target-path" and position + 1 < len(args):
            target = args[position + 1]
        elif arg.startswith("--target-path="):
            target = arg.partition("=")[2]
    return DBT_PROJECT / target / "run_results.json"


FAILED_STATUSES = ("error", "fail", "runtime error")
"""run_results.json statuses of a node that failed (a model's error, a test's fail or error)."""

_ENGINE_ERROR = re.compile(r"[A-Z][A-Za-z ]* Error: \S")
"""The engine's own words, e.g. ``IO Error: No space left on device`` or ``Binder Error: ...``."""
_DBT_WRAPPER = re.compile(r"(Runtime|Database|Compilation) Error( in .*)?|An error occurred during .*")


def failed_nodes(results: Path, since: datetime) -> list[tuple[str, str]]:
    """(node, reason) of every node that failed, from the run_results.json dbt wrote after ``since``;
    [] when there is none (dbt stopped before its first node, or wrote no results).

    Another dbt writing into the same target folder at the same moment could swap its file in: set
    DBT_TARGET_PATH per warehouse to run dbt builds side by side.
    """
    try:
        data = json.loads(results.read_text(encoding="utf-8"))
        generated = datetime.fromisoformat(str(data["metadata"]["generated_at"]).replace("Z", "+00:00"))
        if generated < since:  # an earlier run's file
            return []
        return [
            (node_name(result), reason_line(result.get("message")))
            for result in data["results"]
            if result.get("status") in FAILED_STATUSES
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []


def node_name(result: dict[str, Any]) -> str:
    """``gold.posts`` for a relation (its database left out), else the node's kind and name, e.g.
    ``test not_null_posts_index`` or ``unit_test posts.test_name``."""
    relation = result.get("relation_name")
    if relation:
        return ".".join(part.strip('"`') for part in str(relation).split(".")[-2:])
    kind, _, rest = str(result.get("unique_id", "?")).partition(".")
    name = rest.partition(".")[2] or rest
    if kind == "test" and re.search(r"\.[0-9a-f]{10}$", name):
        name = name.rsplit(".", 1)[0]  # a generic test's hash
    return f"{kind} {name}".strip()


def reason_line(message: Any) -> str:
    """The line of a node's message that says what went wrong: the engine's error if there is one,
    else the first line that is not dbt's "Runtime Error in model ..." heading."""
    lines = [line.strip() for line in str(message or "").splitlines() if line.strip()]
    for line in lines:
        if _ENGINE_ERROR.match(line):
            return line
    for line in lines:
        if not _DBT_WRAPPER.fullmatch(line):
            return line
    return lines[0] if lines else "(no message)"


def dbt_failure(args: list[str], code: int, failed: list[tuple[str, str]]) -> str:
    """One line: `dbt build` failed at gold.posts: IO Error: ... (and N more: ...)."""
    what = f"`dbt {' '.join(args)}`"
    if not failed:
        return f"{what} failed (exit {code}); see its output above"
    (node, reason), rest = failed[0], failed[1:]
    more = ""
    if rest:
        names = ", ".join(name for name, _ in rest[:3]) + (", ..." if len(rest) > 3 else "")
        more = f" (and {len(rest)} more: {names})"
    return printable(f"{what} failed at {node}: {reason}{more}; see its output above")


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


BUILDING_COMMANDS = ("build", "run")
"""dbt commands that (re)build models: each one is recorded in BUILDS_TABLE on the duckdb target."""

BUILDS_TABLE = "pinpipe_meta.warehouse_builds"
"""When dbt built the warehouse and from which bronze Delta versions: one row per build and bronze
table, written by :func:`run_dbt` (so by ``pinpipe run`` and ``pinpipe dbt build|run``) right after dbt
exits. ``version_at_start`` is the table's version read just before dbt started (dbt registers the
current version when it starts); ``version_at_end`` the one read after it ended: when they differ, a
bronze load committed while dbt ran and dbt read one of the two. A build that dbt runs by other means
(e.g. the Airflow DAG's cosmos tasks) is not recorded."""


def bronze_versions(settings: Settings) -> dict[str, int]:
    """The current Delta version of every bronze table that exists (a Delta log read each)."""
    lake = Lake(settings.lake)
    versions: dict[str, int] = {}
    for name in BRONZE_TABLES:
        try:
            table = DeltaTable(lake.uri(f"bronze/{name}"), storage_options=lake.storage_options)
        except TableNotFoundError:
            continue
        versions[name] = int(table.version())
    return versions


class BuildRecordNotWritten(PinpipeError):
    """The build record could not be written (``reason``: the database's first line)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def record_build(
    settings: Settings,
    args: list[str],
    started: datetime,
    before: dict[str, int],
    after: dict[str, int],
    exit_code: int,
) -> None:
    """Append one build to BUILDS_TABLE in the DuckDB warehouse (caller holds the warehouse lock)."""
    finished = datetime.now(UTC)
    build_id = uuid.uuid4().hex
    rows = [
        (build_id, " ".join(args), started, finished, exit_code, name, before.get(name), after.get(name))
        for name in sorted(set(before) | set(after))
    ]
    schema = BUILDS_TABLE.split(".")[0]
    try:
        with duckdb.connect(str(Path(settings.warehouse).expanduser())) as conn:
            conn.execute(f"create schema if not exists {schema}")
            conn.execute(
                f"create table if not exists {BUILDS_TABLE} (build_id varchar, dbt_command varchar, "
                "started_at timestamptz, finished_at timestamptz, dbt_exit_code integer, "
                "bronze_table varchar, version_at_start bigint, version_at_end bigint)"
            )
            conn.executemany(f"insert into {BUILDS_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    except duckdb.Error as exc:
        reason = _first_line(exc)
        raise BuildRecordNotWritten(
            f"dbt ran, but its build record could not be written to {settings.warehouse}: {reason}", reason
        ) from None


_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>\S+) \(PID (?P<pid>\d+)\)")


def _lock_holder_message(path: Path, exc: duckdb.Error) -> PinpipeError | None:
    holder = _LOCK_HOLDER.search(str(exc))
    if holder is None:
        return None
    return PinpipeError(
        f"the warehouse {path} is in use by another process ({Path(holder['program']).name}, "
        f"PID {holder['pid']}): wait until it finishes, then try again"
    )


MAX_POLL_SECONDS = 5.0
"""The longest pause between two looks at a busy warehouse (from POLL_SECONDS, doubling)."""


def ensure_warehouse_writable(
    warehouse: str | Path, *, wait: bool | None = None, notify: Callable[[str], None] | None = None
) -> None:
    """Before dbt starts, make sure no other process has the DuckDB file open (a reader too: DuckDB
    lets one process write only while no other has the file open). If one has, raise LockHeld (the
    CLI exits 75) naming it; with ``wait`` (default: ``pinpipe --wait``) say once that we wait and
    for whom, then look again with backoff, without limit, until the file is free (Ctrl-C stops)."""
    path = Path(warehouse).expanduser()
    wait = waits_by_default() if wait is None else wait
    delay = POLL_SECONDS
    told: str | None = None
    while (holder := _warehouse_holder(path)) is not None:
        message = f"the warehouse {path} is in use by another process ({holder})"
        if not wait:
            raise LockHeld(f"{message}; try again later or run with --wait")
        if holder != told:
            (notify or log.warning)(f"waiting: {message}")
            told = holder
        time.sleep(delay)
        delay = min(delay * 2, MAX_POLL_SECONDS)


def _warehouse_holder(path: Path) -> str | None:
    """Who has the DuckDB file open (``python3.11, PID 123``), or None when it can be written."""
    if not path.is_file():
        return None
    try:
        duckdb.connect(str(path)).close()
    except duckdb.IOException as exc:
        holder = _LOCK_HOLDER.search(str(exc))
        if holder is None:
            raise PinpipeError(f"cannot open the warehouse {path}: {_first_line(exc)}") from None
        return f"{Path(holder['program']).name}, PID {holder['pid']}"
    return None


def connect_read_only(warehouse: str | Path) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB warehouse read-only; a missing or locked file is one PinpipeError line."""
    path = Path(warehouse).expanduser()
    if not path.is_file():
        raise PinpipeError(f"no warehouse at {path}: run `pinpipe run` (or `make run`) first")
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.IOException as exc:
        raise _lock_holder_message(path, exc) or PinpipeError(
            f"cannot open the warehouse {path}: {str(exc).splitlines()[0]}"
        ) from None


def gold_report(settings: Settings, rows_per_question: int = 6, tables: Collection[str] | None = None) -> str:
    """A compact text view of the gold answers, for the end of the main job (``tables``: only these
    answers of GOLD_QUESTIONS)."""
    lines = [f"gold answers in {settings.warehouse} (schema gold):"]
    with connect_read_only(settings.warehouse) as conn:
        try:
            conn.execute("select 1 from gold.posts limit 0")
        except duckdb.CatalogException:
            raise PinpipeError(
                f"the warehouse {settings.warehouse} has no gold tables yet: run `pinpipe dbt build`"
            ) from None
        posts = conn.execute("select count(*) from gold.posts").fetchone()
        lines.append(f"  posts (complete pin+geo+user, one per index): {posts[0] if posts else 0:,}")
        for table, title, order_by in GOLD_QUESTIONS:
            if tables is not None and table not in tables:
                continue
            result = conn.execute(f"select * from gold.{table} order by {order_by}")
            names = [d[0] for d in result.description]
            rows = result.fetchall()
            shown = rows[:rows_per_question]
            more = f" (first {len(shown)} of {len(rows)})" if len(rows) > len(shown) else ""
            lines.append(f"  {title} [gold.{table}]{more}")
            lines.append("    " + " | ".join(names))
            lines.extend(
                "    " + " | ".join(_cell(n, v) for n, v in zip(names, row, strict=True)) for row in shown
            )
    return "\n".join(lines)


GOLD_SCHEMA = "gold"


def gold_row_counts(warehouse: str | Path) -> dict[str, int]:
    """Rows of every table of the gold schema, read through a read-only DuckDB connection."""
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        tables = [
            name
            for (name,) in connection.execute(
                "select table_name from information_schema.tables "
                "where table_schema = ? and table_type = 'BASE TABLE' order by table_name",
                [GOLD_SCHEMA],
            ).fetchall()
        ]
        counts: dict[str, int] = {}
        for table in tables:
            row = connection.execute(f'select count(*) from {GOLD_SCHEMA}."{table}"').fetchone()
            counts[table] = int(row[0]) if row else 0
    return counts


BRONZE_TABLES = ("pin", "geo", "user", "quarantine", "stream_pin", "stream_geo", "stream_user")
"""The bronze tables behind the warehouse's ``bronze`` views (dbt's macro ``bronze_table_names``)."""

LIVE_MARTS: list[tuple[str, str]] = [
    ("live_posts_by_category", "posts_last_hour desc, category"),
    ("live_posts_by_country", "posts_last_hour desc, country"),
    ("live_quarantine", "records_last_hour desc, stream_name, reason_kind"),
]
"""The operators' live views (schema ``live``) and the order ``pinpipe live`` shows them in."""


class WarehouseReader:
    """The DuckDB warehouse opened outside dbt with its bronze views readable.

    On DuckDB the ``bronze.<table>`` views of the warehouse select from an Arrow dataset that dbt-duckdb's
    delta plugin registers in each dbt process under ``<database>_bronze_<table>_df``. This reader
    registers each bronze Delta table's current version under the same name on its own connection, so
    every view built on bronze (silver views, the ``live`` marts) can be queried from Python or a
    notebook; :meth:`refresh` moves to the tables' latest versions (cheap: a Delta log read each).
    """

    def __init__(self, settings: Settings, *, read_only: bool = True) -> None:
        self.lake = Lake(settings.lake)
        if read_only:
            self.conn = connect_read_only(settings.warehouse)  # a missing or busy file: one line
        else:
            try:
                self.conn = duckdb.connect(str(settings.warehouse), read_only=read_only)
            except duckdb.Error as exc:
                raise PinpipeError(f"cannot open the warehouse {settings.warehouse}: {exc}") from None
        # the limit dbt's profile sets (profiles.yml), not DuckDB's default of 80% of the machine
        self.conn.execute(f"set memory_limit = '{os.environ.get('PINPIPE_DUCKDB_MEMORY_LIMIT', '2GB')}'")
        self.database = str(self.conn.sql("select current_database()").fetchall()[0][0])
        self.tables: dict[str, Any] = {}
        self.refresh()

    def refresh(self) -> None:
        """Register the latest version of every bronze table that exists."""
        for name in BRONZE_TABLES:
            table = self.tables.get(name)
            if table is None:
                try:
                    table = DeltaTable(
                        self.lake.uri(f"bronze/{name}"), storage_options=self.lake.storage_options
                    )
                except TableNotFoundError:
                    continue
                self.tables[name] = table
            else:
                table.update_incremental()
            # bounded read-ahead: a scan of a large bronze table holds a file of Arrow batches, not four
            dataset = bounded_dataset(table.to_pyarrow_dataset())
            self.conn.register(f"{self.database}_bronze_{name}_df", dataset)

    def query(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and rows of a query."""
        result = self.conn.execute(sql)
        names = [d[0] for d in result.description]
        return names, result.fetchall()

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def live_report(reader: WarehouseReader, rows: int = 8) -> str:
    """The live marts as text (each view evaluated now)."""
    lines = []
    for view, order_by in LIVE_MARTS:
        try:
            names, found = reader.query(f"select * from live.{view} order by {order_by} limit {rows}")
        except Exception as exc:
            raise PinpipeError(f"cannot read live.{view} (run `pinpipe dbt build` first?): {exc}") from None
        lines.append(f"  live.{view}" + ("" if found else " (nothing in the last hour)"))
        if found:
            lines.append("    " + " | ".join(names))
            lines.extend(
                "    " + " | ".join(_cell(n, v) for n, v in zip(names, row, strict=True)) for row in found
            )
    return "\n".join(lines)


def _cell(name: str, value: Any) -> str:
    if isinstance(value, int) and not name.endswith("year"):
        return f"{value:,}"
    return printable(str(value))


def printable(text: str) -> str:
    """``text`` safe for a terminal: control and other unprintable characters as escapes, so data
    can never move the cursor, clear the screen or change colours."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
