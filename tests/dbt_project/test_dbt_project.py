"""End-to-end tests of the dbt project on the duckdb target.

Real Delta bronze tables in a temporary lake (landed and loaded by the real ingestion from the raw
records of tests/fixtures plus bad input), a real DuckDB warehouse file and real ``dbt`` processes. One
``dbt build`` is shared by the module; the incremental test works on a copy.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingestion.bronze.loader import BronzeLoader
from ingestion.settings import Settings
from tests import dbt_support as support

pytestmark = pytest.mark.slow

UID = support.DEFAULT_UID
SILVER = {"pin": "stg_pinterest__pins", "geo": "stg_pinterest__geos", "user": "stg_pinterest__users"}
AGGREGATES = [
    "int_posts_counted",
    "int_follower_counts_tallied",
    "int_top_posters_kept",
    "int_users_deduplicated",
]
"""The incremental aggregates of int_posts_joined the answers read (models/intermediate/aggregates)."""
GOLD = support.GOLD_ANSWERS


_pin, _geo, _user = support.pin_record, support.geo_record, support.user_record


# Bad input (never a failed build): each row stays in silver with NULL in the bad field, and the
# no_values_lost_in_cleaning warning counts it. index -> (entity, field) that must be NULL.
BAD_INPUT = {
    "pin": [
        _pin(900001, follower_count="1.5k"),
        _pin(900002, follower_count="abc"),
        _pin(900003, follower_count=""),
        _pin(900004, follower_count="-12"),
        _pin(900005, category="cooking"),
        _pin(900006),
        _pin(900007),
        _pin(900008),
    ],
    "geo": [
        _geo(900001),
        _geo(900002),
        _geo(900003),
        _geo(900004),
        _geo(900005),
        _geo(900006, latitude=95.1),
        _geo(900007, timestamp="not a time"),
        _geo(900008),
    ],
    "user": [
        _user(900001),
        _user(900002),
        _user(900003),
        _user(900004),
        _user(900005),
        _user(900006),
        _user(900007, age="abc"),
        _user(900008, age=200),
    ],
}
BAD_FIELDS = {
    900001: ("pin", "follower_count"),
    900002: ("pin", "follower_count"),
    900003: ("pin", "follower_count"),
    900004: ("pin", "follower_count"),
    900005: ("pin", "category"),
    900006: ("geo", "latitude"),
    900007: ("geo", "timestamp"),
    900008: ("user", "age"),
}
LOST_VALUES = {"pin": 5, "geo": 2, "user": 2}


# Lines that are not records: the loader quarantines them (two not JSON, one without an index).
QUARANTINED = [b"not json", b'{"title": "cut', b'{"title": "no index"}']


@dataclass
class Build:
    work: Path
    lake: Path
    warehouse: Path
    records: dict[str, list[dict[str, Any]]]
    result: subprocess.CompletedProcess[str]
    seconds: float

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.warehouse), read_only=True) as connection:
            return connection.sql(sql).fetchall()

    def dbt(self, *args: str) -> subprocess.CompletedProcess[str]:
        return support.run_dbt(args, lake=self.lake, warehouse=self.warehouse, work_dir=self.work)

    def copy(self, work: Path) -> Build:
        """This build's lake and warehouse copied under ``work``, to change without touching it."""
        assert self.result.returncode == 0
        shutil.copytree(self.lake, work / "lake")
        shutil.copy(self.warehouse, work / "warehouse.duckdb")
        return Build(work, work / "lake", work / "warehouse.duckdb", self.records, self.result, 0)


def _all_records() -> dict[str, list[dict[str, Any]]]:
    raw = support.load_raw_records()
    return {entity: raw[entity] + BAD_INPUT[entity] for entity in support.ENTITIES}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Build]:
    work = tmp_path_factory.mktemp("dbt")
    lake, warehouse = work / "lake", work / "warehouse.duckdb"
    records = _all_records()
    # Two days old: fresh enough for freshness' error threshold, stale for its warning.
    support.land_and_load(
        lake, records, ingested_at=datetime.now(UTC) - timedelta(days=2), raw_lines={"pin": QUARANTINED}
    )
    started = datetime.now()
    result = support.run_dbt(["build"], lake=lake, warehouse=warehouse, work_dir=work)
    seconds = (datetime.now() - started).total_seconds()
    print(f"dbt build on the fixture: {seconds:.1f}s")
    yield Build(work, lake, warehouse, records, result, seconds)


def _failures(build: Build) -> str:
    return build.result.stdout[-8000:] + build.result.stderr[-4000:]


