"""Whether the Kafka broker answers: what the run param ``source=auto`` decides on.

First a TCP connect to each bootstrap address: when every one refuses at once (nothing listens, the
usual laptop case) the answer is immediate. Otherwise a metadata request (the cluster's brokers) with
a short timeout, run in a daemon thread so that no client library can hold the task longer than
``timeout`` plus a second.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

PROBE_SECONDS = 3.0
"""How long the DAG waits for the broker's answer before it calls the broker unreachable."""


def _ask(bootstrap: str, timeout: float, answer: dict[str, Any]) -> None:
    try:
        from kafka import KafkaAdminClient  # kafka extra; imported when a task runs

        timeout_ms = max(500, int(timeout * 1000))
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="pinpipe-airflow-probe",
            bootstrap_timeout_ms=timeout_ms,
            request_timeout_ms=timeout_ms,
        )
        try:
            answer["topics"] = len(admin.list_topics())  # a metadata request; any answer will do
        finally:
            admin.close()
    except Exception as exc:  # any failure means "not usable now", with its reason
        answer["error"] = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]


def _refused(address: str, timeout: float) -> bool:
    """Whether a TCP connect to ``host:port`` is refused (nothing listens there)."""
    host, _, port = address.strip().rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return False
    except ConnectionRefusedError:
        return True
    except (OSError, ValueError):  # a timeout, a name that does not resolve yet: let the client decide
        return False


def broker_problem(bootstrap: str, timeout: float = PROBE_SECONDS) -> str | None:
    """None when a broker at ``bootstrap`` answers a metadata request within ``timeout`` seconds,
    else a one-line reason."""
    addresses = [a for a in bootstrap.split(",") if a.strip()]
    if addresses and all(_refused(address, timeout) for address in addresses):
        return f"Kafka broker at {bootstrap} unreachable (connection refused)"
    answer: dict[str, Any] = {}
    thread = threading.Thread(target=_ask, args=(bootstrap, timeout, answer), daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    if thread.is_alive():
        return f"no answer from the Kafka broker at {bootstrap} within {timeout:.0f}s"
    if "error" in answer:
        return f"Kafka broker at {bootstrap} unreachable ({answer['error']})"
    return None
