"""Helpers for the dbt project's tests: records through the real landing and bronze loader, a dbt
runner, and an independent Python reference of the cleaning rules and the gold answers."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingestion.bronze.batch import LoadReport
from ingestion.bronze.loader import BronzeLoader
from ingestion.lake import Lake
from ingestion.landing import LandingWriter, next_offsets
from ingestion.settings import ENTITIES, INDEX_FIELD, Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
FIXTURES = REPO_ROOT / "tests" / "fixtures"
DBT_EXECUTABLE = Path(sys.executable).parent / "dbt"

GOLD_ANSWERS: dict[str, tuple[str, ...]] = {
    "most_popular_category_by_country": ("country", "category", "category_count"),
    "most_popular_category_by_year": ("post_year", "category", "category_count"),
    "top_poster_by_country": ("country", "poster_name", "follower_count"),
    "country_with_top_poster": ("country", "follower_count"),
    "most_popular_category_by_age_group": ("age_group", "category", "category_count"),
    "median_follower_count_by_age_group": ("age_group", "median_follower_count"),
    "users_joined_by_year": ("join_year", "number_users_joined"),
    "median_follower_count_by_join_year": ("join_year", "median_follower_count"),
    "median_follower_count_by_age_group_and_join_year": ("age_group", "join_year", "median_follower_count"),
}
"""The nine answer tables of schema gold and their columns, in order."""
SQLFLUFF_EXECUTABLE = Path(sys.executable).parent / "sqlfluff"


def pin_record(index: Any, **overrides: Any) -> dict[str, Any]:
    """A plausible pin record at ``index``; ``overrides`` replace fields."""
    record = {
        "index": index,
        "unique_id": overrides.get("unique_id") or f"00000000-0000-4000-8000-{index:012d}",
        "title": f"title {index}",
        "description": "a description",
        "poster_name": f"poster {index}",
        "follower_count": "12k",
        "tag_list": "a,b",
        "is_image_or_video": "image",
        "image_src": "https://i.pinimg.com/originals/aa/bb/cc/x.jpg",
        "downloaded": 1,
        "save_location": "Local save in /data/travel",
        "category": "travel",
    }
    record.update(overrides)
    return record


def geo_record(ind: Any, **overrides: Any) -> dict[str, Any]:
    """A plausible geo record at ``ind``; ``overrides`` replace fields."""
    record = {
        "ind": ind,
        "timestamp": "2021-03-04T05:06:07",
        "latitude": 10.5,
        "longitude": -20.25,
        "country": "Testland",
    }
    record.update(overrides)
    return record


def user_record(ind: Any, **overrides: Any) -> dict[str, Any]:
    """A plausible user record at ``ind``; ``overrides`` replace fields."""
    record = {
        "ind": ind,
        "first_name": "Test",
        "last_name": f"User{ind}",
        "age": 30,
        "date_joined": "2016-01-02T03:04:05",
    }
    record.update(overrides)
    return record


DEFAULT_UID = "0a5040edb649"


def land_and_load(
    lake: Path | str,
    records: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    ingested_at: datetime | None = None,
    raw_lines: Mapping[str, Sequence[bytes]] | None = None,
    topic_id: str | None = None,
) -> LoadReport:
    """Land ``records`` (JSON objects) and ``raw_lines`` (any bytes) through the real raw landing,
    after what the topics already hold, and load them with the real bronze loader.

    ``ingested_at`` fixes the load's ``_ingested_at`` (to replay an old load). ``topic_id`` lands them
    in a new incarnation of the topics (a Kafka topic created again): under that ID, from offset 0.
    """
    settings = Settings(data_dir=Path(str(lake)).parent, lake=str(lake), uid=DEFAULT_UID)
    lake_ = Lake(settings.lake)
    writer = LandingWriter(lake_, flush_records=5_000)
    for entity in ENTITIES:
        topic = settings.topic(entity)
        lines = [json.dumps(r, ensure_ascii=False).encode() for r in records.get(entity, [])]
        lines += list((raw_lines or {}).get(entity, []))
        writer.set_topic_id(topic, topic_id)
        start = 0 if topic_id is not None else next_offsets(lake_, topic).get(0, 0)
        for position, line in enumerate(lines):
            writer.add(topic, 0, start + position, line)
    writer.flush_all()
    return BronzeLoader(settings, clock=(lambda: ingested_at) if ingested_at else None).load()


def load_raw_records() -> dict[str, list[dict[str, Any]]]:
    """Raw pin, geo and user records (with duplicates), by entity: as landed by another implementation
    of the same AWS/Databricks Pinterest pipeline (its source is named in the fixture file)."""
    data = json.loads((FIXTURES / "peer_raw_records.json").read_text(encoding="utf-8"))
    return {entity: list(data["records"][entity]) for entity in ENTITIES}


def load_seed_rows() -> dict[str, dict[int, dict[str, Any]]]:
    """The cleaned rows of the original AWS/Databricks pipeline this project re-implements (see
    docs/data-contract.md; the fixture file names its source), by entity and index."""
    data = json.loads((FIXTURES / "seed_clean_rows.json").read_text(encoding="utf-8"))
    return {entity: {row["ind"]: row for row in data["rows"][entity]} for entity in ENTITIES}


# --------------------------------------------------------------------------------------------------
# Running dbt


def dbt_env(lake: Path | str, warehouse: Path | str) -> dict[str, str]:
    """Process environment for a dbt call on the duckdb target against ``lake`` and ``warehouse``."""
    env = dict(os.environ)
    env.update(
        {
            "PINPIPE_LAKE": str(lake),
            "PINPIPE_WAREHOUSE": str(warehouse),
            "PINPIPE_DBT_TARGET": "duckdb",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DO_NOT_TRACK": "1",
        }
    )
    return env


def run_dbt(
    args: Sequence[str],
    *,
    lake: Path | str,
    warehouse: Path | str,
    work_dir: Path | str,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``dbt <args>`` from the repository root with target and log paths under ``work_dir``."""
    work = Path(work_dir)
    command = [
        str(DBT_EXECUTABLE),
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(REPO_ROOT),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
    ]
    result = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env=dbt_env(lake, warehouse),
        capture_output=True,
        text=True,
        check=False,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def run_results(work_dir: Path | str) -> dict[str, dict[str, Any]]:
    """The last invocation's run_results.json, by unique_id."""
    data = json.loads((Path(work_dir) / "target" / "run_results.json").read_text(encoding="utf-8"))
    return {result["unique_id"]: result for result in data["results"]}


