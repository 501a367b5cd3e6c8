"""Benchmark of the Kafka path with each client: emulator → Kafka sink, Kafka → raw landing.

Starts its own single-node Kafka broker (:class:`LocalKafka`, 127.0.0.1 only) in a temp dir, creates
topics with 6 partitions, warms the broker up, and measures in one run, on the same broker, records,
partitions and compression (lz4, the default):

producers (each to fresh topics; the same records, drawn as the emulator draws them, keyed by index):
  a. a bare confluent-kafka producer: ``produce()`` in a loop, then ``flush()``, with the sink's
     producer settings (idempotent, ``acks=all``, the same linger, batch size and compression): the
     fastest this machine produces from Python;
  b. the emulator's KafkaSink with confluent-kafka, through post_events;
  c. the same with kafka-python;
consumers (all on b's topics, each with its own consumer group):
  d. a bare confluent-kafka consumer: ``consume(num_messages=5000)`` in a loop taking every value,
     with the landing consumer's settings;
  e. KafkaLanding (``drain``) with confluent-kafka, into its own lake;
  f. the same with kafka-python;
and prints records/s with the ratios sink/bare producer (target >= 0.80) and landing/bare consumer
(target >= 0.70). ``--bronze`` adds BronzeLoader.load() on e's landing.

The EventSource cache is warmed first, so DB reads are not measured. Rates count from the first record
sent (or the consumer's creation) to the last record flushed (or consumed and, for the landing,
landed and committed). Produce loops run in a worker thread, as post_events runs the sink.

Run: ``.venv/bin/python bench/kafka_pipeline.py [--records 1000000] [--partitions 6] [--bronze]``.
"""

from __future__ import annotations

import argparse
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

import confluent_kafka
import kafka
from confluent_kafka import Consumer, Producer

from devservices.kafka import LocalKafka
from emulator.generate import generate_source_db
from emulator.posting import PostingPlan, pick_indexes, post_events
from emulator.sinks.kafka import KafkaSink
from emulator.source import EventSource
from ingestion.bronze.loader import BronzeLoader
from ingestion.kafka.confluent import POLL_RECORDS, consumer_config, producer_config
from ingestion.kafka.landing import KafkaLanding
from ingestion.kafka.topics import ensure_topics
from ingestion.settings import ENTITIES, Settings

DB_ROWS = 11_153
SEED = 100
WARMUP_RECORDS = 30_000
FLUSH_RECORDS = 50_000
"""Records per landing object (PINPIPE_FLUSH_RECORDS) in the landing runs."""

Records = dict[int, dict[str, bytes]]
"""Index → entity → the record's JSON bytes: the warmed EventSource cache."""

STOP = threading.Event()
"""Set when the run is interrupted: the produce loops in worker threads end early."""


def in_worker_thread(work: Callable[[], float]) -> float:
    """Run ``work`` in a worker thread and return its result (post_events sends from worker threads,
    so every produce loop does)."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-producer")
    try:
        return pool.submit(work).result()
    except BaseException:  # Ctrl-C or SIGTERM: end the loop early, then the broker is stopped
        STOP.set()
        raise
    finally:
        pool.shutdown(wait=True)


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

    def settings(self, name: str, client: str = "confluent", topics_of: str | None = None) -> Settings:
        """Settings of one contender: its own data dir (lake) and consumer group, and its own topics
        unless ``topics_of`` names the contender whose topics it reads."""
        data_dir = self.work / name
        data_dir.mkdir(exist_ok=True)
        return Settings(
            data_dir=data_dir,
            uid=f"bench-{self.run_id}-{topics_of or name}",
            kafka_group=f"bench-{self.run_id}-{name}",
            source_db_url=self.source_url,
            kafka_bootstrap=self.bootstrap,
            kafka_client=client,
            partitions=self.partitions,
            flush_records=FLUSH_RECORDS,
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
            f"{self.partitions} partitions per topic, lz4 ({time.perf_counter() - started:.1f}s)",
            flush=True,
        )
        return source, records

    def picks(self, records: Records, events: int | None = None) -> Iterator[tuple[bytes, dict[str, bytes]]]:
        """(key, entity → record bytes) of the events post_events sends, drawn as it draws them (lazily:
        a pre-built list of every event would enlarge the heap the garbage collector walks)."""
        picks = pick_indexes("random", SEED, self.max_index)
        for _ in range(self.events if events is None else events):
            if STOP.is_set():
                return
            index = next(picks)
            yield b"%d" % index, records[index]

    # -- producers ----------------------------------------------------------------------------

    def bare_producer(
        self, records: Records, name: str = "bare-producer", events: int | None = None
    ) -> float:
        """(a) A bare confluent-kafka loop: produce every record keyed by index, flush; returns seconds."""
        settings = self.settings(name)
        topics = ensure_topics(settings)
        producer = Producer(producer_config(settings, f"bench-{name}"))
        pairs = list(zip(ENTITIES, topics, strict=True))

        def loop() -> float:
            started = time.perf_counter()
            produce, poll = producer.produce, producer.poll
            for key, by_entity in self.picks(records, events):
                for entity, topic in pairs:
                    try:
                        produce(topic, by_entity[entity], key)
                    except BufferError:  # local queue full: wait for deliveries, then retry
                        while True:
                            poll(0.05)
                            try:
                                produce(topic, by_entity[entity], key)
                                break
                            except BufferError:
                                continue
            remaining = producer.flush(120)
            if remaining:
                raise SystemExit(f"bare producer left {remaining:,} records undelivered")
            return time.perf_counter() - started

        return in_worker_thread(loop)

    def sink(self, source: EventSource, client: str) -> tuple[Settings, float]:
        """(b, c) The emulator's KafkaSink through post_events; returns its settings and seconds."""
        settings = self.settings(f"sink-{client}", client)
        ensure_topics(settings)
        sink = KafkaSink(settings, create_topics=False)
        assert sink.producer.client == client
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

    # -- consumers ----------------------------------------------------------------------------

    def bare_consumer(self, topics_of: str) -> float:
        """(d) A bare confluent-kafka consume loop taking every value to the end; returns seconds."""
        settings = self.settings("bare-consumer", topics_of=topics_of)
        started = time.perf_counter()
        consumer = Consumer(consumer_config(settings, "bench-bare-consumer", settings.kafka_timeout))
        consumer.subscribe([settings.topic(e) for e in ENTITIES])
        seen = 0
        try:
            while seen < self.records:
                messages = consumer.consume(num_messages=POLL_RECORDS, timeout=0.2)
                seen += len([m.value() for m in messages if m.error() is None])
        finally:
            consumer.close()
        return time.perf_counter() - started

    def landing(self, topics_of: str, client: str) -> tuple[Settings, float]:
        """(e, f) KafkaLanding in drain mode; returns its settings and seconds (connect to last commit)."""
        settings = self.settings(f"landing-{client}", client, topics_of=topics_of)
        started = time.perf_counter()
        report = KafkaLanding(settings).run(drain=True)
        seconds = time.perf_counter() - started
        if report.records != self.records:
            raise SystemExit(f"landing consumed {report.records:,} records, expected {self.records:,}")
        return settings, seconds

    def bronze(self, settings: Settings) -> tuple[int, float]:
        """BronzeLoader.load() on the landed objects; returns the records loaded and seconds."""
        started = time.perf_counter()
        report = BronzeLoader(settings).load()
        return report.records_loaded + report.quarantined, time.perf_counter() - started


