"""Benchmark of the bronze load: the bulk loader, the per-line loader and a bare baseline, in one run
on the same landing objects.

* (a) baseline: pyarrow's NDJSON reader over every object (types inferred, its own threads), then one
  Delta append per entity table (``write_deltalake(mode="append")``); no validation, lineage,
  quarantine, raw JSON or ledger;
* (b) the bulk loader (``PINPIPE_BRONZE_LOADER=bulk``, the default);
* (c) the per-line loader (``PINPIPE_BRONZE_LOADER=per-line``, the loader before the bulk one).

The landing is written once by the emulator through the lake sink (real records, 10,000 per object);
each contender loads a fresh copy of it (in the page cache) into empty tables. A warm-up load of a
small landing comes first, so that no contender pays the libraries' start-up (imports, Arrow's
kernels). With ``--hostile N``, every N-th record of each object is replaced by a bad one (it goes to
quarantine), so the bulk loader's per-line fallback is measured too. Figures are records per second
of wall time, and per CPU second (all threads; what other work on a busy machine disturbs least);
the machine's load average is printed with them.

With ``--write-costs``, the Delta appends are also timed on their own: the tables the bulk loader
wrote (with and without the raw JSON column) and the baseline's tables, each appended once per
entity to a new table, in CPU seconds.

Run: ``.venv/bin/python bench/bronze.py [--events 400000] [--repeat 1] [--hostile 0] [--write-costs]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset  # imported before timing: the loaders read the ledger with it
import pyarrow.json as pajson
from deltalake import write_deltalake

from emulator.generate import generate_source_db
from emulator.posting import PostingPlan, post_events
from emulator.sinks import open_sink
from emulator.source import EventSource
from ingestion.bronze.loader import BronzeLoader
from ingestion.bronze.tables import WRITER_PROPERTIES, read_table
from ingestion.lake import Lake
from ingestion.landing import split_lines
from ingestion.settings import ENTITIES, Settings

BAD_RECORDS = [b'{"index": "1.5"}', b"not json", b'{"ind": 9223372036854775808}', b"\xff\xfe"]


def make_landing(folder: Path, events: int, hostile: int) -> tuple[Settings, int]:
    """A landing of ``events`` post events (three records each); returns its settings and records."""
    settings = Settings(data_dir=folder)
    folder.mkdir(parents=True)
    generate_source_db(settings.source_db_url, rows=11_153, seed=0)
    source = EventSource(settings.source_db_url)
    post_events(
        source, open_sink("lake", settings), PostingPlan(events=events, seed=100), handle_signals=False
    )
    raw = Path(settings.lake) / "raw"
    records = 0
    for path in sorted(raw.rglob("*.json")):
        lines = split_lines(path.read_bytes())
        if hostile:
            lines = [
                BAD_RECORDS[i % len(BAD_RECORDS)] if i % hostile == 0 else v for i, v in enumerate(lines)
            ]
            path.write_bytes(b"".join(line + b"\n" for line in lines))
        records += len(lines)
    return settings, records


def fresh_copy(landing: Settings, work: Path, name: str) -> Settings:
    target = work / name
    shutil.copytree(Path(landing.lake) / "raw", target / "lake" / "raw")
    return Settings(data_dir=target)


def bare_tables(settings: Settings) -> dict[str, pa.Table]:
    """Every landing object of each entity read by pyarrow's NDJSON reader (types inferred)."""
    lake = Lake(settings.lake)
    return {
        entity: pa.concat_tables(
            [
                pajson.read_json(Path(settings.lake) / o.key)
                for o in lake.list(f"raw/topics/{settings.topic(entity)}/")
            ],
            promote_options="permissive",
        )
        for entity in ENTITIES
    }


def baseline(settings: Settings, work: Path) -> None:
    """(a): pyarrow NDJSON reader + one Delta append per entity."""
    for entity, table in bare_tables(settings).items():
        write_deltalake(str(work / f"bare-{entity}"), table, mode="append")