def test_build_succeeds_with_bad_input_as_warnings(built: Build) -> None:
    assert built.result.returncode == 0, _failures(built)
    results = support.run_results(built.work)
    statuses = {uid: r["status"] for uid, r in results.items()}
    assert not [uid for uid, status in statuses.items() if status in ("error", "fail", "skipped")]
    unit_tests = [uid for uid in results if uid.startswith("unit_test.")]
    assert len(unit_tests) >= 20
    lost = {uid: r for uid, r in results.items() if uid.startswith("test.pinpipe.no_values_lost_in_cleaning")}
    counted = {}
    for entity, model in SILVER.items():
        (result,) = [r for uid, r in lost.items() if f"_{model}_" in uid]
        counted[entity] = (result["status"], result["failures"])
    assert counted == {entity: ("warn", n) for entity, n in LOST_VALUES.items()}


def test_models_exist_in_their_layers(built: Build) -> None:
    tables = {
        (schema, name)
        for schema, name in built.query("select table_schema, table_name from information_schema.tables")
    }
    assert {("silver", model) for model in SILVER.values()} <= tables
    assert {("gold", model) for model in [*GOLD, "posts", "quarantine_summary"]} <= tables
    assert ("silver", "int_posts_joined") in tables


def _as_seed_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    return value


def test_silver_matches_the_original_cleaned_rows(built: Build) -> None:
    seed = support.load_seed_rows()
    data = json.loads((support.FIXTURES / "seed_clean_rows.json").read_text(encoding="utf-8"))
    compared = 0
    differences = []
    for entity, model in SILVER.items():
        columns = data["columns"][entity]
        described = built.query(
            f"select column_name from information_schema.columns where table_schema = 'silver' "
            f"and table_name = '{model}' order by ordinal_position"
        )
        # The original pipeline's columns first, in its order.
        assert [name for (name,) in described][: len(columns)] == columns
        quoted = ", ".join(f'"{c}"' for c in columns)
        for row in built.query(f"select {quoted} from silver.{model}"):
            ours = dict(zip(columns, map(_as_seed_value, row), strict=True))
            original = seed[entity].get(ours["ind"])
            if original is None:
                continue
            compared += 1
            for column in columns:
                if ours[column] != original[column]:
                    differences.append((entity, ours["ind"], column, ours[column], original[column]))
    assert compared == 3 * 131
    assert differences == []


def test_silver_has_one_row_per_index_first_delivery(built: Build) -> None:
    for entity, model in SILVER.items():
        key = support.INDEX_FIELD[entity]
        indexes = {int(record[key]) for record in built.records[entity]}
        rows, distinct = built.query(f"select count(*), count(distinct ind) from silver.{model}")[0]
        assert rows == distinct == len(indexes)
        # Every kept row is the lowest offset of its index (all deliveries share one ingestion time).
        first_offset: dict[int, int] = {}
        for offset, record in enumerate(built.records[entity]):
            first_offset.setdefault(int(record[key]), offset)
        kept = dict(built.query(f"select ind, _offset from silver.{model}"))
        assert kept == first_offset


def test_bad_input_rows_are_kept_with_null(built: Build) -> None:
    for ind, (entity, field) in BAD_FIELDS.items():
        rows = built.query(f'select "{field}" from silver.{SILVER[entity]} where ind = {ind}')
        assert rows == [(None,)], (ind, field)
    # the other fields of those rows are intact
    assert built.query("select follower_count from silver.stg_pinterest__pins where ind = 900006") == [
        (12000,)
    ]
    assert built.query("select coordinates from silver.stg_pinterest__geos where ind = 900006") == [(None,)]
    assert built.query("select count(*) from gold.posts where ind between 900001 and 900008") == [(8,)]


def test_quarantine_is_counted(built: Build) -> None:
    rows = built.query("select topic, reason_kind, quarantined_records from gold.quarantine_summary")
    assert sorted(rows) == [(f"{UID}.pin", "missing_index", 1), (f"{UID}.pin", "not_json", 2)]


def test_no_placeholder_survives_into_silver(built: Build) -> None:
    placeholders = {
        "title": "No Title Data Available",
        "poster_name": "User Info Error",
        "tag_list": "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",
        "image_src": "Image src error.",
    }
    for column, value in placeholders.items():
        assert built.query(f"select count(*) from silver.stg_pinterest__pins where {column} = '{value}'") == [
            (0,)
        ]
    assert built.query(
        "select count(*) from silver.stg_pinterest__pins "
        "where description like 'No description available%' or save_location like 'Local save in%'"
    ) == [(0,)]


