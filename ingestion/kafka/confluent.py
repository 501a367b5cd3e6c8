"""The confluent-kafka client (librdkafka) in pinpipe's Kafka roles: producers and the landing consumer.

The fast client, used wherever it is installed (extra ``kafka-fast``); the guarantees are those of the
kafka-python client (:mod:`ingestion.kafka.python_client`), set here in librdkafka's terms:

- producer: ``enable.idempotence`` with ``acks=all``, the same linger, batch size, in-flight limit,
  delivery timeout, largest record and compression. Only failed deliveries are reported
  (``delivery.report.only.error``): a success costs no Python call, and the records delivered are the
  records queued minus the failed and the still outstanding ones;
- landing consumer: ``enable.auto.commit`` and ``enable.auto.offset.store`` off, every commit
  synchronous (``commit(offsets=..., asynchronous=False)``) and made by KafkaLanding only after the
  records before the offset are durably landed. librdkafka calls the rebalance callbacks on the
  polling thread, inside ``consume()``, so a revocation lands the open objects and commits them
  synchronously right there, before the partitions move (the eager protocol revokes all of them); a
  lost partition's open object is dropped unlanded, nothing is committed for it.

librdkafka's own log lines go to the ``confluent_kafka`` Python logger (hidden by the landing at the
default verbosity, like kafka-python's), never straight to stderr.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from itertools import groupby
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer
from confluent_kafka import TopicPartition as ConfluentPartition

from ingestion.errors import PinpipeError
from ingestion.kafka.roles import (
    CONSUMER,
    PRODUCER,
    START_HINT,
    Acknowledgement,
    DeliveryCounts,
    KafkaUnreachable,
    RebalanceHooks,
    Run,
    TopicMissing,
    TopicPartition,
    compression,
)
from ingestion.settings import Settings

log = logging.getLogger(__name__)
client_log = logging.getLogger("confluent_kafka")
"""Where librdkafka's log lines go."""

POLL_RECORDS = CONSUMER["max_poll_records"]
POLL_SECONDS = 0.2


def producer_config(settings: Settings, client_id: str) -> dict[str, Any]:
    """librdkafka producer settings with the project's delivery guarantees (PRODUCER)."""
    return {
        "bootstrap.servers": settings.kafka_bootstrap,
        "client.id": client_id,
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": compression(settings) or "none",
        "linger.ms": PRODUCER["linger_ms"],
        "batch.size": PRODUCER["batch_size"],
        "max.in.flight.requests.per.connection": PRODUCER["max_in_flight_requests_per_connection"],
        "delivery.timeout.ms": PRODUCER["delivery_timeout_ms"],
        "message.max.bytes": PRODUCER["max_request_size"],
        "socket.timeout.ms": max(10, int(settings.kafka_timeout * 1000)),
        "reconnect.backoff.max.ms": CONSUMER["reconnect_backoff_max_ms"],
        "log.connection.close": False,
    }


def consumer_config(settings: Settings, client_id: str, timeout: float) -> dict[str, Any]:
    """librdkafka consumer settings of the landing group: manual commits only, the fetch sizes and
    session timeouts of the kafka-python consumer, end-of-partition events (for drains)."""
    return {
        "bootstrap.servers": settings.kafka_bootstrap,
        "group.id": settings.kafka_group,
        "client.id": client_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": True,
        # Prefetch at most ~4 polls per partition (librdkafka's default, 100,000 records per partition,
        # would hold whole topics in memory and keep "draining" long after the broker went away).
        "queued.min.messages": 4 * POLL_RECORDS,
        "queued.max.messages.kbytes": 16 * 1024,
        "max.partition.fetch.bytes": CONSUMER["max_partition_fetch_bytes"],
        "fetch.max.bytes": CONSUMER["fetch_max_bytes"],
        "session.timeout.ms": settings.kafka_session_timeout_ms,
        "heartbeat.interval.ms": CONSUMER["heartbeat_interval_ms"],
        "reconnect.backoff.max.ms": CONSUMER["reconnect_backoff_max_ms"],
        "socket.timeout.ms": max(10, int(timeout * 1000)),
        "log.connection.close": False,
    }


_error: Any = Message.error
_topic: Any = Message.topic
_partition: Any = Message.partition
_offset: Any = Message.offset
_value: Any = Message.value


