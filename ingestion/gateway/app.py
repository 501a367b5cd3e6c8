"""The gateway's HTTP API: the original's API Gateway endpoints, served by FastAPI.

- ``POST /topics/{topic}`` (``application/vnd.kafka.json.v2+json``): Confluent REST Proxy v2, records
  produced to Kafka; the answer lists, in order, each record's partition and offset or its
  error_code and error.
- ``PUT /streams/{stream}/record`` and ``PUT /streams/{stream}/records`` (``application/json``): the
  Kinesis proxy; the stream in the path wins over ``StreamName`` in the body.
- ``GET /health`` and the OpenAPI document at ``/openapi.json``; ``/docs`` renders it with Swagger UI,
  served from the installed swagger-ui-bundle under ``/docs-assets/`` (no CDN: it works offline).

A record's value (Kafka) or ``Data`` (Kinesis) is any JSON value and is sent on as its JSON text, as the
original's API Gateway mapping did. Only the topics ``<uid>.pin|geo|user`` and streams
``streaming-<uid>-pin|geo|user`` of the settings' uid are accepted (404 otherwise). Errors answer
``{"error_code": <int>, "message": <text>}``: 400 body not JSON, 401 API key, 404 unknown topic, stream
or partition, 408 body too slow, 413 body too large, 415 content type, 422 body not of the documented
shape, 429 rate limit (every request counts, with a key or without), 503 (with Retry-After) broker or
Kinesis unreachable.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope
from swagger_ui_bundle import swagger_ui_path

from ingestion.errors import PinpipeError
from ingestion.gateway.backends import KafkaBackend, KinesisBackend, NotFound, Unavailable
from ingestion.gateway.limits import BodySizeLimit, BodyTimeout, RateLimiter, idle_cutting_protocol
from ingestion.settings import ENTITIES, Settings

access_log = logging.getLogger("pinpipe.gateway.access")

KAFKA_JSON_V2 = "application/vnd.kafka.json.v2+json"
KAFKA_V2 = "application/vnd.kafka.v2+json"
MAX_KAFKA_RECORDS = 10_000
MAX_KINESIS_RECORDS = 500

DOCS_ASSETS = "/docs-assets"
# the Swagger UI files /docs loads, and their source maps (the bundle's demo index.html is not served)
_SWAGGER_FILES = frozenset(
    {
        "swagger-ui-bundle.js",
        "swagger-ui-bundle.js.map",
        "swagger-ui.css",
        "swagger-ui.css.map",
        "favicon-32x32.png",
        "favicon-16x16.png",
    }
)


class SwaggerAssets(StaticFiles):
    """Swagger UI's JavaScript, CSS and favicon, from the swagger-ui-bundle package (not a CDN)."""

    def __init__(self) -> None:
        super().__init__(directory=str(swagger_ui_path))

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path not in _SWAGGER_FILES:
            raise StarletteHTTPException(404)
        return await super().get_response(path, scope)


def _whole_number(value: Any) -> Any:
    """JSON Schema counts 3.0 as an integer: take it as 3 (strict mode refuses booleans and strings)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Partition = Annotated[int, Field(ge=0, le=2**31 - 1), BeforeValidator(_whole_number)]


class KafkaRecord(BaseModel):
    """One record of a REST Proxy v2 produce request (JSON embedded format)."""

    model_config = ConfigDict(strict=True, extra="forbid")
    value: Any = Field(description="The record value: any JSON value, produced as its JSON text.")
    key: Any = Field(default=None, description="Optional key: a string as is, other JSON as its text.")
    partition: Partition | None = Field(default=None, description="Optional partition.")


class KafkaProduce(BaseModel):
    """Body of ``POST /topics/{topic}``."""

    model_config = ConfigDict(strict=True, extra="forbid")
    records: list[KafkaRecord] = Field(min_length=1, max_length=MAX_KAFKA_RECORDS)


class KafkaOffset(BaseModel):
    """A record's outcome: partition and offset, or error_code and error (send it again if 50002)."""

    partition: int | None
    offset: int | None
    error_code: int | None
    error: str | None


