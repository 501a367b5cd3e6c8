"""Tests of the source-database generator: determinism, chunk independence, realism, tiny sizes, meta."""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from emulator import vocab
from emulator.generate import (
    BLOCK_ROWS,
    GENERATOR_VERSION,
    GenerationReport,
    SourceGenerator,
    existing_generation,
    generate_columns,
    generate_source_db,
)
from emulator.schema import META_VERSION, TABLES, source_meta

REALISM_ROWS = 20_000
PLACEHOLDER_COLUMNS = ("title", "description", "poster_name", "follower_count", "tag_list", "image_src")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
FOLLOWERS = re.compile(r"^(\d+|\d+k|\d+M|User Info Error)$")
IMAGE_URL = re.compile(r"^https://i\.pinimg\.com/originals/(\w\w)/(\w\w)/(\w\w)/([0-9a-f]{32})\.(jpg|png)$")
VIDEO_URL = re.compile(
    r"^https://i\.pinimg\.com/videos/thumbnails/originals/(\w\w)/(\w\w)/(\w\w)/([0-9a-f]{32})\.0000001\.jpg$"
)


def _sqlite_url(path: Path) -> str:
    """SQLAlchemy URL of an SQLite file."""
    return f"sqlite:///{path}"


def _rows(columns: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Turn one entity's columns into a list of row tuples of plain Python values."""
    lists = [v.tolist() if isinstance(v, np.ndarray) else list(v) for v in columns.values()]
    return list(zip(*lists, strict=True))


def _dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Read every source table ordered by its index column."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                entity: [tuple(r) for r in conn.execute(sa.select(t).order_by(t.c[0]))]
                for entity, t in TABLES.items()
            }
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def cols() -> dict[str, dict[str, Any]]:
    """Columns of a 20k-row database with seed 0."""
    return generate_columns(REALISM_ROWS, seed=0)