def run(bench: Bench, bronze: bool) -> None:
    librdkafka = confluent_kafka.libversion()[0]
    print(
        f"clients: confluent-kafka {confluent_kafka.version()} (librdkafka {librdkafka}), "
        f"kafka-python {kafka.__version__}",
        flush=True,
    )
    source, cache = bench.prepare_source()
    n = bench.records
    label = f"{n:,} records"

    # Warm the broker (JIT, page cache, log segments) so the first contender is not penalised.
    warmup = bench.bare_producer(cache, name="warmup", events=WARMUP_RECORDS // 3)
    print(f"warm-up: bare producer, {WARMUP_RECORDS:,} records ({warmup:.1f}s)", flush=True)

    bare_s = bench.bare_producer(cache)
    print(f"a. bare confluent-kafka producer, {label}: {figure(n, bare_s)}", flush=True)
    _, sink_s = bench.sink(source, "confluent")
    print(
        f"b. KafkaSink (confluent-kafka) via post_events: {figure(n, sink_s)}; "
        f"sink/bare producer {bare_s / sink_s:.2f} (target >= 0.80)",
        flush=True,
    )
    _, sink_kp_s = bench.sink(source, "kafka-python")
    print(
        f"c. KafkaSink (kafka-python) via post_events: {figure(n, sink_kp_s)}; "
        f"sink/bare producer {bare_s / sink_kp_s:.2f}",
        flush=True,
    )
    source.close()

    topics_of = "sink-confluent"
    consume_s = bench.bare_consumer(topics_of)
    print(f"d. bare confluent-kafka consumer, {label}: {figure(n, consume_s)}", flush=True)
    landing_settings, landing_s = bench.landing(topics_of, "confluent")
    print(
        f"e. KafkaLanding drain (confluent-kafka), flush_records {FLUSH_RECORDS:,}: {figure(n, landing_s)}; "
        f"landing/bare consumer {consume_s / landing_s:.2f} (target >= 0.70)",
        flush=True,
    )
    _, landing_kp_s = bench.landing(topics_of, "kafka-python")
    print(
        f"f. KafkaLanding drain (kafka-python): {figure(n, landing_kp_s)}; "
        f"landing/bare consumer {consume_s / landing_kp_s:.2f}",
        flush=True,
    )
    if bronze:
        loaded, bronze_s = bench.bronze(landing_settings)
        print(f"bronze: BronzeLoader.load on e's landing, {loaded:,} records: {figure(loaded, bronze_s)}")


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupt)  # like Ctrl-C: the finally below stops the broker
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="records per contender (3 per event)")
    parser.add_argument("--partitions", type=int, default=6, help="partitions per topic")
    parser.add_argument("--bronze", action="store_true", help="also load the landing into bronze")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pinpipe-bench-kafka-"))
    broker = LocalKafka(work / "kafka")
    try:
        started = time.perf_counter()
        broker.start(timeout=180)
        print(f"broker: Kafka on {broker.bootstrap_servers} ready in {time.perf_counter() - started:.1f}s")
        run(Bench(work, broker.bootstrap_servers, args.records, args.partitions), args.bronze)
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
