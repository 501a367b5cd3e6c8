"""Kafka (ingestion/kafka/): the broker, topics, the landing's consumer group, the clients.

Each field is the environment variable ``PINPIPE_<NAME>`` (or a key of the TOML file); the one
:class:`ingestion.settings.Settings` composes this group with the others.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator


class KafkaSettings(BaseModel):
    """Kafka (ingestion/kafka/) settings."""

    partitions: int = Field(default=1, ge=1, le=1024, description="Partitions per topic.")
    kafka_bootstrap: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers.")
    kafka_group: str = Field(default="", description="Consumer group of the landing (default per uid).")
    kafka_timeout: float = Field(
        default=10.0, gt=0, le=600, description="Kafka: seconds to connect and for each request."
    )
    kafka_outage_timeout: float = Field(
        default=120.0, gt=0, description="Kafka landing: a drain fails after this long without progress."
    )
    # Kafka's own default since 3.0 (KIP-735): at the broker's minimum (6 s) a member on a loaded machine
    # was evicted mid-drain because its heartbeats starved; a crashed member's partitions now wait longer.
    kafka_session_timeout_ms: int = Field(
        default=45_000,
        ge=6_000,
        le=300_000,
        description="Kafka landing: ms after which a silent group member is replaced.",
    )
    kafka_compression: str = Field(default="lz4", description="Producer compression: lz4, gzip, zstd, none.")
    kafka_client: str = Field(
        default="auto", description="Kafka client: auto (confluent when installed), confluent, kafka-python."
    )

    @field_validator("kafka_client")
    @classmethod
    def _check_kafka_client(cls, value: str) -> str:
        if value not in ("auto", "confluent", "kafka-python"):
            raise ValueError(f"kafka_client {value!r} must be auto, confluent or kafka-python")
        return value