def test_gold_answers_match_an_independent_computation(built: Build) -> None:
    expected = support.reference_answers(support.reference_posts(built.records))
    for table, columns in GOLD.items():
        rows = built.query(f"select {', '.join(columns)} from gold.{table}")
        assert sorted(rows) == expected[table], table
    posts = built.query("select count(*), count(distinct ind) from gold.posts")
    complete = len(support.reference_posts(built.records))
    assert posts == [(complete, complete)]


def test_gold_contracts_are_enforced(built: Build) -> None:
    manifest = json.loads((built.work / "target" / "manifest.json").read_text(encoding="utf-8"))
    gold = [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"].get("schema") == "gold"
    ]
    assert {node["name"] for node in gold} == {*GOLD, *AGGREGATES, "posts", "quarantine_summary"}
    for node in gold:
        assert node["config"]["contract"]["enforced"] is True, node["name"]
        assert all(column.get("data_type") for column in node["columns"].values()), node["name"]


def test_docs_generate_and_everything_documented(built: Build) -> None:
    result = built.dbt("docs", "generate")
    assert result.returncode == 0, result.stdout[-5000:]
    manifest = json.loads((built.work / "target" / "manifest.json").read_text(encoding="utf-8"))
    catalog = json.loads((built.work / "target" / "catalog.json").read_text(encoding="utf-8"))
    undocumented = []
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] != "model":
            continue
        if not node["description"].strip():
            undocumented.append(unique_id)
        documented = {name for name, column in node["columns"].items() if column["description"].strip()}
        actual = set(catalog["nodes"][unique_id]["columns"])
        undocumented.extend(f"{unique_id}.{name}" for name in sorted(actual - documented))
    assert undocumented == []


def test_source_freshness_reads_ingested_at(built: Build) -> None:
    result = built.dbt("source", "freshness")
    assert result.returncode == 0, result.stdout[-5000:]
    sources = json.loads((built.work / "target" / "sources.json").read_text(encoding="utf-8"))
    statuses = {r["unique_id"].rsplit(".", 1)[-1]: r["status"] for r in sources["results"]}
    assert statuses == {"pin": "warn", "geo": "warn", "user": "warn"}


def test_sqlfluff_lint_passes() -> None:
    result = subprocess.run(
        [
            str(support.SQLFLUFF_EXECUTABLE),
            "lint",
            "dbt_project/models",
            "dbt_project/macros",
            "dbt_project/tests",
        ],
        cwd=support.REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-5000:]


