"""Raw landing: record values of a topic partition (or stream shard) written as newline-delimited objects.

Layout (docs/architecture.md; what the Confluent S3 sink wrote in the original)::

    raw/topics/<topic>/partition=<p>/<topic>+<p>+<first offset:010d>.json

one record value per line, in offset order, the offsets of an object contiguous. The key is derived
from the first offset, so landing the same offsets again rewrites the same key instead of adding a copy.
A value that cannot be framed as one line (it holds a newline byte) is landed alone as
``<topic>+<p>+<offset:010d>.bin`` with its bytes untouched; the bronze loader reads it as one record.
Kinesis data lands alike under ``raw/streams/<stream>/<shard>/``.

Objects hold the values as they arrived. A UTF-8 byte order mark at the start of a value (and so at the
start of an object, written by a tool that adds one) is not part of the record: readers drop it with
:func:`strip_bom`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ingestion.lake import Lake

_KEY_RE = re.compile(
    r"^raw/topics/(?P<topic>[^/]+)/partition=(?P<partition>\d+)/"
    r"(?P=topic)\+(?P=partition)\+(?P<offset>\d{10,})\.(?P<ext>json|bin)$"
)


@dataclass(frozen=True)
class LandedObject:
    """One object the writer landed: where, which partition and offsets, and how big."""

    key: str
    topic: str
    partition: int
    first_offset: int
    records: int
    size: int


@dataclass(frozen=True)
class ObjectKey:
    """The parts of a landing key."""

    topic: str
    partition: int
    first_offset: int
    single: bool
    """True for a ``.bin`` object: one raw record that could not be framed as a line."""


def object_key(topic: str, partition: int, first_offset: int, *, single: bool = False) -> str:
    """The landing key of an object starting at ``first_offset``."""
    ext = "bin" if single else "json"
    return f"raw/topics/{topic}/partition={partition}/{topic}+{partition}+{first_offset:010d}.{ext}"


def parse_object_key(key: str) -> ObjectKey | None:
    """Parse a landing key; None for a key that is not a landing object."""
    match = _KEY_RE.match(key)
    if not match:
        return None
    return ObjectKey(
        topic=match["topic"],
        partition=int(match["partition"]),
        first_offset=int(match["offset"]),
        single=match["ext"] == "bin",
    )


UTF8_BOM = b"\xef\xbb\xbf"
"""The UTF-8 byte order mark some writers put at the start of a file or message."""


def strip_bom(value: bytes) -> bytes:
    """A record value (or an object) without the UTF-8 byte order mark it may start with."""
    return value[3:] if value.startswith(UTF8_BOM) else value


def split_lines(data: bytes) -> list[bytes]:
    """The record values of a ``.json`` object (the final newline ends the last record)."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


@dataclass
class _Buffer:
    first_offset: int
    next_offset: int
    opened_at: float
    lines: list[bytes] = field(default_factory=list)
    size: int = 0


class LandingWriter:
    """Buffers record values per topic partition and lands them as objects.

    An object is flushed when it holds ``flush_records`` records or ``flush_bytes`` bytes, when it is
    older than ``flush_seconds`` (checked on every ``add`` and by ``flush_due``), when the next offset
    is not contiguous, or on ``flush_all``. Not thread-safe: one writer per thread or a lock around it.
    """

    def __init__(
        self,
        lake: Lake,
        *,
        flush_records: int = 10_000,
        flush_bytes: int = 16 * 1024 * 1024,
        flush_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lake = lake
        self.flush_records = flush_records
        self.flush_bytes = flush_bytes
        self.flush_seconds = flush_seconds
        self._clock = clock
        self._buffers: dict[tuple[str, int], _Buffer] = {}

    def add(self, topic: str, partition: int, offset: int, value: bytes) -> list[LandedObject]:
        """Add one record value at its offset; returns the objects this call landed."""
        landed: list[LandedObject] = []
        slot = (topic, partition)
        buffer = self._buffers.get(slot)
        if buffer is not None and buffer.next_offset != offset:
            landed.append(self._flush(slot))
            buffer = None
        if b"\n" in value:
            if buffer is not None:
                landed.append(self._flush(slot))
            landed.append(self._land_single(topic, partition, offset, value))
            return landed
        if buffer is None:
            buffer = _Buffer(first_offset=offset, next_offset=offset, opened_at=self._clock())
            self._buffers[slot] = buffer
        buffer.lines.append(value)
        buffer.size += len(value) + 1
        buffer.next_offset = offset + 1
        if len(buffer.lines) >= self.flush_records or buffer.size >= self.flush_bytes:
            landed.append(self._flush(slot))
        return landed

    def flush_due(self) -> list[LandedObject]:
        """Land every open object older than ``flush_seconds``."""
        now = self._clock()
        due = [s for s, b in self._buffers.items() if now - b.opened_at >= self.flush_seconds]
        return [self._flush(slot) for slot in due]

    def flush_all(self) -> list[LandedObject]:
        """Land every open object."""
        return [self._flush(slot) for slot in list(self._buffers)]

    def pending(self) -> int:
        """Records buffered and not yet landed."""
        return sum(len(b.lines) for b in self._buffers.values())

    def open_offsets(self) -> dict[tuple[str, int], int]:
        """First offset of each open (not yet landed) object, per (topic, partition)."""
        return {slot: b.first_offset for slot, b in self._buffers.items()}

    def _flush(self, slot: tuple[str, int]) -> LandedObject:
        buffer = self._buffers.pop(slot)
        topic, partition = slot
        data = b"\n".join(buffer.lines) + b"\n"
        key = object_key(topic, partition, buffer.first_offset)
        self.lake.write_bytes(key, data)
        return LandedObject(key, topic, partition, buffer.first_offset, len(buffer.lines), len(data))

    def _land_single(self, topic: str, partition: int, offset: int, value: bytes) -> LandedObject:
        key = object_key(topic, partition, offset, single=True)
        self.lake.write_bytes(key, value)
        return LandedObject(key, topic, partition, offset, 1, len(value))


def next_offsets(lake: Lake, topic: str) -> dict[int, int]:
    """The offset after the last landed record of each partition of a topic (for log-style writers)."""
    last: dict[int, tuple[int, str, bool]] = {}
    for obj in lake.list(f"raw/topics/{topic}/"):
        parsed = parse_object_key(obj.key)
        if parsed is None or parsed.topic != topic:
            continue
        current = last.get(parsed.partition)
        if current is None or parsed.first_offset > current[0]:
            last[parsed.partition] = (parsed.first_offset, obj.key, parsed.single)
    result: dict[int, int] = {}
    for partition, (first, key, single) in last.items():
        count = 1 if single else len(split_lines(lake.read_bytes(key)))
        result[partition] = first + count
    return result