def _runs(messages: list[Any]) -> list[Run]:
    """Cut consumed records into runs of one partition with contiguous offsets.

    The cost per record is a few calls made from C (``map`` over the Message methods, ``groupby``
    over partition numbers), none of which makes an object the garbage collector tracks (a tuple per
    record would make it run twice as often): a batch of ``consume()`` holds long stretches of one
    partition (a fetch response's worth), so the Python-level work is per stretch, not per record.
    """
    if not messages:
        return []
    values: list[Any] = list(map(_value, messages))
    if None in values:  # a record without a value lands as an empty line
        values = [b"" if v is None else v for v in values]
    offsets: list[int] = list(map(_offset, messages))
    topics: list[str] = list(map(_topic, messages))
    runs: list[Run] = []
    start = 0
    for partition, same_partition in groupby(map(_partition, messages)):
        stop = start + sum(1 for _ in same_partition)
        for topic, same_topic in groupby(topics[start:stop]):  # one topic, but for a partition number
            end = start + sum(1 for _ in same_topic)  # shared by consecutive stretches of two topics
            _cut(runs, topic, partition, offsets, values, start, end)
            start = end
    return runs


def _cut(
    runs: list[Run], topic: str, partition: int, offsets: list[int], values: list[Any], start: int, stop: int
) -> None:
    """Append the records ``start:stop`` (of one partition, offsets increasing) as contiguous runs."""
    if offsets[stop - 1] - offsets[start] == stop - 1 - start:  # increasing, so contiguous
        runs.append((topic, partition, offsets[start], values[start:stop]))
        return
    for i in range(start, stop):  # a gap (compaction, transaction markers): a run per contiguous stretch
        if i > start and offsets[i] == offsets[i - 1] + 1:
            runs[-1][3].append(values[i])
        else:
            runs.append((topic, partition, offsets[i], [values[i]]))


def _error_name(exc: BaseException) -> str:
    error = exc.args[0] if exc.args else None
    return error.name() if isinstance(error, KafkaError) else type(exc).__name__


def _cannot_reach(settings: Settings, timeout: float, exc: BaseException) -> PinpipeError:
    return PinpipeError(
        f"cannot reach Kafka at {settings.kafka_bootstrap} within {timeout:g}s ({_error_name(exc)}): "
        f"{START_HINT}"
    )


