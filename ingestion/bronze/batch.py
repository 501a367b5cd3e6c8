"""What one bronze load gathers: its report, the rows per table with their lineage, the parsed
landing objects (an unrecognised object's lines included), and how a commit's appends are cut."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ingestion.arrow_columns import repeated, repeated_runs
from ingestion.bronze.records import Rejected, _clean, parse_record
from ingestion.lake import LakeObject
from ingestion.landing import ObjectKey, parse_object_key, split_lines, strip_bom
from ingestion.settings import ENTITIES


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
