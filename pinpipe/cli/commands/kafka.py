"""`pinpipe kafka`: the topics and the Kafka landing (a checkout adds the local broker: devservices/)."""

from __future__ import annotations

import click

from pinpipe import pipeline
from pinpipe.cli.common import TERMINAL, Context, stop_on_signals


@click.group()
def kafka() -> None:
    """Kafka: topics and the landing consumer."""


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
