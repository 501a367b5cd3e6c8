"""Runs dbt on the project with the settings' environment, one writer at a time, and records each build.

dbt always runs as ``dbt <command> --project-dir <project> --profiles-dir <profiles>`` (the checkout's
``dbt_project/`` and ``profiles.yml``, or an installed package's copy: project_files.py) with
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
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from ingestion.bronze.loader import BronzeLoader
from ingestion.errors import PinpipeError
from ingestion.lake import Lake, s3_storage_options
from ingestion.locks import POLL_SECONDS, FileLock, LockHeld, waits_by_default
from ingestion.settings import Settings
from pinpipe.warehouse.project_files import (
    dbt_output_env,
    dbt_profiles_dir,
    dbt_project_dir,
    dbt_work_dir,
)
from pinpipe.warehouse.reader import BRONZE_TABLES, LOCK_HOLDER, first_line, printable
from pinpipe.warehouse.spark_session import spark_environment

DBT_PROJECT = dbt_project_dir()

log = logging.getLogger(__name__)

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
    for key, value in dbt_output_env(settings.data_dir).items():
        env.setdefault(key, value)
    if settings.dbt_target == "spark":
        env.update(spark_environment(settings.data_dir))
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
        str(dbt_profiles_dir()),
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
            cwd=dbt_work_dir(settings.data_dir),
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
            reason = exc.reason if isinstance(exc, BuildRecordNotWritten) else first_line(exc)
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
        reason = first_line(exc)
        raise BuildRecordNotWritten(
            f"dbt ran, but its build record could not be written to {settings.warehouse}: {reason}", reason
        ) from None


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
        holder = LOCK_HOLDER.search(str(exc))
        if holder is None:
            raise PinpipeError(f"cannot open the warehouse {path}: {first_line(exc)}") from None
        return f"{Path(holder['program']).name}, PID {holder['pid']}"
    return None
