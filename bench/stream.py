"""Benchmark of the Kinesis path against a local moto server (started here, on 127.0.0.1).

Figures, each with a baseline measured in the same run:

* end-to-end latency from PutRecords to visible in the live staging view
  (``silver.stg_pinterest__live_pins``, read through ``WarehouseReader`` as an operator's poll would):
  p50/p95/p99 over ``--events`` records put at a steady ``--rate``, with ``pinpipe stream`` running as
  its own process at the default settings (target p99 <= 2 s);
* stream throughput: the stream ingestion (landing + bronze commits with checkpoints) over a stream
  holding ``--records`` records vs a bare boto3 GetRecords loop over the same shards (moto's ceiling);
* landing objects: ``Lake.write_bytes`` of 64 KiB objects on S3 (moto) vs the local disk.

Run: ``.venv/bin/python bench/stream.py [--events 10000] [--rate 500] [--records 30000]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import boto3
import orjson

from devservices.aws import LocalAWS
from ingestion.bronze.loader import BronzeLoader
from ingestion.kinesis import ensure_streams, kinesis_client, list_shards
from ingestion.lake import Lake
from ingestion.settings import PROJECT_ROOT, Settings
from ingestion.stream import StreamIngestion
from pinpipe.warehouse.dbt_runner import run_dbt
from pinpipe.warehouse.reader import WarehouseReader


def pin(index: int) -> bytes:
    return orjson.dumps({"index": index, "title": f"t{index}", "category": "travel", "follower_count": "1k"})


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def bench_latency(work: Path, events: int, rate: float) -> None:
    settings = Settings(data_dir=work / "latency", uid="benchlat")
    settings.data_dir.mkdir(parents=True)
    client = kinesis_client()
    ensure_streams(client, settings)
    BronzeLoader(settings).ensure_tables()
    run_dbt(settings, ["build", "--select", "+path:models/marts/live"], quiet=True)
    consumer = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pinpipe",
            "--data-dir",
            str(settings.data_dir),
            "--uid",
            settings.uid,
            "stream",
        ],
        cwd=PROJECT_ROOT,
        stderr=subprocess.DEVNULL,
    )
    put_at: dict[int, float] = {}
    seen_at: dict[int, float] = {}
    done = threading.Event()
    finished = [0.0]

    def observe() -> None:
        reader = WarehouseReader(settings)
        since = "1970-01-01 00:00:00+00"
        while not done.is_set() or len(seen_at) < len(put_at):
            reader.refresh()
            # by commit time: commits are atomic, and each holds records of every shard read so far
            _, rows = reader.query(
                "select ind, cast(_ingested_at as varchar) from silver.stg_pinterest__live_pins "
                f"where _ingested_at >= '{since}'"
            )
            now = time.perf_counter()
            for ind, _ in rows:
                seen_at.setdefault(ind, now)
            if rows:
                since = max(at for _, at in rows)
            time.sleep(0.05)
            if done.is_set() and time.perf_counter() - finished[0] > 30:
                break
        reader.close()

    observer = threading.Thread(target=observe)
    time.sleep(2.0)  # the consumer's start-up (imports, checkpoint read) is not latency
    observer.start()
    batch = max(1, int(rate / 10))
    stream = settings.stream("pin")
    started = time.perf_counter()
    for first in range(0, events, batch):
        indexes = list(range(first, min(events, first + batch)))
        at = time.perf_counter()
        client.put_records(
            StreamName=stream, Records=[{"PartitionKey": str(i), "Data": pin(i)} for i in indexes]
        )
        for i in indexes:
            put_at[i] = at
        pause = started + (first + batch) / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    finished[0] = time.perf_counter()
    done.set()
    observer.join()
    consumer.terminate()
    consumer.wait(30)
    latencies = [seen_at[i] - put_at[i] for i in put_at if i in seen_at]
    missing = len(put_at) - len(latencies)
    p50, p95, p99 = (percentile(latencies, share) for share in (0.5, 0.95, 0.99))
    not_seen = f"; NOT SEEN: {missing}" if missing else ""
    print(
        f"latency PutRecords -> visible in silver.stg_pinterest__live_pins, {len(put_at):,} records at "
        f"{rate:,.0f}/s (commit every {settings.stream_commit_seconds}s, poll "
        f"{settings.stream_poll_seconds}s; observer polls every 0.05s): p50 {p50:.2f}s, p95 {p95:.2f}s, "
        f"p99 {p99:.2f}s, max {max(latencies):.2f}s (target p99 <= 2 s){not_seen}"
    )


def bench_throughput(work: Path, records: int) -> None:
    settings = Settings(data_dir=work / "throughput", uid="benchtp")
    client = kinesis_client()
    ensure_streams(client, settings)
    stream = settings.stream("pin")
    for first in range(0, records, 500):
        chunk = [{"PartitionKey": str(i), "Data": pin(i)} for i in range(first, min(records, first + 500))]
        client.put_records(StreamName=stream, Records=chunk)

    started = time.perf_counter()
    read = 0
    shards, _ = list_shards(client, stream)
    for shard in shards:
        iterator = client.get_shard_iterator(
            StreamName=stream, ShardId=shard.shard_id, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while True:
            answer = client.get_records(ShardIterator=iterator, Limit=10_000)
            read += len(answer["Records"])
            if not answer["Records"]:
                break
            iterator = answer["NextShardIterator"]
    bare = time.perf_counter() - started

    idle = 1.0
    started = time.perf_counter()
    report = StreamIngestion(settings).run(idle_exit=idle)
    ours = time.perf_counter() - started - idle
    print(
        f"stream throughput over {records:,} records on {len(shards)} shards: pinpipe stream "
        f"(landing + bronze commit with checkpoint) {report.committed['pin'] / ours:,.0f} records/s "
        f"({report.commits} commits); baseline bare boto3 GetRecords loop {read / bare:,.0f} records/s; "
        f"ratio {(report.committed['pin'] / ours) / (read / bare):.2f}"
    )


def bench_landing(work: Path, objects: int) -> None:
    boto3.client("s3").create_bucket(Bucket="pinpipe-bench")
    data = os.urandom(64 * 1024)
    rates = {}
    for name, root in (("s3", "s3://pinpipe-bench/lake"), ("local", str(work / "landing"))):
        lake = Lake(root)
        started = time.perf_counter()
        for i in range(objects):
            lake.write_bytes(f"raw/streams/s/shard/{i:08d}.json", data)
        rates[name] = objects / (time.perf_counter() - started)
    print(
        f"landing {objects} objects of 64 KiB: S3 (moto) {rates['s3']:,.0f} objects/s; baseline local disk "
        f"(fsync'd) {rates['local']:,.0f} objects/s; ratio {rates['s3'] / rates['local']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000, help="records for the latency figure")
    parser.add_argument("--rate", type=float, default=500.0, help="records/s put for the latency figure")
    parser.add_argument("--records", type=int, default=30_000, help="records for the throughput figure")
    parser.add_argument("--objects", type=int, default=300, help="objects for the landing figure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pinpipe-bench-stream-") as tmp:
        work = Path(tmp)
        with LocalAWS(work / "aws") as aws:
            os.environ.update(aws.env())
            os.environ.update({"DBT_TARGET_PATH": str(work / "target"), "DBT_LOG_PATH": str(work / "logs")})
            bench_landing(work, args.objects)
            bench_throughput(work, args.records)
            bench_latency(work, args.events, args.rate)


if __name__ == "__main__":
    main()
