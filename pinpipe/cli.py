"""`pinpipe`: the command line of the pipeline.

Every command reads the one settings object (options > PINPIPE_* environment > pinpipe.toml >
defaults), shows progress on long work on stderr, and on failure exits non-zero with a one-line reason.
The steps themselves live in :mod:`pinpipe.pipeline`, which the Airflow DAG calls too.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click

from emulator.posting import PostingPlan
from emulator.sinks import SINKS
from ingestion import locks
from ingestion.errors import PinpipeError
from ingestion.local_services.aws import LocalAWS, exports
from ingestion.local_services.kafka import broker_status, start_background, stop_background
from ingestion.local_services.processes import LocalServiceError
from ingestion.settings import Settings
from pinpipe import __version__, pipeline
from pinpipe.report import data as report_data
from pinpipe.report import html as report_html
from pinpipe.report import text as report_text
from pinpipe.warehouse import sql_console
from pinpipe.warehouse.dbt_runner import run_dbt
from pinpipe.warehouse.reader import GOLD_QUESTIONS, WarehouseReader, gold_report, live_report, printable

NOT_RUNNING = 3
"""Exit code of a status command whose service is not running (the LSB init-script convention)."""
LOCK_HELD = locks.EX_TEMPFAIL
"""Exit code when another writer holds a lock the command needs (75, EX_TEMPFAIL): try again later,
or run with --wait."""


@dataclass
class Context:
    """What the group options resolved to; commands build their settings from it."""

    overrides: dict[str, Any]

    def settings(self, **more: Any) -> Settings:
        values = {k: v for k, v in {**self.overrides, **more}.items() if v is not None}
        try:
            return Settings(**values)
        except ValueError as exc:
            raise PinpipeError(f"invalid settings: {exc}".replace("\n", " ")) from None


def info(message: str) -> None:
    """A progress or status line on stderr (stdout stays for results)."""
    click.echo(message, err=True)


class TerminalReporter(pipeline.Reporter):
    """The steps' progress as lines and progress bars on stderr."""

    def info(self, message: str) -> None:
        info(message)

    def warning(self, message: str) -> None:
        info(message)

    @contextmanager
    def progress(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        if not sys.stderr.isatty():  # a bar in a log file is only its label: the summary line says it
            yield lambda _step: None
            return
        with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
            yield bar.update


TERMINAL = TerminalReporter()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


# --- source database -------------------------------------------------------------------------------


@cli.group()
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


# --- emulator --------------------------------------------------------------------------------------


@cli.command()
@click.option("--events", type=click.IntRange(min=0), help="Stop after this many events (default 1000).")
@click.option("--duration", type=float, help="Stop after this many seconds.")
@click.option("--rate", type=float, help="Events per second (default: as fast as possible).")
@click.option(
    "--order",
    type=click.Choice(["random", "sequential"]),
    default="random",
    show_default=True,
    help="random: the original's seeded picks (with repeats); sequential: each index once.",
)
@click.option("--seed", type=int, default=100, show_default=True, help="Picking seed (original: 100).")
@click.option("--max-index", type=int, help="Largest index picked (default: the last row; original 11000).")
@click.option(
    "--min-index",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Smallest index picked: a later day posts only rows above the earlier days'.",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Threads that post."
)
@click.option(
    "--sink",
    type=click.Choice(SINKS),
    default="lake",
    show_default=True,
    help="Where events go: lake, kafka, kinesis or http (the gateway).",
)
@click.option("--partitions", type=click.IntRange(min=1), help="Partitions per topic (lake sink).")
@click.option("--http-api", type=click.Choice(["kafka", "kinesis"]), help="http sink: which endpoints.")
@click.option("--http-batch", type=click.IntRange(1, 500), help="http sink: records per request (default 1).")
@click.pass_obj
def emulate(
    obj: Context,
    events: int | None,
    duration: float | None,
    rate: float | None,
    order: str,
    seed: int,
    max_index: int | None,
    min_index: int,
    workers: int,
    sink: str,
    partitions: int | None,
    http_api: str | None,
    http_batch: int | None,
) -> None:
    """Post events read from the source DB to a sink, bounded by --events and/or --duration."""
    settings = obj.settings(partitions=partitions, http_api=http_api, http_batch=http_batch)
    if events is None and duration is None:
        events = 1000
    plan = PostingPlan(
        events=events,
        duration=duration,
        order=order,
        seed=seed,
        max_index=max_index,
        min_index=min_index,
        rate=rate,
        workers=workers,
    )
    pipeline.emulate(settings, plan, sink, reporter=TERMINAL)


# --- bronze ----------------------------------------------------------------------------------------

DATA_CONFLICT = 65
"""Exit code (EX_DATAERR) of a load that found records in conflict with bronze: everything else loaded
and the conflicting records are in the quarantine, but someone must look (docs/operations.md)."""


def exit_on_conflicts(conflicts: int) -> None:
    """End with DATA_CONFLICT when a load quarantined records as offset_conflict."""
    if conflicts:
        info(
            f"pinpipe: {conflicts:,} records conflict with records bronze already held (quarantined as "
            "offset_conflict): see docs/operations.md, 'Offset conflicts'"
        )
        sys.exit(DATA_CONFLICT)


@cli.group()
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


# --- dbt and gold --------------------------------------------------------------------------------


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--target", help="dbt target of profiles.yml: duckdb (default), spark or databricks.")
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def dbt(obj: Context, target: str | None, dbt_args: tuple[str, ...]) -> None:
    """Run dbt on the project with the settings' lake and warehouse, e.g. `pinpipe dbt build`.

    Exits 75 while another process has the warehouse open (a reader too), or waits for it with
    --wait; a failure names the dbt node that failed."""
    run_dbt(obj.settings(dbt_target=target), list(dbt_args) or ["build"])


@cli.command()
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
    type=click.Choice([table for table, _title, _order in GOLD_QUESTIONS]),
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


# --- kafka -----------------------------------------------------------------------------------------


@cli.group()
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


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM/SIGINT, so a consumer finishes its open batch and exits 0."""
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


# --- AWS: local moto, Kinesis streams, stream ingestion, live views ---------------------------------


@cli.group()
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


@cli.group()
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


@cli.command()
@click.option("--idle-exit", type=float, help="Exit after this many seconds without a new record.")
@click.pass_obj
def stream(obj: Context, idle_exit: float | None) -> None:
    """Read every shard of the three streams into raw landing + bronze stream tables, until SIGTERM."""
    from ingestion.stream import StreamIngestion, StreamReport  # kinesis extra

    def progress(report: StreamReport) -> None:
        info(report.summary())

    report = StreamIngestion(obj.settings()).run(idle_exit=idle_exit, progress=progress)
    info(report.summary())


@cli.command()
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


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
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


# --- gateway ---------------------------------------------------------------------------------------


@cli.command()
@click.option("--host", help="Address to bind (default 127.0.0.1; 0.0.0.0 serves every interface).")
@click.option("--port", type=int, help="Port (default 8000).")
@click.option(
    "--idle-timeout",
    type=int,
    help="Seconds a connection may wait without a request, or take to send a request's headers, "
    "before it is closed (default 15).",
)
@click.option(
    "--insecure",
    is_flag=True,
    help="Serve an address other than loopback without an API key (refused otherwise).",
)
@click.pass_obj
def gateway(
    obj: Context, host: str | None, port: int | None, idle_timeout: int | None, insecure: bool
) -> None:
    """Serve the original's API Gateway endpoints (Kafka REST v2, Kinesis proxy) until Ctrl-C.

    The API key, if any, comes from the environment: PINPIPE_GATEWAY_API_KEY. Without one, only a
    loopback address (127.0.0.0/8, ::1, localhost) is served, unless --insecure.
    """
    try:  # the gateway extra
        import uvicorn

        from ingestion.gateway.app import check_bind, create_app, server_options
    except ImportError:
        raise PinpipeError(
            "the gateway needs the gateway extra (fastapi, uvicorn, swagger-ui-bundle)"
        ) from None
    settings = obj.settings(gateway_host=host, gateway_port=port, gateway_idle_timeout=idle_timeout)
    api_key = os.environ.get("PINPIPE_GATEWAY_API_KEY") or None
    warning = check_bind(settings.gateway_host, api_key=api_key, insecure=insecure)  # before binding
    if warning:
        info(warning)
    access = logging.getLogger("pinpipe.gateway.access")
    access.setLevel(logging.INFO)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(handler)
    access.propagate = False
    info(
        f"gateway on http://{settings.gateway_host}:{settings.gateway_port} for uid {settings.uid} "
        f"(API key {'required' if api_key else 'not required'}; OpenAPI at /docs)"
    )
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again for the handler that was
    # there before it: a no-op here, so the command ends with exit code 0 like the other long-running ones
    signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.run(
        create_app(settings, api_key=api_key),
        **server_options(settings),
        access_log=False,
        log_level="warning",
    )


# --- the main job ----------------------------------------------------------------------------------


@cli.command()
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


def main(argv: list[str] | None = None) -> NoReturn:
    """The `pinpipe` console script: run the CLI, then end the process with its exit code.

    It ends the process without the interpreter's finalization: native thread pools (Arrow's,
    deltalake's Tokio runtime) torn down during it aborted a finished command now and then (exit 134,
    "terminate called without an active exception", about 1 run in 100). Everything of ours is
    closed by then (context managers), and the streams and logs are flushed first.
    """
    try:
        run_cli(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def run_cli(argv: list[str] | None = None) -> None:
    """Run the CLI, turning every failure into one line and a non-zero exit code (SystemExit).

    Expected failures (PinpipeError) say what to do; anything else is named by its type and first
    line. ``--debug`` (or PINPIPE_DEBUG=1) adds the traceback.
    """
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("PINPIPE_DEBUG", "") not in ("", "0")
    args = [arg for arg in args if arg != "--debug"]  # valid anywhere on the line, not only first
    if "--wait" in args[1:] and args[0] != "--wait":  # `pinpipe run --wait` means `pinpipe --wait run`
        args = ["--wait", *(arg for arg in args if arg != "--wait")]
    if not debug:
        divert_native_stderr()
    level = os.environ.get("PINPIPE_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("botocore", "boto3", "urllib3", "s3fs", "aiobotocore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        code = cli.main(args=args, prog_name="pinpipe", standalone_mode=False)
    except click.exceptions.Abort:
        info("pinpipe: aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        info("pinpipe: interrupted")
        sys.exit(130)
    except locks.LockHeld as exc:
        if debug:
            traceback.print_exc()
        info(f"pinpipe: {exc}")
        sys.exit(LOCK_HELD)
    except PinpipeError as exc:
        fail(str(exc), debug)
    except OSError as exc:
        fail(describe_os_error(exc), debug)
    except BaseException as exc:  # a Rust panic from deltalake is a BaseException, not an Exception
        if isinstance(exc, SystemExit):
            raise
        if "No space left on device" in str(exc):  # deltalake's and DuckDB's own words for ENOSPC
            fail(describe_os_error(OSError(errno.ENOSPC, "No space left on device")), debug)
        fail(f"{type(exc).__name__}: {first_line(exc)}", debug, unexpected=True)
    sys.exit(code if isinstance(code, int) else 0)


def divert_native_stderr() -> Path | None:
    """Send what native libraries write straight to file descriptor 2 (a Rust panic in deltalake, a
    C++ abort message) to a log file, so a failure stays one line; Python's own stderr, and dbt's,
    keep the terminal. Returns the log file (None if it cannot be opened: then nothing changes)."""
    log = Path(tempfile.gettempdir()) / f"pinpipe-{os.getuid()}" / "native-stderr.log"
    try:
        log.parent.mkdir(mode=0o700, exist_ok=True)
        target = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError:
        return None
    terminal = os.dup(2)
    sys.stderr.flush()
    sys.stderr = open(terminal, "w", buffering=1, errors="backslashreplace")  # noqa: SIM115 (for the process)
    os.dup2(target, 2)
    os.close(target)
    os.environ["RUST_BACKTRACE"] = "0"  # the panic message alone is enough in that log
    return log


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return "(no message)"


def describe_os_error(exc: OSError) -> str:
    """An OSError as a person reads it: what failed, on which path, and what to do."""
    where = f" {exc.filename}" if exc.filename else ""  # one path, or none
    if exc.errno == errno.ENOSPC:
        return f"no space left on the device{where}: free some space, then run the command again"
    if exc.errno == errno.EROFS:
        return f"cannot write{where}: the file system is read-only; choose a writable --data-dir or --lake"
    if isinstance(exc, PermissionError):
        return f"permission denied on{where or ' a file'}: check the folder's owner and mode"
    if isinstance(exc, NotADirectoryError | FileExistsError):
        path = where.strip() or "a path"
        return f"{path} is a file where a folder is expected: check --data-dir and PINPIPE_LAKE"
    return f"{exc.strerror or first_line(exc)}{':' + where if where else ''}"


def fail(message: str, debug: bool, *, unexpected: bool = False) -> NoReturn:
    """Print the one-line reason (and the traceback with --debug) and exit 1."""
    if debug:
        traceback.print_exc()
    hint = " (run with --debug for the traceback)" if unexpected and not debug else ""
    info(f"pinpipe: error: {message}{hint}")
    sys.exit(1)
