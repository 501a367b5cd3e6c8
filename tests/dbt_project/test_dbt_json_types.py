"""The accepted JSON types of every source field (docs/data-contract.md, "Accepted JSON types"), end to
end on DuckDB and on Spark.

Bronze stores every field as text, and names in ``_json_types`` the JSON type each field was delivered
as. For each entity and each source field, hypothesis draws values of every JSON type (string, integer,
integral float, other float, boolean, null, object, array); each value goes into one field of a
complete, otherwise normal post. All the posts go through the real landing and bronze loader (and, for
the live models, the real stream ingestion) into one lake, and one ``dbt build`` per engine cleans
them. Silver must hold the cleaned value when the type is accepted and NULL otherwise (never the JSON
text of an object, an array, a boolean or a number in a text field), gold must never hold such text,
the ``no_values_lost_in_cleaning`` warnings must count the rejected values, and the live models,
Spark's silver and DuckDB's silver must agree with the same independent reference (written here from
the data contract, not from the SQL).

The records are drawn up front with a fixed seed (many examples, one build per engine).
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from deltalake import DeltaTable
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from ingestion.bronze.records import render
from ingestion.settings import INDEX_FIELD, SOURCE_FIELDS, Settings
from ingestion.stream import StreamIngestion
from pinpipe.warehouse.reader import WarehouseReader
from tests import dbt_support as support

pytestmark = pytest.mark.slow

SILVER = {"pin": "stg_pinterest__pins", "geo": "stg_pinterest__geos", "user": "stg_pinterest__users"}
LIVE = {
    "pin": "stg_pinterest__live_pins",
    "geo": "stg_pinterest__live_geos",
    "user": "stg_pinterest__live_users",
}
CLEANED_COLUMNS = {
    "pin": (
        "unique_id",
        "title",
        "description",
        "follower_count",
        "poster_name",
        "tag_list",
        "is_image_or_video",
        "image_src",
        "save_location",
        "category",
        "downloaded",
    ),
    "geo": ("country", "coordinates", "timestamp", "latitude", "longitude"),
    "user": ("user_name", "age", "date_joined", "first_name", "last_name"),
}
"""Each silver model's cleaned columns (besides ``ind``), the same in the batch and the live models."""
INGESTED_AT = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
RECEIVED = INGESTED_AT.replace(tzinfo=None)

# --------------------------------------------------------------------------------------------------
# The data contract's accepted JSON types, and an independent reference of the cleaning under it.

JSON_TYPES = ("string", "integer", "integral float", "other float", "boolean", "null", "object", "array")
NUMBER_FIELDS = {"follower_count", "downloaded", "age", "latitude", "longitude"}
MEDIA_TYPES = {"image", "video", "multi-video(story page format)"}
DECIMAL = re.compile(r"[-+]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]+)?")
SAVE_PREFIX = "Local save in "


def json_type(value: Any) -> str:
    """The ``_json_types`` code of a Python value as ``json.dumps`` sends it."""
    if value is None:
        return "n"
    if isinstance(value, bool):
        return "b"
    if isinstance(value, int):
        return "i"
    if isinstance(value, float):
        return "f"
    if isinstance(value, str):
        return "s"
    return "o" if isinstance(value, dict) else "a"


def accepted(field: str, value: Any) -> bool:
    """Whether the data contract accepts the JSON type of ``value`` for ``field`` (null aside)."""
    return json_type(value) in ("sif" if field in NUMBER_FIELDS else "s")


def is_placeholder(field: str, value: Any) -> bool:
    """A placeholder of ``field`` (always a JSON string): missing, not a value lost in cleaning."""
    if not isinstance(value, str):
        return False
    if field == "description":
        return value.startswith("No description available")
    return value in support.PLACEHOLDERS.get(field, set())


def _integer(value: Any, low: int, high: int, max_digits: int) -> int | None:
    """An integer field: a string of at most ``max_digits`` ASCII digits, a JSON integer, or an integral
    JSON number with a fraction or exponent, within [low, high]."""
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit() and len(value) <= max_digits):
            return None
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        number = int(value)
    else:
        return None
    return number if low <= number <= high else None


