"""`pinpipe kafka`: the local broker, the topics, and the Kafka landing."""

from __future__ import annotations

import sys

import click

from ingestion.errors import PinpipeError
from ingestion.local_services.kafka import broker_status, start_background, stop_background
from ingestion.local_services.processes import LocalServiceError
from pinpipe import pipeline
from pinpipe.cli.common import NOT_RUNNING, TERMINAL, Context, info, stop_on_signals


@click.group()
def kafka() -> None:
    """Kafka: a local broker for development, topics, and the landing consumer."""


@kafka.command("start")
@click.option("--port", type=int, default=9092, show_default=True, help="Client port on 127.0.0.1.")
@click.pass_obj
def kafka_start(obj: Context, port: int) -> None:
    """Start a local single-node Kafka (jars from Maven Central, data in <data-dir>/kafka)."""
    settings = obj.settings()
    try:
        broker = start_background(settings.data_dir / "kafka", port=port)
    except LocalServiceError as exc:
        raise PinpipeError(str(exc)) from None
    click.echo(f"kafka running (pid {broker.pid}) at {broker.bootstrap_servers}")
    if broker.bootstrap_servers != settings.kafka_bootstrap:
        info(f"set PINPIPE_KAFKA_BOOTSTRAP={broker.bootstrap_servers} for the other commands")


@kafka.command("stop")
@click.pass_obj
def kafka_stop(obj: Context) -> None:
    """Stop the local Kafka of <data-dir>/kafka."""
    stopped = stop_background(obj.settings().data_dir / "kafka")
    click.echo("kafka stopped" if stopped else "kafka was not running")


@kafka.command("status")
@click.pass_obj
def kafka_status(obj: Context) -> None:
    """Whether the local Kafka runs, and where; exit code 3 when it does not."""
    status = broker_status(obj.settings().data_dir / "kafka")
    click.echo(f"kafka {status.describe()}")
    if not status.running:
        sys.exit(NOT_RUNNING)


@kafka.command("topics")
@click.option("--partitions", type=click.IntRange(min=1), help="Partitions of topics created now.")
@click.pass_obj
def kafka_topics(obj: Context, partitions: int | None) -> None:
    """Create the three topics of the uid where missing."""
    from ingestion.kafka.topics import ensure_topics  # kafka extra

    for topic in ensure_topics(obj.settings(partitions=partitions)):
        click.echo(topic)


@kafka.command("land")
@click.option(
    "--drain/--follow",
    default=True,
    show_default=True,
    help="Drain: land up to the end offsets seen at start, then exit. Follow: until SIGTERM.",
)
@click.pass_obj
def kafka_land(obj: Context, drain: bool) -> None:
    """Consume the three topics into the raw landing (offsets committed after each durable write)."""
    with stop_on_signals() as stop:
        pipeline.land_from_kafka(obj.settings(), drain=drain, stop=stop, reporter=TERMINAL)
