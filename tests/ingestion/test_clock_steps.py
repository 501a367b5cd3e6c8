"""When a record arrived is never read from a clock that can lie (issue 28, case 2).

A build whose clock was behind the previous build's left complete posts in silver for good: the
incremental watermarks compared wall-clock ``_loaded_at`` values across tables. The clock is moved
here for real, with libfaketime (Debian's ``faketime``, installed by ``make test``) around the
``pinpipe`` process, its dbt child and, on Spark, the JVM: back and forward between bronze loads and
between builds, on DuckDB and on Spark.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from deltalake import DeltaTable

from ingestion.lake import Lake
from ingestion.landing import LandingWriter, next_offsets
from ingestion.settings import Settings

pytestmark = pytest.mark.slow


def faketime() -> str:
    found = shutil.which("faketime")
    assert found, "faketime is missing: `make test` installs it (apt-get install faketime)"
    return found


def pinpipe(data_dir: Path, *args: str, clock: str | None = None) -> subprocess.CompletedProcess[str]:
    """``pinpipe`` with the clock moved by ``clock`` (libfaketime's offset syntax, e.g. ``-2h``)."""
    command = [sys.executable, "-m", "pinpipe", *args]
    env = {
        **os.environ,
        "PINPIPE_DATA_DIR": str(data_dir),
        "DBT_TARGET_PATH": str(data_dir / "target"),
        "DBT_LOG_PATH": str(data_dir / "logs"),
    }
    if clock is not None:
        # -m: the multi-threaded libfaketime; the JVM of the Spark target hangs under the other one
        command = [faketime(), "-m", "-f", clock, *command]
    # its own session, so that a timeout or an interrupted test stops the whole tree (faketime's
    # wrapper, pinpipe, dbt, the JVM), not only the first process
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=1800)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    done = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    assert done.returncode == 0, f"pinpipe {' '.join(args)} ({clock}):\n{stdout[-3000:]}\n{stderr[-3000:]}"
    return done


def land_post(data_dir: Path, index: int) -> None:
    """Land one complete post (pin, geo and user) after the records landed so far."""
    settings = Settings(data_dir=data_dir)
    lake = Lake(settings.lake)
    records = {
        "pin": (
            b'{"index": %d, "unique_id": "u-%d", "title": "t", "description": "d", "poster_name": "p", '
            b'"follower_count": "10k", "tag_list": "a,b", "is_image_or_video": "image", '
            b'"image_src": "https://i.pinimg.com/originals/a.jpg", "downloaded": 1, '
            b'"save_location": "Local save in /data/art", "category": "art"}'
        )
        % (index, index),
        "geo": b'{"ind": %d, "timestamp": "2020-01-01T00:00:00", "latitude": 1.5, "longitude": 2.5, '
        b'"country": "France"}' % index,
        "user": b'{"ind": %d, "first_name": "Ada", "last_name": "Byron", "age": 30, '
        b'"date_joined": "2016-01-01T00:00:00"}' % index,
    }
    writer = LandingWriter(lake)
    for entity, value in records.items():
        topic = settings.topic(entity)
        writer.add(topic, 0, next_offsets(lake, topic).get(0, 0), value)
    writer.flush_all()


def duckdb_posts(data_dir: Path) -> set[int]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as conn:
        return {row[0] for row in conn.execute("select ind from gold.posts").fetchall()}


def spark_posts(data_dir: Path) -> set[int]:
    table = DeltaTable(str(data_dir / "spark" / "warehouse" / "gold.db" / "posts"))
    return set(table.to_pyarrow_table(columns=["ind"])["ind"].to_pylist())


@pytest.fixture(scope="module")
def lake_with_posts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("clock")
    pinpipe(data_dir, "run", "--rows", "300", "--events", "200", "--quiet-dbt")
    return data_dir


def test_clock_steps_back_and_forward_lose_no_post_on_duckdb(lake_with_posts: Path) -> None:
    data_dir = lake_with_posts
    before = duckdb_posts(data_dir)
    # the case: a complete post loaded, then a build whose clock is two hours behind
    land_post(data_dir, 900_001)
    pinpipe(data_dir, "bronze", "load")
    pinpipe(data_dir, "dbt", "build", "--quiet", clock="-2h")
    pinpipe(data_dir, "dbt", "build", "--quiet")
    assert duckdb_posts(data_dir) == before | {900_001}
    # a bronze load whose clock is five hours behind (beyond any look-back), then a build
    land_post(data_dir, 900_002)
    pinpipe(data_dir, "bronze", "load", clock="-5h")
    pinpipe(data_dir, "dbt", "build", "--quiet")
    assert duckdb_posts(data_dir) == before | {900_001, 900_002}
    # a build a day ahead, then the clock back to now: the next day's post still arrives
    pinpipe(data_dir, "dbt", "build", "--quiet", clock="+1d")
    land_post(data_dir, 900_003)
    pinpipe(data_dir, "bronze", "load")
    pinpipe(data_dir, "dbt", "build", "--quiet")
    assert duckdb_posts(data_dir) == before | {900_001, 900_002, 900_003}
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as conn:
        stamps = [
            row[0] for row in conn.execute("select build_stamp from pinpipe_meta.build_stamps").fetchall()
        ]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)  # in build order, never repeated


@pytest.mark.timeout(2700)  # two Spark sessions (about a minute each idle, several under load)
def test_clock_steps_back_lose_no_post_on_spark(lake_with_posts: Path) -> None:
    """On Spark, a run whose JVM clock is two hours behind the previous run's, over a bronze load
    whose clock was five hours behind, still adds the new post to gold."""
    data_dir = lake_with_posts
    run = ("dbt", "--target", "spark", "run", "--select", "+posts")
    pinpipe(data_dir, *run)
    before = spark_posts(data_dir)
    land_post(data_dir, 910_001)
    pinpipe(data_dir, "bronze", "load", clock="-5h")
    pinpipe(data_dir, *run, clock="-2h")
    assert spark_posts(data_dir) == before | {910_001}