def _double(value: Any, low: float, high: float) -> float | None:
    """latitude / longitude: a number, or a string holding a decimal number, within [low, high]."""
    if isinstance(value, str):
        if not DECIMAL.fullmatch(value):
            return None
        number = float(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            return None
    else:
        return None
    return number if low <= number <= high else None


def reference(field: str, value: Any) -> Any:
    """The silver value of source field ``field`` delivered as ``value`` (docs/data-contract.md)."""
    if value is None or not accepted(field, value):
        return None
    if field == "follower_count":
        if isinstance(value, str):
            return support.reference_follower_count(value)
        return _integer(value, 0, support.MAX_FOLLOWER_COUNT, 15)
    if field == "downloaded":
        return _integer(value, 0, 1, 9)
    if field == "age":
        return _integer(value, *support.AGE_RANGE, 3)
    if field == "latitude":
        return _double(value, -90, 90)
    if field == "longitude":
        return _double(value, -180, 180)
    if field in ("timestamp", "date_joined"):
        return support.reference_timestamp(value, RECEIVED)
    if is_placeholder(field, value):
        return None
    if field == "save_location":
        return value[len(SAVE_PREFIX) :] if value.startswith(SAVE_PREFIX) else value
    if field == "is_image_or_video":
        return value if value in MEDIA_TYPES else None
    if field == "category":
        return value if value in support.CATEGORIES else None
    return value


# --------------------------------------------------------------------------------------------------
# The drawn values: for every entity, source field and JSON type, a few values of that type.

CLEAN_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
STRINGS = st.one_of(
    CLEAN_TEXT,
    st.sampled_from(
        [
            "",
            "0",
            "1",
            "30",
            "030",
            "30.0",
            "12k",
            "6M",
            "1.5k",
            "true",
            "null",
            '["c"]',
            '{"name":"Spain"}',
            '{"y":2}',
            "travel",
            "image",
            "multi-video(story page format)",
            "No Title Data Available",
            "User Info Error",
            "Image src error.",
            "No description available Story format",
            "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",
            "Local save in /data/art",
            "Local save in ",
            "2021-03-04T05:06:07",
            "2016-01-02",
            "10.5",
            "-20.25",
            "1e2",
            "5.",
            ".5",
            "+1",
        ]
    ),
    st.integers(min_value=-10, max_value=10**12).map(str),
    st.floats(min_value=-200, max_value=200).map(repr),
    st.datetimes(min_value=datetime(2005, 1, 1), max_value=datetime(2030, 1, 1)).map(lambda d: d.isoformat()),
)
INTEGERS = st.one_of(
    st.integers(min_value=-5, max_value=200),
    st.integers(),
    st.sampled_from([0, 1, 2, 13, 30, 100, 12_000, 10**9, 10**9 + 1, 2**63 - 1, 2**64, 10**30, -1]),
)
INTEGRAL_FLOATS = st.one_of(
    st.integers(min_value=-200, max_value=200).map(float),
    st.integers(min_value=-(10**15), max_value=10**15).map(float),
    st.sampled_from([0.0, -0.0, 1.0, 30.0, 100.0, 12_000.0, 1e9, 1e9 + 1, 1e16, 2.0**63, 1e300]),
)


def _not_integral(number: float) -> float:
    """``number``, or a number near it with a fraction when it is integral."""
    if not number.is_integer():
        return number
    return number + 0.5 if abs(number) < 2**52 else 0.25


OTHER_FLOATS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(_not_integral),
    st.tuples(st.integers(min_value=-200, max_value=200), st.integers(min_value=1, max_value=999)).map(
        lambda t: t[0] + t[1] / 1000
    ),
    st.sampled_from([30.5, 0.5, 1.5, -0.1, 10.25, 89.999, 1e-300]),
)
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-1000, max_value=1000),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=8),
)
OBJECTS = st.one_of(
    st.dictionaries(st.text(st.characters(exclude_categories=["Cs"]), max_size=5), LEAVES, max_size=3),
    st.sampled_from([{}, {"name": "Spain"}, {"y": 2}, {"a": [1, {"b": None}]}]),
)
ARRAYS = st.one_of(st.lists(LEAVES, max_size=3), st.sampled_from([[], ["c"], [1, 2], [[]]]))
BY_TYPE: dict[str, st.SearchStrategy[Any]] = {
    "string": STRINGS,
    "integer": INTEGERS,
    "integral float": INTEGRAL_FLOATS,
    "other float": OTHER_FLOATS,
    "boolean": st.booleans(),
    "null": st.none(),
    "object": OBJECTS,
    "array": ARRAYS,
}
FIELDS = [
    (entity, field)
    for entity, fields in SOURCE_FIELDS.items()
    for field in fields
    if field != INDEX_FIELD[entity]
]
"""Every source field but the index (whose key contract bronze enforces: tests/ingestion/bronze/)."""
DRAWN = st.fixed_dictionaries(
    {
        (entity, field, kind): st.lists(BY_TYPE[kind], min_size=1, max_size=3)
        for entity, field in FIELDS
        for kind in JSON_TYPES
    }
)
SEED = 20_281
EXAMPLES = 3
RANDOM_INDEX_START = 700_000


