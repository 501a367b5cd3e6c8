"""`pinpipe kafka start|stop|status` and `pinpipe aws start|stop|status`: the development services.

pinpipe itself never imports this package (it is not in the wheel). It reaches the CLI through the
``pinpipe.commands`` entry points of devservices/pyproject.toml, which the root command adds to its
groups of the same name (pinpipe/cli/root.py). A checkout's environment installs it (``make``); an
installed pinpipe talks to real Kafka and AWS and has no such commands.
"""

from __future__ import annotations

import sys

import click

from devservices.aws import LocalAWS, exports
from devservices.kafka import broker_status, start_background, stop_background
from pinpipe.cli.common import NOT_RUNNING, Context, info


@click.group()
def kafka() -> None:
    """Kafka: a local broker for development."""


@kafka.command("start")
@click.option("--port", type=int, default=9092, show_default=True, help="Client port on 127.0.0.1.")
@click.pass_obj
def kafka_start(obj: Context, port: int) -> None:
    """Start a local single-node Kafka (jars from Maven Central, data in <data-dir>/kafka)."""
    settings = obj.settings()
    broker = start_background(settings.data_dir / "kafka", port=port)
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


@click.group()
def aws() -> None:
    """A local AWS (moto: S3 and Kinesis on 127.0.0.1) for development."""


@aws.command("start")
@click.option("--port", type=int, default=None, help="Port on 127.0.0.1 (default: the last one, else free).")
@click.pass_obj
def aws_start(obj: Context, port: int | None) -> None:
    """Start moto's server and print the environment variables that point the pipeline at it."""
    local = LocalAWS(obj.settings().data_dir / "aws", port)
    local.start()
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
