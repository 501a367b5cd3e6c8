"""Bronze loader: raw landing objects → Delta tables under ``<lake>/bronze/``.

Bronze keeps everything that arrived and interprets nothing (docs/architecture.md):

* ``bronze/pin``, ``bronze/geo``, ``bronze/user``: the entity's source fields as delivered, each as
  text (a JSON string as is, a number as its JSON text, ``null`` as NULL, an object or array as its
  JSON text), the original JSON line in ``_raw_json`` (so unknown fields are never lost) and lineage:
  ``_source`` (kafka/kinesis), ``_topic``, ``_partition``, ``_offset``, ``_landing_object``,
  ``_ingested_at``. An integer of any size keeps all its digits (never a float's approximation).
* ``bronze/quarantine``: every record that is not a JSON object whose index keeps the key contract
  (below), or that is not valid UTF-8 / Unicode, with the reason, its raw bytes and the same lineage.
  The rest of its object still loads.
* ``bronze/_loaded_objects``: the ledger of landing objects already loaded (key and size).

The key contract (KEY_CONTRACT): the index of a record (``index`` of a pin, ``ind`` of a geo or user
record) is **a JSON integer, or a JSON string of ASCII digits 0-9 with an optional leading '-', whose
value lies within the signed 64-bit range -2^63 .. 2^63-1**, so that every engine downstream can cast
it to BIGINT. Leading zeros in a string (``"007"``) are allowed (every engine reads them). Refused,
as ``bad_index``: a number with a fraction or exponent (``5.0``, ``1e300``), a boolean, an object or
array, a string with anything else (whitespace, ``'+'``, ``"--5"``, ``"²"``, full-width ``"１２"``, an
empty string) and any value outside the range (``9223372036854775808``, ``"9999999999999999999"``).
``null`` or no index at all is ``missing_index``. The emulator and the real records send JSON
integers.

Text: a UTF-8 byte order mark at the start of a record value (so at the start of a landing object) is
dropped, not quarantined. Bytes that are not UTF-8 and a JSON string escape that is a lone surrogate
(``"\\ud83d"``, half an emoji: no UTF-8 text can hold it) are quarantined as ``not_utf8``.

Exactly once: an object whose (key, size) is in the ledger is skipped; records whose
(topic, partition, offset) are already in bronze (an object rewritten after a crash, overlapping
objects) are dropped before the append. One loader per lake at a time (one writer per table): a load
holds the lake's ``bronze`` lock (ingestion/locks.py).
A commit builds every table of the batch before it writes the first one, so a record never stops a
load half-way; the ledger is written last, so a load that stops between two writes (an I/O error)
reads the same objects again next time and adds only what is missing.

Two parsers, one outcome: the **bulk** loader (the default) parses and types whole objects at once
with pyarrow's JSON reader, on a pool of threads (ingestion/bronze_bulk.py), and sends to the
**per-line** path (one orjson call per object, then line by line) only the lines, or objects, whose
bulk result it cannot prove identical; ``PINPIPE_BRONZE_LOADER=per-line`` forces the per-line path
everywhere. Both write the same rows, quarantine, lineage and ledger. A commit holds at most
``PINPIPE_BRONZE_BATCH_RECORDS`` records or ``PINPIPE_BRONZE_BATCH_BYTES`` bytes of landing objects
(whichever comes first), so memory is bounded by the batch, not by the day. The appends of a commit
are cut into parts written side by side, one thread per core (concurrent Delta commits to one table,
which delta-rs makes safe with a put-if-absent of each log entry); the ledger still comes last.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import ColumnProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake import Field as DeltaField
from deltalake.exceptions import TableNotFoundError
from deltalake.schema import PrimitiveType

from ingestion.arrow_columns import repeated, repeated_runs
from ingestion.bronze_bulk import bulk_parse
from ingestion.errors import PinpipeError
from ingestion.lake import Lake, LakeObject
from ingestion.landing import UTF8_BOM, ObjectKey, parse_object_key, split_lines, strip_bom
from ingestion.locks import WriterLock
from ingestion.settings import ENTITIES, INDEX_FIELD, SOURCE_FIELDS, Settings

log = logging.getLogger(__name__)

LINEAGE_FIELDS: list[pa.Field] = [
    pa.field("_source", pa.string(), nullable=False),
    pa.field("_topic", pa.string(), nullable=False),
    pa.field("_partition", pa.int32(), nullable=False),
    pa.field("_offset", pa.int64(), nullable=False),
    pa.field("_landing_object", pa.string(), nullable=False),
    pa.field("_ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
]

IDENTITY_FIELDS: list[pa.Field] = [pa.field("_topic_id", pa.string())]
"""Lineage added after the first release, at the end of the batch tables (existing tables get it by
``ensure_tables``): the Kafka topic ID of the incarnation the record was landed from, NULL where the
landing knew none (docs/data-contract.md, "Delivery identity")."""
JSON_TYPES_FIELD = pa.field("_json_types", pa.string())
"""One character per source field (in SOURCE_FIELDS order) naming the JSON type it was delivered as:
``s`` string, ``i`` integer (a number without fraction or exponent), ``f`` any other number, ``b``
boolean, ``o`` object, ``a`` array, ``n`` null or absent. Bronze stores every field as text; silver
reads the type here (docs/data-contract.md, "Accepted JSON types"). NULL on rows loaded before it."""
JSON_TYPE_CODES: dict[type, str] = {str: "s", int: "i", float: "f", bool: "b", dict: "o", list: "a"}

QUARANTINE = "quarantine"
LOADERS = ("bulk", "per-line")
"""The bronze loader's parsers (PINPIPE_BRONZE_LOADER): bulk (the default) or per-line."""
BATCH_RECORDS = {"bulk": 1_000_000, "per-line": 250_000}
"""Records per commit (PINPIPE_BRONZE_BATCH_RECORDS); the per-line loader holds a Python object per
record, the bulk loader Arrow columns."""
BATCH_BYTES = 256 * 1024 * 1024
"""Bytes of landing objects per commit (PINPIPE_BRONZE_BATCH_BYTES); Settings.bronze_batch_bytes."""
WRITER_PROPERTIES = WriterProperties(
    compression="SNAPPY",
    column_properties={
        name: ColumnProperties(dictionary_enabled=False, statistics_enabled="NONE")
        for name in ("_raw_json", "raw_bytes")
    },
)
"""Parquet settings of the bronze appends: the raw JSON text is unique per row, so a dictionary and
min/max statistics of it cost time and log space and help no reader."""
IGNORED_NAMED = 5
"""How many ignored objects a load report names."""
LEDGER = "_loaded_objects"

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
KEY_CONTRACT = (
    "the index is a JSON integer, or a JSON string of ASCII digits with an optional leading '-', "
    "whose value lies within the signed 64-bit range -2^63 .. 2^63-1"
)
"""What bronze accepts as a record's index (``index`` of pin, ``ind`` of geo and user); see the module
docstring. Everything else goes to quarantine as ``bad_index`` (or ``missing_index``)."""

_KEY_TEXT = re.compile(r"-?[0-9]+")
_ROUNDED = float(2**63)
"""orjson makes a float of an integer beyond 64 bits (it keeps up to 2^64-1 and down to -2^63), and
that float's magnitude is at least 2^63: a parsed value holding such a float may have lost digits, and
its line is parsed again by the standard library, which keeps every digit (a float delivered as a
float is merely parsed again, to the same value)."""
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_DIGIT_RUN = b"0" * 19


def entity_schema(entity: str) -> pa.Schema:
    """Bronze schema of an entity table: source fields as text, the raw JSON, lineage."""
    fields = [pa.field(name, pa.string()) for name in SOURCE_FIELDS[entity]]
    fields.append(pa.field("_raw_json", pa.string(), nullable=False))
    return pa.schema(fields + LINEAGE_FIELDS + IDENTITY_FIELDS + [JSON_TYPES_FIELD])


