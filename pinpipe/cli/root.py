"""The root `pinpipe` group (the options every command shares) and its commands."""

from __future__ import annotations

from importlib.metadata import entry_points

import click

from ingestion import locks
from pinpipe import __version__
from pinpipe.cli.commands import aws, bronze, emulate, gateway, kafka, run, source_db, warehouse
from pinpipe.cli.common import Context


class WithPluginCommands(click.Group):
    """The root group, which adds the commands of the ``pinpipe.commands`` entry points (a checkout's
    devservices: the local Kafka broker and moto) when a command is first looked up, so importing
    pinpipe never imports a plugin. A plugin group whose name pinpipe has is merged into it (``kafka
    start`` beside ``kafka topics``)."""

    _plugins_added = False

    def _add_plugins(self) -> None:
        if self._plugins_added:
            return
        self._plugins_added = True
        for entry in entry_points(group="pinpipe.commands"):
            try:
                plugin = entry.load()
            except Exception as exc:  # a broken plugin must not take every command down with it
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                click.echo(f"pinpipe: the commands of {entry.value} are unavailable: {reason}", err=True)
                continue
            existing = self.commands.get(entry.name)
            if isinstance(existing, click.Group) and isinstance(plugin, click.Group):
                for name, command in plugin.commands.items():
                    existing.add_command(command, name)
            else:
                self.add_command(plugin, entry.name)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._add_plugins()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugins()
        return super().list_commands(ctx)


@click.group(cls=WithPluginCommands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="pinpipe")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    help="Local state folder (default: data/ of the repository).",
)
@click.option("--lake", help="Lake root: a local path or s3://bucket/prefix (default <data-dir>/lake).")
@click.option("--uid", help="Names the topics <uid>.pin|geo|user and streams streaming-<uid>-*.")
@click.option("--debug", is_flag=True, help="On failure, print the traceback as well as the one-line reason.")
@click.option(
    "--wait",
    is_flag=True,
    help="When another writer holds a lock this command needs (emulate --sink lake, bronze load, "
    "stream, run, dbt), wait for it instead of exiting with code 75.",
)
@click.pass_context
def cli(
    ctx: click.Context, data_dir: str | None, lake: str | None, uid: str | None, debug: bool, wait: bool
) -> None:
    """Pinterest-style post events: emulator → lake/Kafka → Delta bronze → dbt silver and gold."""
    del debug  # read by main() before the command runs, so it covers failures anywhere
    locks.wait_by_default(wait)
    ctx.obj = Context({"data_dir": data_dir, "lake": lake, "uid": uid})


cli.add_command(source_db.db)
cli.add_command(emulate.emulate)
cli.add_command(bronze.bronze)
cli.add_command(warehouse.dbt)
cli.add_command(warehouse.report)
cli.add_command(warehouse.live)
cli.add_command(warehouse.sql)
cli.add_command(kafka.kafka)
cli.add_command(aws.kinesis)
cli.add_command(aws.stream)
cli.add_command(gateway.gateway)
cli.add_command(run.run)
