"""The Kafka sink: produces each record to ``<uid>.<entity>`` with the index as the key.

Through the project's producer (ingestion/kafka/clients.py: confluent-kafka where installed, else
kafka-python; setting ``kafka_client``): idempotent with ``acks=all`` (no duplicates from its own
retries, nothing acknowledged before every in-sync replica has it), batched, compressed (lz4 by
default). Records given up on after the producer's own retries are counted as failed; ``close``
waits for everything outstanding before it returns the counts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from emulator.sinks.base import SinkStats
from emulator.source import Event
from ingestion.kafka.clients import open_producer
from ingestion.kafka.topics import ensure_topics
from ingestion.settings import ENTITIES, Settings

log = logging.getLogger(__name__)


class KafkaSink:
    """Produces records to the pipeline's three topics."""

    name = "kafka"

    def __init__(self, settings: Settings, *, create_topics: bool = True) -> None:
        self.settings = settings
        if create_topics:
            ensure_topics(settings)
        self.producer = open_producer(settings)
        self.topics = [(entity, settings.topic(entity)) for entity in ENTITIES]

    def send(self, events: Sequence[Event]) -> None:
        """Queue the records of each event (key: the index as bytes); thread-safe."""
        pin, geo, user = self.topics
        records = [
            record
            for event in events
            for key, by_entity in ((b"%d" % event.index, event.records),)
            for record in (
                (pin[1], key, by_entity[pin[0]]),
                (geo[1], key, by_entity[geo[0]]),
                (user[1], key, by_entity[user[0]]),
            )
        ]
        self.producer.send_batch(records)

    def stats(self) -> SinkStats:
        """Counts of delivery results received so far."""
        counts = self.producer.counts()
        return SinkStats(counts.delivered, counts.failed)

    def close(self) -> SinkStats:
        """Flush every queued record (waiting for its acknowledgement), then close the producer."""
        counts = self.producer.close()
        if counts.errors:
            log.warning("kafka delivery failures by kind: %s", counts.errors)
        return SinkStats(counts.delivered, counts.failed)