QUARANTINE_SCHEMA = pa.schema(
    [
        *LINEAGE_FIELDS,
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw_bytes", pa.binary(), nullable=False),
        *IDENTITY_FIELDS,
    ]
)

STREAM_LINEAGE_FIELDS: list[pa.Field] = [
    pa.field("_source", pa.string(), nullable=False),
    pa.field("_stream", pa.string(), nullable=False),
    pa.field("_stream_created_at", pa.string(), nullable=False),
    pa.field("_shard", pa.string(), nullable=False),
    pa.field("_sequence_number", pa.string(), nullable=False),
    pa.field("_arrival_at", pa.timestamp("us", tz="UTC")),
    pa.field("_landing_object", pa.string(), nullable=False),
    pa.field("_ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
]
"""Lineage of a Kinesis record: a sequence number is a decimal of up to 128 bits (kept as its text);
``_stream_created_at`` tells a stream deleted and created again under the same name apart."""


def stream_table(entity: str) -> str:
    """Name of the bronze table the stream ingestion writes for an entity: ``stream_pin``."""
    return f"stream_{entity}"


def stream_entity_schema(entity: str) -> pa.Schema:
    """Bronze schema of an entity's stream table: like the batch table, plus quarantine in place.

    A record bronze refuses (not a JSON object whose index keeps the key contract, not UTF-8, ...)
    stays in the same table (so it commits atomically with the shard positions) with
    ``_quarantine_reason`` set, its fields NULL and its bytes in ``_raw_bytes``; ``_raw_json`` holds
    the text of every record that is valid UTF-8.
    """
    fields = [pa.field(name, pa.string()) for name in SOURCE_FIELDS[entity]]
    fields += [
        pa.field("_raw_json", pa.string()),
        pa.field("_quarantine_reason", pa.string()),
        pa.field("_raw_bytes", pa.binary()),
    ]
    return pa.schema(fields + STREAM_LINEAGE_FIELDS + [JSON_TYPES_FIELD])


LEDGER_SCHEMA = pa.schema(
    [
        pa.field("landing_object", pa.string(), nullable=False),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("records", pa.int64(), nullable=False),
        pa.field("loaded", pa.int64(), nullable=False),
        pa.field("quarantined", pa.int64(), nullable=False),
        pa.field("duplicates", pa.int64(), nullable=False),
        pa.field("loaded_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)


@dataclass
class LoadReport:
    """What one load did. Every record of every new object is counted in exactly one bucket."""

    objects_seen: int = 0
    objects_loaded: int = 0
    objects_skipped: int = 0
    """Objects already in the ledger (loaded before)."""
    objects_ignored: int = 0
    """Objects under raw/ that are not landing objects of this uid's topics (left alone)."""
    stale_temp_files_removed: int = 0
    """Temporary files of killed writers removed from raw/ (older than an hour)."""
    ignored: list[str] = field(default_factory=list)
    """The first few ignored objects, each with why."""
    objects_unrecognised: int = 0
    """Objects under this uid's topics (or nobody's) whose name is not a landing key: every line of
    them quarantined as ``unrecognised_object``."""
    unrecognised: list[str] = field(default_factory=list)
    """The first few of them (so a near-miss name can be found and fixed)."""
    conflicts: int = 0
    """Records at a (topic incarnation, partition, offset) bronze already held with other bytes:
    quarantined as ``offset_conflict``, and the load's exit status says so."""
    loaded: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENTITIES, 0))
    quarantined: int = 0
    duplicates: int = 0
    """Records bronze already held (the same bytes at the same topic incarnation, partition and
    offset): not added again."""
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def records_loaded(self) -> int:
        """Records appended to the three entity tables."""
        return sum(self.loaded.values())

    def summary(self) -> str:
        """One line for the CLI."""
        per_entity = ", ".join(f"{e} {n:,}" for e, n in self.loaded.items())
        unrecognised = (
            f", {self.objects_unrecognised:,} not named as landing objects (quarantined whole)"
            if self.objects_unrecognised
            else ""
        )
        conflicts = f" ({self.conflicts:,} conflicting with bronze)" if self.conflicts else ""
        return (
            f"bronze: {self.objects_loaded:,} new objects ({self.objects_skipped:,} already loaded, "
            f"{self.objects_ignored:,} of other uids ignored{unrecognised}); loaded "
            f"{self.records_loaded:,} records ({per_entity}), quarantined {self.quarantined:,}"
            f"{conflicts}, skipped {self.duplicates:,} already in bronze"
        )


@dataclass
class _Rows:
    """Rows gathered for one table: decoded records (or quarantine rows), offsets and lineage runs."""

    records: list[Any] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    runs: list[tuple[str, int, str, int]] = field(default_factory=list)
    """(topic, partition, landing object, row count): lineage that is constant over a run of rows."""

    def add_run(self, topic: str, partition: int, key: str, before: int) -> None:
        added = len(self.offsets) - before
        if not added:
            return
        if self.runs and self.runs[-1][:3] == (topic, partition, key):
            added += self.runs.pop()[3]
        self.runs.append((topic, partition, key, added))

    def add(self, record: Any, raw: bytes, offset: int, lineage: tuple[str, int, str]) -> None:
        """Append one row with its lineage (topic, partition, landing object)."""
        before = len(self.offsets)
        self.records.append(record)
        self.raw.append(raw)
        self.offsets.append(offset)
        self.add_run(*lineage, before)

    def row_lineage(self) -> list[tuple[str, int, str]]:
        """(topic, partition, landing object) of every row."""
        return [run[:3] for run in self.runs for _ in range(run[3])]

    def without(self, drop: set[int]) -> _Rows:
        """These rows but those at the positions in ``drop``."""
        kept = _Rows()
        for i, lineage in enumerate(self.row_lineage()):
            if i not in drop:
                kept.add(self.records[i], self.raw[i], self.offsets[i], lineage)
        return kept

    def lineage(self, now: datetime) -> dict[str, pa.Array]:
        """The lineage columns of these rows (source 'kafka' for topic landings)."""
        n = len(self.offsets)
        return {
            "_source": repeated("kafka", n, pa.string()),
            "_topic": repeated_runs([(r[0], r[3]) for r in self.runs], pa.string()),
            "_partition": repeated_runs([(r[1], r[3]) for r in self.runs], pa.int32()),
            "_offset": pa.array(self.offsets, pa.int64()),
            "_landing_object": repeated_runs([(r[2], r[3]) for r in self.runs], pa.string()),
            "_ingested_at": repeated(now, n, pa.timestamp("us", tz="UTC")),
            "_topic_id": repeated_runs([(_topic_id_of(r[2]), r[3]) for r in self.runs], pa.string()),
        }


def _topic_id_of(landing_object: str) -> str | None:
    """The incarnation (Kafka topic ID) a landing object's key names; None where it names none."""
    key = parse_object_key(landing_object)
    return key.topic_id if key is not None else None


@dataclass
class _Batch:
    """What one append writes: rows per entity, quarantine rows, and the ledger rows of the objects.

    ``pieces`` are the rows the bulk parser typed, one Arrow table per object (every column but
    ``_ingested_at``); ``rows`` the rows of the per-line path.
    """

    rows: dict[str, _Rows]
    quarantine: _Rows
    ledger: list[dict[str, Any]]
    pieces: dict[str, list[pa.Table]] = field(default_factory=lambda: {e: [] for e in ENTITIES})
    records: int = 0
    bytes: int = 0

    @classmethod
    def empty(cls) -> _Batch:
        return cls(rows={e: _Rows() for e in ENTITIES}, quarantine=_Rows(), ledger=[])


@dataclass
class _Parsed:
    """One landing object, parsed: bulk rows (if any), per-line rows and quarantined records."""

    obj: LakeObject
    key: ObjectKey
    entity: str
    records: int = 0
    bulk: pa.Table | None = None
    values: list[Any] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    rejected: list[bytes] = field(default_factory=list)
    rejected_offsets: list[int] = field(default_factory=list)

    def check(self, raw: bytes, offset: int, index_field: str, max_bytes: int) -> None:
        """One record through the per-line path."""
        try:
            record = parse_record(raw, index_field, max_bytes)
        except Rejected as rejected:
            self.reasons.append(str(rejected))
            self.rejected.append(raw)
            self.rejected_offsets.append(offset)
            return
        self.values.append(record)
        self.raw.append(strip_bom(raw))
        self.offsets.append(offset)


class Rejected(Exception):
    """A record that goes to quarantine; the message is the reason, ``<kind>: <detail>``.

    Kinds: not_utf8 (bytes that are not UTF-8, or a JSON string escape that is a lone surrogate),
    not_json, not_object, empty, missing_index, bad_index (breaks the key contract: not an integer, or
    outside the 64-bit range), too_large.
    """


class _Number:
    """A JSON number that no Python int or float holds as delivered, kept as its JSON text.

    Only the standard-library path makes these: an integer token of more than 20 characters (beyond
    64 bits, which orjson would turn into a float and lose digits of) or a number beyond the range of
    a double (which would become ``inf``).
    """

    __slots__ = ("integer", "text")

    def __init__(self, text: str, *, integer: bool) -> None:
        self.text = text
        self.integer = integer

    def __repr__(self) -> str:
        return self.text


def _parse_int(text: str) -> int | _Number:
    return int(text) if len(text) <= 20 else _Number(text, integer=True)


def _parse_float(text: str) -> float | _Number:
    value = float(text)
    return value if math.isfinite(value) else _Number(text, integer=False)


def key_problem(value: Any) -> str | None:
    """What is wrong with an index value under the key contract (KEY_CONTRACT); None when it keeps it.

    The answer reads after the field name: ``index field 'index' <answer>``.
    """
    if value.__class__ is int:
        if INT64_MIN <= value <= INT64_MAX:
            return None
        return f"value {value} is outside the 64-bit range (-2^63 .. 2^63-1)"
    if isinstance(value, str):
        if _KEY_TEXT.fullmatch(value) is None:
            return (
                f"is not an integer: {_show(value)} (a string index must be ASCII digits with an "
                "optional leading '-')"
            )
        negative = value.startswith("-")
        digits = value.lstrip("-").lstrip("0") or "0"
        if len(digits) <= 19 and INT64_MIN <= int(digits) * (-1 if negative else 1) <= INT64_MAX:
            return None
        return f"value {_show(value)} is outside the 64-bit range (-2^63 .. 2^63-1)"
    if isinstance(value, _Number):
        if value.integer:
            return f"value {_clip(value.text)} is outside the 64-bit range (-2^63 .. 2^63-1)"
        return f"is not an integer: {_clip(value.text)} (a JSON number with a fraction or exponent)"
    if isinstance(value, bool):
        return f"is not an integer: {'true' if value else 'false'} (a JSON boolean)"
    if isinstance(value, float):
        return f"is not an integer: {float.__repr__(value)} (a JSON number with a fraction or exponent)"
    if isinstance(value, dict):
        return "is not an integer: a JSON object"
    if isinstance(value, list):
        return "is not an integer: a JSON array"
    return f"is not an integer: {_clip(_clean(repr(value)))}"


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _show(text: str) -> str:
    """A string value for a reason: quoted, cut short, and always valid UTF-8."""
    return _clean(repr(text[:40])) + (f" ... ({len(text):,} characters)" if len(text) > 40 else "")


def _clean(text: str) -> str:
    """Text that is valid UTF-8 (a lone surrogate written as its escape)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def render_column(records: list[dict[str, Any]], name: str) -> list[str | None]:
    """One source field of every record as bronze text (strings, the common case, pass through)."""
    values = [record.get(name) for record in records]
    return [
        v if v is None or v.__class__ is str else (str(v) if v.__class__ is int else render(v))
        for v in values
    ]


def render(value: Any) -> str | None:
    """A JSON value as bronze text: strings as is, numbers and booleans as JSON text, null as None.

    An integer beyond 64 bits or a number beyond the double range keeps the text it was delivered as;
    an object or array is its compact JSON text (orjson's, or, for what orjson cannot write, e.g.
    nesting deeper than 255 levels, the same form written by :func:`_dumps`).
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return float.__repr__(value)  # what json.dumps writes for a finite float
    if isinstance(value, _Number):
        return value.text
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return _dumps(value)


def _dumps(value: Any) -> str:
    """Compact JSON text of any parsed value, without recursion (no depth limit)."""
    parts: list[str] = []
    stack: list[tuple[bool, Any]] = [(False, value)]
    while stack:
        literal, item = stack.pop()
        if literal:
            parts.append(item)
        elif isinstance(item, dict):
            todo: list[tuple[bool, Any]] = [(True, "{")]
            for i, (key, inner) in enumerate(item.items()):
                todo.append((True, ("," if i else "") + orjson.dumps(key).decode() + ":"))
                todo.append((False, inner))
            todo.append((True, "}"))
            stack.extend(reversed(todo))
        elif isinstance(item, list):
            todo = [(True, "[")]
            for i, inner in enumerate(item):
                if i:
                    todo.append((True, ","))
                todo.append((False, inner))
            todo.append((True, "]"))
            stack.extend(reversed(todo))
        elif isinstance(item, str):
            parts.append(orjson.dumps(item).decode())
        else:
            parts.append(render(item) or "null")
    return "".join(parts)


def source_columns(records: list[dict[str, Any]], entity: str) -> dict[str, Any]:
    """The entity's source fields of every record as Arrow text columns, and ``_json_types``."""
    columns = {name: pa.array(render_column(records, name), pa.string()) for name in SOURCE_FIELDS[entity]}
    columns["_json_types"] = pa.array(json_types(records, entity), pa.string())
    return columns


def json_type(value: Any) -> str:
    """The ``_json_types`` character of one parsed JSON value (see JSON_TYPES_FIELD)."""
    if value is None:
        return "n"
    code = JSON_TYPE_CODES.get(value.__class__)
    if code is not None:
        return code
    if isinstance(value, _Number):
        return "i" if value.integer else "f"
    return "s" if isinstance(value, str) else "o" if isinstance(value, dict) else "a"


def json_types(records: list[dict[str, Any]], entity: str) -> list[str]:
    """The ``_json_types`` text of every record (an empty record, a quarantine placeholder, is all
    ``n``)."""
    fields = SOURCE_FIELDS[entity]
    return ["".join([json_type(record.get(name)) for name in fields]) for record in records]


def unstorable_records(records: list[dict[str, Any]], entity: str) -> dict[int, str]:
    """Positions of the records a source field of which cannot be stored as text, with the reason.

    parse_record's checks leave no such record; when building the columns fails all the same, this
    finds the culprits so that they go to quarantine alone and the rest of the batch still loads.
    """
    failed: dict[int, str] = {}
    for i, record in enumerate(records):
        for name in SOURCE_FIELDS[entity]:
            try:
                pa.array([render(record.get(name))], pa.string())
            except Exception as exc:
                detail = _clean(f"{type(exc).__name__}: {exc}")[:160]
                failed[i] = f"not_json: field {name!r} cannot be stored as text ({detail})"
                break
    return failed


def parse_record(raw: bytes, index_field: str, max_bytes: int) -> dict[str, Any]:
    """Decode one raw record value into a JSON object, or raise Rejected with the reason.

    A UTF-8 byte order mark at the start is dropped. The index must keep the key contract.
    """
    if len(raw) > max_bytes:
        raise Rejected(f"too_large: record of {len(raw):,} bytes is larger than the limit of {max_bytes:,}")
    raw = strip_bom(raw)
    if not raw.strip():
        raise Rejected("empty: empty record")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = _parse_slow(raw)
    else:
        if _rounded(value):  # an integer beyond 64 bits became a float: keep its digits
            value = _parse_slow(raw)
    if not isinstance(value, dict):
        raise Rejected(f"not_object: JSON {_json_type(value)} is not an object")
    index = value.get(index_field)
    if index is None:
        raise Rejected(f"missing_index: missing index field {index_field!r}")
    problem = key_problem(index)
    if problem is not None:
        raise Rejected(f"bad_index: index field {index_field!r} {problem}")
    return value


def parse_clean_object(values: list[bytes], index_field: str, max_bytes: int) -> list[dict[str, Any]] | None:
    """Parse all lines of an object in one go; None unless every line is a valid record.

    One orjson call over the lines joined as a JSON array is much cheaper than one call per line.
    Anything unusual (a bad line, an index that is not a JSON integer within 64 bits, an oversized
    line, a byte order mark) returns None and the caller checks line by line, so the outcome is the
    same as parse_record on each line. A line holding a number orjson may have rounded (an integer
    beyond 64 bits) is parsed again alone, as parse_record does.
    """
    if not values or max(map(len, values)) > max_bytes or not all(values):
        return None
    joined = b"[" + b",".join(values) + b"]"
    try:
        parsed = orjson.loads(joined)
    except orjson.JSONDecodeError:
        return None
    if len(parsed) != len(values):  # a line holding two values ('1,2') would shift the offsets
        return None
    for record in parsed:
        if record.__class__ is not dict:
            return None
        index = record.get(index_field)
        if index.__class__ is not int or index < INT64_MIN or index > INT64_MAX:
            return None
    for i in _long_digit_lines(joined, values):
        if _rounded(parsed[i]):
            try:
                parsed[i] = parse_record(values[i], index_field, max_bytes)
            except Rejected:
                return None
    return parsed


def _long_digit_lines(joined: bytes, values: list[bytes]) -> list[int]:
    """Positions of the lines holding a run of 19 or more digits (an integer orjson may have rounded
    has one); ``joined`` is the lines joined as a JSON array. One C-speed pass when there is none."""
    translated = joined.translate(_DIGITS_AS_ZERO)
    at = translated.find(_DIGIT_RUN)
    if at < 0:
        return []
    ends = list(accumulate(len(value) + 1 for value in values))  # the ',' (or ']') after each line
    lines = []
    while at >= 0:
        line = bisect_right(ends, at)
        lines.append(line)
        at = translated.find(_DIGIT_RUN, ends[line])
    return lines


def _rounded(value: Any) -> bool:
    """Whether a parsed value holds a float of magnitude 2^63 or more (see _ROUNDED), at any depth."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = item.__class__
        if kind is float:
            if item >= _ROUNDED or item <= -_ROUNDED:
                return True
        elif kind is dict:
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
    return False


def _parse_slow(raw: bytes) -> Any:
    """The standard library's parser, for what orjson refuses or would change but JSON allows.

    Integers beyond 64 bits and numbers beyond the double range keep their text (:class:`_Number`);
    a string holding a lone surrogate escape (half a character, which no UTF-8 text can hold) is
    rejected, as bytes that are not UTF-8 are.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(f"not_utf8: not valid UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(
            text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_reject_constant
        )
    except (ValueError, RecursionError) as exc:
        raise Rejected(f"not_json: not valid JSON: {_clean(str(exc))[:120]}") from None
    _check_unicode(value)
    return value


def _check_unicode(value: Any) -> None:
    """Raise Rejected if a string or key anywhere in a parsed value holds a lone surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if item.__class__ is str:
            _check_text(item)
        elif item.__class__ is dict:
            for key, inner in item.items():
                _check_text(key)
                stack.append(inner)
        elif item.__class__ is list:
            stack.extend(item)


def _check_text(text: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        raise Rejected(
            f"not_utf8: a JSON string holds the lone surrogate \\u{code:04x} (half a UTF-16 pair), "
            "which is not valid Unicode"
        ) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


OFFSET_CONFLICT = "offset_conflict"
"""The quarantine reason of a record whose delivery identity bronze already held with other bytes."""
UNRECOGNISED_PARTITION = -1
"""``_partition`` of the quarantined lines of an object whose name is not a landing key: its
partition and offsets are unknown, so its lines are identified by object and line number instead."""


def _unrecognised_object(obj: LakeObject, data: bytes) -> _Parsed:
    """Every line of an object under a topic folder of this uid whose name is not a landing key, to
    quarantine as ``unrecognised_object`` (``_offset`` = the line's number): kept, never loaded on
    a guess of its partition or offsets. Renamed to the landing pattern, it loads as usual."""
    parts = obj.key.split("/")
    topic = _clean(parts[2]) if len(parts) > 3 else ""
    reason = (
        f"unrecognised_object: {_clean(obj.key)[:300]} is not a landing object of this pipeline's "
        "topics (expected raw/topics/<uid>.<pin|geo|user>/[topic_id=<id>/]partition=<p>/"
        "<topic>+<p>+<first offset:010d>.json|.bin)"
    )
    # a name that is not UTF-8 (a local file name's undecodable bytes) is kept as its escapes
    named = LakeObject(_clean(obj.key), obj.size)
    parsed = _Parsed(named, ObjectKey(topic, UNRECOGNISED_PARTITION, 0, single=False), entity="")
    lines = split_lines(data)
    parsed.records = len(lines)
    parsed.reasons = [reason] * len(lines)
    parsed.rejected = lines
    parsed.rejected_offsets = list(range(len(lines)))
    return parsed


class BronzeLoader:
    """Loads new landing objects of one uid's topics into the bronze Delta tables."""

    def __init__(
        self,
        settings: Settings,
        lake: Lake | None = None,
        clock: Callable[[], datetime] | None = None,
        loader: str | None = None,
    ) -> None:
        self.settings = settings
        self.lake = lake or Lake(settings.lake)
        self.clock = clock or (lambda: datetime.now(UTC))
        """Gives ``_ingested_at`` of a commit (tests replay old loads with a fixed clock)."""
        self._last_stamp: datetime | None = None
        self.loader = loader or settings.bronze_loader
        """``bulk`` or ``per-line`` (see the module docstring); both load the same rows."""
        if self.loader not in LOADERS:
            raise PinpipeError(f"bronze loader {self.loader!r}: expected one of {', '.join(LOADERS)}")
        self.batch_records = settings.bronze_batch_records or BATCH_RECORDS[self.loader]
        self.batch_bytes = settings.bronze_batch_bytes
        self.part_bytes = settings.bronze_part_bytes
        """The smallest part of a commit's appends written side by side (``_parts``)."""
        self.workers = os.cpu_count() or 1
        """Threads that read and parse objects (bulk loader); Arrow's parser releases the GIL."""

    def table_uri(self, name: str) -> str:
        """URI of a bronze table."""
        return self.lake.uri(f"bronze/{name}")

    def ensure_tables(self) -> None:
        """Create the bronze tables (empty) if they do not exist, so dbt always finds its sources.

        The stream tables too: the batch loader never writes them, the stream ingestion does.
        """
        schemas = {e: entity_schema(e) for e in ENTITIES}
        schemas[QUARANTINE] = QUARANTINE_SCHEMA
        schemas[LEDGER] = LEDGER_SCHEMA
        schemas.update({stream_table(e): stream_entity_schema(e) for e in ENTITIES})
        for name, schema in schemas.items():
            uri = self.table_uri(name)
            try:
                table = DeltaTable(uri, storage_options=self.lake.storage_options)
            except TableNotFoundError:
                DeltaTable.create(uri, schema=schema, storage_options=self.lake.storage_options)
                continue
            _add_missing_columns(table, schema)

    def _table(self, name: str) -> DeltaTable:
        return DeltaTable(self.table_uri(name), storage_options=self.lake.storage_options)

    def _stamp(self) -> datetime:
        """The ``_ingested_at`` of the next commit: the clock, or one microsecond after the latest
        stamp in bronze when the clock is behind it (a step back of NTP, a restored machine, another
        machine's clock), so that ``_ingested_at`` never goes backwards within a lake and the
        incremental models, which read the deliveries from their latest ``_ingested_at`` on
        (inclusive: the same stamp again is fine), miss none.
        """
        if self._last_stamp is None:
            self._last_stamp = self._latest_stamp()
        now = self.clock()
        if self._last_stamp is not None and now < self._last_stamp:
            now = self._last_stamp + timedelta(microseconds=1)
            log.info("bronze: the clock is behind the latest load's; this one is stamped %s", now)
        self._last_stamp = now
        return now

    def _latest_stamp(self) -> datetime | None:
        """The latest ``_ingested_at`` (and ledger ``loaded_at``) in bronze. Delta keeps timestamp
        statistics truncated to the millisecond: they name the files that may hold the latest value,
        and only those are read (usually one per table)."""
        latest: list[datetime] = []
        for name in [*ENTITIES, QUARANTINE, LEDGER]:
            field_name = "loaded_at" if name == LEDGER else "_ingested_at"
            table = self._table(name)
            actions = pa.table(table.get_add_actions(flatten=True))
            if not actions.num_rows:
                continue
            column = f"max.{field_name}"
            condition = None
            if column in actions.column_names and not actions[column].null_count:
                bound = pc.max(actions[column]).as_py()
                if bound is not None:
                    bound = bound if bound.tzinfo else bound.replace(tzinfo=UTC)
                    condition = pc.field(field_name) >= pa.scalar(bound, pa.timestamp("us", tz="UTC"))
            values = table.to_pyarrow_dataset().to_table(columns=[field_name], filter=condition)[field_name]
            value = pc.max(values).as_py()
            if value is not None:
                latest.append(value if value.tzinfo else value.replace(tzinfo=UTC))
        return max(latest, default=None)

    def loaded_objects(self) -> set[tuple[str, int]]:
        """(key, size) of every object in the ledger."""
        ledger = self._table(LEDGER).to_pyarrow_table(columns=["landing_object", "size"])
        return set(zip(ledger["landing_object"].to_pylist(), ledger["size"].to_pylist(), strict=True))

    def pending_objects(self) -> tuple[list[LakeObject], LoadReport]:
        """New landing objects of this uid's topics, in key order, and a report of what was skipped.

        Temporary files that a killed writer left under raw/ are removed on the way.
        """
        report = LoadReport()
        report.stale_temp_files_removed = self.lake.remove_stale_temp_files("raw/")
        done = self.loaded_objects()
        todo: list[LakeObject] = []
        for obj in sorted(self.lake.list("raw/topics/"), key=lambda o: o.key):
            report.objects_seen += 1
            if self._of_another_uid(obj.key):
                report.objects_ignored += 1
                if len(report.ignored) < IGNORED_NAMED:
                    report.ignored.append(f"{_clean(obj.key)} (a topic of another uid)")
            elif (_clean(obj.key), obj.size) in done:
                report.objects_skipped += 1
            else:
                todo.append(obj)
                key = parse_object_key(obj.key)
                if key is None or self.settings.entity_of_topic(key.topic) is None:
                    report.objects_unrecognised += 1
                    if len(report.unrecognised) < IGNORED_NAMED:
                        report.unrecognised.append(_clean(obj.key))
        return todo, report

    def _of_another_uid(self, key: str) -> bool:
        """Whether a key under raw/topics/ lies in the folder of another uid's topic (``<uid>.pin|geo|
        user``): a lake may hold several pipelines. Anything else is this loader's to account for."""
        parts = key.split("/")
        if len(parts) < 4:  # a file directly under raw/topics/: nobody's, so this loader's
            return False
        folder = parts[2]
        if self.settings.entity_of_topic(folder) is not None:
            return False
        uid, _, entity = folder.rpartition(".")
        return bool(uid) and entity in ENTITIES

    def load(self, progress: Callable[[int], None] | None = None) -> LoadReport:
        """Load every new object; calls ``progress(objects_done)`` as it goes.

        One loader per lake: holds the lake's ``bronze`` lock (ingestion/locks.py) while it loads.
        """
        with WriterLock(self.lake, "bronze"):
            return self._load(progress)

    def _load(self, progress: Callable[[int], None] | None) -> LoadReport:
        self.ensure_tables()
        todo, report = self.pending_objects()
        if self.loader != "bulk":
            batch = _Batch.empty()
            for parsed in self._parse_objects(todo):
                self._add(parsed, batch, report)
                if batch.records >= self.batch_records or batch.bytes >= self.batch_bytes:
                    self._commit(batch, report)
                    batch = _Batch.empty()
                if progress:
                    progress(1)
            self._commit(batch, report)
            return report
        # The bulk loader commits a batch on a thread of its own while the next one is parsed: one
        # commit at a time, in order, each waiting for the one before (the same commits as above).
        with ThreadPoolExecutor(1, thread_name_prefix="bronze-commit") as committer:
            running: Future[None] | None = None
            try:
                batch = _Batch.empty()
                for parsed in self._parse_objects(todo):
                    self._add(parsed, batch, report)
                    if batch.records >= self.batch_records or batch.bytes >= self.batch_bytes:
                        if running is not None:
                            running.result()
                        running = committer.submit(self._commit, batch, report)
                        batch = _Batch.empty()
                    if progress:
                        progress(1)
                if running is not None:
                    running.result()
                self._commit(batch, report)
            finally:  # never leave a commit running once the lock is released
                if running is not None:
                    wait([running])
        return report

    def _parse_objects(self, todo: list[LakeObject]) -> Iterator[_Parsed]:
        """The objects parsed, in key order; the bulk loader reads and parses a few ahead on threads
        (at most two per thread in flight, so memory stays bounded)."""
        if self.loader != "bulk" or self.workers < 2 or len(todo) < 2:
            yield from map(self._parse_object, todo)
            return
        with ThreadPoolExecutor(self.workers, thread_name_prefix="bronze-parse") as pool:
            waiting = iter(todo)
            running: deque[Future[_Parsed]] = deque()
            for obj in waiting:
                running.append(pool.submit(self._parse_object, obj))
                if len(running) >= 2 * self.workers:
                    break
            while running:
                parsed = running.popleft().result()
                following = next(waiting, None)
                if following is not None:
                    running.append(pool.submit(self._parse_object, following))
                yield parsed

    def _parse_object(self, obj: LakeObject) -> _Parsed:
        """Read and parse one landing object (bulk where it can, else line by line)."""
        key = parse_object_key(obj.key)
        data = self.lake.read_bytes(obj.key)
        entity = self.settings.entity_of_topic(key.topic) if key is not None else None
        if key is None or entity is None:
            return _unrecognised_object(obj, data)
        parsed = _Parsed(obj, key, entity)
        index_field, max_bytes = INDEX_FIELD[entity], self.settings.max_record_bytes
        if self.loader == "bulk" and not key.single:
            bulk = bulk_parse(entity, data, key.first_offset, max_bytes)
            if bulk is not None:
                parsed.records = bulk.records
                parsed.bulk = bulk.table if bulk.table.num_rows else None
                for position, raw in bulk.per_line:
                    parsed.check(raw, key.first_offset + position, index_field, max_bytes)
                return parsed
        values = [data] if key.single else split_lines(data)
        parsed.records = len(values)
        fast = parse_clean_object(values, index_field, max_bytes)
        if fast is not None:  # the common case: every line a JSON object whose index keeps the contract
            parsed.values = fast
            parsed.raw = values
            parsed.offsets = list(range(key.first_offset, key.first_offset + len(values)))
            return parsed
        for i, raw in enumerate(values):
            parsed.check(raw, key.first_offset + i, index_field, max_bytes)
        return parsed

    def _add(self, parsed: _Parsed, batch: _Batch, report: LoadReport) -> None:
        """Add a parsed object to the batch, with its lineage and its ledger row."""
        key, obj = parsed.key, parsed.obj
        rows = batch.rows[parsed.entity] if parsed.entity else _Rows()  # none of an unrecognised object
        quarantine = batch.quarantine
        rows_before, quarantine_before = len(rows.offsets), len(quarantine.offsets)
        rows.records.extend(parsed.values)
        rows.raw.extend(parsed.raw)
        rows.offsets.extend(parsed.offsets)
        quarantine.records.extend(parsed.reasons)
        quarantine.raw.extend(parsed.rejected)
        quarantine.offsets.extend(parsed.rejected_offsets)
        rows.add_run(key.topic, key.partition, obj.key, rows_before)
        quarantine.add_run(key.topic, key.partition, obj.key, quarantine_before)
        if parsed.bulk is not None:
            n = parsed.bulk.num_rows
            lineage = {
                "_source": repeated("kafka", n, pa.string()),
                "_topic": repeated(key.topic, n, pa.string()),
                "_partition": repeated(key.partition, n, pa.int32()),
                "_landing_object": repeated(obj.key, n, pa.string()),
                "_topic_id": repeated(key.topic_id, n, pa.string()),
            }
            piece = parsed.bulk
            for name, values in lineage.items():
                piece = piece.append_column(name, values)
            batch.pieces[parsed.entity].append(piece)
        batch.records += parsed.records
        batch.bytes += obj.size
        batch.ledger.append({"landing_object": obj.key, "size": obj.size, "records": parsed.records})
        report.objects_loaded += 1

    def _commit(self, batch: _Batch, report: LoadReport) -> None:
        """Append the batch to bronze (dropping records bronze already holds), then the ledger.

        Every table is built before the first write: a record that cannot be stored is quarantined
        (or, were that to fail, the load stops) before anything is committed. The ledger comes last:
        if a write fails (I/O), the objects stay unrecorded, the next load reads them again and
        ``_new_rows`` drops the rows this one committed, so nothing is lost or added twice.
        """
        if not batch.ledger:
            return
        now = self._stamp()
        tables: dict[str, pa.Table] = {}
        for entity in ENTITIES:
            parts = [self._bulk_table(entity, batch, now)] if batch.pieces[entity] else []
            if batch.rows[entity].offsets:
                table = self._entity_table(entity, batch, now)
                if table is not None:
                    parts.append(table)
            if parts:
                tables[entity] = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
        quarantine = batch.quarantine
        if quarantine.offsets:
            columns = quarantine.lineage(now)
            columns["reason"] = pa.array(quarantine.records, pa.string())
            columns["raw_bytes"] = pa.array(quarantine.raw, pa.binary())
            tables[QUARANTINE] = pa.Table.from_pydict(columns, schema=QUARANTINE_SCHEMA)
        # Every table is built: from here on nothing depends on the content of a record.
        counts = {row["landing_object"]: dict.fromkeys(("loaded", "quarantined"), 0) for row in batch.ledger}
        order = [row["landing_object"] for row in batch.ledger]
        appended = self._append_all(tables, order)
        for name, added in appended.items():
            if name == QUARANTINE:
                report.quarantined += added.num_rows
                _tally(counts, added, "quarantined")
                for reason in added["reason"].to_pylist():
                    kind = reason.split(":")[0]
                    report.reasons[kind] = report.reasons.get(kind, 0) + 1
                    report.conflicts += kind == OFFSET_CONFLICT
            else:
                report.loaded[name] += added.num_rows
                _tally(counts, added, "loaded")
        ledger_rows = []
        for row in batch.ledger:
            done = counts[row["landing_object"]]
            duplicates = row["records"] - done["loaded"] - done["quarantined"]
            report.duplicates += duplicates
            ledger_rows.append({**row, **done, "duplicates": duplicates, "loaded_at": now})
        ledger = pa.Table.from_pylist(ledger_rows, schema=LEDGER_SCHEMA)
        write_deltalake(
            self.table_uri(LEDGER), ledger, mode="append", storage_options=self.lake.storage_options
        )

    def _bulk_table(self, entity: str, batch: _Batch, now: datetime) -> pa.Table:
        """The rows the bulk parser typed, with ``_ingested_at``, in the entity's schema."""
        table = pa.concat_tables(batch.pieces[entity])
        table = table.append_column(
            "_ingested_at", repeated(now, table.num_rows, pa.timestamp("us", tz="UTC"))
        )
        schema = entity_schema(entity)
        return pa.Table.from_arrays([table[name] for name in schema.names], schema=schema)

    def _entity_table(self, entity: str, batch: _Batch, now: datetime) -> pa.Table | None:
        """The bronze rows of an entity; a record a field of which cannot be stored moves to quarantine."""
        rows = batch.rows[entity]
        try:
            columns = source_columns(rows.records, entity)
        except Exception:
            failed = unstorable_records(rows.records, entity)
            if not failed:
                raise
            for i, lineage in enumerate(rows.row_lineage()):
                if i in failed:
                    batch.quarantine.add(failed[i], rows.raw[i], rows.offsets[i], lineage)
            rows = batch.rows[entity] = rows.without(set(failed))
            if not rows.offsets:
                return None
            columns = source_columns(rows.records, entity)
        columns["_raw_json"] = pa.array(rows.raw, pa.binary()).cast(pa.string())
        columns.update(rows.lineage(now))
        return pa.Table.from_pydict(columns, schema=entity_schema(entity))

    def _append_all(self, tables: dict[str, pa.Table], order: list[str]) -> dict[str, pa.Table]:
        """Append each table's new rows (``_new_rows``); return them.

        The appends run side by side, one thread per core: each table is cut into parts (``_parts``),
        each its own commit. Delta-rs commits with a put-if-absent of the next log entry (a
        rename that never replaces locally, a conditional put on S3), so concurrent appends to one
        table all land, in some order. One append of a large table is one core's work (Parquet
        encoding and compression) and would leave the others idle.
        """
        new = self._new_rows(tables, order)
        with ThreadPoolExecutor(max(2, self.workers), thread_name_prefix="bronze-append") as pool:
            parts = _parts(new, self.workers, self.part_bytes)
            for future in [pool.submit(self._write, name, part) for name, part in parts]:
                future.result()
        return new

    def _new_rows(self, tables: dict[str, pa.Table], order: list[str]) -> dict[str, pa.Table]:
        """The rows of a batch that are new deliveries, per table; conflicts moved to quarantine.

        A delivery's identity is its topic incarnation (``_topic``, ``_topic_id``), ``_partition`` and
        ``_offset`` (for a line of an unrecognised object, its object and line) *and its bytes*.

        * A row whose bytes bronze (any table) or an earlier row of the batch already holds under its
          identity is a repeat, dropped (a retry, a redelivery, overlapping objects).
        * Otherwise, when a record *holds* the identity (one of bronze's rows that is not itself an
          ``offset_conflict``, or an earlier row of the batch: earlier by the load order of the
          landing objects, ``order``, whichever table it is in), the row is a conflict (a reset
          producer, a restored bucket, a second writer under one prefix): it moves to quarantine as
          ``offset_conflict``, its bytes kept, and is counted. It never replaces the holder.
        * Otherwise it is new. A conflict row never holds an identity: after a commit whose
          quarantine part landed and whose entity part failed (an I/O error), the next load still
          loads the record that came first.

        The outcome does not depend on where batches are cut. The common case (nothing repeated,
        nothing held) costs one group-by of the identity columns and one pruned read of bronze.
        """
        names = list(tables)
        if not names:
            return tables
        narrow = pa.concat_tables([_narrow(tables[name], i) for i, name in enumerate(names)])
        identity = ["_topic", "_tid", "_partition", "_offset", "_object"]
        groups = narrow.group_by(identity).aggregate([([], "count_all")])
        repeated_in_batch = groups.num_rows != narrow.num_rows
        held = self._held(tables, narrow)
        if not repeated_in_batch and not held.num_rows:
            return tables  # the common case: all new
        keys = _identity_keys(narrow)
        held_keys = _identity_keys(held)
        wanted = [held_keys]
        if repeated_in_batch:
            twice = groups.filter(pc.greater(groups["count_all"], 1))
            wanted.append(_identity_keys(twice))
        wanted_keys = pc.unique(pa.chunked_array(wanted, pa.string()).combine_chunks())
        chosen = pc.is_in(keys, value_set=wanted_keys)
        candidates = narrow.append_column("_key", keys).filter(chosen)
        if not candidates.num_rows:
            return tables
        contents: list[pa.Array] = []
        parts: list[pa.Table] = []
        for i, name in enumerate(names):
            mine = candidates.filter(pc.equal(candidates["_table"], i))
            if mine.num_rows:
                contents.append(_contents(tables[name].take(mine["_row"]), name))
                parts.append(mine)
        batch = pa.concat_tables(parts)
        batch = batch.append_column("_content", pa.chunked_array(contents, pa.binary()))
        # the load order of the rows' objects (every row comes from an object of the batch)
        rank = pc.index_in(batch["_landing_object"], value_set=pa.array(order, pa.string()))
        batch = batch.append_column("_rank", rank)
        batch = batch.append_column("_id", pa.array(np.arange(batch.num_rows), pa.int64()))
        verdict = _classify(batch, self._held_contents(tables, held.filter(pc.is_in(held_keys, wanted_keys))))
        drop = {i: np.zeros(tables[name].num_rows, bool) for i, name in enumerate(names)}
        conflict: dict[int, list[int]] = {i: [] for i in range(len(names))}
        for table_index, row, outcome in zip(
            batch["_table"].to_numpy(), batch["_row"].to_numpy(), verdict, strict=True
        ):
            if outcome != _NEW:
                drop[int(table_index)][int(row)] = True
            if outcome == _CONFLICT:
                conflict[int(table_index)].append(int(row))
        result: dict[str, pa.Table] = {}
        conflicts: list[pa.Table] = []
        for i, name in enumerate(names):
            table = tables[name]
            result[name] = table.filter(pa.array(~drop[i])) if drop[i].any() else table
            if conflict[i]:
                conflicts.append(_conflict_rows(table, name, sorted(conflict[i])))
        if conflicts:
            quarantine = [result[QUARANTINE]] if QUARANTINE in result else []
            result[QUARANTINE] = pa.concat_tables([*quarantine, *conflicts])
        return result

    def _held(self, tables: dict[str, pa.Table], narrow: pa.Table) -> pa.Table:
        """Identity columns (as :func:`_narrow` gives them) of the rows bronze holds that may share an
        identity with the batch's: per topic and partition of the batch, those within its offset
        range there; and the lines of its unrecognised objects."""
        terms: list[pc.Expression] = []
        known = narrow.filter(pc.greater_equal(narrow["_partition"], 0))
        if known.num_rows:
            ranges = known.group_by(["_topic", "_partition"]).aggregate(
                [("_offset", "min"), ("_offset", "max")]
            )
            for row in ranges.to_pylist():
                terms.append(
                    (pc.field("_topic") == row["_topic"])
                    & (pc.field("_partition") == row["_partition"])
                    & (pc.field("_offset") >= row["_offset_min"])
                    & (pc.field("_offset") <= row["_offset_max"])
                )
        objects = pc.unique(narrow.filter(pc.less(narrow["_partition"], 0))["_landing_object"])
        if len(objects):
            terms.append(pc.field("_landing_object").isin(objects))
        found = [_no_identities()]
        if terms:
            condition = terms[0]
            for term in terms[1:]:
                condition = condition | term
            for name in self._tables_for(tables):
                dt = self._table(name)
                if dt.file_uris():
                    rows = dt.to_pyarrow_dataset().to_table(columns=list(_IDENTITY), filter=condition)
                    found.append(_narrow(rows, -1))
        return pa.concat_tables(found)

    def _tables_for(self, tables: dict[str, pa.Table]) -> list[str]:
        """The bronze tables that may hold a delivery of the batch: its topics' entity tables and the
        quarantine (a record may have been quarantined, or loaded, under the same identity)."""
        topics: set[str] = set()
        for table in tables.values():
            topics.update(pc.unique(table["_topic"]).to_pylist())
        entities = {self.settings.entity_of_topic(t) for t in topics}
        return [*sorted(e for e in entities if e), QUARANTINE]

    def _held_contents(self, tables: dict[str, pa.Table], held: pa.Table) -> pa.Table:
        """Key, bytes and whether it is an ``offset_conflict`` row, of the rows bronze holds under the
        identities of ``held`` (the bytes are read for those rows only)."""
        found = [
            pa.table(
                {
                    "_key": pa.array([], pa.string()),
                    "_content": pa.array([], pa.binary()),
                    "_conflict": pa.array([], pa.bool_()),
                }
            )
        ]
        if not held.num_rows:
            return found[0]
        wanted = _identity_keys(held)
        condition = pc.field("_landing_object").isin(pc.unique(held["_landing_object"])) & pc.field(
            "_offset"
        ).isin(pc.unique(held["_offset"]))
        for name in self._tables_for(tables):
            dt = self._table(name)
            if not dt.file_uris():
                continue
            content = "raw_bytes" if name == QUARANTINE else "_raw_json"
            extra = [content, "reason"] if name == QUARANTINE else [content]
            rows = dt.to_pyarrow_dataset().to_table(columns=[*_IDENTITY, *extra], filter=condition)
            keys = _identity_keys(_narrow(rows, -1))
            mask = pc.is_in(keys, value_set=wanted)
            rows, keys = rows.filter(mask), keys.filter(mask)
            is_conflict = (
                pc.starts_with(rows["reason"], f"{OFFSET_CONFLICT}:")
                if name == QUARANTINE
                else pa.repeat(pa.scalar(False), rows.num_rows)
            )
            found.append(
                pa.table({"_key": keys, "_content": _contents(rows, name), "_conflict": is_conflict})
            )
        return pa.concat_tables(found)

    def _write(self, name: str, table: pa.Table) -> None:
        write_deltalake(
            self.table_uri(name),
            table,
            mode="append",
            storage_options=self.lake.storage_options,
            writer_properties=WRITER_PROPERTIES,
        )


_IDENTITY = ("_topic", "_topic_id", "_partition", "_offset", "_landing_object")
_UNKNOWN_TOPIC_ID = "\x00"
"""Stands for a NULL ``_topic_id`` in identity keys (no topic ID holds it)."""
_NEW, _REPEAT, _CONFLICT = 0, 1, 2


def _narrow(table: pa.Table, table_index: int) -> pa.Table:
    """The identity columns of a table's rows: ``_topic``, ``_tid`` (the topic ID, or a mark for
    none), ``_partition``, ``_offset``, ``_object`` (the landing object for a line of an
    unrecognised object, else empty), ``_landing_object``, and the table and row they come from."""
    n = table.num_rows
    topic_id = table["_topic_id"] if "_topic_id" in table.column_names else pa.nulls(n, pa.string())
    unrecognised = pc.less(table["_partition"], 0)
    return pa.table(
        {
            "_topic": table["_topic"],
            "_tid": pc.fill_null(topic_id, _UNKNOWN_TOPIC_ID),
            "_partition": table["_partition"],
            "_offset": table["_offset"],
            "_object": pc.if_else(unrecognised, table["_landing_object"], ""),
            "_landing_object": table["_landing_object"],
            "_table": pa.repeat(pa.scalar(table_index, pa.int32()), n),
            "_row": pa.array(np.arange(n), pa.int64()),
        }
    )


def _no_identities() -> pa.Table:
    """A :func:`_narrow` table of no rows."""
    fields = [
        pa.field("_topic", pa.string()),
        pa.field("_topic_id", pa.string()),
        pa.field("_partition", pa.int32()),
    ]
    fields += [pa.field("_offset", pa.int64()), pa.field("_landing_object", pa.string())]
    return _narrow(pa.schema(fields).empty_table(), -1)


def _identity_keys(narrow: pa.Table) -> pa.Array:
    """One string per row of a :func:`_narrow` table naming its delivery identity."""
    if not narrow.num_rows:
        return pa.array([], pa.string())
    joined = pc.binary_join_element_wise(
        narrow["_topic"],
        narrow["_tid"],
        pc.cast(narrow["_partition"], pa.string()),
        pc.cast(narrow["_offset"], pa.string()),
        narrow["_object"],
        "\x1f",
    )
    return pc.cast(joined, pa.string()).combine_chunks()


def _contents(table: pa.Table, name: str) -> pa.Array:
    """The bytes of a table's rows as delivered (without a byte order mark), as one binary array."""
    if name != QUARANTINE:
        return pc.cast(table["_raw_json"], pa.binary()).combine_chunks()
    raw = table["raw_bytes"].combine_chunks()
    if not len(raw):
        return raw
    marked = pc.starts_with(raw, pattern=UTF8_BOM.decode())  # U+FEFF: its UTF-8 bytes, byte-wise
    if not pc.any(marked).as_py():
        return raw
    stripped = pa.array([strip_bom(v) for v in raw.filter(marked).to_pylist()], pa.binary())
    return pc.replace_with_mask(raw, marked, stripped)


def _classify(batch: pa.Table, held: pa.Table) -> list[int]:
    """_NEW, _REPEAT or _CONFLICT for each row of ``batch`` (columns ``_key``, ``_content``,
    ``_rank``, ``_row``, ``_id``), given the rows bronze holds under those keys (``_key``,
    ``_content``, ``_conflict``); see BronzeLoader._new_rows."""
    n = batch.num_rows
    outcome = np.full(n, _NEW, np.int8)
    holder = np.zeros(n, bool)
    if held.num_rows:
        pairs = batch.select(["_id", "_key", "_content"]).join(
            held.rename_columns(["_key", "_held_content", "_conflict"]), keys="_key", join_type="inner"
        )
        same = pc.equal(pairs["_content"], pairs["_held_content"])
        repeats = pc.unique(pairs["_id"].filter(same)).to_numpy(zero_copy_only=False)
        outcome[repeats] = _REPEAT
        holding = pc.unique(pairs["_id"].filter(pc.invert(pairs["_conflict"]))).to_numpy(zero_copy_only=False)
        holder[holding] = True
    # within the batch, in load order: the first row of each (identity, bytes) represents it, the
    # others repeat it; the first representative of an identity holds it, the later ones conflict
    left = batch.filter(pa.array(outcome == _NEW)).select(["_id", "_key", "_content", "_rank", "_row"])
    if not left.num_rows:
        return outcome.tolist()
    order = pc.sort_indices(left, [("_key", "ascending"), ("_rank", "ascending"), ("_row", "ascending")])
    left = left.take(order)
    ids = left["_id"].to_numpy()
    keys = left["_key"].to_pylist()
    contents = left["_content"].to_pylist()
    current: str | None = None
    seen: set[bytes] = set()
    for i, key, content in zip(ids, keys, contents, strict=True):
        if key != current:
            current, seen = key, set()
            first = True
        else:
            first = False
        if content in seen:
            outcome[i] = _REPEAT
            continue
        seen.add(content)
        if not first or holder[i]:
            outcome[i] = _CONFLICT
    return outcome.tolist()


def _conflict_rows(table: pa.Table, name: str, positions: list[int]) -> pa.Table:
    """Quarantine rows (``offset_conflict``) for the rows at ``positions`` of a batch table."""
    rows = table.take(pa.array(positions, pa.int64()))
    before = rows["reason"].to_pylist() if name == QUARANTINE else [None] * len(positions)
    reason = (
        f"{OFFSET_CONFLICT}: bronze already holds another record at this topic incarnation, partition "
        "and offset (the one held first stays; compare their _landing_object)"
    )
    reasons = [f"{reason} (also {earlier})" if earlier else reason for earlier in before]
    columns = {f.name: rows[f.name] for f in LINEAGE_FIELDS}
    columns["reason"] = pa.array(reasons, pa.string())
    columns["raw_bytes"] = _contents(rows, name)
    columns["_topic_id"] = rows["_topic_id"]
    return pa.Table.from_pydict(columns, schema=QUARANTINE_SCHEMA)


def _add_missing_columns(table: DeltaTable, schema: pa.Schema) -> None:
    """Add the columns a later release appended to a bronze schema (nullable, at the end) to a table
    created before it: its older rows read them as NULL."""
    have = set(table.schema().to_arrow().names)
    missing = [f for f in schema if f.name not in have]
    assert all(f.type == pa.string() and f.nullable for f in missing), missing
    if missing:
        try:
            table.alter.add_columns(
                [DeltaField(f.name, PrimitiveType("string"), nullable=True) for f in missing]
            )
        except Exception:  # another process added them first (a concurrent commit): fine if they are there
            table.update_incremental()
            if {f.name for f in missing} - set(table.schema().to_arrow().names):
                raise


def _parts(tables: dict[str, pa.Table], cores: int, smallest: int) -> list[tuple[str, pa.Table]]:
    """The tables cut into slices of about ``1 / (2 * cores)`` of their bytes (at least ``smallest``
    Arrow bytes), the largest first, so that the appends keep every core busy to the end."""
    size = max(smallest, sum(t.nbytes for t in tables.values()) // (2 * cores))
    parts = []
    for name, table in tables.items():
        if table.num_rows:
            step = -(-table.num_rows // max(1, round(table.nbytes / size)))
            parts += [(name, table.slice(start, step)) for start in range(0, table.num_rows, step)]
    return sorted(parts, key=lambda part: -part[1].nbytes)


def _tally(counts: dict[str, dict[str, int]], added: pa.Table, bucket: str) -> None:
    """Count the rows added per landing object."""
    for item in pc.value_counts(added["_landing_object"]).to_pylist():
        counts[item["values"]][bucket] += item["counts"]


def compact(settings: Settings, tables: Sequence[str] | None = None) -> dict[str, Any]:
    """Merge small files of the bronze tables (Delta OPTIMIZE); returns the metrics per table.

    The stream tables too (one small file per commit and stream): stop `pinpipe stream` first, one
    writer per table. A compaction commit carries no checkpoint; the stream ingestion skips it.
    """
    loader = BronzeLoader(settings)
    loader.ensure_tables()
    result: dict[str, Any] = {}
    for name in tables or [*ENTITIES, QUARANTINE, LEDGER, *(stream_table(e) for e in ENTITIES)]:
        result[name] = loader._table(name).optimize.compact()
    return result


def read_table(settings: Settings, name: str, columns: Iterable[str] | None = None) -> pa.Table:
    """A bronze table as Arrow (for tests, reports and tools)."""
    lake = Lake(settings.lake)
    dt = DeltaTable(lake.uri(f"bronze/{name}"), storage_options=lake.storage_options)
    return dt.to_pyarrow_table(columns=list(columns) if columns else None)