@pytest.fixture(scope="module")
def small_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of a 3,000-row SQLite source database with seed 7."""
    url = _sqlite_url(tmp_path_factory.mktemp("src") / "source.db")
    generate_source_db(url, rows=3_000, seed=7)
    return url


# --- shape --------------------------------------------------------------------------------------------


def test_columns_follow_the_schema(cols: dict[str, dict[str, Any]]) -> None:
    assert set(cols) == {"pin", "geo", "user"}
    for entity, table in TABLES.items():
        assert list(cols[entity]) == [c.name for c in table.columns]
        assert all(len(v) == REALISM_ROWS for v in cols[entity].values())
    assert cols["pin"]["index"].tolist() == list(range(REALISM_ROWS))
    assert cols["geo"]["ind"].tolist() == list(range(REALISM_ROWS))
    assert cols["user"]["ind"].tolist() == list(range(REALISM_ROWS))


def test_schema_column_order() -> None:
    assert [c.name for c in TABLES["pin"].columns] == [
        "index", "unique_id", "title", "description", "poster_name", "follower_count", "tag_list",
        "is_image_or_video", "image_src", "downloaded", "save_location", "category",
    ]  # fmt: skip
    assert [c.name for c in TABLES["geo"].columns] == ["ind", "timestamp", "latitude", "longitude", "country"]
    assert [c.name for c in TABLES["user"].columns] == [
        "ind",
        "first_name",
        "last_name",
        "age",
        "date_joined",
    ]


# --- determinism and chunk independence ----------------------------------------------------------------


def test_same_seed_same_columns_different_seed_different() -> None:
    a, b, c = (generate_columns(500, seed) for seed in (3, 3, 4))
    for entity in TABLES:
        assert _rows(a[entity]) == _rows(b[entity])
        assert _rows(a[entity]) != _rows(c[entity])


def test_rows_do_not_depend_on_chunking() -> None:
    rows = BLOCK_ROWS + 5_000
    whole = generate_columns(rows, seed=11)
    cuts = [0, 1, 17, BLOCK_ROWS - 1, BLOCK_ROWS, BLOCK_ROWS + 1, BLOCK_ROWS + 4_321, rows]
    gen = SourceGenerator(rows, seed=11)
    pieces = [gen.columns(lo, hi) for lo, hi in itertools.pairwise(cuts)]
    for entity in TABLES:
        joined = [row for piece in pieces for row in _rows(piece[entity])]
        assert joined == _rows(whole[entity])
    window = generate_columns(rows, seed=11, start=BLOCK_ROWS - 3, stop=BLOCK_ROWS + 3)
    for entity in TABLES:
        assert _rows(window[entity]) == _rows(whole[entity])[BLOCK_ROWS - 3 : BLOCK_ROWS + 3]


def test_empty_and_invalid_ranges() -> None:
    empty = generate_columns(10, seed=0, start=4, stop=4)
    assert all(len(v) == 0 for cols in empty.values() for v in cols.values())
    with pytest.raises(ValueError):
        generate_columns(10, seed=0, start=5, stop=11)
    with pytest.raises(ValueError):
        generate_columns(10, seed=0, start=6, stop=5)
    with pytest.raises(ValueError):
        generate_columns(0, seed=0)
    with pytest.raises(ValueError):
        generate_columns(10, seed=-1)


def test_same_seed_gives_identical_database(tmp_path: Path, small_db: str) -> None:
    again = _sqlite_url(tmp_path / "again.db")
    other = _sqlite_url(tmp_path / "other.db")
    generate_source_db(again, rows=3_000, seed=7)
    generate_source_db(other, rows=3_000, seed=8)
    first, second, third = _dump(small_db), _dump(again), _dump(other)
    for entity in TABLES:
        assert len(first[entity]) == 3_000
        assert first[entity] == second[entity]
        assert first[entity] != third[entity]


def test_database_matches_generate_columns(small_db: str) -> None:
    dumped = _dump(small_db)
    expected = generate_columns(3_000, seed=7, start=100, stop=110)
    for entity in TABLES:
        assert dumped[entity][100:110] == _rows(expected[entity])


def test_database_types(small_db: str) -> None:
    dumped = _dump(small_db)
    pin, geo, user = dumped["pin"][0], dumped["geo"][0], dumped["user"][0]
    assert isinstance(pin[0], int) and isinstance(pin[5], str) and pin[9] in (0, 1)
    assert isinstance(geo[1], dt.datetime) and geo[1].tzinfo is None and geo[1].microsecond == 0
    assert isinstance(geo[2], float) and isinstance(geo[3], float) and isinstance(geo[4], str)
    assert isinstance(user[3], int) and isinstance(user[4], dt.datetime) and user[4].tzinfo is None


# --- realism -----------------------------------------------------------------------------------------


def test_categories_are_all_present_and_fairly_even(cols: dict[str, dict[str, Any]]) -> None:
    counts = collections.Counter(cols["pin"]["category"])
    assert set(counts) == set(vocab.CATEGORIES) and len(counts) == 13
    for category, n in counts.items():
        assert 0.04 < n / REALISM_ROWS < 0.12, category


def test_save_location_matches_category(cols: dict[str, dict[str, Any]]) -> None:
    pin = cols["pin"]
    for location, category in zip(pin["save_location"], pin["category"], strict=True):
        assert location == f"Local save in /data/{category}"


def test_media_kinds_and_downloaded(cols: dict[str, dict[str, Any]]) -> None:
    pin = cols["pin"]
    shares = collections.Counter(pin["is_image_or_video"])
    assert set(shares) == {vocab.KIND_IMAGE, vocab.KIND_STORY, vocab.KIND_VIDEO}
    assert 0.86 < shares[vocab.KIND_IMAGE] / REALISM_ROWS < 0.93
    assert 0.05 < shares[vocab.KIND_STORY] / REALISM_ROWS < 0.09
    assert 0.015 < shares[vocab.KIND_VIDEO] / REALISM_ROWS < 0.045
    assert set(pin["downloaded"].tolist()) == {0, 1}


def test_every_placeholder_appears_also_outside_all_error_rows(cols: dict[str, dict[str, Any]]) -> None:
    pin = cols["pin"]
    ok = pin["downloaded"] == 1
    expected = {
        "title": [vocab.TITLE_PLACEHOLDER],
        "description": [vocab.DESCRIPTION_PLACEHOLDER, vocab.DESCRIPTION_STORY_PLACEHOLDER],
        "poster_name": [vocab.POSTER_NAME_PLACEHOLDER],
        "follower_count": [vocab.FOLLOWER_COUNT_PLACEHOLDER],
        "tag_list": [vocab.TAG_LIST_PLACEHOLDER],
        "image_src": [vocab.IMAGE_SRC_PLACEHOLDER],
    }
    for column, placeholders in expected.items():
        values = np.array(pin[column], dtype=object)
        for placeholder in placeholders:
            alone = int(((values == placeholder) & ok).sum())
            assert alone > 0, (column, placeholder)
            assert alone / REALISM_ROWS < 0.07, (column, placeholder)


def test_placeholder_constants_are_exact() -> None:
    assert vocab.TITLE_PLACEHOLDER == "No Title Data Available"
    assert vocab.DESCRIPTION_STORY_PLACEHOLDER == "No description available Story format"
    assert vocab.DESCRIPTION_PLACEHOLDER == "No description available"
    assert vocab.POSTER_NAME_PLACEHOLDER == vocab.FOLLOWER_COUNT_PLACEHOLDER == "User Info Error"
    assert vocab.TAG_LIST_PLACEHOLDER == "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"
    assert vocab.IMAGE_SRC_PLACEHOLDER == "Image src error."
    assert vocab.SAVE_LOCATION_PREFIX == "Local save in "


def test_all_error_rows(cols: dict[str, dict[str, Any]]) -> None:
    pin = cols["pin"]
    placeholders = {
        "title": {vocab.TITLE_PLACEHOLDER},
        "description": {vocab.DESCRIPTION_PLACEHOLDER, vocab.DESCRIPTION_STORY_PLACEHOLDER},
        "poster_name": {vocab.POSTER_NAME_PLACEHOLDER},
        "follower_count": {vocab.FOLLOWER_COUNT_PLACEHOLDER},
        "tag_list": {vocab.TAG_LIST_PLACEHOLDER},
        "image_src": {vocab.IMAGE_SRC_PLACEHOLDER},
    }
    all_error = [
        i for i in range(REALISM_ROWS) if all(pin[c][i] in placeholders[c] for c in PLACEHOLDER_COLUMNS)
    ]
    downloaded_zero = np.flatnonzero(pin["downloaded"] == 0).tolist()
    assert all_error == downloaded_zero
    assert 0.005 < len(all_error) / REALISM_ROWS < 0.025
    assert {pin["is_image_or_video"][i] for i in all_error} == {vocab.KIND_STORY}


def test_follower_counts(cols: dict[str, dict[str, Any]]) -> None:
    values = cols["pin"]["follower_count"]
    assert all(FOLLOWERS.match(v) for v in values)
    assert "0" in values
    assert any(v.endswith("k") for v in values) and any(v.endswith("M") for v in values)
    assert max(int(v[:-1]) for v in values if v.endswith("M")) <= 15
    assert all(not v.startswith("0") or v == "0" for v in values)
    assert all(int(v[:-1]) < 1000 for v in values if v.endswith("k"))


def test_poster_keeps_one_follower_count(cols: dict[str, dict[str, Any]]) -> None:
    seen: dict[str, set[str]] = collections.defaultdict(set)
    for name, followers in zip(cols["pin"]["poster_name"], cols["pin"]["follower_count"], strict=True):
        if name != vocab.POSTER_NAME_PLACEHOLDER and followers != vocab.FOLLOWER_COUNT_PLACEHOLDER:
            seen[name].add(followers)
    assert all(len(v) == 1 for v in seen.values())
    assert sum(1 for name in cols["pin"]["poster_name"] if name in seen) > len(seen)  # posters recur


def test_text_fields(cols: dict[str, dict[str, Any]]) -> None:
    pin = cols["pin"]
    assert all(UUID4.match(u) for u in pin["unique_id"])
    assert len(set(pin["unique_id"])) == REALISM_ROWS
    tags = [t for t in pin["tag_list"] if t != vocab.TAG_LIST_PLACEHOLDER]
    assert all(", " not in t and len(t.split(",")) >= 3 for t in tags)
    descriptions = pin["description"]
    assert max(len(d) for d in descriptions) <= 182
    truncated = [d for d in descriptions if d.endswith("…\u00a0")]
    assert 0.1 < len(truncated) / REALISM_ROWS < 0.7
    assert all(0 < len(t) <= 255 for t in pin["title"])


def test_image_src_shapes(cols: dict[str, dict[str, Any]]) -> None:
    pin = cols["pin"]
    for src, kind in zip(pin["image_src"], pin["is_image_or_video"], strict=True):
        if src == vocab.IMAGE_SRC_PLACEHOLDER:
            continue
        match = (IMAGE_URL if kind == vocab.KIND_IMAGE else VIDEO_URL).match(src)
        assert match, (kind, src)
        assert "".join(match.group(1, 2, 3)) == match.group(4)[:6]
    assert any(s.endswith(".png") for s in pin["image_src"])


def test_user_domains(cols: dict[str, dict[str, Any]]) -> None:
    user = cols["user"]
    ages = user["age"]
    assert ages.min() >= 20 and ages.max() <= 60
    assert collections.Counter(ages.tolist()).most_common(1)[0][0] == 20
    joined = user["date_joined"]
    assert joined.dtype == np.dtype("datetime64[s]")
    assert joined.min() >= np.datetime64("2015-10-01") and joined.max() < np.datetime64("2017-11-01")
    assert {str(d)[:4] for d in joined} == {"2015", "2016", "2017"}


def test_geo_domains(cols: dict[str, dict[str, Any]]) -> None:
    geo = cols["geo"]
    ts = geo["timestamp"]
    assert ts.dtype == np.dtype("datetime64[s]")
    assert ts.min() >= np.datetime64("2017-10-01") and ts.max() < np.datetime64("2022-11-01")
    years = collections.Counter(str(t)[:4] for t in ts)
    assert set(years) == {"2017", "2018", "2019", "2020", "2021", "2022"}
    assert years["2017"] < years["2018"] / 2  # 2017 is sparse
    lat, lon = geo["latitude"], geo["longitude"]
    assert lat.min() >= -90 and lat.max() <= 90 and lon.min() >= -180 and lon.max() <= 180
    assert all(len(repr(x).split(".")[1]) <= 6 for x in lat.tolist() + lon.tolist())
    countries = collections.Counter(geo["country"])
    assert set(countries) <= set(vocab.COUNTRIES) and len(countries) > 150
    a_share = sum(n for c, n in countries.items() if c.startswith("A")) / REALISM_ROWS
    assert a_share > 0.2  # skewed toward names starting with A


def test_people_recur_with_one_place(cols: dict[str, dict[str, Any]]) -> None:
    user, geo = cols["user"], cols["geo"]
    people = zip(
        user["first_name"], user["last_name"], user["age"].tolist(), user["date_joined"].tolist(), strict=True
    )
    places = zip(geo["latitude"].tolist(), geo["longitude"].tolist(), geo["country"], strict=True)
    seen: dict[tuple[Any, ...], set[tuple[Any, ...]]] = collections.defaultdict(set)
    appearances: collections.Counter[tuple[Any, ...]] = collections.Counter()
    for person, place in zip(people, places, strict=True):
        seen[person].add(place)
        appearances[person] += 1
    assert all(len(p) == 1 for p in seen.values())
    assert len(seen) <= REALISM_ROWS // 8
    assert appearances.most_common(1)[0][1] >= 10


def test_vocab_sizes() -> None:
    assert len(vocab.CATEGORIES) == 13
    assert len(set(vocab.COUNTRIES)) == len(vocab.COUNTRIES) == 243
    assert all(len(w.tags) >= 9 for w in vocab.CATEGORY_WORDS.values())


# --- tiny sizes and the database -----------------------------------------------------------------------


@pytest.mark.parametrize("rows", [1, 3])
def test_tiny_sizes(tmp_path: Path, rows: int) -> None:
    columns = generate_columns(rows, seed=5)
    assert all(len(v) == rows for c in columns.values() for v in c.values())
    url = _sqlite_url(tmp_path / "tiny.db")
    calls: list[int] = []
    report = generate_source_db(url, rows=rows, seed=5, progress=calls.append)
    assert isinstance(report, GenerationReport)
    assert (report.rows, report.seed, report.url) == (rows, 5, url) and report.seconds >= 0
    assert calls == [rows]
    dumped = _dump(url)
    for entity in TABLES:
        assert _rows(columns[entity])[0][0] == 0
        assert [r[0] for r in dumped[entity]] == list(range(rows))
    assert existing_generation(url) == (rows, 5)


def test_progress_per_chunk_and_regeneration(tmp_path: Path) -> None:
    url = _sqlite_url(tmp_path / "chunks.db")
    calls: list[int] = []
    generate_source_db(url, rows=BLOCK_ROWS + 10, seed=1, progress=calls.append)
    assert calls == [BLOCK_ROWS, BLOCK_ROWS + 10]
    generate_source_db(url, rows=20, seed=2)  # drops and re-creates
    assert existing_generation(url) == (20, 2)
    assert [len(rows) for rows in _dump(url).values()] == [20, 20, 20]
    assert not Path(str(tmp_path / "chunks.db-wal")).exists()


def test_meta_table_round_trip(tmp_path: Path, small_db: str) -> None:
    assert existing_generation(small_db) == (3_000, 7)
    missing = tmp_path / "missing.db"
    assert existing_generation(_sqlite_url(missing)) is None
    assert not missing.exists()  # looking does not create the file
    url = _sqlite_url(tmp_path / "stale.db")
    generate_source_db(url, rows=5, seed=9)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(source_meta.update().where(source_meta.c.key == META_VERSION).values(value="old"))
    assert existing_generation(url) is None
    with engine.begin() as conn:
        conn.execute(
            source_meta.update().where(source_meta.c.key == META_VERSION).values(value=GENERATOR_VERSION)
        )
    assert existing_generation(url) == (5, 9)
    with engine.begin() as conn:
        source_meta.drop(conn)
    engine.dispose()
    assert existing_generation(url) is None
