"""Where the gateway sends records: Kafka (kafka-python producer) and Kinesis (boto3).

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
    """Produces to the uid's topics with the project's producer (idempotent, acks=all)."""

    def __init__(self, settings: Settings, *, timeout: float = 30.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self._producer: Any = None
        self._lock = threading.Lock()

    def _get_producer(self) -> Any:
        with self._lock:
            if self._producer is None:
                # the kafka extra, imported on the first Kafka request: the gateway runs without it
                from ingestion.kafka.producer import make_producer
                from ingestion.kafka.topics import ensure_topics

                try:
                    # short waits: an unreachable broker answers 503 in seconds, not after 30 s
                    ensure_topics(self.settings, bootstrap_timeout_ms=5_000)
                    # a short linger: each request waits for its acknowledgement
                    self._producer = make_producer(
                        self.settings, linger_ms=2, max_block_ms=5_000, bootstrap_timeout_ms=5_000
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
        from kafka.errors import KafkaError  # kafka extra

        try:
            found = self._get_producer().partitions_for(topic)
        except KafkaError as exc:
            raise Unavailable(f"Kafka metadata for {topic} unavailable: {exc}") from None
        if not found:
            raise NotFound(f"topic {topic} does not exist")
        return len(found)

    def produce(self, topic: str, records: list[tuple[bytes | None, bytes, int | None]]) -> list[KafkaResult]:
        """Send (key, value, partition) records and wait for each one's acknowledgement."""
        from kafka.errors import KafkaError, KafkaTimeoutError  # kafka extra

        producer = self._get_producer()
        futures: list[Any] = []
        for key, value, partition in records:
            try:
                futures.append(producer.send(topic, value=value, key=key, partition=partition))
            except KafkaTimeoutError as exc:  # no metadata within max_block_ms: the broker is away
                if not futures:
                    raise Unavailable(f"Kafka did not answer: {exc}") from None
                futures.append(exc)
            except KafkaError as exc:  # refused at once (e.g. larger than max_request_size)
                futures.append(exc)
        results: list[KafkaResult] = []
        for future in futures:
            if isinstance(future, Exception):
                results.append(_failure(future))
                continue
            try:
                metadata = future.get(timeout=self.timeout)
            except Exception as exc:
                results.append(_failure(exc))
            else:
                results.append(KafkaResult(metadata.partition, metadata.offset))
        if results and all(r.error_code == RETRIABLE_KAFKA_ERROR for r in results):
            raise Unavailable(f"Kafka took none of the records: {results[0].error}")
        return results

    def close(self) -> None:
        """Flush and close the producer."""
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=10)
                self._producer = None


def _failure(exc: BaseException) -> KafkaResult:
    retriable = bool(getattr(exc, "retriable", False)) or type(exc).__name__ in ("KafkaTimeoutError",)
    code = RETRIABLE_KAFKA_ERROR if retriable else INVALID_KAFKA_RECORD
    return KafkaResult(None, None, code, f"{type(exc).__name__}: {exc}"[:300])


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
