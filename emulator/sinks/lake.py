"""The lake sink: writes events straight into the raw landing, no broker (the embedded default).

Each topic ``<uid>.<entity>`` is treated as a log with ``settings.partitions`` partitions; a record
goes to partition ``index % partitions`` at the next offset of that partition, continuing after what
is already landed. The objects look exactly like the ones the Kafka landing writes.

One lake sink per topic and lake: the sink takes the ``lake-sink.<topic>`` lock of each of its topics
(ingestion/locks.py) before it reads where the topics end, and holds them until ``close``. A second
sink is refused (LockHeld) or, with ``--wait``, continues after the first one's records.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence

from emulator.sinks.base import SinkStats
from emulator.source import Event
from ingestion.lake import Lake
from ingestion.landing import LandingWriter, next_offsets
from ingestion.locks import writer_locks
from ingestion.settings import ENTITIES, Settings


class LakeSink:
    """Appends records to the raw landing as newline-delimited objects."""

    name = "lake"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lake = Lake(settings.lake)
        self._locks = contextlib.ExitStack()
        self._locks.enter_context(
            writer_locks(self.lake, [f"lake-sink.{settings.topic(entity)}" for entity in ENTITIES])
        )
        self.writer = LandingWriter(
            self.lake,
            flush_records=settings.flush_records,
            flush_bytes=settings.flush_bytes,
            flush_seconds=settings.flush_seconds,
        )
        self._lock = threading.Lock()
        self._next: dict[tuple[str, int], int] = {}
        try:
            for entity in ENTITIES:
                topic = settings.topic(entity)
                for partition, offset in next_offsets(self.lake, topic).items():
                    self._next[(topic, partition)] = offset
        except BaseException:
            self._locks.close()
            raise
        self._stats = SinkStats()
        self._written = 0

    def send(self, events: Sequence[Event]) -> None:
        """Append the records of each event to its topic's partition."""
        partitions = self.settings.partitions
        topics = [(entity, self.settings.topic(entity)) for entity in ENTITIES]
        with self._lock:
            for event in events:
                partition = event.index % partitions
                for entity, topic in topics:
                    slot = (topic, partition)
                    offset = self._next.get(slot, 0)
                    self._next[slot] = offset + 1
                    self._count(self.writer.add(topic, partition, offset, event.records[entity]))
                self._written += len(topics)
            self._count(self.writer.flush_due())

    def _count(self, landed: list) -> None:
        self._stats.delivered += sum(obj.records for obj in landed)

    def stats(self) -> SinkStats:
        """Records landed so far (buffered records are not yet delivered)."""
        with self._lock:
            return SinkStats(self._stats.delivered, self._stats.failed)

    def close(self) -> SinkStats:
        """Land every buffered record, then let the topics' locks go."""
        with self._lock:
            try:
                self._count(self.writer.flush_all())
            finally:
                self._locks.close()
            return SinkStats(self._stats.delivered, self._stats.failed)
