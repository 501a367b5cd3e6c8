"""SQL on the warehouse without Python: an init script that makes the bronze views readable in any
DuckDB process (Harlequin's, the DuckDB CLI's), and one read-only query run with it.

On DuckDB the warehouse's ``bronze.<table>`` views select from ``<database>_bronze_<table>_df``, a
relation that dbt-duckdb's delta plugin (and :class:`~pinpipe.warehouse.reader.WarehouseReader`) registers
per process from a Delta table's current version. A process without Python gets the same relations
from :func:`init_script`: one TEMP view per bronze table over the Parquet data files of the table's
current version, with the table's columns and types. Temporary views live in the session's own
in-memory catalog, so they work on a read-only connection and nothing is written to the warehouse.
The views are a snapshot: a session started before a bronze load does not see it (start a new one).
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from ingestion.errors import PinpipeError
from ingestion.lake import Lake
from ingestion.settings import Settings
from pinpipe.warehouse.reader import BRONZE_TABLES, connect_read_only, printable

UNSUPPORTED_READER_FEATURES = frozenset({"columnMapping", "deletionVectors"})
"""Delta features whose tables are not plain Parquet files (bronze writes none of them)."""


def quote_identifier(name: str) -> str:
    """A DuckDB identifier in double quotes."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """A DuckDB string literal."""
    return "'" + text.replace("'", "''") + "'"


def warehouse_database(warehouse: str | Path) -> str:
    """The warehouse's database name (what the bronze views' relation names start with), read from the
    file itself; a missing or locked warehouse is one PinpipeError line."""
    with connect_read_only(warehouse) as conn:
        row = conn.execute("select current_database()").fetchone()
    return str(row[0]) if row else Path(warehouse).stem


def duckdb_columns(schema: pa.Schema) -> list[tuple[str, str]]:
    """Each column of an Arrow schema with the DuckDB type a registered Arrow dataset of it has."""
    with duckdb.connect(":memory:") as conn:
        relation = conn.from_arrow(schema.empty_table())
        return [(name, str(kind)) for name, kind in zip(relation.columns, relation.types, strict=True)]


def bronze_view_sql(relation: str, table: DeltaTable) -> str:
    """``create temp view <relation>`` over the data files of the Delta table's current version, with
    the columns and types its Arrow dataset has (an empty table is an empty view of those columns)."""
    protocol = table.protocol()
    features = set(protocol.reader_features or [])
    if protocol.min_reader_version == 2 or features & UNSUPPORTED_READER_FEATURES:
        raise PinpipeError(
            f"the Delta table behind {relation} uses column mapping or deletion vectors: its data "
            "files cannot be read as plain Parquet (read it with WarehouseReader in Python)"
        )
    columns = duckdb_columns(table.to_pyarrow_dataset().schema)
    files = table.file_uris()
    for text in (relation, *files):
        if ";" in text or "\n" in text or "\r" in text:
            # Harlequin runs an init script statement by statement, split at every ';'
            raise PinpipeError(f"cannot write {text!r} into an init script (';' or a newline)")
    head = f"create or replace temp view {quote_identifier(relation)} as\nselect\n    "
    if not files:  # no data file yet: the columns, no rows
        select = ",\n    ".join(f"cast(null as {kind}) as {quote_identifier(name)}" for name, kind in columns)
        return f"{head}{select}\nwhere false;"
    select = ",\n    ".join(
        f"cast({quote_identifier(name)} as {kind}) as {quote_identifier(name)}" for name, kind in columns
    )
    listed = ",\n        ".join(quote_literal(path) for path in files)
    partitioned = "true" if table.metadata().partition_columns else "false"
    return (
        f"{head}{select}\nfrom read_parquet(\n    [\n        {listed}\n    ],\n"
        f"    union_by_name = true,\n    hive_partitioning = {partitioned}\n);"
    )


def init_script(settings: Settings) -> str:
    """The SQL that makes ``bronze.*`` (and every view built on it: silver's live views, ``live.*``)
    readable in a DuckDB session on the warehouse: one TEMP view per bronze table, named as the views
    expect, over the current version of the table. Only a lake on local disk (DuckDB reads S3 through
    its httpfs extension, which is not part of the project)."""
    lake = Lake(settings.lake)
    if lake.is_s3:
        raise PinpipeError(
            f"the lake {settings.lake} is on S3: pinpipe sql reads a lake on local disk only; "
            "read bronze on S3 with WarehouseReader in Python"
        )
    database = warehouse_database(settings.warehouse)
    parts = [
        f"-- pinpipe sql: the relations behind the bronze views of {database}, over the current",
        "-- version of each bronze Delta table (TEMP views: nothing is written to the warehouse).",
        # a comment line too is split at ';' by Harlequin
        f"-- lake: {printable(settings.lake).replace(';', '%3B')}",
    ]
    for name in BRONZE_TABLES:
        try:
            table = DeltaTable(lake.uri(f"bronze/{name}"), storage_options=lake.storage_options)
        except TableNotFoundError:
            parts.append(f"-- bronze/{name}: no Delta table yet, bronze.{name} cannot be read")
            continue
        parts.append(f"-- bronze/{name}, version {table.version()}")
        parts.append(bronze_view_sql(f"{database}_bronze_{name}_df", table))
    return "\n".join(parts) + "\n"


def script_statements(script: str) -> list[str]:
    """The statements of an init script, split the way Harlequin's DuckDB adapter splits them."""
    return [statement for statement in script.split(";") if statement.strip()]


def connect_with_bronze(settings: Settings) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the warehouse with the init script run on it."""
    script = init_script(settings)
    conn = connect_read_only(settings.warehouse)
    try:
        for statement in script_statements(script):
            conn.execute(statement)
    except BaseException:
        conn.close()
        raise
    return conn


def execute(settings: Settings, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run ``sql`` read-only on the warehouse with the bronze views readable: column names and rows of
    its last statement (none for a statement without a result)."""
    with connect_with_bronze(settings) as conn:
        try:
            result = conn.execute(sql)
        except duckdb.Error as exc:
            raise PinpipeError(f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from None
        if result.description is None:
            return [], []
        return [d[0] for d in result.description], result.fetchall()


def harlequin_executable() -> str:
    """Harlequin of this environment (beside the running Python), else the one on PATH."""
    beside = Path(sys.executable).with_name("harlequin")
    if beside.exists():
        return str(beside)
    found = shutil.which("harlequin")
    if not found:
        raise PinpipeError(
            "Harlequin is not installed in this environment: `make sql` installs it (the analytics extra)"
        )
    return found


def harlequin_command(warehouse: str | Path, init_path: str | Path, extra: list[str]) -> list[str]:
    """Harlequin on the warehouse: DuckDB adapter, read-only, with the init script."""
    return [
        harlequin_executable(),
        "--adapter",
        "duckdb",
        "--read-only",
        "--init-path",
        str(init_path),
        *extra,
        str(Path(warehouse).expanduser()),
    ]


def render_table(names: list[str], rows: list[tuple[Any, ...]]) -> str:
    """Columns and rows as an aligned text table, safe for a terminal (see :func:`printable`)."""
    cells = [[printable("NULL" if value is None else str(value)) for value in row] for row in rows]
    header = [printable(name) for name in names]
    widths = [max([len(header[i]), *(len(row[i]) for row in cells)]) for i in range(len(names))]

    def line(values: list[str]) -> str:
        return " | ".join(value.ljust(width) for value, width in zip(values, widths, strict=True)).rstrip()

    rule = "-+-".join("-" * width for width in widths)
    count = f"({len(rows)} row{'' if len(rows) == 1 else 's'})"
    return "\n".join([line(header), rule, *(line(row) for row in cells), count])


def render_csv(names: list[str], rows: list[tuple[Any, ...]]) -> str:
    """Columns and rows as CSV (header first; NULL as an empty field)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    writer.writerows(["" if value is None else value for value in row] for row in rows)
    return out.getvalue().rstrip("\n")


def open_harlequin(settings: Settings, extra: list[str]) -> int:
    """Run Harlequin on the warehouse (read-only, with the init script) until it exits; its exit code.

    The init script lives in a private temporary folder for the session. Harlequin draws on the
    terminal through stderr: it gets this process's ``sys.stderr`` (the terminal even when the CLI
    diverts the native stderr to a log file)."""
    script = init_script(settings)
    with tempfile.TemporaryDirectory(prefix="pinpipe-sql-") as folder:
        init_path = Path(folder) / "init.sql"
        init_path.write_text(script, encoding="utf-8")
        command = harlequin_command(settings.warehouse, init_path, extra)
        completed = subprocess.run(command, check=False, stderr=sys.stderr)
    return completed.returncode
