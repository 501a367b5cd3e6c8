"""Where the gateway sends records: Kafka (the chosen client, ingestion/kafka/clients.py) and Kinesis
(boto3).

Each backend connects lazily (the gateway starts even while a broker is down) and turns the
transport's failures into :class:`Unavailable` (the caller answers 503 with Retry-After) or into a
per-record error the answer carries, so a client learns exactly which records to send again.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from ingestion.errors import PinpipeError
from ingestion.kafka.roles import KafkaUnreachable, TopicMissing
from ingestion.settings import Settings

log = logging.getLogger(__name__)

RETRIABLE_KAFKA_ERROR = 50002
"""error_code of a record Kafka did not take for a passing reason (timeout, no leader): send it again."""
INVALID_KAFKA_RECORD = 42201
"""error_code of a record Kafka refused for good (too large, invalid): do not send it again."""


class Unavailable(Exception):
    """The broker or Kinesis cannot be reached now; ``retry_after`` seconds is a sensible wait."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotFound(Exception):
    """The topic, partition or stream does not exist."""


@dataclass(frozen=True)
class KafkaResult:
    """One record's outcome, shaped like a REST Proxy v2 offset entry."""

    partition: int | None
    offset: int | None
    error_code: int | None = None
    error: str | None = None


class KafkaBackend:
    """Produces to the uid's topics with the chosen client's acknowledging producer (idempotent,
    acks=all; :class:`ingestion.kafka.roles.AcknowledgingProducer`)."""

    def __init__(self, settings: Settings, *, timeout: float = 30.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self._producer: Any = None
        self._lock = threading.Lock()

    def _get_producer(self) -> Any:
        with self._lock:
            if self._producer is None:
                # the kafka extras, imported on the first Kafka request: the gateway runs without them
                from ingestion.kafka.clients import open_acknowledging_producer
                from ingestion.kafka.topics import ensure_topics

                try:
                    # short waits: an unreachable broker answers 503 in seconds, not after 30 s
                    ensure_topics(self.settings, bootstrap_timeout_ms=5_000)
                    self._producer = open_acknowledging_producer(
                        self.settings, timeout=self.timeout, connect_timeout=5.0
                    )
                except PinpipeError as exc:
                    raise Unavailable(str(exc)) from None
                except Exception as exc:  # NoBrokersAvailable and friends
                    raise Unavailable(
                        f"Kafka at {self.settings.kafka_bootstrap} is unreachable: {exc}"
                    ) from None
            return self._producer

    def partitions(self, topic: str) -> int:
        """The topic's partition count (from the producer's metadata)."""
        try:
            count: int = self._get_producer().partitions(topic)
        except TopicMissing as exc:
            raise NotFound(str(exc)) from None
        except KafkaUnreachable as exc:
            raise Unavailable(str(exc)) from None
        return count

    def produce(self, topic: str, records: list[tuple[bytes | None, bytes, int | None]]) -> list[KafkaResult]:
        """Send (key, value, partition) records and wait for each one's acknowledgement."""
        try:
            answers = self._get_producer().send_and_wait(topic, records)
        except KafkaUnreachable as exc:
            raise Unavailable(str(exc)) from None
        results = [
            KafkaResult(a.partition, a.offset)
            if a.error is None
            else KafkaResult(
                None, None, RETRIABLE_KAFKA_ERROR if a.retriable else INVALID_KAFKA_RECORD, a.error
            )
            for a in answers
        ]
        if results and all(r.error_code == RETRIABLE_KAFKA_ERROR for r in results):
            raise Unavailable(f"Kafka took none of the records: {results[0].error}")
        return results

    def close(self) -> None:
        """Deliver what is queued and close the producer."""
        with self._lock:
            if self._producer is not None:
                self._producer.close()
                self._producer = None


class KinesisBackend:
    """PutRecord / PutRecords on the uid's streams."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Any = None
        self._lock = threading.Lock()

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                from ingestion.kinesis import kinesis_client  # kinesis extra, on the first request

                try:
                    self._client = kinesis_client(max_pool_connections=32)
                except PinpipeError as exc:
                    raise Unavailable(str(exc)) from None
            return self._client

    def put_record(self, stream: str, data: bytes, key: str) -> dict[str, Any]:
        """PutRecord; the answer's SequenceNumber and ShardId."""
        answer = self._call("put_record", StreamName=stream, Data=data, PartitionKey=key)
        return {"SequenceNumber": answer["SequenceNumber"], "ShardId": answer["ShardId"]}

    def put_records(self, stream: str, records: list[tuple[bytes, str]]) -> dict[str, Any]:
        """PutRecords; FailedRecordCount and one result per record, in order."""
        entries = [{"Data": data, "PartitionKey": key} for data, key in records]
        answer = self._call("put_records", StreamName=stream, Records=entries)
        return {"FailedRecordCount": answer.get("FailedRecordCount", 0), "Records": answer["Records"]}

    def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        from ingestion.kinesis import error_code, is_retryable  # kinesis extra

        client = self._get_client()
        try:
            answer: dict[str, Any] = getattr(client, method)(**kwargs)
        except Exception as exc:
            code = error_code(exc)
            if code == "ResourceNotFoundException":
                raise NotFound(f"stream {kwargs['StreamName']} does not exist") from None
            if is_retryable(exc):
                raise Unavailable(f"Kinesis: {code}", retry_after=1 if "Throughput" in code else 5) from None
            raise
        return answer
