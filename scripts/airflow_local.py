"""Airflow on this machine, stoppable: ``airflow standalone`` (or any Airflow command) in its own
process group, stopped with everything it started on Ctrl-C or SIGTERM.

``airflow standalone`` ignores SIGINT for a minute or more and leaves its scheduler, DAG processor,
triggerer, API server and task processes behind when its terminal goes away. This wrapper starts it in
a new session (so the terminal's Ctrl-C reaches the wrapper only), and on SIGINT or SIGTERM sends
SIGTERM to the process group and to every descendant (task processes run in process groups of their
own), waits up to ``--grace`` seconds, then SIGKILLs whatever is left. A second Ctrl-C kills at once.

    python scripts/airflow_local.py [--grace 10] [-- airflow-args...]   # default: airflow standalone

``make airflow`` runs it. The tests and bench/dag.py use :class:`AirflowProcess` the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import FrameType
from typing import IO, Any

import psutil

BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class AirflowProcess:
    """An Airflow command in its own process group, and a stop that leaves nothing behind."""

    def __init__(
        self, args: list[str], env: dict[str, str] | None = None, stdout: IO[Any] | int | None = None
    ) -> None:
        self.process = subprocess.Popen(
            [str(BIN / "airflow"), *args],
            env=env,
            stdout=stdout,
            stderr=subprocess.STDOUT if stdout is not None else None,
            start_new_session=True,
        )
        self.pid = self.process.pid
        self._known: dict[int, psutil.Process] = {}

    def descendants(self) -> list[psutil.Process]:
        """Every live process started by it (children of children included), remembered so that one
        whose parent has already exited is still found at stop time."""
        try:
            children = psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        for child in children:
            self._known.setdefault(child.pid, child)
        for pid in list(self._known):
            if not self._known[pid].is_running():
                del self._known[pid]
        return list(self._known.values())

    def _group(self) -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter(["pid"]):
            try:
                if os.getpgid(proc.pid) == self.pid:
                    found.append(proc)
            except (ProcessLookupError, psutil.Error, OSError):
                continue
        return found

    def everything(self) -> list[psutil.Process]:
        """The process, its descendants and the members of its process group still alive."""
        procs: dict[int, psutil.Process] = {}
        with contextlib.suppress(psutil.NoSuchProcess):
            procs[self.pid] = psutil.Process(self.pid)
        for proc in [*self.descendants(), *self._group()]:
            procs.setdefault(proc.pid, proc)
        alive = []
        for proc in procs.values():
            try:
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
            except psutil.Error:
                continue
        return alive

    def _signal_all(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)
        for proc in self.everything():
            try:
                proc.send_signal(signum)
            except psutil.Error:
                continue

    def stop(self, grace: float = 10.0) -> int:
        """SIGTERM to everything, SIGKILL to what is left after ``grace`` seconds; the exit status."""
        self.descendants()
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            self.process.poll()
            if not self.everything():
                break
            time.sleep(0.2)
        self.kill()
        return self.process.wait()

    def kill(self) -> None:
        """SIGKILL to everything still alive, then reap the process."""
        for _ in range(3):
            leftovers = self.everything()
            if not leftovers:
                break
            self._signal_all(signal.SIGKILL)
            psutil.wait_procs(leftovers, timeout=5)
        self.process.poll()

    def wait_http(self, url: str, timeout: float) -> None:
        """Wait until ``url`` answers (any HTTP status), or fail when the process ends or time is up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"airflow exited with {self.process.returncode} before {url} answered")
            self.descendants()
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")


def standalone_env(home: Path, dags: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of an isolated ``airflow standalone``: AIRFLOW_HOME ``home`` (SQLite metadata DB),
    127.0.0.1 and free ports only, example DAGs off, DAGs paused at creation."""
    port = free_port()
    env = dict(os.environ if base is None else base)
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        }
    )
    return env


def api_url(env: dict[str, str]) -> str:
    """The API server's health endpoint for an environment of :func:`standalone_env`."""
    return f"{env['AIRFLOW__API__BASE_URL']}/api/v2/monitor/health"


def airflow_cli(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    """Run ``airflow <args>`` to its end (failing loudly) and return its output."""
    done = subprocess.run(
        [str(BIN / "airflow"), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    """Run ``airflow <args>`` (default ``standalone``) until it exits, Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--grace", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL")
    parser.add_argument("args", nargs="*", default=["standalone"], help="the Airflow command")
    options = parser.parse_args(argv)
    airflow = AirflowProcess(options.args or ["standalone"])
    stopping: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stopping:  # a second Ctrl-C: no more waiting
            print("airflow_local: killing Airflow now", file=sys.stderr, flush=True)
            airflow.kill()
            os._exit(130)
        stopping.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        while airflow.process.poll() is None:
            airflow.descendants()
            time.sleep(1.0)
        code = airflow.process.returncode
        airflow.kill()  # anything it left behind
        return code
    except KeyboardInterrupt:
        print(
            f"airflow_local: stopping Airflow and everything it started (SIGTERM, SIGKILL after "
            f"{options.grace:.0f}s; Ctrl-C again to kill now)",
            file=sys.stderr,
            flush=True,
        )
        airflow.stop(options.grace)
        return 130 if stopping and stopping[0] == signal.SIGINT else 143


if __name__ == "__main__":
    sys.exit(main())