def draw_values() -> list[tuple[str, str, str, Any]]:
    """(entity, field, JSON type, value) for every value drawn: ``EXAMPLES`` examples of DRAWN, with a
    fixed seed, so every run builds the same records."""
    drawn: list[tuple[str, str, str, Any]] = []

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        phases=[Phase.generate],
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(DRAWN)
    def collect(example: dict[tuple[str, str, str], list[Any]]) -> None:
        for (entity, field, kind), values in example.items():
            drawn.extend((entity, field, kind, value) for value in values)

    collect()
    return drawn


# The issue's exact values (issue 28, case 4), in two posts of their own; the second delivers the
# age as the JSON token 3e1, a raw line.
ISSUE_INDEX = 600_001
ISSUE_OVERRIDES: dict[str, dict[str, Any]] = {
    "pin": {"poster_name": {"x": 1}},
    "geo": {"country": {"name": "France"}},
    "user": {"first_name": {"a": 1}, "last_name": ["b"], "age": 30.0},
}
EXPONENT_INDEX = 600_002
EXPONENT_LINE = (
    b'{"ind": 600002, "first_name": "Exp", "last_name": "Onent", "age": 3e1, '
    b'"date_joined": "2016-01-02T03:04:05"}'
)


def _normal_post(index: int) -> dict[str, dict[str, Any]]:
    return {
        "pin": support.pin_record(index),
        "geo": support.geo_record(index),
        "user": support.user_record(index),
    }


@dataclass
class Case:
    """One post whose fields ``overrides`` (entity -> field -> value) hold drawn or chosen values."""

    index: int
    overrides: dict[str, dict[str, Any]]

    def expected(self) -> dict[str, dict[str, Any]]:
        """entity -> silver column -> expected value, for the columns the overrides decide."""
        out: dict[str, dict[str, Any]] = {}
        for entity, fields in self.overrides.items():
            out[entity] = {field: reference(field, value) for field, value in fields.items()}
        user = self.overrides.get("user", {})
        if "first_name" in user or "last_name" in user:
            normal = support.user_record(self.index)
            first = reference("first_name", user.get("first_name", normal["first_name"]))
            last = reference("last_name", user.get("last_name", normal["last_name"]))
            out["user"]["user_name"] = None if first is None or last is None else f"{first} {last}"
        geo = out.get("geo", {})
        if "latitude" in geo or "longitude" in geo:
            normal = support.geo_record(self.index)
            latitude = geo.get("latitude", normal["latitude"])
            longitude = geo.get("longitude", normal["longitude"])
            geo["coordinates"] = None if latitude is None or longitude is None else (latitude, longitude)
        return out

    def lost(self) -> dict[str, int]:
        """Values the ``no_values_lost_in_cleaning`` warnings count, by entity."""
        return {
            entity: sum(
                1
                for field, value in fields.items()
                if value is not None and reference(field, value) is None and not is_placeholder(field, value)
            )
            for entity, fields in self.overrides.items()
        }


