"""The ingestion gateway against a real Kafka broker and a real moto server (Kinesis), served by a real
uvicorn on 127.0.0.1, with the emulator's HTTP sink as the client; then the records through the real
landing, bronze loader and stream ingestion. Plus property-based fuzzing of the API (schemathesis,
against the OpenAPI document the gateway serves), and the docs page served with no network."""

from __future__ import annotations

import itertools
import json
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from deltalake import DeltaTable
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.core.result import Err, Ok

from devservices.aws import LocalAWS
from devservices.kafka import LocalKafka
from devservices.processes import free_ports
from emulator.generate import generate_source_db
from emulator.sinks.http import HttpSink
from emulator.source import EventSource
from ingestion.bronze.loader import BronzeLoader
from ingestion.bronze.tables import read_table, stream_table
from ingestion.errors import PinpipeError
from ingestion.gateway.app import KAFKA_JSON_V2, check_bind, create_app, is_loopback, server_options
from ingestion.kafka.clients import CLIENTS
from ingestion.kafka.landing import KafkaLanding
from ingestion.kafka.topics import ensure_topics
from ingestion.kinesis import ensure_streams, kinesis_client
from ingestion.lake import Lake
from ingestion.settings import ENTITIES, Settings
from ingestion.stream import StreamIngestion

pytestmark = pytest.mark.integration

