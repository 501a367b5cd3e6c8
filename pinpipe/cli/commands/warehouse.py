"""`pinpipe dbt`, `report`, `sql` and `live`: build the warehouse and read it."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from ingestion.errors import PinpipeError
from pinpipe.cli.common import Context, info
from pinpipe.report import data as report_data
from pinpipe.report import html as report_html
from pinpipe.report import text as report_text
from pinpipe.report.questions import gold_questions
from pinpipe.warehouse import sql_console
from pinpipe.warehouse.dbt_runner import run_dbt
from pinpipe.warehouse.reader import WarehouseReader, gold_report, live_report, printable


class QuestionChoice(click.Choice[str]):
    """The choices of ``--question``: the gold questions' tables, read from the dbt project when click
    first needs them (a ``--question`` given, ``--help``), not when the command line is imported, so
    no other command reads the project's YAML or fails on it."""

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(question.table for question in gold_questions())

    @choices.setter
    def choices(self, _ignored: tuple[str, ...]) -> None:
        """click.Choice's constructor sets its choices: here they are read instead."""


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--target", help="dbt target of profiles.yml: duckdb (default), spark or databricks.")
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def dbt(obj: Context, target: str | None, dbt_args: tuple[str, ...]) -> None:
    """Run dbt on the project with the settings' lake and warehouse, e.g. `pinpipe dbt build`.

    Exits 75 while another process has the warehouse open (a reader too), or waits for it with
    --wait; a failure names the dbt node that failed."""
    run_dbt(obj.settings(dbt_target=target), list(dbt_args) or ["build"])


@click.command()
@click.option(
    "--rows",
    "rows_per_question",
    type=click.IntRange(min=1),
    default=None,
    help="Rows per question [default: 6 in text; every row in csv, json and markdown].",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(report_text.FORMATS),
    default=None,
    help="What stdout gets: text (the compact view), csv, json or markdown [default: text, or nothing "
    "with --html alone].",
)
@click.option(
    "--question",
    "questions",
    multiple=True,
    type=QuestionChoice(),
    help="Only this gold answer in stdout (repeatable; the HTML page has all); with one, csv is plain CSV.",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the report with charts and the run's health as one self-contained HTML file.",
)
@click.pass_obj
def report(
    obj: Context,
    rows_per_question: int | None,
    output_format: str | None,
    questions: tuple[str, ...],
    html_path: Path | None,
) -> None:
    """Print the gold answers from the warehouse (read-only), or write them as an HTML page."""
    settings = obj.settings()
    tables = set(questions) or None
    if html_path is not None:
        written = report_html.write_html(report_data.read_report(settings), html_path)
        info(f"report: wrote {written}")
    if output_format is None and html_path is not None:
        return
    if output_format is None or output_format == "text":
        click.echo(gold_report(settings, rows_per_question or 6, tables))
        return
    render = {
        "csv": report_text.render_csv,
        "json": report_text.render_json,
        "markdown": report_text.render_markdown,
    }[output_format]
    output = render(report_data.read_answers(settings, tables), rows_per_question)
    if sys.stdout.isatty():  # a terminal: control characters of the data as escapes (json has none)
        output = "\n".join(printable(line) for line in output.split("\n"))
    click.echo(output, color=True)  # piped: every value exactly (click would strip ANSI sequences)


@click.command()
@click.option("--watch", type=float, help="Print again every this many seconds, until Ctrl-C.")
@click.option("--rows", type=int, default=8, show_default=True, help="Rows per view.")
@click.pass_obj
def live(obj: Context, watch: float | None, rows: int) -> None:
    """Print the live views (schema live) over the stream tables, read in place."""
    settings = obj.settings()
    reader = WarehouseReader(settings)
    try:
        while True:
            click.echo(f"live views in {settings.warehouse} at {time.strftime('%H:%M:%S')}:")
            click.echo(live_report(reader, rows))
            if watch is None:
                return
            time.sleep(watch)
            reader.refresh()
    finally:
        reader.close()


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option(
    "-c",
    "--execute",
    "sql",
    metavar="SQL",
    help="Run this SQL read-only with the same views and print its result, instead of opening Harlequin.",
)
@click.option("--csv", "as_csv", is_flag=True, help="With --execute: print the result as CSV.")
@click.option(
    "--print-init",
    is_flag=True,
    help="Print the init script (the TEMP views behind bronze.*) and exit, e.g. for the DuckDB CLI "
    "(`duckdb -readonly -init FILE`).",
)
@click.argument("harlequin_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def sql(
    obj: Context, sql: str | None, as_csv: bool, print_init: bool, harlequin_args: tuple[str, ...]
) -> None:
    """Open the warehouse read-only in Harlequin (a terminal SQL IDE) with bronze, silver, gold and live
    readable; arguments after the options go to Harlequin, e.g. `pinpipe sql --theme nord`."""
    settings = obj.settings()
    if sql is not None or print_init:
        if harlequin_args:
            raise click.UsageError(f"unexpected arguments: {' '.join(harlequin_args)}")
        if print_init:
            click.echo(sql_console.init_script(settings), nl=False)
            return
        names, rows = sql_console.execute(settings, sql or "")
        render = sql_console.render_csv if as_csv else sql_console.render_table
        if names:
            click.echo(render(names, rows))
        return
    code = sql_console.open_harlequin(settings, list(harlequin_args))
    if code != 0:
        raise PinpipeError(f"Harlequin ended with exit code {code}")
