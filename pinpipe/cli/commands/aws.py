"""`pinpipe kinesis` and `stream`: Kinesis streams and stream ingestion (a checkout adds `pinpipe aws`,
a local moto server: devservices/cli.py)."""

from __future__ import annotations

import click

from pinpipe.cli.common import Context, info


@click.group()
def kinesis() -> None:
    """Kinesis streams of the uid."""


@kinesis.command("streams")
@click.option("--shards", type=click.IntRange(min=1), help="Shards of streams created now (default 2).")
@click.pass_obj
def kinesis_streams(obj: Context, shards: int | None) -> None:
    """Create the three streams streaming-<uid>-pin|geo|user where missing; wait until active."""
    from ingestion.kinesis import ensure_streams, kinesis_client  # kinesis extra

    settings = obj.settings(kinesis_shards=shards)
    ensure_streams(kinesis_client(), settings)
    for entity in settings.topics:
        click.echo(settings.stream(entity))


@click.command()
@click.option("--idle-exit", type=float, help="Exit after this many seconds without a new record.")
@click.pass_obj
def stream(obj: Context, idle_exit: float | None) -> None:
    """Read every shard of the three streams into raw landing + bronze stream tables, until SIGTERM."""
    from ingestion.stream import StreamIngestion, StreamReport  # kinesis extra

    def progress(report: StreamReport) -> None:
        info(report.summary())

    report = StreamIngestion(obj.settings()).run(idle_exit=idle_exit, progress=progress)
    info(report.summary())
