"""Local AWS for development and tests: moto's server (S3 and Kinesis) on 127.0.0.1.

:class:`LocalAWS` runs ``python -m moto.server`` as a child process in its own session, bound to
127.0.0.1, and waits until it answers. Its state is in memory: a restart starts empty. The pipeline
talks to it exactly as to AWS, through the standard environment variables (:meth:`LocalAWS.env`):
``AWS_ENDPOINT_URL`` (boto3, s3fs and deltalake all read it), dummy credentials and a region.

Layout of a data directory: ``local-aws.json`` (the port, reused by the next start), ``moto.pid`` and
``moto.log``.

moto's Kinesis differs from AWS where it matters to a consumer (measured with moto 5.2): sequence
numbers are small integers per shard; concurrent PutRecords to one shard can lose records (the
Kinesis sink sends one request per stream at a time); resharding closes the parent but keeps
routing new records to it, and a closed shard never reports its end; iterators never expire.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Self

from devservices.processes import (
    HOST,
    LocalServiceError,
    command_line,
    free_ports,
    pid_alive,
    signal_group,
    wait_for_exit,
)
from ingestion.settings import PROJECT_ROOT

DEFAULT_DATA_DIR = PROJECT_ROOT / "data" / "aws"
REGION = "us-east-1"
_STATE_FILE = "local-aws.json"
_PID_FILE = "moto.pid"
_LOG_FILE = "moto.log"


class LocalAWS:
    """moto's server on 127.0.0.1 with its pid, port and log in ``data_dir``."""

    def __init__(self, data_dir: Path = DEFAULT_DATA_DIR, port: int | None = None) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        state_file = self.data_dir / _STATE_FILE
        stored = json.loads(state_file.read_text(encoding="utf-8"))["port"] if state_file.is_file() else None
        self.port: int = port or stored or free_ports(1)[0]
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{HOST}:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3, s3fs and deltalake at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }

    @property
    def pid(self) -> int | None:
        """The pid of the running server, or None."""
        if self._proc is not None:
            return self._proc.pid if self._proc.poll() is None else None
        path = self.data_dir / _PID_FILE
        if not path.is_file():
            return None
        try:
            pid = int(path.read_text().strip())
        except ValueError:
            return None
        if not pid_alive(pid):
            return None
        cmdline = command_line(pid)
        if cmdline is not None and ("moto.server" not in cmdline or f"-p {self.port}" not in cmdline):
            return None  # a stale pid file: the pid now belongs to another process, never signal it
        return pid

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self, timeout: float = 30.0) -> Self:
        """Launch the server (unless one runs on this data directory) and wait until it answers."""
        if self.pid is not None:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / _STATE_FILE).write_text(json.dumps({"port": self.port}) + "\n", encoding="utf-8")
        command = [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(self.port)]
        with (self.data_dir / _LOG_FILE).open("ab") as log:
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (self.data_dir / _PID_FILE).write_text(f"{self._proc.pid}\n", encoding="utf-8")
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self._proc.poll() is not None:
                code, self._proc = self._proc.returncode, None
                raise LocalServiceError(
                    f"moto server exited with code {code}; see {self.data_dir / _LOG_FILE}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise LocalServiceError(
                    f"moto server did not answer on {self.endpoint_url} within {timeout:.0f} s"
                )
            time.sleep(0.05)
        return self

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/data.json", timeout=0.5):
                return True
        except (urllib.error.URLError, OSError):
            return False

    def reset(self) -> None:
        """Forget every bucket and stream (moto's reset API)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        pid = self.pid
        if pid is not None:
            signal_group(pid, signal.SIGTERM)
            if self._proc is not None:
                try:
                    self._proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    signal_group(pid, signal.SIGKILL)
                    self._proc.wait(timeout)
            elif not wait_for_exit(pid, timeout):
                signal_group(pid, signal.SIGKILL)
                wait_for_exit(pid, timeout)
        self._proc = None
        (self.data_dir / _PID_FILE).unlink(missing_ok=True)


def exports(aws: LocalAWS) -> str:
    """Shell lines that point a terminal's pinpipe (and aws CLI) at the local server."""
    return "\n".join(f"export {key}={value}" for key, value in aws.env().items())
