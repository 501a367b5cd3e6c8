"""Shared fixtures: an isolated data folder and lake per test, and the real records of the original.

The suite runs in pytest-xdist workers (``make test``: ``-n 2 --dist loadgroup``). Each test module is one
group, so a module's fixtures (a broker, a built warehouse) are made once, in one worker. The modules that
write or read the repository's own ``dbt_project/target/`` (the Airflow DAG renders from its manifest) share
one group and so run one after the other; every other module's dbt runs write a target folder of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
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


def _children() -> list[int]:
    """This process's child processes (Linux /proc), e.g. the xdist workers."""
    pids: list[int] = []
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError, ValueError):
            pids += [int(pid) for pid in (task / "children").read_text().split()]
    return pids


def _interrupted_with_workers(signum: int, frame: FrameType | None) -> None:
    for pid in _children():  # each worker stops its own servers, as it does on Ctrl-C
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    _interrupted(signum, frame)


def pytest_sessionstart(session: pytest.Session) -> None:
    """SIGTERM ends the run like Ctrl-C does, so fixtures stop the servers they started (a Kafka
    broker or moto runs in its own session and would otherwise outlive an interrupted run). The xdist
    controller passes the signal on to its workers, which hold the fixtures."""
    controller = session.config.pluginmanager.hasplugin("dsession")  # xdist's, when it runs workers
    signal.signal(signal.SIGTERM, _interrupted_with_workers if controller else _interrupted)


REPOSITORY_TARGET_GROUP = "repository-dbt-target"
"""The xdist group of the tests that write or read ``dbt_project/target/`` of the repository."""

_REPOSITORY_TARGET_MODULES = ("tests/dags/",)
_REPOSITORY_TARGET_TESTS = ("tests/dbt_project/test_dbt_project.py::test_sqlfluff_lint_passes",)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which turns the groups into node ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """One xdist group per test module, the repository-target users in one (see the module docstring)."""
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        module = item.nodeid.split("::", 1)[0]
        shared = module.startswith(_REPOSITORY_TARGET_MODULES)
        shared = shared or item.nodeid.startswith(_REPOSITORY_TARGET_TESTS)
        item.add_marker(pytest.mark.xdist_group(REPOSITORY_TARGET_GROUP if shared else module))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """Stop with one line when xdist no longer groups: the tests would still pass, sharing the
    repository's dbt target at random (pytest 9.2 did this to xdist 3.8: pytest-xdist#1386)."""
    if node.config.getoption("dist") != "loadgroup":
        return
    lost = [nodeid for nodeid in ids if "@" not in nodeid.rsplit("]", 1)[-1]]
    if lost:
        pytest.exit(
            f"pytest-xdist did not group {lost[0]} (and {len(lost) - 1} more) by its module: this pytest and "
            "pytest-xdist do not work together; use the versions of uv.lock, or TEST_WORKERS=0",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


@pytest.fixture(scope="module", autouse=True)
def dbt_output_outside_the_repository(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """dbt's target and log folders in the module's tmp unless the environment names them, so that two
    workers' dbt runs never share ``dbt_project/target/``. The modules of the repository-target group
    (the DAG renders from that folder's manifest) get the repository's folders instead."""
    with pytest.MonkeyPatch.context() as patch:
        if str(request.path.relative_to(Path(__file__).parent.parent)).startswith(_REPOSITORY_TARGET_MODULES):
            patch.delenv("DBT_TARGET_PATH", raising=False)
            patch.delenv("DBT_LOG_PATH", raising=False)
        elif not os.environ.get("DBT_TARGET_PATH"):
            folder = tmp_path_factory.mktemp("dbt-output")
            patch.setenv("DBT_TARGET_PATH", str(folder / "target"))
            patch.setenv("DBT_LOG_PATH", str(folder / "logs"))
        yield


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
