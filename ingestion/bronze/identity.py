"""Delivery identity in bronze: which rows of a batch are new, repeats of what bronze holds (same
bytes) or conflicts with it (other bytes at the same topic incarnation, partition and offset)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.bronze.batch import OFFSET_CONFLICT
from ingestion.bronze.tables import LINEAGE_FIELDS, QUARANTINE, QUARANTINE_SCHEMA
from ingestion.landing import UTF8_BOM, strip_bom

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
