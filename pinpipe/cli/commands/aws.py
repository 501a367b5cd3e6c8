"""`pinpipe aws`, `kinesis` and `stream`: local AWS (moto), Kinesis streams, stream ingestion."""

from __future__ import annotations

import sys

import click

from ingestion.errors import PinpipeError
from ingestion.local_services.aws import LocalAWS, exports
from ingestion.local_services.processes import LocalServiceError
from pinpipe.cli.common import NOT_RUNNING, Context, info


@click.group()
def aws() -> None:
    """A local AWS (moto: S3 and Kinesis on 127.0.0.1) for development."""


@aws.command("start")
@click.option("--port", type=int, default=None, help="Port on 127.0.0.1 (default: the last one, else free).")
@click.pass_obj
def aws_start(obj: Context, port: int | None) -> None:
    """Start moto's server and print the environment variables that point the pipeline at it."""
    local = LocalAWS(obj.settings().data_dir / "aws", port)
    try:
        local.start()
    except LocalServiceError as exc:
        raise PinpipeError(str(exc)) from None
    info(f"moto running (pid {local.pid}) at {local.endpoint_url}; its state is in memory. In your shell:")
    click.echo(exports(local))


@aws.command("stop")
@click.pass_obj
def aws_stop(obj: Context) -> None:
    """Stop the local moto server."""
    local = LocalAWS(obj.settings().data_dir / "aws")
    running = local.pid is not None
    local.stop()
    click.echo("moto stopped" if running else "moto was not running")


@aws.command("status")
@click.pass_obj
def aws_status(obj: Context) -> None:
    """Whether the local moto server runs, and where; exit code 3 when it does not."""
    local = LocalAWS(obj.settings().data_dir / "aws")
    if local.pid is None:
        click.echo("moto not running")
        sys.exit(NOT_RUNNING)
    click.echo(f"moto running (pid {local.pid}) at {local.endpoint_url}")


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
