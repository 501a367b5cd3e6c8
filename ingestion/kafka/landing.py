"""Kafka → raw landing: a consumer group over the three topics, exactly once into the lake.

What the original's MSK Connect S3 sink did, made crash-safe: records are buffered per partition and
landed as objects (the raw landing layout of docs/architecture.md) by the LandingWriter, in a
background thread while the next records are consumed, one object at a time in the order they were
cut; a partition's offset is committed only after every record before it is durably written. A crash
therefore redelivers from the last committed offset, and since an object's key is its first offset,
the redelivery rewrites the same objects; any overlap is dropped by the bronze loader, which keeps
each (topic, partition, offset) once.

A rebalance moves partitions only after their open objects are landed and their offsets committed,
so the new owner starts exactly after the last durably written record. Partitions lost by a forced
eviction are not committed and their open objects are dropped unlanded: their new owner may already
be landing them.

Two modes: ``drain`` lands up to the end offsets seen at start and returns (the daily DAG's task);
continuous runs until ``stop`` is set (SIGTERM/SIGINT in the CLI), then lands the open objects,
commits and returns. A broker that cannot be reached fails the start within ``timeout`` seconds; a
broker that goes away during a drain is waited for at most ``outage_timeout`` seconds (a continuous
run waits for it). Poison records never stop the loop: every value is landed as it came (a value
with a newline byte as its own ``.bin`` object) and the bronze loader quarantines what is not JSON.

The rules live here; the client is behind :class:`ingestion.kafka.roles.LandingConsumer`
(confluent-kafka where installed, else kafka-python; setting ``kafka_client``), which hands over
records in runs of contiguous offsets per partition, so the landing costs little per record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ingestion.errors import PinpipeError
from ingestion.kafka.clients import open_landing_consumer
from ingestion.kafka.roles import START_HINT, LandingConsumer, TopicPartition
from ingestion.kafka.topics import topic_ids
from ingestion.lake import Lake
from ingestion.landing import LandedObject, LandingWriter, object_key
from ingestion.settings import ENTITIES, Settings

log = logging.getLogger(__name__)

__all__ = ["START_HINT", "KafkaLanding", "LandingReport"]


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


@dataclass
class _Job:
    """An object handed to the background writer: landed once ``done`` (unless the writer failed)."""

    landed: LandedObject
    land: Callable[[], object]
    done: bool = False


class _Writer(LandingWriter):
    """The landing writer, landing its objects in a background thread while the next records are
    consumed, and able to drop the open object of a partition this member lost.

    Objects are landed one at a time, in the order they were cut (so per partition in offset order,
    as a synchronous writer lands them); what ``add_run``, ``flush_due`` and ``flush_all`` return is
    only handed over. :meth:`collect` returns the objects landed since (durably, as ``Lake`` writes
    them) and :meth:`wait` waits for all; both raise the error of a failed landing, after which nothing
    more is landed. :meth:`open_offsets` counts an object as open until it is collected, so an offset
    committed from it never passes a record that is not durably landed.
    """

    MAX_QUEUED_OBJECTS = 4
    """Objects handed over and not landed yet, at most: beyond, the consumer waits for the writer
    rather than buffering without bound."""

    def __init__(self, lake: Lake, **bounds: Any) -> None:
        super().__init__(lake, **bounds)
        self._cond = threading.Condition()
        self._todo: deque[_Job] = deque()  # not landed yet, in order (the thread lands the first)
        self._jobs: deque[_Job] = deque()  # not collected yet, in order
        self._failure: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._closing = False

    def _flush(self, slot: tuple[str, int]) -> LandedObject:
        buffer = self._buffers.pop(slot)
        topic, partition = slot
        first, parts, records, size = buffer.first_offset, buffer.parts, buffer.records, buffer.size
        topic_id = self.topic_id(topic)  # the incarnation at the cut, not when the thread lands it

        def land() -> None:
            self._land_lines(topic, partition, first, b"".join(parts), topic_id)

        key = object_key(topic, partition, first, topic_id=topic_id)
        return self._hand_over(_Job(LandedObject(key, topic, partition, first, records, size), land))

    def _land_single(
        self, topic: str, partition: int, offset: int, value: bytes, topic_id: str | None = None
    ) -> LandedObject:
        def land() -> LandedObject:
            return LandingWriter._land_single(self, topic, partition, offset, value, topic_id)

        key = object_key(topic, partition, offset, single=True, topic_id=topic_id)
        return self._hand_over(_Job(LandedObject(key, topic, partition, offset, 1, len(value)), land))

    def _hand_over(self, job: _Job) -> LandedObject:
        with self._cond:
            while len(self._todo) >= self.MAX_QUEUED_OBJECTS and self._failure is None:
                self._cond.wait()
            if self._thread is None:
                self._closing = False
                self._thread = threading.Thread(target=self._work, name="pinpipe-landing-writer", daemon=True)
                self._thread.start()
            self._todo.append(job)
            self._jobs.append(job)
            self._cond.notify_all()
        return job.landed

    def _work(self) -> None:
        """The writer thread: land the handed-over objects in order; after a failure, none."""
        while True:
            with self._cond:
                while not self._todo and not self._closing:
                    self._cond.wait()
                if not self._todo:
                    return
                job = self._todo[0]
                failed = self._failure is not None
            failure: BaseException | None = None
            if not failed:
                try:
                    job.land()
                except BaseException as exc:  # raised on the consumer's thread by collect()/wait()
                    failure = exc
            with self._cond:
                self._todo.popleft()
                job.done = failure is None and not failed
                if failure is not None:
                    self._failure = failure
                self._cond.notify_all()

    def collect(self) -> list[LandedObject]:
        """The objects landed since the last call, in order; raises the error of a failed landing."""
        with self._cond:
            if self._failure is not None:
                raise self._failure
            landed = []
            while self._jobs and self._jobs[0].done:
                landed.append(self._jobs.popleft().landed)
            return landed

    def wait(self) -> list[LandedObject]:
        """Wait until every object handed over is landed; then as :meth:`collect`."""
        with self._cond:
            while self._todo and self._failure is None:
                self._cond.wait()
        return self.collect()

    def open_offsets(self) -> dict[tuple[str, int], int]:
        """First offset of each partition's first object not landed or not collected yet."""
        offsets: dict[tuple[str, int], int] = {}
        with self._cond:
            for job in self._jobs:  # in order: per partition, the first is the earliest
                offsets.setdefault((job.landed.topic, job.landed.partition), job.landed.first_offset)
        for slot, first in super().open_offsets().items():
            offsets.setdefault(slot, first)
        return offsets

    def pending(self) -> int:
        with self._cond:
            handed_over = sum(job.landed.records for job in self._jobs)
        return super().pending() + handed_over

    def discard(self, topic: str, partition: int) -> int:
        """Forget the open (unlanded) object of a partition; returns how many records it held."""
        buffer = self._buffers.pop((topic, partition), None)
        return buffer.records if buffer is not None else 0

    def close(self) -> None:
        """Let the writer thread land what it was handed (unless a landing failed), then end it."""
        with self._cond:
            thread, self._thread = self._thread, None
            self._closing = True
            self._cond.notify_all()
        if thread is not None:
            thread.join()
        with self._cond:  # a later run starts afresh: what was not collected is not committed
            self._jobs.clear()
            self._failure = None


