"""`pinpipe dbt build` as a process (issue 28): its dbt dies with it and holds the warehouse lock while
it lives, a warehouse another process has open is exit 75 (or a wait with --wait), and a failure
names the step that failed: dbt's node, not the build record written after it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import psutil
import pytest

from ingestion.errors import PinpipeError
from ingestion.locks import FileLock, LockHeld
from ingestion.settings import Settings
from pinpipe.warehouse import dbt_runner as warehouse

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; prctl"),
    pytest.mark.integration,
]

PINPIPE = Path(sys.executable).with_name("pinpipe")
EX_TEMPFAIL = 75
QUICK_BUILD = ("dbt", "build", "--exclude-resource-type", "unit_test")
T = TypeVar("T")


@dataclass(frozen=True)
class Built:
    """A data folder with a source DB, a lake and a built warehouse, and the environment to use it."""

    data_dir: Path
    env: dict[str, str] = field(repr=False)

    @property
    def warehouse(self) -> Path:
        return self.data_dir / "warehouse.duckdb"


def start(built: Built, *args: str, stderr: Any = None) -> tuple[subprocess.Popen[str], Path]:
    """``pinpipe <args>`` in the background; stdout (dbt's log) to a file, whose path is returned."""
    out = built.data_dir.parent / f"stdout-{time.monotonic_ns()}.log"
    with out.open("w") as stdout:
        proc = subprocess.Popen(
            [str(PINPIPE), *args], env=built.env, stdout=stdout, stderr=stderr or subprocess.PIPE, text=True
        )
    return proc, out


def pinpipe(built: Built, *args: str) -> tuple[int, str]:
    proc, _ = start(built, *args)
    _, err = proc.communicate(timeout=600)
    return proc.returncode, err


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """`pinpipe run --events 300` into a fresh data folder; dbt's target/ and logs/ beside it."""
    root = tmp_path_factory.mktemp("dbt-process")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PINPIPE_", "DBT_"))}
    env.update(
        PINPIPE_DATA_DIR=str(root / "data"),
        DBT_TARGET_PATH=str(root / "target"),
        DBT_LOG_PATH=str(root / "logs"),
    )
    made = Built(root / "data", env)
    code, err = pinpipe(made, "run", "--events", "300", "--quiet-dbt")
    assert code == 0, err
    return made


def wait_for(check: Callable[[], T | None], what: str, timeout: float = 300) -> T:
    """Poll ``check`` until it returns something (a generous bound: it waits on an event)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def running(pid: int) -> bool:
    """The process exists and is not exiting: not a zombie, and PF_EXITING (0x4) is not set (the
    kernel sets it before it closes the process's files, so before its flocks are released)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0] not in ("Z", "X") and not int(fields[6]) & 0x4


def dbt_child(parent: psutil.Process) -> psutil.Process | None:
    for child in parent.children():
        try:
            if any(Path(arg).name == "dbt" for arg in child.cmdline()[:2]):
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def has_open(proc: psutil.Process, path: Path) -> bool:
    try:
        return any(Path(f.path) == path for f in proc.open_files())
    except psutil.NoSuchProcess:
        return False


def state_of(paths: list[Path]) -> list[tuple[int, int] | None]:
    return [(p.stat().st_mtime_ns, p.stat().st_size) if p.exists() else None for p in paths]


class Lines:
    """A process's stderr read line by line in a thread, so a test can wait for one line."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        self.lines: list[str] = []
        self._stream = proc.stderr
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stream:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str) -> str:
        return wait_for(lambda: next((x for x in self.lines if re.search(pattern, x)), None), pattern)

    def text(self) -> str:
        self._thread.join(timeout=60)
        return "\n".join(self.lines)


@pytest.fixture
def reader(built: Built) -> Iterator[subprocess.Popen[str]]:
    """A notebook: another process with the warehouse open read-only until it reads a line."""
    code = (
        "import duckdb, sys\n"
        "c = duckdb.connect(sys.argv[1], read_only=True)\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
        "c.close()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(built.warehouse)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    yield proc
    proc.kill()
    proc.wait()


def close(reader: subprocess.Popen[str]) -> None:
    assert reader.stdin is not None
    reader.stdin.write("close\n")
    reader.stdin.flush()
    assert reader.wait(timeout=60) == 0


# --- (a) kill -9 of `pinpipe dbt build` ----------------------------------------------------------


def test_kill_9_of_dbt_build_takes_its_dbt_along_and_the_next_build_succeeds(built: Built) -> None:
    lock_file = Path(f"{built.warehouse}.lock")
    proc, _ = start(built, "dbt", "build")
    try:
        parent = psutil.Process(proc.pid)

        def dbt_writing() -> psutil.Process | None:
            assert proc.poll() is None, "pinpipe dbt build ended before dbt opened the warehouse"
            child = dbt_child(parent)
            return child if child is not None and has_open(child, built.warehouse) else None

        dbt = wait_for(dbt_writing, "dbt to open the warehouse")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    # the warehouse lock is never free while the killed build's dbt still runs
    try:
        with FileLock(lock_file, "the test", wait=False):
            assert not running(dbt.pid), "the warehouse lock is free while the orphaned dbt runs"
    except LockHeld:
        pass
    wait_for(lambda: not running(dbt.pid), "dbt to die with pinpipe")
    files = [built.warehouse, built.warehouse.with_name(built.warehouse.name + ".wal")]
    quiet = state_of(files)
    time.sleep(1)
    assert state_of(files) == quiet, "the warehouse changed after its writer died"

    code, err = pinpipe(built, *QUICK_BUILD)
    assert code == 0, err


# --- (b) a warehouse another process has open ----------------------------------------------------


def test_a_reader_of_the_warehouse_is_exit_75_or_a_wait_with_wait(
    built: Built, reader: subprocess.Popen[str]
) -> None:
    holder = f"the warehouse {built.warehouse} is in use by another process (python{{any}}, PID {reader.pid})"
    pattern = re.escape(holder).replace(r"\{any\}", ".*")

    code, err = pinpipe(built, *QUICK_BUILD)
    assert code == EX_TEMPFAIL, err
    (line,) = err.strip().splitlines()
    assert re.fullmatch(f"pinpipe: {pattern}; try again later or run with --wait", line), line

    # Ctrl-C while waiting: a clean exit, and the warehouse lock is free again
    interrupted, _ = start(built, "--wait", *QUICK_BUILD)
    lines = Lines(interrupted)
    lines.wait_for(f"waiting: {pattern}$")
    interrupted.send_signal(signal.SIGINT)
    assert interrupted.wait(timeout=60) == 130, lines.text()
    assert lines.text().splitlines()[-1] == "pinpipe: aborted"  # click's word for Ctrl-C
    with FileLock(f"{built.warehouse}.lock", "the test", wait=False):
        pass

    # --wait: one line saying for whom it waits, then the build once the reader has gone
    waiting, _ = start(built, "--wait", *QUICK_BUILD)
    lines = Lines(waiting)
    lines.wait_for(f"waiting: {pattern}$")
    assert waiting.poll() is None
    close(reader)
    assert waiting.wait(timeout=600) == 0, lines.text()
    assert len([x for x in lines.lines if "waiting:" in x]) == 1


# --- (c) a failure names the step that failed -----------------------------------------------------


def test_a_failing_model_is_named_in_the_last_line(built: Built) -> None:
    code, err = pinpipe(
        built,
        "dbt",
        "build",
        "--select",
        "most_popular_category_by_year",
        "--exclude-resource-type",
        "unit_test",
        "--vars",
        "{pinpipe_post_years: [nope, nope]}",
    )
    assert code == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("pinpipe: error: `dbt build --select most_popular_category_by_year"), last
    assert 'failed at gold.most_popular_category_by_year: Binder Error: Referenced column "nope"' in last
    assert "build record" not in last


def fake_dbt(
    monkeypatch: pytest.MonkeyPatch,
    target: Path,
    results: list[dict[str, Any]],
    code: int,
    *,
    full_disk: bool,
) -> None:
    """dbt as a function: writes ``results`` as its run_results.json and exits ``code``; with
    ``full_disk`` the disk is full from then on (the build record cannot be written)."""

    def run(*_args: Any, **_kwargs: Any) -> subprocess.CompletedProcess[str]:
        target.mkdir(parents=True, exist_ok=True)
        generated = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        document = {"metadata": {"generated_at": generated}, "results": results}
        (target / "run_results.json").write_text(json.dumps(document))
        if full_disk:

            def no_space(*_a: Any, **_k: Any) -> Any:
                raise duckdb.IOException("IO Error: No space left on device")

            monkeypatch.setattr(warehouse.duckdb, "connect", no_space)
        return subprocess.CompletedProcess([], code)

    monkeypatch.setattr(warehouse.subprocess, "run", run)


FULL_DISK_AT_POSTS = {
    "unique_id": "model.pinpipe.posts",
    "status": "error",
    "relation_name": '"warehouse"."gold"."posts"',
    "message": "Runtime Error in model posts (models/marts/core/posts.sql)\n"
    "  IO Error: No space left on device\n",
}


def test_a_build_record_that_cannot_be_written_never_hides_dbts_failure(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    failing_test = {
        "unique_id": "test.pinpipe.not_null_posts_index.0123456789",
        "status": "fail",
        "relation_name": None,
        "message": "Got 3 results, configured to fail if != 0",
    }
    fake_dbt(monkeypatch, tmp_path / "target", [FULL_DISK_AT_POSTS, failing_test], 1, full_disk=True)
    with pytest.raises(PinpipeError) as raised:
        warehouse.run_dbt(settings, ["build"])
    assert str(raised.value) == (
        "`dbt build` failed at gold.posts: IO Error: No space left on device (and 1 more: test "
        "not_null_posts_index); see its output above; its build record could not be written either: "
        "IO Error: No space left on device"
    )


def test_a_build_record_that_cannot_be_written_after_a_good_build_is_said(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    fake_dbt(monkeypatch, tmp_path / "target", [], 0, full_disk=True)
    with pytest.raises(PinpipeError, match=r"^dbt ran, but its build record could not be written to "):
        warehouse.run_dbt(settings, ["build"])


def test_an_earlier_runs_results_are_not_blamed(tmp_path: Path) -> None:
    results = tmp_path / "run_results.json"
    document = {"metadata": {"generated_at": "2020-01-01T00:00:00Z"}, "results": [FULL_DISK_AT_POSTS]}
    results.write_text(json.dumps(document))
    assert warehouse.failed_nodes(results, datetime.now(UTC)) == []
    assert warehouse.dbt_failure(["build"], 2, []) == "`dbt build` failed (exit 2); see its output above"
