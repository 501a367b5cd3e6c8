"""The bulk bronze loader loads exactly what the per-line loader loads.

The same landing objects (real records, hostile records, arbitrary bytes; objects entirely clean,
entirely bad and mixed; rewritten and overlapping objects) go through both loaders
(``PINPIPE_BRONZE_LOADER=bulk|per-line``), and every bronze table, the quarantine and the ledger are
compared row by row, all columns, in any order. A faster property test compares the bulk parser of
one object with the per-line parser on each of its lines.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion.bronze import bulk as bronze_bulk
from ingestion.bronze.bulk import bulk_parse
from ingestion.bronze.loader import BronzeLoader
from ingestion.bronze.records import Rejected, parse_record, render
from ingestion.bronze.tables import LEDGER, LOADERS, QUARANTINE, read_table
from ingestion.lake import Lake
from ingestion.landing import UTF8_BOM, object_key, split_lines, strip_bom
from ingestion.settings import ENTITIES, INDEX_FIELD, SOURCE_FIELDS, Settings
from tests.ingestion.bronze.test_bronze import BAD_INPUT
from tests.ingestion.bronze.test_bronze_hostile_input import (
    ACCEPTED_KEYS,
    ANY_TEXT,
    HYPOTHESIS,
    INNER_TEXT,
    REFUSED_KEYS,
    encode,
    pin,
    records,
)

NOW = datetime(2024, 5, 17, 12, 0, tzinfo=UTC)
MANY = settings(HYPOTHESIS, max_examples=int(os.environ.get("PINPIPE_BULK_EXAMPLES", "300")))
"""For the parser-level properties (no Delta table): cheap, so many more examples."""
TABLES = (*ENTITIES, QUARANTINE, LEDGER)


@contextmanager
def lake_of(objects: dict[str, bytes]) -> Iterator[Settings]:
    """A fresh lake holding these landing objects (key → bytes, written as they are)."""
    with tempfile.TemporaryDirectory(prefix="pinpipe-bulk-") as folder:
        settings = Settings(data_dir=Path(folder) / "data", uid="0a5040edb649")
        lake = Lake(settings.lake)
        for key, data in objects.items():
            lake.write_bytes(key, data)
        yield settings


def rows(settings: Settings, name: str) -> list[tuple[Any, ...]]:
    """Every row of a table, all columns, in a canonical order."""
    table = read_table(settings, name)
    return sorted((tuple(row.items()) for row in table.to_pylist()), key=repr)


def load(settings: Settings, loader: str, batch_records: int | None = None) -> dict[str, Any]:
    bronze = BronzeLoader(settings, clock=lambda: NOW, loader=loader)
    if batch_records:
        bronze.batch_records = batch_records
    return asdict(bronze.load())


def assert_same_bronze(
    objects: dict[str, bytes], batch_records: int | None = None, reloads: list[dict[str, bytes]] | None = None
) -> dict[str, list[tuple[Any, ...]]]:
    """Load the objects with both loaders (then each batch of ``reloads`` on top); compare everything."""
    results = {}
    for loader in LOADERS:
        with lake_of(objects) as settings:
            reports = [load(settings, loader, batch_records)]
            for more in reloads or []:
                lake = Lake(settings.lake)
                for key, data in more.items():
                    lake.write_bytes(key, data)
                reports.append(load(settings, loader, batch_records))
            results[loader] = (reports, {name: rows(settings, name) for name in TABLES})
    (bulk_reports, bulk), (line_reports, per_line) = results["bulk"], results["per-line"]
    assert bulk_reports == line_reports
    for name in TABLES:
        assert bulk[name] == per_line[name], name
    return bulk


def key(settings_uid: str, entity: str, first: int, partition: int = 0, *, single: bool = False) -> str:
    return object_key(f"{settings_uid}.{entity}", partition, first, single=single)


UID = "0a5040edb649"


def ndjson(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def peer_lines(peer_records: dict[str, list[dict]], entity: str, *, ascii_only: bool = False) -> list[bytes]:
    return [json.dumps(r, ensure_ascii=ascii_only).encode() for r in peer_records[entity]]


HOSTILE_PIN_LINES = [
    *(pin(index, category=b'"art"') for index, _ in REFUSED_KEYS),
    *(pin(index) for index, _ in ACCEPTED_KEYS),
    *(raw for raw, _ in BAD_INPUT),
    pin(b"3", title=b'"\\ud83d"'),
    pin(b"3", title=b'"\\ude00\\ud83d"'),
    pin(b"3", title=b'"\\ud83d\\ude00 a valid pair"'),
    pin(b"3", title=b'"\xed\xa0\xbd"'),
    pin(b"3", title=b'"\xc3"'),
    b'{"index": 3, "\\ud83d": "in a key"}',
    UTF8_BOM + pin(b"4"),
    pin(b"5") + b"\r",
    b" " + pin(b"5"),
    pin(b"6", extra=b"NaN"),
    pin(b"6", extra=b"[1, -Infinity]"),
    pin(b"6", title=b'"a: Inf, b: NaN"'),
    pin(b"7", extra=b"[" * 400 + b"1" + b"]" * 400),
    pin(b"7", tag_list=b"[" * 300 + b"1" + b"]" * 300),
    pin(b"8", follower_count=b"123456789012345678901234567890"),
    pin(b"8", downloaded=b"18446744073709551615"),
    pin(b"8", downloaded=b"1.0"),
    pin(b"8", downloaded=b"true"),
    pin(b"9", title=b"null", description=b'"\\u0000\\n\\t\\"\\\\\\/"'),
    b'{"index": 10, "index": 11}',
    b'{"index": 10, "title": "a", "title": "b"}',
    b'{"index": 10, "extra": 1, "extra": 2}',
    b'{"index": 12, "title": "x"} {"index": 13}',
    b'{"index": 12,}',
    b'{"index": 12, "extra": {"a": 1,}}',
    b"{}",
    b"{",
    b"}",
    b"{}}",
    b'{"index": -0}',
    b'{"\\u0069ndex": 14}',
]
HOSTILE_GEO_LINES = [
    b'{"ind": 1, "latitude": -88.4642, "longitude": -171.061}',
    b'{"ind": 2, "latitude": -90, "longitude": 180.0}',
    b'{"ind": 3, "latitude": 1e-05, "longitude": 1.5e300}',
    b'{"ind": 4, "latitude": 0.1e1, "longitude": -0.0}',
    b'{"ind": 5, "latitude": 123456789.123456789, "longitude": 0.000123}',
    b'{"ind": 6, "latitude": 12345678901234567.5, "longitude": 5e-324}',
    b'{"ind": 7, "latitude": 1e400, "longitude": 2}',
    b'{"ind": 8, "latitude": NaN}',
    b'{"ind": 9, "latitude": "12.5", "longitude": null}',
    b'{"ind": 10, "latitude": 1.7976931348623157e308, "longitude": 9007199254740993}',
    b'{"ind": "007", "country": "X"}',
    b'{"ind": 11, "timestamp": 20200101}',
]


def test_real_and_hostile_records_load_alike(peer_records: dict[str, list[dict]]) -> None:
    objects: dict[str, bytes] = {}
    for entity in ENTITIES:
        clean = peer_lines(peer_records, entity)
        objects[key(UID, entity, 0)] = ndjson(clean)  # entirely clean
        escaped = peer_lines(peer_records, entity, ascii_only=True)
        objects[key(UID, entity, 0, partition=1)] = ndjson(escaped)  # \\u escapes
    hostile = HOSTILE_PIN_LINES
    objects[key(UID, "pin", 137)] = ndjson([*peer_lines(peer_records, "pin")[:40], *hostile])  # mixed
    objects[key(UID, "pin", 137 + 40 + len(hostile))] = ndjson([raw for raw, _ in BAD_INPUT])  # all bad
    objects[key(UID, "geo", 137)] = ndjson(HOSTILE_GEO_LINES)
    objects[key(UID, "user", 137)] = ndjson([b'{"ind": 1, "age": 20.5}', b'{"ind": 2, "age": "20"}'])
    objects[key(UID, "user", 139)] = b'{"ind": 3}\n\n{"ind": 4}'  # an empty line, no final newline
    objects[key(UID, "user", 142)] = UTF8_BOM + b'{"ind": 5}\n{"ind": 6}\n'
    objects[key(UID, "user", 144, single=True)] = b'{"ind": 7,\n "first_name": "a"}'
    objects[key(UID, "user", 145)] = b'{"ind": 8}\r\n{"ind": 9}\r\n'
    objects[key(UID, "user", 147)] = b""
    objects[key(UID, "user", 148)] = b"\n"
    # each hostile line alone among clean ones: the bulk parser either sends just that line to the
    # per-line path or refuses the object
    first, mixed = 10_000, 0
    for entity, hostile_lines in (("pin", HOSTILE_PIN_LINES), ("geo", HOSTILE_GEO_LINES)):
        clean = peer_lines(peer_records, entity)
        for i, line in enumerate(hostile_lines):
            data = ndjson([*clean[i % 100 : i % 100 + 3], line, *clean[i % 100 + 3 : i % 100 + 6]])
            objects[key(UID, entity, first)] = data
            first += len(split_lines(data))
            mixed += bulk_parse(entity, data, 0, Settings().max_record_bytes) is not None
    assert mixed >= 25  # the typed rows and the per-line rows of one object are put together
    tables = assert_same_bronze(objects)
    assert len(tables["pin"]) > 137 * 2 and len(tables[QUARANTINE]) > len(BAD_INPUT) * 2


def test_overlapping_and_rewritten_objects_keep_the_same_delivery(
    peer_records: dict[str, list[dict]],
) -> None:
    """Repeated offsets within a batch and across loads: the same row is kept by both loaders."""
    lines = peer_lines(peer_records, "pin")
    changed = [line.replace(b'"category": "', b'"category": "x') for line in lines]
    objects = {
        key(UID, "pin", 0): ndjson(lines[:50]),
        key(UID, "pin", 30): ndjson(changed[30:80]),  # overlaps offsets 30..49 with other bytes
        key(UID, "pin", 60): ndjson([b"bad", *changed[61:70], b'{"index": "1.5"}']),  # overlaps again
        key(UID, "pin", 75, single=True): lines[75],
        key(UID, "geo", 0): ndjson(peer_lines(peer_records, "geo")),
    }
    rewritten = {
        key(UID, "pin", 0): ndjson(lines[:100]),  # a rewrite of the first object, longer
        key(UID, "pin", 90): ndjson([b"not json", *lines[91:120]]),
    }
    for batch_records in (None, 40):  # one commit, and a commit every object or so
        assert_same_bronze(objects, batch_records=batch_records, reloads=[rewritten])


@pytest.mark.parametrize("entity", ENTITIES)
def test_an_object_of_only_clean_records_is_parsed_in_bulk(
    entity: str, peer_records: dict[str, list[dict]]
) -> None:
    lines = peer_lines(peer_records, entity)
    bulk = bulk_parse(entity, ndjson(lines), 100, 1 << 20)
    assert bulk is not None and bulk.records == len(lines)
    moved = [line for _, line in bulk.per_line]  # only integral floats (a JSON 5 and 5.0 type alike)
    assert all(b".0," in line or b".0}" in line for line in moved)
    assert bulk.table.num_rows + len(moved) == len(lines)


def assert_bulk_agrees(entity: str, data: bytes, max_bytes: int = 1 << 20) -> None:
    """The bulk parser against the per-line parser, line by line, on one object."""
    values = split_lines(data)
    bulk = bulk_parse(entity, data, 1000, max_bytes)
    if bulk is None:  # the whole object goes line by line
        return
    assert bulk.records == len(values)
    assert [values[i] for i, _ in bulk.per_line] == [raw for _, raw in bulk.per_line]
    typed = bulk.table.to_pylist()
    assert sorted([row["_offset"] - 1000 for row in typed] + [i for i, _ in bulk.per_line]) == list(
        range(len(values))
    )
    for row in typed:
        raw = values[row["_offset"] - 1000]
        try:
            record = parse_record(raw, INDEX_FIELD[entity], max_bytes)
        except Rejected as rejected:
            pytest.fail(f"bulk loaded {raw!r}, the per-line path quarantines it: {rejected}")
        assert row["_raw_json"] == strip_bom(raw).decode()
        for name in SOURCE_FIELDS[entity]:
            assert row[name] == render(record.get(name)), (name, raw)


LINE_BYTES = st.one_of(
    st.binary(max_size=60),
    st.sampled_from([*HOSTILE_PIN_LINES[:60], *HOSTILE_GEO_LINES]),
    st.builds(lambda text: pin(b"1", title=json.dumps(text).encode("utf-8", "surrogatepass")), ANY_TEXT),
    st.builds(
        lambda text: ('{"index": 2, "title": "' + text + '"}').encode("utf-8", "surrogatepass"), INNER_TEXT
    ),
)


@MANY
@given(
    data=st.data(),
    entity=st.sampled_from(ENTITIES),
    mode=st.sampled_from(["valid", "clean", "wild"]),
    ascii_only=st.booleans(),
)
def test_bulk_parser_agrees_with_the_per_line_parser(
    data: st.DataObject, entity: str, mode: str, ascii_only: bool
) -> None:
    values = data.draw(st.lists(records(entity, mode), min_size=1, max_size=8))
    lines = [encode(v, ascii_only).replace(b"\n", b" ") for v in values]
    lines += data.draw(st.lists(LINE_BYTES, max_size=3))
    lines = [line.replace(b"\n", b" ") for line in lines]
    assert_bulk_agrees(entity, b"\n".join(lines) + data.draw(st.sampled_from([b"", b"\n"])))


@MANY
@given(
    lat=st.floats(allow_nan=False, allow_infinity=False),
    lon=st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(), st.none()),
    text=st.sampled_from(["{!r}", "{:.17g}", "{:e}", "{:.3f}"]),
)
def test_float_fields_keep_the_per_line_text(lat: float, lon: float | int | None, text: str) -> None:
    value = repr(lat) if text == "{!r}" else text.format(lat)
    if not math.isfinite(float(value)) or value in ("inf", "-inf"):
        return
    line = b'{"ind": 1, "latitude": %s, "longitude": %s}' % (value.encode(), json.dumps(lon).encode())
    assert_bulk_agrees("geo", line + b"\n")


@HYPOTHESIS
@given(
    objects=st.lists(
        st.one_of(
            st.binary(max_size=200),
            st.lists(LINE_BYTES, max_size=6).map(lambda lines: b"\n".join(lines)),
        ),
        min_size=1,
        max_size=4,
    ),
    entity=st.sampled_from(ENTITIES),
)
def test_arbitrary_bytes_load_alike(objects: list[bytes], entity: str) -> None:
    """Whole objects of arbitrary bytes and of hostile lines, through both loaders."""
    landing, first = {}, 0
    for data in objects:
        landing[key(UID, entity, first)] = data
        first += max(1, len(split_lines(data)))
    assert_same_bronze(landing)


@HYPOTHESIS
@given(
    data=st.data(),
    entity=st.sampled_from(ENTITIES),
    mode=st.sampled_from(["valid", "clean", "wild"]),
    ascii_only=st.booleans(),
)
def test_arbitrary_records_load_alike(data: st.DataObject, entity: str, mode: str, ascii_only: bool) -> None:
    values = data.draw(st.lists(records(entity, mode), min_size=1, max_size=8))
    lines = [encode(v, ascii_only) for v in values]
    landing: dict[str, bytes] = {}
    first = 0
    for size in data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)):
        chunk, lines = lines[:size], lines[size:]
        if not chunk:
            break
        single = len(chunk) == 1 and b"\n" in chunk[0]
        landing[key(UID, entity, first, single=single)] = chunk[0] if single else ndjson(chunk)
        first += len(chunk) if not single else 1
    assert_same_bronze(landing)


def test_the_loader_setting(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    assert BronzeLoader(settings).loader == "bulk"
    monkeypatch.setenv("PINPIPE_BRONZE_LOADER", "per-line")
    monkeypatch.setenv("PINPIPE_BRONZE_BATCH_RECORDS", "1_000")
    monkeypatch.setenv("PINPIPE_BRONZE_BATCH_BYTES", "65536")
    loader = BronzeLoader(Settings(data_dir=settings.data_dir))
    assert (loader.loader, loader.batch_records, loader.batch_bytes) == ("per-line", 1000, 65536)
    monkeypatch.setenv("PINPIPE_BRONZE_LOADER", "fast")
    with pytest.raises(Exception, match="expected one of bulk, per-line"):
        Settings(data_dir=settings.data_dir)


def test_batches_are_bounded_by_bytes(settings: Settings, peer_records: dict[str, list[dict]]) -> None:
    """A commit holds at most ``batch_bytes`` of landing objects (one object at least)."""
    lake = Lake(settings.lake)
    lines = peer_lines(peer_records, "pin")
    for first in range(0, 137, 10):
        lake.write_bytes(key(UID, "pin", first), ndjson(lines[first : first + 10]))
    loader = BronzeLoader(settings, clock=lambda: NOW)
    loader.batch_bytes = 20_000
    commits = []
    real = loader._commit
    loader._commit = lambda batch, report: (commits.append(batch.bytes), real(batch, report))  # type: ignore[method-assign]
    report = loader.load()
    assert report.loaded["pin"] == 137
    assert len(commits) > 3 and all(size < 20_000 + 10_000 for size in commits)


@pytest.mark.parametrize("where", ["local", "s3"])
def test_appends_cut_into_parts_land_every_row_once(
    where: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    peer_records: dict[str, list[dict]],
) -> None:
    """A commit's appends cut into parts written side by side (concurrent commits to one table, on a
    local lake and on S3) hold the same rows as one append per table, overlaps and reloads included."""
    lines = peer_lines(peer_records, "pin")
    objects = {  # pin offsets 0..129 on partition 0, 10..59 on partition 1
        **{key(UID, "pin", first): ndjson(lines[first : first + 40]) for first in range(0, 100, 30)},
        key(UID, "pin", 10, partition=1): ndjson([b"bad", *lines[11:60]]),
        key(UID, "geo", 0): ndjson(peer_lines(peer_records, "geo")),
        key(UID, "user", 0): ndjson([*peer_lines(peer_records, "user"), b'{"ind": "1.5"}']),
    }
    rewritten_key, rewritten = key(UID, "pin", 0), ndjson(lines[:137])
    with lake_of(objects) as settings:
        load(settings, "bulk")
        Lake(settings.lake).write_bytes(rewritten_key, rewritten)
        load(settings, "bulk")
        expected = {name: rows(settings, name) for name in TABLES}
    monkeypatch.setenv("PINPIPE_BRONZE_PART_BYTES", "1")  # every table cut into 2 parts per core
    with lake_of({}) as local:
        settings = local
        if where == "s3":
            request.getfixturevalue("local_aws")
            import boto3

            bucket = f"pinpipe-parts-{uuid.uuid4().hex[:12]}"
            boto3.client("s3").create_bucket(Bucket=bucket)
            settings = Settings(data_dir=local.data_dir, uid=UID, lake=f"s3://{bucket}/lake")
        assert BronzeLoader(settings).part_bytes == 1
        lake = Lake(settings.lake)
        for name, data in objects.items():
            lake.write_bytes(name, data)
        reports = [load(settings, "bulk")]
        lake.write_bytes(rewritten_key, rewritten)
        reports.append(load(settings, "bulk"))
        assert {name: rows(settings, name) for name in TABLES} == expected
        assert reports[1]["loaded"]["pin"] == 7  # offsets 130..136: only those no object held
        history = DeltaTable(lake.uri("bronze/pin"), storage_options=lake.storage_options).history()
        appends = [commit for commit in history if commit.get("operation") == "WRITE"]
        assert len(appends) >= 4  # each of the two loads cut pin into two parts or more


def test_a_part_that_fails_to_append_is_loaded_once_by_the_next_load(
    monkeypatch: pytest.MonkeyPatch, peer_records: dict[str, list[dict]]
) -> None:
    """One part of a commit fails (an I/O error) after others landed: the load fails, the ledger has
    nothing, and the next load adds exactly the missing rows."""
    objects = {
        key(UID, entity, 0): ndjson([*peer_lines(peer_records, entity), b"not json"]) for entity in ENTITIES
    }
    with lake_of(objects) as settings:
        load(settings, "bulk")
        expected = {name: rows(settings, name) for name in TABLES}
    monkeypatch.setenv("PINPIPE_BRONZE_PART_BYTES", "1")
    real_write, pin_parts = BronzeLoader._write, []

    def failing_write(self: BronzeLoader, name: str, table: Any) -> None:
        if name == "pin":
            pin_parts.append(table.num_rows)
            if len(pin_parts) == 2:
                raise OSError(28, "No space left on device")
        real_write(self, name, table)

    with lake_of(objects) as settings:
        monkeypatch.setattr(BronzeLoader, "_write", failing_write)
        with pytest.raises(OSError, match="No space left"):
            load(settings, "bulk")
        assert len(pin_parts) >= 2 and len(read_table(settings, LEDGER)) == 0
        assert 0 < len(rows(settings, "pin")) < len(expected["pin"])  # some parts landed, not all
        landed = sum(len(rows(settings, name)) for name in (*ENTITIES, QUARANTINE))
        monkeypatch.setattr(BronzeLoader, "_write", real_write)
        report = load(settings, "bulk")
        assert report["duplicates"] == landed  # what the failed load committed is not added again
        data_tables = [name for name in TABLES if name != LEDGER]  # the ledger rows carry their load's counts
        assert {name: rows(settings, name) for name in data_tables} == {n: expected[n] for n in data_tables}
        ledger = read_table(settings, LEDGER).to_pylist()
        assert sorted(row["records"] for row in ledger) == sorted(
            len(split_lines(data)) for data in objects.values()
        )


def test_bulk_module_names_its_wire_types() -> None:
    for entity in ENTITIES:
        assert set(bronze_bulk.WIRE_INTEGERS[entity]) <= set(SOURCE_FIELDS[entity])
        assert INDEX_FIELD[entity] in bronze_bulk.WIRE_INTEGERS[entity]
