"""Bronze loader: raw landing objects → Delta tables under ``<lake>/bronze/``.

Bronze keeps everything that arrived and interprets nothing (docs/architecture.md):

* ``bronze/pin``, ``bronze/geo``, ``bronze/user``: the entity's source fields as delivered, each as
  text (a JSON string as is, a number as its JSON text, ``null`` as NULL, an object or array as its
  JSON text), the original JSON line in ``_raw_json`` (so unknown fields are never lost) and lineage:
  ``_source`` (kafka/kinesis), ``_topic``, ``_partition``, ``_offset``, ``_landing_object``,
  ``_ingested_at``.
* ``bronze/quarantine``: every record that is not a JSON object with an integer index, with the
  reason, its raw bytes and the same lineage. The rest of its object still loads.
* ``bronze/_loaded_objects``: the ledger of landing objects already loaded (key and size).

Exactly once: an object whose (key, size) is in the ledger is skipped; records whose
(topic, partition, offset) are already in bronze (an object rewritten after a crash, overlapping
objects) are dropped before the append. Run one loader per lake at a time (one writer per table).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError

from ingestion.lake import Lake, LakeObject
from ingestion.landing import parse_object_key, split_lines
from ingestion.settings import ENTITIES, INDEX_FIELD, SOURCE_FIELDS, Settings

LINEAGE_FIELDS: list[pa.Field] = [
    pa.field("_source", pa.string(), nullable=False),
    pa.field("_topic", pa.string(), nullable=False),
    pa.field("_partition", pa.int32(), nullable=False),
    pa.field("_offset", pa.int64(), nullable=False),
    pa.field("_landing_object", pa.string(), nullable=False),
    pa.field("_ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
]

QUARANTINE = "quarantine"
LEDGER = "_loaded_objects"


def entity_schema(entity: str) -> pa.Schema:
    """Bronze schema of an entity table: source fields as text, the raw JSON, lineage."""
    fields = [pa.field(name, pa.string()) for name in SOURCE_FIELDS[entity]]
    fields.append(pa.field("_raw_json", pa.string(), nullable=False))
    return pa.schema(fields + LINEAGE_FIELDS)


QUARANTINE_SCHEMA = pa.schema(
    [
        *LINEAGE_FIELDS,
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw_bytes", pa.binary(), nullable=False),
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

    A record that is not a JSON object with an integer index stays in the same table (so it commits
    atomically with the shard positions) with ``_quarantine_reason`` set, its fields NULL and its
    bytes in ``_raw_bytes``; ``_raw_json`` holds the text of every record that is valid UTF-8.
    """
    fields = [pa.field(name, pa.string()) for name in SOURCE_FIELDS[entity]]
    fields += [
        pa.field("_raw_json", pa.string()),
        pa.field("_quarantine_reason", pa.string()),
        pa.field("_raw_bytes", pa.binary()),
    ]
    return pa.schema(fields + STREAM_LINEAGE_FIELDS)


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
    loaded: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENTITIES, 0))
    quarantined: int = 0
    duplicates: int = 0
    """Records whose (topic, partition, offset) bronze already held: not added again."""
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def records_loaded(self) -> int:
        """Records appended to the three entity tables."""
        return sum(self.loaded.values())

    def summary(self) -> str:
        """One line for the CLI."""
        per_entity = ", ".join(f"{e} {n:,}" for e, n in self.loaded.items())
        return (
            f"bronze: {self.objects_loaded:,} new objects ({self.objects_skipped:,} already loaded, "
            f"{self.objects_ignored:,} ignored); loaded {self.records_loaded:,} records ({per_entity}), "
            f"quarantined {self.quarantined:,}, skipped {self.duplicates:,} already in bronze"
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
        if added:
            self.runs.append((topic, partition, key, added))

    def lineage(self, now: datetime) -> dict[str, pa.Array]:
        """The lineage columns of these rows (source 'kafka' for topic landings)."""
        n = len(self.offsets)
        return {
            "_source": pa.repeat(pa.scalar("kafka"), n),
            "_topic": _runs_array([(r[0], r[3]) for r in self.runs], pa.string()),
            "_partition": _runs_array([(r[1], r[3]) for r in self.runs], pa.int32()),
            "_offset": pa.array(self.offsets, pa.int64()),
            "_landing_object": _runs_array([(r[2], r[3]) for r in self.runs], pa.string()),
            "_ingested_at": pa.repeat(pa.scalar(now, pa.timestamp("us", tz="UTC")), n),
        }


def _runs_array(runs: list[tuple[Any, int]], kind: pa.DataType) -> pa.Array:
    if not runs:
        return pa.array([], kind)
    return pa.concat_arrays([pa.repeat(pa.scalar(value, kind), count) for value, count in runs])


@dataclass
class _Batch:
    """What one append writes: rows per entity, quarantine rows, and the ledger rows of the objects."""

    rows: dict[str, _Rows]
    quarantine: _Rows
    ledger: list[dict[str, Any]]
    records: int = 0

    @classmethod
    def empty(cls) -> _Batch:
        return cls(rows={e: _Rows() for e in ENTITIES}, quarantine=_Rows(), ledger=[])


class Rejected(Exception):
    """A record that goes to quarantine; the message is the reason, ``<kind>: <detail>``.

    Kinds: not_utf8, not_json, not_object, empty, missing_index, bad_index, too_large.
    """


def render_column(records: list[dict[str, Any]], name: str) -> list[str | None]:
    """One source field of every record as bronze text (strings, the common case, pass through)."""
    values = [record.get(name) for record in records]
    return [
        v if v is None or v.__class__ is str else (str(v) if v.__class__ is int else render(v))
        for v in values
    ]


def render(value: Any) -> str | None:
    """A JSON value as bronze text: strings as is, numbers and booleans as JSON text, null as None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return float.__repr__(value)  # what json.dumps writes for a finite float
    return orjson.dumps(value).decode()


def parse_record(raw: bytes, index_field: str, max_bytes: int) -> dict[str, Any]:
    """Decode one raw record value into a JSON object, or raise Rejected with the reason."""
    if len(raw) > max_bytes:
        raise Rejected(f"too_large: record of {len(raw):,} bytes is larger than the limit of {max_bytes:,}")
    if not raw.strip():
        raise Rejected("empty: empty record")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = _parse_slow(raw)
    if not isinstance(value, dict):
        raise Rejected(f"not_object: JSON {_json_type(value)} is not an object")
    if index_field not in value or value[index_field] is None:
        raise Rejected(f"missing_index: missing index field {index_field!r}")
    index = value[index_field]
    if isinstance(index, bool) or not _is_integer(index):
        raise Rejected(f"bad_index: index field {index_field!r} is not an integer: {str(index)[:40]!r}")
    return value


def parse_clean_object(values: list[bytes], index_field: str, max_bytes: int) -> list[dict[str, Any]] | None:
    """Parse all lines of an object in one go; None unless every line is a valid record.

    One orjson call over the lines joined as a JSON array is much cheaper than one call per line.
    Anything unusual (a bad line, a missing or non-integer index, an oversized line) returns None and
    the caller checks line by line, so the outcome is the same as parse_record on each line.
    """
    if not values or max(map(len, values)) > max_bytes or not all(values):
        return None
    try:
        parsed = orjson.loads(b"[" + b",".join(values) + b"]")
    except orjson.JSONDecodeError:
        return None
    if len(parsed) != len(values):  # a line holding two values ('1,2') would shift the offsets
        return None
    for record in parsed:
        if record.__class__ is not dict or record.get(index_field).__class__ is not int:
            return None
    return parsed


def _parse_slow(raw: bytes) -> Any:
    """The standard library's parser: accepts what orjson refuses but JSON allows (huge integers)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(f"not_utf8: not valid UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise Rejected(f"not_json: not valid JSON: {str(exc)[:120]}") from None


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


def _is_integer(value: Any) -> bool:
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return math.isfinite(value) and value.is_integer()
    if isinstance(value, str):
        text = value.strip()
        return text.lstrip("-").isdigit() and len(text) < 20
    return False


class BronzeLoader:
    """Loads new landing objects of one uid's topics into the bronze Delta tables."""

    def __init__(
        self,
        settings: Settings,
        lake: Lake | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.lake = lake or Lake(settings.lake)
        self.clock = clock or (lambda: datetime.now(UTC))
        """Gives ``_ingested_at`` of a commit (tests replay old loads with a fixed clock)."""
        self.batch_records = 250_000

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
                DeltaTable(uri, storage_options=self.lake.storage_options)
            except TableNotFoundError:
                DeltaTable.create(uri, schema=schema, storage_options=self.lake.storage_options)

    def _table(self, name: str) -> DeltaTable:
        return DeltaTable(self.table_uri(name), storage_options=self.lake.storage_options)

    def loaded_objects(self) -> set[tuple[str, int]]:
        """(key, size) of every object in the ledger."""
        ledger = self._table(LEDGER).to_pyarrow_table(columns=["landing_object", "size"])
        return set(zip(ledger["landing_object"].to_pylist(), ledger["size"].to_pylist(), strict=True))

    def pending_objects(self) -> tuple[list[LakeObject], LoadReport]:
        """New landing objects of this uid's topics, in key order, and a report of what was skipped."""
        report = LoadReport()
        done = self.loaded_objects()
        todo: list[LakeObject] = []
        for obj in sorted(self.lake.list("raw/topics/"), key=lambda o: o.key):
            report.objects_seen += 1
            parsed = parse_object_key(obj.key)
            if parsed is None or self.settings.entity_of_topic(parsed.topic) is None:
                report.objects_ignored += 1
            elif (obj.key, obj.size) in done:
                report.objects_skipped += 1
            else:
                todo.append(obj)
        return todo, report

    def load(self, progress: Callable[[int], None] | None = None) -> LoadReport:
        """Load every new object; calls ``progress(objects_done)`` as it goes."""
        self.ensure_tables()
        todo, report = self.pending_objects()
        batch = _Batch.empty()
        for obj in todo:
            self._read_object(obj, batch, report)
            if batch.records >= self.batch_records:
                self._commit(batch, report)
                batch = _Batch.empty()
            if progress:
                progress(1)
        self._commit(batch, report)
        return report

    def _read_object(self, obj: LakeObject, batch: _Batch, report: LoadReport) -> None:
        parsed = parse_object_key(obj.key)
        assert parsed is not None
        entity = self.settings.entity_of_topic(parsed.topic)
        assert entity is not None
        data = self.lake.read_bytes(obj.key)
        values = [data] if parsed.single else split_lines(data)
        index_field = INDEX_FIELD[entity]
        rows, quarantine = batch.rows[entity], batch.quarantine
        rows_before, quarantine_before = len(rows.offsets), len(quarantine.offsets)
        max_bytes = self.settings.max_record_bytes
        fast = parse_clean_object(values, index_field, max_bytes)
        if fast is not None:  # the common case: every line a JSON object with an integer index
            rows.records.extend(fast)
            rows.raw.extend(values)
            rows.offsets.extend(range(parsed.first_offset, parsed.first_offset + len(values)))
            values_to_check: list[bytes] = []
        else:
            values_to_check = values
        for i, raw in enumerate(values_to_check):
            offset = parsed.first_offset + i
            try:
                record = parse_record(raw, index_field, max_bytes)
            except Rejected as rejected:
                quarantine.records.append(str(rejected))
                quarantine.raw.append(raw)
                quarantine.offsets.append(offset)
                continue
            rows.records.append(record)
            rows.raw.append(raw)
            rows.offsets.append(offset)
        rows.add_run(parsed.topic, parsed.partition, obj.key, rows_before)
        quarantine.add_run(parsed.topic, parsed.partition, obj.key, quarantine_before)
        batch.records += len(values)
        batch.ledger.append({"landing_object": obj.key, "size": obj.size, "records": len(values)})
        report.objects_loaded += 1

    def _commit(self, batch: _Batch, report: LoadReport) -> None:
        """Append the batch to bronze (dropping records bronze already holds), then the ledger."""
        if not batch.ledger:
            return
        now = self.clock()
        counts = {row["landing_object"]: dict.fromkeys(("loaded", "quarantined"), 0) for row in batch.ledger}
        for entity in ENTITIES:
            rows = batch.rows[entity]
            if not rows.offsets:
                continue
            columns: dict[str, Any] = {
                name: pa.array(render_column(rows.records, name), pa.string())
                for name in SOURCE_FIELDS[entity]
            }
            columns["_raw_json"] = pa.array(rows.raw, pa.binary()).cast(pa.string())
            columns.update(rows.lineage(now))
            added = self._append_new(entity, pa.Table.from_pydict(columns, schema=entity_schema(entity)))
            report.loaded[entity] += added.num_rows
            _tally(counts, added, "loaded")
        quarantine = batch.quarantine
        if quarantine.offsets:
            columns = quarantine.lineage(now)
            columns["reason"] = pa.array(quarantine.records, pa.string())
            columns["raw_bytes"] = pa.array(quarantine.raw, pa.binary())
            added = self._append_new(QUARANTINE, pa.Table.from_pydict(columns, schema=QUARANTINE_SCHEMA))
            report.quarantined += added.num_rows
            _tally(counts, added, "quarantined")
            for reason in added["reason"].to_pylist():
                kind = reason.split(":")[0]
                report.reasons[kind] = report.reasons.get(kind, 0) + 1
        ledger_rows = []
        for row in batch.ledger:
            done = counts[row["landing_object"]]
            duplicates = row["records"] - done["loaded"] - done["quarantined"]
            report.duplicates += duplicates
            ledger_rows.append({**row, **done, "duplicates": duplicates, "loaded_at": now})
        write_deltalake(
            self.table_uri(LEDGER),
            pa.Table.from_pylist(ledger_rows, schema=LEDGER_SCHEMA),
            mode="append",
            storage_options=self.lake.storage_options,
        )

    def _append_new(self, name: str, table: pa.Table) -> pa.Table:
        """Append the rows whose (topic, partition, offset) the table does not hold yet; return them."""
        table = _drop_repeats(table)
        existing = self._existing_keys(name, table)
        if existing is not None and existing.num_rows:
            keys = _row_keys(table["_topic"], table["_partition"], table["_offset"])
            held = _row_keys(existing["_topic"], existing["_partition"], existing["_offset"])
            table = table.filter(pc.invert(pc.is_in(keys, value_set=held)))
        if table.num_rows:
            write_deltalake(
                self.table_uri(name), table, mode="append", storage_options=self.lake.storage_options
            )
        return table

    def _existing_keys(self, name: str, table: pa.Table) -> pa.Table | None:
        """Lineage keys already in a bronze table within the topics and offset range of the new rows."""
        dt = self._table(name)
        if not dt.file_uris():
            return None
        lo = pc.min(table["_offset"]).as_py()
        hi = pc.max(table["_offset"]).as_py()
        condition = (
            (pc.field("_offset") >= lo)
            & (pc.field("_offset") <= hi)
            & pc.field("_topic").isin(pc.unique(table["_topic"]))
        )
        return dt.to_pyarrow_dataset().to_table(columns=["_topic", "_partition", "_offset"], filter=condition)


def _tally(counts: dict[str, dict[str, int]], added: pa.Table, bucket: str) -> None:
    """Count the rows added per landing object."""
    for item in pc.value_counts(added["_landing_object"]).to_pylist():
        counts[item["values"]][bucket] += item["counts"]


def _row_keys(topic: pa.ChunkedArray, partition: pa.ChunkedArray, offset: pa.ChunkedArray) -> pa.Array:
    """One string key per row: topic, partition and offset."""
    joined = pc.binary_join_element_wise(
        topic, pc.cast(partition, pa.string()), pc.cast(offset, pa.string()), "\x1f"
    )
    return pc.cast(joined, pa.string())


def _drop_repeats(table: pa.Table) -> pa.Table:
    """Keep the first row of each (topic, partition, offset) within one batch."""
    keys = _row_keys(table["_topic"], table["_partition"], table["_offset"])
    if len(pc.unique(keys)) == len(keys):
        return table
    seen: set[str] = set()
    mask = []
    for key in keys.to_pylist():
        mask.append(key not in seen)
        seen.add(key)
    return table.filter(pa.array(mask))


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
