"""Benchmark of the Kafka path: emulator → Kafka sink, Kafka → raw landing, landing → bronze.

Starts its own single-node Kafka broker (:class:`LocalKafka`, 127.0.0.1 only) in a temp dir, creates
topics with 6 partitions, warms the broker up, and prints each figure with a baseline measured in the
same run:

1. producer: the emulator's KafkaSink (through post_events) posting random picks from an 11,153-row
   source DB, three records per event (the EventSource cache is warmed first, so DB reads are not
   measured), vs a bare kafka-python loop sending the same record bytes keyed by index with the same
   settings (PRODUCER_TUNING and the same compression) to other topics, then flushing;
2. consumer → landing: KafkaLanding.run(drain=True) on the sink's topics vs a bare KafkaConsumer loop
   (another group id, the same fetch settings) that polls and discards them to the end;
3. landing → bronze: BronzeLoader.load() on what step 2 landed;
4. the client library's own limits: which CRC32C kafka-python uses (it checksums every record batch it
   produces or consumes) and how fast it is, the bare kafka-python consumer without CRC checks, the bare
   kafka-python producer without compression and, when ``confluent-kafka`` is importable, the same bare
   produce and consume loops with it (librdkafka). The script runs without confluent-kafka and says so.

Every contender uses its own uid (topic prefix) and consumer group, so topics never mix. Rates count
from the first record sent (or the consumer's creation) to the last record flushed (or consumed). The
bare produce loops run in a worker thread, as post_events runs the sink (see in_worker_thread).

Run: ``.venv/bin/python bench/kafka_pipeline.py [--records 1000000] [--partitions 6]``.
"""

from __future__ import annotations

import argparse
import gc
import math
import shutil
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any

from emulator.generate import generate_source_db
from emulator.posting import PostingPlan, pick_indexes, post_events
from emulator.sinks.kafka import KafkaSink
from emulator.source import EventSource
from ingestion.bronze import BronzeLoader
from ingestion.kafka_landing import KafkaLanding
from ingestion.kafka_producer import PRODUCER_TUNING
from ingestion.kafka_topics import ensure_topics
from ingestion.local_services.kafka import LocalKafka
from ingestion.settings import ENTITIES, Settings

DB_ROWS = 11_153
SEED = 100
WARMUP_RECORDS = 30_000

CONSUMER_FETCH: dict[str, Any] = {
    "enable_auto_commit": False,
    "auto_offset_reset": "earliest",
    "max_partition_fetch_bytes": 8 * 1024 * 1024,
    "fetch_max_bytes": 64 * 1024 * 1024,
    "max_poll_records": 5_000,
    "session_timeout_ms": 6_000,
    "heartbeat_interval_ms": 2_000,
}
"""The landing consumer's fetch settings (ingestion/kafka_landing.py), for the bare consumers."""

Records = dict[int, dict[str, bytes]]
"""Index → entity → the record's JSON bytes: the warmed EventSource cache."""

STOP = threading.Event()
"""Set when the run is interrupted: the produce loops in worker threads end early."""


