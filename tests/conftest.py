"""Shared fixtures: an isolated data folder and lake per test, and the real records of the original."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from devservices.aws import LocalAWS
from devservices.kafka import LocalKafka
from ingestion.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"


def _interrupted(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_sessionstart(session: pytest.Session) -> None:
    """SIGTERM ends the run like Ctrl-C does, so fixtures stop the servers they started (a Kafka
    broker or moto runs in its own session and would otherwise outlive an interrupted run)."""
    signal.signal(signal.SIGTERM, _interrupted)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose data folder, lake and source DB live in the test's tmp folder."""
    return Settings(data_dir=tmp_path / "data", uid="0a5040edb649")


@pytest.fixture(scope="session")
def peer_records() -> dict[str, list[dict[str, Any]]]:
    """The 137 real raw pin, geo and user records a sibling of the original project landed; link
    them by index (docs/data-contract.md, "Test fixtures")."""
    data: dict[str, Any] = json.loads((FIXTURES / "peer_raw_records.json").read_text())
    return data["records"]


@pytest.fixture(scope="session")
def seed_clean_rows() -> dict[str, list[dict[str, Any]]]:
    """The original seed project's own cleaned rows for its first 1000 emulator events."""
    data: dict[str, Any] = json.loads((FIXTURES / "seed_clean_rows.json").read_text())
    return data["rows"]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """A real local Kafka broker on 127.0.0.1 for one test module, stopped at its end."""
    kafka = LocalKafka(tmp_path_factory.mktemp("kafka")).start(timeout=180)
    yield kafka
    kafka.stop()


@pytest.fixture(scope="module")
def local_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAWS]:
    """A real moto server (S3 and Kinesis) on 127.0.0.1 for one test module, with the process
    environment pointing boto3, s3fs and deltalake at it; stopped (and the environment restored) at
    the module's end."""
    aws = LocalAWS(tmp_path_factory.mktemp("aws")).start()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in aws.env().items():
            patch.setenv(key, value)
        patch.delenv("AWS_PROFILE", raising=False)
        patch.delenv("PINPIPE_S3_ENDPOINT_URL", raising=False)
        yield aws
    aws.stop()
