"""The Kinesis path against a real moto server on 127.0.0.1: the emulator's Kinesis sink, the stream
ingestion (raw landing + bronze stream tables with checkpoints in the Delta commits), crashes, resharding,
iterator errors, a re-created stream, and the live dbt views.

moto's Kinesis never fails a record, never throttles, never expires an iterator and never ends a
resharded parent shard; those AWS behaviours are played by small fake clients inside the unit tests
(marked as such), everything else is the real moto server.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pytest
from botocore.exceptions import ClientError
from deltalake import DeltaTable

from devservices.aws import LocalAWS
from emulator.generate import generate_source_db
from emulator.sinks.kinesis import MAX_BATCH_RECORDS, KinesisSink, batches
from emulator.source import Event, EventSource
from ingestion.bronze.loader import BronzeLoader
from ingestion.bronze.tables import stream_table
from ingestion.kinesis import ensure_streams, kinesis_client
from ingestion.lake import Lake
from ingestion.settings import ENTITIES, Settings
from ingestion.stream import CHECKPOINT_KEY, StreamIngestion, landing_key, read_checkpoint

pytestmark = pytest.mark.slow

_uids = itertools.count()


@pytest.fixture
def stream_settings(tmp_path: Path, local_aws: LocalAWS) -> Settings:
    """Settings with a uid of its own (its own three streams on the shared moto) and quick commits."""
    return Settings(
        data_dir=tmp_path / "data",
        uid=f"t{next(_uids)}-{os.getpid()}",
        kinesis_shards=2,
        stream_commit_seconds=0.2,
        stream_poll_seconds=0.05,
    )


def record(entity: str, index: int, **extra: Any) -> bytes:
    field = "index" if entity == "pin" else "ind"
    return orjson.dumps({field: index, "title" if entity == "pin" else "country": f"v{index}", **extra})


def put(client: Any, stream: str, items: list[tuple[str, bytes]]) -> list[tuple[str, str]]:
    """Bare PutRecords of (partition key, data) in batches of 500; returns (shard, sequence number)."""
    placed: list[tuple[str, str]] = []
    for start in range(0, len(items), 500):
        chunk = [{"PartitionKey": key, "Data": data} for key, data in items[start : start + 500]]
        answer = client.put_records(StreamName=stream, Records=chunk)
        assert answer["FailedRecordCount"] == 0
        placed.extend((r["ShardId"], r["SequenceNumber"]) for r in answer["Records"])
    return placed


def bronze(settings: Settings, entity: str) -> pa.Table:
    lake = Lake(settings.lake)
    return DeltaTable(lake.uri(f"bronze/{stream_table(entity)}")).to_pyarrow_table()


def keys_of(table: pa.Table) -> list[tuple[str, str]]:
    return list(zip(table["_shard"].to_pylist(), table["_sequence_number"].to_pylist(), strict=True))


# --- the emulator's Kinesis sink ------------------------------------------------------------------


def test_sink_puts_every_record_in_batches_within_the_limits(stream_settings: Settings) -> None:
    stream_settings.data_dir.mkdir(parents=True)
    generate_source_db(stream_settings.source_db_url, rows=1_300, seed=1)
    source = EventSource(stream_settings.source_db_url)
    sink = KinesisSink(stream_settings)
    sizes: list[int] = []
    sink.client.meta.events.register(
        "provide-client-params.kinesis.PutRecords", lambda params, **_: sizes.append(len(params["Records"]))
    )
    events = source.events(0, list(range(1_200)))
    sink.send(events[:700])
    sink.send(events[700:])
    stats = sink.close()
    source.close()
    assert (stats.delivered, stats.failed) == (3 * 1_200, 0)
    assert max(sizes) <= MAX_BATCH_RECORDS and sum(sizes) == 3 * 1_200
    client = kinesis_client()
    for entity in ENTITIES:
        stream = stream_settings.stream(entity)
        shards = client.list_shards(StreamName=stream)["Shards"]
        assert len(shards) == 2
        seen: list[tuple[str, bytes]] = []
        for shard in shards:
            iterator = client.get_shard_iterator(
                StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            got = client.get_records(ShardIterator=iterator, Limit=10_000)["Records"]
            seen.extend((r["PartitionKey"], r["Data"]) for r in got)
        assert sorted(seen) == sorted((str(e.index), e.records[entity]) for e in events)


def test_batches_respect_the_byte_limit() -> None:
    entries = [{"Data": b"x" * 900_000, "PartitionKey": str(i)} for i in range(12)]
    split = batches(entries)
    assert [len(b) for b in split] == [5, 5, 2]
    assert all(sum(len(e["Data"]) + len(e["PartitionKey"]) for e in b) <= 5 * 1024 * 1024 for b in split)


class PartialFailures:
    """Unit-test fake of PutRecords (moto never fails a record): fails chosen records once, throttles
    whole requests a given number of times, and remembers every record it accepted."""

    def __init__(self, fail_once: set[bytes], throttle_requests: int = 0) -> None:
        self.fail_once = set(fail_once)
        self.throttle_requests = throttle_requests
        self.accepted: list[bytes] = []
        self.requests: list[list[bytes]] = []

    def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        self.requests.append([r["Data"] for r in Records])
        if self.throttle_requests:
            self.throttle_requests -= 1
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                "PutRecords",
            )
        results = []
        for entry in Records:
            if entry["Data"] in self.fail_once:
                self.fail_once.discard(entry["Data"])
                results.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "x"})
            else:
                self.accepted.append(entry["Data"])
                results.append({"ShardId": "shardId-000000000000", "SequenceNumber": "1"})
        failed = sum("ErrorCode" in r for r in results)
        return {"FailedRecordCount": failed, "Records": results}


def _events(count: int) -> list[Event]:
    return [Event(seq=i, index=i, records={e: record(e, i) for e in ENTITIES}) for i in range(count)]


def test_sink_resends_only_the_records_kinesis_refused(settings: Settings) -> None:
    events = _events(20)
    refused = {events[3].records["pin"], events[17].records["pin"], events[5].records["geo"]}
    fake = PartialFailures(refused)
    sink = KinesisSink(settings, client=fake, create_streams=False, sleep=lambda _: None)
    sink.send(events)
    stats = sink.close()
    assert (stats.delivered, stats.failed) == (60, 0)
    assert Counter(fake.accepted) == Counter(e.records[x] for e in events for x in ENTITIES)  # once each
    resends = [r for r in fake.requests if len(r) < 20]
    assert sorted(map(len, resends)) == [1, 2]  # only the refused ones went again
    assert sink.errors == {"ProvisionedThroughputExceededException": 3}


def test_sink_backs_off_on_throttling_then_gives_up_and_counts(settings: Settings) -> None:
    waits: list[float] = []
    fake = PartialFailures(set(), throttle_requests=2)
    sink = KinesisSink(settings, client=fake, create_streams=False, sleep=waits.append, max_attempts=4)
    sink.send(_events(5))
    assert sink.stats().delivered == 15 and len(waits) == 2
    fake.throttle_requests = 100
    sink.send(_events(2))
    assert sink.close().failed == 6  # 2 records x 3 streams, after 4 attempts each
    assert all(0 <= w <= 5.0 for w in waits)


# --- stream ingestion ---------------------------------------------------------------------------


def test_stream_lands_and_loads_every_record_once_and_quarantines_bad_ones(stream_settings: Settings) -> None:
    client = kinesis_client()
    ensure_streams(client, stream_settings)
    pin_stream = stream_settings.stream("pin")
    good = [(str(i), record("pin", i)) for i in range(1_500)]
    bad = [
        ("b1", b"\xff\xfe not utf-8"),
        ("b2", b"{not json"),
        ("b3", b"[1, 2]"),
        ("b4", b'{"title": "no index"}'),
        ("b5", b'{"index": "x7"}'),
    ]
    with_newline = [("nl", b'{"index": 9001,\n "title": "two lines"}')]
    placed = put(client, pin_stream, good + bad + with_newline)
    placed_geo = put(client, stream_settings.stream("geo"), [(str(i), record("geo", i)) for i in range(40)])

    report = StreamIngestion(stream_settings).run(idle_exit=1.0)

    table = bronze(stream_settings, "pin")
    assert sorted(keys_of(table)) == sorted(placed)  # every record, once
    assert report.committed["pin"] == len(placed) and report.quarantined == len(bad)
    assert sorted(keys_of(bronze(stream_settings, "geo"))) == sorted(placed_geo)
    rows = table.to_pylist()
    reasons = sorted(r["_quarantine_reason"].split(":")[0] for r in rows if r["_quarantine_reason"])
    assert reasons == ["bad_index", "missing_index", "not_json", "not_object", "not_utf8"]
    by_key = {(r["_shard"], r["_sequence_number"]): r for r in rows}
    for (_key, data), where in zip(good + bad + with_newline, placed, strict=True):
        row = by_key[where]
        assert row["_raw_bytes"] == (data if row["_quarantine_reason"] else None)
        assert row["_stream"] == pin_stream and row["_source"] == "kinesis"
        if not row["_quarantine_reason"]:
            assert row["index"] == str(orjson.loads(data)["index"]) and row["_raw_json"] == data.decode()
    # the raw landing holds every record, one per line (the one with a newline alone, as .bin)
    lake = Lake(stream_settings.lake)
    landed: Counter[bytes] = Counter()
    for obj in lake.list(f"raw/streams/{pin_stream}/"):
        data = lake.read_bytes(obj.key)
        if obj.key.endswith(".bin"):
            landed[data] += 1
        else:
            landed.update(data.rstrip(b"\n").split(b"\n"))
    assert landed == Counter(data for _, data in good + bad + with_newline)
    assert landing_key(pin_stream, "shardId-000000000001", "42").endswith("+" + "42".zfill(56) + ".json")
    # the checkpoint in the last commit is the last sequence number of each shard
    checkpoint = read_checkpoint(DeltaTable(lake.uri(f"bronze/{stream_table('pin')}")))
    assert checkpoint is not None
    last: dict[str, str] = {}
    for shard, seq in placed:
        last[shard] = max(last.get(shard, seq), seq, key=int)
    assert {s: p["seq"] for s, p in checkpoint["shards"].items()} == last

    # a second run reads only what was put since
    more = put(client, pin_stream, [(str(i), record("pin", i)) for i in range(1_500, 1_700)])
    StreamIngestion(stream_settings).run(idle_exit=1.0)
    assert sorted(keys_of(bronze(stream_settings, "pin"))) == sorted(placed + more)


def _crash_loop(settings: Settings, producing: threading.Event) -> int:
    """Run `pinpipe stream` and SIGKILL it while it commits, again and again while the producer runs."""
    env = {
        **os.environ,
        "PINPIPE_STREAM_COMMIT_SECONDS": "0.3",
        "PINPIPE_STREAM_POLL_SECONDS": "0.05",
        "PINPIPE_KINESIS_SHARDS": "2",
    }
    command = [sys.executable, "-m", "pinpipe", "--data-dir", str(settings.data_dir), "--uid", settings.uid]
    kills = 0
    lake = Lake(settings.lake)
    pin_table = lake.uri(f"bronze/{stream_table('pin')}")
    rng = random.Random(5)
    while producing.is_set() or kills < 5:
        before = DeltaTable(pin_table).version() if lake.exists(f"bronze/{stream_table('pin')}") else -1
        proc = subprocess.Popen(
            [*command, "stream"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 60
        # wait until this run has committed at least once, then kill it at a random moment
        while time.monotonic() < deadline:
            time.sleep(0.05)
            if lake.exists(f"bronze/{stream_table('pin')}") and DeltaTable(pin_table).version() > before:
                break
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        time.sleep(rng.uniform(0.0, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        if kills > 40:
            break
    final = subprocess.run(
        [*command, "stream", "--idle-exit", "3"], env=env, capture_output=True, timeout=300
    )
    assert final.returncode == 0, final.stderr.decode()[-3000:]
    return kills


def test_stream_survives_sigkill_without_losing_or_duplicating(stream_settings: Settings) -> None:
    client = kinesis_client()
    ensure_streams(client, stream_settings)
    placed: dict[str, list[tuple[str, str]]] = {e: [] for e in ENTITIES}
    producing = threading.Event()
    producing.set()
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            for start in range(0, 17_000, 500):  # 17,000 events x 3 streams = 51,000 records
                for entity in ENTITIES:
                    items = [(str(i), record(entity, i)) for i in range(start, start + 500)]
                    placed[entity].extend(put(client, stream_settings.stream(entity), items))
                time.sleep(0.15)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
        finally:
            producing.clear()

    producer = threading.Thread(target=produce)
    producer.start()
    kills = _crash_loop(stream_settings, producing)
    producer.join()
    assert not errors
    assert kills >= 5
    total = 0
    for entity in ENTITIES:
        keys = keys_of(bronze(stream_settings, entity))
        duplicates = [k for k, n in Counter(keys).items() if n > 1]
        assert duplicates == [], f"{entity}: {len(duplicates)} records twice"
        assert sorted(keys) == sorted(placed[entity]), f"{entity}: records lost"
        total += len(keys)
    assert total >= 50_000


def test_resharding_mid_stream_loses_nothing(stream_settings: Settings) -> None:
    client = kinesis_client()
    ensure_streams(client, stream_settings)
    stream = stream_settings.stream("user")
    ingestion = StreamIngestion(stream_settings)
    runner = threading.Thread(target=ingestion.run, kwargs={"idle_exit": 3.0})
    runner.start()
    placed = put(client, stream, [(str(i), record("user", i)) for i in range(2_000)])
    time.sleep(1.0)
    shard = client.list_shards(StreamName=stream)["Shards"][0]
    low, high = int(shard["HashKeyRange"]["StartingHashKey"]), int(shard["HashKeyRange"]["EndingHashKey"])
    client.split_shard(
        StreamName=stream, ShardToSplit=shard["ShardId"], NewStartingHashKey=str((low + high) // 2)
    )
    placed += put(client, stream, [(str(i), record("user", i)) for i in range(2_000, 4_000)])
    runner.join(timeout=120)
    assert not runner.is_alive()
    keys = keys_of(bronze(stream_settings, "user"))
    assert len(keys) == len(set(keys)) and sorted(keys) == sorted(placed)
    assert len(client.list_shards(StreamName=stream)["Shards"]) == 4


class FakeKinesis:
    """Unit-test fake of the reading side with AWS semantics moto lacks: a closed parent shard ends
    (no NextShardIterator), its children start empty of its records, iterators can expire."""

    def __init__(
        self,
        shards: dict[str, tuple[tuple[str, ...], bool, list[bytes]]],
        expire_at: int = -1,
        throttle_at: int = -1,
    ) -> None:
        self.shards = shards
        self.calls: list[str] = []
        self.expire_at = expire_at
        self.throttle_at = throttle_at

    def describe_stream_summary(self, StreamName: str) -> dict[str, Any]:
        if not StreamName.endswith("-geo"):  # only the geo stream exists
            raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no"}}, "Describe")
        return {"StreamDescriptionSummary": {"StreamCreationTimestamp": datetime(2026, 1, 1, tzinfo=UTC)}}

    def list_shards(self, **_: Any) -> dict[str, Any]:
        shards = []
        for shard_id, (parents, closed, _data) in self.shards.items():
            item: dict[str, Any] = {
                "ShardId": shard_id,
                "SequenceNumberRange": {"StartingSequenceNumber": "1"},
            }
            if parents:
                item["ParentShardId"] = parents[0]
            if closed:
                item["SequenceNumberRange"]["EndingSequenceNumber"] = "999"
            shards.append(item)
        return {"Shards": shards}

    def get_shard_iterator(
        self, StreamName: str, ShardId: str, ShardIteratorType: str, **kw: Any
    ) -> dict[str, Any]:
        after = int(kw.get("StartingSequenceNumber", 0))
        return {"ShardIterator": f"{ShardId}|{after}"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        shard_id, after_text = ShardIterator.split("|")
        self.calls.append(shard_id)
        if len(self.calls) == self.expire_at:
            raise ClientError({"Error": {"Code": "ExpiredIteratorException", "Message": "old"}}, "GetRecords")
        if len(self.calls) == self.throttle_at:
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}, "GetRecords"
            )
        after = int(after_text)
        _, closed, data = self.shards[shard_id]
        batch = data[after : after + 2]  # two records per call, to make several calls per shard
        records = [
            {
                "SequenceNumber": str(after + i + 1),
                "Data": d,
                "ApproximateArrivalTimestamp": datetime.now(UTC),
            }
            for i, d in enumerate(batch)
        ]
        end = after + len(batch)
        next_iterator = None if closed and end >= len(data) else f"{shard_id}|{end}"
        return {"Records": records, "NextShardIterator": next_iterator}


def test_children_follow_their_parent_and_iterator_errors_and_throttling_are_survived(
    settings: Settings,
) -> None:
    data = {name: [record("geo", 100 * n + i) for i in range(5)] for n, name in enumerate(["p", "c1", "c2"])}
    fake = FakeKinesis(
        {
            "shardId-p": ((), True, data["p"]),
            "shardId-c1": (("shardId-p",), False, data["c1"]),
            "shardId-c2": (("shardId-p",), False, data["c2"]),
        },
        expire_at=2,
        throttle_at=5,
    )
    tuned = settings.model_copy(update={"stream_poll_seconds": 0.01, "stream_commit_seconds": 0.05})
    report = StreamIngestion(tuned, client=fake).run(idle_exit=0.5)
    assert report.errors.get("ExpiredIteratorException") == 1
    assert report.errors.get("ProvisionedThroughputExceededException") == 1  # backed off, then went on
    assert report.errors.get("ResourceNotFoundException", 0) >= 2  # the pin and user streams: waited for
    parent_done = max(i for i, shard in enumerate(fake.calls) if shard == "shardId-p")
    first_child = min(i for i, shard in enumerate(fake.calls) if shard != "shardId-p")
    assert first_child > parent_done
    table = bronze(tuned, "geo")
    assert sorted(table["_raw_json"].to_pylist()) == sorted(d.decode() for v in data.values() for d in v)
    checkpoint = read_checkpoint(DeltaTable(Lake(tuned.lake).uri(f"bronze/{stream_table('geo')}")))
    assert checkpoint is not None and checkpoint["shards"]["shardId-p"] == {"seq": "5", "done": True}


def test_a_pause_after_a_round_that_skipped_a_throttled_shard_does_not_end_the_run(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI once ended an idle run with a throttled shard never read: the round skipped it, the machine paused
    the process past the back-off, and the idle check then saw no shard backing off. The pause is made
    certain here, without waiting: after every round that leaves a shard backing off, the loop's clock
    jumps one second past the back-off (and so past the idle exit too).
    """
    data = [record("geo", i) for i in range(4)]
    fake = FakeKinesis({"shardId-a": ((), False, data)}, throttle_at=1)
    tuned = settings.model_copy(update={"stream_poll_seconds": 0.01, "stream_commit_seconds": 0.05})
    ingestion = StreamIngestion(tuned, client=fake)
    real_poll = ingestion._poll
    skew = [0.0]

    def monotonic() -> float:
        return time.monotonic() + skew[0]

    def poll_then_pause(state: Any) -> int:
        got = real_poll(state)
        ends = [r.wait_until for r in state.shards.values() if r.wait_until > monotonic()]
        if ends:
            skew[0] += max(ends) - monotonic() + 1.0
        return got

    monkeypatch.setattr("ingestion.stream.time", SimpleNamespace(monotonic=monotonic))
    monkeypatch.setattr(ingestion, "_poll", poll_then_pause)
    report = ingestion.run(idle_exit=0.5)
    assert report.errors.get("ProvisionedThroughputExceededException") == 1
    assert sorted(bronze(tuned, "geo")["_raw_json"].to_pylist()) == sorted(d.decode() for d in data)


