"""A whole day end to end at scale: N posts (10 million by default), then an incremental day of 1%.

Every stage is the ``pinpipe`` command a user runs, started as its own process, so each stage's time
and peak memory are its own: the peak RSS comes from ``wait4`` (the stage and every child it waited
for, e.g. dbt under ``pinpipe dbt``). The Kafka broker is a service, not a stage: its peak RSS is
reported on its own line.

Stages of day 1 (a source DB of N x (1 + share) rows is generated first, as set-up):

1. emulate → lake: N posts (3N records), each index once, through the lake sink;
2. emulate → Kafka: the same N posts through the Kafka sink into a local broker (a second data
   folder), then 3. Kafka → raw landing of that folder (``kafka land --drain``);
4. raw landing → bronze (``bronze load``) of the lake of stage 1;
5. dbt build (silver, gold, tests); 6. report (text and HTML).

Day 2 posts the share's new indexes through the lake sink and repeats bronze → dbt → report, which
must cost the new day, not the history. Every stage's peak RSS must stay at or below --max-rss-gb.

Run: ``.venv/bin/python bench/day.py [--posts 10000000] [--share 0.01] [--no-kafka] [--work DIR]``.
It needs about 3 KB of disk per post (the lake, the Kafka log and the landing of stage 3).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent


@dataclass
class Stage:
    name: str
    seconds: float
    peak_rss_bytes: int
    records: int | None = None

    def line(self) -> str:
        rate = f"{self.records / self.seconds:>12,.0f}" if self.records and self.seconds > 0 else " " * 12
        return f"  {self.name:<34} {self.seconds:>9.1f} {rate} {self.peak_rss_bytes / 2**20:>10,.0f}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_stage(
    name: str, args: list[str], env: dict[str, str], log: Path, records: int | None = None
) -> Stage:
    """Run one ``pinpipe`` command to its end; its time and its (and its children's) peak RSS."""
    command = [sys.executable, "-m", "pinpipe", *args]
    print(f"[{time.strftime('%H:%M:%S')}] {name}: pinpipe {' '.join(args)}", file=sys.stderr, flush=True)
    with log.open("ab") as out:
        out.write(f"\n$ pinpipe {' '.join(args)}\n".encode())
        out.flush()
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=REPOSITORY, stdout=out, stderr=out)
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"bench/day.py: stage {name!r} failed (exit {process.returncode}); see {log}")
    return Stage(name, seconds, usage.ru_maxrss * 1024, records)  # ru_maxrss is in KiB on Linux


def broker_peak_rss(data_dir: Path) -> int | None:
    """VmHWM of the local broker of a data folder (its pid file), before it is stopped."""
    for pid_file in (data_dir / "kafka").glob("*.pid"):
        try:
            status = Path(f"/proc/{int(pid_file.read_text().split()[0])}/status").read_text()
        except (OSError, ValueError):
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=10_000_000, help="Posts of day 1.")
    parser.add_argument("--share", type=float, default=0.01, help="Day 2's new posts, a share of day 1.")
    parser.add_argument("--no-kafka", action="store_true", help="Skip stages 2 and 3 (Kafka).")
    parser.add_argument("--work", type=Path, help="Work folder (default: a temporary one, removed).")
    parser.add_argument("--keep", action="store_true", help="Keep the work folder.")
    parser.add_argument("--max-rss-gb", type=float, default=4.0, help="Peak RSS allowed per stage.")
    options = parser.parse_args()

    work = options.work or Path(tempfile.mkdtemp(prefix="pinpipe-day-"))
    work.mkdir(parents=True, exist_ok=True)
    lake_dir, kafka_dir = work / "lake-day", work / "kafka-day"
    log = work / "stages.log"
    posts, extra = options.posts, max(1, round(options.posts * options.share))
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("PINPIPE_")}
    base_env["PINPIPE_SOURCE_DB_URL"] = f"sqlite:///{work / 'source.db'}"
    lake_env = {**base_env, "PINPIPE_DATA_DIR": str(lake_dir)}
    stages: list[Stage] = []
    records = 3 * posts
    broker_rss: int | None = None
    started = time.perf_counter()
    try:
        setup = run_stage("set-up: source DB", ["db", "build", "--rows", str(posts + extra)], lake_env, log)
        emulate = ["emulate", "--order", "sequential", "--events", str(posts), "--max-index", str(posts - 1)]
        stages.append(run_stage("1 emulate → lake", [*emulate, "--sink", "lake"], lake_env, log, records))
        if not options.no_kafka:
            port = free_port()
            kafka_env = {
                **base_env,
                "PINPIPE_DATA_DIR": str(kafka_dir),
                "PINPIPE_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
            }
            run_stage("set-up: Kafka broker", ["kafka", "start", "--port", str(port)], kafka_env, log)
            try:
                run_stage("set-up: topics", ["kafka", "topics"], kafka_env, log)
                stages.append(
                    run_stage("2 emulate → Kafka", [*emulate, "--sink", "kafka"], kafka_env, log, records)
                )
                stages.append(
                    run_stage("3 Kafka → raw landing", ["kafka", "land", "--drain"], kafka_env, log, records)
                )
                broker_rss = broker_peak_rss(kafka_dir)
            finally:
                subprocess.run(
                    [sys.executable, "-m", "pinpipe", "kafka", "stop"],
                    env=kafka_env,
                    cwd=REPOSITORY,
                    check=False,
                )
            shutil.rmtree(kafka_dir, ignore_errors=True)  # its disk is not needed any more
        stages.append(run_stage("4 raw landing → bronze", ["bronze", "load"], lake_env, log, records))
        stages.append(run_stage("5 dbt build", ["dbt", "build"], lake_env, log, posts))
        html = str(lake_dir / "report.html")
        stages.append(
            run_stage("6 report (text, html)", ["report", "--html", html, "--format", "text"], lake_env, log)
        )

        day2 = ["emulate", "--order", "sequential", "--events", str(extra), "--min-index", str(posts)]
        stages.append(run_stage("day 2: emulate → lake", [*day2, "--sink", "lake"], lake_env, log, 3 * extra))
        stages.append(run_stage("day 2: raw landing → bronze", ["bronze", "load"], lake_env, log, 3 * extra))
        stages.append(run_stage("day 2: dbt build", ["dbt", "build"], lake_env, log, extra))
        stages.append(
            run_stage("day 2: report", ["report", "--html", html, "--format", "text"], lake_env, log)
        )
    finally:
        total = time.perf_counter() - started
        print(f"\n{posts:,} posts ({3 * posts:,} records), then {extra:,} posts; work folder {work}")
        print(f"  {'stage':<34} {'seconds':>9} {'records/s':>12} {'peak RSS MB':>10}")
        for stage in stages:
            print(stage.line())
        if stages:
            print(f"  (set-up: source DB of {posts + extra:,} rows in {setup.seconds:.0f}s)")
        if broker_rss is not None:
            print(f"  Kafka broker (a service, not a stage): peak RSS {broker_rss / 2**20:,.0f} MB")
        print(f"  total {total:,.0f}s; log of every stage: {log}")
        if not options.keep and options.work is None:
            shutil.rmtree(work, ignore_errors=True)
    worst = max(stages, key=lambda stage: stage.peak_rss_bytes)
    verdict = "within" if worst.peak_rss_bytes <= options.max_rss_gb * 2**30 else "OVER"
    print(
        f"  largest peak RSS: {worst.name}, {worst.peak_rss_bytes / 2**30:.2f} GB, "
        f"{verdict} {options.max_rss_gb} GB"
    )


if __name__ == "__main__":
    main()
