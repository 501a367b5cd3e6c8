"""Who a record is: a delivery's identity is its topic incarnation, partition, offset *and* bytes.

Regression tests of issue 28's cases 1 and 3: records at offsets bronze already held, with other
content, were dropped with exit 0; objects whose names missed the landing pattern were skipped whole.
Now the first are quarantined as ``offset_conflict`` (and the load says so in its exit status), the
second as ``unrecognised_object``, and a Kafka topic deleted and created again lands and loads beside
the old one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from devservices.kafka import LocalKafka
from ingestion.bronze.loader import BronzeLoader
from ingestion.bronze.tables import LOADERS, read_table
from ingestion.kafka.landing import KafkaLanding
from ingestion.kafka.topics import ensure_topics, topic_ids
from ingestion.lake import Lake
from ingestion.landing import parse_object_key
from ingestion.settings import Settings

pytestmark = pytest.mark.integration

UID = "0a5040edb649"
TOPIC = f"{UID}.pin"


def write(settings: Settings, key: str, lines: list[str]) -> None:
    Lake(settings.lake).write_bytes(key, "".join(f"{line}\n" for line in lines).encode())


def landing_key(partition: int, first: int, folder_partition: int | None = None) -> str:
    folder = partition if folder_partition is None else folder_partition
    return f"raw/topics/{TOPIC}/partition={folder}/{TOPIC}+{partition}+{first:010d}.json"


def pins(first_index: int, count: int, title: str) -> list[str]:
    return [f'{{"index": {first_index + i}, "title": "{title}"}}' for i in range(count)]


@pytest.mark.parametrize("loader", LOADERS)
def test_other_bytes_at_held_offsets_are_quarantined_not_dropped(settings: Settings, loader: str) -> None:
    """The issue's case: 13 records at offsets 0-12, then 10 others at 5-14 (a re-created topic, a
    reset connector): the 8 at held offsets go to quarantine with their bytes, 2 load."""
    write(settings, landing_key(8, 0), pins(80001, 13, "old"))
    assert BronzeLoader(settings, loader=loader).load().conflicts == 0
    newer = pins(80100, 10, "new")
    write(settings, landing_key(8, 5), newer)
    report = BronzeLoader(settings, loader=loader).load()
    assert (report.loaded["pin"], report.quarantined, report.conflicts, report.duplicates) == (2, 8, 8, 0)
    pin = read_table(settings, "pin").to_pylist()
    assert sorted(r["title"] for r in pin) == ["new"] * 2 + ["old"] * 13
    assert {r["_offset"]: r["title"] for r in pin if r["_offset"] >= 5} == {
        **dict.fromkeys(range(5, 13), "old"),
        13: "new",
        14: "new",
    }
    quarantine = read_table(settings, "quarantine").to_pylist()
    assert sorted(r["raw_bytes"].decode() for r in quarantine) == sorted(newer[:8])
    assert {r["reason"].split(":")[0] for r in quarantine} == {"offset_conflict"}
    assert sorted(r["_offset"] for r in quarantine) == list(range(5, 13))
    again = BronzeLoader(settings, loader=loader).load()  # nothing new: nothing added, no conflict
    assert (again.records_loaded, again.quarantined, again.conflicts) == (0, 0, 0)


@pytest.mark.parametrize("loader", LOADERS)
def test_same_bytes_again_are_repeats_and_conflicts_are_kept_once(settings: Settings, loader: str) -> None:
    """Overlapping objects with the same bytes (a retry) add nothing; an object that repeats a
    conflicting record is a repeat of the quarantined conflict, not a second one."""
    lines = pins(1, 6, "a")
    write(settings, landing_key(0, 0), lines)
    write(settings, landing_key(0, 3), lines[3:])  # the same records again
    write(settings, landing_key(0, 4), [pins(50, 1, "b")[0]])  # offset 4 with other bytes
    write(settings, landing_key(0, 2), [*lines[2:4], pins(50, 1, "b")[0]])  # the conflict once more
    report = BronzeLoader(settings, loader=loader).load()
    assert (report.loaded["pin"], report.conflicts) == (6, 1)
    assert report.duplicates == 3 + 2 + 1
    assert len(read_table(settings, "quarantine")) == 1


def test_a_bad_record_at_a_held_offset_is_a_conflict_too(settings: Settings) -> None:
    """A record that is not JSON arriving at an offset that holds a valid record is kept in quarantine
    as a conflict (its first reason named), not dropped as a repeat."""
    write(settings, landing_key(0, 0), pins(1, 2, "a"))
    BronzeLoader(settings).load()
    write(settings, landing_key(0, 1), ["not json"])
    report = BronzeLoader(settings).load()
    assert report.conflicts == 1
    (row,) = read_table(settings, "quarantine").to_pylist()
    assert row["raw_bytes"] == b"not json" and "(also not_json" in row["reason"]


def test_the_load_command_exits_65_naming_the_conflicts(settings: Settings) -> None:
    env = {**os.environ, "PINPIPE_DATA_DIR": str(settings.data_dir), "PINPIPE_UID": UID}
    command = [sys.executable, "-m", "pinpipe", "bronze", "load"]
    write(settings, landing_key(8, 0), pins(1, 3, "old"))
    first = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    write(settings, landing_key(8, 1), pins(100, 3, "new"))
    second = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert second.returncode == 65, second.stderr
    assert "2 records conflict" in second.stderr and "offset_conflict" in second.stderr
    assert "loaded 1 records" in second.stdout + second.stderr


@pytest.mark.parametrize(
    "key",
    [
        f"raw/topics/{TOPIC}/partition=0/pin+0+42.json",  # the topic's name missing from the file's
        landing_key(0, 42, folder_partition=1),  # a partition=1/ folder holding a +0+ object
        f"raw/topics/{TOPIC}/partition=0/{TOPIC}+0+42.json",  # the offset not zero-padded
        f"raw/topics/{TOPIC}/{TOPIC}+0+0000000042.json",  # no partition folder
        "raw/topics/notes.json",  # nobody's
        "raw/topics/pins/partition=0/pins+0+0000000042.json",  # a topic of no pipeline
    ],
)
def test_every_object_is_accounted_for(settings: Settings, key: str) -> None:
    """An object whose name is not a landing key of this uid's topics is quarantined line by line,
    named in the report; renamed to the pattern, its records load."""
    lines = pins(7, 3, "x")
    write(settings, key, lines)
    report = BronzeLoader(settings).load()
    assert (report.objects_unrecognised, report.unrecognised, report.quarantined) == (1, [key], 3)
    quarantine = read_table(settings, "quarantine").to_pylist()
    assert sorted(r["raw_bytes"].decode() for r in quarantine) == sorted(lines)
    assert {r["reason"].split(":")[0] for r in quarantine} == {"unrecognised_object"}
    assert all(key in r["reason"] for r in quarantine)
    assert BronzeLoader(settings).load().quarantined == 0  # accounted for once
    write(settings, landing_key(0, 42), lines)  # renamed as it should have been
    assert BronzeLoader(settings).load().loaded["pin"] == 3


def test_two_unrecognised_objects_with_the_same_lines_are_both_kept(settings: Settings) -> None:
    lines = pins(1, 2, "x")
    write(settings, f"raw/topics/{TOPIC}/partition=0/a.json", lines)
    write(settings, f"raw/topics/{TOPIC}/partition=0/b.json", lines)
    assert BronzeLoader(settings).load().quarantined == 4


def delete_and_create_again(broker: LocalKafka, settings: Settings, topic: str) -> None:
    """Delete a topic and create it again under the same name, waiting on the broker's answers."""
    from kafka import KafkaAdminClient
    from kafka.errors import TopicAlreadyExistsError

    old = topic_ids(settings, [topic])[topic]
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    try:
        admin.delete_topics([topic])
        deadline = time.monotonic() + 120  # generous: deletion is asynchronous on the broker
        while True:
            try:
                ensure_topics(settings, partitions=1)
                current = topic_ids(settings, [topic]).get(topic)
                if current is not None and current != old:
                    return
            except TopicAlreadyExistsError:
                pass
            assert time.monotonic() < deadline, f"{topic} was not created again"
            time.sleep(0.5)
    finally:
        admin.close()


