"""The lake root: one place that knows how to read, write and list objects, locally or on S3.

A lake root is a local path or ``s3://bucket/prefix``. Everything below it is addressed by a relative
key with forward slashes (``raw/topics/...``, ``bronze/pin``). Local writes are atomic and durable
(temporary file, fsync, rename, fsync of the folder); S3 puts are atomic by nature.

Write-once objects (the raw landing): :meth:`Lake.create_bytes` writes an object only where none
exists, atomically (locally a hard link of the finished temporary file, which fails if the name
exists; on S3 a conditional put, ``If-None-Match: *``), and :meth:`Lake.write_once` accepts an
existing object only if it holds the same bytes: a different one is an error naming the key, never a
silent replace.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec

from ingestion.errors import PinpipeError


@dataclass(frozen=True)
class LakeObject:
    """An object under the lake root: its key relative to the root and its size in bytes."""

    key: str
    size: int


def s3_storage_options() -> dict[str, str]:
    """Storage options for deltalake on S3, read from the environment (never from a file).

    Credentials follow the AWS default chain; ``AWS_ENDPOINT_URL`` (or ``PINPIPE_S3_ENDPOINT_URL``)
    points at any S3-compatible store.
    """
    options: dict[str, str] = {}
    endpoint = os.environ.get("PINPIPE_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        options["AWS_REGION"] = region
    return options


class ObjectConflict(PinpipeError):
    """A write-once object exists with other bytes."""


TEMP_PREFIX = ".tmp-"
"""Temporary files of local writes start with this; listings skip them."""
STALE_TEMP_SECONDS = 3600.0
"""A temporary file older than this was left by a killed writer (live ones last milliseconds)."""


def _umask() -> int:
    """The process's umask, from /proc (setting it to read it back would race the other threads)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return 0o022


