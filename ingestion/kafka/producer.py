"""The project's kafka-python producer: idempotent, ``acks=all``, batched and compressed.

Used by the kafka-python producers of :mod:`ingestion.kafka.python_client` (the emulator's Kafka sink
and the gateway's, when kafka-python is the chosen client: ingestion/kafka/clients.py); the
confluent-kafka producers have the same settings in librdkafka's terms (ingestion/kafka/confluent.py).
Needs the kafka extra (kafka-python).
"""

from __future__ import annotations

from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from ingestion.errors import PinpipeError
from ingestion.kafka.roles import PRODUCER, compression
from ingestion.settings import Settings


def make_producer(settings: Settings, **overrides: Any) -> Any:
    """A KafkaProducer tuned for throughput with the project's delivery guarantees (``overrides``
    change single settings, e.g. the gateway's short linger)."""
    try:
        return KafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            client_id=f"pinpipe-emulator-{settings.uid}",
            compression_type=compression(settings),
            **{**PRODUCER, **overrides},
        )
    except KafkaError as exc:
        raise PinpipeError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}") from None