def all_cases() -> list[Case]:
    cases = [Case(ISSUE_INDEX, ISSUE_OVERRIDES)]
    for position, (entity, field, _kind, value) in enumerate(draw_values()):
        cases.append(Case(RANDOM_INDEX_START + position, {entity: {field: value}}))
    return cases


def records_of(cases: list[Case]) -> dict[str, list[dict[str, Any]]]:
    records: dict[str, list[dict[str, Any]]] = {entity: [] for entity in SOURCE_FIELDS}
    for case in cases:
        post = _normal_post(case.index)
        for entity, fields in case.overrides.items():
            post[entity].update(fields)
        for entity, record in post.items():
            records[entity].append(record)
    exponent = _normal_post(EXPONENT_INDEX)
    records["pin"].append(exponent["pin"])
    records["geo"].append(exponent["geo"])
    return records


# --------------------------------------------------------------------------------------------------
# Loading: the batch path (landing + bronze loader) and the live path (stream ingestion).


class FakeKinesis:
    """The reading side of Kinesis for the three streams: one open shard each, serving the given
    records from its start (the real StreamIngestion reads them and writes the stream tables)."""

    def __init__(self, settings: Settings, lines: Mapping[str, list[bytes]]) -> None:
        self.data = {settings.stream(entity): list(entity_lines) for entity, entity_lines in lines.items()}

    def describe_stream_summary(self, StreamName: str) -> dict[str, Any]:
        return {"StreamDescriptionSummary": {"StreamCreationTimestamp": datetime(2026, 1, 1, tzinfo=UTC)}}

    def list_shards(self, **_: Any) -> dict[str, Any]:
        return {"Shards": [{"ShardId": "shardId-000000000000", "SequenceNumberRange": {}}]}

    def get_shard_iterator(
        self, StreamName: str, ShardId: str, ShardIteratorType: str, **kw: Any
    ) -> dict[str, Any]:
        return {"ShardIterator": f"{StreamName}|{int(kw.get('StartingSequenceNumber', 0))}"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        stream, after_text = ShardIterator.rsplit("|", 1)
        after = int(after_text)
        batch = self.data[stream][after : after + Limit]
        records = [
            {"SequenceNumber": str(after + i + 1), "Data": data, "ApproximateArrivalTimestamp": INGESTED_AT}
            for i, data in enumerate(batch)
        ]
        return {"Records": records, "NextShardIterator": f"{stream}|{after + len(batch)}"}


def load(data_dir: Path, cases: list[Case]) -> dict[str, list[dict[str, Any]]]:
    """Land and load the cases' records into bronze, and put the same records through the stream
    ingestion into the stream tables."""
    lake = data_dir / "lake"
    records = records_of(cases)
    report = support.land_and_load(
        lake, records, ingested_at=INGESTED_AT, raw_lines={"user": [EXPONENT_LINE]}
    )
    assert report.quarantined == 0, report.summary()
    lines = {
        entity: [json.dumps(r, ensure_ascii=False).encode() for r in rs] for entity, rs in records.items()
    }
    lines["user"].append(EXPONENT_LINE)
    stream_settings = Settings(data_dir=data_dir, lake=str(lake), uid=support.DEFAULT_UID)
    fake = FakeKinesis(stream_settings, lines)
    stream = StreamIngestion(stream_settings, client=fake, clock=lambda: INGESTED_AT).run(idle_exit=0.5)
    assert stream.committed == {entity: len(entity_lines) for entity, entity_lines in lines.items()}
    assert stream.quarantined == 0
    return records


# --------------------------------------------------------------------------------------------------
# The builds: one on DuckDB, one on Spark, over the same lake.


@dataclass
class Built:
    data_dir: Path
    work: Path
    """Where the build's dbt wrote target/ (run_results.json) and logs/."""
    cases: list[Case]
    result: subprocess.CompletedProcess[str]

    @property
    def warehouse(self) -> Path:
        return self.data_dir / "warehouse.duckdb"


def _normal(value: Any) -> Any:
    """One representation for both engines' values (naive UTC datetimes, tuples, rounded floats)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, float):
        return round(value, 9) if math.isfinite(value) else value
    if isinstance(value, list | tuple):
        return tuple(_normal(v) for v in value)
    return value


def duckdb_rows(
    warehouse: Path, entity: str, live: bool = False, data_dir: Path | None = None
) -> dict[int, dict[str, Any]]:
    """ind -> cleaned columns of a silver model on DuckDB (the live views through WarehouseReader, which
    registers the bronze stream tables they read)."""
    columns = ("ind", *CLEANED_COLUMNS[entity])
    listed = ", ".join(f'"{c}"' for c in columns)
    if live:
        assert data_dir is not None
        reader = WarehouseReader(Settings(data_dir=data_dir, uid=support.DEFAULT_UID))
        try:
            _, rows = reader.query(f"select {listed} from silver.{LIVE[entity]}")
        finally:
            reader.close()
    else:
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            rows = connection.sql(f"select {listed} from silver.{SILVER[entity]}").fetchall()
    return {row[0]: dict(zip(columns[1:], (_normal(v) for v in row[1:]), strict=True)) for row in rows}


def spark_rows(spark_home: Path, entity: str) -> dict[int, dict[str, Any]]:
    """ind -> cleaned columns of a silver model on Spark (a managed Delta table, read with deltalake)."""
    arrow = DeltaTable(str(spark_home / "warehouse" / "silver.db" / SILVER[entity])).to_pyarrow_table()
    columns = CLEANED_COLUMNS[entity]
    inds = arrow["ind"].to_pylist()
    values = {c: arrow[c].to_pylist() for c in columns}
    return {ind: {c: _normal(values[c][i]) for c in columns} for i, ind in enumerate(inds)}


def mismatches(cases: list[Case], rows: Mapping[str, Mapping[int, Mapping[str, Any]]]) -> list[str]:
    """Where the silver ``rows`` (entity -> ind -> column -> value) differ from the reference."""
    found = []
    for case in cases:
        for entity, columns in case.expected().items():
            row = rows[entity].get(case.index)
            if row is None:
                found.append(f"{entity} {case.index}: no silver row ({case.overrides})")
                continue
            for column, expected in columns.items():
                if row[column] != _normal(expected):
                    found.append(
                        f"{entity}.{column} at {case.index}: {row[column]!r}, expected {_normal(expected)!r} "
                        f"(delivered {case.overrides[entity]!r})"
                    )
    return found


def pinpipe(data_dir: Path, work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI on this data folder (as tests/dbt_project/test_engines.py runs it), dbt's target/ and logs/ in
    ``work``."""
    env = {
        **os.environ,
        "PINPIPE_DATA_DIR": str(data_dir),
        "DBT_TARGET_PATH": str(work / "target"),
        "DBT_LOG_PATH": str(work / "logs"),
    }
    for name in ("PINPIPE_LAKE", "PINPIPE_WAREHOUSE", "PINPIPE_DBT_TARGET"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "pinpipe", *args], env=env, capture_output=True, text=True, timeout=1500
    )