class Lake:
    """Object access under one lake root (local folder or ``s3://``)."""

    def __init__(self, root: str) -> None:
        if not root:
            raise PinpipeError("the lake root is empty: set PINPIPE_LAKE or --lake")
        self.is_s3 = root.startswith("s3://")
        if not self.is_s3 and "://" in root and not root.startswith("file://"):
            raise PinpipeError(f"lake root {root!r}: only local paths and s3:// are supported")
        if self.is_s3:
            self.root = root.rstrip("/")
            endpoint = s3_storage_options().get("AWS_ENDPOINT_URL")
            kwargs: dict[str, Any] = {"client_kwargs": {"endpoint_url": endpoint}} if endpoint else {}
            self.fs = fsspec.filesystem("s3", **kwargs)
            self._base = self.root[len("s3://") :]
        else:
            local = Path(root.removeprefix("file://")).expanduser().resolve()
            if local.exists() and not local.is_dir():
                raise PinpipeError(
                    f"the lake root {local} is a file, not a folder: check PINPIPE_LAKE or --lake"
                )
            self.root = str(local)
            self.fs = fsspec.filesystem("file")
            self._base = self.root

    def uri(self, key: str = "") -> str:
        """Full URI (or absolute path) of a key, as deltalake and dbt expect it."""
        return f"{self.root}/{key}" if key else self.root

    def _path(self, key: str) -> str:
        return f"{self._base}/{key}" if key else self._base

    @property
    def storage_options(self) -> dict[str, str]:
        """deltalake storage options for this root."""
        return s3_storage_options() if self.is_s3 else {}

    def write_bytes(self, key: str, data: bytes) -> None:
        """Write an object atomically and durably; a rewrite of the same key replaces it whole.

        For state and markers; raw landing objects are written once with :meth:`write_once`.
        """
        if self.is_s3:
            self.fs.pipe_file(self._path(key), data)
            return
        target = Path(self._path(key))
        tmp = self._durable_temp(target, data)
        try:
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._fsync_dir(target.parent)

    def create_bytes(self, key: str, data: bytes) -> bool:
        """Write an object only if the key is free, atomically; False (nothing written) if it exists."""
        if self.is_s3:
            return self._create_s3(key, data)
        target = Path(self._path(key))
        tmp = self._durable_temp(target, data)
        try:
            os.link(tmp, target)  # fails if the name exists: never replaces an object
        except FileExistsError:
            return False
        except OSError as exc:  # a file system without hard links: exclusive create, then the bytes
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV):
                raise
            return self._create_exclusive(target, data)
        finally:
            Path(tmp).unlink(missing_ok=True)
        self._fsync_dir(target.parent)
        return True

    def write_once(self, key: str, data: bytes) -> bool:
        """Create a write-once object; False if it already holds exactly these bytes (a retry).

        Raises ObjectConflict naming the key if it holds other bytes.
        """
        if self.create_bytes(key, data):
            return True
        existing = self.read_bytes(key)
        if existing != data:
            raise ObjectConflict(
                f"{self.uri(key)} exists with other bytes ({len(existing):,} bytes, not {len(data):,}): "
                "landing objects are written once; another writer landed this key"
            )
        return False

    def _create_s3(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        for attempt in range(8):
            try:
                self.fs.pipe_file(path, data, mode="create")
                return True
            except FileExistsError:
                return False
            except OSError as exc:
                message = str(exc).lower()
                if "conflict" in message:  # 409: a concurrent conditional write; one of them wins
                    time.sleep(0.1 * 2**attempt)
                    continue
                if "not implemented" in message or "notimplemented" in message:
                    # a store without conditional puts: check, then put (the writer's lock keeps
                    # other writers of the same keys away)
                    if self.fs.exists(path):
                        return False
                    self.fs.pipe_file(path, data)
                    return True
                raise
        raise PinpipeError(f"{self.uri(key)}: conditional writes kept conflicting; try again")

    def _create_exclusive(self, target: Path, data: bytes) -> bool:
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        self._fsync_dir(target.parent)
        return True

    @staticmethod
    def _durable_temp(target: Path, data: bytes) -> str:
        """A temporary file beside ``target`` holding ``data``, fsynced."""
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=TEMP_PREFIX, suffix=target.suffix)
        try:
            # mkstemp makes the file 0600; an object gets the mode of any file the user writes (umask)
            os.fchmod(fd, 0o666 & ~_umask())
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return tmp

    @staticmethod
    def _fsync_dir(folder: Path) -> None:
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def read_bytes(self, key: str) -> bytes:
        """The bytes of one object."""
        if not self.is_s3:
            return Path(self._path(key)).read_bytes()
        data: bytes = self.fs.cat_file(self._path(key))
        return data

    def exists(self, key: str) -> bool:
        """Whether an object or folder exists."""
        return bool(self.fs.exists(self._path(key)))

    def list(self, prefix: str) -> Iterator[LakeObject]:
        """Every object below a folder key, recursively, skipping temporary files."""
        if not self.is_s3:
            base = Path(self._path(prefix))
            if not base.exists():
                return
            for dirpath, _dirs, files in os.walk(base):
                for name in files:
                    if name.startswith(TEMP_PREFIX):
                        continue
                    full = Path(dirpath) / name
                    yield LakeObject(full.relative_to(self._base).as_posix(), full.stat().st_size)
            return
        path = self._path(prefix)
        if not self.fs.exists(path):
            return
        for full, info in self.fs.find(path, detail=True).items():
            name = full.rsplit("/", 1)[-1]
            if name.startswith(TEMP_PREFIX):
                continue
            yield LakeObject(full[len(self._base) + 1 :], int(info.get("size", 0)))

    def remove_stale_temp_files(self, prefix: str, older_than: float = STALE_TEMP_SECONDS) -> int:
        """Remove the temporary files below a local folder key that a killed writer left behind (a
        live writer's temporary file exists for milliseconds); returns how many. Nothing on S3,
        where a put is atomic and leaves none."""
        if self.is_s3:
            return 0
        base = Path(self._path(prefix))
        removed = 0
        deadline = time.time() - older_than
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                path = Path(dirpath) / name
                with contextlib.suppress(FileNotFoundError):
                    if name.startswith(TEMP_PREFIX) and path.stat().st_mtime < deadline:
                        path.unlink()
                        removed += 1
        return removed

    def delete_prefix(self, prefix: str) -> None:
        """Remove everything below a folder key (used by `--fresh` style resets and tests)."""
        path = self._path(prefix)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)
