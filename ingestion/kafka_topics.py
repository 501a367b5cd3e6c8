"""Kafka topics of the pipeline: ``<uid>.pin``, ``<uid>.geo``, ``<uid>.user``, created on request.

Needs the kafka extra (kafka-python).
"""

from __future__ import annotations

import contextlib

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from ingestion.errors import PinpipeError
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
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap,
            client_id="pinpipe-admin",
            bootstrap_timeout_ms=bootstrap_timeout_ms,
        )
    except KafkaError as exc:
        raise PinpipeError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}") from None
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(
                name=t,
                num_partitions=partitions or settings.partitions,
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
    return topics