# --------------------------------------------------------------------------------------------------
# An independent reference of the cleaning rules and the analytics semantics (plain Python, written
# from docs/data-contract.md, not from the SQL).

PLACEHOLDERS = {
    "title": {"No Title Data Available"},
    "poster_name": {"User Info Error"},
    "follower_count": {"User Info Error"},
    "tag_list": {"N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"},
    "image_src": {"Image src error."},
}
CATEGORIES = {
    "art",
    "beauty",
    "christmas",
    "diy-and-crafts",
    "education",
    "event-planning",
    "finance",
    "home-decor",
    "mens-fashion",
    "quotes",
    "tattoos",
    "travel",
    "vehicles",
}


# Plausible values (docs/data-contract.md#plausible-values).
MAX_FOLLOWER_COUNT = 1_000_000_000
AGE_RANGE = (13, 100)
EARLIEST_TIMESTAMP = datetime(2009, 1, 1)
ISO_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,9})?)?)?"
    r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?",
    re.ASCII,
)


def reference_follower_count(value: Any) -> int | None:
    """'46k' -> 46000, '6M' -> 6000000, '437' -> 437, '0' -> 0, more than a billion or anything
    else -> None."""
    if not isinstance(value, str) or not value:
        return None
    multiplier = {"k": 1_000, "M": 1_000_000}.get(value[-1], 1)
    digits = value[:-1] if multiplier > 1 else value
    # at most 15 digits, 12 before `k`, 9 before `M` (a bigint cannot overflow)
    max_digits = {1: 15, 1_000: 12, 1_000_000: 9}[multiplier]
    if not digits.isascii() or not digits.isdigit() or len(digits) > max_digits:
        return None
    count = int(digits) * multiplier
    return count if count <= MAX_FOLLOWER_COUNT else None


