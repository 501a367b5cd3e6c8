"""Where the emulator sends events: one small interface, one module per destination.

A sink takes batches of events and delivers their records; it counts what it delivered and what it
could not deliver after its own retries, and flushes on ``close``. The emulator's core knows only this
interface; ``open_sink`` maps a sink name to its module, so a new destination slots in here.
"""

from __future__ import annotations

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
