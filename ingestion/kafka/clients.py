"""Which Kafka client plays the three roles (:mod:`ingestion.kafka.roles`).

Clients (one module each, both behind the roles' Protocols, both with the same guarantees):

- ``confluent``: confluent-kafka (librdkafka in the wheel), :mod:`ingestion.kafka.confluent`, extra
  ``kafka-fast``; several times faster, the one used wherever it is installed;
- ``kafka-python``: the pure-Python client, :mod:`ingestion.kafka.python_client`, extra ``kafka``; the
  portable one.

The setting ``kafka_client`` (``PINPIPE_KAFKA_CLIENT``) chooses: ``auto`` (the default) is confluent
when it can be imported, else kafka-python.
"""

from __future__ import annotations

import importlib.util

from ingestion.errors import PinpipeError
from ingestion.kafka.roles import AcknowledgingProducer, LandingConsumer, RecordProducer
from ingestion.settings import Settings

CLIENTS = ("confluent", "kafka-python")
"""The client implementations, fastest first."""

_PACKAGE = {"confluent": ("confluent_kafka", "kafka-fast"), "kafka-python": ("kafka", "kafka")}
"""Client → (the package it imports, the project's extra that installs it)."""


def installed(client: str) -> bool:
    """Whether a client's package can be imported."""
    return importlib.util.find_spec(_PACKAGE[client][0]) is not None


def choose_client(settings: Settings) -> str:
    """The client the settings ask for: ``confluent`` or ``kafka-python`` (``auto``: the first installed)."""
    wanted = settings.kafka_client
    if wanted == "auto":
        for client in CLIENTS:
            if installed(client):
                return client
        raise PinpipeError(
            "no Kafka client is installed: install the project's kafka-fast extra (confluent-kafka) or its "
            "kafka extra (kafka-python)"
        )
    if not installed(wanted):
        package, extra = _PACKAGE[wanted]
        raise PinpipeError(
            f"PINPIPE_KAFKA_CLIENT={wanted} needs {package}, which is not installed: install the project's "
            f"{extra} extra, or set PINPIPE_KAFKA_CLIENT=auto"
        )
    return wanted


def open_producer(settings: Settings) -> RecordProducer:
    """The chosen client's producer for the uid's topics (PinpipeError if Kafka cannot be reached)."""
    if choose_client(settings) == "confluent":
        from ingestion.kafka.confluent import ConfluentProducer  # kafka-fast extra

        return ConfluentProducer(settings)
    from ingestion.kafka.python_client import KafkaPythonProducer  # kafka extra

    return KafkaPythonProducer(settings)


def open_landing_consumer(settings: Settings, *, client_id: str, timeout: float) -> LandingConsumer:
    """The chosen client's consumer of the landing group; fails (PinpipeError, one line) when Kafka
    cannot be reached within ``timeout`` seconds."""
    if choose_client(settings) == "confluent":
        from ingestion.kafka.confluent import ConfluentLandingConsumer  # kafka-fast extra

        return ConfluentLandingConsumer(settings, client_id=client_id, timeout=timeout)
    from ingestion.kafka.python_client import KafkaPythonLandingConsumer  # kafka extra

    return KafkaPythonLandingConsumer(settings, client_id=client_id, timeout=timeout)


def open_acknowledging_producer(
    settings: Settings, *, timeout: float, connect_timeout: float
) -> AcknowledgingProducer:
    """The chosen client's producer that answers for each record within ``timeout`` seconds; raises
    KafkaUnreachable when Kafka does not answer within ``connect_timeout`` seconds."""
    if choose_client(settings) == "confluent":
        from ingestion.kafka.confluent import ConfluentAcknowledgingProducer  # kafka-fast extra

        return ConfluentAcknowledgingProducer(settings, timeout=timeout, connect_timeout=connect_timeout)
    from ingestion.kafka.python_client import KafkaPythonAcknowledgingProducer  # kafka extra

    return KafkaPythonAcknowledgingProducer(settings, timeout=timeout, connect_timeout=connect_timeout)
