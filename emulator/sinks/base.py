"""The sink interface: what every destination of the emulator's events implements and counts."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from emulator.source import Event


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
