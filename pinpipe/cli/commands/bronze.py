"""`pinpipe bronze`: load the raw landing into bronze, compact it."""

from __future__ import annotations

import click

from pinpipe import pipeline
from pinpipe.cli.common import TERMINAL, Context, exit_on_conflicts


@click.group()
def bronze() -> None:
    """The bronze Delta tables."""


@bronze.command("load")
@click.option("--compact", "then_compact", is_flag=True, help="Compact small files afterwards.")
@click.pass_obj
def bronze_load(obj: Context, then_compact: bool) -> None:
    """Load new raw landing objects into bronze; prints what was loaded, quarantined and skipped."""
    settings = obj.settings()
    report = pipeline.load_bronze(settings, reporter=TERMINAL)
    if then_compact:
        pipeline.compact_bronze(settings, reporter=TERMINAL)
    exit_on_conflicts(report.conflicts)


@bronze.command("compact")
@click.pass_obj
def bronze_compact(obj: Context) -> None:
    """Merge small files of every bronze table (Delta OPTIMIZE compaction)."""
    pipeline.compact_bronze(obj.settings(), reporter=TERMINAL)
