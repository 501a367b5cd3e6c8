"""Raw is write-once and every writer is alone: real processes against one data folder, and S3 (moto)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devservices.aws import LocalAWS
from ingestion.bronze.tables import LEDGER, read_table
from ingestion.lake import Lake, ObjectConflict
from ingestion.landing import LandingWriter, next_offsets, object_key, parse_object_key, split_lines
from ingestion.locks import LOCKS_PREFIX, LockHeld, S3Lease, WriterLock
from ingestion.settings import ENTITIES, Settings

pytestmark = pytest.mark.integration

EX_TEMPFAIL = 75


def pinpipe(data_dir: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pinpipe", *args],
        env={**os.environ, "PINPIPE_DATA_DIR": str(data_dir), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str]:
    _out, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def wait_for_holder(lock_file: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lock_file.is_file() and lock_file.read_text().strip():
            return
        time.sleep(0.05)
    raise AssertionError(f"nobody took {lock_file}")


HOLDER = textwrap.dedent(
    """
    import sys, time
    from ingestion.lake import Lake
    from ingestion.locks import WriterLock
    lock = WriterLock(Lake(sys.argv[1]), sys.argv[2])
    lock.acquire()
    print("held", flush=True)
    time.sleep(600)
    """
)


def hold_in_child(lake: str, name: str, **env: str) -> subprocess.Popen[str]:
    """A process that takes a lock and sleeps; returns once it holds it."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, lake, name],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


@pytest.fixture(scope="module")
def source_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One small source DB shared by the tests (its URL)."""
    folder = tmp_path_factory.mktemp("source")
    code, err = finish(pinpipe(folder, "db", "build", "--rows", "300"))
    assert code == 0, err
    return f"sqlite:///{folder / 'source.db'}"


def landed_lines(lake: Lake, topic: str) -> list[tuple[int, int, int]]:
    """(partition, first offset, records) of every object of a topic."""
    found = []
    for obj in lake.list(f"raw/topics/{topic}/"):
        parsed = parse_object_key(obj.key)
        assert parsed is not None
        count = 1 if parsed.single else len(split_lines(lake.read_bytes(obj.key)))
        found.append((parsed.partition, parsed.first_offset, count))
    return sorted(found)


def assert_contiguous(lake: Lake, topic: str) -> int:
    """Every partition's objects follow each other without gap or overlap; returns the records."""
    total = 0
    expected: dict[int, int] = {}
    for partition, first, count in landed_lines(lake, topic):
        assert first == expected.get(partition, 0), (topic, partition, first)
        expected[partition] = first + count
        total += count
    return total


# --- the lake sink --------------------------------------------------------------------------------


def test_two_lake_sinks_one_refused_then_serialised_with_wait(settings: Settings, source_db: str) -> None:
    env = {"PINPIPE_SOURCE_DB_URL": source_db}
    lock_file = Path(settings.lake) / "_state" / "locks" / f"lake-sink.{settings.topic('geo')}.lock"
    first = pinpipe(settings.data_dir, "emulate", "--events", "300", "--rate", "50", **env)
    wait_for_holder(lock_file)
    code, err = finish(pinpipe(settings.data_dir, "emulate", "--events", "100", **env))
    assert code == EX_TEMPFAIL, err
    (line,) = err.strip().splitlines()
    assert f"pid {first.pid} on host" in line and "emulate --events 300" in line and " since " in line
    assert finish(first)[0] == 0

    both = [
        pinpipe(settings.data_dir, "emulate", "--events", "200", "--seed", str(seed), "--wait", **env)
        for seed in (1, 2)
    ]
    for proc in both:
        code, err = finish(proc)
        assert code == 0, err
    lake = Lake(settings.lake)
    for entity in ENTITIES:
        assert assert_contiguous(lake, settings.topic(entity)) == 300 + 200 + 200


# --- bronze ---------------------------------------------------------------------------------------


def land(settings: Settings, objects: int, per_object: int = 50) -> None:
    writer = LandingWriter(Lake(settings.lake), flush_records=per_object)
    for offset in range(objects * per_object):
        for entity in ENTITIES:
            field = "index" if entity == "pin" else "ind"
            writer.add(settings.topic(entity), 0, offset, b'{"%s": %d}' % (field.encode(), offset))
    writer.flush_all()


