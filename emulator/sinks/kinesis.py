"""The Kinesis sink: PutRecords to ``streaming-<uid>-<entity>`` with the index as the partition key.

Records go out in PutRecords requests of at most 500 records and 5 MiB. A request that fails as a
whole with a retryable error (throttling, 5xx, no connection) is sent again; from an answer with
``FailedRecordCount > 0`` only the failed records are sent again (never one Kinesis accepted). Retries
back off exponentially with full jitter. A record Kinesis can never take (over 1 MiB) or one still
failing after the last attempt is counted as failed and logged with its error code.

One request per stream is in flight at a time (a lock per stream; the three streams go in parallel):
records of one index stay in order, and moto's Kinesis loses records under concurrent PutRecords to
one shard.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from emulator.sinks.base import AnsweredCounts, SinkStats
from emulator.source import Event
from ingestion.kinesis import ensure_streams, error_code, is_retryable, kinesis_client
from ingestion.settings import ENTITIES, Settings

log = logging.getLogger(__name__)

MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024
"""Kinesis limits: records per PutRecords, bytes per request, bytes per record (data + partition key)."""


def batches(entries: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split PutRecords entries into requests within Kinesis's record and byte limits."""
    out: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for entry in entries:
        entry_size = len(entry["Data"]) + len(entry["PartitionKey"])
        if current and (len(current) == MAX_BATCH_RECORDS or size + entry_size > MAX_BATCH_BYTES):
            out.append(current)
            current, size = [], 0
        current.append(entry)
        size += entry_size
    if current:
        out.append(current)
    return out


class KinesisSink(AnsweredCounts):
    """Puts records on the pipeline's three streams."""

    name = "kinesis"

    def __init__(
        self,
        settings: Settings,
        *,
        client: Any = None,
        create_streams: bool = True,
        max_attempts: int = 10,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.client = client or kinesis_client()
        if create_streams:
            ensure_streams(self.client, settings)
        self.streams = {entity: settings.stream(entity) for entity in ENTITIES}
        self.max_attempts = max_attempts
        self.sleep = sleep
        self._locks = {entity: threading.Lock() for entity in ENTITIES}
        super().__init__()  # the counts; `errors` by Kinesis error code
        self.retried = 0
        """Records sent again after a failed attempt."""

    def send(self, events: Sequence[Event]) -> None:
        """Put the records of each event, stream by stream, and wait for Kinesis's answers."""
        for entity in ENTITIES:
            entries = []
            for event in events:
                data = event.records[entity]
                key = str(event.index)
                if len(data) + len(key) > MAX_RECORD_BYTES:
                    self._error("RecordTooLarge", 1)
                    self._add(failed=1)
                    log.warning("kinesis: record of index %s is larger than 1 MiB; not sent", key)
                    continue
                entries.append({"Data": data, "PartitionKey": key})
            with self._locks[entity]:
                for batch in batches(entries):
                    self._put(self.streams[entity], batch)

    def _put(self, stream: str, entries: list[dict[str, Any]]) -> None:
        pending = entries
        for attempt in range(self.max_attempts):
            if attempt:
                self.retried += len(pending)
                self.sleep(random.uniform(0, min(5.0, 0.05 * 2**attempt)))
            try:
                answer = self.client.put_records(StreamName=stream, Records=pending)
            except Exception as exc:
                self._error(error_code(exc), len(pending))
                if not is_retryable(exc):
                    log.error("kinesis: PutRecords to %s failed: %s", stream, exc)
                    break
                continue
            results = answer["Records"]
            failed = [entry for entry, result in zip(pending, results, strict=True) if "ErrorCode" in result]
            for result in results:
                if "ErrorCode" in result:
                    self._error(result["ErrorCode"], 1)
            self._add(delivered=len(pending) - len(failed))
            if not failed:
                return
            pending = failed
        self._add(failed=len(pending))
        log.error("kinesis: gave up on %d records of %s", len(pending), stream)

    def close(self) -> SinkStats:
        """Nothing is queued (send waits for the answers): report the counts."""
        if self.errors:
            log.warning("kinesis errors by code (each failed attempt of a record): %s", self.errors)
        return self.stats()
