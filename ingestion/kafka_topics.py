"""Kafka topics of the pipeline: ``<uid>.pin``, ``<uid>.geo``, ``<uid>.user``, created on request.

With the chosen Kafka client's admin API (ingestion/kafka_clients.py): confluent-kafka's AdminClient or
kafka-python's KafkaAdminClient.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from ingestion.errors import PinpipeError
from ingestion.kafka_clients import choose_client
from ingestion.settings import ENTITIES, Settings

MAX_MESSAGE_BYTES = 8 * 1024 * 1024
"""Topics accept records up to 8 MiB, so an oversized record reaches bronze's quarantine (limit 1 MiB)
instead of being refused at the producer with nothing recorded."""


def ensure_topics(
    settings: Settings, partitions: int | None = None, bootstrap_timeout_ms: int = 30_000
) -> list[str]:
    """Create the three topics with ``partitions`` partitions where missing; returns the topic names.

    An existing topic is left as it is (its partition count is not changed). An unreachable broker
    raises PinpipeError after ``bootstrap_timeout_ms``.
    """
    topics = [settings.topic(e) for e in ENTITIES]
    count = partitions or settings.partitions
    if choose_client(settings) == "confluent":
        _ensure_with_confluent(settings, topics, count, bootstrap_timeout_ms / 1000)
    else:
        _ensure_with_kafka_python(settings, topics, count, bootstrap_timeout_ms)
    return topics


def _ensure_with_confluent(settings: Settings, topics: list[str], partitions: int, timeout: float) -> None:
    from confluent_kafka import KafkaError, KafkaException  # kafka-fast extra
    from confluent_kafka.admin import AdminClient, NewTopic

    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "client.id": "pinpipe-admin",
        "logger": logging.getLogger("confluent_kafka"),  # not straight to stderr
    }
    admin = AdminClient(config)
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
        wanted = [
            NewTopic(t, partitions, 1, config={"max.message.bytes": str(MAX_MESSAGE_BYTES)})
            for t in topics
            if t not in existing
        ]
        for future in admin.create_topics(wanted, request_timeout=timeout).values() if wanted else []:
            try:
                future.result()
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:  # another process was quicker
                    raise
    except KafkaException as exc:
        raise PinpipeError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc.args[0].str()}") from None


def _ensure_with_kafka_python(
    settings: Settings, topics: list[str], partitions: int, timeout_ms: int
) -> None:
    from kafka import KafkaAdminClient  # kafka extra
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap,
            client_id="pinpipe-admin",
            bootstrap_timeout_ms=timeout_ms,
        )
    except KafkaError as exc:
        raise PinpipeError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}") from None
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(
                name=t,
                num_partitions=partitions,
                replication_factor=1,
                topic_configs={"max.message.bytes": str(MAX_MESSAGE_BYTES)},
            )
            for t in topics
            if t not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process was quicker
                admin.create_topics(wanted)
    finally:
        admin.close()
