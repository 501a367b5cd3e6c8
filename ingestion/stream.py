"""Stream ingestion: every shard of the three Kinesis streams → raw landing + bronze stream tables.

One long-running loop (``pinpipe stream``) reads all shards of ``streaming-<uid>-pin|geo|user`` with
GetRecords and, at least every ``stream_commit_seconds``, commits a micro-batch per stream:

1. the records of each shard land as raw objects (the raw landing layout, docs/architecture.md) under
   ``raw/streams/<stream>/<shard>/<stream>+<shard>+<first sequence number:056d>.json`` (one record per
   line; a record holding a newline byte lands alone as ``...+<its sequence number>.bin``). The same
   first record always gives the same key, so a batch read again after a crash overwrites its object;
2. they are appended to the bronze table ``bronze/stream_<entity>`` in ONE Delta commit whose commit
   info carries the stream's checkpoint: for every shard the last sequence number in the table and
   whether the shard was read to its end. Records and positions commit together or not at all, so a
   SIGKILL at any moment neither loses nor duplicates a record: on start the loop reads the latest
   checkpoint from the table's history and resumes after it. One checkpoint per stream (one table per
   stream, never shared) with one position per shard.

Shards: discovered with ListShards (again every few seconds and when a shard ends); a child shard of a
resharding is read only once its parents were read to their end, so records of one partition key stay
in order. Bad input never stops the loop: a record bronze's parsing refuses (not a JSON object whose
index keeps the key contract of ingestion/bronze/records.py, not UTF-8, ...) is kept in the same table with
``_quarantine_reason``; an expired or invalid iterator is fetched again from the last read position;
throttling backs off that shard; a deleted stream is waited for, and a stream created again under the
same name is read from its start (its creation time is in the checkpoint and in
``_stream_created_at``). SIGTERM/SIGINT: commit what was read, then exit.

One ingestion per stream set (one writer per table): a run holds the ``stream.<stream>`` lock of
each of its streams (ingestion/locks.py).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, write_deltalake

from ingestion.arrow_columns import repeated
from ingestion.bronze.loader import BronzeLoader
from ingestion.bronze.records import (
    Rejected,
    parse_clean_object,
    parse_record,
    source_columns,
    unstorable_records,
)
from ingestion.bronze.tables import stream_entity_schema, stream_table
from ingestion.kinesis import Shard, error_code, is_retryable, kinesis_client, list_shards
from ingestion.lake import Lake
from ingestion.landing import strip_bom
from ingestion.locks import writer_locks
from ingestion.settings import ENTITIES, INDEX_FIELD, Settings

log = logging.getLogger(__name__)

CHECKPOINT_KEY = "pinpipe.kinesis.checkpoint"
"""Commit-info key of the checkpoint (a JSON text) in the stream tables' Delta commits."""
GET_RECORDS_LIMIT = 10_000
MAX_PENDING_RECORDS = 100_000
"""A micro-batch is committed early when this many records wait."""
DISCOVERY_SECONDS = 5.0
ITERATOR_ERRORS = frozenset({"ExpiredIteratorException", "InvalidArgumentException"})


def landing_key(stream: str, shard: str, sequence_number: str, suffix: str = "json") -> str:
    """Raw landing key of the records of one shard starting at ``sequence_number``."""
    return f"raw/streams/{stream}/{shard}/{stream}+{shard}+{int(sequence_number):056d}.{suffix}"


@dataclass
class ShardReader:
    """Where the loop stands in one shard."""

    shard: Shard
    read: str | None = None
    """Last sequence number read (committed, or waiting in the micro-batch); None: nothing yet."""
    iterator: str | None = None
    finished: bool = False
    """Read to its end (a closed shard's GetRecords gave no next iterator)."""
    done: bool = False
    """Finished, and that is committed."""
    wait_until: float = 0.0
    reading: bool = False
    """Whether this run has read a record of the shard (logged once)."""


@dataclass
class StreamState:
    """One stream: its shards, its table and the records read but not committed yet."""

    entity: str
    name: str
    created: str | None = None
    shards: dict[str, ShardReader] = field(default_factory=dict)
    pending: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """(shard id, GetRecords record) in read order."""
    available: bool = False
    next_discovery: float = 0.0
    missing_logged: bool = False

    def checkpoint(self) -> dict[str, Any]:
        """What the next commit records: every shard's last read position and whether it ended."""
        shards = {
            shard_id: {"seq": reader.read, "done": reader.finished or reader.done}
            for shard_id, reader in self.shards.items()
            if reader.read is not None or reader.finished or reader.done
        }
        return {"stream": self.name, "created": self.created, "shards": shards}


