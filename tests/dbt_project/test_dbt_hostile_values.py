"""Hostile values through the real landing, bronze loader and ``dbt build`` (DuckDB).

Every analysed field receives values that cannot be typed or are absurd (docs/data-contract.md,
"Plausible values"), and the index the int64 edges, leading zeros and a negative number. The build
must pass (warnings only), the absurd values must be NULL in silver and counted by the
``no_values_lost_in_cleaning`` warnings, and gold must ignore them: it equals the independent Python
reference of tests/dbt_support.py, which applies the same plausibility rules.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import dbt_support as support

pytestmark = pytest.mark.slow

SILVER = {"pin": "stg_pinterest__pins", "geo": "stg_pinterest__geos", "user": "stg_pinterest__users"}
GOLD = support.GOLD_ANSWERS
INGESTED_AT = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
RECEIVED = INGESTED_AT.replace(tzinfo=None)


def _post(index: Any, country: str = "Hostileland") -> dict[str, dict[str, Any]]:
    """A normal, complete post (pin, geo, user) at ``index``."""
    return {
        "pin": support.pin_record(index, unique_id="00000000-0000-4000-8000-000000000000", title="a title"),
        "geo": support.geo_record(index, country=country),
        "user": support.user_record(index, first_name="Hostile"),
    }


# (entity, field, value): each cleaned to NULL in silver and counted by the warning, the rest of
# its post intact. One post per value, indexes from 960000.
ABSURD: list[tuple[str, str, Any]] = [
    *[
        ("pin", "follower_count", value)
        for value in [
            "999999999999999",  # parses (15 digits), 10^15: implausible
            "1000000001",
            "1000001k",
            "1001M",
            "99999999999999999999k",
            "99999999999999999999",
            "1e400",
            "NaN",
            "Infinity",
            "-0",
            "１２k",
            "٣٠",
            "k",
            " 12k",
        ]
    ],
    *[("pin", "downloaded", value) for value in [2, "2", "1e10", True, -1, 0.5]],
    *[("pin", "category", value) for value in ["Travel", "travel ", "", "١"]],
    *[("pin", "is_image_or_video", value) for value in ["gif", "IMAGE"]],
    *[
        ("geo", "timestamp", value)
        for value in [
            "9999-99-99",
            "0000-01-01T00:00:00",
            "+275760-09-13",
            "2099-01-01T00:00:00",
            "9999-12-31T23:59:59-14:00",
            "1999-12-31T23:59:59",
            "2008-12-31T23:59:59Z",
            "２０２０-01-01",
            "1e400",
            "",
        ]
    ],
    *[
        ("geo", "latitude", value)
        for value in ["1e999", 1e308, "NaN", "Infinity", "-Infinity", "90.0001", "٣"]
    ],
    *[("geo", "longitude", value) for value in ["1e999", -1e308, "nan", "180.5", "-180.0001"]],
    *[
        ("user", "age", value)
        for value in [120, "120", 101, 12, 0, "1e10", 10_000_000_000, -5, "-0", 30.5, "30.0", "٣٠", True]
    ],
    *[
        ("user", "date_joined", value)
        for value in [
            "2099-01-01T00:00:00",
            "9999-99-99",
            "0000-01-01T00:00:00",
            "+275760-09-13",
            "2008-12-31",
            "1970-01-01T00:00:00Z",
            "2016-02-30T00:00:00",
        ]
    ],
]
ABSURD_INDEX_START = 960_000

# The index edges: kept (int64 max, "007" = 7) or left out of silver (negative: not a post).
KEPT_INDEXES = {9223372036854775807: 9223372036854775807, "007": 7, 0: 0}
DROPPED_INDEXES = [-9223372036854775808, -5, "-1"]


def _hostile_records() -> tuple[dict[str, list[dict[str, Any]]], dict[int, tuple[str, str]]]:
    records: dict[str, list[dict[str, Any]]] = {entity: [] for entity in support.ENTITIES}
    nulls: dict[int, tuple[str, str]] = {}

    def add(post: Mapping[str, dict[str, Any]]) -> None:
        for entity in support.ENTITIES:
            records[entity].append(post[entity])

    for position, (entity, field, value) in enumerate(ABSURD):
        index = ABSURD_INDEX_START + position
        post = _post(index, country=f"Absurdistan {position}")
        post[entity][field] = value
        if field == "follower_count":
            post["pin"]["poster_name"] = "the absurd poster"
        add(post)
        nulls[index] = (entity, field)
    for index in [*KEPT_INDEXES, *DROPPED_INDEXES]:
        post = _post(index, country="Negativia" if index in DROPPED_INDEXES else "Edgeland")
        if index in DROPPED_INDEXES:
            # plausible, and far above the real data's 15M: it would decide Q3 were the post counted
            post["pin"]["follower_count"] = "999M"
        add(post)
    return records, nulls


@dataclass
class Build:
    work: Path
    warehouse: Path
    records: dict[str, list[dict[str, Any]]]
    result: subprocess.CompletedProcess[str]

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.warehouse), read_only=True) as connection:
            return connection.sql(sql).fetchall()


def _build(work: Path, records: dict[str, list[dict[str, Any]]], *args: str) -> Build:
    lake, warehouse = work / "lake", work / "warehouse.duckdb"
    support.land_and_load(lake, records, ingested_at=INGESTED_AT)
    result = support.run_dbt(["build", *args], lake=lake, warehouse=warehouse, work_dir=work)
    return Build(work, warehouse, records, result)


def _lost_counts(build: Build) -> dict[str, tuple[str, int]]:
    results = support.run_results(build.work)
    counted = {}
    for entity, model in SILVER.items():
        (result,) = [
            r
            for uid, r in results.items()
            if uid.startswith("test.pinpipe.no_values_lost_in_cleaning") and f"_{model}_" in uid
        ]
        counted[entity] = (result["status"], result["failures"])
    return counted


def _assert_build_passes(build: Build) -> None:
    output = build.result.stdout[-8000:] + build.result.stderr[-3000:]
    assert build.result.returncode == 0, output
    statuses = {uid: r["status"] for uid, r in support.run_results(build.work).items()}
    assert not [uid for uid, status in statuses.items() if status in ("error", "fail", "skipped")], output


def _assert_gold_matches_reference(build: Build) -> None:
    expected = support.reference_answers(support.reference_posts(build.records, RECEIVED))
    for table, columns in GOLD.items():
        rows = build.query(f"select {', '.join(columns)} from gold.{table}")
        assert sorted(rows) == expected[table], table


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Build:
    raw = support.load_raw_records()
    extra, _ = _hostile_records()
    records = {entity: raw[entity] + extra[entity] for entity in support.ENTITIES}
    return _build(tmp_path_factory.mktemp("hostile"), records)


def test_build_passes_after_hostile_values(hostile: Build) -> None:
    _assert_build_passes(hostile)


def test_absurd_values_are_null_in_silver(hostile: Build) -> None:
    _, nulls = _hostile_records()
    for index, (entity, field) in nulls.items():
        rows = hostile.query(f'select "{field}" from silver.{SILVER[entity]} where ind = {index}')
        assert rows == [(None,)], (index, entity, field, ABSURD[index - ABSURD_INDEX_START][2])
    # the rest of each such post is intact: it is still a post, with its normal values
    rows = hostile.query(
        "select count(*), count(follower_count), count(age) from gold.posts "
        f"where ind between {ABSURD_INDEX_START} and {ABSURD_INDEX_START + len(ABSURD)}"
    )
    follower_nulls = sum(1 for entity, field, _ in ABSURD if field == "follower_count")
    age_nulls = sum(1 for entity, field, _ in ABSURD if field == "age")
    assert rows == [(len(ABSURD), len(ABSURD) - follower_nulls, len(ABSURD) - age_nulls)]
    # latitude or longitude absurd: no coordinates
    for index, (_, field) in nulls.items():
        if field in ("latitude", "longitude"):
            assert hostile.query(
                f"select coordinates from silver.stg_pinterest__geos where ind = {index}"
            ) == [(None,)]


def test_index_edges(hostile: Build) -> None:
    for model in SILVER.values():
        kept = {
            ind
            for (ind,) in hostile.query(f"select ind from silver.{model} where ind in (0, 7) or ind > 10**12")
        }
        assert kept == set(KEPT_INDEXES.values()), model
        assert hostile.query(f"select count(*) from silver.{model} where ind < 0") == [(0,)], model
    assert hostile.query("select count(*) from gold.posts where country = 'Negativia'") == [(0,)]
    assert hostile.query("select count(*) from gold.posts where country = 'Edgeland'") == [(3,)]


def test_warnings_count_every_absurd_value(hostile: Build) -> None:
    expected = {
        entity: sum(1 for e, _, _ in ABSURD if e == entity) + len(DROPPED_INDEXES)
        for entity in support.ENTITIES
    }
    assert _lost_counts(hostile) == {entity: ("warn", n) for entity, n in expected.items()}


def test_gold_ignores_absurd_values(hostile: Build) -> None:
    _assert_gold_matches_reference(hostile)
    ((country, followers),) = hostile.query(
        "select country, follower_count from gold.country_with_top_poster"
    )
    assert not country.startswith(("Absurdistan", "Negativia"))
    assert followers <= 15_000_000  # the real data's largest count
    assert hostile.query(
        "select count(*) from gold.top_poster_by_country where poster_name = 'the absurd poster'"
    ) == [(0,)]
    # ages 120, 101 and 12 have no age group; no join year or post year outside 2009..now
    assert hostile.query(
        "select count(*) from gold.posts where age > 100 or age < 13 or join_year > year(current_date) "
        "or post_year > year(current_date) or join_year < 2009 or post_year < 2009"
    ) == [(0,)]


# --------------------------------------------------------------------------------------------------
# Random values: one batch of drawn values in every analysed field (and random int64 indexes), one
# build. The build must pass and gold must equal the reference.

TEXT = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"-?[0-9]{1,25}[kM]?", fullmatch=True),
    st.integers().map(str),
    st.floats().map(str),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(lambda d: d.isoformat()),
    st.datetimes(min_value=datetime(2005, 1, 1), max_value=datetime(2030, 1, 1)).map(lambda d: d.isoformat()),
    st.sampled_from(["", "0", "18", "13", "100", "travel", "image", "1000000000", "1000000k", "1000M"]),
)
POST = st.fixed_dictionaries(
    {
        "index": st.integers(min_value=-(2**63), max_value=2**63 - 1),
        "follower_count": TEXT,
        "poster_name": st.sampled_from(["p1", "p2", "User Info Error"]) | st.text(max_size=10),
        "category": TEXT,
        "downloaded": TEXT,
        "country": st.sampled_from(["A", "B"]) | st.text(min_size=1, max_size=10),
        "timestamp": TEXT,
        "latitude": TEXT,
        "longitude": TEXT,
        "age": TEXT,
        "date_joined": TEXT,
        "first_name": st.text(min_size=1, max_size=10),
    }
)


@settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(drawn=st.lists(POST, min_size=40, max_size=40, unique_by=lambda p: p["index"]))
def test_random_values_never_fail_the_build(drawn: Sequence[dict[str, Any]], tmp_path_factory: Any) -> None:
    records = support.load_raw_records()
    for values in drawn:
        post = _post(values["index"], country=values["country"])
        for entity in support.ENTITIES:
            for field, value in values.items():
                if field in post[entity] and field not in ("index", "ind"):
                    post[entity][field] = value
            records[entity].append(post[entity])
    build = _build(tmp_path_factory.mktemp("random"), records, "--exclude-resource-type", "unit_test")
    _assert_build_passes(build)
    _assert_gold_matches_reference(build)
    for model in SILVER.values():
        assert build.query(f"select count(*) from silver.{model} where ind < 0") == [(0,)]