def test_incremental_run_adds_new_rows_without_reprocessing(
    built: Build, tmp_path_factory: pytest.TempPathFactory
) -> None:
    build = built.copy(tmp_path_factory.mktemp("incremental"))
    # A marker in an existing silver row: an incremental run leaves history alone, a full
    # rebuild would overwrite it.
    with duckdb.connect(str(build.warehouse)) as connection:
        connection.execute("update silver.stg_pinterest__pins set title = 'MARKER' where ind = 7528")
        connection.execute("update gold.posts set title = 'MARKER' where ind = 7528")  # incremental too
        # a value the accepted_values test refuses, in a silver row of an earlier load that gold
        # already holds: the routine run tests only the latest load
        connection.execute("update silver.stg_pinterest__pins set downloaded = 7 where ind = 7528")

    new = {
        # two new posts, one of them delivered twice (the first delivery must win)
        "pin": [
            _pin(910001),
            _pin(910002, title="first"),
            _pin(910002, title="second"),
            # a re-delivery of an existing index with other content: ignored
            _pin(7528, title="re-sent"),
        ],
        "geo": [_geo(910001), _geo(910002), _geo(910002, country="Elsewhere")],
        "user": [_user(910001), _user(910002), _user(910002, age=55)],
    }
    support.land_and_load(build.lake, new)
    result = build.dbt("build")
    assert result.returncode == 0, result.stdout[-8000:]

    assert build.query("select title from silver.stg_pinterest__pins where ind = 7528") == [("MARKER",)]
    assert build.query("select title from silver.stg_pinterest__pins where ind = 910002") == [("first",)]
    assert build.query("select country from silver.stg_pinterest__geos where ind = 910002") == [("Testland",)]
    assert build.query("select age from silver.stg_pinterest__users where ind = 910002") == [(30,)]
    for model in SILVER.values():
        rows, distinct = build.query(f"select count(*), count(distinct ind) from silver.{model}")[0]
        assert rows == distinct
    assert build.query("select count(*) from gold.posts where ind in (910001, 910002)") == [(2,)]
    assert build.query("select title from gold.posts where ind = 7528") == [("MARKER",)]
    assert build.query("select title from gold.posts where ind = 910002") == [("first",)]
    loads = build.query("select _loaded_at, count(*) from gold.posts group by all order by 1")
    assert [count for _, count in loads][-1] == 2, "the run appended exactly the two new posts"
    # ... while a test over every row finds the planted value
    result = build.dbt("test", "--select", "stg_pinterest__pins", "--vars", "{pinpipe_test_all_rows: true}")
    assert result.returncode != 0 and "accepted_values_stg_pinterest__pins_downloaded" in result.stdout

    # Gold matches the reference on all records, first delivery winning.
    records = {entity: built.records[entity] + new[entity] for entity in support.ENTITIES}
    expected = support.reference_answers(support.reference_posts(records))
    for table, columns in GOLD.items():
        assert sorted(build.query(f"select {', '.join(columns)} from gold.{table}")) == expected[table]

    # A full refresh reproduces the incremental result (except the marker).
    def snapshot() -> dict[str, list[tuple[Any, ...]]]:
        tables = [f"silver.{model}" for model in [*SILVER.values(), "int_posts_joined"]] + ["gold.posts"]
        return {
            table: sorted(build.query(f"select * exclude (_loaded_at) from {table} where ind <> 7528"))
            for table in tables
        }

    before = snapshot()
    result = build.dbt("run", "--full-refresh", "--select", "staging", "int_posts_joined", "posts")
    assert result.returncode == 0, result.stdout[-8000:]
    assert snapshot() == before
    assert build.query("select title from silver.stg_pinterest__pins where ind = 7528") == [(None,)]
    assert build.query("select title from gold.posts where ind = 7528") == [(None,)]

    # int_posts_joined was rebuilt without the aggregates (every post has a new _loaded_at): the
    # aggregates recompute their groups instead of adding every post a second time, and the answers
    # stay right.
    result = build.dbt("build", "--exclude-resource-type", "unit_test")
    assert result.returncode == 0, result.stdout[-8000:]
    complete = len(support.reference_posts(records))
    for aggregate in ("int_posts_counted", "int_follower_counts_tallied"):
        assert build.query(f"select sum(post_count) from gold.{aggregate}") == [(complete,)]
    for table, columns in GOLD.items():
        assert sorted(build.query(f"select {', '.join(columns)} from gold.{table}")) == expected[table]

    # A count that no longer adds up to the posts (a post counted twice) fails the run's data test.
    with duckdb.connect(str(build.warehouse)) as connection:
        connection.execute("update gold.int_posts_counted set post_count = post_count + 1")
    result = build.dbt("test", "--select", "int_posts_counted")
    assert result.returncode != 0 and "counts_add_up_to_posts_int_posts_counted" in result.stdout


def test_a_topic_created_again_builds_beside_the_old_one(
    built: Build, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A Kafka topic deleted and created again starts at offset 0: its records share (topic,
    partition, offset) with the old incarnation's, and silver keeps both (its uniqueness test keys on
    the topic ID too). The warehouse is one of the release before silver had ``_topic_id``: the
    incremental models add the column."""
    build = built.copy(tmp_path_factory.mktemp("incarnation"))
    with duckdb.connect(str(build.warehouse)) as connection:
        for model in SILVER.values():
            connection.execute(f"alter table silver.{model} drop column _topic_id")
    old_first = build.query("select ind from silver.stg_pinterest__pins where _partition = 0 and _offset = 0")
    assert len(old_first) == 1

    topic_id = "AAAAAAAAAAAAAAAAAAAAAQ"
    support.land_and_load(
        build.lake, {"pin": [_pin(920001)], "geo": [_geo(920001)], "user": [_user(920001)]}, topic_id=topic_id
    )
    result = build.dbt("build", "--exclude-resource-type", "unit_test")
    assert result.returncode == 0, result.stdout[-8000:]
    for model in SILVER.values():
        at_zero = build.query(
            f"select ind, _topic_id from silver.{model} where _partition = 0 and _offset = 0 order by ind"
        )
        assert (920001, topic_id) in at_zero and len(at_zero) == 2, (model, at_zero)
    assert build.query("select count(*) from gold.posts where ind = 920001") == [(1,)]


def test_compile_and_docs_work_before_the_first_build(tmp_path: Path) -> None:
    """`dbt compile` / `docs generate` on a new warehouse: no test queries a silver table not built yet."""
    settings = Settings(data_dir=tmp_path / "data")
    BronzeLoader(settings).ensure_tables()  # the sources exist (empty), silver and gold do not
    for command in (["compile"], ["docs", "generate"]):
        result = support.run_dbt(
            command, lake=settings.lake, warehouse=tmp_path / "new.duckdb", work_dir=tmp_path / "dbt"
        )
        assert result.returncode == 0, result.stdout[-5000:]