_uids = itertools.count()


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run the app in a real uvicorn on 127.0.0.1 (a thread of this process), with the options
    `pinpipe gateway` serves it with (its settings' idle timeout); yield its URL."""
    port = free_ports(1)[0]
    options = {**server_options(app.state.settings), "host": "127.0.0.1", "port": port}
    server = uvicorn.Server(uvicorn.Config(app, **options, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture(params=CLIENTS)
def gw_settings(
    request: pytest.FixtureRequest, tmp_path: Path, broker: LocalKafka, local_aws: LocalAWS
) -> Settings:
    """Settings of a gateway on the real broker and moto, with each Kafka client in turn."""
    settings = Settings(
        data_dir=tmp_path / "data",
        uid=f"gw{next(_uids)}",
        kafka_bootstrap=broker.bootstrap_servers,
        kafka_client=request.param,
        kinesis_shards=1,
        stream_commit_seconds=0.2,
        stream_poll_seconds=0.05,
    )
    settings.data_dir.mkdir(parents=True)
    ensure_topics(settings)
    ensure_streams(kinesis_client(), settings)
    return settings


def _land_kafka(settings: Settings) -> None:
    KafkaLanding(settings).run(drain=True)
    BronzeLoader(settings).load()


def _bronze_values(settings: Settings, entity: str) -> Counter[str]:
    return Counter(
        json.dumps(json.loads(v), sort_keys=True)
        for v in read_table(settings, entity)["_raw_json"].to_pylist()
    )


def _stream_values(settings: Settings, entity: str) -> Counter[str]:
    table = DeltaTable(Lake(settings.lake).uri(f"bronze/{stream_table(entity)}")).to_pyarrow_table()
    assert table["_quarantine_reason"].null_count == table.num_rows
    return Counter(json.dumps(json.loads(v), sort_keys=True) for v in table["_raw_json"].to_pylist())


def _expected(events: list[Any], entity: str) -> Counter[str]:
    return Counter(json.dumps(json.loads(e.records[entity]), sort_keys=True) for e in events)


@pytest.mark.slow
@pytest.mark.kafka
def test_every_endpoint_ends_with_the_records_in_bronze_unchanged(gw_settings: Settings) -> None:
    generate_source_db(gw_settings.source_db_url, rows=400, seed=3)
    source = EventSource(gw_settings.source_db_url)
    events = source.events(0, list(range(400)))
    source.close()
    with serve(create_app(gw_settings, api_key="s3cret")) as url, pytest.MonkeyPatch.context() as patch:
        patch.setenv("PINPIPE_GATEWAY_API_KEY", "s3cret")
        parts = [
            ("kafka", 1, events[:60]),
            ("kafka", 100, events[60:200]),
            ("kinesis", 1, events[200:260]),
            ("kinesis", 100, events[260:]),
        ]
        for api, batch, chunk in parts:
            sink = HttpSink(
                gw_settings.model_copy(update={"gateway_url": url, "http_api": api, "http_batch": batch})
            )
            for start in range(0, len(chunk), 25):
                sink.send(chunk[start : start + 25])
            stats = sink.close()
            assert (stats.delivered, stats.failed) == (3 * len(chunk), 0), (api, batch, sink.errors)
    _land_kafka(gw_settings)
    StreamIngestion(gw_settings).run(idle_exit=1.0)
    for entity in ENTITIES:
        assert _bronze_values(gw_settings, entity) == _expected(events[:200], entity)
        assert _stream_values(gw_settings, entity) == _expected(events[200:], entity)


def _post(
    client: httpx.Client, path: str, body: Any, content_type: str = KAFKA_JSON_V2, **headers: str
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.request(
        "POST" if path.startswith("/topics") else "PUT",
        path,
        content=content,
        headers={"content-type": content_type, **headers},
    )


@pytest.mark.slow
@pytest.mark.kafka
def test_every_error_has_its_status_and_reason_and_loses_nothing_accepted(gw_settings: Settings) -> None:
    topic, stream = gw_settings.topic("pin"), gw_settings.stream("geo")
    small = gw_settings.model_copy(
        update={"gateway_max_body_bytes": 3 * 1024 * 1024, "gateway_rate_limit": 0}
    )
    with serve(create_app(small, api_key="k")) as url, httpx.Client(base_url=url, timeout=30) as client:
        key = {"x-api-key": "k"}
        cases = [
            (_post(client, f"/topics/{topic}", {"records": [{"value": {"index": 1}}]}), 401),
            (
                _post(
                    client, f"/topics/{topic}", {"records": [{"value": {"index": 1}}]}, **{"x-api-key": "x"}
                ),
                401,
            ),
            (_post(client, f"/topics/{topic}", {"records": [{"value": {}}]}, "text/plain", **key), 415),
            (_post(client, f"/topics/{topic}", b"{not json", **key), 400),
            (_post(client, f"/topics/{topic}", {"records": [{"val": 1}]}, **key), 422),
            (_post(client, f"/topics/{topic}", {"records": [{"value": 1, "partition": True}]}, **key), 422),
            (_post(client, f"/topics/{topic}", {"records": []}, **key), 422),
            (_post(client, "/topics/someone-else.pin", {"records": [{"value": 1}]}, **key), 404),
            (_post(client, f"/topics/{topic}", {"records": [{"value": 1, "partition": 7}]}, **key), 404),
            (
                _post(client, f"/streams/{stream}/record", {"Data": {"ind": 1}}, "application/json", **key),
                422,
            ),
            (
                _post(
                    client,
                    "/streams/other/record",
                    {"Data": 1, "PartitionKey": "1"},
                    "application/json",
                    **key,
                ),
                404,
            ),
            (_post(client, f"/topics/{topic}", b"x" * (4 * 1024 * 1024), **key), 413),
        ]
        for response, status in cases:
            assert response.status_code == status, response.text
            answer = response.json()
            assert answer["error_code"] == status and answer["message"]
        assert cases[0][0].headers.get("www-authenticate") == "ApiKey"

        # one record the broker refuses (over the producer's 1 MiB request limit) among good ones:
        # its own error_code, the others are produced
        big = {"index": 99, "title": "x" * (1_200_000)}
        records = [
            {"value": {"index": 1, "title": "a"}},
            {"value": big},
            {"value": {"index": 2, "title": "b"}},
        ]
        response = _post(client, f"/topics/{topic}", {"records": records}, **key)
        assert response.status_code == 200 and response.headers["content-type"].startswith(
            "application/vnd.kafka.v2+json"
        )
        offsets = response.json()["offsets"]
        assert [o["error_code"] for o in offsets] == [None, 42201, None]
        assert offsets[1]["error"] and offsets[0]["offset"] is not None and offsets[2]["offset"] is not None
        # Kinesis: a record over 1 MiB fails the whole PutRecords at Kinesis: 4xx, nothing half-done
        response = _post(
            client,
            f"/streams/{stream}/records",
            {"Records": [{"Data": {"ind": 5}, "PartitionKey": "5"}]},
            "application/json",
            **key,
        )
        assert response.status_code == 200 and response.json()["FailedRecordCount"] == 0

    _land_kafka(gw_settings)
    titles = sorted(json.loads(v)["title"] for v in read_table(gw_settings, "pin")["_raw_json"].to_pylist())
    assert titles == ["a", "b"]  # the accepted ones, nothing else
    StreamIngestion(gw_settings).run(idle_exit=1.0)
    assert sum(_stream_values(gw_settings, "geo").values()) == 1


@pytest.mark.slow
@pytest.mark.kafka
def test_rate_limit_and_unreachable_backends(gw_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    limited = gw_settings.model_copy(update={"gateway_rate_limit": 2.0})
    with serve(create_app(limited)) as url, httpx.Client(base_url=url) as client:
        statuses = [_post(client, "/topics/nope", {"records": [{"value": 1}]}).status_code for _ in range(8)]
        assert statuses[:4] == [404] * 4 and 429 in statuses
        limited_answer = next(
            r for r in (_post(client, "/topics/nope", {}) for _ in range(3)) if r.status_code == 429
        )
        assert int(limited_answer.headers["retry-after"]) >= 1
    dead_port = free_ports(1)[0]
    away = gw_settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{dead_port}"})
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{dead_port}")
    with serve(create_app(away)) as url, httpx.Client(base_url=url, timeout=60) as client:
        for path, ctype, body in (
            (f"/topics/{away.topic('pin')}", KAFKA_JSON_V2, {"records": [{"value": {"index": 1}}]}),
            (
                f"/streams/{away.stream('pin')}/record",
                "application/json",
                {"Data": {"index": 1}, "PartitionKey": "1"},
            ),
        ):
            response = _post(client, path, body, ctype)
            assert response.status_code == 503, response.text
            assert int(response.headers["retry-after"]) >= 1 and response.json()["message"]


@pytest.mark.slow
@pytest.mark.kafka
def test_the_api_survives_fuzzing_and_matches_its_document(gw_settings: Settings) -> None:
    """Every operation of the OpenAPI document, fed generated requests (valid and invalid, schemathesis
    strategies driven by hypothesis): never a 5xx (the broker and moto are up), every answer as
    documented (status, content type, body schema)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(gw_settings, api_key="fuzz-key"))
    schema.config.update(headers={"x-api-key": "fuzz-key"})
    valid = {"topic": gw_settings.topic("user"), "stream": gw_settings.stream("user")}
    statuses: Counter[int] = Counter()
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results) == 4, [r.err() for r in results if isinstance(r, Err)]

    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        def fuzz(case: Any) -> None:
            # unknown topics and streams are tested above: aim at the real ones
            for name, value in valid.items():
                if case.path_parameters and name in case.path_parameters:
                    case.path_parameters[name] = value
            response = case.call()
            statuses[response.status_code] += 1
            assert response.status_code < 500, response.text
            case.validate_response(response)

        fuzz()
    assert statuses[200] > 0 and sum(n for code, n in statuses.items() if 400 <= code < 500) > 0, statuses


@pytest.mark.slow
@pytest.mark.kafka
def test_pinpipe_gateway_serves_on_127_0_0_1_and_stops_on_sigterm(gw_settings: Settings) -> None:
    import os
    import signal
    import subprocess
    import sys

    port = free_ports(1)[0]
    env = {
        **os.environ,
        "PINPIPE_KAFKA_BOOTSTRAP": gw_settings.kafka_bootstrap,
        "PINPIPE_GATEWAY_API_KEY": "k",
    }
    command = [
        sys.executable,
        "-m",
        "pinpipe",
        "--data-dir",
        str(gw_settings.data_dir),
        "--uid",
        gw_settings.uid,
    ]
    proc = subprocess.Popen([*command, "gateway", "--port", str(port)], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline, "the gateway did not start"
                time.sleep(0.2)
        assert health.json()["uid"] == gw_settings.uid
        # the docs page and its Swagger UI files, from the gateway itself, without the API key
        for path in ("/docs", "/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css"):
            assert httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10).status_code == 200, path
        answer = httpx.post(
            f"http://127.0.0.1:{port}/topics/{gw_settings.topic('pin')}",
            content=b'{"records": [{"value": {"index": 1}}]}',
            headers={"content-type": KAFKA_JSON_V2, "x-api-key": "k"},
            timeout=30,
        )
        assert answer.status_code == 200 and answer.json()["offsets"][0]["offset"] is not None
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr.decode()[-2000:]
    access = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    assert {"path": f"/topics/{gw_settings.topic('pin')}", "status": 200} in [
        {"path": a["path"], "status": a["status"]} for a in access
    ]


# --- the docs page, offline (no broker needed: the backends connect on first use) ------------------------


class _AssetRefs(HTMLParser):
    """The URLs a page loads by itself: <link href>, <script src>, <img src>."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"link": "href", "script": "src", "img": "src"}.get(tag)
        self.urls += [value for name, value in attrs if name == wanted and value]


@pytest.fixture
def docs_client(tmp_path: Path) -> TestClient:
    # a rate limit of one request at a time and an API key: the docs must need neither
    settings = Settings(data_dir=tmp_path / "data", uid="docs", gateway_rate_limit=0.01)
    return TestClient(create_app(settings, api_key="k"))


def test_docs_load_swagger_ui_from_the_gateway_itself(docs_client: TestClient) -> None:
    page = docs_client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "http://" not in page.text and "https://" not in page.text, page.text  # no CDN, no validator
    assert "url: '/openapi.json'" in page.text and "SwaggerUIBundle(" in page.text
    refs = _AssetRefs()
    refs.feed(page.text)
    assert sorted(refs.urls) == [
        "/docs-assets/favicon-32x32.png",
        "/docs-assets/swagger-ui-bundle.js",
        "/docs-assets/swagger-ui.css",
    ]
    expected = {
        ".js": ("text/javascript", 500_000, b"SwaggerUIBundle"),
        ".css": ("text/css", 50_000, b".swagger-ui"),
        ".png": ("image/png", 100, b"\x89PNG"),
    }
    for _ in range(3):  # neither API key nor rate limit: a page and its assets, again and again
        for url in refs.urls:
            content_type, size, marker = expected[Path(url).suffix]
            asset = docs_client.get(url)
            assert asset.status_code == 200, (url, asset.text[:200])
            assert asset.headers["content-type"].split(";")[0] == content_type, url
            assert len(asset.content) > size and marker in asset.content[:2_000_000], url
        assert docs_client.get("/docs").status_code == 200
        assert docs_client.get("/openapi.json").json()["info"]["title"] == "pinpipe gateway"
    # the API itself still needs the key
    answer = docs_client.post("/topics/docs.pin", content=b"{}", headers={"content-type": KAFKA_JSON_V2})
    assert answer.status_code == 401 and answer.json()["error_code"] == 401


def test_docs_assets_are_only_swagger_ui_and_redoc_is_off(docs_client: TestClient) -> None:
    for path in (
        "/docs-assets/index.html",  # the bundle's demo page (it loads the public petstore)
        "/docs-assets/swagger-initializer.js",
        "/docs-assets/../__init__.py",
        "/docs-assets/",
        "/redoc",  # ReDoc is not in swagger-ui-bundle: off rather than blank offline
    ):
        answer = docs_client.get(path)
        assert answer.status_code == 404, path
        assert answer.json() == {"error_code": 404, "message": "Not Found"}, path
    assert docs_client.post("/docs-assets/swagger-ui.css").status_code == 405
    redirect = docs_client.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200 and "https://" not in redirect.text and "http://" not in redirect.text
    cached = docs_client.get("/docs-assets/swagger-ui.css")
    again = docs_client.get("/docs-assets/swagger-ui.css", headers={"if-none-match": cached.headers["etag"]})
    assert again.status_code == 304


def test_requests_without_the_key_are_rate_limited_too(tmp_path: Path) -> None:
    """A client guessing keys meets the rate limit like any other: 401 until its tokens run out."""
    settings = Settings(data_dir=tmp_path / "data", uid="guess", gateway_rate_limit=2.0)
    with serve(create_app(settings, api_key="secret")) as url, httpx.Client(base_url=url) as client:
        statuses = [
            _post(client, "/topics/guess.pin", {"records": [{"value": 1}]}).status_code for _ in range(8)
        ]
    assert statuses[0] == 401 and set(statuses) == {401, 429}


def test_a_slow_client_is_answered_408(tmp_path: Path) -> None:
    """A body that stops arriving frees the connection after gateway_body_timeout."""
    settings = Settings(data_dir=tmp_path / "data", uid="slow", gateway_body_timeout=1.0)
    with serve(create_app(settings)) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                b"POST /topics/slow.pin HTTP/1.1\r\nHost: x\r\n"
                b'Content-Type: application/vnd.kafka.json.v2+json\r\nContent-Length: 100\r\n\r\n{"rec'
            )
            started = time.monotonic()
            answer = sock.recv(4096)
            waited = time.monotonic() - started
            while b"error_code" not in answer and (more := sock.recv(4096)):  # the body may come apart
                answer += more
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"error_code": 408' in answer and 0.5 < waited < 8


# --- idle connections and slow requests are cut; the bind rule --------------------------------------------


def _closed_by_server(sock: socket.socket) -> bool:
    """True once the server closed the (non-blocking) connection: end of stream or reset. What the
    server sent before (an answer) is read and dropped."""
    try:
        while sock.recv(65536):
            pass
    except BlockingIOError:
        return False  # open, nothing to read
    except OSError:  # reset by the server
        return True
    return True


def _wait_closed(socks: dict[str, socket.socket], trickle: str | None = None, bound: float = 60.0) -> None:
    """Wait (at most ``bound`` seconds, a generous bound, not the timing under test) until the server
    has closed every connection; ``trickle``'s keeps sending a header byte every 0.2 s meanwhile."""
    for sock in socks.values():
        sock.setblocking(False)
    still_open = dict(socks)
    deadline = time.monotonic() + bound
    while still_open:
        for name, sock in list(still_open.items()):
            if _closed_by_server(sock):
                del still_open[name]
        assert time.monotonic() < deadline, f"still open after {bound:g} s: {sorted(still_open)}"
        if trickle in still_open:
            try:
                still_open[trickle].send(b"a")
            except BlockingIOError:
                pass
            except OSError:  # the server closed it: the next round sees it
                pass
        time.sleep(0.2)


def _answer(sock: socket.socket) -> bytes:
    """One whole HTTP answer (headers and a Content-Length body) from a blocking socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        assert more, f"closed before a whole answer: {data[:200]!r}"
        data += more
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        more = sock.recv(65536)
        assert more, f"closed before a whole answer: {data[:200]!r}"
        body += more
    return head + b"\r\n\r\n" + body


def test_idle_connections_and_slow_request_heads_are_closed(tmp_path: Path) -> None:
    """Connections that send nothing, one that sent half a request head, one that sends its headers a
    byte at a time and a keep-alive one after its answer: all closed by the server after
    gateway_idle_timeout; the gateway goes on serving."""
    settings = Settings(data_dir=tmp_path / "data", uid="idle", gateway_idle_timeout=1)
    with serve(create_app(settings)) as url:
        address = ("127.0.0.1", int(url.rsplit(":", 1)[1]))
        socks = {f"silent-{i}": socket.create_connection(address, timeout=30) for i in range(10)}
        try:
            socks["half"] = socket.create_connection(address, timeout=30)
            socks["half"].sendall(b"POST /topics/idle.pin HTTP/1.1\r\nHost: x\r\nContent-Le")
            socks["trickle"] = socket.create_connection(address, timeout=30)
            socks["trickle"].sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            socks["keep-alive"] = socket.create_connection(address, timeout=30)
            socks["keep-alive"].sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _answer(socks["keep-alive"]).startswith(b"HTTP/1.1 200"), "a request on time is served"
            _wait_closed(socks, trickle="trickle")
        finally:
            for sock in socks.values():
                sock.close()
        assert httpx.get(f"{url}/health", timeout=30).json()["uid"] == "idle"


def test_a_body_in_slow_parts_is_not_cut_by_the_idle_timeout(tmp_path: Path) -> None:
    """The idle timeout stops once a request's headers are in: a body sent in parts over more than
    gateway_idle_timeout (each part within gateway_body_timeout) is answered; then the idle
    keep-alive connection is closed."""
    settings = Settings(data_dir=tmp_path / "data", uid="parts", gateway_idle_timeout=1)
    body = b'{"records": [not json] }'
    parts = [body[i : i + 4] for i in range(0, len(body), 4)]
    with serve(create_app(settings)) as url:
        sock = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=30)
        with sock:
            sock.sendall(
                b"POST /topics/parts.pin HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/vnd.kafka.json.v2+json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
            )
            for part in parts:  # 6 parts, 0.5 s apart: over the 1 s idle timeout in all
                time.sleep(0.5)
                sock.sendall(part)
            answer = _answer(sock)
            assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
            assert b'"error_code":400' in answer.replace(b" ", b"")
            _wait_closed({"keep-alive": sock})


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LocalHost"])
def test_loopback_addresses_need_no_api_key(host: str) -> None:
    assert is_loopback(host)
    assert check_bind(host, api_key=None, insecure=False) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.168.1.5", "10.0.0.1", "gateway.example.com"])
def test_other_addresses_need_an_api_key_or_insecure(host: str) -> None:
    assert not is_loopback(host)
    assert check_bind(host, api_key="k", insecure=False) is None
    with pytest.raises(PinpipeError) as refused:
        check_bind(host, api_key=None, insecure=False)
    reason = str(refused.value)
    assert "\n" not in reason and "PINPIPE_GATEWAY_API_KEY" in reason and "--insecure" in reason, reason
    warning = check_bind(host, api_key=None, insecure=True)
    assert warning and "\n" not in warning and "no API key" in warning, warning


# `pinpipe gateway` in a process of its own, with uvicorn.run replaced by a stub that prints the address
# it was asked to bind: a test never listens on an address other than loopback, whatever the code does
_STUB_SERVE = """
import sys
import uvicorn
from pinpipe.cli import main

def run(app, **options):
    print("would serve on", repr(options.get("host")))

uvicorn.run = run
main(sys.argv[1:])
"""


def _gateway_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os
    import sys

    clean = {k: v for k, v in os.environ.items() if not k.startswith("PINPIPE_GATEWAY_")}
    command = [sys.executable, "-c", _STUB_SERVE, "--data-dir", str(tmp_path / "data"), "gateway", *args]
    return subprocess.run(command, env={**clean, **env}, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--host", "0.0.0.0"], {}),
        (["--host", "::"], {}),
        ([], {"PINPIPE_GATEWAY_HOST": "0.0.0.0"}),  # the setting, not only the option
        (["--host", "0.0.0.0"], {"PINPIPE_GATEWAY_API_KEY": ""}),  # an empty key is no key
    ],
)
def test_pinpipe_gateway_refuses_an_open_address_without_an_api_key(
    tmp_path: Path, args: list[str], env: dict[str, str]
) -> None:
    done = _gateway_cli(tmp_path, *args, "--port", str(free_ports(1)[0]), **env)
    assert done.returncode != 0 and "would serve" not in done.stdout, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("pinpipe: error: refusing to serve the gateway on "), lines
    assert "without an API key" in lines[0] and "PINPIPE_GATEWAY_API_KEY" in lines[0], lines
    assert "--insecure" in lines[0], lines


def test_pinpipe_gateway_serves_an_open_address_with_a_key_or_insecure(tmp_path: Path) -> None:
    port = str(free_ports(1)[0])
    keyed = _gateway_cli(tmp_path, "--host", "0.0.0.0", "--port", port, PINPIPE_GATEWAY_API_KEY="k")
    assert keyed.returncode == 0 and keyed.stdout.strip() == "would serve on '0.0.0.0'", keyed
    assert "warning" not in keyed.stderr, keyed.stderr
    insecure = _gateway_cli(tmp_path, "--host", "0.0.0.0", "--port", port, "--insecure")
    assert insecure.returncode == 0 and insecure.stdout.strip() == "would serve on '0.0.0.0'", insecure
    warnings = [line for line in insecure.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "--insecure" in warnings[0] and "no API key" in warnings[0], insecure.stderr


def test_pinpipe_gateway_insecure_on_loopback_with_its_idle_timeout(tmp_path: Path) -> None:
    """The real command on 127.0.0.1 with --insecure and --idle-timeout 1: it serves, without a warning
    (loopback needs no key), and closes a connection that sends nothing."""
    import os
    import signal
    import sys

    port = free_ports(1)[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINPIPE_GATEWAY_")}
    command = [sys.executable, "-m", "pinpipe", "--data-dir", str(tmp_path / "data"), "--uid", "cli"]
    command += ["gateway", "--host", "127.0.0.1", "--port", str(port), "--insecure", "--idle-timeout", "1"]
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline, "the gateway did not start"
                time.sleep(0.2)
        assert health.json()["uid"] == "cli"
        with socket.create_connection(("127.0.0.1", port), timeout=30) as silent:
            _wait_closed({"silent": silent})
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr[-2000:]
    assert "warning" not in stderr and "API key not required" in stderr, stderr
