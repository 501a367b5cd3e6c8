"""The pipeline's steps, written once: the `pinpipe` CLI and the Airflow DAG both call these.

Each step takes the one settings object and a :class:`Reporter` that tells a person what happens:
log lines by default (what an Airflow task shows), lines and progress bars on a terminal for the CLI.
This module is the composition root: it is the one place that puts the emulator and the ingestion
together, so neither of them imports the other's callers.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emulator.generate import existing_generation, generate_source_db
from emulator.posting import PostingPlan, PostingSummary, post_events
from emulator.sinks import SinkStats, open_sink
from emulator.source import EventSource
from ingestion.bronze.batch import LoadReport
from ingestion.bronze.loader import BronzeLoader, compact
from ingestion.errors import PinpipeError
from ingestion.lake import Lake
from ingestion.landing import landed_indexes
from ingestion.locks import WriterLock
from ingestion.settings import INDEX_FIELD, Settings
from pinpipe.report.data import read_report
from pinpipe.report.html import write_html
from pinpipe.warehouse.dbt_runner import ROUTINE_BUILD, run_dbt
from pinpipe.warehouse.reader import gold_report, gold_row_counts

if TYPE_CHECKING:  # the kafka extra; imported where a step needs it
    from ingestion.kafka.landing import LandingReport

log = logging.getLogger("pinpipe")


class Reporter:
    """Where a step's progress goes. This one logs (an Airflow task's log); the CLI's prints."""

    def info(self, message: str) -> None:
        """One line about what happened."""
        log.info(message)

    def warning(self, message: str) -> None:
        """One line about something a person should look at."""
        log.warning(message)

    @contextmanager
    def progress(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        """A progress counter for ``total`` units of work: call the yielded function with each step."""
        del label, total
        yield lambda _step: None


LOG = Reporter()
"""The default reporter: log lines only."""


def build_source_db(
    settings: Settings, rows: int, seed: int, *, force: bool = False, reporter: Reporter = LOG
) -> None:
    """Generate the emulator's source DB unless it already holds exactly this generation.

    A DB of another generation (other rows or seed) is refused unless ``force``: regenerating it under
    a lake that already holds its events would mix two generations in one lake, silently.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    existing = existing_generation(settings.source_db_url)
    if existing == (rows, seed) and not force:
        reporter.info(f"source db: {rows:,} rows from seed {seed} already in {settings.source_db_url}")
        return
    if existing is not None and not force:
        raise PinpipeError(
            f"the source DB {settings.source_db_url} holds {existing[0]:,} rows from seed {existing[1]}, "
            f"not {rows:,} rows from seed {seed}: its lake would mix two generations. Use another "
            "--data-dir, or --force to regenerate it anyway"
        )
    with reporter.progress("source db", rows) as step:
        done = [0]

        def progress(rows_done: int) -> None:
            step(rows_done - done[0])
            done[0] = rows_done

        report = generate_source_db(settings.source_db_url, rows=rows, seed=seed, progress=progress)
    reporter.info(
        f"source db: {report.rows:,} rows per table in {report.seconds:.1f}s "
        f"({report.rows / max(report.seconds, 1e-9):,.0f} rows/s) → {settings.source_db_url}"
    )


def emulate(
    settings: Settings, plan: PostingPlan, sink_name: str, *, reporter: Reporter = LOG
) -> PostingSummary:
    """Post events under ``plan`` to the named sink, with a progress line every few seconds.

    Raises PinpipeError when records could not be delivered after the sink's retries.
    """
    plan.check()
    source = EventSource(settings.source_db_url)
    last = [time.monotonic()]

    def progress(events: int, stats: SinkStats) -> None:
        if time.monotonic() - last[0] >= 2:
            last[0] = time.monotonic()
            reporter.info(f"emulator: {events:,} events posted, {stats.delivered:,} records delivered")

    try:
        summary = post_events(source, open_sink(sink_name, settings), plan, progress=progress)
    finally:
        source.close()
    reporter.info(summary.line())
    if summary.records_failed:
        raise PinpipeError(f"{summary.records_failed:,} records could not be delivered")
    return summary


def post_once(
    settings: Settings,
    *,
    rows: int,
    db_seed: int,
    events: int,
    seed: int,
    repost: bool = False,
    via: str = "lake",
    reporter: Reporter = LOG,
) -> PostingSummary | None:
    """Post the first ``events`` events of the seeded sequence, unless a finished run already did.

    A marker under ``<lake>/_state/`` records a finished posting; re-running the main job therefore
    adds nothing to the lake, and every step after it finds nothing new (idempotent). ``repost``
    sends them again, as a restart of the original emulator did (silver counts each post once).
    A posting that was interrupted (its start marker is there, its end marker is not) resumes through
    the lake sink: the indexes whose pin, geo and user records are all in the lake are not posted
    again, so the lake ends as a whole run would leave it, less the duplicates. Returns None when
    nothing was posted.
    """
    lake = Lake(settings.lake)
    marker = f"_state/emulator/{settings.uid}/{via}_db-{rows}-{db_seed}_seed-{seed}_events-{events}.json"
    started = marker.removesuffix(".json") + ".started"
    if lake.exists(marker) and not repost:
        reporter.info(
            f"emulator: these {events:,} events were posted before ({marker}); use --repost to send again"
        )
        return None
    skip: frozenset[int] = frozenset()
    if via == "lake" and not repost and lake.exists(started):
        skip = frozenset(complete_indexes(settings))
        reporter.info(
            f"emulator: resuming an interrupted posting; {len(skip):,} indexes are complete in the lake "
            "and are not posted again"
        )
    lake.write_bytes(started, b"{}")
    plan = PostingPlan(events=events, seed=seed, skip_indexes=skip)
    summary = emulate(settings, plan, via, reporter=reporter)
    lake.write_bytes(marker, json.dumps({"events": summary.events, "seconds": summary.seconds}).encode())
    return summary


def complete_indexes(settings: Settings) -> set[int]:
    """The event indexes whose pin, geo and user records are all in the lake's raw landing."""
    lake = Lake(settings.lake)
    found = [landed_indexes(lake, settings.topic(e), INDEX_FIELD[e]) for e in settings.topics]
    return set.intersection(*found)


def land_from_kafka(
    settings: Settings,
    *,
    drain: bool = True,
    stop: threading.Event | None = None,
    client_id: str = "pinpipe-landing",
    reporter: Reporter = LOG,
) -> LandingReport:
    """Consume the uid's three topics into the raw landing (offsets committed after durable writes).

    ``drain`` lands up to the end offsets seen at the start, then returns; otherwise it runs until
    ``stop`` is set. A retry lands exactly what is still missing; the bronze loader drops any overlap.
    """
    from ingestion.kafka.landing import KafkaLanding  # kafka extra

    last = [time.monotonic()]

    def progress(report: LandingReport) -> None:
        if time.monotonic() - last[0] >= 5:
            last[0] = time.monotonic()
            reporter.info(f"kafka landing: {report.records:,} records, {report.objects:,} objects so far")

    report = KafkaLanding(settings, client_id=client_id).run(drain=drain, stop=stop, progress=progress)
    reporter.info(
        f"{report.line()} ({', '.join(settings.topics.values())} from {settings.kafka_bootstrap} "
        f"into {settings.lake})"
    )
    return report


def load_bronze(settings: Settings, *, reporter: Reporter = LOG) -> LoadReport:
    """Load the new raw landing objects into the bronze Delta tables (objects loaded before are skipped)."""
    with WriterLock(Lake(settings.lake), "bronze", notify=reporter.info):  # before any progress shows
        return _load_bronze(settings, reporter=reporter)


def _load_bronze(settings: Settings, *, reporter: Reporter) -> LoadReport:
    loader = BronzeLoader(settings)
    loader.ensure_tables()
    todo, _ = loader.pending_objects()
    with reporter.progress("bronze", len(todo)) as step:
        report = loader.load(progress=step)
    reporter.info(report.summary())
    for reason, count in sorted(report.reasons.items()):
        reporter.warning(f"  quarantined {count:,}: {reason}")
    for ignored in report.ignored:
        reporter.warning(f"  ignored: {ignored}")
    if report.objects_ignored > len(report.ignored):
        reporter.warning(f"  ... and {report.objects_ignored - len(report.ignored):,} more ignored objects")
    for key in report.unrecognised:
        reporter.warning(f"  not a landing object name, its lines quarantined: {key}")
    if report.objects_unrecognised > len(report.unrecognised):
        more = report.objects_unrecognised - len(report.unrecognised)
        reporter.warning(f"  ... and {more:,} more objects not named as landing objects")
    if report.conflicts:
        reporter.warning(
            f"  {report.conflicts:,} records arrived at a topic incarnation, partition and offset bronze "
            "already held with other bytes (a re-created topic without its ID, a reset producer, a "
            "second writer?): they are in bronze.quarantine as offset_conflict"
        )
    return report


def compact_bronze(settings: Settings, *, reporter: Reporter = LOG) -> None:
    """Merge the small files of every bronze table (Delta OPTIMIZE compaction)."""
    for table, metrics in compact(settings).items():
        reporter.info(
            f"compact {table}: {metrics.get('numFilesRemoved', 0)} files → {metrics.get('numFilesAdded', 0)}"
        )


def build_warehouse(
    settings: Settings, args: list[str] | None = None, *, quiet: bool = False, reporter: Reporter = LOG
) -> None:
    """Run dbt on the project (by default the routine build: models and data tests)."""
    reporter.info("dbt: building silver and gold (with data tests)")
    run_dbt(settings, list(args) if args else list(ROUTINE_BUILD), quiet=quiet)


def record_run(
    settings: Settings,
    landed: dict[str, Any] | None,
    loaded: dict[str, Any] | None,
    *,
    reporter: Reporter = LOG,
) -> dict[str, Any]:
    """What a run produced: gold row counts, with what was landed from Kafka and loaded into bronze."""
    counts = gold_row_counts(settings.warehouse)
    for table, rows in counts.items():
        reporter.info(f"gold.{table}: {rows} rows")
    record: dict[str, Any] = {
        "warehouse": str(settings.warehouse),
        "gold_row_counts": counts,
        "landed_records": (landed or {}).get("records"),
        "bronze_records_loaded": (loaded or {}).get("records_loaded"),
        "bronze_records_quarantined": (loaded or {}).get("quarantined"),
    }
    landed_text = (
        "drain skipped" if landed is None else f"{record['landed_records']} records landed from Kafka"
    )
    reporter.info(
        f"run record: {len(counts)} gold tables, {counts.get('posts', 0)} rows in gold.posts; "
        f"{landed_text}, {record['bronze_records_loaded']} records loaded into bronze"
    )
    return record


def load_report_record(report: LoadReport) -> dict[str, Any]:
    """A bronze load's report as plain values (an Airflow XCom), with the records loaded."""
    result = asdict(report)
    result["records_loaded"] = report.records_loaded
    return result


@dataclass(frozen=True)
class MainJob:
    """What the main job (`pinpipe run`, `make run`) does: how much it generates and posts, and how."""

    rows: int = 11_153
    db_seed: int = 0
    events: int = 5_000
    seed: int = 100
    repost: bool = False
    via: str = "lake"
    quiet_dbt: bool = False
    force: bool = False
    """Regenerate a source DB of another generation (see build_source_db)."""


@dataclass
class MainJobOutcome:
    """What the main job printed last (the gold report and the page's path), and the records the bronze
    load found in conflict with bronze (quarantined; the command's exit status says so)."""

    text: str
    conflicts: int = 0


def run_main_job(settings: Settings, job: MainJob, *, reporter: Reporter = LOG) -> MainJobOutcome:
    """Source DB → emulator → raw landing (directly or through Kafka) → bronze → dbt → the HTML
    report ``<data folder>/report.html``; returns the gold report and that page's path.

    One main job per lake at a time: it holds the lake's ``main-job`` lock throughout (a second one is
    refused with LockHeld, or waits with ``pinpipe --wait``), and each step takes its own lock too.
    """
    with WriterLock(Lake(settings.lake), "main-job", notify=reporter.info):
        return _run_main_job(settings, job, reporter=reporter)


def _run_main_job(settings: Settings, job: MainJob, *, reporter: Reporter) -> MainJobOutcome:
    started = time.monotonic()
    build_source_db(settings, job.rows, job.db_seed, force=job.force, reporter=reporter)
    post_once(
        settings,
        rows=job.rows,
        db_seed=job.db_seed,
        events=job.events,
        seed=job.seed,
        repost=job.repost,
        via=job.via,
        reporter=reporter,
    )
    if job.via == "kafka":
        land_from_kafka(settings, drain=True, reporter=reporter)
    loaded = load_bronze(settings, reporter=reporter)
    build_warehouse(settings, quiet=job.quiet_dbt, reporter=reporter)
    report = gold_report(settings)
    page = write_report_page(settings)
    elapsed = time.monotonic() - started
    reporter.info(f"run: done in {elapsed:.1f}s; lake {settings.lake}; warehouse {settings.warehouse}")
    return MainJobOutcome(f"{report}\nreport with charts and the run's health: {page}", loaded.conflicts)


def write_report_page(settings: Settings) -> Path:
    """Write ``<data folder>/report.html``: the gold answers as charts and tables, and the run's health."""
    return write_html(read_report(settings), settings.data_dir / "report.html")


def ensure_warehouse_folder(settings: Settings) -> None:
    """dbt-duckdb creates the warehouse file, not its folder."""
    if "://" not in settings.warehouse:
        Path(settings.warehouse).expanduser().parent.mkdir(parents=True, exist_ok=True)