class KafkaProduceAnswer(BaseModel):
    """Answer of ``POST /topics/{topic}``: one entry per record, in request order."""

    offsets: list[KafkaOffset]
    key_schema_id: int | None = None
    value_schema_id: int | None = None


def _key_text(value: Any) -> Any:
    """A partition key given as an integer (as one sibling of the original sent it) becomes its text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


PartitionKey = Annotated[str, Field(min_length=1, max_length=256), BeforeValidator(_key_text)]


class KinesisRecord(BaseModel):
    """Body of ``PUT /streams/{stream}/record`` (the path's stream wins over StreamName)."""

    model_config = ConfigDict(strict=True, extra="forbid")
    StreamName: str | None = Field(default=None, description="Ignored: the stream of the path wins.")
    Data: Any = Field(description="The record: any JSON value, put as its JSON text.")
    PartitionKey: PartitionKey


class KinesisEntry(BaseModel):
    """One record of a PutRecords batch."""

    model_config = ConfigDict(strict=True, extra="forbid")
    Data: Any
    PartitionKey: PartitionKey


class KinesisRecords(BaseModel):
    """Body of ``PUT /streams/{stream}/records``."""

    model_config = ConfigDict(strict=True, extra="forbid")
    StreamName: str | None = None
    Records: list[KinesisEntry] = Field(min_length=1, max_length=MAX_KINESIS_RECORDS)


class KinesisPutAnswer(BaseModel):
    """Answer of ``PUT /streams/{stream}/record``."""

    SequenceNumber: str
    ShardId: str


class KinesisResult(BaseModel):
    """One record's outcome in a PutRecords answer."""

    SequenceNumber: str | None = None
    ShardId: str | None = None
    ErrorCode: str | None = None
    ErrorMessage: str | None = None


class KinesisPutRecordsAnswer(BaseModel):
    """Answer of ``PUT /streams/{stream}/records``: the failed ones carry ErrorCode (send them again)."""

    FailedRecordCount: int
    Records: list[KinesisResult]


class ErrorAnswer(BaseModel):
    """Every error answer."""

    error_code: int
    message: str


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorAnswer} for code in codes}