def test_a_stream_deleted_and_created_again_is_read_from_its_start(stream_settings: Settings) -> None:
    client = kinesis_client()
    ensure_streams(client, stream_settings)
    stream = stream_settings.stream("geo")
    first = put(client, stream, [(str(i), record("geo", i)) for i in range(300)])
    StreamIngestion(stream_settings).run(idle_exit=1.0)
    client.delete_stream(StreamName=stream)
    time.sleep(1.1)  # moto's creation timestamps have a resolution of one second
    client.create_stream(StreamName=stream, ShardCount=1)
    second = put(client, stream, [(str(i), record("geo", i)) for i in range(300, 400)])
    ingestion = StreamIngestion(stream_settings)
    ingestion.run(idle_exit=1.0)
    table = bronze(stream_settings, "geo")
    incarnations = Counter(table["_stream_created_at"].to_pylist())
    assert sorted(incarnations.values()) == [len(second), len(first)]
    assert (
        len(set(zip(table["_stream_created_at"].to_pylist(), keys_of(table), strict=True))) == table.num_rows
    )


def test_checkpoint_lives_in_the_commit_info(stream_settings: Settings) -> None:
    client = kinesis_client()
    ensure_streams(client, stream_settings)
    put(client, stream_settings.stream("pin"), [(str(i), record("pin", i)) for i in range(10)])
    StreamIngestion(stream_settings).run(idle_exit=0.5)
    table = DeltaTable(Lake(stream_settings.lake).uri(f"bronze/{stream_table('pin')}"))
    info = table.history(1)[0]
    checkpoint = json.loads(info[CHECKPOINT_KEY])
    assert checkpoint["stream"] == stream_settings.stream("pin") and checkpoint["shards"]
    assert info["operationMetrics"]["num_added_rows"] == 10
    # a commit without a checkpoint (compaction) is skipped when resuming
    table.optimize.compact()
    assert read_checkpoint(DeltaTable(table.table_uri)) == checkpoint


