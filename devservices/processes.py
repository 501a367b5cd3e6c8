"""Helpers shared by the local services (Kafka, moto): free ports, process groups, pid checks."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from pathlib import Path

from ingestion.errors import PinpipeError

HOST = "127.0.0.1"
"""Every local service binds this address only."""


class LocalServiceError(PinpipeError):
    """A local service could not be fetched, started or stopped; the message says why."""


def free_ports(count: int = 1) -> list[int]:
    """``count`` distinct TCP ports of 127.0.0.1 that were free a moment ago (bound to port 0)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def pid_alive(pid: int) -> bool:
    """Whether a process runs under ``pid`` (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def command_line(pid: int) -> str | None:
    """The command line of ``pid`` from /proc, or None where /proc is not available."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return None


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to the process group led by ``pid`` (services run in their own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``pid`` (not a child of ours) to exit; returns whether it did."""
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True
