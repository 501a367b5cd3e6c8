"""Where the emulator sends events: one small interface, one module per destination.

A sink takes batches of events and delivers their records; it counts what it delivered and what it
could not deliver after its own retries, and flushes on ``close``. The emulator's core knows only this
interface; ``open_sink`` maps a sink name to its module, so a new destination slots in here.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from emulator.source import Event
from ingestion.errors import PinpipeError
from ingestion.settings import Settings


@dataclass
class SinkStats:
    """Records delivered and records given up on (after retries), over the sink's life."""

    delivered: int = 0
    failed: int = 0


class AnsweredCounts:
    """Thread-safe counts of a sink that waits for each request's answer (HTTP, Kinesis): records
    delivered and given up on, and failed attempts by kind (``errors``: each failed attempt of a
    record counts once, for the summary and tests)."""

    def __init__(self) -> None:
        self._counts_lock = threading.Lock()
        self._stats = SinkStats()
        self.errors: dict[str, int] = {}

    def _add(self, *, delivered: int = 0, failed: int = 0) -> None:
        with self._counts_lock:
            self._stats.delivered += delivered
            self._stats.failed += failed

    def _error(self, kind: str, count: int) -> None:
        with self._counts_lock:
            self.errors[kind] = self.errors.get(kind, 0) + count

    def stats(self) -> SinkStats:
        """Records delivered and given up on, so far."""
        with self._counts_lock:
            return SinkStats(self._stats.delivered, self._stats.failed)


class Sink(Protocol):
    """A destination for events."""

    name: str

    def send(self, events: Sequence[Event]) -> None:
        """Deliver (or queue for delivery) the three records of each event. Thread-safe."""

    def close(self) -> SinkStats:
        """Flush everything queued, release resources and return the final counts."""

    def stats(self) -> SinkStats:
        """Counts so far (for progress lines)."""


SINKS = ("lake", "kafka", "kinesis", "http")


def open_sink(name: str, settings: Settings) -> Sink:
    """Open the sink called ``name`` with the given settings."""
    if name == "lake":
        from emulator.sinks.lake import LakeSink

        return LakeSink(settings)
    if name == "kafka":
        from emulator.sinks.kafka import KafkaSink

        return KafkaSink(settings)
    if name == "kinesis":
        from emulator.sinks.kinesis import KinesisSink

        return KinesisSink(settings)
    if name == "http":
        from emulator.sinks.http import HttpSink

        return HttpSink(settings)
    raise PinpipeError(f"unknown sink {name!r}; choose one of {', '.join(SINKS)}")
