"""SQL for analysts on a real warehouse (the main job run in a tmp folder, with quarantined records and
stream rows): the init script behind `pinpipe sql`, the command itself, Harlequin started on it (its
Textual app headless, and the real command under a pseudo-terminal), every query of docs/analytics.md,
and the dbt docs: exposures, owners, and nothing loaded from the internet."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import json
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from ingestion.bronze.tables import stream_entity_schema, stream_table
from ingestion.errors import PinpipeError
from ingestion.settings import ENTITIES, INDEX_FIELD, Settings
from pinpipe.warehouse import sql_console
from pinpipe.warehouse.reader import BRONZE_TABLES, WarehouseReader
from tests import dbt_support as support

PINPIPE = Path(sys.executable).with_name("pinpipe")
ANALYTICS_MD = support.REPO_ROOT / "docs" / "analytics.md"
SQL_BLOCK = re.compile(r"```sql\n(.*?)```", re.S)
SAME_ROWS = re.compile(r"-- same rows as (gold\.\w+)")
READ_SCHEMAS = ("bronze", "silver", "gold", "live")

pytestmark = pytest.mark.slow


@dataclass
class Warehouse:
    settings: Settings
    env: dict[str, str]
    """A process environment without PINPIPE_* (the commands get --data-dir) and with a private
    HOME and XDG folders (Harlequin writes its caches there)."""

    def pinpipe(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(PINPIPE), "--data-dir", str(self.settings.data_dir), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _stream_rows(entity: str, now: datetime) -> pa.Table:
    """Two stream records of an entity that arrived now, and (pin only) one quarantined record."""
    schema = stream_entity_schema(entity)
    builders = {"pin": support.pin_record, "geo": support.geo_record, "user": support.user_record}
    rows: list[dict[str, Any]] = []
    for i, ind in enumerate((900_001, 900_002)):
        record = {k: (None if v is None else str(v)) for k, v in builders[entity](ind).items()}
        record[INDEX_FIELD[entity]] = str(ind)
        rows.append({**record, "_raw_json": json.dumps(record), "_sequence_number": str(100 + i)})
    if entity == "pin":
        rows.append({"_quarantine_reason": "not_json: test", "_raw_bytes": b"{", "_sequence_number": "102"})
    lineage = {
        "_source": "kinesis",
        "_stream": f"streaming-{support.DEFAULT_UID}-{entity}",
        "_stream_created_at": "2026-01-01T00:00:00",
        "_shard": "shardId-000000000000",
        "_arrival_at": now,
        "_landing_object": f"raw/streams/test/{entity}.json",
        "_ingested_at": now,
    }
    return pa.Table.from_pylist([{**lineage, **row} for row in rows], schema=schema)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    root = tmp_path_factory.mktemp("sql")
    data_dir = root / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINPIPE_")}
    env.update(
        {
            "HOME": str(root / "home"),
            "XDG_CACHE_HOME": str(root / "home" / ".cache"),
            "XDG_CONFIG_HOME": str(root / "home" / ".config"),
            "XDG_DATA_HOME": str(root / "home" / ".local" / "share"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
    )
    started = time.monotonic()
    # records the loader refuses, landed before the main job (which posts after them)
    support.land_and_load(data_dir / "lake", {}, raw_lines={"pin": [b"not json"], "geo": [b"[1, 2]"]})
    settings = Settings(data_dir=data_dir, uid=support.DEFAULT_UID)
    built = Warehouse(settings, env)
    done = built.pinpipe("run", "--rows", "400", "--events", "300", "--quiet-dbt", timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    now = datetime.now(UTC)
    for entity in ENTITIES:  # the live views read the stream tables when queried
        write_deltalake(
            f"{settings.lake}/bronze/{stream_table(entity)}", _stream_rows(entity, now), mode="append"
        )
    print(f"warehouse built in {time.monotonic() - started:.1f}s")
    yield built


def _relations(conn: duckdb.DuckDBPyConnection) -> list[str]:
    rows = conn.execute(
        "select table_schema, table_name from information_schema.tables "
        f"where table_schema in {READ_SCHEMAS} order by all"
    ).fetchall()
    return [f'{schema}."{name}"' for schema, name in rows]


def _fresh_connection_with_init(settings: Settings) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(str(settings.warehouse), read_only=True)
    for statement in sql_console.script_statements(sql_console.init_script(settings)):
        conn.execute(statement)
    return conn


def test_the_init_script_makes_every_view_readable_as_warehouse_reader_reads_it(warehouse: Warehouse) -> None:
    settings = warehouse.settings
    reader = WarehouseReader(settings)
    conn = _fresh_connection_with_init(settings)
    try:
        relations = _relations(conn)
        for schema in READ_SCHEMAS:
            assert any(r.startswith(f"{schema}.") for r in relations), schema
        counts = {r: conn.execute(f"select count(*) from {r}").fetchall()[0][0] for r in relations}
        expected = {r: reader.query(f"select count(*) from {r}")[1][0][0] for r in relations}
        assert counts == expected
        assert counts['bronze."pin"'] == 300 and counts['bronze."quarantine"'] == 2
        assert counts['bronze."stream_pin"'] == 3 and counts['live."live_posts_by_category"'] == 1
        for table in BRONZE_TABLES:  # the same rows, columns and types
            query = f'select * from bronze."{table}" order by all'
            assert conn.execute(query).fetchall() == reader.query(query)[1], table
            describe = f'describe bronze."{table}"'
            assert conn.execute(describe).fetchall() == reader.query(describe)[1], table
    finally:
        conn.close()
        reader.close()


def test_the_warehouse_cannot_be_written_through_it(warehouse: Warehouse) -> None:
    settings = warehouse.settings
    before = Path(settings.warehouse).read_bytes()
    for statement in (
        "create table gold.scratch as select 1 as one",
        "insert into gold.users_joined_by_year values (2099, 1)",
        "drop view bronze.pin",
        "delete from gold.posts",
    ):
        with pytest.raises(PinpipeError, match="read-only"):
            sql_console.execute(settings, statement)
    # temporary objects are the session's own, in memory
    names, rows = sql_console.execute(
        settings, "create temp table pins as select * from bronze.pin; select count(*) as n from pins"
    )
    assert names == ["n"] and rows[0][0] > 0
    assert Path(settings.warehouse).read_bytes() == before
    shown = warehouse.pinpipe("sql", "-c", "create table gold.scratch (a int)")
    assert shown.returncode == 1 and "read-only" in shown.stderr and len(shown.stderr.splitlines()) == 1


def test_pinpipe_sql_runs_one_query_and_prints_its_init_script(warehouse: Warehouse) -> None:
    settings = warehouse.settings
    with _reader(settings) as reader:
        pins = reader.query("select count(*) from bronze.pin")[1][0][0]
    shown = warehouse.pinpipe("sql", "-c", "select count(*) as n from bronze.pin", "--csv")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == f"n\n{pins}\n"
    table = warehouse.pinpipe("sql", "--execute", "select join_year from gold.users_joined_by_year")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].strip() == "join_year" and table.stdout.rstrip().endswith("rows)")
    init = warehouse.pinpipe("sql", "--print-init")
    assert init.returncode == 0, init.stderr
    assert init.stdout == sql_console.init_script(settings)
    assert init.stdout.count("create or replace temp view") == len(BRONZE_TABLES)


class _reader:
    """WarehouseReader as a context manager (closed at the end)."""

    def __init__(self, settings: Settings) -> None:
        self.reader = WarehouseReader(settings)

    def __enter__(self) -> WarehouseReader:
        return self.reader

    def __exit__(self, *_: object) -> None:
        self.reader.close()


def test_a_missing_or_busy_warehouse_is_one_line(warehouse: Warehouse, tmp_path: Path) -> None:
    missing = subprocess.run(
        [str(PINPIPE), "--data-dir", str(tmp_path / "none"), "sql"],
        env=warehouse.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert missing.returncode == 1
    assert missing.stderr.splitlines() == [
        f"pinpipe: error: no warehouse at {tmp_path / 'none' / 'warehouse.duckdb'}: "
        "run `pinpipe run` (or `make run`) first"
    ]
    # a writer (dbt, here this process) holds a copy of the warehouse
    copy = tmp_path / "busy"
    shutil.copytree(warehouse.settings.data_dir, copy)
    with duckdb.connect(str(copy / "warehouse.duckdb")):
        for args in (["sql"], ["sql", "-c", "select 1"]):
            busy = subprocess.run(
                [str(PINPIPE), "--data-dir", str(copy), *args],
                env=warehouse.env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert busy.returncode == 1
            assert len(busy.stderr.splitlines()) == 1 and "in use by another process" in busy.stderr


def test_harlequin_connects_shows_the_schemas_and_runs_a_query(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Harlequin's own Textual app, headless (Textual's pilot), with the adapter options `pinpipe sql`
    passes: read-only, the init script."""
    pytest.importorskip("harlequin")
    from harlequin.app import Harlequin
    from harlequin_duckdb.adapter import DuckDbAdapter

    for key in ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(key, warehouse.env[key])
    init = tmp_path / "init.sql"
    init.write_text(sql_console.init_script(warehouse.settings))
    with _reader(warehouse.settings) as reader:
        pins = reader.query("select count(*) from bronze.pin")[1][0][0]
        live = reader.query("select count(*) from live.live_posts_by_country")[1][0][0]
    adapter = DuckDbAdapter(conn_str=(warehouse.settings.warehouse,), init_path=init, read_only=True)
    app = Harlequin(adapter=adapter)
    seen: dict[str, Any] = {}

    async def until(condition: Any, pilot: Any, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert time.monotonic() < deadline, "Harlequin did not get there in time"
            await pilot.pause(0.05)

    async def session() -> None:
        async with app.run_test(size=(160, 50)) as pilot:
            await until(
                lambda: (
                    app.connection is not None
                    and app.editor is not None
                    and app.data_catalog.database_tree.catalog is not None
                ),
                pilot,
            )
            assert app.connection is not None
            seen["init"] = app.connection.init_message
            catalog = app.data_catalog.database_tree.catalog
            assert catalog is not None
            seen["databases"] = [item.label for item in catalog.items]
            seen["schemas"] = [item.label for item in catalog.items[0].fetch_children()]
            for sql, expected in (
                ("select count(*) as n from bronze.pin", pins),
                ("select count(*) as n from live.live_posts_by_country", live),
            ):
                assert app.editor is not None
                app.editor.focus()
                app.editor.text = sql
                await pilot.press("ctrl+j")
                await until(lambda: app.results_viewer.get_visible_table() is not None, pilot)
                await until(lambda e=expected: _first_cell(app) == e, pilot)
            seen["screens"] = len(app.screen_stack)  # an error would be a modal screen
            assert app.editor is not None
            app.editor.focus()
            app.editor.text = "create table gold.scratch as select 1"
            await pilot.press("ctrl+j")
            await until(lambda: len(app.screen_stack) > 1, pilot)  # the query error's modal
            seen["error"] = str(getattr(app.screen_stack[-1], "error", ""))
            await pilot.press("escape")
            await pilot.press("ctrl+q")

    try:
        asyncio.run(session())
    finally:
        # Harlequin leaves its connection open for the process's end; this process goes on, and DuckDB
        # opens a file with one configuration per process
        if app.connection is not None:
            app.connection.conn.close()  # type: ignore[attr-defined]
        del app.connection
        gc.collect()
    assert seen["init"].startswith(f"Executed {len(BRONZE_TABLES)} commands from {init}")
    assert seen["databases"] == ["warehouse"]
    assert {"bronze", "silver", "gold", "live"} <= set(seen["schemas"])
    assert seen["screens"] == 1
    assert "read-only" in seen["error"]
    assert app.return_code in (0, None)


def _first_cell(app: Any) -> Any:
    table = app.results_viewer.get_visible_table()
    if table is None or not table.row_count:
        return None
    return table.get_row_at(0)[0]


ANSI = re.compile(
    rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[P^_].*?\x1b\\|\x1b.", re.S
)
"""Terminal escape sequences (CSI, OSC, DCS and the rest)."""


def test_pinpipe_sql_opens_harlequin_in_a_terminal(warehouse: Warehouse) -> None:
    """The real command under a pseudo-terminal: Harlequin starts, runs the init script on the
    read-only warehouse, and quits on Ctrl+Q with exit code 0."""
    pytest.importorskip("harlequin")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    env = {**warehouse.env, "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "50"}
    process = subprocess.Popen(
        [str(PINPIPE), "--data-dir", str(warehouse.settings.data_dir), "sql"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    screen = b""

    def read(seconds: float) -> None:
        nonlocal screen
        ready, _, _ = select.select([master], [], [], seconds)
        if ready:
            with contextlib.suppress(OSError):  # the terminal closed: the process ended
                screen += os.read(master, 1 << 16)

    def text() -> bytes:
        return re.sub(rb"\s+", b"", ANSI.sub(b"", screen))

    try:
        deadline = time.monotonic() + 60
        while b"Executed%dcommands" % len(BRONZE_TABLES) not in text():
            assert process.poll() is None, text()[-2000:]
            assert time.monotonic() < deadline, text()[-2000:]
            read(0.2)
        assert b"DataCatalog" in text() and b"couldnot" not in text().lower()
        os.write(master, b"\x11")  # Ctrl+Q
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            read(0.2)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)


def _sql_blocks() -> list[str]:
    return SQL_BLOCK.findall(ANALYTICS_MD.read_text(encoding="utf-8"))


def test_analytics_md_has_a_query_for_each_question() -> None:
    answered = {m[1] for block in _sql_blocks() if (m := SAME_ROWS.match(block))}
    assert answered == {f"gold.{table}" for table in support.GOLD_ANSWERS}
    text = ANALYTICS_MD.read_text(encoding="utf-8")
    assert "## The report" in text and "## The semantic layer" in text


@pytest.mark.parametrize("block", _sql_blocks(), ids=lambda b: b.splitlines()[0][:50])
def test_every_query_of_analytics_md_runs_read_only(warehouse: Warehouse, block: str) -> None:
    names, rows = sql_console.execute(warehouse.settings, block)
    assert names and rows, "no rows"
    same = SAME_ROWS.match(block)
    if same:
        expected_names, expected = sql_console.execute(warehouse.settings, f"select * from {same[1]}")
        assert names == expected_names
        assert sorted(rows) == sorted(expected)


class _Loads(HTMLParser):
    """Every URL an HTML page makes the browser load: src and href of elements (a link's href
    only for stylesheets, icons and preloads) and url() in inline styles."""

    LOADING_RELS: ClassVar[set[str]] = {
        "stylesheet",
        "icon",
        "shortcut",
        "preload",
        "prefetch",
        "modulepreload",
        "manifest",
    }

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        for attribute in ("src", "srcset", "data", "poster", "background"):
            if attribute in values:
                self.urls.append(values[attribute])
        if tag == "link" and set(values.get("rel", "").lower().split()) & self.LOADING_RELS:
            self.urls.append(values.get("href", ""))
        self.urls += re.findall(r"url\(\s*['\"]?([^'\")]+)", values.get("style", ""))

    def handle_data(self, data: str) -> None:
        self.urls += re.findall(r"@import\s+(?:url\()?\s*['\"]?([^'\")\s;]+)", data)
        self.urls += re.findall(r"url\(\s*['\"]?((?:https?:)?//[^'\")]+)", data)


REMOTE = re.compile(r"^(?:https?:)?//", re.I)
KNOWN_REMOTE_STRINGS = {
    "http://www.w3.org/2000/svg": "an XML namespace, never fetched",
    "https://errors.angularjs.org/1.8.3/": "a link in AngularJS's error messages",
    "https://fuzzed.getdbt.com/": "the page address the usage tracker reports (only when tracking)",
    "//d1fc8wv8zag5ca.cloudfront.net/2.9.0/sp.js": "the usage tracker, loaded only when the manifest's "
    "send_anonymous_usage_stats is true",
}


def test_dbt_docs_show_owners_and_exposures_and_load_nothing_from_the_internet(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    settings = warehouse.settings
    generated = support.run_dbt(
        ["docs", "generate"], lake=settings.lake, warehouse=settings.warehouse, work_dir=tmp_path
    )
    assert generated.returncode == 0, generated.stdout[-3000:]
    target = tmp_path / "target"
    index = (target / "index.html").read_text(encoding="utf-8")
    parser = _Loads()
    parser.feed(index)
    assert [url for url in parser.urls if REMOTE.match(url.strip())] == []
    literals = set(re.findall(r"[\"'`]((?:https?:)?//[A-Za-z0-9.-]+\.[a-z]{2,}[^\"'`\s]*)[\"'`]", index))
    assert literals <= set(KNOWN_REMOTE_STRINGS), literals - set(KNOWN_REMOTE_STRINGS)
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["metadata"]["send_anonymous_usage_stats"] is False  # so the tracker never loads
    assert (target / "catalog.json").is_file()

    gold = {f"model.pinpipe.{table}" for table in support.GOLD_ANSWERS}
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert set(exposures) == {"pinpipe_report", "pinpipe_daily"}
    assert (exposures["pinpipe_report"]["type"], exposures["pinpipe_daily"]["type"]) == (
        "dashboard",
        "application",
    )
    for exposure in exposures.values():
        assert gold | {"model.pinpipe.posts"} <= set(exposure["depends_on"]["nodes"])
        assert exposure["owner"]["name"] == "pinpipe maintainers"
    marts = [
        n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["fqn"][1] == "marts"
    ]
    groups = {g["name"]: g for g in manifest["groups"].values()}
    for node in marts:
        assert node["group"] in groups and groups[node["group"]]["owner"]["name"] == "pinpipe maintainers"
        assert node["config"]["meta"]["owner"]
    tags = {n["name"]: set(n["tags"]) for n in marts}
    assert all({"gold", "analytics"} <= tags[t] for t in support.GOLD_ANSWERS)
    assert tags["live_posts_by_category"] == {"live"} and "gold" in tags["posts"]