def _inline(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema with its $defs inlined (an operation's requestBody cannot use $defs)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.split("/")[-1]])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def _body_doc(content_type: str, model: type[BaseModel]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {content_type: {"schema": _inline(model)}}}}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def _read(request: Request, allowed: tuple[str, ...], model: type[BaseModel]) -> Any:
    """The body parsed into ``model``: 415 for another content type, 400 not JSON, 422 wrong shape."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in allowed:
        raise HTTPException(
            415, f"content type {content_type or '(none)'!r}; expected {' or '.join(allowed)}"
        )
    raw = await request.body()
    try:
        document = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise HTTPException(400, f"the body is not JSON: {str(exc)[:200]}") from None
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise HTTPException(422, f"the body is not a valid {model.__name__}: {problems}") from None


def _served(name: str, served: set[str], kind: str) -> None:
    """404 unless ``name`` is one of the topics or streams of the gateway's uid."""
    if name not in served:
        raise HTTPException(404, f"unknown {kind} {name!r}; this gateway serves {', '.join(sorted(served))}")


def _json_text(value: Any) -> bytes:
    """A JSON value as compact JSON text (big integers kept; NaN cannot occur, the parser refused it)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and the loopback addresses (127.0.0.0/8, ::1); False for anything else,
    host names and the wildcard addresses ("", 0.0.0.0, ::) included."""
    if host.strip().lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, *, api_key: str | None, insecure: bool) -> str | None:
    """The bind rule: a gateway without an API key serves loopback only. Raises PinpipeError (one
    line: why, and how out) for another address without a key unless ``insecure``; returns the
    warning line to print when ``insecure`` lets it through, else None."""
    if api_key or is_loopback(host):
        return None
    if not insecure:
        raise PinpipeError(
            f"refusing to serve the gateway on {host or '(all interfaces)'} without an API key (anyone "
            "who reaches it could write to Kafka and Kinesis): set PINPIPE_GATEWAY_API_KEY, or pass "
            "--insecure to serve it open"
        )
    return (
        f"warning: --insecure: the gateway on {host or '(all interfaces)'} has no API key; anyone who "
        "reaches it can write to Kafka and Kinesis"
    )


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for the gateway, ``uvicorn.run(app, **server_options(settings))``: the bind
    address, and connections cut after ``gateway_idle_timeout`` seconds without a request (uvicorn's
    ``timeout_keep_alive``) or with a request's headers still incomplete (the protocol class)."""
    return {
        "host": settings.gateway_host,
        "port": settings.gateway_port,
        "http": idle_cutting_protocol(),
        "timeout_keep_alive": settings.gateway_idle_timeout,
    }


def create_app(
    settings: Settings,
    *,
    api_key: str | None = None,
    kafka: KafkaBackend | None = None,
    kinesis: KinesisBackend | None = None,
) -> FastAPI:
    """The gateway for the settings' uid. ``api_key``: required in ``x-api-key`` when set."""
    kafka = kafka or KafkaBackend(settings)
    kinesis = kinesis or KinesisBackend(settings)
    topics = {settings.topic(e) for e in ENTITIES}
    streams = {settings.stream(e) for e in ENTITIES}
    backend = kafka

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        backend.close()  # flush what is queued

    app = FastAPI(
        lifespan=lifespan,
        title="pinpipe gateway",
        version="1",
        description=(__doc__ or "").split("\n\n", 1)[1],
        docs_url=None,  # served below, with local assets
        redoc_url=None,  # ReDoc loads from a CDN, and swagger-ui-bundle does not ship it
    )
    app.state.settings = settings  # server_options(app.state.settings): how to serve this app
    app.add_middleware(BodySizeLimit, max_bytes=settings.gateway_max_body_bytes)
    app.add_middleware(BodyTimeout, seconds=settings.gateway_body_timeout)
    limiter = RateLimiter(settings.gateway_rate_limit)
    key_header = APIKeyHeader(name="x-api-key", auto_error=False, description="Required when configured.")
    expected = api_key.encode() if api_key else None

    def limit(request: Request) -> None:
        client = request.client.host if request.client else "?"
        wait = limiter.take(client)
        if wait:
            raise HTTPException(429, "too many requests", headers={"Retry-After": str(max(1, round(wait)))})

    def authorize(key: str | None = Security(key_header)) -> None:
        if expected is not None and not hmac.compare_digest((key or "").encode(), expected):
            raise HTTPException(401, "missing or wrong x-api-key", headers={"WWW-Authenticate": "ApiKey"})

    # the rate limit comes first: requests with a wrong key are limited too (no free guessing); the
    # OpenAPI document declares the API key only when one is required
    guarded = [Depends(limit), Depends(authorize)] if expected is not None else [Depends(limit)]

    # Starlette's HTTPException too: unknown paths, wrong methods, missing docs assets
    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"error_code": exc.status_code, "message": str(exc.detail)}, exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error_code": 422, "message": str(exc.errors()[:3])}, 422)

    @app.exception_handler(Unavailable)
    async def unavailable(_request: Request, exc: Unavailable) -> JSONResponse:
        return JSONResponse(
            {"error_code": 503, "message": str(exc)}, 503, headers={"Retry-After": str(exc.retry_after)}
        )

    @app.exception_handler(NotFound)
    async def not_found(_request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"error_code": 404, "message": str(exc)}, 404)

    @app.middleware("http")
    async def log_access(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        access_log.info(
            json.dumps(
                {
                    "client": request.client.host if request.client else None,
                    "method": request.method,
                    "path": request.url.path,
                    "status": response.status_code,
                    "ms": round(1000 * (time.perf_counter() - started), 2),
                    "bytes_in": int(request.headers.get("content-length") or 0),
                }
            )
        )
        return response

    # the docs, like /openapi.json and /health, need neither the API key nor a rate-limit token: a browser
    # cannot send x-api-key when it opens the page (Swagger UI's Authorize button sends it on API calls)
    app.mount(DOCS_ASSETS, SwaggerAssets(), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
            oauth2_redirect_url=oauth2_redirect_url,
            # no call to the public validator (Swagger UI's default validatorUrl) from an offline page
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(oauth2_redirect_url, include_in_schema=False)
    def docs_oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/health", summary="Liveness: the gateway answers.")
    def health() -> dict[str, Any]:
        return {"status": "ok", "uid": settings.uid, "topics": sorted(topics), "streams": sorted(streams)}

    @app.post(
        "/topics/{topic}",
        summary="Produce records to a Kafka topic (Confluent REST Proxy v2).",
        dependencies=guarded,
        openapi_extra=_body_doc(KAFKA_JSON_V2, KafkaProduce),
        response_model=KafkaProduceAnswer,
        responses={
            200: {"content": {KAFKA_V2: {"schema": _inline(KafkaProduceAnswer)}}},
            **_errors(400, 401, 404, 413, 415, 422, 429, 503),
        },
    )
    async def produce(topic: str, request: Request) -> Response:
        _served(topic, topics, "topic")
        body: KafkaProduce = await _read(request, (KAFKA_JSON_V2, "application/json"), KafkaProduce)
        wanted = [r.partition for r in body.records if r.partition is not None]
        if wanted:
            count = await run_in_threadpool(kafka.partitions, topic)
            if max(wanted) >= count:
                raise HTTPException(
                    404, f"partition {max(wanted)} of {topic} does not exist ({count} partitions)"
                )
        records = [
            (
                None if r.key is None else (r.key.encode() if isinstance(r.key, str) else _json_text(r.key)),
                _json_text(r.value),
                r.partition,
            )
            for r in body.records
        ]
        results = await run_in_threadpool(kafka.produce, topic, records)
        answer = KafkaProduceAnswer(offsets=[KafkaOffset(**vars(r)) for r in results])
        return Response(answer.model_dump_json(), media_type=KAFKA_V2)

    @app.put(
        "/streams/{stream}/record",
        summary="Put one record on a Kinesis stream.",
        dependencies=guarded,
        openapi_extra=_body_doc("application/json", KinesisRecord),
        response_model=KinesisPutAnswer,
        responses=_errors(400, 401, 404, 413, 415, 422, 429, 503),
    )
    async def put_record(stream: str, request: Request) -> KinesisPutAnswer:
        _served(stream, streams, "stream")
        body: KinesisRecord = await _read(request, ("application/json",), KinesisRecord)
        answer = await run_in_threadpool(kinesis.put_record, stream, _json_text(body.Data), body.PartitionKey)
        return KinesisPutAnswer(**answer)

    @app.put(
        "/streams/{stream}/records",
        summary="Put a batch of records on a Kinesis stream (PutRecords).",
        dependencies=guarded,
        openapi_extra=_body_doc("application/json", KinesisRecords),
        response_model=KinesisPutRecordsAnswer,
        responses=_errors(400, 401, 404, 413, 415, 422, 429, 503),
    )
    async def put_records(stream: str, request: Request) -> KinesisPutRecordsAnswer:
        _served(stream, streams, "stream")
        body: KinesisRecords = await _read(request, ("application/json",), KinesisRecords)
        entries = [(_json_text(r.Data), r.PartitionKey) for r in body.Records]
        answer = await run_in_threadpool(kinesis.put_records, stream, entries)
        return KinesisPutRecordsAnswer(
            FailedRecordCount=answer["FailedRecordCount"],
            Records=[
                KinesisResult(**{k: v for k, v in r.items() if k in KinesisResult.model_fields})
                for r in answer["Records"]
            ],
        )

    return app