@pytest.fixture(scope="module")
def duck(tmp_path_factory: pytest.TempPathFactory) -> Built:
    data_dir = tmp_path_factory.mktemp("json_types")
    cases = all_cases()
    load(data_dir, cases)
    work = data_dir / "duckdb_run"
    result = support.run_dbt(
        ["build"], lake=data_dir / "lake", warehouse=data_dir / "warehouse.duckdb", work_dir=work
    )
    return Built(data_dir, work, cases, result)


@pytest.fixture(scope="module")
def spark(duck: Built) -> Iterator[Built]:
    """The very same project on Spark over the same bronze tables (after the DuckDB build)."""
    work = duck.data_dir / "spark_run"
    result = pinpipe(duck.data_dir, work, "dbt", "--target", "spark", "build")
    yield Built(duck.data_dir, work, duck.cases, result)


def _assert_build_passes(built: Built) -> None:
    output = built.result.stdout[-8000:] + built.result.stderr[-3000:]
    assert built.result.returncode == 0, output
    results = support.run_results(built.work)
    failed = [
        uid
        for uid, r in results.items()
        if r["status"] in ("error", "fail", "skipped") and not uid.startswith(("saved_query.", "exposure."))
    ]
    assert not failed, output


# --------------------------------------------------------------------------------------------------
# The tests


