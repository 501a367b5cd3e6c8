"""Bronze loader: real records round-trip unchanged, reloads add nothing, bad input is quarantined."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from ingestion.bronze.loader import BronzeLoader
from ingestion.bronze.records import render
from ingestion.bronze.tables import read_table
from ingestion.lake import Lake
from ingestion.landing import LandingWriter, object_key
from ingestion.settings import ENTITIES, INDEX_FIELD, SOURCE_FIELDS, Settings


def land(settings: Settings, entity: str, values: list[bytes], *, partition: int = 0, first: int = 0) -> None:
    writer = LandingWriter(Lake(settings.lake), flush_records=50)
    for i, value in enumerate(values):
        writer.add(settings.topic(entity), partition, first + i, value)
    writer.flush_all()


def rows_by_offset(settings: Settings, name: str) -> dict[tuple[str, int, int], dict[str, Any]]:
    table = read_table(settings, name).to_pylist()
    return {(r["_topic"], r["_partition"], r["_offset"]): r for r in table}


def test_real_records_round_trip_unchanged(settings: Settings, peer_records: dict[str, list[dict]]) -> None:
    landed: dict[str, list[bytes]] = {}
    for entity in ENTITIES:
        landed[entity] = [json.dumps(r, ensure_ascii=False).encode() for r in peer_records[entity]]
        land(settings, entity, landed[entity])
    report = BronzeLoader(settings).load()
    assert report.loaded == {e: 137 for e in ENTITIES}
    assert (report.quarantined, report.duplicates) == (0, 0)
    for entity in ENTITIES:
        rows = rows_by_offset(settings, entity)
        assert len(rows) == 137
        for offset, raw in enumerate(landed[entity]):
            row = rows[(settings.topic(entity), 0, offset)]
            assert row["_raw_json"].encode() == raw
            assert row["_source"] == "kafka"
            assert row["_landing_object"].startswith(f"raw/topics/{settings.topic(entity)}/partition=0/")
            record = peer_records[entity][offset]
            for name in SOURCE_FIELDS[entity]:
                assert row[name] == render(record.get(name)), (entity, offset, name)
        assert rows[(settings.topic(entity), 0, 0)][INDEX_FIELD[entity]] == str(
            peer_records[entity][0][INDEX_FIELD[entity]]
        )


def test_render_keeps_the_delivered_text() -> None:
    assert render("10k") == "10k"
    assert render(7528) == "7528"
    assert render(-88.4642) == "-88.4642"
    assert render(True) == "true"
    assert render(None) is None
    assert render({"a": [1, 2]}) == '{"a":[1,2]}'


def test_reload_adds_nothing_and_counts_skips(settings: Settings) -> None:
    land(settings, "geo", [b'{"ind": %d, "country": "X"}' % i for i in range(120)])
    first = BronzeLoader(settings).load()
    assert first.loaded["geo"] == 120 and first.objects_loaded == 3
    again = BronzeLoader(settings).load()
    assert (again.records_loaded, again.objects_loaded, again.objects_skipped) == (0, 0, 3)
    assert len(read_table(settings, "geo")) == 120


def test_rewritten_and_overlapping_objects_add_only_new_offsets(settings: Settings) -> None:
    lake = Lake(settings.lake)
    topic = settings.topic("user")
    lake.write_bytes(object_key(topic, 0, 0), b'{"ind": 0}\n{"ind": 1}\n')
    BronzeLoader(settings).load()
    # A crash-and-redeliver rewrites the object from the same first offset with more records,
    # and an overlapping object repeats offsets 2..3.
    lake.write_bytes(object_key(topic, 0, 0), b'{"ind": 0}\n{"ind": 1}\n{"ind": 2}\n')
    lake.write_bytes(object_key(topic, 0, 2), b'{"ind": 2}\n{"ind": 3}\n')
    report = BronzeLoader(settings).load()
    assert (report.loaded["user"], report.duplicates) == (2, 3)
    offsets = sorted(r[2] for r in rows_by_offset(settings, "user"))
    assert offsets == [0, 1, 2, 3]


BAD_INPUT = [
    (b"\xff\xfe not utf-8", "not valid UTF-8"),
    (b'{"index": 1, "title": "cut', "not valid JSON"),
    (b"[1, 2, 3]", "JSON array is not an object"),
    (b'"just a string"', "JSON string is not an object"),
    (b'{"title": "no index"}', "missing index field 'index'"),
    (b'{"index": null}', "missing index field 'index'"),
    (b'{"index": "abc"}', "index field 'index' is not an integer"),
    (b'{"index": 1.5}', "index field 'index' is not an integer"),
    (b"", "empty record"),
    (b'{"index": 9, "description": "' + b"x" * 2_000_000 + b'"}', "larger than the limit"),
    (b'{"index": NaN}', "not valid JSON"),
]


@pytest.mark.parametrize(("raw", "reason"), BAD_INPUT, ids=[r for _, r in BAD_INPUT])
def test_bad_record_goes_to_quarantine_and_the_rest_loads(
    settings: Settings, raw: bytes, reason: str
) -> None:
    good = [b'{"index": 1, "category": "art"}', b'{"index": 2, "category": "diy"}']
    land(settings, "pin", [good[0], raw, good[1]])
    report = BronzeLoader(settings).load()
    assert (report.loaded["pin"], report.quarantined) == (2, 1)
    (row,) = read_table(settings, "quarantine").to_pylist()
    assert reason in row["reason"]
    assert row["raw_bytes"] == raw
    assert (row["_topic"], row["_partition"], row["_offset"]) == (settings.topic("pin"), 0, 1)
    assert sorted(r["index"] for r in read_table(settings, "pin").to_pylist()) == ["1", "2"]
    assert BronzeLoader(settings).load().quarantined == 0  # not quarantined twice


def test_unframeable_value_and_unknown_fields_are_kept(settings: Settings) -> None:
    land(settings, "pin", [b'{"index": 5,\n "category": "art", "extra": {"k": [1]}}', b'{"index": 6}'])
    report = BronzeLoader(settings).load()
    assert report.loaded["pin"] == 2
    rows = sorted(read_table(settings, "pin").to_pylist(), key=lambda r: r["_offset"])
    assert rows[0]["category"] == "art"
    assert orjson.loads(rows[0]["_raw_json"])["extra"] == {"k": [1]}
    assert rows[0]["_landing_object"].endswith("+0000000000.bin")


def test_objects_of_other_uids_are_left_alone_and_stray_files_are_quarantined(settings: Settings) -> None:
    lake = Lake(settings.lake)
    lake.write_bytes(object_key("ffffffffffff.pin", 0, 0), b'{"index": 1}\n')
    lake.write_bytes("raw/topics/notes.txt", b"hello\nworld\n")
    report = BronzeLoader(settings).load()
    assert (report.objects_ignored, report.objects_unrecognised, report.records_loaded) == (1, 1, 0)
    assert report.ignored == [f"{object_key('ffffffffffff.pin', 0, 0)} (a topic of another uid)"]
    assert report.unrecognised == ["raw/topics/notes.txt"]
    rows = read_table(settings, "quarantine").to_pylist()
    assert sorted(r["raw_bytes"] for r in rows) == [b"hello", b"world"]
    assert {r["reason"].split(":")[0] for r in rows} == {"unrecognised_object"}


def test_compaction_keeps_every_row(settings: Settings) -> None:
    from ingestion.bronze.loader import compact

    loader = BronzeLoader(settings)
    for batch in range(3):
        land(settings, "geo", [b'{"ind": %d}' % (batch * 10 + i) for i in range(10)], first=batch * 10)
        loader.load()
    metrics = compact(settings, ["geo"])
    assert metrics["geo"]["numFilesRemoved"] >= 3
    assert sorted(r["_offset"] for r in read_table(settings, "geo").to_pylist()) == list(range(30))
