"""The DAG's run param ``source``: ``auto`` reads the lake when no broker answers, ``kafka`` fails at
once (no retry) with a one-line reason. No broker, no scheduler: the task's callable with its context.

Each check runs in its own Python process: importing Airflow fixes its AIRFLOW_HOME (and metadata DB)
for the whole process, and tests/dags/test_dag.py runs Airflow in the pytest process with its own home.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"

RUN_DRAIN = """
import json, runpy, sys

module = runpy.run_path(sys.argv[1])
dag = module["dag"]
task = dag.task_dict["ingest.land_from_kafka"]
task.python_callable.__globals__["get_current_context"] = lambda: {"params": {"source": sys.argv[2]}}
try:
    task.python_callable()
    outcome = {"raised": None, "message": ""}
except Exception as exc:
    outcome = {"raised": type(exc).__name__, "message": str(exc)}
outcome.update(default=dag.params["source"])
print(json.dumps(outcome))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def dag_process_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a Python process that parses the DAG with its own Airflow home, and no
    broker at ``PINPIPE_KAFKA_BOOTSTRAP``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PINPIPE_", "AIRFLOW"))}
    env.update(
        AIRFLOW_HOME=str(tmp_path / "airflow"),
        AIRFLOW__COSMOS__CACHE_DIR=str(tmp_path / "cosmos"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        PINPIPE_DATA_DIR=str(tmp_path / "data"),
        PINPIPE_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}",
        PYTHONPATH=os.pathsep.join(filter(None, [str(DAGS_DIR), env.get("PYTHONPATH")])),
    )
    env.update(extra)
    return env


def run_with_dag(script: str, env: dict[str, str], *args: str) -> dict[str, Any]:
    """Run ``script`` (given the DAG file's path and ``args``) in its own process; its last line of
    output, as JSON."""
    completed = subprocess.run(
        [sys.executable, "-c", script, str(DAGS_DIR / "pinpipe_daily.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    outcome: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return outcome


def run_drain(tmp_path: Path, source: str) -> dict[str, Any]:
    """The land_from_kafka task's callable with ``source``, against a port where no broker listens."""
    # An outage limit far beyond run_with_dag's 300 s timeout: a drain that waited for the broker instead
    # of deciding at once would fail the test there (an event, not a bound on the elapsed time).
    return run_with_dag(RUN_DRAIN, dag_process_env(tmp_path, PINPIPE_KAFKA_OUTAGE_TIMEOUT="3600"), source)


def test_auto_without_a_broker_reads_the_lake(tmp_path: Path) -> None:
    outcome = run_drain(tmp_path, "auto")
    assert outcome["default"] == "auto"
    assert outcome["raised"] == "AirflowSkipException", outcome
    assert "source=auto: " in outcome["message"] and "unreachable" in outcome["message"]
    assert "reading the lake landing" in outcome["message"]


def test_kafka_without_a_broker_fails_fast_without_retry(tmp_path: Path) -> None:
    outcome = run_drain(tmp_path, "kafka")
    assert outcome["raised"] == "AirflowFailException", outcome
    assert "\n" not in outcome["message"]
    assert outcome["message"].startswith("source=kafka: Kafka broker at 127.0.0.1:")


def test_probe_tells_nothing_listening_from_a_silent_listener() -> None:
    sys.path.insert(0, str(DAGS_DIR))
    from pinpipe_dag.kafka_probe import broker_problem

    refused = broker_problem(f"127.0.0.1:{free_port()}", timeout=2)
    assert refused is not None and "connection refused" in refused
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        problem = broker_problem(f"127.0.0.1:{silent.getsockname()[1]}", timeout=1)
    assert problem is not None and "connection refused" not in problem
