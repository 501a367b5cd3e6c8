"""The project's kafka-python producer: idempotent, ``acks=all``, batched and compressed.

Used by the gateway's Kafka backend and, through :class:`ingestion.kafka.python_client.KafkaPythonProducer`,
by the emulator's Kafka sink when kafka-python is the chosen client (ingestion/kafka/clients.py); the
confluent-kafka producer has the same settings in librdkafka's terms (ingestion/kafka/confluent.py).
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
