"""Reading the DuckDB warehouse outside dbt: a read-only connection that names a busy file's holder,
the gold answers as text (the questions are the dbt project's, ``pinpipe.report.questions``), row
counts, and :class:`WarehouseReader` with the bronze views registered, for Python, a notebook and
``pinpipe live``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

import duckdb
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from ingestion.errors import PinpipeError
from ingestion.lake import Lake
from ingestion.settings import Settings
from pinpipe.report.questions import gold_questions
from pinpipe.warehouse.delta_scan import bounded_dataset


def first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>\S+) \(PID (?P<pid>\d+)\)")


def _lock_holder_message(path: Path, exc: duckdb.Error) -> PinpipeError | None:
    holder = LOCK_HOLDER.search(str(exc))
    if holder is None:
        return None
    return PinpipeError(
        f"the warehouse {path} is in use by another process ({Path(holder['program']).name}, "
        f"PID {holder['pid']}): wait until it finishes, then try again"
    )


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
    """A compact text view of the gold answers, for the end of the main job (``tables``: only these of
    the questions, :func:`pinpipe.report.questions.gold_questions`)."""
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
        for question in gold_questions():
            table = question.table
            if tables is not None and table not in tables:
                continue
            result = conn.execute(f"select * from gold.{table} order by {question.order_by}")
            names = [d[0] for d in result.description]
            rows = result.fetchall()
            shown = rows[:rows_per_question]
            more = f" (first {len(shown)} of {len(rows)})" if len(rows) > len(shown) else ""
            lines.append(f"  {question.title} [gold.{table}]{more}")
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
