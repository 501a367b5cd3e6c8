"""The Kafka landing's consumer group against a real local broker, with each Kafka client: members that
join and leave while records are in flight land every record exactly once (a rebalance lands and
commits the open objects before the partitions move), and a broker that is not there, or goes away,
ends a drain in bounded time with one line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import orjson
import pytest
from kafka import KafkaAdminClient

from devservices.kafka import LocalKafka
from ingestion.errors import PinpipeError
from ingestion.kafka.clients import open_producer
from ingestion.kafka.landing import KafkaLanding
from ingestion.kafka.topics import ensure_topics
from ingestion.lake import Lake
from ingestion.landing import parse_object_key, split_lines
from ingestion.settings import Settings
from tests.ingestion.kafka.test_kafka_pipeline import (
    Landing,
    end_offsets,
    kafka_client,
    landed_objects,
    landing_process,
)

pytestmark = [pytest.mark.kafka, pytest.mark.integration]

__all__ = ["kafka_client"]  # the fixture, shared with test_kafka_pipeline


def group_settings(tmp_path: Path, bootstrap: str, kafka_client: str, **more: object) -> Settings:
    """Settings with a fresh uid (own topics and consumer group), a private lake and the client."""
    return Settings(
        data_dir=tmp_path / "data",
        uid=f"t{uuid.uuid4().hex[:11]}",
        kafka_bootstrap=bootstrap,
        kafka_client=kafka_client,
        **more,  # type: ignore[arg-type]
    )


def produce(settings: Settings, per_topic: int) -> int:
    """Produce ``per_topic`` small JSON records to each of the uid's topics (with the fastest client
    installed: the landing is under test here); returns the total."""
    ensure_topics(settings)
    producer = open_producer(settings.model_copy(update={"kafka_client": "auto"}))
    for topic in settings.topics.values():
        for start in range(0, per_topic, 1_000):
            producer.send_batch(
                [
                    (topic, b"%d" % i, orjson.dumps({"index": i, "pad": "x" * 40}))
                    for i in range(start, min(start + 1_000, per_topic))
                ]
            )
    counts = producer.close()
    assert (counts.delivered, counts.failed) == (per_topic * len(settings.topics), 0)
    return per_topic * len(settings.topics)


HOLD_SESSION_TIMEOUT_MS = 120_000
"""The session timeout of the members of a test that holds one (SIGSTOP) while another joins: longer
than any start-up of the newcomer on a loaded machine, so the held member is never evicted."""


def group_state(settings: Settings) -> str:
    """The consumer group's state at the coordinator (``Stable``, ``PreparingRebalance``, ...)."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        group = admin.describe_groups([settings.kafka_group])[settings.kafka_group]
    finally:
        admin.close()
    return str(group["group_state"])


def hold_while_another_joins(member: Landing, settings: Settings, mode: str) -> Landing:
    """Start another member while ``member`` is held (SIGSTOP) in the middle of its work, and release
    it once the coordinator has the newcomer's JoinGroup (the group leaves ``Stable``): the group then
    rebalances while ``member`` has records in hand, whatever the speed of the client or the machine.
    The members' session timeout (HOLD_SESSION_TIMEOUT_MS) outlasts the hold."""
    assert settings.kafka_session_timeout_ms >= HOLD_SESSION_TIMEOUT_MS
    member.signal(signal.SIGSTOP)
    try:
        newcomer = landing_process(settings, mode)
        deadline = time.monotonic() + HOLD_SESSION_TIMEOUT_MS / 1000 / 2
        while group_state(settings) == "Stable" and newcomer.running() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        member.signal(signal.SIGCONT)
    return newcomer


def wait_for_objects(raw: Path, member: Landing, count: int = 1) -> None:
    deadline = time.monotonic() + 60
    while landed_objects(raw) < count and member.running() and time.monotonic() < deadline:
        time.sleep(0.005)


def landed_ranges(settings: Settings) -> dict[tuple[str, int], list[tuple[int, int]]]:
    """Per (topic, partition), the sorted [first, end) offset ranges of the landed objects."""
    lake = Lake(settings.lake)
    ranges: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for obj in lake.list("raw/topics/"):
        key = parse_object_key(obj.key)
        assert key is not None, obj.key
        count = 1 if key.single else len(split_lines(lake.read_bytes(obj.key)))
        ranges.setdefault((key.topic, key.partition), []).append((key.first_offset, key.first_offset + count))
    return {slot: sorted(r) for slot, r in ranges.items()}