@contextmanager
def _quiet_kafka_client() -> Iterator[None]:
    """At the default verbosity, hide the clients' per-retry connection errors: a failure of the
    landing is reported once, as a PinpipeError. PINPIPE_LOG_LEVEL=INFO (or DEBUG) shows them all."""
    clients = [logging.getLogger(name) for name in ("kafka", "confluent_kafka")]
    quiet = [c for c in clients if c.getEffectiveLevel() >= logging.WARNING]
    levels = [c.level for c in quiet]
    for client in quiet:
        client.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for client, level in zip(quiet, levels, strict=True):
            client.setLevel(level)


def _describe(partitions: set[TopicPartition]) -> str:
    return ", ".join(f"{t}[{p}]" for t, p in sorted(partitions)) or "none"


class KafkaLanding:
    """One member of the landing consumer group."""

    def __init__(
        self,
        settings: Settings,
        *,
        client_id: str = "pinpipe-landing",
        timeout: float | None = None,
        outage_timeout: float | None = None,
    ) -> None:
        self.settings = settings
        self.writer = _Writer(
            Lake(settings.lake),
            flush_records=settings.flush_records,
            flush_bytes=settings.flush_bytes,
            flush_seconds=settings.flush_seconds,
        )
        self.client_id = client_id
        self.timeout = float(timeout if timeout is not None else settings.kafka_timeout)
        self.outage_timeout = float(
            outage_timeout if outage_timeout is not None else settings.kafka_outage_timeout
        )
        self.topics = [settings.topic(e) for e in ENTITIES]
        self._next: dict[TopicPartition, int] = {}  # offset after the last record handed to the writer
        self._committed: dict[TopicPartition, int] = {}
        self._abandoning = False  # failing: land and commit nothing more, leave quickly
        self._topic_ids_stale = True  # read the topics' IDs before landing (again after a rebalance)
        self.report = LandingReport()
        self.consumer: LandingConsumer | None = None

    def run(
        self,
        *,
        drain: bool,
        stop: threading.Event | None = None,
        progress: Callable[[LandingReport], None] | None = None,
        assignment_timeout: float | None = None,
    ) -> LandingReport:
        """Consume and land until drained (``drain``) or until ``stop`` is set; always commits on exit.

        A drain fails (PinpipeError) when it makes no progress for ``outage_timeout`` seconds (or
        ``assignment_timeout`` while no partition is assigned), e.g. because the broker went away.
        """

        with _quiet_kafka_client():
            return self._run(drain, stop or threading.Event(), progress, assignment_timeout)

    def _run(
        self,
        drain: bool,
        stop: threading.Event,
        progress: Callable[[LandingReport], None] | None,
        assignment_timeout: float | None,
    ) -> LandingReport:
        started = time.monotonic()
        consumer = self.consumer = open_landing_consumer(
            self.settings, client_id=self.client_id, timeout=self.timeout
        )
        log.info("kafka landing: %s client, group %s", consumer.client, self.settings.kafka_group)
        self._abandoning = False
        try:
            consumer.subscribe(self.topics, self)
            end_offsets = consumer.end_offsets(self.topics) if drain else {}
            stalled_since = time.monotonic()
            last_positions: dict[TopicPartition, int | None] = {}
            while not stop.is_set():
                runs = consumer.poll()
                if self._topic_ids_stale:
                    self._read_topic_ids()
                for topic, partition, first, values in runs:
                    self._add_run(topic, partition, first, values)
                self.writer.flush_due()
                landed = self.writer.collect()  # landed in the background meanwhile
                if landed:
                    self._on_landed(landed)
                    self._commit()
                if progress:
                    progress(self.report)
                if not drain:
                    continue
                if runs:
                    stalled_since = time.monotonic()
                assignment = consumer.assignment()
                if not assignment:
                    limit = assignment_timeout if assignment_timeout is not None else self.outage_timeout
                    if time.monotonic() - stalled_since > limit:
                        raise PinpipeError(
                            f"no partition of {', '.join(self.topics)} was assigned to the landing consumer "
                            f"within {limit:g}s (Kafka at {self.settings.kafka_bootstrap}): is the broker "
                            f"up? {START_HINT}"
                        )
                    continue
                positions = consumer.positions(assignment)
                if positions != last_positions:
                    last_positions = positions
                    stalled_since = time.monotonic()
                if all(p is not None and p >= end_offsets.get(tp, 0) for tp, p in positions.items()):
                    self.report.stopped_by = "drained"
                    break
                if time.monotonic() - stalled_since > self.outage_timeout:
                    raise PinpipeError(
                        f"Kafka at {self.settings.kafka_bootstrap} stopped answering: no progress for "
                        f"{self.outage_timeout:g}s with records left to drain ({self._landed_note()}); "
                        f"{START_HINT}, then run the drain again"
                    )
            else:
                self.report.stopped_by = "stop request"
            self._land_and_commit(
                deadline=time.monotonic() + max(self.timeout, min(self.outage_timeout, 60.0))
            )
        except BaseException:
            self._abandoning = True  # the hooks called by close() must not land or commit now
            raise
        finally:
            try:
                consumer.close()
            except Exception as exc:  # closing must not hide the real error
                log.info("closing the consumer failed: %s", exc)
            self.writer.close()  # after a failure: the objects handed over land, uncommitted
            self.report.seconds = time.monotonic() - started
        return self.report

    def _read_topic_ids(self) -> None:
        """Land the records of each topic under its current incarnation (Kafka topic ID): a topic
        deleted and created again gets a new ID, so its offsets, which start again at 0, get keys of
        their own instead of colliding with the old incarnation's objects."""
        for topic, topic_id in topic_ids(self.settings, self.topics, self.timeout).items():
            if topic_id != self.writer.topic_id(topic):
                log.info("kafka landing: %s has topic ID %s", topic, topic_id)
                self.writer.set_topic_id(topic, topic_id)
        self._topic_ids_stale = False

    def _landed_note(self) -> str:
        return f"{self.report.records:,} records read, {self.report.objects:,} objects landed and committed"

    def _add_run(self, topic: str, partition: int, first: int, values: list[bytes]) -> None:
        """Hand records of one partition with contiguous offsets to the writer (which lands the objects
        they complete in the background: the polling loop commits them once collected)."""
        self.writer.add_run(topic, partition, first, values)
        self._next[(topic, partition)] = first + len(values)
        report = self.report
        report.records += len(values)
        report.per_topic[topic] = report.per_topic.get(topic, 0) + len(values)

    def _on_landed(self, landed: list[LandedObject]) -> None:
        self.report.objects += len(landed)

    def _land_and_commit(self, deadline: float) -> None:
        """Land every open object, then commit all, retrying until ``deadline``."""
        self.writer.flush_all()
        landed = self.writer.wait()
        if landed:
            self._on_landed(landed)
        attempt = 0
        while not self._commit():
            if time.monotonic() >= deadline:
                raise PinpipeError(
                    f"the landed objects' offsets could not be committed to Kafka at "
                    f"{self.settings.kafka_bootstrap} ({self._landed_note()} before); the next run lands "
                    f"the uncommitted records again under the same keys; {START_HINT}"
                )
            time.sleep(min(2.0, 0.2 * 2**attempt, max(0.0, deadline - time.monotonic())))
            attempt += 1

    def _offsets_to_commit(self, only: set[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """Per partition, the first offset not yet durably landed, where it differs from the committed one."""
        open_first = self.writer.open_offsets()
        offsets = {}
        for tp, next_offset in self._next.items():
            if only is not None and tp not in only:
                continue
            safe = open_first.get(tp, next_offset)
            if self._committed.get(tp) != safe:
                offsets[tp] = safe
        return offsets

    def _commit(self) -> bool:
        """Commit, per partition, the first offset not yet durably landed; False if the commit failed.

        A failed commit loses nothing: the records are landed, and a redelivery is dropped by bronze.
        Polling thread only (the rebalance hooks commit through the client's own path).
        """
        offsets = self._offsets_to_commit()
        if not offsets:
            return True
        assert self.consumer is not None
        if not self.consumer.commit(offsets):
            return False
        self._committed_now(offsets)
        return True

    def _committed_now(self, offsets: dict[TopicPartition, int]) -> None:
        self._committed.update(offsets)
        self.report.commits += 1

    # -- rebalance hooks (ingestion.kafka.roles.RebalanceHooks), called by the consumer ------------

    def assigned(self, partitions: set[TopicPartition]) -> None:
        """New partitions: their committed offsets are read by the client; start afresh."""
        log.info("kafka landing: assigned %d partitions: %s", len(partitions), _describe(partitions))
        self._topic_ids_stale = True  # read in the polling thread, before the next records are added
        for tp in partitions:
            self._next.pop(tp, None)
            self._committed.pop(tp, None)

    def revoking(self, partitions: set[TopicPartition]) -> dict[TopicPartition, int]:
        """Before the partitions move: land their open objects; returns their offsets to commit (the
        consumer commits them before it lets the partitions go). The new owner starts after the landed
        records."""
        log.info("kafka landing: revoking %d partitions: %s", len(partitions), _describe(partitions))
        if self._abandoning:
            return {}
        self.writer.flush_all()  # all of them: under the eager protocol all are revoked
        landed = self.writer.wait()
        if landed:
            self._on_landed(landed)
        return self._offsets_to_commit(partitions)

    def revoked(
        self, partitions: set[TopicPartition], committed: dict[TopicPartition, int], error: Exception | None
    ) -> None:
        """After the revoked partitions' commit (or its failure): never commit them again."""
        if error is not None:  # the new owner lands the records again; bronze drops the repeats
            log.warning("offsets of the revoked partitions not committed before the rebalance: %s", error)
        elif committed:
            self._committed_now(committed)
        for tp in partitions:  # another member may own them now
            self._next.pop(tp, None)
            self._committed.pop(tp, None)

    def lost(self, partitions: set[TopicPartition]) -> None:
        """After a forced eviction: the partitions may already be landed by their new owner, so their
        open objects are dropped unlanded and nothing is committed for them."""
        log.info("kafka landing: lost %d partitions: %s", len(partitions), _describe(partitions))
        if not self._abandoning:  # the objects cut before the loss land first, as if landed at once
            landed = self.writer.wait()
            if landed:
                self._on_landed(landed)
        dropped = 0
        for topic, partition in partitions:
            dropped += self.writer.discard(topic, partition)
            self._next.pop((topic, partition), None)
            self._committed.pop((topic, partition), None)
        if dropped:
            log.warning(
                "lost %d partitions to another member: %d records left to it unlanded",
                len(partitions),
                dropped,
            )
