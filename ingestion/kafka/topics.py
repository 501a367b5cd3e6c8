"""Kafka topics of the pipeline: ``<uid>.pin``, ``<uid>.geo``, ``<uid>.user``, created on request.

With the chosen Kafka client's admin API (ingestion/kafka/clients.py): confluent-kafka's AdminClient or
kafka-python's KafkaAdminClient.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import uuid
from typing import Any

from ingestion.errors import PinpipeError
from ingestion.kafka.clients import choose_client
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


def _kafka_python_admin(settings: Settings, timeout_ms: int) -> Any:
    """kafka-python's admin client for the settings' cluster (PinpipeError if it cannot be reached)."""
    from kafka import KafkaAdminClient  # kafka extra
    from kafka.errors import KafkaError

    try:
        return KafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap,
            client_id="pinpipe-admin",
            bootstrap_timeout_ms=timeout_ms,
        )
    except KafkaError as exc:
        raise PinpipeError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}") from None


def _ensure_with_kafka_python(
    settings: Settings, topics: list[str], partitions: int, timeout_ms: int
) -> None:
    from kafka.admin import NewTopic  # kafka extra
    from kafka.errors import TopicAlreadyExistsError

    admin = _kafka_python_admin(settings, timeout_ms)
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


_U64 = 2**64 - 1


def canonical_topic_id(value: int) -> str | None:
    """A Kafka topic ID (a 128-bit UUID) as Kafka writes it (URL-safe base64, no padding); None for
    the zero UUID, which a broker without topic IDs (before 2.8) reports."""
    if not value:
        return None
    return base64.urlsafe_b64encode(value.to_bytes(16, "big")).rstrip(b"=").decode()


def _uuid_value(raw: Any) -> int:
    """A topic ID as kafka-python describes it (a UUID, or its text in either form) as a number."""
    if raw is None:
        return 0
    if isinstance(raw, uuid.UUID):
        return raw.int
    text = str(raw)
    try:
        return uuid.UUID(text).int
    except ValueError:
        return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


def topic_ids(settings: Settings, topics: list[str], timeout: float = 30.0) -> dict[str, str | None]:
    """The topic ID of each existing topic of ``topics`` (its incarnation: a topic deleted and created
    again gets a new one); None where the broker reports none. Missing topics are left out."""
    if choose_client(settings) == "confluent":
        return _topic_ids_with_confluent(settings, topics, timeout)
    return _topic_ids_with_kafka_python(settings, topics, int(timeout * 1000))


def _topic_ids_with_confluent(settings: Settings, topics: list[str], timeout: float) -> dict[str, str | None]:
    from confluent_kafka import KafkaException, TopicCollection  # kafka-fast extra
    from confluent_kafka.admin import AdminClient

    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "client.id": "pinpipe-admin",
        "logger": logging.getLogger("confluent_kafka"),
    }
    admin = AdminClient(config)
    found: dict[str, str | None] = {}
    futures = admin.describe_topics(TopicCollection(topics), request_timeout=timeout)
    for topic, future in futures.items():
        try:
            uuid = future.result().topic_id  # two signed 64-bit halves, most significant first
            high, low = uuid.get_most_significant_bits(), uuid.get_least_significant_bits()
            found[topic] = canonical_topic_id(((high & _U64) << 64) | (low & _U64))
        except KafkaException as exc:
            if exc.args[0].code() != -188 and "UNKNOWN_TOPIC" not in exc.args[0].name():
                raise PinpipeError(
                    f"cannot read the topic ID of {topic} from Kafka at {settings.kafka_bootstrap}: "
                    f"{exc.args[0].str()}"
                ) from None
    return found


def _topic_ids_with_kafka_python(
    settings: Settings, topics: list[str], timeout_ms: int
) -> dict[str, str | None]:
    admin = _kafka_python_admin(settings, timeout_ms)
    try:
        described = admin.describe_topics(topics)
    finally:
        admin.close()
    found: dict[str, str | None] = {}
    for topic in described:
        if topic.get("error_code", 0) == 0 and topic.get("name") in topics:
            found[topic["name"]] = canonical_topic_id(_uuid_value(topic.get("topic_id")))
    return found
