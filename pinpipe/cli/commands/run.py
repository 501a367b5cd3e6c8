"""`pinpipe run`: the main job."""

from __future__ import annotations

import click

from pinpipe import pipeline
from pinpipe.cli.common import TERMINAL, Context, exit_on_conflicts


@click.command()
@click.option("--rows", type=click.IntRange(min=1), default=11_153, show_default=True, help="Source DB rows.")
@click.option("--db-seed", type=int, default=0, show_default=True, help="Source DB generation seed.")
@click.option(
    "--events", type=click.IntRange(min=1), default=5_000, show_default=True, help="Events to post."
)
@click.option("--seed", type=int, default=100, show_default=True, help="Picking seed (original: 100).")
@click.option("--repost", is_flag=True, help="Post the events again even if this run posted them before.")
@click.option(
    "--via",
    type=click.Choice(["lake", "kafka"]),
    default="lake",
    show_default=True,
    help="lake: the lake sink writes the landing; kafka: post to Kafka, then drain it to the landing.",
)
@click.option("--quiet-dbt", is_flag=True, help="Show only dbt's errors, not its progress.")
@click.option(
    "--force",
    is_flag=True,
    help="Regenerate a source DB of other --rows/--db-seed (its lake then mixes two generations).",
)
@click.pass_obj
def run(
    obj: Context,
    rows: int,
    db_seed: int,
    events: int,
    seed: int,
    repost: bool,
    via: str,
    quiet_dbt: bool,
    force: bool,
) -> None:
    """The main job: source DB → emulator → raw landing (directly or through Kafka) → bronze → dbt."""
    job = pipeline.MainJob(
        rows=rows,
        db_seed=db_seed,
        events=events,
        seed=seed,
        repost=repost,
        via=via,
        quiet_dbt=quiet_dbt,
        force=force,
    )
    outcome = pipeline.run_main_job(obj.settings(), job, reporter=TERMINAL)
    click.echo(outcome.text)
    exit_on_conflicts(outcome.conflicts)
