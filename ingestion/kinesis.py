"""Kinesis plumbing shared by the emulator's sink and the stream ingestion: client, streams, shards.

The client reads its endpoint, credentials and region the AWS way (environment, shared config, the
default chain); ``AWS_ENDPOINT_URL`` points it at moto or any Kinesis-compatible service. Nothing here
takes a credential as an argument. Needs the kinesis extra (boto3).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from ingestion.errors import PinpipeError
from ingestion.settings import ENTITIES, Settings

log = logging.getLogger(__name__)

THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "ThrottlingException",
        "KMSThrottlingException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalServerError",
    }
)
"""Error codes worth waiting out and retrying (per request, or per record of a PutRecords answer)."""


def kinesis_client(*, max_pool_connections: int = 16) -> Any:
    """A boto3 Kinesis client. Retries are the caller's (they know which records to resend)."""
    config = Config(
        retries={"total_max_attempts": 1},
        max_pool_connections=max_pool_connections,
        connect_timeout=5,
        read_timeout=30,
    )
    try:
        return boto3.client("kinesis", config=config)
    except Exception as exc:  # NoRegionError and friends: a configuration problem, said in one line
        raise PinpipeError(
            f"cannot create a Kinesis client: {exc} (set AWS_REGION / AWS_ENDPOINT_URL)"
        ) from None


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, else the exception's class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(exc).__name__))
    return type(exc).__name__


def is_retryable(exc: BaseException) -> bool:
    """Throttling, a 5xx answer, or no answer at all (connection refused, reset, timed out)."""
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error_code(exc) in THROTTLING_CODES or status >= 500
    return isinstance(exc, ConnectionError | HTTPClientError)


def ensure_streams(client: Any, settings: Settings, shards: int | None = None, timeout: float = 60.0) -> None:
    """Create the three streams of the settings' uid that do not exist, and wait until all are active."""
    count = shards or settings.kinesis_shards
    for entity in ENTITIES:
        name = settings.stream(entity)
        try:
            client.create_stream(StreamName=name, ShardCount=count)
            log.info("created stream %s with %d shards", name, count)
        except ClientError as exc:
            if error_code(exc) != "ResourceInUseException":
                raise PinpipeError(f"cannot create Kinesis stream {name}: {exc}") from None
    deadline = time.monotonic() + timeout
    for entity in ENTITIES:
        name = settings.stream(entity)
        while stream_status(client, name) != "ACTIVE":
            if time.monotonic() > deadline:
                raise PinpipeError(f"Kinesis stream {name} is not ACTIVE after {timeout:.0f} s")
            time.sleep(0.5)


def stream_status(client: Any, name: str) -> str:
    """The stream's status (CREATING, ACTIVE, UPDATING, DELETING)."""
    return str(client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"])


@dataclass(frozen=True)
class Shard:
    """A shard as list_shards describes it."""

    shard_id: str
    parents: tuple[str, ...]
    closed: bool
    """Whether the shard has an ending sequence number (resharded away: it takes no new records)."""


def list_shards(client: Any, stream: str) -> tuple[list[Shard], str]:
    """Every shard of a stream (open and closed, in id order) and the stream's creation time."""
    summary = client.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    created = summary["StreamCreationTimestamp"].isoformat()
    shards: list[Shard] = []
    kwargs: dict[str, Any] = {"StreamName": stream}
    while True:
        page = client.list_shards(**kwargs)
        for item in page["Shards"]:
            parents = tuple(p for p in (item.get("ParentShardId"), item.get("AdjacentParentShardId")) if p)
            closed = "EndingSequenceNumber" in item.get("SequenceNumberRange", {})
            shards.append(Shard(item["ShardId"], parents, closed))
        token = page.get("NextToken")
        if not token:
            break
        kwargs = {"NextToken": token}
    return sorted(shards, key=lambda s: s.shard_id), created
