"""The `pinpipe` command as a newcomer meets it: version, help on every option, status exit codes,
and every expected failure as one line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click
import duckdb
import pytest

from emulator.posting import PostingPlan
from ingestion.settings import Settings
from pinpipe import __version__, pipeline
from pinpipe.cli import NOT_RUNNING, cli
from pinpipe.report.questions import gold_questions

PINPIPE = Path(sys.executable).with_name("pinpipe")


def pinpipe(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PINPIPE), "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_version(tmp_path: Path) -> None:
    shown = pinpipe(tmp_path, "--version")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == f"pinpipe, version {__version__}"
    assert __version__[0].isdigit()


def walk(command: click.Command, path: str = "pinpipe") -> list[tuple[str, click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            found.extend(walk(sub, f"{path} {name}"))
    return found


def test_every_command_and_option_has_help() -> None:
    missing = []
    for path, command in walk(cli):
        if not (command.help or "").strip():
            missing.append(path)
        for param in command.params:
            if isinstance(param, click.Option) and not (param.help or "").strip():
                missing.append(f"{path} {param.opts[0]}")
    assert missing == []


def test_status_commands_exit_non_zero_when_the_service_is_down(tmp_path: Path) -> None:
    for service, line in (("kafka", "kafka not running"), ("aws", "moto not running")):
        status = pinpipe(tmp_path, service, "status")
        assert (status.returncode, status.stdout.strip()) == (NOT_RUNNING, line), status.stderr


@dataclass(frozen=True)
class Failure:
    """A failure a user meets, how to cause it, and the one line that must say it."""

    name: str
    args: tuple[str, ...]
    expected: str
    prepare: Callable[[Path], dict[str, str]] = lambda _tmp: {}
    exit_code: int = 1


def hold(code: str, *args: str) -> str:
    """Run ``code`` in a second process that holds something until the test ends; its pid."""
    holder = subprocess.Popen(
        [sys.executable, "-c", f"{code}\nprint('ready', flush=True)\nimport time; time.sleep(120)", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    HOLDERS.append(holder)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
    return str(holder.pid)


def holding_the_warehouse(tmp: Path) -> dict[str, str]:
    """A second process holds the warehouse's write lock until the test ends."""
    warehouse = tmp / "busy.duckdb"
    pid = hold("import duckdb, sys; c = duckdb.connect(sys.argv[1])", str(warehouse))
    return {"PINPIPE_WAREHOUSE": str(warehouse), "HOLDER_PID": pid}


def reading_the_warehouse(tmp: Path) -> dict[str, str]:
    """A notebook (a second process) has the warehouse open read-only: dbt cannot write it."""
    warehouse = tmp / "read.duckdb"
    duckdb.connect(str(warehouse)).close()
    pid = hold("import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True)", str(warehouse))
    return {"PINPIPE_WAREHOUSE": str(warehouse), "HOLDER_PID": pid}


def running_main_job(tmp: Path) -> dict[str, str]:
    """Another `pinpipe run` holds the lake's main-job lock."""
    code = (
        "import sys\nfrom ingestion.lake import Lake\nfrom ingestion.locks import WriterLock\n"
        "WriterLock(Lake(sys.argv[1]), 'main-job').__enter__()"
    )
    return {"HOLDER_PID": hold(code, str(tmp / "data" / "lake"))}


def empty_warehouse(tmp: Path) -> dict[str, str]:
    duckdb.connect(str(tmp / "empty.duckdb")).close()
    return {"PINPIPE_WAREHOUSE": str(tmp / "empty.duckdb")}


def lake_is_a_file(tmp: Path) -> dict[str, str]:
    (tmp / "a-file").write_text("not a folder")
    return {"PINPIPE_LAKE": str(tmp / "a-file")}


def config_file(text: str) -> Callable[[Path], dict[str, str]]:
    def prepare(tmp: Path) -> dict[str, str]:
        (tmp / "pinpipe.toml").write_text(text)
        return {"PINPIPE_CONFIG": str(tmp / "pinpipe.toml")}

    return prepare


def corrupt_bronze_table(tmp: Path) -> dict[str, str]:
    log = tmp / "data" / "lake" / "bronze" / "pin" / "_delta_log"
    log.mkdir(parents=True)
    (log / "00000000000000000000.json").write_text("garbage{")
    return {}


def source_db_of_seed_1(tmp: Path) -> dict[str, str]:
    pipeline.build_source_db(Settings(data_dir=tmp / "data"), 20, 1)
    return {}


def mounted(folder: Path, *options: str) -> Path:
    """``folder`` as a mount point of its own (a tmpfs, or a read-only bind), unmounted at the end."""
    if os.geteuid() != 0:
        pytest.skip("mounting a file system for this case needs root (CI runs as root)")
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", *options, str(folder)], check=True)
    MOUNTS.append(folder)
    return folder


