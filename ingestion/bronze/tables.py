"""The bronze tables: their schemas (entity, quarantine, stream, ledger tables), the Parquet settings
of their appends, the columns a later release added, and reading a table."""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
from deltalake import ColumnProperties, DeltaTable, WriterProperties
from deltalake import Field as DeltaField
from deltalake.schema import PrimitiveType

from ingestion.lake import Lake
from ingestion.settings import SOURCE_FIELDS, Settings

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


def read_table(settings: Settings, name: str, columns: Iterable[str] | None = None) -> pa.Table:
    """A bronze table as Arrow (for tests, reports and tools)."""
    lake = Lake(settings.lake)
    dt = DeltaTable(lake.uri(f"bronze/{name}"), storage_options=lake.storage_options)
    return dt.to_pyarrow_table(columns=list(columns) if columns else None)