@pytest.mark.kafka
@pytest.mark.parametrize("kafka_client", ["confluent", "kafka-python"])
def test_a_topic_created_again_lands_and_loads_beside_the_old_one(
    tmp_path: Path, broker: LocalKafka, kafka_client: str
) -> None:
    """Offsets start again at 0 in the new topic: its records land under the new topic ID (the old
    keys are write-once) and load beside the old incarnation's, with no conflict and nothing lost."""
    from kafka import KafkaProducer

    settings = Settings(
        data_dir=tmp_path / "data",
        uid=f"t{uuid.uuid4().hex[:11]}",
        kafka_bootstrap=broker.bootstrap_servers,
        kafka_client=kafka_client,
        flush_seconds=0.2,
    )
    topic = settings.topic("pin")
    ensure_topics(settings, partitions=1)
    other = "kafka-python" if kafka_client == "confluent" else "confluent"
    both = [
        topic_ids(s, [topic])[topic] for s in (settings, settings.model_copy(update={"kafka_client": other}))
    ]
    assert both[0] == both[1] and both[0] is not None  # one text of an ID, whichever client reads it
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers)

    def produce(lines: list[str]) -> None:
        for line in lines:
            producer.send(topic, line.encode())
        producer.flush()

    produce(pins(1, 5, "first incarnation"))
    KafkaLanding(settings).run(drain=True)
    delete_and_create_again(broker, settings, topic)
    produce(pins(100, 3, "second incarnation"))
    KafkaLanding(settings).run(drain=True)
    producer.close()

    keys = [parse_object_key(o.key) for o in Lake(settings.lake).list("raw/topics/")]
    by_incarnation = {k.topic_id for k in keys if k is not None and k.topic == topic}
    assert len(by_incarnation) == 2 and None not in by_incarnation
    report = BronzeLoader(settings).load()
    assert (report.loaded["pin"], report.conflicts, report.quarantined) == (8, 0, 0)
    rows = read_table(settings, "pin").to_pylist()
    assert sorted((r["_offset"], r["title"]) for r in rows if r["title"] == "second incarnation") == [
        (0, "second incarnation"),
        (1, "second incarnation"),
        (2, "second incarnation"),
    ]
    assert len({r["_topic_id"] for r in rows}) == 2


