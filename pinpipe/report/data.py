"""What the report shows, read from the warehouse read-only into plain dataclasses.

:func:`read_answers` reads the gold answers (the questions of ``questions.py``) alone;
:func:`read_report` reads them with the run's health: rows per layer, the quarantine by reason, the
values lost in cleaning, the freshness of each bronze table and the build record (when and from which
bronze Delta versions gold was built).
Nothing here writes: the DuckDB file is opened read-only and the bronze Delta tables are read in place.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from ingestion.errors import PinpipeError
from ingestion.settings import Settings
from pinpipe.report.questions import gold_questions
from pinpipe.warehouse.dbt_runner import BUILDS_TABLE
from pinpipe.warehouse.reader import (
    BRONZE_TABLES,
    GOLD_SCHEMA,
    WarehouseReader,
    connect_read_only,
)

LOST_VALUE_CHECKS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "stg_pinterest__pins": (
        "pin",
        "index",
        (
            "unique_id",
            "title",
            "description",
            "follower_count",
            "poster_name",
            "tag_list",
            "is_image_or_video",
            "image_src",
            "save_location",
            "category",
            "downloaded",
        ),
    ),
    "stg_pinterest__geos": ("geo", "ind", ("country", "timestamp", "latitude", "longitude")),
    "stg_pinterest__users": ("user", "ind", ("age", "date_joined", "first_name", "last_name")),
}
"""Silver model → (bronze table, index field, analysed columns): the arguments of the dbt data test
``no_values_lost_in_cleaning`` of each model (models/staging/pinterest/_pinterest__models.yml)."""

PLACEHOLDERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "title": (("No Title Data Available",), ()),
    "description": ((), ("No description available",)),
    "poster_name": (("User Info Error",), ()),
    "follower_count": (("User Info Error",), ()),
    "tag_list": (("N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",), ()),
    "image_src": (("Image src error.",), ()),
}
"""Field → (exact placeholders, placeholder prefixes): dbt's macro ``pinterest_placeholders``. A
placeholder is "missing" in the source, not a value lost in cleaning."""

FRESHNESS_WARN = timedelta(hours=26)
FRESHNESS_ERROR = timedelta(days=3)
FRESHNESS_CHECKED = ("pin", "geo", "user")
"""dbt's source freshness thresholds (models/staging/pinterest/_pinterest__sources.yml): the batch
tables warn after 26 hours and fail after 3 days; the quarantine and stream tables have none."""


@dataclass(frozen=True)
class Answer:
    """One gold answer table: what it answers and all its rows, in the report's order."""

    table: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class Answers:
    """The gold answers of a warehouse, with the number of posts they are computed from."""

    warehouse: str
    posts: int
    answers: tuple[Answer, ...]


@dataclass(frozen=True)
class LayerCount:
    """Rows of one table of a layer (bronze, silver, gold)."""

    layer: str
    table: str
    rows: int


@dataclass(frozen=True)
class LostValues:
    """Values non-null in bronze (and not a placeholder) that cleaning turned into NULL in silver."""

    model: str
    column: str
    values: int


@dataclass(frozen=True)
class Freshness:
    """The latest delivery of a bronze table, its age, and its status under dbt's thresholds."""

    table: str
    rows: int
    latest_ingested_at: datetime | None
    age: timedelta | None

    @property
    def status(self) -> str:
        """fresh, warn, error (dbt's source freshness), empty, or n/a (no threshold)."""
        if self.age is None:
            return "empty"
        if self.table not in FRESHNESS_CHECKED:
            return "n/a"
        if self.age > FRESHNESS_ERROR:
            return "error"
        return "warn" if self.age > FRESHNESS_WARN else "fresh"


@dataclass(frozen=True)
class Build:
    """The latest recorded dbt build of the warehouse and the bronze versions it read."""

    command: str
    started_at: datetime
    finished_at: datetime
    exit_code: int
    versions: dict[str, tuple[int | None, int | None]]
    """Bronze table → (version before dbt started, version after it ended)."""


@dataclass(frozen=True)
class Health:
    """How the run went: rows per layer, quarantine, lost values, freshness, the build."""

    layers: tuple[LayerCount, ...]
    quarantine_columns: tuple[str, ...]
    quarantine_rows: tuple[tuple[Any, ...], ...]
    quarantine_by_reason: tuple[tuple[str, int], ...]
    lost_values: tuple[LostValues, ...]
    freshness: tuple[Freshness, ...]
    build: Build | None
    gold_loaded_at: datetime | None
    """The latest ``_loaded_at`` of gold.posts: when gold was last loaded, recorded build or not."""
    current_versions: dict[str, int] = field(default_factory=dict)
    """Bronze table → its Delta version now (newer than the build's when bronze moved on since)."""


