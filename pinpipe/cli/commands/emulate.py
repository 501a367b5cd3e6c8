"""`pinpipe emulate`: post events from the source database to a sink."""

from __future__ import annotations

import click

from emulator.posting import PostingPlan
from emulator.sinks import SINKS
from pinpipe import pipeline
from pinpipe.cli.common import TERMINAL, Context


@click.command()
@click.option("--events", type=click.IntRange(min=0), help="Stop after this many events (default 1000).")
@click.option("--duration", type=float, help="Stop after this many seconds.")
@click.option("--rate", type=float, help="Events per second (default: as fast as possible).")
@click.option(
    "--order",
    type=click.Choice(["random", "sequential"]),
    default="random",
    show_default=True,
    help="random: the original's seeded picks (with repeats); sequential: each index once.",
)
@click.option("--seed", type=int, default=100, show_default=True, help="Picking seed (original: 100).")
@click.option("--max-index", type=int, help="Largest index picked (default: the last row; original 11000).")
@click.option(
    "--min-index",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Smallest index picked: a later day posts only rows above the earlier days'.",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Threads that post."
)
@click.option(
    "--sink",
    type=click.Choice(SINKS),
    default="lake",
    show_default=True,
    help="Where events go: lake, kafka, kinesis or http (the gateway).",
)
@click.option("--partitions", type=click.IntRange(min=1), help="Partitions per topic (lake sink).")
@click.option("--http-api", type=click.Choice(["kafka", "kinesis"]), help="http sink: which endpoints.")
@click.option("--http-batch", type=click.IntRange(1, 500), help="http sink: records per request (default 1).")
@click.pass_obj
def emulate(
    obj: Context,
    events: int | None,
    duration: float | None,
    rate: float | None,
    order: str,
    seed: int,
    max_index: int | None,
    min_index: int,
    workers: int,
    sink: str,
    partitions: int | None,
    http_api: str | None,
    http_batch: int | None,
) -> None:
    """Post events read from the source DB to a sink, bounded by --events and/or --duration."""
    settings = obj.settings(partitions=partitions, http_api=http_api, http_batch=http_batch)
    if events is None and duration is None:
        events = 1000
    plan = PostingPlan(
        events=events,
        duration=duration,
        order=order,
        seed=seed,
        max_index=max_index,
        min_index=min_index,
        rate=rate,
        workers=workers,
    )
    pipeline.emulate(settings, plan, sink, reporter=TERMINAL)
