"""`pinpipe db`: the source database the emulator posts from."""

from __future__ import annotations

import click

from pinpipe import pipeline
from pinpipe.cli.common import TERMINAL, Context


@click.group()
def db() -> None:
    """The emulator's source database (the original's RDS tables)."""


@db.command("build")
@click.option(
    "--rows", type=click.IntRange(min=1), default=11_153, show_default=True, help="Rows of each table."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Generation seed.")
@click.option("--url", "source_db_url", help="SQLAlchemy URL (default an SQLite file in the data dir).")
@click.option(
    "--force", is_flag=True, help="Rebuild even when the DB already has these or other rows and seed."
)
@click.pass_obj
def db_build(obj: Context, rows: int, seed: int, source_db_url: str | None, force: bool) -> None:
    """Generate the three source tables deterministically from a seed."""
    settings = obj.settings(source_db_url=source_db_url)
    pipeline.build_source_db(settings, rows, seed, force=force, reporter=TERMINAL)