def in_worker_thread(work: Callable[[], float]) -> float:
    """Run ``work`` in a worker thread and return its result.

    post_events sends from a worker thread, and the same kafka-python send loop measured 15-50 % slower
    here when run in the main thread, so every produce loop runs in a worker thread for a fair baseline.
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-producer")
    try:
        return pool.submit(work).result()
    except BaseException:  # Ctrl-C or SIGTERM: end the loop early, then the broker is stopped
        STOP.set()
        raise
    finally:
        pool.shutdown(wait=True)


def full_collections() -> int:
    """Full (generation 2) garbage collections of this process so far."""
    return int(gc.get_stats()[2]["collections"])


def figure(records: int, seconds: float) -> str:
    """Records per second and the seconds, as text."""
    return f"{records / seconds:,.0f} records/s ({seconds:.1f}s)"


class Bench:
    """One benchmark run against one local broker."""

    def __init__(self, work: Path, bootstrap: str, records: int, partitions: int) -> None:
        self.work = work
        self.bootstrap = bootstrap
        self.events = math.ceil(records / 3)
        self.records = 3 * self.events
        self.partitions = partitions
        self.run_id = uuid.uuid4().hex[:6]
        self.max_index = DB_ROWS - 1
        self.source_url = f"sqlite:///{work / 'source.db'}"

    def settings(self, name: str) -> Settings:
        """Settings of one contender: its own uid (topic prefix), data dir and consumer group."""
        data_dir = self.work / name
        data_dir.mkdir(exist_ok=True)
        return Settings(
            data_dir=data_dir,
            uid=f"bench-{self.run_id}-{name}",
            source_db_url=self.source_url,
            kafka_bootstrap=self.bootstrap,
            partitions=self.partitions,
            flush_records=50_000,
        )

    # -- setup --------------------------------------------------------------------------------

    def prepare_source(self) -> tuple[EventSource, Records]:
        """Generate the source DB and warm the EventSource cache; returns the source and its records."""
        started = time.perf_counter()
        generate_source_db(self.source_url, rows=DB_ROWS, seed=0)
        source = EventSource(self.source_url)
        self.max_index = source.rows - 1
        records = source.records(range(source.rows))  # warm: DB reads are not measured
        size = sum(len(v) for _, by_entity in self.picks(records) for v in by_entity.values())
        print(
            f"setup: source DB {source.rows:,} rows (cache warmed), {self.events:,} events = "
            f"{self.records:,} records, {size / self.records:,.0f} bytes/record avg ({size / 1e6:,.0f} MB); "
            f"{self.partitions} partitions per topic ({time.perf_counter() - started:.1f}s)",
            flush=True,
        )
        return source, records

    def picks(self, records: Records, events: int | None = None) -> Iterator[tuple[bytes, dict[str, bytes]]]:
        """(key, entity → record bytes) of the events post_events sends, drawn as it draws them.

        Drawn lazily, like the emulator does: a pre-built list of every event would enlarge the heap
        that each of Python's full garbage collections walks, which measurably slows the producers.
        """
        picks = pick_indexes("random", SEED, self.max_index)
        for _ in range(self.events if events is None else events):
            if STOP.is_set():
                return
            index = next(picks)
            yield str(index).encode(), records[index]

    # -- 1. producer --------------------------------------------------------------------------

    def sink(self, source: EventSource) -> tuple[Settings, float]:
        """The emulator's KafkaSink through post_events; returns its settings and seconds."""
        settings = self.settings("sink")
        ensure_topics(settings)
        sink = KafkaSink(settings, create_topics=False)
        plan = PostingPlan(events=self.events, seed=SEED)
        # post_events stops cleanly on Ctrl-C/SIGTERM (after the current batch, flushing the sink).
        summary = post_events(source, sink, plan, handle_signals=True)  # seconds include the flush
        if summary.stopped_by != "events":
            raise KeyboardInterrupt(summary.stopped_by)
        if summary.records_delivered != self.records or summary.records_failed:
            raise SystemExit(
                f"sink delivered {summary.records_delivered:,}, failed {summary.records_failed:,}"
            )
        return settings, summary.seconds

    def bare_kafka_python_producer(
        self, records: Records, compression: str, name: str = "", events: int | None = None
    ) -> float:
        """A bare kafka-python loop: send every record (keyed by index), flush; returns seconds."""
        from kafka import KafkaProducer

        topics = ensure_topics(self.settings(name or f"bare-produce-{compression}"))
        producer = KafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id=f"bench-bare-{compression}",
            compression_type=None if compression == "none" else compression,
            **PRODUCER_TUNING,
        )
        pairs = list(zip(ENTITIES, topics, strict=True))

        def loop() -> float:
            started = time.perf_counter()
            send = producer.send
            for key, by_entity in self.picks(records, events):
                for entity, topic in pairs:
                    send(topic, key=key, value=by_entity[entity])
            producer.flush()
            producer.close()
            return time.perf_counter() - started

        return in_worker_thread(loop)

    # -- 2. consumer → landing ----------------------------------------------------------------

    def landing(self, settings: Settings) -> float:
        """KafkaLanding in drain mode on the sink's topics; returns seconds (connect to last commit)."""
        started = time.perf_counter()
        report = KafkaLanding(settings).run(drain=True)
        seconds = time.perf_counter() - started
        if report.records != self.records:
            raise SystemExit(f"landing consumed {report.records:,} records, expected {self.records:,}")
        return seconds

    def bare_kafka_python_consumer(self, settings: Settings, group: str, *, check_crcs: bool = True) -> float:
        """A bare KafkaConsumer polling the sink's topics to the end, discarding; returns seconds."""
        from kafka import KafkaConsumer

        started = time.perf_counter()
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=f"bench-{self.run_id}-{group}",
            client_id=f"bench-{group}",
            check_crcs=check_crcs,
            **CONSUMER_FETCH,
        )
        consumer.subscribe([settings.topic(e) for e in ENTITIES])
        seen = 0
        try:
            while seen < self.records:
                for records in consumer.poll(timeout_ms=200).values():
                    seen += len(records)
        finally:
            consumer.close(autocommit=False)
        return time.perf_counter() - started

    # -- 3. landing → bronze --------------------------------------------------------------------

    def bronze(self, settings: Settings) -> tuple[int, float]:
        """BronzeLoader.load() on the landed objects; returns the records loaded and seconds."""
        started = time.perf_counter()
        report = BronzeLoader(settings).load()
        return report.records_loaded + report.quarantined, time.perf_counter() - started

    # -- 4. confluent-kafka -----------------------------------------------------------------------

    def confluent_producer(self, records: Records, compression: str) -> float:
        """The bare produce loop with confluent-kafka (same delivery settings); returns seconds."""
        from confluent_kafka import Producer

        topics = ensure_topics(self.settings(f"confluent-produce-{compression}"))
        producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "client.id": f"bench-confluent-{compression}",
                "compression.type": compression,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": PRODUCER_TUNING["linger_ms"],
                "batch.size": PRODUCER_TUNING["batch_size"],
                "max.in.flight.requests.per.connection": PRODUCER_TUNING[
                    "max_in_flight_requests_per_connection"
                ],
                "delivery.timeout.ms": PRODUCER_TUNING["delivery_timeout_ms"],
            }
        )
        pairs = list(zip(ENTITIES, topics, strict=True))

        def loop() -> float:
            started = time.perf_counter()
            produce, poll = producer.produce, producer.poll
            for key, by_entity in self.picks(records):
                for entity, topic in pairs:
                    while True:
                        try:
                            produce(topic, by_entity[entity], key)
                            break
                        except BufferError:  # local queue full: wait for deliveries, then retry
                            poll(0.05)
            remaining = producer.flush(120)
            if remaining:
                raise SystemExit(f"confluent-kafka producer left {remaining:,} records undelivered")
            return time.perf_counter() - started

        return in_worker_thread(loop)

    def confluent_consumer(self, settings: Settings) -> float:
        """The bare consume loop with confluent-kafka on the sink's topics; returns seconds."""
        from confluent_kafka import Consumer

        started = time.perf_counter()
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"bench-{self.run_id}-confluent-consume",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "max.partition.fetch.bytes": CONSUMER_FETCH["max_partition_fetch_bytes"],
                "fetch.max.bytes": CONSUMER_FETCH["fetch_max_bytes"],
                "session.timeout.ms": CONSUMER_FETCH["session_timeout_ms"],
                "heartbeat.interval.ms": CONSUMER_FETCH["heartbeat_interval_ms"],
            }
        )
        consumer.subscribe([settings.topic(e) for e in ENTITIES])
        seen = 0
        try:
            while seen < self.records:
                for message in consumer.consume(num_messages=CONSUMER_FETCH["max_poll_records"], timeout=0.2):
                    if message.error() is None:
                        seen += 1
        finally:
            consumer.close()
        return time.perf_counter() - started


