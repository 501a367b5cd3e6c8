"""Kafka → raw landing: a consumer group over the three topics, exactly once into the lake.

What the original's MSK Connect S3 sink did, made crash-safe: records are buffered per partition and
landed as objects (the raw landing layout of docs/architecture.md) by the LandingWriter; a
partition's offset is committed only after every record before it is durably written. A crash
therefore redelivers from the last committed offset, and since an object's key is its first offset,
the redelivery rewrites the same objects; any overlap is dropped by the bronze loader, which keeps
each (topic, partition, offset) once.

Two modes: ``drain`` lands up to the end offsets seen at start and returns (the daily DAG's task);
continuous runs until ``stop`` is set (SIGTERM/SIGINT in the CLI), then lands the open objects,
commits and returns. Poison records never stop the loop: every value is landed as it came (a value
with a newline byte as its own ``.bin`` object) and the bronze loader quarantines what is not JSON.
Needs the kafka extra (kafka-python).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from ingestion.errors import PinpipeError
from ingestion.lake import Lake
from ingestion.landing import LandedObject, LandingWriter
from ingestion.settings import ENTITIES, Settings

log = logging.getLogger(__name__)


@dataclass
class LandingReport:
    """What a landing run consumed and wrote."""

    records: int = 0
    objects: int = 0
    commits: int = 0
    seconds: float = 0.0
    stopped_by: str = ""
    per_topic: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        """One line for the CLI."""
        rate = self.records / self.seconds if self.seconds else 0.0
        return (
            f"kafka landing: {self.records:,} records in {self.objects:,} objects, {self.commits:,} commits, "
            f"{self.seconds:.1f}s ({rate:,.0f} records/s); stopped by {self.stopped_by}"
        )


class KafkaLanding:
    """One member of the landing consumer group."""

    def __init__(self, settings: Settings, *, client_id: str = "pinpipe-landing") -> None:
        self.settings = settings
        self.writer = LandingWriter(
            Lake(settings.lake),
            flush_records=settings.flush_records,
            flush_bytes=settings.flush_bytes,
            flush_seconds=settings.flush_seconds,
        )
        self.client_id = client_id
        self.topics = [settings.topic(e) for e in ENTITIES]
        self._next: dict[Any, int] = {}  # TopicPartition → offset after the last record handed to the writer
        self._committed: dict[Any, int] = {}
        self.report = LandingReport()
        self.consumer: Any = None

    def _connect(self) -> Any:

        try:
            consumer = KafkaConsumer(
                bootstrap_servers=self.settings.kafka_bootstrap,
                group_id=self.settings.kafka_group,
                client_id=self.client_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_partition_fetch_bytes=8 * 1024 * 1024,
                fetch_max_bytes=64 * 1024 * 1024,
                max_poll_records=5_000,
                reconnect_backoff_max_ms=2_000,
                session_timeout_ms=6_000,  # the broker minimum: a crashed member is replaced fast
                heartbeat_interval_ms=2_000,
            )
        except KafkaError as exc:
            raise PinpipeError(f"cannot reach Kafka at {self.settings.kafka_bootstrap}: {exc}") from None
        return consumer

    def run(
        self,
        *,
        drain: bool,
        stop: threading.Event | None = None,
        progress: Callable[[LandingReport], None] | None = None,
        assignment_timeout: float = 60.0,
    ) -> LandingReport:
        """Consume and land until drained (``drain``) or until ``stop`` is set; always commits on exit."""

        stop = stop or threading.Event()
        landing = self

        class Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked: Any) -> None:
                try:
                    landing._land_and_commit(flush=set(revoked))
                except Exception as exc:  # a failed commit only means a redelivery, which bronze drops
                    log.warning("landing before the rebalance failed: %s", exc)
                for tp in revoked:  # another member owns them now: never commit them again
                    landing._next.pop(tp, None)
                    landing._committed.pop(tp, None)

            def on_partitions_assigned(self, assigned: Any) -> None:
                for tp in assigned:
                    landing._next.pop(tp, None)

        started = time.monotonic()
        self.consumer = self._connect()
        self.consumer.subscribe(self.topics, listener=Listener())
        end_offsets: dict[Any, int] = {}
        try:
            if drain:
                end_offsets = self._end_offsets()
            waited_since = time.monotonic()
            while not stop.is_set():
                batches = self.consumer.poll(timeout_ms=200)
                for tp, records in batches.items():
                    for record in records:
                        self._add(tp, record.offset, record.value)
                landed = self.writer.flush_due()
                if landed:
                    self._on_landed(landed)
                    self._commit()
                if progress:
                    progress(self.report)
                if drain:
                    assignment = self.consumer.assignment()
                    if not assignment:
                        if time.monotonic() - waited_since > assignment_timeout:
                            raise PinpipeError("no partition was assigned to the landing consumer in time")
                        continue
                    if self._drained(assignment, end_offsets):
                        self.report.stopped_by = "drained"
                        break
            else:
                self.report.stopped_by = "stop request"
            self._land_and_commit(flush=None, retries=10)
        finally:
            try:
                self.consumer.close(autocommit=False)
            except Exception as exc:  # closing must not hide the real error
                log.warning("closing the consumer failed: %s", exc)
            self.report.seconds = time.monotonic() - started
        return self.report

    def _drained(self, assignment: set[Any], end_offsets: dict[Any, int]) -> bool:
        """Whether every assigned partition is consumed up to its end offset seen at start."""

        try:
            return all(self.consumer.position(tp) >= end_offsets.get(tp, 0) for tp in assignment)
        except KafkaError as exc:  # broker away: keep polling, the client reconnects
            log.warning("position unknown for now: %s", exc)
            return False

    def _end_offsets(self) -> dict[Any, int]:

        partitions = []
        for topic in self.topics:
            ids = self.consumer.partitions_for_topic(topic)
            if ids is None:
                raise PinpipeError(f"topic {topic} does not exist on {self.settings.kafka_bootstrap}")
            partitions += [TopicPartition(topic, p) for p in ids]
        ends: dict[Any, int] = self.consumer.end_offsets(partitions)
        return ends

    def _add(self, tp: Any, offset: int, value: bytes | None) -> None:
        landed = self.writer.add(tp.topic, tp.partition, offset, value if value is not None else b"")
        self._next[tp] = offset + 1
        self.report.records += 1
        self.report.per_topic[tp.topic] = self.report.per_topic.get(tp.topic, 0) + 1
        if landed:
            self._on_landed(landed)
            self._commit()

    def _on_landed(self, landed: list[LandedObject]) -> None:
        self.report.objects += len(landed)

    def _land_and_commit(self, flush: set[Any] | None, retries: int = 3) -> None:
        """Land open objects, then commit (those of the given partitions, or all), retrying on errors."""
        landed = self.writer.flush_all()  # landing everything is cheap and keeps commits simple
        if landed:
            self._on_landed(landed)
        for attempt in range(retries):
            if self._commit(only=flush):
                return
            time.sleep(min(2.0, 0.2 * 2**attempt))
        log.warning("offsets not committed; the next run redelivers them and bronze drops the repeats")

    def _commit(self, only: set[Any] | None = None) -> bool:
        """Commit, per partition, the first offset not yet durably landed; False if the commit failed.

        A failed commit loses nothing: the records are landed, and a redelivery is dropped by bronze.
        """

        open_first = self.writer.open_offsets()
        offsets = {}
        for tp, next_offset in self._next.items():
            if only is not None and tp not in only:
                continue
            safe = open_first.get((tp.topic, tp.partition), next_offset)
            if self._committed.get(tp) != safe:
                offsets[tp] = OffsetAndMetadata(safe, "", -1)
        if not offsets:
            return True
        try:
            self.consumer.commit(offsets=offsets)
        except KafkaError as exc:
            log.warning("offset commit failed (will retry): %s", exc)
            return False
        for tp, meta in offsets.items():
            self._committed[tp] = meta.offset
        self.report.commits += 1
        return True
