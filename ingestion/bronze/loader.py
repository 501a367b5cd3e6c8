"""The bronze loader: new landing objects of one uid's topics → the bronze Delta tables (the package
docstring says how), and compaction."""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError

from ingestion.arrow_columns import repeated
from ingestion.bronze.batch import (
    OFFSET_CONFLICT,
    LoadReport,
    _Batch,
    _Parsed,
    _parts,
    _Rows,
    _tally,
    _unrecognised_object,
)
from ingestion.bronze.bulk import bulk_parse
from ingestion.bronze.identity import (
    _CONFLICT,
    _IDENTITY,
    _NEW,
    _classify,
    _conflict_rows,
    _contents,
    _identity_keys,
    _narrow,
    _no_identities,
)
from ingestion.bronze.records import _clean, parse_clean_object, source_columns, unstorable_records
from ingestion.bronze.tables import (
    BATCH_RECORDS,
    IGNORED_NAMED,
    LEDGER,
    LEDGER_SCHEMA,
    LOADERS,
    QUARANTINE,
    QUARANTINE_SCHEMA,
    WRITER_PROPERTIES,
    _add_missing_columns,
    entity_schema,
    stream_entity_schema,
    stream_table,
)
from ingestion.errors import PinpipeError
from ingestion.lake import Lake, LakeObject
from ingestion.landing import parse_object_key, split_lines
from ingestion.locks import WriterLock
from ingestion.settings import ENTITIES, INDEX_FIELD, Settings

log = logging.getLogger(__name__)


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
        """``bulk`` or ``per-line`` (the package docstring, "Two parsers"); both load the same rows."""
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
        """Identity columns (as :func:`~ingestion.bronze.identity._narrow` gives them) of the rows
        bronze holds that may share an identity with the batch's: per topic and partition of the
        batch, those within its offset range there; and the lines of its unrecognised objects."""
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
