"""The emulator's core: pick indexes, read their records, hand them to a sink, bounded and stoppable.

Replaces the original ``user_posting_emulation.py`` (an endless loop posting one event a second).
Picking is random with replacement like the original (``random.seed(seed)``, then per event the
original's ``randrange(0, 2)`` sleep draw and ``randint(0, max_index)``: with seed 100 and max index
11000 the sequence is the original's, 7528, 2863, 5730, ...) or sequential. A run stops after
``events`` events, after ``duration`` seconds, or on SIGINT/SIGTERM, whichever comes first; it
always flushes the sink and returns a summary.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import FrameType

from emulator.sinks import Sink, SinkStats
from emulator.source import EventSource
from ingestion.errors import PinpipeError

ORIGINAL_MAX_INDEX = 11_000
"""The original emulator picked indexes 0..11000 of its ~11,153 rows."""


@dataclass(frozen=True)
class PostingPlan:
    """What to post: how indexes are picked and when the run ends."""

    events: int | None = 1000
    duration: float | None = None
    order: str = "random"
    seed: int = 100
    max_index: int | None = None
    min_index: int = 0
    """Smallest index picked: a later day posts new rows only (sequential from it, or random above it)."""
    rate: float | None = None
    workers: int = 1
    batch: int = 500
    skip_indexes: frozenset[int] = frozenset()
    """Indexes not to post (already delivered): the sequence is drawn as always, so the other events
    are the same as in a full run."""

    def check(self) -> None:
        """Raise PinpipeError for a plan that cannot run or would never stop."""
        if self.events is None and self.duration is None:
            raise PinpipeError("give --events or --duration: an emulator run must have a bound")
        if self.events is not None and self.events < 0:
            raise PinpipeError("--events must be >= 0")
        if self.duration is not None and self.duration <= 0:
            raise PinpipeError("--duration must be > 0 seconds")
        if self.order not in ("random", "sequential"):
            raise PinpipeError("--order must be random or sequential")
        if self.rate is not None and self.rate <= 0:
            raise PinpipeError("--rate must be > 0 events/s")
        if self.workers < 1:
            raise PinpipeError("--workers must be >= 1")


@dataclass
class PostingSummary:
    """How a run went."""

    events: int
    records_delivered: int
    records_failed: int
    seconds: float
    stopped_by: str
    """'events', 'duration' or the signal name."""

    @property
    def rate(self) -> float:
        """Events per second over the run."""
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """One line for the CLI."""
        return (
            f"emulator: sent {self.events:,} events ({self.records_delivered:,} records delivered, "
            f"{self.records_failed:,} failed) in {self.seconds:.1f}s, {self.rate:,.0f} events/s; "
            f"stopped by {self.stopped_by}"
        )


def pick_indexes(order: str, seed: int, max_index: int, min_index: int = 0) -> Iterator[int]:
    """The endless sequence of picked indexes in min_index..max_index (bounded by the caller)."""
    if order == "sequential":
        k = min_index
        while True:
            yield k
            k = k + 1 if k < max_index else min_index
    rng = random.Random(seed)
    randint, randrange = rng.randint, rng.randrange
    while True:
        randrange(0, 2)  # the original drew its 0-or-1 s sleep first; drawn (not slept) to keep the sequence
        yield randint(min_index, max_index)


class _Picker:
    """Hands out numbered batches of indexes to the workers, respecting the bounds and the rate."""

    def __init__(self, plan: PostingPlan, max_index: int, stop: threading.Event) -> None:
        self.plan = plan
        self.indexes = pick_indexes(plan.order, plan.seed, max_index, plan.min_index)
        self.stop = stop
        self.lock = threading.Lock()
        self.next_seq = 0
        self.started = time.monotonic()
        self.stopped_by = ""
        self.batch = max(1, min(plan.batch, int(plan.rate // 10) or 1)) if plan.rate else plan.batch

    def take(self) -> tuple[int, list[int]] | None:
        with self.lock:
            if self.stop.is_set():
                return None
            elapsed = time.monotonic() - self.started
            if self.plan.duration is not None and elapsed >= self.plan.duration:
                self.stopped_by = self.stopped_by or "duration"
                return None
            size = self.batch
            if self.plan.events is not None:
                size = min(size, self.plan.events - self.next_seq)
                if size <= 0:
                    self.stopped_by = self.stopped_by or "events"
                    return None
            seq = self.next_seq
            self.next_seq += size
            indexes = [next(self.indexes) for _ in range(size)]
            if self.plan.skip_indexes:
                indexes = [index for index in indexes if index not in self.plan.skip_indexes]
        if self.plan.rate:
            due = self.started + seq / self.plan.rate
            delay = due - time.monotonic()
            if delay > 0 and self.stop.wait(delay):
                return None
        return seq, indexes


def post_events(
    source: EventSource,
    sink: Sink,
    plan: PostingPlan,
    *,
    stop: threading.Event | None = None,
    progress: Callable[[int, SinkStats], None] | None = None,
    handle_signals: bool = True,
) -> PostingSummary:
    """Run the emulator: post events from ``source`` to ``sink`` under ``plan``; always closes the sink."""
    plan.check()
    stop = stop or threading.Event()
    max_index = source.rows - 1 if plan.max_index is None else plan.max_index
    if not 0 <= max_index < source.rows:
        raise PinpipeError(f"--max-index {max_index} is outside the source DB's 0..{source.rows - 1}")
    if not 0 <= plan.min_index <= max_index:
        raise PinpipeError(f"--min-index {plan.min_index} is outside 0..{max_index} (--max-index)")
    picker = _Picker(plan, max_index, stop)
    posted = [0]
    posted_lock = threading.Lock()
    signal_name: list[str] = []

    def worker() -> None:
        while (work := picker.take()) is not None:
            seq, indexes = work
            sink.send(source.events(seq, indexes))
            with posted_lock:
                posted[0] += len(indexes)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        signal_name.append(signal.Signals(signum).name)
        stop.set()

    previous = _install_handlers(on_signal) if handle_signals else {}
    started = time.monotonic()
    error: BaseException | None = None
    try:
        with ThreadPoolExecutor(max_workers=plan.workers, thread_name_prefix="emulator") as pool:
            futures = [pool.submit(worker) for _ in range(plan.workers)]
            while not all(f.done() for f in futures):
                time.sleep(0.05 if progress is None else 0.5)
                if any(f.done() and f.exception() is not None for f in futures):
                    stop.set()
                if progress:
                    progress(posted[0], sink.stats())
            for future in futures:
                exc = future.exception()
                if exc is not None:
                    stop.set()
                    error = error or exc
    finally:
        stats = sink.close()
        _restore_handlers(previous)
    if error is not None:
        raise error
    stopped_by = signal_name[0] if signal_name else (picker.stopped_by or "stop request")
    return PostingSummary(posted[0], stats.delivered, stats.failed, time.monotonic() - started, stopped_by)


def _install_handlers(handler: Callable[[int, FrameType | None], None]) -> dict[int, object]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous: dict[int, object] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, handler)
    return previous


def _restore_handlers(previous: dict[int, object]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)  # type: ignore[arg-type]
