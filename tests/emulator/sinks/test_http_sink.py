"""Unit tests of the emulator's HTTP sink: the requests it sends and its retries, against an in-process
httpx transport playing the gateway (the real gateway, broker and moto are in test_gateway.py)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest

from emulator.sinks.http import HttpSink
from emulator.source import Event
from ingestion.settings import ENTITIES, Settings


def _events(count: int) -> list[Event]:
    def record(entity: str, i: int) -> bytes:
        return orjson.dumps({"index" if entity == "pin" else "ind": i, "n": f"v{i}", "e": entity})

    return [Event(seq=i, index=i, records={e: record(e, i) for e in ENTITIES}) for i in range(count)]


def _sink(tmp_path: Path, handler: Callable[[httpx.Request], httpx.Response], **update: object) -> HttpSink:
    settings = Settings(data_dir=tmp_path, **update)  # type: ignore[arg-type]
    client = httpx.Client(transport=httpx.MockTransport(handler), headers={"content-type": "x"})
    return HttpSink(settings, client=client, sleep=lambda _: None)


def test_one_record_per_request_exactly_like_the_original(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"offsets": [{"partition": 0, "offset": 1, "error_code": None, "error": None}]}
        )

    sink = _sink(tmp_path, gateway)
    sink.send(_events(2))
    assert sink.close().delivered == 6
    assert [r.method for r in seen] == ["POST"] * 6
    assert seen[0].url.path == "/topics/0a5040edb649.pin"
    assert json.loads(seen[0].content) == {"records": [{"value": {"index": 0, "n": "v0", "e": "pin"}}]}


def test_kinesis_batches_and_single_records(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/records"):
            n = len(json.loads(request.content)["Records"])
            return httpx.Response(
                200, json={"FailedRecordCount": 0, "Records": [{"SequenceNumber": "1", "ShardId": "s"}] * n}
            )
        return httpx.Response(200, json={"SequenceNumber": "1", "ShardId": "s"})

    batched = _sink(tmp_path, gateway, http_api="kinesis", http_batch=100)
    batched.send(_events(250))
    assert batched.close().delivered == 750
    assert [len(json.loads(r.content)["Records"]) for r in seen] == [100, 100, 50] * 3
    body = json.loads(seen[0].content)
    assert body["StreamName"] == "streaming-0a5040edb649-pin" and body["Records"][0] == {
        "Data": {"index": 0, "n": "v0", "e": "pin"},
        "PartitionKey": "0",
    }
    seen.clear()
    single = _sink(tmp_path, gateway, http_api="kinesis")
    single.send(_events(1))
    assert single.close().delivered == 3
    assert json.loads(seen[0].content) == {
        "StreamName": "streaming-0a5040edb649-pin",
        "Data": {"index": 0, "n": "v0", "e": "pin"},
        "PartitionKey": "0",
    }
    assert seen[0].method == "PUT" and seen[0].url.path == "/streams/streaming-0a5040edb649-pin/record"


def test_retries_resend_only_what_was_not_accepted(tmp_path: Path) -> None:
    accepted: Counter[bytes] = Counter()
    calls = Counter[str]()

    def gateway(request: httpx.Request) -> httpx.Response:
        calls["all"] += 1
        if calls["all"] == 1:
            raise httpx.ConnectError("refused")  # nothing sent: retried
        if calls["all"] == 2:
            return httpx.Response(
                503, headers={"Retry-After": "1"}, json={"error_code": 503, "message": "away"}
            )
        offsets = []
        for record in json.loads(request.content)["records"]:
            value = record["value"]
            if value.get("n") == "v3" and calls["v3"] == 0:
                calls["v3"] += 1
                offsets.append({"partition": None, "offset": None, "error_code": 50002, "error": "timeout"})
            elif value.get("n") == "v5":
                offsets.append({"partition": None, "offset": None, "error_code": 42201, "error": "too large"})
            else:
                accepted[json.dumps(value, sort_keys=True).encode()] += 1
                offsets.append({"partition": 0, "offset": 1, "error_code": None, "error": None})
        return httpx.Response(200, json={"offsets": offsets})

    sink = _sink(tmp_path, gateway, http_batch=100)
    sink.send(_events(8))
    stats = sink.close()
    assert (stats.delivered, stats.failed) == (3 * 8 - 3, 3)  # v5 of each entity refused for good
    assert all(n == 1 for n in accepted.values()) and len(accepted) == 21  # each accepted record once
    assert sink.errors["ConnectError"] == 8 and sink.errors["HTTP 503"] == 8 and sink.errors["50002"] == 1


def test_a_4xx_is_not_retried(tmp_path: Path) -> None:
    calls: list[int] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(404, json={"error_code": 404, "message": "unknown topic"})

    sink = _sink(tmp_path, gateway)
    sink.send(_events(1))
    assert sink.close().failed == 3 and len(calls) == 3


@pytest.mark.parametrize("status", [429, 500, 502])
def test_gives_up_after_the_last_attempt_and_counts(tmp_path: Path, status: int) -> None:
    sink = _sink(
        tmp_path, lambda _request: httpx.Response(status, json={"error_code": status, "message": "x"})
    )
    sink.max_attempts = 3
    sink.send(_events(1))
    assert sink.close().failed == 3 and sink.errors[f"HTTP {status}"] == 9
