"""The project's Kafka producer: idempotent, ``acks=all``, batched and compressed.

Used by the emulator's Kafka sink, the gateway's Kafka backend and the Kafka benchmark, so all three
deliver with the same guarantees. Needs the kafka extra (kafka-python).
"""

from __future__ import annotations

from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from ingestion.errors import PinpipeError
from ingestion.settings import Settings

PRODUCER_TUNING: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 20,
    "batch_size": 256 * 1024,
    "max_in_flight_requests_per_connection": 5,
    "retries": 2_147_483_647,
    "delivery_timeout_ms": 120_000,
}
"""Producer settings shared by the sink, the gateway and the benchmark's bare producer."""


def make_producer(settings: Settings, **overrides: Any) -> Any:
    """A KafkaProducer tuned for throughput with the project's delivery guarantees (``overrides``
    change single settings, e.g. the gateway's short linger)."""
    compression = None if settings.kafka_compression == "none" else settings.kafka_compression
    try:
        return KafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            client_id=f"pinpipe-emulator-{settings.uid}",
            compression_type=compression,
            **{**PRODUCER_TUNING, **overrides},
        )
    except KafkaError as exc:
        raise PinpipeError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}") from None