def assert_landed_exactly_once(settings: Settings, total: int) -> None:
    """Every produced offset is in exactly one landed object: no gap, no overlap, nothing extra."""
    ends = end_offsets(settings)
    assert sum(ends.values()) == total
    ranges = landed_ranges(settings)
    lines = 0
    for slot, end in ends.items():
        expected = 0
        for first, stop in ranges.get(slot, []):
            assert first == expected, (
                f"{slot}: object at {first} after offset {expected - 1} (gap or overlap)"
            )
            expected = stop
            lines += stop - first
        assert expected == end, f"{slot}: landed up to {expected}, produced up to {end}"
    assert set(ranges) <= set(ends)
    assert lines == total


def committed_offsets(settings: Settings) -> dict[tuple[str, int], int]:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        group = admin.list_group_offsets(settings.kafka_group).get(settings.kafka_group, {})
    finally:
        admin.close()
    return {(tp.topic, tp.partition): meta.offset for tp, meta in group.items() if meta.offset >= 0}


def landed_records(err: str) -> int:
    return int(err.split("kafka landing: ")[-1].split(" records")[0].replace(",", ""))


def test_two_drains_in_one_group_land_every_record_once(
    tmp_path: Path, broker: LocalKafka, kafka_client: str
) -> None:
    """Two `kafka land --drain` of one group, the second joining while the first has open objects:
    the rebalance commits what the first landed, the second starts right after it."""
    settings = group_settings(
        tmp_path,
        broker.bootstrap_servers,
        kafka_client,
        partitions=6,
        flush_records=4_000 if kafka_client == "kafka-python" else 1_000,
        flush_seconds=30,
        kafka_session_timeout_ms=HOLD_SESSION_TIMEOUT_MS,
    )
    # 450,000 records with kafka-python; 150,000 with confluent-kafka (the rebalance happens as surely,
    # the first member being held mid-drain while the second joins; the landing is 3x faster anyway).
    total = produce(settings, 150_000 if kafka_client == "kafka-python" else 50_000)
    raw = Path(settings.lake) / "raw"
    first = landing_process(settings, "--drain")
    wait_for_objects(raw, first)
    assert first.running(), "the first drain must still be running when the second joins"
    second = hold_while_another_joins(first, settings, "--drain")
    results = [first.wait(timeout=300), second.wait(timeout=300)]
    errs = [err for _, err in results]
    assert [code for code, _ in results] == [0, 0], errs
    for err in errs:
        assert "Cannot block" not in err, err
        assert "not committed before the rebalance" not in err, err
        assert "User rebalance callback throws an error" not in err, err
        assert "kafka landing: lost" not in err, err  # a revocation, never an eviction
    assert "kafka landing: revoking" in errs[0], "no rebalance moved the first's partitions"
    counts = [landed_records(err) for err in errs]
    assert all(n > 0 for n in counts), f"both members must have landed records: {counts}"
    notes = [[line for line in err.splitlines() if "kafka landing:" in line] for err in errs]
    assert sum(counts) == total, f"records read by the two members: {counts}, produced {total}: {notes}"
    assert_landed_exactly_once(settings, total)
    assert committed_offsets(settings) == end_offsets(settings)