def test_the_macro_field_lists_are_source_fields() -> None:
    """json_type_of finds a field's character by its position in pinterest_source_fields, which must
    be SOURCE_FIELDS (the order bronze writes `_json_types` in)."""
    macro = (support.DBT_PROJECT_DIR / "macros" / "cleaning" / "json_types.sql").read_text(encoding="utf-8")
    literal = re.search(r"\{\{- return\((\{.*?\})\) -\}\}", macro, re.S)
    assert literal, "pinterest_source_fields' dict literal"
    assert {e: tuple(f) for e, f in ast.literal_eval(literal[1]).items()} == SOURCE_FIELDS


def test_silver_keeps_only_the_accepted_json_types(duck: Built) -> None:
    """The build passes (the rejected values are warnings, never errors); every drawn value (every
    field, every JSON type, the same on every run) is in silver as the reference cleans it."""
    _assert_build_passes(duck)
    drawn = draw_values()
    assert draw_values() == drawn  # the same records on every run
    assert {(entity, field, kind) for entity, field, kind, _ in drawn} == {
        (entity, field, kind) for entity, field in FIELDS for kind in JSON_TYPES
    }
    assert all(json_type(value) == "n" for *_, kind, value in drawn if kind == "null")
    assert all(
        json_type(value) == "f" and value.is_integer()
        for *_, kind, value in drawn
        if kind == "integral float"
    )
    rows = {entity: duckdb_rows(duck.warehouse, entity) for entity in SILVER}
    assert mismatches(duck.cases, rows) == []


def test_the_live_models_clean_alike(duck: Built) -> None:
    """The live views (over the stream tables) hold the reference's values too, and every cleaned
    column equals the batch model's."""
    live = {
        entity: duckdb_rows(duck.warehouse, entity, live=True, data_dir=duck.data_dir) for entity in SILVER
    }
    assert mismatches(duck.cases, live) == []
    for entity in SILVER:
        assert live[entity] == duckdb_rows(duck.warehouse, entity), entity


def _rejected_texts(cases: list[Case]) -> set[str]:
    """The bronze text of every value delivered as a type its field does not accept, less any text
    that also arrived as an accepted string."""
    rejected, kept = set(), set()
    for case in cases:
        for fields in [*case.overrides.values(), *_normal_post(case.index).values()]:
            for field, value in fields.items():
                if value is None:
                    continue
                if accepted(field, value):
                    if isinstance(value, str):
                        kept.add(value)
                else:
                    rejected.add(render(value))
    return rejected - kept


