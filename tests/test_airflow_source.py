"""The DAG's run param ``source``: ``auto`` reads the lake when no broker answers, ``kafka`` fails at
once (no retry) with a one-line reason. No broker, no scheduler: the task's callable with its context."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path
from typing import Any

import pytest

DAGS_DIR = Path(__file__).resolve().parent.parent / "dags"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def dag_module(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    monkeypatch.setenv("AIRFLOW__COSMOS__CACHE_DIR", str(tmp_path / "cosmos"))
    monkeypatch.setenv("PINPIPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PINPIPE_KAFKA_BOOTSTRAP", f"127.0.0.1:{free_port()}")
    monkeypatch.syspath_prepend(str(DAGS_DIR))
    for name in [n for n in sys.modules if n == "pinpipe_dag" or n.startswith("pinpipe_dag.")]:
        monkeypatch.delitem(sys.modules, name)
    import runpy

    return runpy.run_path(str(DAGS_DIR / "pinpipe_daily.py"))


def run_drain(module: dict[str, Any], source: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    task = module["dag"].task_dict["ingest.land_from_kafka"]
    monkeypatch.setitem(
        task.python_callable.__globals__, "get_current_context", lambda: {"params": {"source": source}}
    )
    return task.python_callable()


def test_auto_without_a_broker_reads_the_lake(dag_module: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    assert dag_module["dag"].params["source"] == "auto"
    started = time.monotonic()
    with pytest.raises(AirflowSkipException, match=r"source=auto: .*unreachable.*reading the lake landing"):
        run_drain(dag_module, "auto", monkeypatch)
    assert time.monotonic() - started < 6


def test_kafka_without_a_broker_fails_fast_without_retry(
    dag_module: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    started = time.monotonic()
    with pytest.raises(AirflowFailException) as failure:
        run_drain(dag_module, "kafka", monkeypatch)
    assert time.monotonic() - started < 10
    assert "\n" not in str(failure.value) and str(failure.value).startswith(
        "source=kafka: Kafka broker at 127.0.0.1:"
    )
