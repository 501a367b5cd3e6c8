"""Bodies of the DAG's Python tasks, free of Airflow so they can be called and tested directly.

Heavy imports (Kafka client, Delta Lake, DuckDB) happen inside the functions, when a task runs, never
when the scheduler parses the DAG file.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from ingestion.settings import Settings

log = logging.getLogger(__name__)

GOLD_SCHEMA = "gold"


def land_from_kafka(settings: Settings) -> dict[str, Any]:
    """Drain the uid's three topics to the raw landing, up to the end offsets seen at the start.

    Offsets are committed only after the objects are durably written, so a retry of this task lands
    exactly what is still missing (design.md §3); the bronze loader drops any overlap.
    """
    from ingestion.kafka_landing import KafkaLanding, LandingReport

    last = [time.monotonic()]

    def progress(report: LandingReport) -> None:
        if time.monotonic() - last[0] >= 10:
            last[0] = time.monotonic()
            log.info("kafka landing: %d records, %d objects so far", report.records, report.objects)

    log.info(
        "draining %s from %s into %s",
        ", ".join(settings.topics.values()),
        settings.kafka_bootstrap,
        settings.lake,
    )
    report = KafkaLanding(settings, client_id="pinpipe-airflow").run(drain=True, progress=progress)
    log.info(report.line())
    return dataclasses.asdict(report)


def load_bronze(settings: Settings) -> dict[str, Any]:
    """Load the new raw landing objects into the bronze Delta tables (objects loaded before are skipped)."""
    from ingestion.bronze import BronzeLoader

    loader = BronzeLoader(settings)
    loader.ensure_tables()
    report = loader.load()
    log.info(report.summary())
    for reason, count in sorted(report.reasons.items()):
        log.warning("quarantined %d: %s", count, reason)
    if "://" not in settings.warehouse:  # dbt-duckdb creates the file, not its folder
        Path(settings.warehouse).expanduser().parent.mkdir(parents=True, exist_ok=True)
    result = dataclasses.asdict(report)
    result["records_loaded"] = report.records_loaded
    return result


def gold_row_counts(warehouse: str | Path) -> dict[str, int]:
    """Rows of every table of the gold schema, read through a read-only DuckDB connection."""
    import duckdb

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


def run_record(
    warehouse: str | Path,
    landed: dict[str, Any] | None,
    loaded: dict[str, Any] | None,
) -> dict[str, Any]:
    """What a run produced: gold row counts, with what was landed from Kafka and loaded into bronze."""
    counts = gold_row_counts(warehouse)
    for table, rows in counts.items():
        log.info("gold.%s: %d rows", table, rows)
    record: dict[str, Any] = {
        "warehouse": str(warehouse),
        "gold_row_counts": counts,
        "landed_records": (landed or {}).get("records"),
        "bronze_records_loaded": (loaded or {}).get("records_loaded"),
        "bronze_records_quarantined": (loaded or {}).get("quarantined"),
    }
    landed_text = (
        "drain skipped" if landed is None else f"{record['landed_records']} records landed from Kafka"
    )
    log.info(
        "run record: %d gold tables, %d rows in gold.posts; %s, %s records loaded into bronze",
        len(counts),
        counts.get("posts", 0),
        landed_text,
        record["bronze_records_loaded"],
    )
    return record
