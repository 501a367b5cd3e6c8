"""What every command shares: the context the root options resolve to, progress on stderr, exit codes,
and stopping on signals."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import click

from ingestion import locks
from ingestion.errors import PinpipeError
from ingestion.settings import Settings
from pinpipe import pipeline

NOT_RUNNING = 3
"""Exit code of a status command whose service is not running (the LSB init-script convention)."""
LOCK_HELD = locks.EX_TEMPFAIL
"""Exit code when another writer holds a lock the command needs (75, EX_TEMPFAIL): try again later,
or run with --wait."""


@dataclass
class Context:
    """What the group options resolved to; commands build their settings from it."""

    overrides: dict[str, Any]

    def settings(self, **more: Any) -> Settings:
        values = {k: v for k, v in {**self.overrides, **more}.items() if v is not None}
        try:
            return Settings(**values)
        except ValueError as exc:
            raise PinpipeError(f"invalid settings: {exc}".replace("\n", " ")) from None


def info(message: str) -> None:
    """A progress or status line on stderr (stdout stays for results)."""
    click.echo(message, err=True)


class TerminalReporter(pipeline.Reporter):
    """The steps' progress as lines and progress bars on stderr."""

    def info(self, message: str) -> None:
        info(message)

    def warning(self, message: str) -> None:
        info(message)

    @contextmanager
    def progress(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        if not sys.stderr.isatty():  # a bar in a log file is only its label: the summary line says it
            yield lambda _step: None
            return
        with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
            yield bar.update


TERMINAL = TerminalReporter()


DATA_CONFLICT = 65
"""Exit code (EX_DATAERR) of a load that found records in conflict with bronze: everything else loaded
and the conflicting records are in the quarantine, but someone must look (docs/operations.md)."""


def exit_on_conflicts(conflicts: int) -> None:
    """End with DATA_CONFLICT when a load quarantined records as offset_conflict."""
    if conflicts:
        info(
            f"pinpipe: {conflicts:,} records conflict with records bronze already held (quarantined as "
            "offset_conflict): see docs/operations.md, 'Offset conflicts'"
        )
        sys.exit(DATA_CONFLICT)


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM/SIGINT, so a consumer finishes its open batch and exits 0."""
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