# --- the live views and S3 --------------------------------------------------------------------------


def _dbt(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    from ingestion.settings import PROJECT_ROOT
    from pinpipe.warehouse.dbt_runner import dbt_environment, dbt_executable

    return subprocess.run(
        [dbt_executable(), *args, "--project-dir", "dbt_project", "--profiles-dir", "."],
        env={
            **dbt_environment(settings),
            "DBT_TARGET_PATH": str(settings.data_dir / "target"),
            "DBT_LOG_PATH": str(settings.data_dir / "logs"),
        },
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_put_record_appears_in_the_live_views(stream_settings: Settings) -> None:
    from pinpipe.warehouse.reader import WarehouseReader

    client = kinesis_client()
    ensure_streams(client, stream_settings)
    BronzeLoader(stream_settings).ensure_tables()
    result = _dbt(stream_settings, "build", "--select", "+path:models/marts/live")
    assert result.returncode == 0, result.stdout[-5000:]
    put(
        client,
        stream_settings.stream("pin"),
        [("77", record("pin", 77, category="travel", title="No Title Data Available"))],
    )
    put(client, stream_settings.stream("geo"), [("77", record("geo", 77, country="Testland"))])
    put(client, stream_settings.stream("user"), [("77", b"{broken")])
    StreamIngestion(stream_settings).run(idle_exit=0.5)
    reader = WarehouseReader(stream_settings)
    try:
        assert reader.query("select ind, title, category from silver.stg_pinterest__live_pins")[1] == [
            (77, None, "travel")  # the same cleaning as the batch model: the placeholder is NULL
        ]
        _, rows = reader.query(
            "select category, posts_last_5_minutes, posts_last_hour from live.live_posts_by_category"
        )
        assert rows == [("travel", 1, 1)]
        _, rows = reader.query("select country, posts_last_hour from live.live_posts_by_country")
        assert rows == [("Testland", 1)]
        _, rows = reader.query("select stream_name, reason_kind, records_last_hour from live.live_quarantine")
        assert rows == [(stream_settings.stream("user"), "not_json", 1)]
    finally:
        reader.close()
    # the operator's command prints the same views
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "pinpipe",
            "--data-dir",
            str(stream_settings.data_dir),
            "--uid",
            stream_settings.uid,
            "live",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "live.live_posts_by_category" in shown.stdout and "travel | 1 | 1" in shown.stdout
    assert "Testland | 1 | 1" in shown.stdout and "not_json | 1" in shown.stdout


def test_the_batch_pipeline_runs_with_the_lake_on_s3(stream_settings: Settings, tmp_path: Path) -> None:
    import boto3

    boto3.client("s3").create_bucket(Bucket="pinpipe-lake")
    results = {}
    for name, lake in (("s3", f"s3://pinpipe-lake/{stream_settings.uid}"), ("local", str(tmp_path / "lake"))):
        data_dir = tmp_path / name
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pinpipe",
                "--data-dir",
                str(data_dir),
                "--lake",
                lake,
                "run",
                "--rows",
                "600",
                "--events",
                "400",
                "--quiet-dbt",
            ],
            capture_output=True,
            text=True,
            check=False,
            env={
                **os.environ,
                "DBT_TARGET_PATH": str(data_dir / "target"),
                "DBT_LOG_PATH": str(data_dir / "logs"),
            },
        )
        assert done.returncode == 0, done.stderr[-4000:]
        with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as conn:
            results[name] = {
                table: sorted(
                    conn.sql(
                        f"select * exclude (_loaded_at) from gold.{table}"
                        if table == "posts"
                        else f"select * from gold.{table}"
                    ).fetchall(),
                    key=repr,
                )
                for table in (
                    "posts",
                    "most_popular_category_by_country",
                    "median_follower_count_by_age_group",
                )
            }
    assert results["s3"]["posts"] and results["s3"] == results["local"]
    objects = boto3.client("s3").list_objects_v2(Bucket="pinpipe-lake", Prefix=f"{stream_settings.uid}/")
    keys = [o["Key"] for o in objects.get("Contents", [])]
    assert any("/raw/topics/" in k for k in keys) and any("/bronze/pin/_delta_log/" in k for k in keys)


def test_sigterm_commits_what_was_read_and_exits_cleanly(stream_settings: Settings) -> None:
    client = kinesis_client()
    ensure_streams(client, stream_settings)
    placed = put(client, stream_settings.stream("pin"), [(str(i), record("pin", i)) for i in range(3_000)])
    # nothing is committed before the signal; the INFO log says when records were read
    env = {**os.environ, "PINPIPE_STREAM_COMMIT_SECONDS": "30", "PINPIPE_LOG_LEVEL": "INFO"}
    command = [sys.executable, "-m", "pinpipe", "--data-dir", str(stream_settings.data_dir)]
    proc = subprocess.Popen(
        [*command, "--uid", stream_settings.uid, "stream"], env=env, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    reading = 0
    for line in proc.stderr:  # both shards of the pin stream read from
        reading += b"-pin shardId-" in line and b": reading from " in line
        if reading == 2:
            break
    time.sleep(0.5)
    assert not any(Lake(stream_settings.lake).list(f"raw/streams/{stream_settings.stream('pin')}/"))
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr.decode()[-3000:]
    assert sorted(keys_of(bronze(stream_settings, "pin"))) == sorted(placed)