def test_tables_of_an_earlier_release_gain_the_new_columns(settings: Settings) -> None:
    """A lake whose bronze tables predate ``_topic_id`` and ``_json_types`` loads as before: the
    columns are added (NULL on the older rows) and repeats are still recognised."""
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    from ingestion.bronze.tables import JSON_TYPES_FIELD, QUARANTINE, QUARANTINE_SCHEMA, entity_schema
    from ingestion.settings import ENTITIES

    old = {
        e: pa.schema([f for f in entity_schema(e) if f.name not in ("_topic_id", "_json_types")])
        for e in ENTITIES
    }
    old[QUARANTINE] = pa.schema([f for f in QUARANTINE_SCHEMA if f.name != "_topic_id"])
    lake = Lake(settings.lake)
    for name, schema in old.items():
        DeltaTable.create(lake.uri(f"bronze/{name}"), schema=schema)
    line = pins(1, 1, "old")[0]
    row = {name: None for name in old["pin"].names} | {
        "index": "1",
        "title": "old",
        "_raw_json": line,
        "_source": "kafka",
        "_topic": TOPIC,
        "_partition": 0,
        "_offset": 0,
        "_landing_object": landing_key(0, 0),
        "_ingested_at": pa.scalar(0, pa.timestamp("us", tz="UTC")).as_py(),
    }
    write_deltalake(lake.uri("bronze/pin"), pa.Table.from_pylist([row], schema=old["pin"]), mode="append")
    write(settings, landing_key(0, 0), [line, *pins(2, 1, "new")])  # offset 0 again, then offset 1
    report = BronzeLoader(settings).load()
    assert (report.loaded["pin"], report.duplicates, report.conflicts) == (1, 1, 0)
    rows = sorted(read_table(settings, "pin").to_pylist(), key=lambda r: r["_offset"])
    assert [(r["_topic_id"], r[JSON_TYPES_FIELD.name]) for r in rows] == [
        (None, None),
        (None, "insnnnnnnnnn"),
    ]