def reference_posts(
    records: Mapping[str, Sequence[Mapping[str, Any]]], received_at: datetime | None = None
) -> list[dict[str, Any]]:
    """Clean the first delivery of each record and join pin, geo and user on the index.

    ``received_at`` is when the records reached bronze (naive UTC; default now): no timestamp is
    plausible after it. A negative index is not a post.
    """
    received = received_at or datetime.now(UTC).replace(tzinfo=None)
    firsts: dict[str, dict[int, Mapping[str, Any]]] = {}
    for entity in ENTITIES:
        firsts[entity] = {}
        for record in records[entity]:
            index = int(record[INDEX_FIELD[entity]])
            if index >= 0:
                firsts[entity].setdefault(index, record)
    posts = []
    for ind in sorted(set(firsts["pin"]) & set(firsts["geo"]) & set(firsts["user"])):
        pin, geo, user = firsts["pin"][ind], firsts["geo"][ind], firsts["user"][ind]
        follower_count = (
            None
            if pin["follower_count"] in PLACEHOLDERS["follower_count"]
            else reference_follower_count(pin["follower_count"])
        )
        category = pin["category"] if pin["category"] in CATEGORIES else None
        poster = None if pin["poster_name"] in PLACEHOLDERS["poster_name"] else pin["poster_name"]
        posted = reference_timestamp(geo["timestamp"], received)
        joined = reference_timestamp(user["date_joined"], received)
        age = reference_age(user["age"])
        posts.append(
            {
                "ind": ind,
                "category": category,
                "poster_name": poster,
                "follower_count": follower_count,
                "country": geo["country"],
                "post_year": posted.year if posted else None,
                "user_name": f"{user['first_name']} {user['last_name']}",
                "age": age,
                "age_group": reference_age_group(age),
                "date_joined": joined,
                "join_year": joined.year if joined else None,
            }
        )
    return posts


def reference_timestamp(value: Any, received_at: datetime | None = None) -> datetime | None:
    """ISO-8601 text -> naive UTC datetime; None when it does not parse or is implausible (before
    2009-01-01 or after ``received_at``)."""
    if not isinstance(value, str) or not ISO_TIMESTAMP.fullmatch(value):
        return None
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    except (TypeError, ValueError, OverflowError):
        return None
    if parsed < EARLIEST_TIMESTAMP or (received_at is not None and parsed > received_at):
        return None
    return parsed


