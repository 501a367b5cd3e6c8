"""The HTTP sink: posts to the gateway exactly as the original emulator posted to its API Gateway.

``http_api = kafka``: ``POST <gateway_url>/topics/<uid>.<entity>`` with
``Content-Type: application/vnd.kafka.json.v2+json`` and ``{"records": [{"value": {...}}]}``;
``http_api = kinesis``: ``PUT <gateway_url>/streams/streaming-<uid>-<entity>/record`` with
``{"StreamName": ..., "Data": {...}, "PartitionKey": "<index>"}``, or ``.../records`` in batches.
``http_batch = 1`` sends one record per request, as the original did; more sends batches.

A request that fails as a whole with 429, a 5xx or a connection error is sent again with exponential
backoff and full jitter (honouring Retry-After). From a batch answer only the records it lists as
failed (Kafka ``error_code`` 50002, Kinesis ``ErrorCode``) go again; a record the gateway refused for
good (a 4xx, or Kafka ``error_code`` 42201) is counted as failed and never resent. A record accepted
is never sent again, except after a connection lost while waiting for the answer, when nobody can
know whether it arrived (at least once; silver counts each index once). Thread-safe: the emulator's
workers share one connection pool.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from emulator.sinks.base import AnsweredCounts, SinkStats
from emulator.source import Event
from ingestion.settings import ENTITIES, Settings

log = logging.getLogger(__name__)

KAFKA_JSON_V2 = "application/vnd.kafka.json.v2+json"
RETRIABLE_KAFKA_ERROR = 50002


class HttpSink(AnsweredCounts):
    """Sends records to the gateway over HTTP."""

    name = "http"

    def __init__(
        self,
        settings: Settings,
        *,
        client: Any = None,
        max_attempts: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.api = settings.http_api
        self.batch = settings.http_batch
        base = settings.gateway_url.rstrip("/")
        self.urls = {
            entity: f"{base}/topics/{settings.topic(entity)}"
            if self.api == "kafka"
            else f"{base}/streams/{settings.stream(entity)}/{'record' if self.batch == 1 else 'records'}"
            for entity in ENTITIES
        }
        headers = {"content-type": KAFKA_JSON_V2 if self.api == "kafka" else "application/json"}
        api_key = os.environ.get("PINPIPE_GATEWAY_API_KEY")
        if api_key:
            headers["x-api-key"] = api_key
        self.client = client or httpx.Client(
            headers=headers,
            timeout=30.0,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )
        self.max_attempts = max_attempts
        self.sleep = sleep
        super().__init__()

    def send(self, events: Sequence[Event]) -> None:
        """Send the records of each event, one request per record or per batch, and wait for answers."""
        for entity in ENTITIES:
            records = [(event.index, event.records[entity]) for event in events]
            for start in range(0, len(records), self.batch):
                self._send(entity, records[start : start + self.batch])

    def _body(self, entity: str, records: list[tuple[int, bytes]]) -> bytes:
        # the record bytes are JSON already: spliced in as they are, never parsed and re-encoded
        if self.api == "kafka":
            return b'{"records":[' + b",".join(b'{"value":' + data + b"}" for _, data in records) + b"]}"
        stream = self.settings.stream(entity).encode()
        if self.batch == 1:
            index, data = records[0]
            return b'{"StreamName":"%s","Data":%s,"PartitionKey":"%d"}' % (stream, data, index)
        entries = b",".join(b'{"Data":%s,"PartitionKey":"%d"}' % (data, index) for index, data in records)
        return b'{"StreamName":"%s","Records":[%s]}' % (stream, entries)

    def _send(self, entity: str, records: list[tuple[int, bytes]]) -> None:
        pending = records
        for attempt in range(self.max_attempts):
            if attempt:
                self.sleep(min(10.0, random.uniform(0, 0.1 * 2**attempt)))
            body = self._body(entity, pending)
            try:
                if self.api == "kafka":
                    response = self.client.post(self.urls[entity], content=body)
                else:
                    response = self.client.put(self.urls[entity], content=body)
            except httpx.HTTPError as exc:
                self._error(type(exc).__name__, len(pending))
                continue
            if response.status_code == 429 or response.status_code >= 500:
                self._error(f"HTTP {response.status_code}", len(pending))
                retry_after = response.headers.get("retry-after", "")
                if retry_after.isdigit():
                    self.sleep(min(30.0, float(retry_after)))
                continue
            if response.status_code >= 400:
                self._error(f"HTTP {response.status_code}", len(pending))
                self._add(failed=len(pending))
                log.error("gateway refused %d records: %s", len(pending), response.text[:300])
                return
            pending = self._retry_list(pending, response.json())
            if not pending:
                return
        self._add(failed=len(pending))
        log.error("http: gave up on %d records of %s", len(pending), entity)

    def _retry_list(self, sent: list[tuple[int, bytes]], answer: dict[str, Any]) -> list[tuple[int, bytes]]:
        """Count the answer's outcomes; return the records to send again."""
        if self.api == "kafka":
            outcomes = [(o.get("error_code"), o.get("error")) for o in answer["offsets"]]
        elif self.batch == 1:
            outcomes = [(None, None)]
        else:
            outcomes = [(r.get("ErrorCode"), r.get("ErrorMessage")) for r in answer["Records"]]
        again: list[tuple[int, bytes]] = []
        for record, (code, message) in zip(sent, outcomes, strict=True):
            if code is None:
                self._add(delivered=1)
                continue
            self._error(str(code), 1)
            if self.api == "kinesis" or code == RETRIABLE_KAFKA_ERROR:
                again.append(record)
            else:
                self._add(failed=1)
                log.error("gateway refused index %s for good: %s", record[0], message)
        return again

    def close(self) -> SinkStats:
        """Close the connection pool; report the counts."""
        self.client.close()
        if self.errors:
            log.warning("http sink errors (each failed attempt of a record): %s", self.errors)
        return self.stats()
