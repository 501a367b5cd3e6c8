"""The `pinpipe` process around the command line: arguments, logging, one-line failures and exit codes,
native stderr kept out of the terminal, and the end of the process."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import NoReturn

import click

from ingestion import locks
from ingestion.errors import PinpipeError
from pinpipe.cli.common import LOCK_HELD, info
from pinpipe.cli.root import cli


def main(argv: list[str] | None = None) -> NoReturn:
    """The `pinpipe` console script: run the CLI, then end the process with its exit code.

    It ends the process without the interpreter's finalization: native thread pools (Arrow's,
    deltalake's Tokio runtime) torn down during it aborted a finished command now and then (exit 134,
    "terminate called without an active exception", about 1 run in 100). Everything of ours is
    closed by then (context managers), and the streams and logs are flushed first.
    """
    try:
        run_cli(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def run_cli(argv: list[str] | None = None) -> None:
    """Run the CLI, turning every failure into one line and a non-zero exit code (SystemExit).

    Expected failures (PinpipeError) say what to do; anything else is named by its type and first
    line. ``--debug`` (or PINPIPE_DEBUG=1) adds the traceback.
    """
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("PINPIPE_DEBUG", "") not in ("", "0")
    args = [arg for arg in args if arg != "--debug"]  # valid anywhere on the line, not only first
    if "--wait" in args[1:] and args[0] != "--wait":  # `pinpipe run --wait` means `pinpipe --wait run`
        args = ["--wait", *(arg for arg in args if arg != "--wait")]
    if not debug:
        divert_native_stderr()
    level = os.environ.get("PINPIPE_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("botocore", "boto3", "urllib3", "s3fs", "aiobotocore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        code = cli.main(args=args, prog_name="pinpipe", standalone_mode=False)
    except click.exceptions.Abort:
        info("pinpipe: aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        info("pinpipe: interrupted")
        sys.exit(130)
    except locks.LockHeld as exc:
        if debug:
            traceback.print_exc()
        info(f"pinpipe: {exc}")
        sys.exit(LOCK_HELD)
    except PinpipeError as exc:
        fail(str(exc), debug)
    except OSError as exc:
        fail(describe_os_error(exc), debug)
    except BaseException as exc:  # a Rust panic from deltalake is a BaseException, not an Exception
        if isinstance(exc, SystemExit):
            raise
        if "No space left on device" in str(exc):  # deltalake's and DuckDB's own words for ENOSPC
            fail(describe_os_error(OSError(errno.ENOSPC, "No space left on device")), debug)
        fail(f"{type(exc).__name__}: {first_line(exc)}", debug, unexpected=True)
    sys.exit(code if isinstance(code, int) else 0)


def divert_native_stderr() -> Path | None:
    """Send what native libraries write straight to file descriptor 2 (a Rust panic in deltalake, a
    C++ abort message) to a log file, so a failure stays one line; Python's own stderr, and dbt's,
    keep the terminal. Returns the log file (None if it cannot be opened: then nothing changes)."""
    log = Path(tempfile.gettempdir()) / f"pinpipe-{os.getuid()}" / "native-stderr.log"
    try:
        log.parent.mkdir(mode=0o700, exist_ok=True)
        target = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError:
        return None
    terminal = os.dup(2)
    sys.stderr.flush()
    sys.stderr = open(terminal, "w", buffering=1, errors="backslashreplace")  # noqa: SIM115 (for the process)
    os.dup2(target, 2)
    os.close(target)
    os.environ["RUST_BACKTRACE"] = "0"  # the panic message alone is enough in that log
    return log


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return "(no message)"


def describe_os_error(exc: OSError) -> str:
    """An OSError as a person reads it: what failed, on which path, and what to do."""
    where = f" {exc.filename}" if exc.filename else ""  # one path, or none
    if exc.errno == errno.ENOSPC:
        return f"no space left on the device{where}: free some space, then run the command again"
    if exc.errno == errno.EROFS:
        return f"cannot write{where}: the file system is read-only; choose a writable --data-dir or --lake"
    if isinstance(exc, PermissionError):
        return f"permission denied on{where or ' a file'}: check the folder's owner and mode"
    if isinstance(exc, NotADirectoryError | FileExistsError):
        path = where.strip() or "a path"
        return f"{path} is a file where a folder is expected: check --data-dir and PINPIPE_LAKE"
    return f"{exc.strerror or first_line(exc)}{':' + where if where else ''}"


def fail(message: str, debug: bool, *, unexpected: bool = False) -> NoReturn:
    """Print the one-line reason (and the traceback with --debug) and exit 1."""
    if debug:
        traceback.print_exc()
    hint = " (run with --debug for the traceback)" if unexpected and not debug else ""
    info(f"pinpipe: error: {message}{hint}")
    sys.exit(1)
