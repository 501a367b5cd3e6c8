"""The raw landing writer: layout, flush bounds, contiguity, unframeable values."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ingestion.bronze.loader import BronzeLoader
from ingestion.lake import Lake, ObjectConflict
from ingestion.landing import LandingWriter, next_offsets, object_key, parse_object_key, split_lines
from ingestion.settings import Settings


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_object_key_layout_round_trips() -> None:
    key = object_key("0a5040edb649.pin", 3, 1234)
    assert key == "raw/topics/0a5040edb649.pin/partition=3/0a5040edb649.pin+3+0000001234.json"
    parsed = parse_object_key(key)
    assert parsed is not None
    assert (parsed.topic, parsed.partition, parsed.first_offset, parsed.single) == (
        "0a5040edb649.pin",
        3,
        1234,
        False,
    )
    assert parse_object_key("raw/topics/a/partition=0/b+0+0000000000.json") is None
    assert parse_object_key("raw/topics/a/partition=0/a+1+0000000000.json") is None


def test_flush_by_record_count_writes_ndjson_in_offset_order(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    writer = LandingWriter(lake, flush_records=3, flush_seconds=60)
    landed = []
    for offset in range(7):
        landed += writer.add("t", 0, offset, b'{"i": %d}' % offset)
    assert [o.first_offset for o in landed] == [0, 3]
    assert writer.pending() == 1
    landed += writer.flush_all()
    assert [(o.first_offset, o.records) for o in landed] == [(0, 3), (3, 3), (6, 1)]
    assert lake.read_bytes(landed[1].key) == b'{"i": 3}\n{"i": 4}\n{"i": 5}\n'
    assert split_lines(lake.read_bytes(landed[2].key)) == [b'{"i": 6}']


def test_flush_by_bytes_and_by_age(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    clock = FakeClock()
    writer = LandingWriter(lake, flush_records=1000, flush_bytes=1024, flush_seconds=5, clock=clock)
    assert writer.add("t", 0, 0, b"x" * 600) == []
    assert len(writer.add("t", 0, 1, b"y" * 600)) == 1  # 1202 bytes >= 1024
    writer.add("t", 1, 10, b"z")
    clock.now = 4.9
    assert writer.flush_due() == []
    clock.now = 5.0
    (due,) = writer.flush_due()
    assert (due.partition, due.first_offset, due.records) == (1, 10, 1)


def test_gap_in_offsets_starts_a_new_object(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    writer = LandingWriter(lake, flush_records=100)
    writer.add("t", 0, 0, b"{}")
    writer.add("t", 0, 1, b"{}")
    landed = writer.add("t", 0, 5, b"{}") + writer.flush_all()
    assert [(o.first_offset, o.records) for o in landed] == [(0, 2), (5, 1)]


def test_value_with_newline_is_landed_alone_untouched(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    writer = LandingWriter(lake, flush_records=100)
    writer.add("t", 0, 0, b'{"a": 1}')
    landed = writer.add("t", 0, 1, b'{\n"a": 2}') + writer.add("t", 0, 2, b'{"a": 3}') + writer.flush_all()
    assert [(o.first_offset, o.records, o.key.endswith(".bin")) for o in landed] == [
        (0, 1, False),
        (1, 1, True),
        (2, 1, False),
    ]
    assert lake.read_bytes(landed[1].key) == b'{\n"a": 2}'


def test_rewrite_of_same_range_keeps_the_one_object(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    for _ in range(2):
        writer = LandingWriter(lake, flush_records=10)
        for offset in range(4):
            writer.add("t", 0, offset, b"{}")
        writer.flush_all()
    assert [o.key for o in lake.list("raw/")] == [object_key("t", 0, 0)]
    assert not any(".tmp-" in str(p) for p in tmp_path.rglob("*"))


def test_an_object_is_never_replaced_by_other_records(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    first = LandingWriter(lake, flush_records=10)
    first.add("t", 0, 0, b'{"from": "lake sink"}')
    first.add("t", 0, 1, b"{\n}")
    first.flush_all()
    other = LandingWriter(lake, flush_records=10)
    other.add("t", 0, 0, b'{"from": "kafka"}')
    with pytest.raises(ObjectConflict, match=r"t\+0\+0000000000\.json exists with other records"):
        other.flush_all()
    with pytest.raises(ObjectConflict, match=r"t\+0\+0000000001\.bin"):
        other.add("t", 0, 1, b"{\n\n}")
    assert lake.read_bytes(object_key("t", 0, 0)) == b'{"from": "lake sink"}\n'
    assert lake.read_bytes(object_key("t", 0, 1, single=True)) == b"{\n}"
    assert not any(".tmp-" in str(p) for p in tmp_path.rglob("*"))


def test_a_retry_cut_elsewhere_lands_only_what_is_missing(tmp_path: Path) -> None:
    """A Kafka landing that crashed before its commit lands the same offsets again, possibly cut into
    other objects (time-based flushes): the records already landed are skipped, never rewritten."""
    lake = Lake(str(tmp_path))
    values = [b'{"i": %d}' % i for i in range(8)]
    before = LandingWriter(lake, flush_records=3)
    for offset in range(3):
        before.add("t", 0, offset, values[offset])
    retry = LandingWriter(lake, flush_records=100)
    for offset in range(6):
        retry.add("t", 0, offset, values[offset])
    (landed,) = retry.flush_all()
    assert (landed.first_offset, landed.records) == (0, 6)
    assert {o.key: lake.read_bytes(o.key) for o in lake.list("raw/")} == {
        object_key("t", 0, 0): b"".join(v + b"\n" for v in values[0:3]),
        object_key("t", 0, 3): b"".join(v + b"\n" for v in values[3:6]),
    }
    shorter = LandingWriter(lake, flush_records=100)  # a retry that holds less than was landed
    for offset in range(2):
        shorter.add("t", 0, offset, values[offset])
    shorter.flush_all()
    assert len(list(lake.list("raw/"))) == 2
    assert next_offsets(lake, "t") == {0: 6}


def test_write_once_accepts_the_same_bytes_only(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    assert lake.write_once("raw/x.json", b"a\n") is True
    assert lake.write_once("raw/x.json", b"a\n") is False
    with pytest.raises(ObjectConflict, match=r"raw/x\.json exists with other bytes"):
        lake.write_once("raw/x.json", b"b\n")
    assert lake.read_bytes("raw/x.json") == b"a\n"
    assert lake.create_bytes("raw/x.json", b"c") is False


def test_next_offsets_continue_after_the_last_object(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    writer = LandingWriter(lake, flush_records=4)
    for offset in range(10):
        writer.add("t", 0, offset, b"{}")
    writer.add("t", 2, 0, b"{\n}")
    writer.flush_all()
    assert next_offsets(lake, "t") == {0: 10, 2: 1}
    assert next_offsets(lake, "other") == {}


def test_objects_follow_the_umask_and_stale_temp_files_are_swept(tmp_path: Path) -> None:
    """Landing objects get the mode of any file the user writes (not mkstemp's 0600), and the
    temporary file a killed writer left is removed by the next bronze load; a fresh one stays."""
    settings = Settings(data_dir=tmp_path / "data")
    lake = Lake(settings.lake)
    previous = os.umask(0o027)
    try:
        assert lake.write_once("raw/topics/a/partition=0/a+0+0000000000.json", b"{}\n")
    finally:
        os.umask(previous)
    mode = (Path(settings.lake) / "raw/topics/a/partition=0/a+0+0000000000.json").stat().st_mode & 0o777
    assert mode == 0o640
    folder = Path(settings.lake) / "raw/topics/a/partition=0"
    stale, fresh = folder / ".tmp-killed.json", folder / ".tmp-live.json"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    report = BronzeLoader(settings).load()
    assert report.stale_temp_files_removed == 1
    assert not stale.exists() and fresh.exists()


@pytest.mark.parametrize("seed", range(6))
def test_add_run_lands_the_same_objects_as_one_add_per_value(tmp_path: Path, seed: int) -> None:
    """The Kafka landing's batch path (``add_run``) cuts objects exactly where ``add`` does: by records,
    by bytes, at offset gaps, and around values with a newline (their own ``.bin`` objects)."""
    import random

    rng = random.Random(seed)
    bounds = {"flush_records": rng.choice([5, 50, 1000]), "flush_bytes": rng.choice([1024, 1500, 2500])}
    runs = []
    offset = 0
    for _ in range(40):
        values = [
            b"x" * rng.randint(0, 300) + (b"\n" if rng.random() < 0.03 else b"")
            for _ in range(rng.randint(1, 30))
        ]
        runs.append((rng.choice(["t1", "t2"]), offset, values))
        offset += len(values) + (5 if rng.random() < 0.1 else 0)  # sometimes a gap
    results = []
    for name, batched in (("one", False), ("run", True)):
        lake = Lake(str(tmp_path / name))
        writer = LandingWriter(lake, flush_seconds=3600, **bounds)
        landed = []
        for topic, first, values in runs:
            if batched:
                landed += writer.add_run(topic, 0, first, values)
            else:
                for i, value in enumerate(values):
                    landed += writer.add(topic, 0, first + i, value)
        landed += writer.flush_all()
        results.append((landed, {o.key: lake.read_bytes(o.key) for o in landed}))
    assert results[0] == results[1]
    assert len(results[0][0]) > 10
