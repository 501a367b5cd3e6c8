"""The kafka-python client in pinpipe's Kafka roles: producers and the landing consumer.

The portable client (pure Python, extra ``kafka``), used when confluent-kafka is not installed or
``PINPIPE_KAFKA_CLIENT=kafka-python`` asks for it; the same guarantees as
:mod:`ingestion.kafka.confluent`.

kafka-python 3 runs the rebalance listener on its IO thread, inside ``poll()`` (the main thread is
blocked in ``poll()`` meanwhile, so the landing writer is never used by two threads at once); a
blocking ``commit()`` from there fails ("Cannot block on net.run() from the IO thread"), so the
listener is asynchronous and awaits the commit on that loop. An error of the listener (e.g. the lake
refused a write) is raised by the next ``poll()`` as itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from kafka import AsyncConsumerRebalanceListener, KafkaConsumer
from kafka import TopicPartition as KafkaPartition
from kafka.errors import KafkaError, KafkaTimeoutError
from kafka.structs import OffsetAndMetadata

from ingestion.errors import PinpipeError
from ingestion.kafka.producer import make_producer
from ingestion.kafka.roles import (
    CONSUMER,
    START_HINT,
    Acknowledgement,
    DeliveryCounts,
    KafkaUnreachable,
    RebalanceHooks,
    Run,
    TopicMissing,
    TopicPartition,
)
from ingestion.settings import Settings

log = logging.getLogger(__name__)


class KafkaPythonProducer:
    """The project's producer with kafka-python: delivery results arrive in the futures' callbacks."""

    client = "kafka-python"

    def __init__(self, settings: Settings) -> None:
        self._producer = make_producer(settings)
        self._lock = threading.Lock()
        self._counts = DeliveryCounts()

    def _delivered(self, _metadata: Any) -> None:
        with self._lock:
            self._counts.delivered += 1

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            self._counts.failed += 1
            kind = type(exc).__name__
            self._counts.errors[kind] = self._counts.errors.get(kind, 0) + 1
        log.warning("kafka delivery failed: %s", exc)

    def send_batch(self, records: Sequence[tuple[str, bytes | None, bytes | None]]) -> None:
        send = self._producer.send
        # Bound once: a new bound method per record is garbage the collector must chase (measured
        # ~10% of the sink's throughput at 1M records).
        delivered, failed = self._delivered, self._failed
        for topic, key, value in records:
            try:
                future = send(topic, key=key, value=value)
            except Exception as exc:  # a record the client refuses at once (too large, closed)
                failed(exc)
                continue
            future.add_callback(delivered)
            future.add_errback(failed)

    def counts(self) -> DeliveryCounts:
        with self._lock:
            return DeliveryCounts(self._counts.delivered, self._counts.failed, dict(self._counts.errors))

    def close(self) -> DeliveryCounts:
        self._producer.flush()
        self._producer.close()
        return self.counts()


class KafkaPythonAcknowledgingProducer:
    """The gateway's producer with kafka-python: each record's future answers for it."""

    client = "kafka-python"

    def __init__(self, settings: Settings, *, timeout: float, connect_timeout: float) -> None:
        self.timeout = timeout
        wait_ms = int(connect_timeout * 1000)
        try:  # a short linger: each request waits for its acknowledgement
            self._producer = make_producer(
                settings, linger_ms=2, max_block_ms=wait_ms, bootstrap_timeout_ms=wait_ms
            )
        except Exception as exc:  # PinpipeError, NoBrokersAvailable and friends
            raise KafkaUnreachable(f"Kafka at {settings.kafka_bootstrap} is unreachable: {exc}") from None

    def partitions(self, topic: str) -> int:
        try:
            found = self._producer.partitions_for(topic)
        except KafkaError as exc:
            raise KafkaUnreachable(f"Kafka metadata for {topic} unavailable: {exc}") from None
        if not found:
            raise TopicMissing(f"topic {topic} does not exist")
        return len(found)

    def send_and_wait(
        self, topic: str, records: Sequence[tuple[bytes | None, bytes, int | None]]
    ) -> list[Acknowledgement]:
        futures: list[Any] = []
        for key, value, partition in records:
            try:
                futures.append(self._producer.send(topic, value=value, key=key, partition=partition))
            except KafkaTimeoutError as exc:  # no metadata within max_block_ms: the broker is away
                if not futures:
                    raise KafkaUnreachable(f"Kafka did not answer: {exc}") from None
                futures.append(exc)
            except KafkaError as exc:  # refused at once (e.g. larger than max_request_size)
                futures.append(exc)
        answers = []
        for future in futures:
            if isinstance(future, Exception):
                answers.append(_refused(future))
                continue
            try:
                metadata = future.get(timeout=self.timeout)
            except Exception as exc:
                answers.append(_refused(exc))
            else:
                answers.append(Acknowledgement(metadata.partition, metadata.offset))
        return answers

    def close(self) -> None:
        self._producer.close(timeout=10)


def _refused(exc: BaseException) -> Acknowledgement:
    retriable = bool(getattr(exc, "retriable", False)) or isinstance(exc, KafkaTimeoutError)
    return Acknowledgement(error=f"{type(exc).__name__}: {exc}"[:300], retriable=retriable)


def _pairs(partitions: Any) -> set[TopicPartition]:
    return {(tp.topic, tp.partition) for tp in partitions}


class _Listener(AsyncConsumerRebalanceListener):
    """Rebalance hooks; kafka-python awaits them on its IO thread while ``poll()`` blocks the caller."""

    def __init__(self, member: KafkaPythonLandingConsumer, hooks: RebalanceHooks) -> None:
        self.member = member
        self.hooks = hooks

    async def on_partitions_revoked(self, revoked: Any) -> None:
        partitions = _pairs(revoked)
        offsets: dict[TopicPartition, int] = {}
        error: Exception | None = None
        try:
            offsets = self.hooks.revoking(partitions)
            if offsets:
                try:
                    await self.member._commit_on_io_loop(offsets)
                except Exception as exc:  # the new owner lands them again; bronze drops the repeats
                    error = exc
        except BaseException as exc:  # e.g. the lake refused a write: raised by poll(), as itself
            self.member._listener_error = exc
            raise
        finally:
            self.hooks.revoked(partitions, {} if error else offsets, error)

    async def on_partitions_lost(self, lost: Any) -> None:
        self.hooks.lost(_pairs(lost))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.hooks.assigned(_pairs(assigned))


class KafkaPythonLandingConsumer:
    """The landing group's member with kafka-python."""

    client = "kafka-python"

    def __init__(self, settings: Settings, *, client_id: str, timeout: float) -> None:
        self.settings = settings
        self.timeout = timeout
        self._timeout_ms = max(1, int(timeout * 1000))
        self._listener_error: BaseException | None = None
        try:
            self._consumer = KafkaConsumer(
                bootstrap_servers=settings.kafka_bootstrap,
                group_id=settings.kafka_group,
                client_id=client_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                bootstrap_timeout_ms=self._timeout_ms,
                **CONSUMER,
                session_timeout_ms=settings.kafka_session_timeout_ms,
            )
        except KafkaError as exc:
            raise PinpipeError(
                f"cannot reach Kafka at {settings.kafka_bootstrap} within {timeout:g}s "
                f"({type(exc).__name__}): {START_HINT}"
            ) from None

    def subscribe(self, topics: list[str], hooks: RebalanceHooks) -> None:
        self._consumer.subscribe(topics, listener=_Listener(self, hooks))

    def end_offsets(self, topics: list[str]) -> dict[TopicPartition, int]:
        partitions = []
        for topic in topics:
            ids = self._consumer.partitions_for_topic(topic)
            if not ids:
                raise PinpipeError(f"topic {topic} does not exist on {self.settings.kafka_bootstrap}")
            partitions += [KafkaPartition(topic, p) for p in ids]
        try:
            ends = self._consumer.end_offsets(partitions, timeout_ms=self._timeout_ms)
        except KafkaError as exc:
            raise PinpipeError(
                f"cannot read the end offsets from Kafka at {self.settings.kafka_bootstrap} within "
                f"{self.timeout:g}s ({type(exc).__name__}): {START_HINT}"
            ) from None
        return {(tp.topic, tp.partition): int(end) for tp, end in ends.items()}

    def poll(self) -> list[Run]:
        """One ``poll()``; an error of the rebalance listener is raised here, as itself."""
        try:
            batches = self._consumer.poll(timeout_ms=200)
        except KafkaError:
            if self._listener_error is not None:
                error, self._listener_error = self._listener_error, None
                raise error from None
            raise
        runs: list[Run] = []
        for tp, records in batches.items():
            first, last = records[0].offset, records[-1].offset
            if last - first == len(records) - 1:  # offsets increase: contiguous (the usual case)
                runs.append((tp.topic, tp.partition, first, [r.value or b"" for r in records]))
                continue
            for record in records:  # a gap (compaction, transaction markers): one run per stretch
                if (
                    runs
                    and runs[-1][:2] == (tp.topic, tp.partition)
                    and (runs[-1][2] + len(runs[-1][3]) == record.offset)
                ):
                    runs[-1][3].append(record.value or b"")
                else:
                    runs.append((tp.topic, tp.partition, record.offset, [record.value or b""]))
        return runs

    def assignment(self) -> set[TopicPartition]:
        return _pairs(self._consumer.assignment())

    def positions(self, partitions: set[TopicPartition]) -> dict[TopicPartition, int | None]:
        positions: dict[TopicPartition, int | None] = {}
        for topic, partition in partitions:
            try:
                positions[(topic, partition)] = self._consumer.position(
                    KafkaPartition(topic, partition), timeout_ms=self._timeout_ms
                )
            except KafkaError as exc:  # broker away: keep polling, the client reconnects
                log.debug("position of %s[%d] unknown for now: %s", topic, partition, exc)
                positions[(topic, partition)] = None
        return positions

    @staticmethod
    def _offsets(offsets: dict[TopicPartition, int]) -> dict[Any, Any]:
        return {KafkaPartition(t, p): OffsetAndMetadata(o, "", -1) for (t, p), o in offsets.items()}

    def commit(self, offsets: dict[TopicPartition, int]) -> bool:
        try:
            self._consumer.commit(offsets=self._offsets(offsets), timeout_ms=self._timeout_ms)
        except KafkaError as exc:
            log.info("offset commit failed (will retry): %s", exc)
            return False
        return True

    async def _commit_on_io_loop(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit from a coroutine running on kafka-python's IO loop (the rebalance listener).

        ``KafkaConsumer.commit()`` is a blocking facade over the coordinator's commit coroutine and
        refuses to run on the IO thread; the listener awaits that coroutine itself (kafka-python is
        pinned to 3.0.12 in pyproject.toml). The fallback, for a client without it, awaits an
        asynchronous commit's future.
        """
        coordinator = getattr(self._consumer, "_coordinator", None)
        commit = getattr(coordinator, "_commit_offsets_sync_async", None)
        if commit is not None:
            await commit(self._offsets(offsets), timeout_ms=self._timeout_ms)
        else:  # pragma: no cover - other kafka-python versions
            await self._consumer.commit_async(offsets=self._offsets(offsets))

    def close(self) -> None:
        self._consumer.close(autocommit=False, timeout_ms=self._timeout_ms)