def test_a_file_name_that_is_not_utf8_is_quarantined_not_fatal(settings: Settings) -> None:
    write(settings, landing_key(0, 0), pins(1, 3, "ok"))
    folder = os.fsencode(Path(settings.lake) / "raw" / "topics" / TOPIC / "partition=0")
    with open(os.path.join(folder, b"bad\xff.json"), "wb") as handle:
        handle.write(b'{"index": 9}\n')
    report = BronzeLoader(settings).load()
    assert (report.loaded["pin"], report.quarantined, report.objects_unrecognised) == (3, 1, 1)
    (row,) = read_table(settings, "quarantine").to_pylist()
    assert row["raw_bytes"] == b'{"index": 9}' and "bad\\udcff.json" in row["_landing_object"]
    assert BronzeLoader(settings).load().quarantined == 0  # recorded under its escaped name


def test_a_failed_append_never_lets_a_conflict_displace_the_first_record(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quarantine's part of a commit lands, the pin table's fails (an I/O error): the next load
    still loads the record that came first, and the conflicting one stays a conflict, once."""
    first, other = pins(1, 2, "first"), pins(50, 1, "other")
    write(settings, landing_key(0, 0), first)  # offsets 0 and 1
    write(settings, landing_key(0, 1), other)  # offset 1 again, other bytes
    real = BronzeLoader._write
    failed: list[str] = []

    def failing(self: BronzeLoader, name: str, table: object) -> None:
        if name == "pin" and not failed:
            failed.append(name)
            raise OSError("disk went away")
        real(self, name, table)  # type: ignore[arg-type]

    monkeypatch.setattr(BronzeLoader, "_write", failing)
    with pytest.raises(OSError):
        BronzeLoader(settings).load()
    monkeypatch.setattr(BronzeLoader, "_write", real)
    report = BronzeLoader(settings).load()
    assert sorted(r["title"] for r in read_table(settings, "pin").to_pylist()) == ["first", "first"]
    quarantine = read_table(settings, "quarantine").to_pylist()
    assert [(r["raw_bytes"].decode(), r["reason"].split(":")[0]) for r in quarantine] == [
        (other[0], "offset_conflict")
    ]
    assert report.conflicts in (0, 1)  # 0 when the first attempt's quarantine part had landed


@pytest.mark.parametrize("batch_records", [2, 1_000])
def test_the_first_delivery_wins_wherever_batches_are_cut(settings: Settings, batch_records: int) -> None:
    """A bad record at an offset, then (in a later object) a valid one: the bad one came first and
    holds the offset, whether both objects are in one commit or in two."""
    write(settings, landing_key(0, 0), [pins(1, 1, "a")[0], "not json"])
    write(settings, landing_key(0, 1), pins(2, 1, "b"))
    loader = BronzeLoader(settings.model_copy(update={"bronze_batch_records": batch_records}))
    report = loader.load()
    assert (report.loaded["pin"], report.conflicts) == (1, 1)
    quarantine = sorted(read_table(settings, "quarantine").to_pylist(), key=lambda r: r["reason"])
    assert [(r["raw_bytes"], r["reason"].split(":")[0]) for r in quarantine] == [
        (b"not json", "not_json"),
        (pins(2, 1, "b")[0].encode(), "offset_conflict"),
    ]
