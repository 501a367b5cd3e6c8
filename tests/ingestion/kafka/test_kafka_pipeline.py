"""Kafka for real: the emulator's Kafka sink, exactly-once landing through crashes, rebalances and a
broker restart, and poison records; all against a real local Apache Kafka broker, with each Kafka
client (``kafka_client``: confluent-kafka and kafka-python, behind the same interfaces)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from devservices.kafka import LocalKafka
from emulator.generate import generate_source_db
from emulator.posting import PostingPlan, pick_indexes, post_events
from emulator.sinks.kafka import KafkaSink
from emulator.source import EventSource
from ingestion.bronze.loader import BronzeLoader
from ingestion.bronze.tables import read_table
from ingestion.kafka.topics import ensure_topics
from ingestion.lake import TEMP_PREFIX, Lake
from ingestion.settings import ENTITIES, INDEX_FIELD, Settings
from tests import dbt_support as support

pytestmark = [pytest.mark.kafka, pytest.mark.integration]

DB_ROWS = 2_000

CLIENTS = ["confluent", "kafka-python"]


@pytest.fixture(params=CLIENTS)
def kafka_client(request: pytest.FixtureRequest) -> str:
    """Each Kafka client in turn (the sink's producer and the landing's consumer)."""
    client: str = request.param
    if client == "confluent":
        pytest.importorskip("confluent_kafka")
    return client


@pytest.fixture(scope="module")
def source_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'source.db'}"
    generate_source_db(url, rows=DB_ROWS, seed=3)
    return url


def kafka_settings(
    tmp_path: Path, broker: LocalKafka, source_url: str, kafka_client: str, **more: object
) -> Settings:
    """Settings with a fresh uid (own topics and consumer group), a private lake and the client."""
    return Settings(
        data_dir=tmp_path / "data",
        uid=f"t{uuid.uuid4().hex[:11]}",
        kafka_bootstrap=broker.bootstrap_servers,
        source_db_url=source_url,
        kafka_client=kafka_client,
        **more,  # type: ignore[arg-type]
    )


def produce_events(settings: Settings, events: int) -> list[int]:
    """Post ``events`` sequential events through the Kafka sink; returns the posted indexes."""
    sink = KafkaSink(settings)
    assert sink.producer.client == settings.kafka_client
    summary = post_events(
        EventSource(settings.source_db_url),
        sink,
        PostingPlan(events=events, order="sequential"),
        handle_signals=False,
    )
    assert (summary.records_delivered, summary.records_failed) == (3 * events, 0)
    return [i for i, _ in zip(pick_indexes("sequential", 0, DB_ROWS - 1), range(events), strict=False)]


def end_offsets(settings: Settings) -> dict[tuple[str, int], int]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        partitions = [
            TopicPartition(t, p) for t in settings.topics.values() for p in consumer.partitions_for_topic(t)
        ]
        return {(tp.topic, tp.partition): n for tp, n in consumer.end_offsets(partitions).items()}
    finally:
        consumer.close()


class Landing:
    """A `pinpipe kafka land` subprocess whose stderr goes to a file (a pipe could fill and block it)."""

    def __init__(self, settings: Settings, mode: str) -> None:
        self.log = settings.data_dir / f"landing-{uuid.uuid4().hex[:8]}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PINPIPE_DATA_DIR": str(settings.data_dir),
            "PINPIPE_UID": settings.uid,
            "PINPIPE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "PINPIPE_KAFKA_CLIENT": settings.kafka_client,
            "PINPIPE_FLUSH_RECORDS": str(settings.flush_records),
            "PINPIPE_FLUSH_SECONDS": str(settings.flush_seconds),
            "PINPIPE_KAFKA_SESSION_TIMEOUT_MS": str(settings.kafka_session_timeout_ms),
            "PINPIPE_LOG_LEVEL": "INFO",
        }
        with self.log.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pinpipe", "kafka", "land", mode],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

    def wait(self, timeout: float) -> tuple[int, str]:
        """Wait for the exit; returns the exit code and the summary line(s) of stderr."""
        code = self.proc.wait(timeout=timeout)
        return code, self.log.read_text()

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def text(self) -> str:
        """Its stderr so far."""
        return self.log.read_text()

    def running(self) -> bool:
        return self.proc.poll() is None


def landing_process(settings: Settings, mode: str = "--drain") -> Landing:
    return Landing(settings, mode)


def assert_exactly_once(settings: Settings, indexes: list[int]) -> None:
    """Bronze holds every produced offset exactly once, and each index as often as it was posted."""
    report = BronzeLoader(settings).load()
    assert report.quarantined == 0
    ends = end_offsets(settings)
    expected_per_index = Counter(indexes)
    for entity in ENTITIES:
        table = read_table(settings, entity, ["_topic", "_partition", "_offset", INDEX_FIELD[entity]])
        keys = list(
            zip(
                table["_topic"].to_pylist(),
                table["_partition"].to_pylist(),
                table["_offset"].to_pylist(),
                strict=True,
            )
        )
        produced = {
            (topic, p, o)
            for (topic, p), end in ends.items()
            if topic == settings.topic(entity)
            for o in range(end)
        }
        assert len(keys) == len(set(keys)), f"{entity}: duplicate offsets in bronze"
        assert set(keys) == produced, f"{entity}: bronze offsets differ from produced offsets"
        per_index = Counter(int(i) for i in table[INDEX_FIELD[entity]].to_pylist())
        assert per_index == expected_per_index, f"{entity}: counts per index differ"


def landed_objects(raw: Path) -> int:
    """How many landing objects are in place (temporary files being written aside)."""
    return sum(1 for path in raw.rglob("*.json") if not path.name.startswith(TEMP_PREFIX))


def test_kafka_sink_and_drain_land_every_record(
    tmp_path: Path, broker: LocalKafka, source_url: str, kafka_client: str
) -> None:
    settings = kafka_settings(tmp_path, broker, source_url, kafka_client, partitions=3, flush_records=700)
    indexes = produce_events(settings, 2_500)
    keys_seen = KafkaConsumer(
        settings.topic("pin"),
        bootstrap_servers=broker.bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    sample = [(m.key, m.value) for _, m in zip(range(50), keys_seen, strict=False)]
    keys_seen.close()
    assert all(key == str(__import__("orjson").loads(value)["index"]).encode() for key, value in sample)
    code, err = landing_process(settings).wait(timeout=180)
    assert code == 0, err
    assert "stopped by drained" in err
    assert f"kafka landing: {kafka_client} client" in err, err
    assert_exactly_once(settings, indexes)
    code, err = landing_process(settings).wait(timeout=120)  # nothing new: drains at once, lands nothing
    assert code == 0 and "kafka landing: 0 records" in err, err


def test_sigkill_at_random_points_loses_and_duplicates_nothing(
    tmp_path: Path, broker: LocalKafka, source_url: str, kafka_client: str
) -> None:
    # the broker's minimum session timeout: each run after a kill waits for the killed member's session
    # to expire before the group gives it the partitions
    settings = kafka_settings(
        tmp_path,
        broker,
        source_url,
        kafka_client,
        partitions=6,
        flush_records=1_000,
        flush_seconds=30,
        kafka_session_timeout_ms=6_000,
    )
    indexes = produce_events(settings, 50_000)  # 150,000 records
    rng = random.Random(11)
    raw = Path(settings.lake) / "raw"
    kills = 0
    for _ in range(5):
        # Kill each run after it landed a few objects (up to ~10,000 records of the 150,000, so every
        # kill hits a drain in progress, however fast the client), at a random moment after that.
        wanted = landed_objects(raw) + rng.randint(1, 3)
        proc = landing_process(settings)
        deadline = time.monotonic() + 60
        while landed_objects(raw) < wanted and proc.running() and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.03))
        if proc.running():
            kills += 1
        proc.signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert kills == 5, "every kill must hit a consumer in the middle of its drain"
    code, err = landing_process(settings).wait(timeout=300)
    assert code == 0, err
    assert_exactly_once(settings, indexes)


def test_two_consumers_share_partitions_through_a_rebalance(
    tmp_path: Path, broker: LocalKafka, source_url: str, kafka_client: str
) -> None:
    settings = kafka_settings(
        tmp_path, broker, source_url, kafka_client, partitions=6, flush_records=500, flush_seconds=1
    )
    indexes = produce_events(settings, 2_000)
    first = landing_process(settings, "--follow")
    lake = Lake(settings.lake)
    deadline = time.monotonic() + 60
    while not any(True for _ in lake.list("raw/")) and time.monotonic() < deadline:
        time.sleep(0.05)
    second = landing_process(settings, "--follow")  # joins while records keep coming: a rebalance
    # Records keep coming until the second member holds partitions (an event: its start-up takes what
    # it takes), then a little longer, so that both have records to land.
    deadline = time.monotonic() + 120
    while "kafka landing: assigned" not in second.text() and time.monotonic() < deadline:
        time.sleep(1)
        indexes += produce_events(settings, 2_000)
    for _ in range(2):
        time.sleep(1)
        indexes += produce_events(settings, 2_000)
    ends = end_offsets(settings)
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        committed = admin.list_group_offsets(settings.kafka_group).get(settings.kafka_group, {})
        if all(
            committed.get(TopicPartition(t, p)) and committed[TopicPartition(t, p)].offset >= end
            for (t, p), end in ends.items()
        ):
            break
        time.sleep(0.5)
    admin.close()
    for proc in (first, second):
        proc.signal(signal.SIGTERM)
    results = [proc.wait(timeout=60) for proc in (first, second)]
    errs = [err for _, err in results]
    assert [code for code, _ in results] == [0, 0], errs
    landed = [int(e.split("kafka landing: ")[-1].split(" records")[0].replace(",", "")) for e in errs]
    assignments = errs[0].count("kafka landing: assigned")
    assert assignments >= 2, "the first member should have been assigned partitions again in a rebalance"
    assert all(n > 0 for n in landed), f"both members must have landed records: {landed}"
    assert_exactly_once(settings, indexes)


def test_broker_restart_mid_drain_loses_nothing(tmp_path: Path, source_url: str, kafka_client: str) -> None:
    broker = LocalKafka(tmp_path / "kafka").start(timeout=180)
    try:
        settings = kafka_settings(tmp_path, broker, source_url, kafka_client, partitions=3, flush_records=300)
        indexes = produce_events(settings, 8_000)
        proc = landing_process(settings)
        raw = Path(settings.lake) / "raw"
        deadline = time.monotonic() + 60
        while landed_objects(raw) == 0 and proc.running() and time.monotonic() < deadline:
            time.sleep(0.005)
        # Held while the broker shuts down: a fast client would otherwise finish the drain meanwhile.
        proc.signal(signal.SIGSTOP)
        try:
            broker.stop()
        finally:
            proc.signal(signal.SIGCONT)
        time.sleep(3)
        assert proc.running(), "the consumer must wait for the broker, not exit"
        broker.start(timeout=180)
        code, err = proc.wait(timeout=300)
        assert code == 0, err
        assert "stopped by drained" in err, err
        assert_exactly_once(settings, indexes)
    finally:
        broker.stop()


def test_poison_records_are_landed_and_quarantined_without_blocking(
    tmp_path: Path, broker: LocalKafka, source_url: str, kafka_client: str
) -> None:
    settings = kafka_settings(tmp_path, broker, source_url, kafka_client)
    ensure_topics(settings)
    topic = settings.topic("pin")
    poison = [
        (b'{"index": 1, "category": "art"}', None),
        (b"\xff\xfe\x00 not utf-8", "not valid UTF-8"),
        (b"[1, 2, 3]", "JSON array is not an object"),
        (b'{"index": 2, "description": "' + b"x" * (5 * 1024 * 1024) + b'"}', "larger than the limit"),
        (b'{"index": 3,\n"category": "diy"}', None),
        (None, "empty record"),
        (b'{"index": 4, "category": "travel"}', None),
    ]
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, max_request_size=8 * 1024 * 1024)
    for value, _ in poison:
        producer.send(topic, key=b"poison", value=value, partition=0).get(timeout=30)
    producer.close()
    code, err = landing_process(settings).wait(timeout=120)
    assert code == 0, err
    report = BronzeLoader(settings).load()
    assert (report.loaded["pin"], report.quarantined) == (3, 4)
    quarantine = {r["_offset"]: r for r in read_table(settings, "quarantine").to_pylist()}
    for offset, (value, reason) in enumerate(poison):
        if reason is None:
            continue
        assert reason in quarantine[offset]["reason"]
        assert quarantine[offset]["raw_bytes"] == (value or b"")
    assert sorted(r["index"] for r in read_table(settings, "pin").to_pylist()) == ["1", "3", "4"]


def test_main_job_through_kafka_gives_the_lake_sinks_gold(tmp_path: Path, broker: LocalKafka) -> None:
    """`pinpipe run --via kafka` and the embedded `pinpipe run` end with the same gold tables."""

    def run(data_dir: Path, *extra: str) -> dict[str, list[tuple[object, ...]]]:
        env = {
            **os.environ,
            "PINPIPE_DATA_DIR": str(data_dir),
            "PINPIPE_KAFKA_BOOTSTRAP": broker.bootstrap_servers,
            "PINPIPE_UID": f"t{uuid.uuid4().hex[:11]}",
            "PINPIPE_PARTITIONS": "3",
        }
        args = ["run", "--rows", "400", "--events", "300", "--quiet-dbt", *extra]
        done = subprocess.run(
            [sys.executable, "-m", "pinpipe", *args], env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
        return support.gold_snapshot(data_dir / "warehouse.duckdb")

    through_kafka = run(tmp_path / "kafka", "--via", "kafka")
    embedded = run(tmp_path / "lake")
    through_kafka.pop("quarantine_summary"), embedded.pop("quarantine_summary")
    assert through_kafka == embedded
    assert len(embedded["posts"]) > 200
