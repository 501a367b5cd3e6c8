"""Kafka → raw landing: a consumer group over the three topics, exactly once into the lake.

What the original's MSK Connect S3 sink did, made crash-safe: records are buffered per partition and
landed as objects (the raw landing layout of docs/architecture.md) by the LandingWriter; a
partition's offset is committed only after every record before it is durably written. A crash
therefore redelivers from the last committed offset, and since an object's key is its first offset,
the redelivery rewrites the same objects; any overlap is dropped by the bronze loader, which keeps
each (topic, partition, offset) once.

A rebalance moves partitions only after their open objects are landed and their offsets committed,
so the new owner starts exactly after the last durably written record. kafka-python 3 runs the
rebalance listener on its IO thread, inside ``poll()`` (the main thread is blocked in ``poll()``
meanwhile, so the writer is never used by two threads at once); a blocking ``commit()`` from there
fails ("Cannot block on net.run() from the IO thread"), so the listener is asynchronous and awaits the
commit on that loop. Partitions lost by a forced eviction are not committed and their open objects
are dropped unlanded: their new owner may already be landing them.

Two modes: ``drain`` lands up to the end offsets seen at start and returns (the daily DAG's task);
continuous runs until ``stop`` is set (SIGTERM/SIGINT in the CLI), then lands the open objects,
commits and returns. A broker that cannot be reached fails the start within ``timeout`` seconds; a
broker that goes away during a drain is waited for at most ``outage_timeout`` seconds (a continuous
run waits for it). Poison records never stop the loop: every value is landed as it came (a value
with a newline byte as its own ``.bin`` object) and the bronze loader quarantines what is not JSON.
Needs the kafka extra (kafka-python).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kafka import AsyncConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from ingestion.errors import PinpipeError
from ingestion.lake import Lake
from ingestion.landing import LandedObject, LandingWriter
from ingestion.settings import ENTITIES, Settings

log = logging.getLogger(__name__)

START_HINT = "start it with `pinpipe kafka start` or set PINPIPE_KAFKA_BOOTSTRAP"


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


class _Writer(LandingWriter):
    """The landing writer, able to drop the open object of a partition this member lost."""

    def discard(self, topic: str, partition: int) -> int:
        """Forget the open (unlanded) object of a partition; returns how many records it held."""
        buffer = self._buffers.pop((topic, partition), None)
        return len(buffer.lines) if buffer is not None else 0


class _Listener(AsyncConsumerRebalanceListener):
    """Rebalance hooks; kafka-python awaits them on its IO thread while ``poll()`` blocks the caller."""

    def __init__(self, landing: KafkaLanding) -> None:
        self.landing = landing

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.landing._on_revoked(set(revoked))

    async def on_partitions_lost(self, lost: Any) -> None:
        self.landing._on_lost(set(lost))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        for tp in assigned:
            self.landing._next.pop(tp, None)
            self.landing._committed.pop(tp, None)


@contextmanager
def _quiet_kafka_client() -> Iterator[None]:
    """At the default verbosity, hide the client's per-retry connection errors: a failure of the
    landing is reported once, as a PinpipeError. PINPIPE_LOG_LEVEL=INFO (or DEBUG) shows them all."""
    client = logging.getLogger("kafka")
    if client.getEffectiveLevel() < logging.WARNING:
        yield
        return
    level = client.level
    client.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        client.setLevel(level)


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
        self._next: dict[Any, int] = {}  # TopicPartition → offset after the last record handed to the writer
        self._committed: dict[Any, int] = {}
        self._abandoning = False  # failing: land and commit nothing more, leave quickly
        self._listener_error: BaseException | None = None
        self.report = LandingReport()
        self.consumer: Any = None

    @property
    def _timeout_ms(self) -> int:
        return max(1, int(self.timeout * 1000))

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
                bootstrap_timeout_ms=self._timeout_ms,
            )
        except KafkaError as exc:
            raise PinpipeError(
                f"cannot reach Kafka at {self.settings.kafka_bootstrap} within {self.timeout:g}s "
                f"({type(exc).__name__}): {START_HINT}"
            ) from None
        return consumer

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
        self.consumer = self._connect()
        self._abandoning = False
        try:
            self.consumer.subscribe(self.topics, listener=_Listener(self))
            end_offsets: dict[Any, int] = self._end_offsets() if drain else {}
            stalled_since = time.monotonic()
            last_positions: dict[Any, int | None] = {}
            while not stop.is_set():
                batches = self._poll()
                for tp, records in batches.items():
                    for record in records:
                        self._add(tp, record.offset, record.value)
                landed = self.writer.flush_due()
                if landed:
                    self._on_landed(landed)
                    self._commit()
                if progress:
                    progress(self.report)
                if not drain:
                    continue
                if batches:
                    stalled_since = time.monotonic()
                assignment = self.consumer.assignment()
                if not assignment:
                    limit = assignment_timeout if assignment_timeout is not None else self.outage_timeout
                    if time.monotonic() - stalled_since > limit:
                        raise PinpipeError(
                            f"no partition of {', '.join(self.topics)} was assigned to the landing consumer "
                            f"within {limit:g}s (Kafka at {self.settings.kafka_bootstrap}): is the broker "
                            f"up? {START_HINT}"
                        )
                    continue
                positions = self._positions(assignment)
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
            self._abandoning = True  # the listener called by close() must not land or commit now
            raise
        finally:
            try:
                self.consumer.close(autocommit=False, timeout_ms=self._timeout_ms)
            except Exception as exc:  # closing must not hide the real error
                log.info("closing the consumer failed: %s", exc)
            self.report.seconds = time.monotonic() - started
        return self.report

    def _poll(self) -> dict[Any, list[Any]]:
        """One ``poll()``; an error of the rebalance listener is raised here, as itself."""
        try:
            batches: dict[Any, list[Any]] = self.consumer.poll(timeout_ms=200)
        except KafkaError:
            if self._listener_error is not None:
                error, self._listener_error = self._listener_error, None
                raise error from None
            raise
        return batches

    def _landed_note(self) -> str:
        return f"{self.report.records:,} records read, {self.report.objects:,} objects landed and committed"

    def _positions(self, assignment: set[Any]) -> dict[Any, int | None]:
        """The position of every assigned partition (None where unknown for now, e.g. broker away)."""
        positions: dict[Any, int | None] = {}
        for tp in assignment:
            try:
                positions[tp] = self.consumer.position(tp, timeout_ms=self._timeout_ms)
            except KafkaError as exc:  # broker away: keep polling, the client reconnects
                log.debug("position of %s unknown for now: %s", tp, exc)
                positions[tp] = None
        return positions

    def _end_offsets(self) -> dict[Any, int]:

        partitions = []
        for topic in self.topics:
            ids = self.consumer.partitions_for_topic(topic)
            if not ids:
                raise PinpipeError(f"topic {topic} does not exist on {self.settings.kafka_bootstrap}")
            partitions += [TopicPartition(topic, p) for p in ids]
        try:
            ends: dict[Any, int] = self.consumer.end_offsets(partitions, timeout_ms=self._timeout_ms)
        except KafkaError as exc:
            raise PinpipeError(
                f"cannot read the end offsets from Kafka at {self.settings.kafka_bootstrap} within "
                f"{self.timeout:g}s ({type(exc).__name__}): {START_HINT}"
            ) from None
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

    def _land_and_commit(self, deadline: float) -> None:
        """Land every open object, then commit all, retrying until ``deadline``."""
        landed = self.writer.flush_all()
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

    def _offsets_to_commit(self, only: set[Any] | None = None) -> dict[Any, Any]:
        """Per partition, the first offset not yet durably landed, where it differs from the committed one."""
        open_first = self.writer.open_offsets()
        offsets = {}
        for tp, next_offset in self._next.items():
            if only is not None and tp not in only:
                continue
            safe = open_first.get((tp.topic, tp.partition), next_offset)
            if self._committed.get(tp) != safe:
                offsets[tp] = OffsetAndMetadata(safe, "", -1)
        return offsets

    def _commit(self, only: set[Any] | None = None) -> bool:
        """Commit, per partition, the first offset not yet durably landed; False if the commit failed.

        A failed commit loses nothing: the records are landed, and a redelivery is dropped by bronze.
        Main thread only (never from the rebalance listener).
        """

        offsets = self._offsets_to_commit(only)
        if not offsets:
            return True
        try:
            self.consumer.commit(offsets=offsets, timeout_ms=self._timeout_ms)
        except KafkaError as exc:
            log.info("offset commit failed (will retry): %s", exc)
            return False
        self._committed_now(offsets)
        return True

    def _committed_now(self, offsets: dict[Any, Any]) -> None:
        for tp, meta in offsets.items():
            self._committed[tp] = meta.offset
        self.report.commits += 1

    async def _on_revoked(self, revoked: set[Any]) -> None:
        """Before the partitions move: land their open objects, then commit them (awaited on the IO
        loop; a blocking commit is impossible there). The new owner starts after the landed records."""
        try:
            if self._abandoning:
                return
            landed = self.writer.flush_all()  # all of them: under the eager protocol all are revoked
            if landed:
                self._on_landed(landed)
            offsets = self._offsets_to_commit(revoked)
            if not offsets:
                return
            try:
                await self._commit_on_io_loop(offsets)
            except Exception as exc:  # the new owner lands the records again; bronze drops the repeats
                log.warning("offsets of the revoked partitions not committed before the rebalance: %s", exc)
                return
            self._committed_now(offsets)
        except BaseException as exc:  # e.g. the lake refused a write: raised by poll(), as itself
            self._listener_error = exc
            raise
        finally:
            for tp in revoked:  # another member may own them now: never commit them again
                self._next.pop(tp, None)
                self._committed.pop(tp, None)

    async def _commit_on_io_loop(self, offsets: dict[Any, Any]) -> None:
        """Commit from a coroutine running on kafka-python's IO loop (the rebalance listener).

        ``KafkaConsumer.commit()`` is a blocking facade over the coordinator's commit coroutine and
        refuses to run on the IO thread; the listener awaits that coroutine itself (kafka-python is
        pinned to 3.0.12 in pyproject.toml). The fallback, for a client without it, awaits an
        asynchronous commit's future.
        """
        coordinator = getattr(self.consumer, "_coordinator", None)
        commit = getattr(coordinator, "_commit_offsets_sync_async", None)
        if commit is not None:
            await commit(offsets, timeout_ms=self._timeout_ms)
        else:  # pragma: no cover - other kafka-python versions
            await self.consumer.commit_async(offsets=offsets)

    def _on_lost(self, lost: set[Any]) -> None:
        """After a forced eviction: the partitions may already be landed by their new owner, so their
        open objects are dropped unlanded and nothing is committed for them."""
        dropped = 0
        for tp in lost:
            dropped += self.writer.discard(tp.topic, tp.partition)
            self._next.pop(tp, None)
            self._committed.pop(tp, None)
        if dropped:
            log.warning(
                "lost %d partitions to another member: %d records left to it unlanded", len(lost), dropped
            )
