"""`pinpipe report`: the HTML page in a real browser, and the text formats.

One real warehouse for the module: the fixture's raw records plus a hostile post (``<script>`` in its
title, poster name and country, quotes, control characters), values cleaning must turn into NULL and
lines the loader quarantines, landed and loaded by the real ingestion and built by the real
``pipeline.build_warehouse`` (dbt). The page is opened in headless Chromium (the Debian package,
``make browser`` installs it) with JavaScript on and every request other than ``file://`` aborted and
recorded. A screenshot of the whole page is saved to ``data/test-artifacts/report.png``.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from deltalake import DeltaTable

from ingestion.errors import PinpipeError
from ingestion.settings import Settings
from pinpipe import pipeline
from pinpipe.report import data as report_data
from pinpipe.report.questions import META_KEY, GoldQuestion, gold_questions, read_questions
from pinpipe.report.text import plain
from pinpipe.warehouse.reader import BRONZE_TABLES, printable
from tests import dbt_support as support

REPO_ROOT = Path(__file__).resolve().parents[3]
PINPIPE = Path(sys.executable).with_name("pinpipe")
SCREENSHOT = REPO_ROOT / "data" / "test-artifacts" / "report.png"
"""Where the test leaves its screenshot of the page (data/ is ignored by git; `make clean` removes it)."""
CHROMIUM_NAMES = ("chromium", "chromium-browser")
QUESTIONS = gold_questions()
TABLES = [question.table for question in QUESTIONS]

HOSTILE_TITLE = "<script>window.__pwned = 'title'; alert('title')</script>"
HOSTILE_POSTER = '<script>alert("poster")</script> O\'Brien "&amp;" \x1b[2J\u202e'
HOSTILE_COUNTRY = "<img src=x onerror=\"window.__pwned='country'\">Zed'land"
HOSTILE_INDEX = 990_001

_pin, _geo, _user = support.pin_record, support.geo_record, support.user_record
BAD_VALUES = {
    "pin": [_pin(990_002, follower_count="1.5k"), _pin(990_003, category="cooking")],
    "geo": [_geo(990_002, latitude=95.1), _geo(990_003)],
    "user": [_user(990_002, age="abc"), _user(990_003)],
}
QUARANTINED = [b"not json", b'{"title": "no index"}']


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Debian chromium's path; a clear failure (never a skip) where it is not installed."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        "chromium is not installed, so the report cannot be checked in a browser: run `make browser` "
        "(apt-get install chromium, as root or through sudo)",
        pytrace=False,
    )


@dataclass
class Built:
    settings: Settings
    target: Path
    html: Path

    def gold(self, table: str, order_by: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        with duckdb.connect(str(self.settings.warehouse), read_only=True) as conn:
            result = conn.execute(f"select * from gold.{table} order by {order_by}")
            return [d[0] for d in result.description], result.fetchall()


def pinpipe(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINPIPE_")}
    return subprocess.run(
        [str(PINPIPE), "--data-dir", str(settings.data_dir), "report", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    work = tmp_path_factory.mktemp("report")
    settings = Settings(data_dir=work / "data", uid=support.DEFAULT_UID)
    raw = support.load_raw_records()
    hostile = {
        "pin": [_pin(HOSTILE_INDEX, title=HOSTILE_TITLE, poster_name=HOSTILE_POSTER, follower_count="900M")],
        "geo": [_geo(HOSTILE_INDEX, country=HOSTILE_COUNTRY)],
        "user": [_user(HOSTILE_INDEX)],
    }
    records = {e: raw[e] + hostile[e] + BAD_VALUES[e] for e in support.ENTITIES}
    support.land_and_load(settings.lake, records, raw_lines={"pin": QUARANTINED})
    with pytest.MonkeyPatch.context() as patch:  # dbt's target/ and logs/ of this build, not the project's
        patch.setenv("DBT_TARGET_PATH", str(work / "target"))
        patch.setenv("DBT_LOG_PATH", str(work / "logs"))
        pipeline.build_warehouse(settings, quiet=True)
    html = work / "report.html"
    written = pinpipe(settings, "--html", str(html))
    assert written.returncode == 0, written.stderr
    assert written.stdout == "" and f"report: wrote {html}" in written.stderr
    yield Built(settings, work / "target", html)


@dataclass
class Page:
    rows: dict[str, list[list[str]]]
    marks: dict[str, int]
    requests: list[str]
    blocked: list[str]
    console_errors: list[str]
    page_errors: list[str]
    dialogs: list[str]
    body_text: str
    scripts: int
    pwned: Any


@pytest.fixture(scope="module")
def page(built: Built, chromium: str) -> Page:
    from playwright.sync_api import Request, Route, sync_playwright  # the dev extra

    requests: list[str] = []
    blocked: list[str] = []
    console_errors: list[str] = []
    page_errors: list[str] = []
    dialogs: list[str] = []

    def route(route: Route, request: Request) -> None:
        if request.url.startswith("file://"):
            route.continue_()
        else:
            blocked.append(request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            context = browser.new_context(java_script_enabled=True, viewport={"width": 1280, "height": 900})
            context.route("**/*", route)
            tab = context.new_page()
            tab.on("request", lambda r: requests.append(r.url))
            tab.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            tab.on("pageerror", lambda e: page_errors.append(str(e)))

            def dialog(d: Any) -> None:
                dialogs.append(d.message)
                d.dismiss()

            tab.on("dialog", dialog)
            tab.goto(built.html.as_uri(), wait_until="load")
            tab.wait_for_timeout(200)  # late errors, if any
            rows, marks = {}, {}
            for table in TABLES:
                rows[table] = tab.eval_on_selector_all(
                    f'table[data-table="{table}"] tbody tr',
                    "rows => rows.map(r => Array.from(r.cells, c => c.textContent))",
                )
                marks[table] = tab.eval_on_selector_all(
                    f'section[data-question="{table}"] svg.chart rect, '
                    f'section[data-question="{table}"] svg.chart path',
                    "marks => marks.filter(m => { const b = m.getBoundingClientRect();"
                    " return b.width > 0 && b.height > 0; }).length",
                )
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=str(SCREENSHOT), full_page=True)
            print(f"screenshot of the report: {SCREENSHOT}")
            return Page(
                rows=rows,
                marks=marks,
                requests=requests,
                blocked=blocked,
                console_errors=console_errors,
                page_errors=page_errors,
                dialogs=dialogs,
                body_text=tab.inner_text("body"),
                scripts=tab.locator("script").count(),
                pwned=tab.evaluate("window.__pwned"),
            )
        finally:
            browser.close()


@pytest.mark.slow
def test_the_page_opens_offline_without_errors(page: Page) -> None:
    assert page.blocked == []
    assert page.requests and all(url.startswith("file://") for url in page.requests)
    assert page.console_errors == [] and page.page_errors == []
    assert SCREENSHOT.is_file() and SCREENSHOT.stat().st_size > 10_000


@pytest.mark.slow
def test_every_question_has_a_chart_with_marks(page: Page) -> None:
    assert set(page.marks) == set(TABLES)
    assert {table: n for table, n in page.marks.items() if n == 0} == {}


def shown(name: str, value: Any) -> str:
    """A gold value as the page's table shows it."""
    if value is None:
        return "—"
    return printable(str(value))


