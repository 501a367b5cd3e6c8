"""Benchmark of the ingestion gateway: records/s through it vs the direct sinks, and request latency.

Starts a local Kafka broker, moto (Kinesis) and ``pinpipe gateway`` (uvicorn, its own process) on
127.0.0.1, then posts the same events with the emulator's HTTP sink (one record per request, as the
original emulator did, and batches of 100) and, as the baseline in the same run, with the direct Kafka
and Kinesis sinks (Kinesis runs each start on empty streams). Each sender uses ``--workers``
threads. Latency: p50/p99 of the HTTP requests.

Run: ``.venv/bin/python bench/gateway.py [--events 3000] [--batch-events 20000] [--workers 8]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from devservices.aws import LocalAWS
from devservices.kafka import LocalKafka
from devservices.processes import free_ports
from emulator.generate import generate_source_db
from emulator.posting import PostingPlan, post_events
from emulator.sinks import Sink
from emulator.sinks.http import HttpSink
from emulator.sinks.kafka import KafkaSink
from emulator.sinks.kinesis import KinesisSink
from emulator.source import EventSource
from ingestion.kafka.topics import ensure_topics
from ingestion.kinesis import ensure_streams, kinesis_client
from ingestion.settings import PROJECT_ROOT, Settings


def timed(sink: HttpSink, latencies: list[float]) -> None:
    """Wrap the sink's client so every request's wall time is recorded."""
    lock = threading.Lock()
    for method in ("post", "put"):
        original = getattr(sink.client, method)

        def call(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                with lock:
                    latencies.append(time.perf_counter() - started)

        setattr(sink.client, method, call)


def run(settings: Settings, sink: Sink, events: int, workers: int) -> float:
    """Records/s of posting ``events`` sequential events through ``sink``."""
    source = EventSource(settings.source_db_url)
    try:
        plan = PostingPlan(events=events, order="sequential", workers=workers)
        summary = post_events(source, sink, plan, handle_signals=False)
    finally:
        source.close()
    assert summary.records_failed == 0, f"{sink.name}: {summary.records_failed} records failed"
    return summary.records_delivered / summary.seconds


def fresh(api: str, aws: LocalAWS, settings: Settings) -> None:
    """Kinesis: empty streams before each run (moto's cost per record grows with the stream's size,
    which would favour whichever run goes first)."""
    if api == "kinesis":
        aws.reset()
        ensure_streams(kinesis_client(), settings)


def pct(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--events", type=int, default=3_000, help="events for one record per request")
    parser.add_argument("--batch-events", type=int, default=20_000, help="events for batches of 100")
    parser.add_argument("--workers", type=int, default=8, help="sender threads")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pinpipe-bench-gateway-") as tmp:
        work = Path(tmp)
        with LocalKafka(work / "kafka").start(timeout=180) as kafka, LocalAWS(work / "aws") as aws:
            os.environ.update(aws.env())
            port = free_ports(1)[0]
            settings = Settings(
                data_dir=work / "data",
                kafka_bootstrap=kafka.bootstrap_servers,
                gateway_port=port,
                gateway_url=f"http://127.0.0.1:{port}",
            )
            settings.data_dir.mkdir()
            generate_source_db(settings.source_db_url, rows=max(args.events, args.batch_events), seed=1)
            ensure_topics(settings)
            ensure_streams(kinesis_client(), settings)
            env = {**os.environ, "PINPIPE_KAFKA_BOOTSTRAP": kafka.bootstrap_servers}
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pinpipe",
                    "--data-dir",
                    str(settings.data_dir),
                    "gateway",
                    "--port",
                    str(port),
                ],
                cwd=PROJECT_ROOT,
                env=env,
                stderr=subprocess.DEVNULL,
            )
            try:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        urllib.request.urlopen(f"{settings.gateway_url}/health", timeout=1).read()
                        break
                    except OSError:
                        assert time.monotonic() < deadline, "the gateway did not start"
                        time.sleep(0.2)
                for api, direct in (("kafka", KafkaSink), ("kinesis", KinesisSink)):
                    figures, rates = [], []
                    for batch, events in ((1, args.events), (100, args.batch_events)):
                        fresh(api, aws, settings)
                        latencies: list[float] = []
                        http = HttpSink(settings.model_copy(update={"http_api": api, "http_batch": batch}))
                        timed(http, latencies)
                        rate = run(settings, http, events, args.workers)
                        rates.append(rate)
                        figures.append(
                            f"{batch} record(s)/request {rate:,.0f} records/s "
                            f"(request p50 {pct(latencies, 0.5):.1f} ms, p99 {pct(latencies, 0.99):.1f} ms)"
                        )
                    fresh(api, aws, settings)
                    baseline = run(settings, direct(settings), args.batch_events, args.workers)
                    print(
                        f"gateway -> {api}: {'; '.join(figures)}; baseline direct {api} sink {baseline:,.0f} "
                        f"records/s; ratios {rates[0] / baseline:.2f} and {rates[1] / baseline:.2f}"
                    )
            finally:
                server.terminate()
                server.wait(30)


if __name__ == "__main__":
    main()