def crc32c_line(records: Records) -> str:
    """Which CRC32C kafka-python uses and its speed on record bytes (every batch is checksummed)."""
    import lz4.frame
    from kafka.record._crc32c import crc as crc_python

    try:
        from crc32c import crc32c as crc_native
    except ImportError:
        crc_native = None
    sample = bytearray()
    for by_entity in records.values():
        for value in by_entity.values():
            sample += value
        if len(sample) >= 1_000_000:
            break
    lz4_ratio = len(lz4.frame.compress(bytes(sample))) / len(sample)
    started = time.perf_counter()
    crc_python(memoryview(sample))
    python_rate = len(sample) / (time.perf_counter() - started) / 1e6
    text = f"pure Python {python_rate:,.1f} MB/s"
    if crc_native is not None:
        started = time.perf_counter()
        for _ in range(100):
            crc_native(memoryview(sample))
        text += (
            f", native (package crc32c) {100 * len(sample) / (time.perf_counter() - started) / 1e6:,.0f} MB/s"
        )
    used = (
        "native (package crc32c)" if crc_native is not None else "pure Python (package crc32c not installed)"
    )
    return (
        f"4a. kafka-python CRC32C in use: {used}; speed on record bytes: {text}; every produced and "
        f"consumed batch is checksummed (lz4 batches are ~{lz4_ratio:.2f} of the record bytes)"
    )


def confluent_available() -> bool:
    """Whether confluent-kafka can be imported."""
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        return False
    return True


