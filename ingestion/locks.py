"""One writer per role: a named lock per lake (local folder or S3), and a lock file beside a local file.

Every writer that must be alone takes a lock before it reads where to continue (docs/architecture.md,
"One writer per role"):

* the main job (``pinpipe run``): ``main-job``;
* the emulator's lake sink: ``lake-sink.<topic>``, one per topic it writes;
* the bronze loader: ``bronze``;
* the stream ingestion: ``stream.<stream>``, one per Kinesis stream it reads;

each at ``<lake>/_state/locks/<name>.lock``; and dbt: ``<warehouse>.lock`` beside the DuckDB file
(also held by the dbt child, which inherits the locked descriptor: :meth:`FileLock.fileno`).

A second writer gets :class:`LockHeld` (the CLI prints its one line and exits 75, EX_TEMPFAIL): who
holds the lock (host, pid, command) and since when. With ``wait=True`` (``pinpipe --wait``) it waits
until the lock is free instead.

* **Local** (a lake folder, the warehouse): ``fcntl.flock`` on the lock file. The operating system
  releases it when the holder exits, however it exits (SIGKILL included): no lock is ever stale. The
  holder writes who it is into the file, for the message; the file itself is never deleted.
* **S3**: a lease object created with a conditional put (``If-None-Match: *``, so exactly one creator
  wins) holding the holder and an expiry time. A background thread renews the lease every third of
  its length with ``If-Match`` on the lease's ETag; a lease whose expiry has passed (its holder died
  or lost the network) is taken over with ``If-Match`` on the ETag that was read, so two takers
  cannot both win. Release deletes the lease if it is still ours. The lease length is
  ``PINPIPE_LOCK_LEASE_SECONDS`` (default 60 s): a killed holder blocks the role for at most that
  long. Expiry is judged by the taker's clock: keep the hosts' clocks in sync (NTP) to well within a
  lease.

``filelock`` (installed with dbt) does the local half only; the S3 lease is why this is custom.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

from fsspec.asyn import sync

from ingestion.errors import PinpipeError
from ingestion.lake import Lake

log = logging.getLogger(__name__)

EX_TEMPFAIL = 75
"""Exit code of a command refused because another writer holds its lock (sysexits.h EX_TEMPFAIL)."""
LOCKS_PREFIX = "_state/locks"
DEFAULT_LEASE_SECONDS = 60.0
POLL_SECONDS = 0.5

_wait_by_default = False


class LockHeld(PinpipeError):
    """Another writer holds the lock (the CLI exits 75)."""


class LockLost(PinpipeError):
    """An S3 lease could not be renewed in time and another writer may have taken it over."""


def wait_by_default(wait: bool) -> None:
    """Whether a lock taken with ``wait=None`` waits for its holder (``pinpipe --wait``)."""
    global _wait_by_default
    _wait_by_default = wait


def waits_by_default() -> bool:
    """Whether a lock taken with ``wait=None`` waits (``pinpipe --wait``); other waits follow it too."""
    return _wait_by_default


def lease_seconds_default() -> float:
    """The S3 lease length: ``PINPIPE_LOCK_LEASE_SECONDS`` or 60 s."""
    text = os.environ.get("PINPIPE_LOCK_LEASE_SECONDS", "")
    try:
        value = float(text) if text else DEFAULT_LEASE_SECONDS
    except ValueError:
        raise PinpipeError(f"PINPIPE_LOCK_LEASE_SECONDS={text!r} is not a number of seconds") from None
    if value <= 0:
        raise PinpipeError("PINPIPE_LOCK_LEASE_SECONDS must be positive")
    return value


def _command() -> str:
    argv = list(sys.argv) or ["python"]
    program = Path(argv[0]).name
    if program == "__main__.py":  # python -m pinpipe
        program = Path(argv[0]).parent.name
    text = " ".join([program, *argv[1:]])
    return text if len(text) <= 120 else text[:117] + "..."


def _now_text(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def holder_info(lease_seconds: float | None = None, token: str | None = None) -> dict[str, Any]:
    """Who this process is, as written into a lock."""
    now = time.time()
    info: dict[str, Any] = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "command": _command(),
        "since": _now_text(now),
    }
    if lease_seconds is not None:
        info["expires"] = now + lease_seconds
        info["token"] = token
    return info


def describe_holder(info: dict[str, Any] | None) -> str:
    """``pid 123 on host h (pinpipe bronze load) since 2026-01-01T00:00:00Z``."""
    if not info:
        return "another process (starting up)"
    return (
        f"pid {info.get('pid', '?')} on host {info.get('host', '?')} "
        f"({info.get('command', '?')}) since {info.get('since', '?')}"
    )


class _Waiter:
    """Raise LockHeld, or say once that we wait and sleep a little."""

    def __init__(self, what: str, wait: bool, notify: Callable[[str], None] | None) -> None:
        self.what = what
        self.wait = wait
        self.notify = notify or log.warning
        self.told = False

    def blocked(self, holder: dict[str, Any] | None) -> None:
        message = f"{self.what} is held by {describe_holder(holder)}"
        if not self.wait:
            raise LockHeld(f"{message}; try again later or run with --wait")
        if not self.told:
            self.notify(f"waiting: {message}")
            self.told = True
        time.sleep(POLL_SECONDS)


class FileLock:
    """An exclusive ``flock`` on a local file, with the holder written into it."""

    def __init__(
        self,
        path: str | Path,
        what: str,
        *,
        wait: bool | None = None,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.what = what
        self.wait = _wait_by_default if wait is None else wait
        self.notify = notify
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise LockHeld (or wait, with ``wait``)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        waiter = _Waiter(self.what, self.wait, self.notify)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                        raise
                waiter.blocked(self._read_holder())
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(holder_info()).encode() + b"\n", 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def fileno(self) -> int:
        """The locked descriptor: a child given it (``pass_fds``) holds the lock until it exits too,
        since a flock belongs to the open file description, not to the process that took it."""
        if self._fd is None:
            raise RuntimeError(f"{self.what}: the lock is not held")
        return self._fd

    def _read_holder(self) -> dict[str, Any] | None:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace").strip()
            info: dict[str, Any] = json.loads(text) if text else {}
        except (OSError, ValueError):
            return None
        return info or None

    def release(self) -> None:
        """Let the lock go (the file stays: deleting a flock file races with the next taker)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the last descriptor releases the flock

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class S3Lease:
    """A lease object on S3: conditional create, renewal by a background thread, takeover on expiry."""

    def __init__(
        self,
        lake: Lake,
        key: str,
        what: str,
        *,
        wait: bool | None = None,
        lease_seconds: float | None = None,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.lake = lake
        self.fs: Any = lake.fs
        self.bucket, _, self.key = lake._path(key).partition("/")
        self.what = what
        self.wait = _wait_by_default if wait is None else wait
        self.lease_seconds = lease_seconds or lease_seconds_default()
        self.notify = notify
        self.token = uuid.uuid4().hex
        self._etag: str | None = None
        self._since = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()
        self.lost: str | None = None

    # --- S3 calls (through s3fs, so the lake's endpoint and credentials apply) ---

    def _put(self, body: bytes, **condition: str) -> str:
        out = self.fs.call_s3("put_object", Bucket=self.bucket, Key=self.key, Body=body, **condition)
        etag: str = out["ETag"]
        return etag

    def _get(self) -> tuple[dict[str, Any] | None, str] | None:
        """The lease's holder and ETag (read together), or None when there is no lease."""

        async def get() -> tuple[bytes, str]:
            out = await self.fs._call_s3("get_object", Bucket=self.bucket, Key=self.key)
            async with out["Body"] as body:
                data: bytes = await body.read()
            return data, out["ETag"]

        try:
            data, etag = sync(self.fs.loop, get)
        except FileNotFoundError:
            return None
        try:
            info: dict[str, Any] | None = json.loads(data)
        except ValueError:
            info = None
        return info, etag

    def _body(self) -> bytes:
        info = holder_info(self.lease_seconds, self.token)
        if self._since:
            info["since"] = self._since
        else:
            self._since = info["since"]
        return json.dumps(info).encode()

    # --- the protocol ---

    def acquire(self) -> None:
        """Create the lease, or take over an expired one; else LockHeld (or wait, with ``wait``)."""
        waiter = _Waiter(self.what, self.wait, self.notify)
        while True:
            try:
                self._etag = self._put(self._body(), IfNoneMatch="*")
                break
            except FileExistsError:
                pass
            except OSError as exc:
                if not _conflict(exc):
                    raise
            current = self._get()
            if current is None:  # released meanwhile: create it again
                continue
            holder, etag = current
            if holder is not None and float(holder.get("expires", 0)) > time.time():
                waiter.blocked(holder)
                continue
            try:
                self._etag = self._put(self._body(), IfMatch=etag)
            except (FileExistsError, FileNotFoundError):
                continue
            except OSError as exc:
                if not (_precondition(exc) or _conflict(exc)):
                    raise
                continue
            log.warning("%s: took over the expired lease of %s", self.what, describe_holder(holder))
            break
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew_loop, name=f"lease {self.key}", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        interval = self.lease_seconds / 3
        deadline = time.monotonic() + self.lease_seconds
        while not self._stop.wait(interval):
            with self._guard:
                if self._etag is None:
                    return
                try:
                    self._etag = self._put(self._body(), IfMatch=self._etag)
                    deadline = time.monotonic() + self.lease_seconds
                except OSError as exc:
                    if _precondition(exc) or isinstance(exc, FileNotFoundError):
                        self.lost = f"{self.what}: the lease was taken over by another writer"
                        log.error(self.lost)
                        return
                    log.warning("%s: renewing the lease failed (will retry): %s", self.what, exc)
                    if time.monotonic() > deadline:
                        self.lost = f"{self.what}: the lease expired before it could be renewed"
                        log.error(self.lost)
                        return

    def check(self) -> None:
        """Raise LockLost if the lease was lost (a writer calls this before it commits)."""
        if self.lost:
            raise LockLost(self.lost)

    def release(self) -> None:
        """Stop renewing and delete the lease if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._guard:
            etag, self._etag = self._etag, None
        if etag is None or self.lost:
            return
        try:
            self.fs.call_s3("delete_object", Bucket=self.bucket, Key=self.key, IfMatch=etag)
        except FileNotFoundError:
            pass
        except OSError as exc:
            if _precondition(exc):
                return  # not ours any more
            # a store without conditional deletes: compare the token, then delete
            current = self._get()
            if current is not None and current[0] is not None and current[0].get("token") == self.token:
                self.fs.call_s3("delete_object", Bucket=self.bucket, Key=self.key)

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _precondition(exc: OSError) -> bool:
    """A 412 Precondition Failed as s3fs reports it (EINVAL with the S3 message)."""
    return exc.errno == errno.EINVAL and "condition" in str(exc).lower()


def _conflict(exc: OSError) -> bool:
    """A 409 ConditionalRequestConflict: a concurrent conditional write on the same key; try again."""
    return "conflict" in str(exc).lower()


class WriterLock:
    """``with WriterLock(lake, "bronze"): ...``: the lake's lock of one role (local or S3).

    Re-entrant within a process (a step that holds ``bronze`` may call the loader, which takes it
    too): the lock is taken by the first holder and let go by the last.
    """

    _held: ClassVar[dict[tuple[str, str], list[Any]]] = {}
    _held_guard = threading.Lock()

    def __init__(
        self,
        lake: Lake,
        name: str,
        *,
        wait: bool | None = None,
        lease_seconds: float | None = None,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self._id = (lake.root, name)
        what = f"the {name} lock of the lake {lake.root}"
        key = f"{LOCKS_PREFIX}/{name}.lock"
        self._impl: FileLock | S3Lease
        if lake.is_s3:
            self._impl = S3Lease(lake, key, what, wait=wait, lease_seconds=lease_seconds, notify=notify)
        else:
            self._impl = FileLock(lake._path(key), what, wait=wait, notify=notify)

    def acquire(self) -> None:
        """Take the lock (LockHeld if another writer holds it and we do not wait)."""
        with self._held_guard:
            held = self._held.get(self._id)
            if held is not None:
                held[1] += 1
                self._impl = held[0]
                return
        self._impl.acquire()
        with self._held_guard:
            self._held[self._id] = [self._impl, 1]

    def release(self) -> None:
        """Let the lock go (the last holder in this process releases it)."""
        with self._held_guard:
            held = self._held.get(self._id)
            if held is None:
                return
            held[1] -= 1
            if held[1] > 0:
                return
            del self._held[self._id]
        self._impl.release()

    def check(self) -> None:
        """Raise LockLost if an S3 lease was lost meanwhile (a local lock cannot be lost)."""
        if isinstance(self._impl, S3Lease):
            self._impl.check()

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
        if exc_type is None:
            self.check()


@contextlib.contextmanager
def writer_locks(lake: Lake, names: list[str], *, wait: bool | None = None) -> Iterator[list[WriterLock]]:
    """Several locks of one lake, taken in name order (so two takers never deadlock)."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(WriterLock(lake, name, wait=wait)) for name in sorted(set(names))]
