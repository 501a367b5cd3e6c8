"""`pinpipe bronze load` killed (SIGKILL) at random points, many times, loses and duplicates nothing.

A real landing (the emulator through the lake sink, some records made bad) is loaded by real
processes that are killed while they commit: small batches and parts (PINPIPE_BRONZE_BATCH_RECORDS,
PINPIPE_BRONZE_PART_BYTES) make every load a run of commits, each with appends written side by side,
so a kill lands between parts, between tables and before the ledger. A last load that runs to its end
must leave bronze, the quarantine and the ledger equal to one uninterrupted load of the same landing.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from emulator.generate import generate_source_db
from emulator.posting import PostingPlan, post_events
from emulator.sinks import open_sink
from emulator.source import EventSource
from ingestion.bronze.loader import BronzeLoader
from ingestion.bronze.tables import LEDGER, QUARANTINE, read_table
from ingestion.landing import split_lines
from ingestion.settings import ENTITIES, Settings

pytestmark = pytest.mark.integration

SMALL_COMMITS = {"PINPIPE_BRONZE_BATCH_RECORDS": "1500", "PINPIPE_BRONZE_PART_BYTES": "1"}
LINEAGE = ("_topic", "_partition", "_offset")


def make_landing(settings: Settings, events: int) -> int:
    """Emulated records in the lake, every 997th made bad; returns the number of records."""
    Path(settings.data_dir).mkdir(parents=True)
    generate_source_db(settings.source_db_url, rows=3_000, seed=3)
    post_events(  # objects of 500 records: the load is a long run of small commits
        EventSource(settings.source_db_url),
        open_sink("lake", settings.model_copy(update={"flush_records": 500})),
        PostingPlan(events=events, seed=5),
        handle_signals=False,
    )
    records = 0
    for path in sorted((Path(settings.lake) / "raw").rglob("*.json")):
        lines = split_lines(path.read_bytes())
        lines = [b"not json" if (records + i) % 997 == 0 else line for i, line in enumerate(lines)]
        path.write_bytes(b"".join(line + b"\n" for line in lines))
        records += len(lines)
    return records


def content(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every bronze table but the load times, in a canonical order."""
    tables = {}
    for name in (*ENTITIES, QUARANTINE):
        table = read_table(settings, name).drop_columns(["_ingested_at"])
        tables[name] = sorted(tuple(row.values()) for row in table.to_pylist())
    ledger = read_table(settings, LEDGER).select(["landing_object", "size", "records"])
    tables[LEDGER] = sorted(tuple(row.values()) for row in ledger.to_pylist())
    return tables


def commits(settings: Settings) -> int:
    return sum(1 for _ in (Path(settings.lake) / "bronze").glob("*/_delta_log/*.json"))


def bronze_load(settings: Settings, stderr: int = subprocess.DEVNULL) -> subprocess.Popen[str]:
    """A load in its own process; a load to be killed writes its messages nowhere (an unread pipe
    could fill and stall it where no commit runs)."""
    return subprocess.Popen(
        [sys.executable, "-m", "pinpipe", "bronze", "load"],
        env={**os.environ, "PINPIPE_DATA_DIR": str(settings.data_dir), **SMALL_COMMITS},
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        text=True,
    )


def test_sigkill_at_random_points_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "killed")
    records = make_landing(settings, 15_000)
    reference = Settings(data_dir=tmp_path / "reference")
    shutil.copytree(Path(settings.lake) / "raw", Path(reference.lake) / "raw")
    BronzeLoader(reference).load()
    expected = content(reference)
    assert sum(len(expected[name]) for name in (*ENTITIES, QUARANTINE)) == records
    assert len(expected[QUARANTINE]) > 30

    BronzeLoader(settings).ensure_tables()
    rng = random.Random(17)
    kills = 0
    for _ in range(6):
        before = commits(settings)
        proc = bronze_load(settings)
        deadline = time.monotonic() + 120
        while commits(settings) == before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.5))  # somewhere in the run of commits that follows
        if proc.poll() is None:
            kills += 1
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert kills >= 4, "most kills must hit a load in progress"
    assert content(settings) != expected, "the kills must have left the load unfinished"

    done = bronze_load(settings, stderr=subprocess.PIPE)
    _, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    assert content(settings) == expected
    for name in (*ENTITIES, QUARANTINE):
        keys = read_table(settings, name, LINEAGE).to_pylist()
        assert len(keys) == len({tuple(key.values()) for key in keys}), f"{name}: a row twice"