class ConfluentProducer:
    """The project's producer with confluent-kafka (see the module's docstring)."""

    client = "confluent"

    def __init__(self, settings: Settings, client_id: str | None = None) -> None:
        self.settings = settings
        config = producer_config(settings, client_id or f"pinpipe-emulator-{settings.uid}")
        config |= {"delivery.report.only.error": True, "on_delivery": self._report}
        self._producer = Producer(config, logger=client_log)
        try:  # fail now, in one line, rather than after the delivery timeout
            self._producer.list_topics(timeout=settings.kafka_timeout)
        except KafkaException as exc:
            raise _cannot_reach(settings, settings.kafka_timeout, exc) from None
        self._lock = threading.Lock()
        self._queued = 0
        self._failed = 0
        self._errors: dict[str, int] = {}

    def _report(self, error: KafkaError | None, _message: Any) -> None:
        """Delivery report: called for failures only (``delivery.report.only.error``)."""
        if error is not None:
            self._count_failure(error.name(), error.str())

    def _count_failure(self, kind: str, text: str) -> None:
        with self._lock:
            self._failed += 1
            self._errors[kind] = self._errors.get(kind, 0) + 1
        log.warning("kafka delivery failed: %s: %s", kind, text)

    def send_batch(self, records: Sequence[tuple[str, bytes | None, bytes | None]]) -> None:
        produce = self._producer.produce
        for topic, key, value in records:
            try:
                produce(topic, value, key)
            except BufferError:  # the local queue is full: serve deliveries, then retry
                self._produce_when_room(topic, key, value)
            except KafkaException as exc:  # refused at once, e.g. larger than message.max.bytes
                self._count_failure(_error_name(exc), str(exc))
        with self._lock:
            self._queued += len(records)
        self._producer.poll(0)

    def _produce_when_room(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        while True:
            self._producer.poll(0.05)
            try:
                self._producer.produce(topic, value, key)
                return
            except BufferError:
                continue
            except KafkaException as exc:
                self._count_failure(_error_name(exc), str(exc))
                return

    def counts(self) -> DeliveryCounts:
        outstanding = len(self._producer)
        with self._lock:
            return DeliveryCounts(
                max(0, self._queued - self._failed - outstanding), self._failed, dict(self._errors)
            )

    def close(self) -> DeliveryCounts:
        # Every record ends delivered or failed within delivery.timeout.ms, so this returns.
        self._producer.flush()
        return self.counts()


class ConfluentAcknowledgingProducer:
    """The gateway's producer with confluent-kafka: a delivery callback per record fills its answer.

    librdkafka gives up on a record after the gateway's ``timeout`` (``delivery.timeout.ms``), so a
    record answered as timed out is not delivered behind the client's back later."""

    client = "confluent"

    def __init__(self, settings: Settings, *, timeout: float, connect_timeout: float) -> None:
        self.settings = settings
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        config = producer_config(settings, f"pinpipe-gateway-{settings.uid}")
        config |= {"linger.ms": 2, "delivery.timeout.ms": max(1_000, int(timeout * 1000))}
        self._producer = Producer(config, logger=client_log)
        try:
            self._producer.list_topics(timeout=connect_timeout)
        except KafkaException as exc:
            raise KafkaUnreachable(str(_cannot_reach(settings, connect_timeout, exc))) from None

    def partitions(self, topic: str) -> int:
        try:
            metadata = self._producer.list_topics(topic, timeout=self.connect_timeout)
        except KafkaException as exc:
            raise KafkaUnreachable(f"Kafka metadata for {topic} unavailable: {_error_name(exc)}") from None
        found = metadata.topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            raise TopicMissing(f"topic {topic} does not exist")
        return len(found.partitions)

    def send_and_wait(
        self, topic: str, records: Sequence[tuple[bytes | None, bytes, int | None]]
    ) -> list[Acknowledgement]:
        answers: list[Acknowledgement | None] = [None] * len(records)

        def answer(position: int) -> Any:
            def on_delivery(error: KafkaError | None, message: Message) -> None:
                answers[position] = (
                    Acknowledgement(message.partition(), message.offset())
                    if error is None
                    else Acknowledgement(
                        error=f"{error.name()}: {error.str()}"[:300], retriable=error.retriable()
                    )
                )

            return on_delivery

        for position, (key, value, partition) in enumerate(records):
            placed = -1 if partition is None else partition  # -1: the partitioner chooses (by key)
            while True:
                try:
                    self._producer.produce(topic, value, key, placed, on_delivery=answer(position))
                    break
                except BufferError:  # the local queue is full: serve deliveries, then retry
                    self._producer.poll(0.05)
                except KafkaException as exc:  # refused at once, e.g. larger than message.max.bytes
                    error = exc.args[0]
                    answers[position] = Acknowledgement(
                        error=f"{_error_name(exc)}: {exc}"[:300], retriable=bool(error.retriable())
                    )
                    break
        # every record is answered within delivery.timeout.ms; the margin covers the last callback
        deadline = time.monotonic() + self.timeout + 5
        while any(a is None for a in answers) and time.monotonic() < deadline:
            self._producer.poll(0.05)
        late = Acknowledgement(error=f"KafkaTimeoutError: no answer within {self.timeout:g}s", retriable=True)
        return [a or late for a in answers]

    def close(self) -> None:
        self._producer.flush(10)


class ConfluentLandingConsumer:
    """The landing group's member with confluent-kafka (see the module's docstring)."""

    client = "confluent"

    def __init__(self, settings: Settings, *, client_id: str, timeout: float) -> None:
        self.settings = settings
        self.timeout = timeout
        self._fatal: KafkaError | None = None
        self._positions: dict[TopicPartition, int] = {}
        self._assignment: set[TopicPartition] = set()
        self._held: list[Any] = []  # messages consumed while waiting for a commit, for the next poll
        self._answers: dict[frozenset[tuple[str, int, int]], KafkaError | None] = {}
        self._waiting: set[frozenset[tuple[str, int, int]]] = set()
        self._in_callback = False
        self._closing = False
        self._rebalances = 0
        # Per partition, the offset after the last record handed over. A revocation lands and commits
        # everything handed over, so after a rebalance the partition resumes exactly there; records a
        # batch still holds from before the rebalance, fetched again after it, are dropped.
        self._delivered: dict[TopicPartition, int] = {}
        config = consumer_config(settings, client_id, timeout) | {
            "error_cb": self._on_error,
            "on_commit": self._on_commit,
        }
        self._consumer = Consumer(config, logger=client_log)
        try:  # librdkafka connects lazily: find out now whether a broker answers
            self._consumer.list_topics(timeout=timeout)
        except KafkaException as exc:
            self._consumer.close()
            raise _cannot_reach(settings, timeout, exc) from None

    def _on_error(self, error: KafkaError) -> None:
        """Client-wide errors (broker down, all brokers down): the client retries; fatal ones end the run."""
        if error.fatal():
            self._fatal = error
        client_log.info("kafka client error: %s", error)

    def subscribe(self, topics: list[str], hooks: RebalanceHooks) -> None:
        def on_assign(_consumer: Any, partitions: list[ConfluentPartition]) -> None:
            if self._closing:
                return
            assigned = {(p.topic, p.partition) for p in partitions}
            self._forget(assigned)
            self._assignment |= assigned
            hooks.assigned(assigned)

        def on_revoke(_consumer: Any, partitions: list[ConfluentPartition]) -> None:
            if self._closing:  # librdkafka revokes everything as it leaves: nothing left to do
                return
            revoked = {(p.topic, p.partition) for p in partitions}
            offsets: dict[TopicPartition, int] = {}
            error: Exception | None = None
            self._in_callback = True
            try:
                offsets = hooks.revoking(revoked)
                if offsets:
                    try:
                        self._commit(offsets)
                    except KafkaException as exc:  # the new owner lands them again; bronze drops repeats
                        error = exc
            finally:
                self._in_callback = False
                hooks.revoked(revoked, {} if error else offsets, error)
                self._forget(revoked)
                self._assignment -= revoked

        def on_lost(_consumer: Any, partitions: list[ConfluentPartition]) -> None:
            if self._closing:
                return
            lost = {(p.topic, p.partition) for p in partitions}
            for tp in lost:  # their open objects are dropped: what was handed over is not landed
                self._delivered.pop(tp, None)
            self._forget(lost)
            self._assignment -= lost
            hooks.lost(lost)

        self._consumer.subscribe(topics, on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)

    def _consume(self, timeout: float) -> list[Any]:
        """``consume()``; after a rebalance inside it, only the messages of partitions still assigned
        (a batch can hold messages fetched before a revocation: they are the new owner's now)."""
        rebalances = self._rebalances
        messages: list[Any] = self._consumer.consume(num_messages=POLL_RECORDS, timeout=timeout)
        if messages and self._rebalances != rebalances:
            owned = self._assignment
            messages = [m for m in messages if (m.topic(), m.partition()) in owned]
        return messages

    def _forget(self, partitions: set[TopicPartition]) -> None:
        """Drop what this member knows of partitions that move: their positions and held messages."""
        self._rebalances += 1
        for tp in partitions:
            self._positions.pop(tp, None)
        if self._held:
            self._held = [m for m in self._held if (m.topic(), m.partition()) not in partitions]

    def end_offsets(self, topics: list[str]) -> dict[TopicPartition, int]:
        try:
            metadata = self._consumer.list_topics(timeout=self.timeout)
            partitions = []
            for topic in topics:
                found = metadata.topics.get(topic)
                if found is None or found.error is not None or not found.partitions:
                    raise PinpipeError(f"topic {topic} does not exist on {self.settings.kafka_bootstrap}")
                partitions += [(topic, p) for p in sorted(found.partitions)]
            ends = {}
            for topic, p in partitions:
                _, high = self._consumer.get_watermark_offsets(
                    ConfluentPartition(topic, p), timeout=self.timeout, cached=False
                )
                ends[(topic, p)] = high
        except KafkaException as exc:
            raise PinpipeError(
                f"cannot read the end offsets from Kafka at {self.settings.kafka_bootstrap} within "
                f"{self.timeout:g}s ({_error_name(exc)}): {START_HINT}"
            ) from None
        return ends

    def poll(self) -> list[Run]:
        """``consume()`` a batch (the rebalance callbacks run in here), cut into runs per partition."""
        messages = self._consume(POLL_SECONDS)
        if self._held:
            messages, self._held = self._held + messages, []
        if self._fatal is not None:
            raise PinpipeError(f"Kafka client failed for good: {self._fatal.str()} ({self._fatal.name()})")
        if not messages:
            return []
        errors = list(map(_error, messages))
        if any(errors):  # end-of-partition events (drains) and client errors, in among the records
            for message, error in zip(messages, errors, strict=True):
                if error is not None:
                    self._on_message_error(message, error)
            messages = [m for m, e in zip(messages, errors, strict=True) if e is None]
        runs = []
        positions, delivered = self._positions, self._delivered
        for topic, partition, first, values in _runs(messages):
            tp = (topic, partition)
            seen = delivered.get(tp, first) - first
            if seen > 0:  # fetched before a rebalance and fetched again after it: handed over once
                if seen >= len(values):
                    continue
                first, values = first + seen, values[seen:]
            runs.append((topic, partition, first, values))
            positions[tp] = delivered[tp] = first + len(values)
        return runs

    def _on_message_error(self, message: Any, error: KafkaError) -> None:
        if error.code() == KafkaError._PARTITION_EOF:  # reached the end: the position is known
            tp = (message.topic(), message.partition())
            self._positions[tp] = max(self._positions.get(tp, 0), message.offset())
            return
        if error.fatal():
            raise PinpipeError(f"Kafka client failed for good: {error.str()} ({error.name()})")
        client_log.info("kafka consumer error (retried by the client): %s", error)

    def assignment(self) -> set[TopicPartition]:
        # Kept from the rebalance callbacks: Consumer.assignment() asks librdkafka's group thread,
        # which does not answer while a commit waits for an absent coordinator.
        return set(self._assignment)

    def positions(self, partitions: set[TopicPartition]) -> dict[TopicPartition, int | None]:
        return {tp: self._positions.get(tp) for tp in partitions}

    def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit and wait for the answer, at most ``timeout`` seconds (else KafkaException).

        In a rebalance callback: ``commit(offsets=..., asynchronous=False)`` (the coordinator is there:
        it runs the rebalance). Elsewhere the same commit is asked for asynchronously and awaited by
        consuming (the messages that arrive meanwhile are held for the next ``poll``), because
        librdkafka's synchronous commit waits, without a timeout, as long as the coordinator is away,
        and blocks every other call of the consumer meanwhile. A commit given up on may still be made
        later by librdkafka; it only ever names landed records.
        """
        partitions = [ConfluentPartition(t, p, o) for (t, p), o in offsets.items()]
        if self._in_callback:
            done = self._consumer.commit(offsets=partitions, asynchronous=False)
            failed = [tp for tp in done or [] if tp.error is not None]
            if failed:
                raise KafkaException(failed[0].error)
            return
        key = frozenset((t, p, o) for (t, p), o in offsets.items())
        self._waiting.add(key)
        self._consumer.commit(offsets=partitions, asynchronous=True)
        deadline = time.monotonic() + self.timeout
        while key not in self._answers and time.monotonic() < deadline:
            wait = max(0.0, min(0.05, deadline - time.monotonic()))
            # Consumed first, then added: a rebalance inside consume() replaces the held list.
            batch = self._consume(wait)
            self._held.extend(batch)
        self._waiting.discard(key)
        if key not in self._answers:
            raise KafkaException(
                KafkaError(KafkaError._TIMED_OUT, f"commit not answered within {self.timeout:g}s")
            )
        error = self._answers.pop(key)
        if error is not None:
            raise KafkaException(error)

    def _on_commit(self, error: KafkaError | None, partitions: list[ConfluentPartition]) -> None:
        """The answer to an asynchronous commit (served inside ``consume``)."""
        key = frozenset((tp.topic, tp.partition, tp.offset) for tp in partitions)
        if key not in self._waiting:
            return  # one given up on, answered late
        failed = [tp.error for tp in partitions if tp.error is not None]
        self._answers[key] = error if error is not None else (failed[0] if failed else None)

    def commit(self, offsets: dict[TopicPartition, int]) -> bool:
        try:
            self._commit(offsets)
        except KafkaException as exc:
            log.info("offset commit failed (will retry): %s", exc)
            return False
        return True

    def close(self) -> None:
        """Leave the group, waiting at most ``timeout`` seconds.

        The rebalance callbacks do nothing from here on (the landing has landed and committed what it
        keeps before it closes). librdkafka's close waits, without a timeout, for commits still
        waiting for an absent coordinator, so it runs in a helper thread; if the broker is gone for
        good, that thread is left to finish when the process exits.
        """
        self._closing = True
        closer = threading.Thread(target=self._close, name="pinpipe-consumer-close", daemon=True)
        closer.start()
        closer.join(self.timeout)
        if closer.is_alive():
            log.info("the consumer did not leave the group within %gs (broker away?)", self.timeout)

    def _close(self) -> None:
        try:
            self._consumer.close()
        except Exception as exc:  # e.g. already closed
            log.info("closing the consumer failed: %s", exc)