@dataclass(frozen=True)
class Report:
    """Everything the HTML report shows."""

    settings: Settings
    generated_at: datetime
    answers: Answers
    health: Health


def _check_gold(conn: duckdb.DuckDBPyConnection, warehouse: str) -> None:
    try:
        conn.execute(f"select 1 from {GOLD_SCHEMA}.posts limit 0")
    except duckdb.CatalogException:
        raise PinpipeError(
            f"the warehouse {warehouse} has no gold tables yet: run `pinpipe dbt build`"
        ) from None


def _answers(conn: duckdb.DuckDBPyConnection, warehouse: str, tables: Collection[str] | None) -> Answers:
    _check_gold(conn, warehouse)
    row = conn.execute(f"select count(*) from {GOLD_SCHEMA}.posts").fetchone()
    answers = []
    for question in gold_questions():
        table = question.table
        if tables is not None and table not in tables:
            continue
        result = conn.execute(f"select * from {GOLD_SCHEMA}.{table} order by {question.order_by}")
        columns = tuple(d[0] for d in result.description)
        answers.append(Answer(table, question.title, columns, tuple(tuple(r) for r in result.fetchall())))
    return Answers(warehouse, int(row[0]) if row else 0, tuple(answers))


def read_answers(settings: Settings, tables: Collection[str] | None = None) -> Answers:
    """The gold answers (every row), optionally only ``tables``; one-line PinpipeError when the
    warehouse is missing, busy or has no gold tables."""
    with connect_read_only(settings.warehouse) as conn:
        return _answers(conn, str(settings.warehouse), tables)


def read_report(settings: Settings, now: datetime | None = None) -> Report:
    """The gold answers and the run's health, read through a WarehouseReader (bronze readable)."""
    generated = now or datetime.now(UTC)
    reader = WarehouseReader(settings)  # read-only; a missing or busy file is one PinpipeError line
    try:
        answers = _answers(reader.conn, str(settings.warehouse), None)
        health = _health(reader, generated)
    except duckdb.CatalogException as exc:
        raise PinpipeError(
            f"the warehouse {settings.warehouse} lacks a table of the report ({str(exc).splitlines()[0]}): "
            "run `pinpipe dbt build`"
        ) from None
    finally:
        reader.close()
    return Report(settings, generated, answers, health)


