"""The emulator's posting loop and lake sink: the original's sequence, bounds, rate, stop, concurrency."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path

import orjson
import pytest

from emulator.generate import generate_source_db
from emulator.posting import ORIGINAL_MAX_INDEX, PostingPlan, pick_indexes, post_events
from emulator.sinks import SinkStats, open_sink
from emulator.source import Event, EventSource
from ingestion.errors import PinpipeError
from ingestion.lake import Lake
from ingestion.landing import split_lines
from ingestion.settings import ENTITIES, INDEX_FIELD, Settings

ROWS = 300


@pytest.fixture
def source_db(settings: Settings) -> Settings:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    generate_source_db(settings.source_db_url, rows=ROWS, seed=7)
    return settings


def landed_records(settings: Settings, entity: str) -> list[dict]:
    lake = Lake(settings.lake)
    keys = sorted(o.key for o in lake.list(f"raw/topics/{settings.topic(entity)}/"))
    return [orjson.loads(line) for key in keys for line in split_lines(lake.read_bytes(key))]


class RecordingSink:
    name = "recording"

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.lock = threading.Lock()
        self.closed = False

    def send(self, events):  # type: ignore[no-untyped-def]
        with self.lock:
            self.events.extend(events)

    def stats(self) -> SinkStats:
        return SinkStats(delivered=3 * len(self.events))

    def close(self) -> SinkStats:
        self.closed = True
        return self.stats()


def test_random_picks_reproduce_the_original_sequence() -> None:
    picks = list(itertools.islice(pick_indexes("random", 100, ORIGINAL_MAX_INDEX), 10))
    assert picks == [7528, 2863, 5730, 8304, 8731, 1313, 4315, 10794, 5494, 5069]
    assert list(itertools.islice(pick_indexes("sequential", 0, 2), 7)) == [0, 1, 2, 0, 1, 2, 0]


def test_a_later_day_posts_only_indexes_from_min_index(source_db: Settings) -> None:
    assert list(itertools.islice(pick_indexes("sequential", 0, 4, 3), 4)) == [3, 4, 3, 4]
    assert set(itertools.islice(pick_indexes("random", 100, 9, 7), 200)) == {7, 8, 9}
    sink = RecordingSink()
    plan = PostingPlan(events=50, order="sequential", min_index=ROWS - 50)
    post_events(EventSource(source_db.source_db_url), sink, plan, handle_signals=False)
    assert sorted(event.index for event in sink.events) == list(range(ROWS - 50, ROWS))


def test_events_carry_the_three_records_of_one_index(source_db: Settings) -> None:
    source = EventSource(source_db.source_db_url)
    sink = RecordingSink()
    summary = post_events(source, sink, PostingPlan(events=50, seed=3), handle_signals=False)
    assert summary.events == 50 and summary.stopped_by == "events" and sink.closed
    assert sorted(e.seq for e in sink.events) == list(range(50))
    for event in sink.events:
        for entity in ENTITIES:
            record = orjson.loads(event.records[entity])
            assert record[INDEX_FIELD[entity]] == event.index
    geo = orjson.loads(sink.events[0].records["geo"])
    assert "T" in geo["timestamp"] and len(geo["timestamp"]) == 19  # ISO-8601 seconds


def test_cached_records_hold_only_their_bytes(source_db: Settings) -> None:
    """The source caches up to 200,000 events (600,000 records): the memory they keep must be about
    their bytes, not the 4 KB write buffer orjson leaves behind each, or the cache alone of a day of
    posts takes gigabytes."""
    source = EventSource(source_db.source_db_url)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        records = source.records(range(ROWS))
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    data = sum(len(value) for events in records.values() for value in events.values())
    assert len(records) == ROWS and kept < 2.5 * data, (kept, data)


def test_same_seed_same_landing_different_seed_different(tmp_path: Path, source_db: Settings) -> None:
    def landing(seed: int, name: str) -> list[bytes]:
        settings = Settings(data_dir=source_db.data_dir, lake=str(tmp_path / name))
        post_events(
            EventSource(settings.source_db_url),
            open_sink("lake", settings),
            PostingPlan(events=200, seed=seed),
            handle_signals=False,
        )
        lake = Lake(settings.lake)
        return [lake.read_bytes(o.key) for o in sorted(lake.list("raw/"), key=lambda o: o.key)]

    assert landing(5, "a") == landing(5, "b")
    assert landing(5, "a") != landing(6, "c")


def test_lake_sink_lands_every_record_and_continues_offsets(source_db: Settings) -> None:
    settings = Settings(data_dir=source_db.data_dir, partitions=3, flush_records=40)
    for _ in range(2):
        post_events(
            EventSource(settings.source_db_url),
            open_sink("lake", settings),
            PostingPlan(events=100, order="sequential"),
            handle_signals=False,
        )
    lake = Lake(settings.lake)
    for entity in ENTITIES:
        records = landed_records(settings, entity)
        assert len(records) == 200
        assert Counter(r[INDEX_FIELD[entity]] for r in records) == Counter(list(range(100)) * 2)
    keys = [o.key for o in lake.list(f"raw/topics/{settings.topic('pin')}/partition=1/")]
    first_offsets = sorted(int(k.rsplit("+", 1)[1].split(".")[0]) for k in keys)
    assert first_offsets[0] == 0 and len(set(first_offsets)) == len(first_offsets)


def test_concurrent_workers_post_each_event_once(source_db: Settings) -> None:
    sink = RecordingSink()
    plan = PostingPlan(events=1000, workers=4, batch=37)
    summary = post_events(EventSource(source_db.source_db_url), sink, plan, handle_signals=False)
    assert summary.events == 1000
    assert sorted(e.seq for e in sink.events) == list(range(1000))
    expected = list(itertools.islice(pick_indexes("random", 100, ROWS - 1), 1000))
    assert [e.index for e in sorted(sink.events, key=lambda e: e.seq)] == expected


def test_duration_and_rate_bound_the_run(source_db: Settings) -> None:
    sink = RecordingSink()
    started = time.monotonic()
    summary = post_events(
        EventSource(source_db.source_db_url),
        sink,
        PostingPlan(events=None, duration=0.6, rate=50),
        handle_signals=False,
    )
    assert summary.stopped_by == "duration"
    assert time.monotonic() - started >= 0.6
    assert 1 <= summary.events <= 0.6 * 50 + 5  # paced: never more than the rate allows
    paced = post_events(
        EventSource(source_db.source_db_url),
        RecordingSink(),
        PostingPlan(events=21, rate=50),
        handle_signals=False,
    )
    assert paced.seconds >= 0.39  # event 20 is due at 20/50 s


def test_invalid_plans_fail_clearly(source_db: Settings) -> None:
    source = EventSource(source_db.source_db_url)
    with pytest.raises(PinpipeError, match="bound"):
        post_events(source, RecordingSink(), PostingPlan(events=None), handle_signals=False)
    with pytest.raises(PinpipeError, match="max-index"):
        post_events(source, RecordingSink(), PostingPlan(events=1, max_index=ROWS), handle_signals=False)
    with pytest.raises(PinpipeError, match="min-index"):
        post_events(source, RecordingSink(), PostingPlan(events=1, min_index=ROWS), handle_signals=False)
    with pytest.raises(PinpipeError, match="db build"):
        EventSource(f"sqlite:///{source_db.data_dir / 'missing.db'}")


def test_sigterm_stops_gracefully_and_flushes(source_db: Settings) -> None:
    env = {**os.environ, "PINPIPE_DATA_DIR": str(source_db.data_dir), "PINPIPE_FLUSH_RECORDS": "100000"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pinpipe", "emulate", "--duration", "60", "--rate", "400"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    # SIGTERM once posting runs (its first progress line), not after a fixed sleep: start-up time
    # varies with the machine's load, and a signal before the handlers exist just kills the process
    assert proc.stderr is not None
    seen = []
    deadline = time.monotonic() + 60
    while not any("events posted" in line for line in seen):
        assert time.monotonic() < deadline and proc.poll() is None, "".join(seen)
        seen.append(proc.stderr.readline())
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=30)
    err = "".join(seen) + rest
    assert proc.returncode == 0, err
    assert "stopped by SIGTERM" in err
    sent = int(err.split("emulator: sent ")[1].split(" events")[0].replace(",", ""))
    assert sent > 0
    for entity in ENTITIES:
        assert len(landed_records(source_db, entity)) == sent  # buffered records were flushed
