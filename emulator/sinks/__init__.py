"""Where the emulator sends events: one small interface, one module per destination.

A sink takes batches of events and delivers their records; it counts what it delivered and what it
could not deliver after its own retries, and flushes on ``close``. The emulator's core knows only this
interface; ``open_sink`` maps a sink name to its module, so a new destination slots in here.
"""

from __future__ import annotations

from emulator.sinks.base import AnsweredCounts, Sink, SinkStats
from emulator.sinks.lake import LakeSink
from ingestion.errors import PinpipeError
from ingestion.settings import Settings

__all__ = ["SINKS", "AnsweredCounts", "Sink", "SinkStats", "open_sink"]

SINKS = ("lake", "kafka", "kinesis", "http")
_EXTRA = {"kafka": "kafka", "kinesis": "kinesis", "http": "gateway"}
"""The optional extra each sink but the lake sink needs."""


def open_sink(name: str, settings: Settings) -> Sink:
    """Open the sink called ``name`` with the given settings.

    The lake sink needs nothing beyond the core install; the others import their module here, when
    chosen, because each needs an optional extra (kafka, kinesis, gateway's httpx).
    """
    if name == "lake":
        return LakeSink(settings)
    try:
        if name == "kafka":
            from emulator.sinks.kafka import KafkaSink  # kafka extra

            return KafkaSink(settings)
        if name == "kinesis":
            from emulator.sinks.kinesis import KinesisSink  # kinesis extra

            return KinesisSink(settings)
        if name == "http":
            from emulator.sinks.http import HttpSink  # gateway extra (httpx)

            return HttpSink(settings)
    except ImportError as exc:
        raise PinpipeError(
            f"the {name} sink needs a package that is not installed ({exc.name}): install the project's "
            f"{_EXTRA[name]} extra"
        ) from None
    raise PinpipeError(f"unknown sink {name!r}; choose one of {', '.join(SINKS)}")