def test_a_member_joining_a_follower_and_leaving_again_loses_and_repeats_nothing(
    tmp_path: Path, broker: LocalKafka, kafka_client: str
) -> None:
    """A --follow member, a --drain member that joins (a rebalance) and leaves (another), while records
    keep coming: every record is landed once, by one of them."""
    settings = group_settings(
        tmp_path, broker.bootstrap_servers, kafka_client, partitions=4, flush_records=1_500, flush_seconds=8
    )
    total = produce(settings, 20_000)
    follower = landing_process(settings, "--follow")
    raw = Path(settings.lake) / "raw"
    wait_for_objects(raw, follower)
    drainer = landing_process(settings, "--drain")
    total += produce(settings, 20_000)
    code, drain_err = drainer.wait(timeout=300)
    assert code == 0, drain_err
    total += produce(settings, 5_000)
    ends = end_offsets(settings)
    deadline = time.monotonic() + 180
    while committed_offsets(settings) != ends and time.monotonic() < deadline:
        time.sleep(0.5)
    follower.signal(15)
    code, follow_err = follower.wait(timeout=60)
    assert code == 0, follow_err
    for err in (drain_err, follow_err):
        assert "Cannot block" not in err and "not committed before the rebalance" not in err, err
    assert follow_err.count("kafka landing: revoking") >= 2, "expected two rebalances"
    assert landed_records(drain_err) + landed_records(follow_err) == total
    assert_landed_exactly_once(settings, total)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_drain_against_a_dead_broker_fails_fast_with_one_line(tmp_path: Path, kafka_client: str) -> None:
    """Nothing listens at the bootstrap address: the drain fails within the bootstrap timeout (10 s)
    with one error line naming the servers and what to do, and no noise from the client."""
    settings = group_settings(tmp_path, f"127.0.0.1:{free_port()}", kafka_client)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINPIPE_")}
    env |= {
        "PINPIPE_DATA_DIR": str(settings.data_dir),
        "PINPIPE_UID": settings.uid,
        "PINPIPE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "PINPIPE_KAFKA_CLIENT": kafka_client,
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pinpipe", "kafka", "land", "--drain"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,  # a hang (the clients' own retries never end) fails here, however loaded the machine
    )
    elapsed = time.monotonic() - started
    assert done.returncode != 0, done.stderr
    assert elapsed > 9, f"took {elapsed:.1f}s"  # the 10 s bootstrap timeout, not an instant failure
    lines = [line for line in done.stderr.splitlines() if not line.startswith("kafka landing: ")]
    assert len(lines) == 1, done.stderr  # (the step's start line aside)
    assert lines[0].startswith("pinpipe: error: ") and settings.kafka_bootstrap in lines[0], lines
    assert "pinpipe kafka start" in lines[0] and "PINPIPE_KAFKA_BOOTSTRAP" in lines[0], lines


def test_broker_gone_mid_drain_ends_the_drain_in_bounded_time(tmp_path: Path, kafka_client: str) -> None:
    """The broker dies for good during a drain: the drain fails within its outage limit (plus the
    request timeouts) with one line, having committed only offsets of durably landed records; the next
    drain lands the rest, without a gap or an overlap."""
    broker = LocalKafka(tmp_path / "kafka").start(timeout=180)
    try:
        settings = group_settings(
            tmp_path,
            broker.bootstrap_servers,
            kafka_client,
            partitions=3,
            flush_records=2_000,
            flush_seconds=30,
        )
        total = produce(settings, 150_000)
        landing = KafkaLanding(settings, timeout=3, outage_timeout=8)
        failure: list[BaseException] = []
        stopped_at: list[float] = []

        def drain() -> None:
            try:
                landing.run(drain=True)
            except BaseException as exc:
                failure.append(exc)

        worker = threading.Thread(target=drain, daemon=True)
        worker.start()
        raw = Path(settings.lake) / "raw"
        deadline = time.monotonic() + 60
        while landed_objects(raw) == 0 and worker.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)
        broker.kill()  # at once: a fast client would drain the rest during a clean shutdown
        stopped_at.append(time.monotonic())
        # generous, for a loaded machine, yet below the default 120 s outage limit it must not use
        worker.join(timeout=100)
        took = time.monotonic() - stopped_at[0]
        assert not worker.is_alive(), f"the drain must end while the broker stays away ({took:.0f} s)"
        assert len(failure) == 1 and isinstance(failure[0], PinpipeError), failure
        message = str(failure[0])
        assert "\n" not in message and settings.kafka_bootstrap in message, message
        assert "pinpipe kafka start" in message, message
        assert landing.report.records < total, "the broker must stop before the drain ends"

        broker.start(timeout=180)
        covered = {slot: ranges[-1][1] for slot, ranges in landed_ranges(settings).items()}
        for slot, offset in committed_offsets(settings).items():
            assert offset <= covered.get(slot, 0), f"{slot}: committed {offset} beyond the landing"
        assert KafkaLanding(settings).run(drain=True).stopped_by == "drained"
        assert_landed_exactly_once(settings, total)
    finally:
        broker.stop()