def _tables(conn: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    return [
        name
        for (name,) in conn.execute(
            "select table_name from information_schema.tables "
            "where table_schema = ? and table_type = 'BASE TABLE' order by table_name",
            [schema],
        ).fetchall()
    ]


def _count(conn: duckdb.DuckDBPyConnection, relation: str) -> int:
    row = conn.execute(f"select count(*) from {relation}").fetchone()
    return int(row[0]) if row else 0


def _health(reader: WarehouseReader, now: datetime) -> Health:
    conn = reader.conn
    bronze = [t for t in BRONZE_TABLES if t in reader.tables]
    layers = [LayerCount("bronze", t, _count(conn, f'bronze."{t}"')) for t in bronze]
    layers += [LayerCount("silver", t, _count(conn, f'silver."{t}"')) for t in _tables(conn, "silver")]
    layers += [LayerCount("gold", t, _count(conn, f'gold."{t}"')) for t in _tables(conn, GOLD_SCHEMA)]

    result = conn.execute(
        "select transport, topic, reason_kind, quarantined_records, last_ingested_at "
        f"from {GOLD_SCHEMA}.quarantine_summary "
        "order by quarantined_records desc, transport, topic, reason_kind"
    )
    quarantine_columns = tuple(d[0] for d in result.description)
    quarantine_rows = tuple(tuple(r) for r in result.fetchall())
    by_reason = conn.execute(
        f"select reason_kind, sum(quarantined_records)::bigint from {GOLD_SCHEMA}.quarantine_summary "
        "group by reason_kind order by 2 desc, 1"
    ).fetchall()

    freshness = []
    for table in bronze:
        count, latest = conn.execute(
            f'select count(*), max(_ingested_at) from bronze."{table}"'
        ).fetchone() or (
            0,
            None,
        )
        freshness.append(Freshness(table, int(count), latest, (now - latest) if latest else None))

    loaded = conn.execute(f"select max(_loaded_at) from {GOLD_SCHEMA}.posts").fetchone()
    return Health(
        layers=tuple(layers),
        quarantine_columns=quarantine_columns,
        quarantine_rows=quarantine_rows,
        quarantine_by_reason=tuple((str(k), int(v)) for k, v in by_reason),
        lost_values=tuple(lost_values(reader)),
        freshness=tuple(freshness),
        build=latest_build(conn),
        gold_loaded_at=loaded[0] if loaded else None,
        current_versions={name: int(table.version()) for name, table in reader.tables.items()},
    )


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def null_if_placeholder(expression: str, column: str) -> str:
    """SQL: NULL when ``expression`` is a placeholder of ``column`` (dbt's macro of the same name)."""
    exact, prefixes = PLACEHOLDERS.get(column, ((), ()))
    conditions = [f"{expression} in ({', '.join(_literal(v) for v in exact)})"] if exact else []
    conditions += [f"substring({expression}, 1, {len(p)}) = {_literal(p)}" for p in prefixes]
    if not conditions:
        return expression
    return f"case when {' or '.join(conditions)} then null else {expression} end"


def lost_values_sql(model: str) -> str:
    """One model's values lost in cleaning, by column: the count the dbt test
    ``no_values_lost_in_cleaning`` warns with, over every row (not only the latest load's).

    A query of one row: ``ind`` (the bronze deliveries whose index is not a post's, from the index
    column alone), then one count per analysed column. Only the silver rows with a NULL in an analysed
    column can have lost a value: those few are joined with their bronze deliveries (a small hash
    table; bronze streams past it with the key and the analysed columns only), not every row.
    """
    bronze, index_field, columns = LOST_VALUE_CHECKS[model]
    key = "_landing_object, _offset"  # one delivery, whatever the topic incarnation (as the dbt test pairs)
    raw = ", ".join(f"{_quoted(c)} as {_quoted('raw_' + c)}" for c in columns)
    cleaned = ", ".join(f"{_quoted(c)} as {_quoted('cleaned_' + c)}" for c in columns)
    any_null = " or ".join(f"{_quoted(c)} is null" for c in columns)
    counts = ", ".join(
        f"count(*) filter (where {_quoted('cleaned_' + c)} is null and "
        f"{null_if_placeholder(_quoted('raw_' + c), c)} is not null)"
        for c in columns
    )
    return (
        f"select (select count(*) from bronze.{_quoted(bronze)} "
        f"where coalesce(try_cast({_quoted(index_field)} as bigint) < 0, true)), {counts} "
        f"from (select {key}, {cleaned} from silver.{_quoted(model)} where {any_null}) as cleaned "
        f"inner join (select {key}, {raw} from bronze.{_quoted(bronze)}) as raw using ({key})"
    )


def lost_values(reader: WarehouseReader) -> list[LostValues]:
    """Values lost in cleaning per silver model and analysed column (``ind``: deliveries whose index
    is not a post's and never reach silver); models whose silver or bronze table is missing are left out."""
    found = []
    silver = set(_tables(reader.conn, "silver"))
    for model, (bronze, _index, columns) in LOST_VALUE_CHECKS.items():
        if model not in silver or bronze not in reader.tables:
            continue
        row = reader.conn.execute(lost_values_sql(model)).fetchall()[0]
        for column, count in zip(("ind", *columns), row, strict=True):
            found.append(LostValues(model, column, int(count or 0)))
    return found


def latest_build(conn: duckdb.DuckDBPyConnection) -> Build | None:
    """The latest build recorded in BUILDS_TABLE, or None (not recorded: an older warehouse, or one
    dbt built by other means)."""
    try:
        rows = conn.execute(
            "select dbt_command, started_at, finished_at, dbt_exit_code, bronze_table, version_at_start, "
            f"version_at_end from {BUILDS_TABLE} where build_id = (select build_id from {BUILDS_TABLE} "
            "order by finished_at desc limit 1) order by bronze_table"
        ).fetchall()
    except duckdb.CatalogException:
        return None
    if not rows:
        return None
    command, started, finished, exit_code = rows[0][:4]
    return Build(str(command), started, finished, int(exit_code), {str(r[4]): (r[5], r[6]) for r in rows})
