"""Raw landing: record values of a topic partition (or stream shard) written as newline-delimited objects.

Layout (docs/architecture.md; what the Confluent S3 sink wrote in the original)::

    raw/topics/<topic>/partition=<p>/<topic>+<p>+<first offset:010d>.json
    raw/topics/<topic>/topic_id=<id>/partition=<p>/<topic>+<p>+<first offset:010d>.json

one record value per line, in offset order, the offsets of an object contiguous. The key is derived
from the first offset, so landing the same offsets again finds the same key instead of adding a copy.

**Write-once**: an object is never overwritten (:meth:`ingestion.lake.Lake.create_bytes`: a hard link
locally, ``If-None-Match: *`` on S3). Landing a key that exists is accepted only as a retry of the same
records: the same bytes (nothing is written), or, after a crash of a writer whose objects are cut by
time (the Kafka landing), the same records cut elsewhere: the records the existing object holds are
skipped and the rest lands as the next object (``<topic>+<p>+<first offset not yet landed>``). An
existing object that holds *other* records at those offsets is an error naming the key
(:class:`ingestion.lake.ObjectConflict`), never a silent replace.

**Naming**: the lake sink and the Kafka landing write the same layout and the same names on purpose
(bronze reads both alike, and bronze keeps each ``(topic, partition, offset)`` once, so two writers of
one topic in one lake could never both be kept). One topic of one lake therefore has one kind of
writer: the lake sink (one at a time, by its ``lake-sink.<topic>`` lock, see ingestion/locks.py) or
the Kafka landing of one cluster's topic (one consumer group; each partition has one owner). Mixing
them, e.g. ``pinpipe run --via kafka`` after a lake-sink run in the same lake, stops at the first
colliding key with that error: use another lake (``--lake``) or uid (``--uid``) for the other writer.
A value that cannot be framed as one line (it holds a newline byte) is landed alone as
``<topic>+<p>+<offset:010d>.bin`` with its bytes untouched; the bronze loader reads it as one record.
Kinesis data lands alike under ``raw/streams/<stream>/<shard>/``.

**Incarnations**: a Kafka topic deleted and created again under the same name starts again at offset
0. The Kafka landing therefore writes under ``topic_id=<id>/`` (Kafka's topic ID, a UUID every topic
has since Kafka 2.8): each incarnation of a topic has keys of its own, and bronze keeps the ID as
lineage (``_topic_id``), part of a delivery's identity. Writers that know no topic ID (the lake sink,
a Confluent S3 sink, objects landed before pinpipe recorded IDs) write the first layout; their
incarnation is "unknown", one of its own (docs/data-contract.md, "Delivery identity").

Objects hold the values as they arrived. A UTF-8 byte order mark at the start of a value (and so at the
start of an object, written by a tool that adds one) is not part of the record: readers drop it with
:func:`strip_bom`.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import accumulate

import orjson

from ingestion.lake import Lake, ObjectConflict

_KEY_RE = re.compile(
    r"^raw/topics/(?P<topic>[^/]+)/(?:topic_id=(?P<topic_id>[A-Za-z0-9_-]+)/)?partition=(?P<partition>\d+)/"
    r"(?P=topic)\+(?P=partition)\+(?P<offset>\d{10,})\.(?P<ext>json|bin)$"
)
_TOPIC_ID = re.compile(r"[A-Za-z0-9_-]+")


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
    topic_id: str | None = None
    """The Kafka topic ID of the incarnation landed (``topic_id=<id>/``); None where unknown."""


def object_key(
    topic: str, partition: int, first_offset: int, *, single: bool = False, topic_id: str | None = None
) -> str:
    """The landing key of an object starting at ``first_offset`` (of a topic incarnation, if known)."""
    ext = "bin" if single else "json"
    incarnation = ""
    if topic_id is not None:
        if not _TOPIC_ID.fullmatch(topic_id):
            raise ValueError(f"topic ID {topic_id!r}: expected letters, digits, '-' and '_' only")
        incarnation = f"topic_id={topic_id}/"
    return (
        f"raw/topics/{topic}/{incarnation}partition={partition}/{topic}+{partition}+{first_offset:010d}.{ext}"
    )


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
        topic_id=match["topic_id"],
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
    """An open object: ``b"".join(parts)`` is its bytes (each record followed by a newline).

    A run of records is kept as one joined part rather than one bytes object per record: the open
    objects of a Kafka landing hold up to millions of records, and a list of millions of objects makes
    every full garbage collection of the process walk all of them.
    """

    first_offset: int
    next_offset: int
    opened_at: float
    parts: list[bytes] = field(default_factory=list)
    records: int = 0
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
        self._topic_ids: dict[str, str] = {}

    def set_topic_id(self, topic: str, topic_id: str | None) -> list[LandedObject]:
        """The incarnation (Kafka topic ID) the records of ``topic`` added from now on belong to; the
        open objects of an earlier incarnation are landed first (returned)."""
        if self._topic_ids.get(topic) == topic_id:
            return []
        landed = [self._flush(slot) for slot in list(self._buffers) if slot[0] == topic]
        if topic_id is None:
            self._topic_ids.pop(topic, None)
        else:
            self._topic_ids[topic] = topic_id
        return landed

    def topic_id(self, topic: str) -> str | None:
        """The incarnation (Kafka topic ID) of ``topic`` the records added now belong to, if known."""
        return self._topic_ids.get(topic)

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
            landed.append(self._land_single(topic, partition, offset, value, self.topic_id(topic)))
            return landed
        if buffer is None:
            buffer = _Buffer(first_offset=offset, next_offset=offset, opened_at=self._clock())
            self._buffers[slot] = buffer
        buffer.parts += (value, b"\n")
        buffer.records += 1
        buffer.size += len(value) + 1
        buffer.next_offset = offset + 1
        if buffer.records >= self.flush_records or buffer.size >= self.flush_bytes:
            landed.append(self._flush(slot))
        return landed

    def add_run(
        self, topic: str, partition: int, first_offset: int, values: list[bytes]
    ) -> list[LandedObject]:
        """Add the values of contiguous offsets from ``first_offset`` on; the same objects as one ``add``
        per value, at a small cost per record (the Kafka landing's hot path)."""
        if not values:
            return []
        joined = b"\n".join(values)  # the run's lines; one copy, no object per record kept
        if joined.count(b"\n") != len(values) - 1:  # a value holds a newline
            landed: list[LandedObject] = []
            for i, value in enumerate(values):
                landed += self.add(topic, partition, first_offset + i, value)
            return landed
        landed = []
        slot = (topic, partition)
        done, count, pos = 0, len(values), 0  # values taken so far, all of them, bytes of joined taken
        while done < count:
            buffer = self._buffers.get(slot)
            if buffer is not None and buffer.next_offset != first_offset:
                landed.append(self._flush(slot))
                buffer = None
            if buffer is None:
                buffer = _Buffer(first_offset=first_offset, next_offset=first_offset, opened_at=self._clock())
                self._buffers[slot] = buffer
            take = min(count - done, self.flush_records - buffer.records)
            if take == count - done:
                size = len(joined) - pos + 1
            else:
                size = sum(map(len, values[done : done + take])) + take
            if buffer.size + size >= self.flush_bytes:  # the object fills up within this run
                # the object's size after each value
                ends = list(accumulate(len(v) + 1 for v in values[done : done + take]))
                take = bisect_left(ends, self.flush_bytes - buffer.size) + 1
                size = ends[take - 1]
            if done + take < count:  # the object ends within the run: its lines, newline included
                buffer.parts.append(joined[pos : pos + size])
            else:  # the rest of the run (joined has no newline after its last value)
                buffer.parts += (joined if pos == 0 else joined[pos:], b"\n")
            buffer.records += take
            buffer.size += size
            buffer.next_offset = first_offset + take
            if buffer.records >= self.flush_records or buffer.size >= self.flush_bytes:
                landed.append(self._flush(slot))
            done += take
            pos += size
            first_offset += take
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
        return sum(b.records for b in self._buffers.values())

    def open_offsets(self) -> dict[tuple[str, int], int]:
        """First offset of each open (not yet landed) object, per (topic, partition)."""
        return {slot: b.first_offset for slot, b in self._buffers.items()}

    def _flush(self, slot: tuple[str, int]) -> LandedObject:
        buffer = self._buffers.pop(slot)
        topic, partition = slot
        topic_id = self.topic_id(topic)
        key = object_key(topic, partition, buffer.first_offset, topic_id=topic_id)
        self._land_lines(topic, partition, buffer.first_offset, b"".join(buffer.parts), topic_id)
        return LandedObject(key, topic, partition, buffer.first_offset, buffer.records, buffer.size)

    def _land_lines(
        self, topic: str, partition: int, first_offset: int, data: bytes, topic_id: str | None
    ) -> None:
        """Land records (``data``: a newline after each) as one write-once object; a retry lands only
        what is not landed yet."""
        if self.lake.create_bytes(object_key(topic, partition, first_offset, topic_id=topic_id), data):
            return
        lines = split_lines(data)
        while lines:
            key = object_key(topic, partition, first_offset, topic_id=topic_id)
            if self.lake.create_bytes(key, b"\n".join([*lines, b""])):  # one copy, a newline after each
                return
            landed = split_lines(self.lake.read_bytes(key))
            common = min(len(landed), len(lines))
            if landed[:common] != lines[:common]:
                raise _conflict(self.lake, key)
            first_offset += len(landed)
            lines = lines[len(landed) :]

    def _land_single(
        self, topic: str, partition: int, offset: int, value: bytes, topic_id: str | None = None
    ) -> LandedObject:
        key = object_key(topic, partition, offset, single=True, topic_id=topic_id)
        if not self.lake.create_bytes(key, value) and self.lake.read_bytes(key) != value:
            raise _conflict(self.lake, key)
        return LandedObject(key, topic, partition, offset, 1, len(value))


def _conflict(lake: Lake, key: str) -> ObjectConflict:
    return ObjectConflict(
        f"{lake.uri(key)} exists with other records at these offsets: landing objects are written once, "
        "and another writer landed this topic in this lake (the lake sink and a Kafka landing of the "
        "same topics?); use another --lake or --uid for one of them"
    )


def next_offsets(lake: Lake, topic: str, topic_id: str | None = None) -> dict[int, int]:
    """The offset after the last landed record of each partition of a topic incarnation (for
    log-style writers, which know no topic ID: by default the objects without one)."""
    last: dict[int, tuple[int, str, bool]] = {}
    for obj in lake.list(f"raw/topics/{topic}/"):
        parsed = parse_object_key(obj.key)
        if parsed is None or parsed.topic != topic or parsed.topic_id != topic_id:
            continue
        current = last.get(parsed.partition)
        if current is None or parsed.first_offset > current[0]:
            last[parsed.partition] = (parsed.first_offset, obj.key, parsed.single)
    result: dict[int, int] = {}
    for partition, (first, key, single) in last.items():
        count = 1 if single else len(split_lines(lake.read_bytes(key)))
        result[partition] = first + count
    return result


def landed_indexes(lake: Lake, topic: str, index_field: str) -> set[int]:
    """The event indexes of the records landed under a topic (a record that does not parse, or has
    no integer index, is left out: bronze quarantines it)."""
    found: set[int] = set()
    for obj in lake.list(f"raw/topics/{topic}/"):
        parsed = parse_object_key(obj.key)
        if parsed is None or parsed.topic != topic:
            continue
        for line in split_lines(lake.read_bytes(obj.key)):
            try:
                index = orjson.loads(strip_bom(line)).get(index_field)
            except (orjson.JSONDecodeError, AttributeError):
                continue
            if isinstance(index, int) and not isinstance(index, bool):
                found.add(index)
    return found
