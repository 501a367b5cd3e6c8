"""The semantic layer (MetricFlow, dbt_project/models/marts/semantic/) checked against gold.

One real warehouse in a temporary folder: the raw records of tests/fixtures plus a few posts that
only the filters of the saved queries leave out (a NULL category, follower_count or poster_name, an
age without group, years outside the windows, a person without age), landed and loaded by the real
ingestion and built by a real ``dbt build``. Then ``mf`` (the analysts' CLI) lists the metrics and
answers a grouped metric and a saved query, and every saved query runs through MetricFlow's Python
engine in one process (``mf`` spends about 4 s starting up per call) and is compared with its gold
answer table row by row. A saved query answers a grouped metric: where the question is an argmax
(the most popular category, the top poster) the test keeps the top row of each group, ties to the
first item, before comparing.

``mf`` reads ``target/semantic_manifest.json`` of the dbt project folder it is pointed at, so the
test points it at a copy of dbt_project/ whose ``target`` is the temporary build's target folder:
nothing is written into the checkout, and concurrent runs do not clash.

Run as a script (``python tests/dbt_project/test_semantic_layer.py OUT.json NAME...``, the repository
on ``sys.path``), this module runs the named saved queries with MetricFlow's engine and writes their
answers to OUT.json; the test does so in a subprocess, from the project copy, with the warehouse's
environment.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pinpipe.report.questions import gold_questions, questions_of
from tests import dbt_support as support

pytestmark = pytest.mark.slow

MF_EXECUTABLE = Path(sys.executable).parent / "mf"
METRICS = {"posts", "posters", "people", "max_follower_count", "median_follower_count"}
"""The metrics of dbt_project/models/marts/semantic/_semantic__metrics.yml."""


@dataclass(frozen=True)
class Expected:
    """How a saved query reads as the gold table of its question: its columns by gold column, and
    whether the gold table keeps only the top row of each group (an argmax)."""

    columns: Mapping[str, str]
    """MetricFlow's column -> the gold table's column."""
    top_per_group: bool = False


SAVED_QUERIES: dict[str, Expected] = {
    "q1_posts_by_country_and_category": Expected(
        {"post__country": "country", "post__category": "category", "posts": "category_count"},
        top_per_group=True,
    ),
    "q2_posts_by_post_year_and_category": Expected(
        {"post__post_year": "post_year", "post__category": "category", "posts": "category_count"},
        top_per_group=True,
    ),
    "q3a_max_follower_count_by_country_and_poster": Expected(
        {
            "post__country": "country",
            "post__poster_name": "poster_name",
            "max_follower_count": "follower_count",
        },
        top_per_group=True,
    ),
    "q3b_country_with_top_poster": Expected(
        {"post__country": "country", "max_follower_count": "follower_count"}
    ),
    "q4_posts_by_age_group_and_category": Expected(
        {"post__age_group": "age_group", "post__category": "category", "posts": "category_count"},
        top_per_group=True,
    ),
    "q5_median_follower_count_by_age_group": Expected(
        {"post__age_group": "age_group", "median_follower_count": "median_follower_count"},
    ),
    "q6_users_joined_by_year": Expected({"post__join_year": "join_year", "people": "number_users_joined"}),
    "q7_median_follower_count_by_join_year": Expected(
        {"post__join_year": "join_year", "median_follower_count": "median_follower_count"},
    ),
    "q8_median_follower_count_by_age_group_and_join_year": Expected(
        {
            "post__age_group": "age_group",
            "post__join_year": "join_year",
            "median_follower_count": "median_follower_count",
        },
    ),
}
"""Every saved query of _semantic__saved_queries.yml, and how its rows read as its question's gold
table (which table: the question's ``saved_query``, QUESTIONS)."""

QUESTIONS = {question.saved_query: question for question in gold_questions()}
"""The gold questions (pinpipe/report/questions.py) by the saved query that answers each."""


_pin, _geo, _user = support.pin_record, support.geo_record, support.user_record

# Posts the gold answers leave out, which a saved query without the matching filter would count: a
# missing category, follower_count or poster_name (with the largest follower count of all), an age
# under 18 posting before the post-year window and joining before the join-year window; and a tie
# between two categories, and one person without an age posting twice (one person in Q6).
EDGE_RECORDS: dict[str, list[dict[str, Any]]] = {
    "pin": [
        _pin(920001, category="cooking"),
        _pin(920002, follower_count="User Info Error"),
        _pin(920003, poster_name="User Info Error", follower_count="14M"),
        _pin(920004),
        _pin(920005, category="travel"),
        _pin(920006, category="art"),
        _pin(920007),
        _pin(920008),
    ],
    "geo": [
        _geo(920001, country="Nullcategoryland"),
        _geo(920002, country="Nofollowersland"),
        _geo(920003, country="Anonymousland"),
        _geo(920004, timestamp="2017-06-01T00:00:00"),
        _geo(920005, country="Tieland"),
        _geo(920006, country="Tieland"),
        _geo(920007),
        _geo(920008),
    ],
    "user": [
        _user(920001),
        _user(920002),
        _user(920003),
        _user(920004, age=15, date_joined="2014-05-05T00:00:00"),
        _user(920005),
        _user(920006),
        _user(920007, first_name="No", last_name="Age", age="abc"),
        _user(920008, first_name="No", last_name="Age", age="abc"),
    ],
}


@dataclass
class Warehouse:
    work: Path
    lake: Path
    warehouse: Path
    project: Path
    """A copy of dbt_project/ for ``mf``, its ``target`` the build's target folder."""

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.warehouse), read_only=True) as connection:
            return connection.sql(sql).fetchall()

    def mf_environment(self) -> dict[str, str]:
        return {
            **support.dbt_env(self.lake, self.warehouse),
            "DBT_PROFILES_DIR": str(support.REPO_ROOT),
            "DBT_PROJECT_DIR": str(self.project),
        }

    def run(self, command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        """``command`` from the project copy, with the warehouse's environment; it must succeed."""
        result = subprocess.run(
            list(command),
            cwd=self.project,
            env=self.mf_environment(),
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        return result

    def mf(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run([str(MF_EXECUTABLE), *args])


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    work = tmp_path_factory.mktemp("semantic")
    lake, warehouse_file = work / "lake", work / "warehouse.duckdb"
    raw = support.load_raw_records()
    support.land_and_load(lake, {entity: raw[entity] + EDGE_RECORDS[entity] for entity in support.ENTITIES})
    support.run_dbt(
        ["build", "--exclude-resource-type", "unit_test"],
        lake=lake,
        warehouse=warehouse_file,
        work_dir=work,
        check=True,
    )
    project = work / "project"
    shutil.copytree(
        support.DBT_PROJECT_DIR,
        project,
        symlinks=True,
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"),
    )
    (project / "target").symlink_to(work / "target", target_is_directory=True)
    assert (project / "target" / "semantic_manifest.json").is_file()
    yield Warehouse(work, lake, warehouse_file, project)


def _gold(build: Warehouse, table: str) -> list[tuple[Any, ...]]:
    return _sorted(build.query(f"select {', '.join(support.GOLD_ANSWERS[table])} from gold.{table}"))


def _sorted(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows in one order, NULL included."""
    return sorted(rows, key=repr)


def _as_gold_rows(
    query: str, column_names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[tuple[Any, ...]]:
    """Saved query ``query``'s rows as its gold table's rows: its columns in the gold order, and for an
    argmax only the top row of each group (ties to the first item, as in gold)."""
    expected = SAVED_QUERIES[query]
    gold_columns = support.GOLD_ANSWERS[QUESTIONS[query].table]
    assert {expected.columns[name] for name in column_names} == set(gold_columns)
    named = [dict(zip((expected.columns[name] for name in column_names), row, strict=True)) for row in rows]
    answer = [tuple(row[column] for column in gold_columns) for row in named]
    if expected.top_per_group:
        # (group, item, value) in every argmax table: keep each group's largest value
        top = support._top({(group, item): value for group, item, value in answer})
        answer = [(group, item, value) for group, (item, value) in top.items()]
    return _sorted(answer)


def test_every_question_has_a_tested_saved_query() -> None:
    assert set(SAVED_QUERIES) == set(QUESTIONS)


def test_dbt_resolves_the_questions_the_report_reads(warehouse: Warehouse) -> None:
    """pinpipe/report/questions.py reads the YAML; dbt's manifest (meta resolved from every place
    dbt takes it) holds the same questions."""
    manifest = json.loads((warehouse.project / "target" / "manifest.json").read_text())
    models = [
        (node["name"], node["config"]["meta"], node["original_file_path"])
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
    ]
    assert questions_of(models) == gold_questions()


def test_saved_queries_are_the_tested_ones(warehouse: Warehouse) -> None:
    manifest = json.loads((warehouse.project / "target" / "semantic_manifest.json").read_text())
    assert {query["name"] for query in manifest["saved_queries"]} == set(SAVED_QUERIES)
    assert {metric["name"] for metric in manifest["metrics"]} == METRICS
    spine = manifest["project_configuration"]["time_spines"]
    assert [(s["primary_column"]["name"], s["primary_column"]["time_granularity"]) for s in spine] == [
        ("date_day", "day")
    ]


def test_mf_lists_the_metrics(warehouse: Warehouse) -> None:
    listed = warehouse.mf("list", "metrics").stdout
    assert set(re.findall(r"^• (\w+): ", listed, flags=re.MULTILINE)) == METRICS
    assert "post__category" in listed


def test_every_saved_query_equals_its_gold_answer(warehouse: Warehouse) -> None:
    out = warehouse.work / "saved_queries.json"
    # as a script, with the repository on the path for ``tests.dbt_support`` (it runs in the copy)
    script = (
        f"import runpy, sys; sys.path.insert(0, {str(support.REPO_ROOT)!r}); "
        f"runpy.run_path({__file__!r}, run_name='__main__')"
    )
    warehouse.run([sys.executable, "-c", script, str(out), *SAVED_QUERIES])
    answers = json.loads(out.read_text(encoding="utf-8"))
    assert set(answers) == set(SAVED_QUERIES)
    differences = {}
    for name in SAVED_QUERIES:
        gold = _gold(warehouse, QUESTIONS[name].table)
        assert gold, f"gold.{QUESTIONS[name].table} is empty"
        ours = _as_gold_rows(name, answers[name]["columns"], answers[name]["rows"])
        if ours != gold:
            differences[name] = {
                "saved query": _sorted(set(ours) - set(gold)),
                "gold": _sorted(set(gold) - set(ours)),
            }
    assert differences == {}
    # The filters matter: the edge posts are in gold.posts, in groups no answer holds.
    assert warehouse.query(
        "select count(*) from gold.posts where ind between 920001 and 920008 "
        "and (category is null or follower_count is null or poster_name is null or age_group is null)"
    ) == [(6,)]


def test_mf_answers_a_saved_query_as_csv(warehouse: Warehouse) -> None:
    """The command analysts type, with its CSV output (text: compared as text)."""
    name = "q3b_country_with_top_poster"
    out = warehouse.work / f"{name}.csv"
    warehouse.mf("query", "--saved-query", name, "--csv", str(out))
    with out.open(newline="", encoding="utf-8") as lines:
        header, *rows = list(csv.reader(lines))
    gold = [tuple(map(str, row)) for row in _gold(warehouse, QUESTIONS[name].table)]
    assert gold == [("Azerbaijan", "6000000")]  # not Anonymousland's 14M: its poster is unknown
    assert _as_gold_rows(name, header, rows) == gold


def test_posts_by_category_equal_a_count_over_gold_posts(warehouse: Warehouse) -> None:
    out = warehouse.work / "posts_by_category.csv"
    warehouse.mf("query", "--metrics", "posts", "--group-by", "post__category", "--csv", str(out))
    with out.open(newline="", encoding="utf-8") as lines:
        header, *rows = list(csv.reader(lines))
    assert header == ["post__category", "posts"]
    ours = [(category or None, int(posts)) for category, posts in rows]
    plain = warehouse.query("select category, count(*) from gold.posts group by category")
    # the unknown category is a group of its own
    assert len(plain) > 10 and any(category is None for category, _ in plain)
    assert _sorted(ours) == _sorted(plain)
    assert sum(posts for _, posts in ours) == warehouse.query("select count(*) from gold.posts")[0][0]


# --------------------------------------------------------------------------------------------------
# Run as a script: the named saved queries through MetricFlow's engine, in one process.


def run_saved_queries(out: Path, names: Sequence[str]) -> None:
    """Run each saved query of ``names`` with MetricFlow's engine (the dbt project and profile of
    DBT_PROJECT_DIR / DBT_PROFILES_DIR) and write {name: {columns, rows}} to ``out`` as JSON."""
    # the analytics extra (dbt-metricflow), needed only here: the test module imports without it
    from dbt_metricflow.cli.cli_configuration import CLIConfiguration
    from metricflow.engine.metricflow_engine import MetricFlowQueryRequest

    configuration = CLIConfiguration()
    configuration.setup(configure_file_logging=False)
    answers = {}
    for name in names:
        result = configuration.mf.query(MetricFlowQueryRequest.create(saved_query_name=name)).result_df
        assert result is not None, name
        answers[name] = {"columns": list(result.column_names), "rows": [list(row) for row in result.rows]}
    out.write_text(json.dumps(answers), encoding="utf-8")


if __name__ == "__main__":
    run_saved_queries(Path(sys.argv[1]), sys.argv[2:])