@dataclass
class StreamReport:
    """Counts of one run of the loop."""

    committed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENTITIES, 0))
    quarantined: int = 0
    commits: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for the CLI."""
        per_entity = ", ".join(f"{e} {n:,}" for e, n in self.committed.items())
        errors = f"; errors {self.errors}" if self.errors else ""
        return (
            f"stream: {sum(self.committed.values()):,} records in bronze ({per_entity}), "
            f"{self.quarantined:,} of them quarantined, {self.commits:,} commits{errors}"
        )


def read_checkpoint(table: DeltaTable) -> dict[str, Any] | None:
    """The latest checkpoint in a stream table's history (commits without one, e.g. compaction, skipped)."""
    for limit in (50, None):
        for entry in table.history(limit):
            if CHECKPOINT_KEY in entry:
                checkpoint: dict[str, Any] = json.loads(entry[CHECKPOINT_KEY])
                return checkpoint
    return None


class StreamIngestion:
    """The loop over every shard of the three streams; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        lake: Lake | None = None,
        client: Any = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.lake = lake or Lake(settings.lake)
        self.client = client or kinesis_client()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.streams = {e: StreamState(e, settings.stream(e)) for e in ENTITIES}
        self.tables: dict[str, DeltaTable] = {}
        self.report = StreamReport()
        self._stop = threading.Event()

    # --- lifecycle ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to commit what it read and return (thread-safe; also SIGTERM/SIGINT)."""
        self._stop.set()

    def run(
        self,
        *,
        idle_exit: float | None = None,
        progress: Callable[[StreamReport], None] | None = None,
        progress_seconds: float = 5.0,
    ) -> StreamReport:
        """Read and commit until stopped, or until nothing arrived for ``idle_exit`` seconds.

        One ingestion per stream: holds the ``stream.<stream>`` lock of each stream (ingestion/locks.py).
        """
        names = [f"stream.{state.name}" for state in self.streams.values()]
        with writer_locks(self.lake, names):
            return self._run(idle_exit=idle_exit, progress=progress, progress_seconds=progress_seconds)

    def _run(
        self,
        *,
        idle_exit: float | None,
        progress: Callable[[StreamReport], None] | None,
        progress_seconds: float,
    ) -> StreamReport:
        self._open_tables()
        restore = self._handle_signals()
        try:
            last_commit = last_data = last_progress = time.monotonic()
            while not self._stop.is_set():
                now = polled_at = time.monotonic()
                for state in self.streams.values():
                    if now >= state.next_discovery:
                        self._discover(state)
                got = sum(self._poll(state) for state in self.streams.values() if state.available)
                pending = sum(len(s.pending) for s in self.streams.values())
                now = time.monotonic()
                if got:
                    last_data = now
                if pending and (
                    now - last_commit >= self.settings.stream_commit_seconds or pending >= MAX_PENDING_RECORDS
                ):
                    self._commit_all()
                    last_commit = time.monotonic()
                if progress and now - last_progress >= progress_seconds:
                    progress(self.report)
                    last_progress = now
                if (
                    idle_exit is not None
                    and not pending
                    and now - last_data >= idle_exit
                    and not self._backing_off(since=polled_at)
                ):
                    break
                if not got:
                    self._stop.wait(self.settings.stream_poll_seconds)
            self._commit_all()
        finally:
            restore()
        return self.report

    def _backing_off(self, *, since: float) -> bool:
        """Whether a shard was backing off (throttled) at any point of the round that began at ``since``.

        Such a shard may hold records and was skipped, so the round does not prove the streams idle. Asking
        about *now* instead would let a round that skipped a shard, followed by a pause (a loaded
        machine), end the run with that shard never read after its back-off.
        """
        return any(r.wait_until > since for s in self.streams.values() for r in s.shards.values())

    def _handle_signals(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

        def handler(signum: int, _frame: Any) -> None:
            log.info("stream: %s received; committing what was read", signal.Signals(signum).name)
            self.stop()

        for sig in previous:
            signal.signal(sig, handler)

        def restore() -> None:
            for sig, old in previous.items():
                signal.signal(sig, old)

        return restore

    def _open_tables(self) -> None:
        BronzeLoader(self.settings, lake=self.lake).ensure_tables()
        for entity, state in self.streams.items():
            table = DeltaTable(
                self.lake.uri(f"bronze/{stream_table(entity)}"), storage_options=self.lake.storage_options
            )
            self.tables[entity] = table
            checkpoint = read_checkpoint(table)
            if checkpoint is None:
                continue
            state.created = checkpoint.get("created")
            for shard_id, position in checkpoint["shards"].items():
                reader = ShardReader(Shard(shard_id, (), bool(position["done"])))
                reader.read = position["seq"]
                reader.done = bool(position["done"])
                state.shards[shard_id] = reader
            log.info("stream %s: resuming after the checkpoint of %d shards", state.name, len(state.shards))

    # --- reading ----------------------------------------------------------------------------------

    def _error(self, code: str) -> None:
        self.report.errors[code] = self.report.errors.get(code, 0) + 1

    def _discover(self, state: StreamState) -> None:
        """List the stream's shards; notice a deleted or re-created stream."""
        state.next_discovery = time.monotonic() + DISCOVERY_SECONDS
        try:
            shards, created = list_shards(self.client, state.name)
        except Exception as exc:
            code = error_code(exc)
            self._error(code)
            if code == "ResourceNotFoundException":
                if not state.missing_logged:
                    log.warning("stream %s does not exist (yet); waiting for it", state.name)
                    state.missing_logged = True
            else:
                log.warning("stream %s: cannot list shards: %s", state.name, exc)
            state.available = False
            return
        if state.missing_logged:
            log.info("stream %s exists now", state.name)
            state.missing_logged = False
        if state.created is not None and created != state.created:
            log.warning(
                "stream %s was created again (%s, before %s): committing what was read, then reading the "
                "new stream from its start",
                state.name,
                created,
                state.created,
            )
            self._commit(state)
            state.shards = {}
        state.created = created
        for shard in shards:
            reader = state.shards.get(shard.shard_id)
            if reader is None:
                state.shards[shard.shard_id] = ShardReader(shard)
            else:
                reader.shard = shard
        state.available = True

    def _readable(self, state: StreamState, reader: ShardReader) -> bool:
        """Not ended, not backing off, and every parent shard read to its end (or gone from the list)."""
        if reader.finished or reader.done or time.monotonic() < reader.wait_until:
            return False
        for parent in reader.shard.parents:
            other = state.shards.get(parent)
            if other is not None and not (other.finished or other.done):
                return False
        return True

    def _poll(self, state: StreamState) -> int:
        """One GetRecords per readable shard; returns the number of records read."""
        got = 0
        for reader in list(state.shards.values()):
            if self._readable(state, reader):
                got += self._poll_shard(state, reader)
        return got

    def _poll_shard(self, state: StreamState, reader: ShardReader) -> int:
        shard_id = reader.shard.shard_id
        try:
            if reader.iterator is None:
                if reader.read is None:
                    kwargs: dict[str, Any] = {"ShardIteratorType": "TRIM_HORIZON"}
                else:
                    kwargs = {
                        "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                        "StartingSequenceNumber": reader.read,
                    }
                answer = self.client.get_shard_iterator(StreamName=state.name, ShardId=shard_id, **kwargs)
                reader.iterator = answer["ShardIterator"]
            answer = self.client.get_records(ShardIterator=reader.iterator, Limit=GET_RECORDS_LIMIT)
        except Exception as exc:
            code = error_code(exc)
            self._error(code)
            reader.iterator = None
            if code in ITERATOR_ERRORS:
                log.info(
                    "stream %s %s: %s; getting a new iterator after the last read record",
                    state.name,
                    shard_id,
                    code,
                )
            elif code == "ResourceNotFoundException":
                log.warning(
                    "stream %s %s: not found (%s); listing the stream again", state.name, shard_id, exc
                )
                state.available = False
                state.next_discovery = time.monotonic() + 1.0
            elif is_retryable(exc):
                reader.wait_until = time.monotonic() + 1.0
                log.info("stream %s %s: %s; backing off", state.name, shard_id, code)
            else:
                reader.wait_until = time.monotonic() + 5.0
                log.warning("stream %s %s: GetRecords failed: %s", state.name, shard_id, exc)
            return 0
        records = answer.get("Records", [])
        for record in records:
            state.pending.append((shard_id, record))
        if records and not reader.reading:
            reader.reading = True
            log.info("stream %s %s: reading from %s", state.name, shard_id, records[0]["SequenceNumber"])
        if records:
            reader.read = records[-1]["SequenceNumber"]
        reader.iterator = answer.get("NextShardIterator")
        if reader.iterator is None:
            reader.finished = True
            state.next_discovery = 0.0  # its children may be readable now
            log.info("stream %s %s: read to its end", state.name, shard_id)
        return len(records)

    # --- committing -------------------------------------------------------------------------------

    def _commit_all(self) -> None:
        for state in self.streams.values():
            self._commit(state)

    def _commit(self, state: StreamState) -> None:
        """Land the stream's pending records, then append them with the checkpoint in one commit."""
        if not state.pending:
            return
        now = self.clock()
        table, keys = self._build(state, now)
        checkpoint = state.checkpoint()
        write_deltalake(
            self.tables[state.entity],
            table,
            mode="append",
            commit_properties=CommitProperties(custom_metadata={CHECKPOINT_KEY: json.dumps(checkpoint)}),
        )
        for reader in state.shards.values():
            reader.done = reader.done or reader.finished
        quarantined = table.num_rows - table["_quarantine_reason"].null_count
        self.report.committed[state.entity] += table.num_rows
        self.report.quarantined += quarantined
        self.report.commits += 1
        log.debug("stream %s: committed %d records (%d objects)", state.name, table.num_rows, len(keys))
        state.pending = []

    def _build(self, state: StreamState, now: datetime) -> tuple[pa.Table, list[str]]:
        """Land the pending records (one object per shard) and build their bronze rows."""
        by_shard: dict[str, list[dict[str, Any]]] = {}
        for shard_id, record in state.pending:
            by_shard.setdefault(shard_id, []).append(record)
        index_field = INDEX_FIELD[state.entity]
        max_bytes = self.settings.max_record_bytes
        rows: list[dict[str, Any]] = []
        quarantine: list[tuple[str, bytes]] = []
        lineage: dict[str, list[Any]] = {name: [] for name in ("shard", "seq", "arrival", "object", "text")}
        keys: list[str] = []
        for shard_id, records in by_shard.items():
            lines = [r for r in records if b"\n" not in r["Data"]]
            singles = [r for r in records if b"\n" in r["Data"]]
            object_of: dict[str, str] = {}
            if lines:
                key = landing_key(state.name, shard_id, lines[0]["SequenceNumber"])
                self.lake.write_bytes(key, b"\n".join(r["Data"] for r in lines) + b"\n")
                keys.append(key)
                object_of.update((r["SequenceNumber"], key) for r in lines)
            for record in singles:
                key = landing_key(state.name, shard_id, record["SequenceNumber"], "bin")
                self.lake.write_bytes(key, record["Data"])
                keys.append(key)
                object_of[record["SequenceNumber"]] = key
            values = [r["Data"] for r in records]
            parsed: list[Any] | None = parse_clean_object(values, index_field, max_bytes)
            if parsed is None:
                parsed = []
                for raw in values:
                    try:
                        parsed.append(parse_record(raw, index_field, max_bytes))
                    except Rejected as rejected:
                        parsed.append(rejected)
            for record, value in zip(records, parsed, strict=True):
                if isinstance(value, Rejected):
                    quarantine.append((str(value), record["Data"]))
                    rows.append({})
                else:
                    quarantine.append(("", b""))
                    rows.append(value)
                lineage["shard"].append(shard_id)
                lineage["seq"].append(record["SequenceNumber"])
                lineage["arrival"].append(record.get("ApproximateArrivalTimestamp"))
                lineage["object"].append(object_of[record["SequenceNumber"]])
                lineage["text"].append(_text(record["Data"]))
        try:
            columns = source_columns(rows, state.entity)
        except Exception:  # a field that cannot be stored: that record alone goes to quarantine
            failed = unstorable_records(rows, state.entity)
            if not failed:
                raise
            datas = [record["Data"] for records in by_shard.values() for record in records]
            for i, reason in failed.items():
                rows[i] = {}
                quarantine[i] = (reason, datas[i])
            columns = source_columns(rows, state.entity)
        reasons = [reason or None for reason, _ in quarantine]
        columns["_raw_json"] = pa.array(lineage["text"], pa.string())
        columns["_quarantine_reason"] = pa.array(reasons, pa.string())
        columns["_raw_bytes"] = pa.array([raw if reason else None for reason, raw in quarantine], pa.binary())
        n = len(rows)
        columns["_source"] = repeated("kinesis", n, pa.string())
        columns["_stream"] = repeated(state.name, n, pa.string())
        columns["_stream_created_at"] = repeated(state.created or "", n, pa.string())
        columns["_shard"] = pa.array(lineage["shard"], pa.string())
        columns["_sequence_number"] = pa.array(lineage["seq"], pa.string())
        columns["_arrival_at"] = pa.array(lineage["arrival"], pa.timestamp("us", tz="UTC"))
        columns["_landing_object"] = pa.array(lineage["object"], pa.string())
        columns["_ingested_at"] = repeated(now, n, pa.timestamp("us", tz="UTC"))
        return pa.Table.from_pydict(columns, schema=stream_entity_schema(state.entity)), keys


def _text(data: bytes) -> str | None:
    """The record as text for ``_raw_json`` (without a leading byte order mark, as in the batch tables);
    None when it is not UTF-8 (its bytes are in ``_raw_bytes``)."""
    try:
        return strip_bom(data).decode("utf-8")
    except UnicodeDecodeError:
        return None