def read_only_data_folder(tmp: Path) -> dict[str, str]:
    folder = tmp / "read-only"
    folder.mkdir()
    mounted(folder, "--bind", str(folder))
    subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True)
    return {"PINPIPE_DATA_DIR": str(folder / "data")}


def full_disk(tmp: Path) -> dict[str, str]:
    """A lake on a small file system with landing objects on it and no space left for bronze."""
    disk = mounted(tmp / "disk", "-t", "tmpfs", "-o", "size=16m", "tmpfs")
    settings = Settings(data_dir=tmp / "data", lake=str(disk / "lake"))
    pipeline.build_source_db(settings, 3000, 0)
    pipeline.emulate(settings, PostingPlan(events=3000), "lake")
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    (disk / "filler").write_bytes(b"\0" * max(0, free - 64 * 1024))
    return {"PINPIPE_LAKE": str(disk / "lake")}


def running_stream_ingestion(tmp: Path) -> dict[str, str]:
    """Another `pinpipe stream` holds the geo stream's lock (no Kinesis is reached before the lock)."""
    code = (
        "import sys\nfrom ingestion.lake import Lake\nfrom ingestion.locks import WriterLock\n"
        "WriterLock(Lake(sys.argv[1]), 'stream.streaming-0a5040edb649-geo').__enter__()"
    )
    pid = hold(code, str(tmp / "data" / "lake"))
    aws = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    return {"HOLDER_PID": pid, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", **aws}


HOLDERS: list[subprocess.Popen[str]] = []
MOUNTS: list[Path] = []

FAILURES = [
    Failure(
        "report without a warehouse",
        ("report",),
        "pinpipe: error: no warehouse at {tmp}/data/warehouse.duckdb: "
        "run `pinpipe run` (or `make run`) first",
    ),
    Failure(
        "report while another process holds the warehouse",
        ("report",),
        "pinpipe: error: the warehouse {tmp}/busy.duckdb is in use by another process (python{any}, PID "
        "{HOLDER_PID}): wait until it finishes, then try again",
        holding_the_warehouse,
    ),
    Failure(
        "report on a warehouse with no gold schema",
        ("report",),
        "pinpipe: error: the warehouse {tmp}/empty.duckdb has no gold tables yet: run `pinpipe dbt build`",
        empty_warehouse,
    ),
    Failure(
        "PINPIPE_LAKE pointing at a file",
        ("bronze", "load"),
        "pinpipe: error: the lake root {tmp}/a-file is a file, not a folder: check PINPIPE_LAKE or --lake",
        lake_is_a_file,
    ),
    Failure(
        "dbt while a notebook has the warehouse open read-only",
        ("dbt", "build"),
        "pinpipe: the warehouse {tmp}/read.duckdb is in use by another process (python{any}, PID "
        "{HOLDER_PID}); try again later or run with --wait",
        reading_the_warehouse,
        exit_code=75,
    ),
    Failure(
        "a second main job on one lake",
        ("run", "--rows", "20", "--events", "5"),
        "pinpipe: the main-job lock of the lake {tmp}/data/lake is held by pid {HOLDER_PID} on host "
        "{any} since {any}; try again later or run with --wait",
        running_main_job,
        exit_code=75,
    ),
    Failure(
        "a second stream ingestion on one lake",
        ("stream", "--idle-exit", "1"),
        "pinpipe: the stream.streaming-0a5040edb649-geo lock of the lake {tmp}/data/lake is held by pid "
        "{HOLDER_PID} on host {any} since {any}; try again later or run with --wait",
        running_stream_ingestion,
        exit_code=75,
    ),
    Failure(
        "a read-only data folder",
        ("db", "build", "--rows", "10"),
        "pinpipe: error: cannot write {tmp}/read-only/data: the file system is read-only; choose a "
        "writable --data-dir or --lake",
        read_only_data_folder,
    ),
    Failure(
        "a full disk under bronze load",
        ("bronze", "load"),
        "pinpipe: error: no space left on the device{any}: free some space, then run the command again",
        full_disk,
    ),
    Failure(
        "a missing PINPIPE_CONFIG file",
        ("bronze", "load"),
        "pinpipe: error: PINPIPE_CONFIG={tmp}/nowhere.toml: no such file "
        "(unset it or point it at a TOML file)",
        lambda tmp: {"PINPIPE_CONFIG": str(tmp / "nowhere.toml")},
    ),
    Failure(
        "a misspelt key in the config file",
        ("bronze", "load"),
        "pinpipe: error: {tmp}/pinpipe.toml: unknown setting 'lakee' (did you mean 'lake'?)",
        config_file("lakee = '/tmp/lake'\n"),
    ),
    Failure(
        "a malformed config file",
        ("bronze", "load"),
        "pinpipe: error: {tmp}/pinpipe.toml: not a valid TOML file: Invalid value (at line 1, column 7)",
        config_file("lake =\n"),
    ),
    Failure(
        "another source DB generation on an existing folder",
        ("run", "--rows", "20", "--db-seed", "2", "--events", "5"),
        "pinpipe: error: the source DB sqlite:///{tmp}/data/source.db holds 20 rows from seed 1, not 20 rows "
        "from seed 2: its lake would mix two generations. Use another --data-dir, or --force to "
        "regenerate it anyway",
        source_db_of_seed_1,
    ),
    Failure(
        "an unexpected failure (a corrupt Delta log)",
        ("bronze", "load"),
        "pinpipe: error: DeltaError: Kernel error: Json error: {any} (run with --debug for the traceback)",
        corrupt_bronze_table,
    ),
]


@pytest.mark.parametrize("failure", FAILURES, ids=[f.name for f in FAILURES])
def test_every_failure_is_one_line(failure: Failure, tmp_path: Path) -> None:
    try:
        values = {"tmp": str(tmp_path), **failure.prepare(tmp_path)}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PINPIPE_")}
        env["PINPIPE_DATA_DIR"] = str(tmp_path / "data")
        env.update({k: v for k, v in values.items() if k.startswith(("PINPIPE_", "AWS_"))})
        done = subprocess.run(
            [str(PINPIPE), *failure.args], env=env, capture_output=True, text=True, timeout=120, check=False
        )
    finally:
        while HOLDERS:
            HOLDERS.pop().kill()
        while MOUNTS:
            subprocess.run(["umount", "--lazy", str(MOUNTS.pop())], check=False)
    pattern = re.escape(failure.expected.format(any="\0", **values)).replace("\0", ".*")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == failure.exit_code, done.stderr
    assert len(lines) == 1 and re.fullmatch(pattern, lines[0]), done.stderr
    assert done.stdout == ""


def test_debug_adds_the_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINPIPE_")}
    env.update(lake_is_a_file(tmp_path), PINPIPE_DATA_DIR=str(tmp_path / "data"))
    done = subprocess.run(
        [str(PINPIPE), "bronze", "load", "--debug"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1 and "Traceback (most recent call last)" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("pinpipe: error: the lake root")


def test_a_stale_pid_file_is_never_trusted(tmp_path: Path) -> None:
    """The pid in moto's pid file now belongs to an unrelated process: status says not running, and
    stop leaves that process alone."""
    unrelated = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        aws_dir = tmp_path / "aws"
        aws_dir.mkdir()
        (aws_dir / "moto.pid").write_text(f"{unrelated.pid}\n")
        status = pinpipe(tmp_path, "aws", "status")
        assert (status.returncode, status.stdout.strip()) == (NOT_RUNNING, "moto not running")
        stop = pinpipe(tmp_path, "aws", "stop")
        assert stop.returncode == 0 and stop.stdout.strip() == "moto was not running"
        assert unrelated.poll() is None  # still running: never signalled
    finally:
        unrelated.kill()
        unrelated.wait()


def test_report_escapes_control_characters_in_data(tmp_path: Path) -> None:
    """A category holding escape sequences cannot clear the analyst's screen or change its colours."""
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("create schema gold")
        conn.execute("create table gold.posts (ind bigint)")
        for question in gold_questions():
            columns = ", ".join(f"{c.strip().split()[0]} varchar" for c in question.order_by.split(","))
            conn.execute(f"create table gold.{question.table} ({columns}, category varchar)")
        first = gold_questions()[0].table
        conn.execute(f"insert into gold.{first} (category) values ('art\x1b[2J\x07\u202e')")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINPIPE_")}
    env["PINPIPE_WAREHOUSE"] = str(warehouse)
    shown = subprocess.run([str(PINPIPE), "report"], env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "art\\x1b[2J\\x07\\u202e" in shown.stdout
    assert not any(ch in shown.stdout for ch in "\x1b\x07\u202e")


@click.group()
def plugin_kafka() -> None:
    """A plugin's group of the same name as one of pinpipe's."""


@plugin_kafka.command("start")
def plugin_kafka_start() -> None:
    click.echo("plugin start ran")


def test_plugin_commands_merge_into_their_group_and_a_broken_plugin_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from importlib.metadata import EntryPoint

    from click.testing import CliRunner

    from pinpipe.cli import root

    group = "pinpipe.commands"
    found = [
        EntryPoint("kafka", f"{__name__}:plugin_kafka", group),
        EntryPoint("broken", "no_such_module_of_pinpipe:commands", group),
    ]
    monkeypatch.setattr(root, "entry_points", lambda group: found)
    fresh = root.WithPluginCommands(commands={"kafka": click.Group("kafka", commands={"topics": cli})})
    runner = CliRunner()
    listed = runner.invoke(fresh, ["kafka", "--help"])
    assert listed.exit_code == 0, listed.output
    assert "start" in listed.stdout and "topics" in listed.stdout
    assert listed.stderr.count("\n") == 1
    assert "no_such_module_of_pinpipe:commands are unavailable: No module named" in listed.stderr
    assert runner.invoke(fresh, ["kafka", "start"]).stdout == "plugin start ran\n"