def test_gold_never_holds_the_text_of_a_rejected_value(duck: Built) -> None:
    rejected = _rejected_texts(duck.cases)
    assert '{"x":1}' in rejected and "true" in rejected
    found = []
    with duckdb.connect(str(duck.warehouse), read_only=True) as connection:
        columns = connection.sql(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_schema in ('silver', 'gold') and data_type = 'VARCHAR' "
            "and table_name not like '%live%'"
        ).fetchall()
        for schema, table, column in columns:
            values = connection.sql(f'select distinct "{column}" from {schema}."{table}"').fetchall()
            found += [f"{schema}.{table}.{column}: {v!r}" for (v,) in values if v in rejected]
        # every post is complete: gold.posts holds each with the reference's values
        posts = connection.sql(
            "select ind, poster_name, country, user_name, age, follower_count, downloaded from gold.posts"
        ).fetchall()
    assert found == []
    by_index = {row[0]: row[1:] for row in posts}
    assert len(by_index) == len(duck.cases) + 1
    for case in duck.cases:
        expected = case.expected()
        poster, country, user_name, age, followers, downloaded = by_index[case.index]
        pin, geo, user = expected.get("pin", {}), expected.get("geo", {}), expected.get("user", {})
        normal = _normal_post(case.index)
        assert poster == pin.get("poster_name", normal["pin"]["poster_name"]), case
        assert country == geo.get("country", normal["geo"]["country"]), case
        assert user_name == user.get("user_name", f"Test User{case.index}"), case
        assert age == user.get("age", 30), case
        assert followers == pin.get("follower_count", 12_000), case
        assert downloaded == pin.get("downloaded", 1), case


def test_warnings_count_the_rejected_values(duck: Built) -> None:
    expected = {entity: sum(case.lost().get(entity, 0) for case in duck.cases) for entity in SILVER}
    assert expected["pin"] and expected["geo"] and expected["user"]
    results = support.run_results(duck.work)
    counted = {}
    for entity, model in SILVER.items():
        (result,) = [
            r
            for uid, r in results.items()
            if uid.startswith("test.pinpipe.no_values_lost_in_cleaning") and f"_{model}_" in uid
        ]
        counted[entity] = (result["status"], result["failures"])
    assert counted == {entity: ("warn", n) for entity, n in expected.items()}


def test_the_issue_values_are_null_and_age_30_0_is_30(duck: Built) -> None:
    """Issue 28, case 4: a country {"name":"France"} and a poster name {"x":1} never reach
    gold.top_poster_by_country, a user name is never `{"a":1} ["b"]`, and age 30.0 (or 3e1) is 30."""
    with duckdb.connect(str(duck.warehouse), read_only=True) as connection:

        def one(sql: str) -> Any:
            return connection.sql(sql).fetchall()

        assert one(f"select poster_name from silver.stg_pinterest__pins where ind = {ISSUE_INDEX}") == [
            (None,)
        ]
        assert one(f"select country, latitude from silver.stg_pinterest__geos where ind = {ISSUE_INDEX}") == [
            (None, 10.5)
        ]
        assert one(
            "select user_name, first_name, last_name, age from silver.stg_pinterest__users "
            f"where ind = {ISSUE_INDEX}"
        ) == [(None, None, None, 30)]
        assert one(
            f"select user_name, age from silver.stg_pinterest__users where ind = {EXPONENT_INDEX}"
        ) == [("Exp Onent", 30)]
        assert one(
            "select count(*) from gold.top_poster_by_country "
            """where country = '{"name":"France"}' or poster_name = '{"x":1}'"""
        ) == [(0,)]
        assert one(f"select user_name, age, age_group from gold.posts where ind = {ISSUE_INDEX}") == [
            (None, 30, "25-35")
        ]
        assert one("""select count(*) from gold.posts where user_name = '{"a":1} ["b"]'""") == [(0,)]


def test_spark_silver_agrees_with_the_reference_and_duckdb(spark: Built) -> None:
    _assert_build_passes(spark)
    spark_home = spark.data_dir / "spark"
    on_spark = {entity: spark_rows(spark_home, entity) for entity in SILVER}
    assert mismatches(spark.cases, on_spark) == []
    for entity in SILVER:
        assert on_spark[entity] == duckdb_rows(spark.warehouse, entity), f"silver {entity} differs"
    counted = {
        uid: (r["status"], r["failures"])
        for uid, r in support.run_results(spark.work).items()
        if uid.startswith("test.pinpipe.no_values_lost_in_cleaning")
    }
    expected = {entity: sum(case.lost().get(entity, 0) for case in spark.cases) for entity in SILVER}
    assert sorted(counted.values()) == sorted(("warn", n) for n in expected.values())