def test_bronze_load_refused_while_held_then_waits_and_loads_once(settings: Settings) -> None:
    land(settings, objects=20)
    lake = Lake(settings.lake)
    with WriterLock(lake, "bronze"):
        code, err = finish(pinpipe(settings.data_dir, "bronze", "load"))
        assert code == EX_TEMPFAIL, err
        (line,) = err.strip().splitlines()
        assert line.startswith("pinpipe: the bronze lock of the lake")
        assert f"pid {os.getpid()} on host" in line and "--wait" in line
        waiting = [pinpipe(settings.data_dir, "--wait", "bronze", "load") for _ in range(2)]
        time.sleep(3)
        assert all(proc.poll() is None for proc in waiting)  # both wait for the test's lock
    for proc in waiting:
        code, err = finish(proc)
        assert code == 0, err
    for entity in ENTITIES:
        offsets = read_table(settings, entity, ["_offset"])["_offset"].to_pylist()
        assert sorted(offsets) == list(range(1000))
    ledger = read_table(settings, LEDGER, ["landing_object"])["landing_object"].to_pylist()
    assert sorted(ledger) == sorted(o.key for o in lake.list("raw/topics/"))
    assert len(ledger) == 60


# --- local locks ----------------------------------------------------------------------------------


def test_local_lock_of_a_killed_holder_is_free_at_once(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    child = hold_in_child(lake.root, "bronze")
    try:
        with pytest.raises(LockHeld, match=rf"pid {child.pid} on host .* since "):
            WriterLock(lake, "bronze", wait=False).acquire()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    with WriterLock(lake, "bronze", wait=False), WriterLock(lake, "bronze", wait=False):
        pass  # re-entrant within a process
    with WriterLock(lake, "bronze", wait=False):
        pass


# --- S3 -------------------------------------------------------------------------------------------


@pytest.fixture
def s3_lake(local_aws: LocalAWS) -> Iterator[Lake]:
    del local_aws
    lake = Lake(f"s3://pinpipe-locks/{uuid.uuid4().hex}")
    if not lake.fs.exists("pinpipe-locks"):
        lake.fs.mkdir("pinpipe-locks")
    yield lake


def other_taker(lake: Lake, name: str) -> None:
    """Another taker of an S3 lock (WriterLock is re-entrant within a process)."""
    S3Lease(lake, f"{LOCKS_PREFIX}/{name}.lock", name, wait=False).acquire()


def test_s3_write_once(s3_lake: Lake) -> None:
    lake = s3_lake
    assert lake.write_once("raw/x.json", b"a\n") is True
    assert lake.write_once("raw/x.json", b"a\n") is False
    with pytest.raises(ObjectConflict, match=r"raw/x\.json exists with other bytes"):
        lake.write_once("raw/x.json", b"b\n")
    writer = LandingWriter(lake, flush_records=10)
    for offset in range(3):
        writer.add("t", 0, offset, b"{}")
    writer.flush_all()
    writer.add("t", 0, 0, b"{}")
    writer.add("t", 0, 1, b"{}")
    writer.flush_all()  # a retry of records already landed: nothing to write
    writer.add("t", 0, 0, b'{"other": 1}')
    with pytest.raises(ObjectConflict, match=r"t\+0\+0000000000\.json exists with other records"):
        writer.flush_all()
    assert lake.read_bytes(object_key("t", 0, 0)) == b"{}\n{}\n{}\n"
    assert next_offsets(lake, "t") == {0: 3}


def test_s3_lease_refuses_a_second_holder_renews_and_is_taken_over_after_expiry(s3_lake: Lake) -> None:
    lake = s3_lake
    with WriterLock(lake, "bronze", wait=False, lease_seconds=1.5):
        time.sleep(2.5)  # longer than the lease: the holder renews it
        with pytest.raises(LockHeld, match=rf"pid {os.getpid()} on host .* since "):
            other_taker(lake, "bronze")
    with WriterLock(lake, "bronze", wait=False):  # released: free at once
        pass

    child = hold_in_child(lake.root, "stream.s", PINPIPE_LOCK_LEASE_SECONDS="1.5")
    with pytest.raises(LockHeld, match=rf"pid {child.pid} on host"):
        WriterLock(lake, "stream.s", wait=False).acquire()
    child.send_signal(signal.SIGKILL)
    child.wait()
    started = time.monotonic()
    with WriterLock(lake, "stream.s", wait=True):  # the dead holder's lease expires, then is taken over
        assert time.monotonic() - started < 45  # the 1.5 s lease, not the default 60 s (generous: load)
        with pytest.raises(LockHeld):
            other_taker(lake, "stream.s")