@pytest.mark.slow
def test_every_table_holds_the_gold_rows(built: Built, page: Page) -> None:
    for table, _title, order_by, _saved_query in QUESTIONS:
        names, rows = built.gold(table, order_by)
        assert rows, table
        expected = [[shown(n, v) for n, v in zip(names, row, strict=True)] for row in rows]
        found = [
            [c.replace(",", "") if isinstance(v, int) else c for c, v in zip(cells, row, strict=True)]
            for cells, row in zip(page.rows[table], rows, strict=True)
        ]
        assert found == expected, table


@pytest.mark.slow
def test_hostile_text_shows_literally_and_never_runs(page: Page) -> None:
    assert page.dialogs == [] and page.pwned is None and page.scripts == 0
    assert printable(HOSTILE_POSTER) in page.body_text  # in Q3's table
    assert printable(HOSTILE_COUNTRY) in page.body_text  # in Q1's and Q3's tables
    assert "\\x1b[2J\\u202e" in page.body_text  # control characters as visible escapes


@pytest.mark.slow
def test_health_matches_dbt_and_the_build_record(built: Built) -> None:
    report = report_data.read_report(built.settings)
    health = report.health
    # values lost: the dbt warn tests of this (full) build counted the same, model by model
    results = json.loads((built.target / "run_results.json").read_text())["results"]
    warned = {
        model: sum(
            r["failures"] or 0
            for r in results
            if r["unique_id"].startswith("test.pinpipe.no_values_lost_in_cleaning")
            and f"_{model}_" in r["unique_id"]
        )
        for model in report_data.LOST_VALUE_CHECKS
    }
    counted = {
        m: sum(v.values for v in health.lost_values if v.model == m) for m in report_data.LOST_VALUE_CHECKS
    }
    assert (
        counted == warned == {"stg_pinterest__pins": 2, "stg_pinterest__geos": 1, "stg_pinterest__users": 1}
    )
    assert dict(health.quarantine_by_reason) and sum(n for _, n in health.quarantine_by_reason) == len(
        QUARANTINED
    )
    bronze = {c.table: c.rows for c in health.layers if c.layer == "bronze"}
    assert set(bronze) == set(BRONZE_TABLES) and bronze["quarantine"] == len(QUARANTINED)
    assert {f.table: f.status for f in health.freshness if f.table in ("pin", "geo", "user")} == {
        "pin": "fresh",
        "geo": "fresh",
        "user": "fresh",
    }
    # the build record: the bronze versions dbt read are the tables' versions now
    assert health.build is not None and health.build.exit_code == 0
    assert health.build.command.startswith("build")
    for name in BRONZE_TABLES:
        version = DeltaTable(f"{built.settings.lake}/bronze/{name}").version()
        assert health.build.versions[name] == (version, version), name


