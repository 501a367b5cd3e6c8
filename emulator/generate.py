"""Vectorised, deterministic generator of the emulated source database.

Rows are produced in fixed blocks of :data:`BLOCK_ROWS` rows. Each block has its own random stream derived
from ``(seed, block number)``, and the recurring people and poster accounts come from pools derived from
``(seed, rows)``. The values of row ``k`` therefore depend only on ``(rows, seed, k)``: generating
``[0, n)`` in one call or in any number of pieces gives identical rows.

The random draws are in :mod:`emulator.draws`, their rendering into column values in
:mod:`emulator.columns`; this module serves row ranges and writes the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from emulator.columns import geo_columns, pin_columns, user_columns
from emulator.draws import BLOCK_ROWS, build_pools, build_vocab, draw_block
from emulator.schema import META_ROWS, META_SEED, META_VERSION, TABLES, metadata, source_meta

GENERATOR_VERSION = "1"
"""Bumped whenever a change alters the generated values for a given (rows, seed)."""

DEFAULT_ROWS = 11_153

ProgressFn = Callable[[int], None]
Columns = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class GenerationReport:
    """Outcome of :func:`generate_source_db`."""

    rows: int
    seed: int
    seconds: float
    url: str


def _concat(parts: list[Columns]) -> Columns:
    """Concatenate per-block column dicts (numpy arrays with numpy, lists with lists)."""
    if len(parts) == 1:
        return parts[0]
    out: Columns = {}
    for entity, cols in parts[0].items():
        out[entity] = {}
        for name, first in cols.items():
            pieces = [p[entity][name] for p in parts]
            if isinstance(first, np.ndarray):
                out[entity][name] = np.concatenate(pieces)
            else:
                out[entity][name] = [v for piece in pieces for v in piece]
    return out


class SourceGenerator:
    """Generator bound to ``(rows, seed)``; builds the pools once, then serves any row range.

    Use this instead of :func:`generate_columns` when asking for many ranges of the same database.
    """

    def __init__(self, rows: int = DEFAULT_ROWS, seed: int = 0) -> None:
        """Validate the parameters and draw the person and poster pools."""
        if rows < 1:
            raise ValueError(f"rows must be >= 1, got {rows}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.rows = rows
        self.seed = seed
        self._vocab = build_vocab()
        self._pools = build_pools(rows, seed, self._vocab)

    def columns(self, start: int = 0, stop: int | None = None) -> Columns:
        """Return the columns of rows [start, stop) for "pin", "geo" and "user" (see generate_columns)."""
        stop = self.rows if stop is None else stop
        if not 0 <= start <= stop <= self.rows:
            raise ValueError(
                f"need 0 <= start <= stop <= rows, got start={start} stop={stop} rows={self.rows}"
            )
        parts: list[Columns] = []
        first = start // BLOCK_ROWS
        for block in range(first, max(first + 1, -(-stop // BLOCK_ROWS))):
            base = block * BLOCK_ROWS
            lo, hi = max(start, base) - base, min(stop, base + BLOCK_ROWS) - base
            draws = draw_block(self.seed, block, self._pools, self._vocab).slice(lo, hi)
            index = np.arange(base + lo, base + hi, dtype=np.int64)
            parts.append(
                {
                    "pin": pin_columns(draws, index, self._pools, self._vocab),
                    "geo": geo_columns(draws, index, self._pools),
                    "user": user_columns(draws, index, self._pools),
                }
            )
        return _concat(parts)


def generate_columns(rows: int, seed: int, start: int = 0, stop: int | None = None) -> Columns:
    """Return the columns of rows [start, stop) of the (rows, seed) source database.

    Result: ``{"pin": {...}, "geo": {...}, "user": {...}}`` with column names as in
    :mod:`emulator.schema`. Integer and float columns (``index``, ``ind``, ``downloaded``, ``age``,
    ``latitude``, ``longitude``) and the datetime columns (``timestamp``, ``date_joined``, as naive
    ``datetime64[s]``) are numpy arrays; string columns are lists of ``str``. A row's values do not depend
    on how the range is split into calls.
    """
    return SourceGenerator(rows, seed).columns(start, stop)


def _as_python(values: Any) -> list[Any]:
    """Convert a column (numpy array or list) to a list of plain Python values for the DB driver."""
    if isinstance(values, np.ndarray):
        if np.issubdtype(values.dtype, np.datetime64):
            return values.astype("datetime64[us]").astype(object).tolist()
        return values.tolist()
    return list(values)


def _insert(conn: sa.Connection, table: sa.Table, columns: dict[str, Any]) -> None:
    """Insert columns into ``table`` with one executemany (driver-level for positional paramstyles)."""
    names = [c.name for c in table.columns]
    data = {name: _as_python(columns[name]) for name in names}
    dialect = conn.dialect
    compiled = table.insert().compile(dialect=dialect)
    order = compiled.positiontup
    if not dialect.positional or order is None or sorted(order) != sorted(names):
        conn.execute(
            table.insert(),
            [dict(zip(names, row, strict=True)) for row in zip(*(data[n] for n in names), strict=True)],
        )
        return
    for name in names:
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            data[name] = [processor(v) for v in data[name]]
    conn.exec_driver_sql(compiled.string, list(zip(*(data[n] for n in order), strict=True)))


def _recreate_tables(engine: sa.Engine) -> None:
    """Drop the meta table first (so a half-built database never looks complete), then re-create all."""
    with engine.begin() as conn:
        source_meta.drop(conn, checkfirst=True)
        for table in TABLES.values():
            table.drop(conn, checkfirst=True)
        metadata.create_all(conn)


def _write_meta(engine: sa.Engine, rows: int, seed: int) -> None:
    """Record the generation parameters (written last, after all rows are in)."""
    entries = {META_SEED: str(seed), META_ROWS: str(rows), META_VERSION: GENERATOR_VERSION}
    with engine.begin() as conn:
        conn.execute(source_meta.delete())
        conn.execute(source_meta.insert(), [{"key": k, "value": v} for k, v in entries.items()])


def generate_source_db(
    url: str,
    rows: int = DEFAULT_ROWS,
    seed: int = 0,
    *,
    progress: ProgressFn | None = None,
) -> GenerationReport:
    """Drop and re-create the source tables at ``url`` and fill them with ``rows`` rows each.

    Inserts in chunks of :data:`BLOCK_ROWS` rows (one transaction per chunk) and calls
    ``progress(rows_done)`` after each chunk. On SQLite the load runs with ``synchronous=OFF`` and WAL;
    the journal mode is set back to ``DELETE`` at the end so the result is a single self-contained file.
    """
    started = time.perf_counter()
    generator = SourceGenerator(rows, seed)
    engine = sa.create_engine(url)
    try:
        _recreate_tables(engine)
        sqlite = engine.dialect.name == "sqlite"
        with engine.connect() as conn:
            if sqlite:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
                conn.exec_driver_sql("PRAGMA synchronous=OFF")
            for start in range(0, rows, BLOCK_ROWS):
                stop = min(rows, start + BLOCK_ROWS)
                cols = generator.columns(start, stop)
                for entity, table in TABLES.items():
                    _insert(conn, table, cols[entity])
                conn.commit()
                if progress is not None:
                    progress(stop)
            if sqlite:
                conn.exec_driver_sql("PRAGMA journal_mode=DELETE")
        _write_meta(engine, rows, seed)
    finally:
        engine.dispose()
    return GenerationReport(rows=rows, seed=seed, seconds=time.perf_counter() - started, url=url)


def _missing_sqlite_file(url: str) -> bool:
    """True for an SQLite file URL whose file does not exist (opening it would create it)."""
    parsed = sa.make_url(url)
    database = parsed.database
    if not parsed.drivername.startswith("sqlite") or not database or database == ":memory:":
        return False
    if database.startswith("file:"):
        return False  # URI filenames: let SQLite decide
    return not Path(database).exists()


def existing_generation(url: str) -> tuple[int, int] | None:
    """Return ``(rows, seed)`` of a database generated by this generator version, else None.

    None when the meta table or any source table is missing, or when the recorded generator version
    differs from :data:`GENERATOR_VERSION` (the rows would not match a fresh generation).
    """
    if _missing_sqlite_file(url):
        return None
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        needed = [source_meta.name, *(t.name for t in TABLES.values())]
        if not all(inspector.has_table(name) for name in needed):
            return None
        with engine.connect() as conn:
            rows = conn.execute(sa.select(source_meta.c.key, source_meta.c.value)).all()
        meta = {str(key): str(value) for key, value in rows}
    finally:
        engine.dispose()
    if meta.get(META_VERSION) != GENERATOR_VERSION:
        return None
    try:
        return int(meta[META_ROWS]), int(meta[META_SEED])
    except (KeyError, ValueError):
        return None