def run(bench: Bench) -> None:
    source, cache = bench.prepare_source()
    n = bench.records
    label = f"{n:,} records"

    # Warm the broker (JIT, page cache, log segments) so the first contender is not penalised.
    warmup = bench.bare_kafka_python_producer(cache, "lz4", name="warmup", events=WARMUP_RECORDS // 3)
    print(f"warm-up: bare kafka-python producer, {WARMUP_RECORDS:,} records ({warmup:.1f}s)", flush=True)

    # 1. Producer: the sink first, then the bare loop (fresh topics each).
    # The full garbage collections each one triggers are counted: they pause both producer threads.
    gc_before = full_collections()
    sink_settings, sink_s = bench.sink(source)
    gc_sink = full_collections() - gc_before
    source.close()
    gc_before = full_collections()
    bare_lz4_s = bench.bare_kafka_python_producer(cache, "lz4")
    gc_bare = full_collections() - gc_before
    print(
        f"1. producer, {label}, lz4, {bench.partitions} partitions: KafkaSink via post_events "
        f"{figure(n, sink_s)}; bare kafka-python send loop + flush {figure(n, bare_lz4_s)}; "
        f"ratio sink/bare {bare_lz4_s / sink_s:.2f} (target >= 0.80); "
        f"full GCs sink {gc_sink}, bare {gc_bare}",
        flush=True,
    )

    # 2. Consumer → landing on the sink's topics: landing first, then the bare consumer.
    landing_s = bench.landing(sink_settings)
    bare_consume_s = bench.bare_kafka_python_consumer(sink_settings, "bare-consume")
    print(
        f"2. consumer -> landing, {label}: KafkaLanding drain {figure(n, landing_s)}; "
        f"bare kafka-python poll-and-discard loop {figure(n, bare_consume_s)}; "
        f"ratio landing/bare {bare_consume_s / landing_s:.2f} (target >= 0.70)",
        flush=True,
    )

    # 3. Landing → bronze.
    loaded, bronze_s = bench.bronze(sink_settings)
    print(
        f"3. landing -> bronze, {loaded:,} records: BronzeLoader.load {figure(loaded, bronze_s)}", flush=True
    )

    # 4. The client libraries' own limits.
    print(crc32c_line(cache), flush=True)
    no_crc_s = bench.bare_kafka_python_consumer(sink_settings, "bare-consume-nocrc", check_crcs=False)
    print(
        f"4b. bare kafka-python consumer, {label}: check_crcs=True {figure(n, bare_consume_s)} (from 2.), "
        f"check_crcs=False {figure(n, no_crc_s)}",
        flush=True,
    )
    bare_none_s = bench.bare_kafka_python_producer(cache, "none")
    print(
        f"4c. bare kafka-python producer, {label}: compression lz4 {figure(n, bare_lz4_s)} (from 1.), "
        f"none {figure(n, bare_none_s)}",
        flush=True,
    )
    if not confluent_available():
        print(
            "4d. confluent-kafka is not installed: no librdkafka comparison (install it with "
            "`.venv/bin/uv pip install --python .venv/bin/python confluent-kafka`)"
        )
        return
    import confluent_kafka

    version = f"confluent-kafka {confluent_kafka.version()} (librdkafka {confluent_kafka.libversion()[0]})"
    ck_lz4_s = bench.confluent_producer(cache, "lz4")
    ck_none_s = bench.confluent_producer(cache, "none")
    print(
        f"4d. {version} bare producer, {label}: lz4 {figure(n, ck_lz4_s)}, "
        f"{bare_lz4_s / ck_lz4_s:.1f}x kafka-python; none {figure(n, ck_none_s)}, "
        f"{bare_none_s / ck_none_s:.1f}x kafka-python",
        flush=True,
    )
    ck_consume_s = bench.confluent_consumer(sink_settings)
    print(
        f"4e. {version} bare consumer on the sink's topics, {label}: {figure(n, ck_consume_s)}, "
        f"{bare_consume_s / ck_consume_s:.1f}x kafka-python",
        flush=True,
    )


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupt)  # like Ctrl-C: the finally below stops the broker
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="records per contender (3 per event)")
    parser.add_argument("--partitions", type=int, default=6, help="partitions per topic")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pinpipe-bench-kafka-"))
    broker = LocalKafka(work / "kafka")
    try:
        started = time.perf_counter()
        broker.start(timeout=180)
        print(f"broker: Kafka on {broker.bootstrap_servers} ready in {time.perf_counter() - started:.1f}s")
        run(Bench(work, broker.bootstrap_servers, args.records, args.partitions))
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