@pytest.mark.slow
def test_json_equals_gold(built: Built) -> None:
    done = pinpipe(built.settings, "--format", "json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert list(document) == TABLES
    for table, title, order_by, _saved_query in QUESTIONS:
        names, rows = built.gold(table, order_by)
        assert document[table] == {
            "title": title,
            "columns": names,
            "rows": [[plain(v) for v in row] for row in rows],
        }
    assert not any(ch in done.stdout for ch in "\x1b\u202e")  # ASCII only: safe on a terminal


@pytest.mark.slow
def test_csv_parses_and_equals_gold(built: Built) -> None:
    def as_text(row: tuple[Any, ...]) -> list[str]:
        return ["" if v is None else str(plain(v)) for v in row]

    top_posters = next(q for q in QUESTIONS if q.table == "top_poster_by_country")  # the hostile poster's
    one = pinpipe(built.settings, "--format", "csv", "--question", top_posters.table)
    assert one.returncode == 0, one.stderr
    names, rows = built.gold(top_posters.table, top_posters.order_by)
    assert list(csv.reader(io.StringIO(one.stdout))) == [names, *map(as_text, rows)]
    assert any(row[1] == HOSTILE_POSTER for row in csv.reader(io.StringIO(one.stdout)) if len(row) > 1)

    every = pinpipe(built.settings, "--format", "csv")
    assert every.returncode == 0, every.stderr
    blocks = every.stdout.rstrip("\n").split("\n\ngold.")
    assert len(blocks) == len(QUESTIONS)
    for block, (table, _title, order_by, _saved_query) in zip(blocks, QUESTIONS, strict=True):
        parsed = list(csv.reader(io.StringIO(block.removeprefix("gold."))))
        names, rows = built.gold(table, order_by)
        assert parsed == [[table], names, *map(as_text, rows)]


@pytest.mark.slow
def test_text_and_markdown(built: Built) -> None:
    default, text = pinpipe(built.settings), pinpipe(built.settings, "--format", "text")
    assert default.returncode == text.returncode == 0 and default.stdout == text.stdout
    assert "Q1 most popular category per country" in text.stdout
    markdown = pinpipe(built.settings, "--format", "markdown", "--question", "top_poster_by_country")
    assert markdown.returncode == 0, markdown.stderr
    assert "## Q3 poster with the most followers per country" in markdown.stdout
    assert '&lt;script&gt;alert("poster")&lt;/script&gt;' in markdown.stdout
    assert "<script" not in markdown.stdout and "\x1b" not in markdown.stdout
    both = pinpipe(built.settings, "--format", "json", "--html", str(built.html.with_name("again.html")))
    assert both.returncode == 0 and json.loads(both.stdout) and built.html.with_name("again.html").is_file()


def test_html_without_a_warehouse_is_one_line(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    done = pinpipe(settings, "--html", str(tmp_path / "r.html"))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"pinpipe: error: no warehouse at {settings.warehouse}: run `pinpipe run` (or `make run`) first"
    ]
    assert not (tmp_path / "r.html").exists()


def test_the_lost_value_checks_mirror_the_dbt_project() -> None:
    """LOST_VALUE_CHECKS and PLACEHOLDERS say what the dbt project's test and macro say."""
    models = yaml.safe_load(
        (REPO_ROOT / "dbt_project/models/staging/pinterest/_pinterest__models.yml").read_text()
    )["models"]
    found = {}
    for model in models:
        for test in model.get("data_tests") or []:
            if isinstance(test, dict) and "no_values_lost_in_cleaning" in test:
                arguments = test["no_values_lost_in_cleaning"]["arguments"]
                bronze = re.fullmatch(r"source\('pinterest', '(\w+)'\)", arguments["raw_relation"])
                assert bronze, arguments
                found[model["name"]] = (bronze[1], arguments["index_field"], tuple(arguments["columns"]))
    assert found == report_data.LOST_VALUE_CHECKS
    macro = (REPO_ROOT / "dbt_project/macros/cleaning/pinterest_placeholders.sql").read_text()
    literal = re.search(r"set placeholders = (\{.*?\}) -%\}", macro, re.S)
    assert literal
    placeholders = ast.literal_eval(literal[1])
    assert {
        field: (tuple(p["exact"]), tuple(p["prefixes"])) for field, p in placeholders.items()
    } == report_data.PLACEHOLDERS


# --- the one list of the gold questions (pinpipe/report/questions.py) ------------------------------


def _project(folder: Path, models: list[dict[str, Any]]) -> Path:
    """A dbt project folder whose marts' property file holds ``models``."""
    marts = folder / "models" / "marts" / "answers"
    marts.mkdir(parents=True)
    (marts / "_answers.yml").write_text(yaml.safe_dump({"version": 2, "models": models}))
    return folder


def _model(name: str, order: Any, **more: Any) -> dict[str, Any]:
    question = {"order": order, "title": f"T {name}", "order_by": "x", "saved_query": f"q_{name}", **more}
    return {"name": name, "config": {"meta": {"owner": "pinpipe", META_KEY: question}}}


def test_the_questions_are_the_models_with_the_meta_in_its_order(tmp_path: Path) -> None:
    project = _project(tmp_path, [_model("b", 2), {"name": "posts"}, _model("a", 1)])
    assert read_questions(project) == (
        GoldQuestion("a", "T a", "x", "q_a"),
        GoldQuestion("b", "T b", "x", "q_b"),
    )


@pytest.mark.parametrize(
    "models",
    [
        [{"name": "posts"}],
        [_model("a", 1), _model("b", 1)],
        [_model("a", "1")],
        [_model("a", 1, chart="bars")],
        [_model("a", 1, title="")],
    ],
    ids=["none", "same order", "text order", "unknown field", "empty title"],
)
def test_a_wrong_question_meta_is_one_error(tmp_path: Path, models: list[dict[str, Any]]) -> None:
    with pytest.raises(PinpipeError, match=META_KEY):
        read_questions(_project(tmp_path, models))


def test_no_dbt_project_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(PinpipeError, match=f"no models/marts in {tmp_path}"):
        read_questions(tmp_path)


DOC_TABLES = (REPO_ROOT / "README.md", REPO_ROOT / "docs" / "data-contract.md")
"""The documents with a table of the questions: a row per question, starting ``| Q<n>``."""
TABLE_CELL = re.compile(r"`\w+`(?:, `\w+`)*")


def _question_table_names(document: Path) -> list[str]:
    """The gold tables of a document's question table: of each row, the cell of table names only."""
    names = []
    for row in document.read_text(encoding="utf-8").splitlines():
        if re.match(r"\| Q\d", row):
            cells = [cell.strip() for cell in row.strip("|").split("|")]
            names += [
                name for cell in cells if TABLE_CELL.fullmatch(cell) for name in re.findall(r"\w+", cell)
            ]
    return names


@pytest.mark.parametrize("document", DOC_TABLES, ids=lambda p: p.name)
def test_the_docs_tables_list_the_questions(document: Path) -> None:
    assert _question_table_names(document) == TABLES


def test_the_analytics_queries_follow_the_questions() -> None:
    """docs/analytics.md reproduces each answer with a query saying ``-- same rows as gold.<table>``."""
    text = (REPO_ROOT / "docs" / "analytics.md").read_text(encoding="utf-8")
    assert re.findall(r"^-- same rows as gold\.(\w+)$", text, flags=re.MULTILINE) == TABLES


def test_both_consumers_of_gold_read_every_question() -> None:
    """The exposures (the report, the daily DAG) name every question's model: dbt needs the refs."""
    marts = REPO_ROOT / "dbt_project" / "models" / "marts"
    exposures = yaml.safe_load((marts / "_marts__exposures.yml").read_text(encoding="utf-8"))["exposures"]
    for exposure in exposures:
        assert {f"ref('{table}')" for table in TABLES} <= set(exposure["depends_on"]), exposure["name"]


def test_the_tests_reference_answers_cover_the_questions() -> None:
    """The reference computation's tables (tests/dbt_support.py) are the questions, in their order."""
    assert list(support.GOLD_ANSWERS) == [question.table for question in gold_questions()]