def reference_age(value: Any) -> int | None:
    """An integer age in 13..100, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 3:
        value = int(value)
    return value if isinstance(value, int) and AGE_RANGE[0] <= value <= AGE_RANGE[1] else None


def reference_age_group(age: int | None) -> str | None:
    if age is None or age < 18:
        return None
    if age <= 24:
        return "18-24"
    if age <= 35:
        return "25-35"
    if age <= 50:
        return "36-50"
    return "+50"


def lower_median(values: Iterable[int]) -> int:
    """The value at position ceil(n/2) (1-based) of the ascending values."""
    ordered = sorted(values)
    return ordered[math.ceil(len(ordered) / 2) - 1]


def _top(counts: Mapping[tuple[Any, Any], int]) -> dict[Any, tuple[Any, int]]:
    """For (group, item) -> n, the item with the largest n per group; ties to the smallest item."""
    best: dict[Any, tuple[Any, int]] = {}
    for (group, item), n in counts.items():
        current = best.get(group)
        if current is None or n > current[1] or (n == current[1] and item < current[0]):
            best[group] = (item, n)
    return best


def reference_answers(posts: Sequence[Mapping[str, Any]]) -> dict[str, list[tuple[Any, ...]]]:
    """The nine answers (eight questions) under the semantics of docs/data-contract.md, as sorted
    lists of tuples."""
    answers: dict[str, list[tuple[Any, ...]]] = {}

    def count_by(group_key: str, rows: Iterable[Mapping[str, Any]]) -> dict[tuple[Any, Any], int]:
        counts: dict[tuple[Any, Any], int] = {}
        for row in rows:
            if row[group_key] is None or row["category"] is None:
                continue
            key = (row[group_key], row["category"])
            counts[key] = counts.get(key, 0) + 1
        return counts

    top = _top(count_by("country", posts))
    answers["most_popular_category_by_country"] = sorted((g, c, n) for g, (c, n) in top.items())
    in_years = [p for p in posts if p["post_year"] is not None and 2018 <= p["post_year"] <= 2022]
    top = _top(count_by("post_year", in_years))
    answers["most_popular_category_by_year"] = sorted((g, c, n) for g, (c, n) in top.items())

    best_poster: dict[tuple[Any, Any], int] = {}
    for p in posts:
        if p["country"] is None or p["poster_name"] is None or p["follower_count"] is None:
            continue
        key = (p["country"], p["poster_name"])
        best_poster[key] = max(best_poster.get(key, -1), p["follower_count"])
    top = _top(best_poster)
    answers["top_poster_by_country"] = sorted((g, c, n) for g, (c, n) in top.items())
    winner = min(top.items(), key=lambda item: (-item[1][1], item[0]))
    answers["country_with_top_poster"] = [(winner[0], winner[1][1])]

    top = _top(count_by("age_group", posts))
    answers["most_popular_category_by_age_group"] = sorted((g, c, n) for g, (c, n) in top.items())

    def medians(keys: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        groups: dict[tuple[Any, ...], list[int]] = {}
        for row in rows:
            key = tuple(row[k] for k in keys)
            if any(v is None for v in key) or row["follower_count"] is None:
                continue
            groups.setdefault(key, []).append(row["follower_count"])
        return sorted((*key, lower_median(values)) for key, values in groups.items())

    answers["median_follower_count_by_age_group"] = medians(["age_group"], posts)
    joined = [p for p in posts if p["join_year"] is not None and 2015 <= p["join_year"] <= 2020]
    people: dict[int, set[tuple[Any, ...]]] = {}
    for p in joined:
        people.setdefault(p["join_year"], set()).add((p["user_name"], p["age"], p["date_joined"]))
    answers["users_joined_by_year"] = sorted((year, len(ps)) for year, ps in people.items())
    answers["median_follower_count_by_join_year"] = medians(["join_year"], joined)
    answers["median_follower_count_by_age_group_and_join_year"] = medians(["age_group", "join_year"], joined)
    return answers


LOAD_TIME_COLUMNS = frozenset({"_loaded_at", "_posts_loaded_at"})
"""Lineage columns holding when a row was written (gold.posts) or which load of int_posts_joined it
had read (the aggregates behind the answers)."""


def gold_snapshot(
    warehouse: str | Path, normalize: Callable[[Any], Any] | None = None
) -> dict[str, list[tuple[Any, ...]]]:
    """Every gold table's rows, sorted, read the way an analyst would (read-only, nothing else running).

    Without the load-time lineage columns (LOAD_TIME_COLUMNS): the time of a load differs between two
    runs that produce the same data. ``normalize`` maps each value first (e.g. to compare engines).
    """
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as connection:
        columns = connection.execute(
            "select table_name, list(column_name order by ordinal_position) from information_schema.columns "
            "where table_schema = 'gold' group by table_name"
        ).fetchall()
        snapshot = {}
        for table, names in columns:
            listed = ", ".join(c for c in names if c not in LOAD_TIME_COLUMNS)
            rows = connection.execute(f'select {listed} from gold."{table}"').fetchall()
            if normalize is not None:
                rows = [tuple(normalize(v) for v in row) for row in rows]
            snapshot[table] = sorted(rows, key=repr)
        return snapshot