def write_costs(landing: Settings, work: Path) -> None:
    """CPU seconds of the appends alone: bronze's tables (with and without ``_raw_json``) and the
    baseline's, each written once per entity to a new table (best of three)."""
    settings = fresh_copy(landing, work, "write-costs")
    BronzeLoader(settings).load()
    bronze = {entity: read_table(settings, entity) for entity in ENTITIES}
    bare = bare_tables(settings)
    variants = {
        "bronze's tables": (bronze, WRITER_PROPERTIES),
        "bronze's tables without _raw_json": (
            {entity: table.drop_columns(["_raw_json"]) for entity, table in bronze.items()},
            WRITER_PROPERTIES,
        ),
        "the baseline's tables": (bare, None),
    }
    print("  appends alone (CPU seconds of one append per entity):")
    for number, (name, (tables, properties)) in enumerate(variants.items()):
        best = float("inf")
        for attempt in range(3):
            cpu = time.process_time()
            for entity, table in tables.items():
                target = work / "write-costs" / f"{number}-{attempt}-{entity}"
                write_deltalake(str(target), table, mode="append", writer_properties=properties)
            best = min(best, time.process_time() - cpu)
        print(f"    {name:40s} {best:.2f}")
    shutil.rmtree(work / "write-costs", ignore_errors=True)


def loader(kind: str) -> Callable[[Settings, Path], None]:
    def run(settings: Settings, _work: Path) -> None:
        BronzeLoader(settings, loader=kind).load()

    return run


def timed(
    run: Callable[[Settings, Path], None], landing: Settings, work: Path, name: str
) -> tuple[float, float]:
    """Wall and CPU seconds (all threads of the process) of one load."""
    settings = fresh_copy(landing, work, name)
    BronzeLoader(settings).ensure_tables()  # table creation is not part of a load
    started, cpu = time.perf_counter(), time.process_time()
    run(settings, work / name)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    shutil.rmtree(work / name, ignore_errors=True)
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=400_000, help="post events (three records each)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each contender (the best counts)")
    parser.add_argument("--hostile", type=int, default=0, help="make every N-th record bad (0: none)")
    parser.add_argument("--skip-per-line", action="store_true", help="do not run the per-line loader")
    parser.add_argument("--write-costs", action="store_true", help="also time the Delta appends alone")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pinpipe-bench-bronze-"))
    try:
        warm, _ = make_landing(work / "warm", 2_000, args.hostile)
        landing, records = make_landing(work / "landing", args.events, args.hostile)
        size = sum(p.stat().st_size for p in (Path(landing.lake) / "raw").rglob("*") if p.is_file())
        contenders: dict[str, Callable[[Settings, Path], None]] = {
            "(a) pyarrow read_json + Delta append": baseline,
            "(b) bulk loader": loader("bulk"),
        }
        if not args.skip_per_line:
            contenders["(c) per-line loader"] = loader("per-line")
        for run in contenders.values():
            timed(run, warm, work, "warm-up")
        best: dict[str, tuple[float, float]] = {}
        for _ in range(args.repeat):
            for name, run in contenders.items():
                elapsed = timed(run, landing, work, "run")
                best[name] = min(best.get(name, elapsed), elapsed)
        load = os.getloadavg()
        print(
            f"bronze load of {records:,} records ({args.events:,} events, {size / 1e6:,.0f} MB in "
            f"{len(list((Path(landing.lake) / 'raw').rglob('*.json'))):,} objects"
            f"{f', every {args.hostile}th record bad' if args.hostile else ''}); "
            f"{os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
        )
        for name, (seconds, cpu) in best.items():
            print(
                f"  {name:40s} {records / seconds:>10,.0f} records/s ({seconds:.2f} s wall, "
                f"{cpu:.2f} s CPU: {records / cpu:,.0f} records per CPU second)"
            )
        (base, base_cpu), (bulk, bulk_cpu) = (
            best["(a) pyarrow read_json + Delta append"],
            best["(b) bulk loader"],
        )
        print(f"  bulk / baseline: rate {base / bulk:.2f}, CPU efficiency {base_cpu / bulk_cpu:.2f}")
        if "(c) per-line loader" in best:
            line, line_cpu = best["(c) per-line loader"]
            print(f"  bulk / per-line: rate {line / bulk:.2f}, CPU efficiency {line_cpu / bulk_cpu:.2f}")
        if args.write_costs:
            write_costs(landing, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
