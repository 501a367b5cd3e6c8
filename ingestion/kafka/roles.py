"""The two roles a Kafka client plays in pinpipe, whichever client plays them.

One Protocol each: a :class:`RecordProducer` (the emulator's Kafka sink), an
:class:`AcknowledgingProducer` (the gateway's: an answer for every record, REST Proxy style) and a
:class:`LandingConsumer` (the consumer under :class:`ingestion.kafka.landing.KafkaLanding`, which keeps
the landing's rules: buffering, offsets committed after durable writes, rebalances, drains); the
delivery and fetch settings both clients apply. The clients (``confluent.py``, ``python_client.py``)
import this module; :mod:`ingestion.kafka.clients` chooses one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ingestion.errors import PinpipeError
from ingestion.settings import Settings

TopicPartition = tuple[str, int]
"""A partition, client-independent: (topic, partition)."""

Run = tuple[str, int, int, list[bytes]]
"""Records polled from one partition with contiguous offsets: (topic, partition, first offset, values);
a record without a value is ``b""``."""

START_HINT = "start it with `pinpipe kafka start` or set PINPIPE_KAFKA_BOOTSTRAP"

PRODUCER: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 20,
    "batch_size": 256 * 1024,
    "max_in_flight_requests_per_connection": 5,
    "retries": 2_147_483_647,
    "delivery_timeout_ms": 120_000,
    "max_request_size": 1024 * 1024,
}
"""The producer's delivery settings, for both clients (kafka-python's names): idempotent, ``acks=all``,
batched; a record larger than 1 MiB is refused (counted as failed)."""

CONSUMER: dict[str, Any] = {
    "max_partition_fetch_bytes": 8 * 1024 * 1024,
    "fetch_max_bytes": 64 * 1024 * 1024,
    "max_poll_records": 5_000,
    "reconnect_backoff_max_ms": 2_000,
    "heartbeat_interval_ms": 2_000,
}
"""The landing consumer's fetch and group settings, for both clients (kafka-python's names); the session
timeout is ``Settings.kafka_session_timeout_ms``."""


def compression(settings: Settings) -> str | None:
    """The producer compression (None for ``none``)."""
    return None if settings.kafka_compression == "none" else settings.kafka_compression


@dataclass
class DeliveryCounts:
    """Records a producer delivered and gave up on (after its retries), and failures by kind."""

    delivered: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)


class RecordProducer(Protocol):
    """An idempotent producer with ``acks=all``, batching and the configured compression."""

    client: str

    def send_batch(self, records: Sequence[tuple[str, bytes | None, bytes | None]]) -> None:
        """Queue (topic, key, value) records for delivery. Thread-safe; never raises for one record:
        a record the client refuses at once (too large, say) is counted as failed."""

    def counts(self) -> DeliveryCounts:
        """Delivery results so far."""

    def close(self) -> DeliveryCounts:
        """Wait until every queued record is delivered or given up on, close, return the counts."""


class KafkaUnreachable(PinpipeError):
    """Kafka could not be reached in time: nothing was sent (the gateway answers 503)."""


class TopicMissing(PinpipeError):
    """The topic does not exist (the gateway answers 404)."""


@dataclass(frozen=True)
class Acknowledgement:
    """One record's answer from an :class:`AcknowledgingProducer`: where it was written, or why not
    and whether sending it again may succeed (a timeout, no leader) or never will (too large)."""

    partition: int | None = None
    offset: int | None = None
    error: str | None = None
    retriable: bool = False


class AcknowledgingProducer(Protocol):
    """A producer that waits for the broker's answer to each record (idempotent, ``acks=all``, short
    linger): the gateway tells its client exactly which records to send again."""

    client: str

    def partitions(self, topic: str) -> int:
        """The topic's partition count (TopicMissing, or KafkaUnreachable)."""

    def send_and_wait(
        self, topic: str, records: Sequence[tuple[bytes | None, bytes, int | None]]
    ) -> list[Acknowledgement]:
        """Send (key, value, partition or None) records; one answer per record, in order, within the
        producer's timeout. KafkaUnreachable when the first record cannot even be queued."""

    def close(self) -> None:
        """Deliver what is queued (bounded), then close."""


class RebalanceHooks(Protocol):
    """What the landing does when partitions move (implemented by KafkaLanding)."""

    def assigned(self, partitions: set[TopicPartition]) -> None:
        """Partitions were assigned to this member."""

    def revoking(self, partitions: set[TopicPartition]) -> dict[TopicPartition, int]:
        """Partitions are about to move: land the open objects; returns the offsets to commit now."""

    def revoked(
        self, partitions: set[TopicPartition], committed: dict[TopicPartition, int], error: Exception | None
    ) -> None:
        """The revoked partitions' offsets were committed (``error`` None) or not; forget the partitions."""

    def lost(self, partitions: set[TopicPartition]) -> None:
        """Partitions were taken away without a revocation (an eviction): drop their open objects."""


class LandingConsumer(Protocol):
    """A group member with manual commits, as the landing needs it. Errors reaching Kafka are raised as
    PinpipeError naming the servers; an error of a rebalance hook is raised by ``poll`` as itself."""

    client: str

    def subscribe(self, topics: list[str], hooks: RebalanceHooks) -> None:
        """Join the group on ``topics``; ``hooks`` are called from inside ``poll`` on this thread (or,
        for kafka-python, on its IO thread while ``poll`` blocks this one)."""

    def end_offsets(self, topics: list[str]) -> dict[TopicPartition, int]:
        """The end offset of every partition of ``topics`` (PinpipeError if a topic does not exist)."""

    def poll(self) -> list[Run]:
        """The records that arrived (at most ~0.2 s of waiting), as runs of contiguous offsets."""

    def assignment(self) -> set[TopicPartition]:
        """The partitions this member owns now."""

    def positions(self, partitions: set[TopicPartition]) -> dict[TopicPartition, int | None]:
        """The next offset to read of each partition (None where not known yet, e.g. broker away)."""

    def commit(self, offsets: dict[TopicPartition, int]) -> bool:
        """Commit synchronously (offset = the next offset to read); False if it failed (logged)."""

    def close(self) -> None:
        """Leave the group without committing anything more."""
