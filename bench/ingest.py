"""Benchmark of the embedded ingestion path: source DB generation, emulator → lake sink, bronze load.

Each figure is printed with a baseline measured in the same run on the same data, so the ratio means
something on a noisy machine:

* source DB generation (rows/s) vs a bare executemany of the same pre-built rows;
* emulator → lake sink (events/s, three records each) vs a bare loop that serialises the same records
  with json.dumps and appends them to one file per topic;
* bronze load (records/s) vs pyarrow's NDJSON reader + one Delta append of the same objects (no
  validation, no lineage, no quarantine); bytes on disk raw vs bronze.

Run: ``.venv/bin/python bench/ingest.py [--rows 1000000] [--events 200000]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pajson
import sqlalchemy as sa
from deltalake import write_deltalake

from emulator.generate import generate_columns, generate_source_db
from emulator.posting import PostingPlan, post_events
from emulator.schema import TABLES, metadata
from emulator.sinks import open_sink
from emulator.source import EventSource
from ingestion.bronze.loader import BronzeLoader
from ingestion.lake import Lake
from ingestion.settings import ENTITIES, Settings


def folder_bytes(path: Path) -> int:
    """Bytes of every file below a folder."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def bench_generation(work: Path, rows: int) -> None:
    url = f"sqlite:///{work / 'gen.db'}"
    started = time.perf_counter()
    generate_source_db(url, rows=rows, seed=1)
    ours = time.perf_counter() - started

    # Baseline: the same rows, pre-built as Python dicts, inserted the plain SQLAlchemy way
    # (executemany of dicts), on a 200k-row slice to keep the run short.
    sample = min(rows, 200_000)
    columns = generate_columns(rows, seed=1, start=0, stop=sample)
    prepared = {
        entity: [
            dict(zip(cols.keys(), values, strict=True))
            for values in zip(
                *(v.tolist() if hasattr(v, "tolist") else v for v in cols.values()), strict=True
            )
        ]
        for entity, cols in columns.items()
    }
    engine = sa.create_engine(f"sqlite:///{work / 'bare.db'}")
    metadata.create_all(engine)
    started = time.perf_counter()
    with engine.begin() as conn:
        for entity, rows_ in prepared.items():
            conn.execute(TABLES[entity].insert(), rows_)
    bare = (time.perf_counter() - started) / sample * rows
    engine.dispose()
    print(
        f"source DB generation, {rows:,} rows x 3 tables: {rows / ours:,.0f} rows/s ({ours:.1f}s); "
        f"baseline: plain executemany of pre-built dicts (insert only, no generation) "
        f"{rows / bare:,.0f} rows/s; "
        f"ratio ours/bare time {ours / bare:.2f}"
    )


def bench_emulator(work: Path, db_rows: int, events: int) -> Settings:
    settings = Settings(data_dir=work / "emu")
    settings.data_dir.mkdir(parents=True)
    generate_source_db(settings.source_db_url, rows=db_rows, seed=0)
    source = EventSource(settings.source_db_url)
    source.records(range(db_rows))  # warm the cache for both contenders
    summary = post_events(
        source, open_sink("lake", settings), PostingPlan(events=events, seed=100), handle_signals=False
    )
    ours = summary.seconds

    import random

    rng = random.Random(100)
    picks = [rng.randint(0, db_rows - 1) for _ in range(events)]
    records = {i: {e: json.loads(v) for e, v in r.items()} for i, r in source.records(range(db_rows)).items()}
    out = work / "bare"
    out.mkdir()
    started = time.perf_counter()
    handles = {e: open(out / f"{e}.json", "w") for e in ENTITIES}  # noqa: SIM115
    for index in picks:
        for entity in ENTITIES:
            handles[entity].write(json.dumps(records[index][entity]) + "\n")
    for handle in handles.values():
        handle.close()
    bare = time.perf_counter() - started
    print(
        f"emulator -> lake sink, {events:,} events: {events / ours:,.0f} events/s "
        f"({3 * events / ours:,.0f} records/s); "
        f"bare json.dumps + file write loop {events / bare:,.0f} events/s; "
        f"ratio ours/bare rate {bare / ours:.2f}"
    )
    return settings


def bench_bronze(settings: Settings, work: Path) -> None:
    lake = Lake(settings.lake)
    raw_bytes = folder_bytes(Path(settings.lake) / "raw")
    started = time.perf_counter()
    report = BronzeLoader(settings).load()
    ours = time.perf_counter() - started
    records = report.records_loaded + report.quarantined
    bronze_bytes = folder_bytes(Path(settings.lake) / "bronze")

    started = time.perf_counter()
    for entity in ENTITIES:
        tables = [
            pajson.read_json(Path(settings.lake) / o.key)
            for o in lake.list(f"raw/topics/{settings.topic(entity)}/")
        ]
        write_deltalake(str(work / f"bare-{entity}"), pa.concat_tables(tables, promote_options="permissive"))
    bare = time.perf_counter() - started
    print(
        f"bronze load, {records:,} records: {records / ours:,.0f} records/s ({ours:.1f}s); "
        f"bare pyarrow read_json + Delta append {records / bare:,.0f} records/s; ratio ours/bare time "
        f"{ours / bare:.2f}"
    )
    print(
        f"bytes on disk: raw {raw_bytes / 1e6:,.1f} MB, bronze {bronze_bytes / 1e6:,.1f} MB "
        f"(bronze/raw {bronze_bytes / raw_bytes:.2f}; bronze keeps the raw JSON text too)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows for the generation benchmark")
    parser.add_argument("--db-rows", type=int, default=11_153, help="source DB rows for the emulator")
    parser.add_argument("--events", type=int, default=200_000, help="events for emulator and bronze")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pinpipe-bench-"))
    try:
        bench_generation(work, args.rows)
        settings = bench_emulator(work, args.db_rows, args.events)
        bench_bronze(settings, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
