"""The main job end to end at a small size, through the real CLI, and its idempotence."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from emulator.posting import PostingPlan, pick_indexes
from ingestion.bronze.tables import read_table
from ingestion.errors import PinpipeError
from ingestion.lake import Lake
from ingestion.landing import split_lines
from ingestion.settings import ENTITIES, Settings
from pinpipe import pipeline
from tests import dbt_support as support

pytestmark = pytest.mark.integration


def pinpipe(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PINPIPE_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "pinpipe", *args], env=env, capture_output=True, text=True, timeout=600
    )


def bronze_counts(settings: Settings) -> dict[str, int]:
    return {e: len(read_table(settings, e)) for e in ENTITIES}


def test_main_job_runs_and_a_second_run_changes_nothing(settings: Settings) -> None:
    first = pinpipe(settings.data_dir, "run", "--rows", "400", "--events", "250", "--quiet-dbt")
    assert first.returncode == 0, first.stderr + first.stdout
    assert "loaded 750 records" in first.stderr
    assert "Q1 most popular category per country" in first.stdout
    assert str(settings.warehouse) in first.stdout
    page = settings.data_dir / "report.html"
    assert first.stdout.rstrip().endswith(f"report with charts and the run's health: {page}")
    assert page.is_file() and "most_popular_category_by_country" in page.read_text()
    counts = bronze_counts(settings)
    assert counts == {"pin": 250, "geo": 250, "user": 250}
    answers = support.gold_snapshot(settings.warehouse)
    assert len(answers) >= 10 and all(answers[t] for t in ("posts", "most_popular_category_by_year"))
    distinct_posted = len({r["index"] for r in read_table(settings, "pin", ["index"]).to_pylist()})
    assert len(answers["posts"]) == distinct_posted  # one row per index, however often it was posted

    second = pinpipe(settings.data_dir, "run", "--rows", "400", "--events", "250")
    assert second.returncode == 0, second.stderr
    output = second.stdout + second.stderr
    assert "Completed successfully" in output  # dbt's own lines are there, without colour escapes
    assert "\x1b[" not in output
    assert "posted before" in second.stderr and "loaded 0 records" in second.stderr
    assert bronze_counts(settings) == counts
    assert support.gold_snapshot(settings.warehouse) == answers

    again = pinpipe(settings.data_dir, "run", "--rows", "400", "--events", "250", "--repost", "--quiet-dbt")
    assert again.returncode == 0, again.stderr
    assert bronze_counts(settings) == {e: 500 for e in ENTITIES}
    assert support.gold_snapshot(settings.warehouse) == answers  # the same posts delivered twice count once


def test_cli_failures_are_one_line_reasons(settings: Settings) -> None:
    missing = pinpipe(settings.data_dir, "emulate", "--events", "5")
    assert missing.returncode == 1
    assert (
        missing.stderr.strip().splitlines()[-1].startswith("pinpipe: error: cannot read the source database")
    )
    assert "Traceback" not in missing.stderr
    bad_uid = pinpipe(settings.data_dir, "--uid", "Bad UID!", "bronze", "load")
    assert (
        bad_uid.returncode == 1 and "invalid settings" in bad_uid.stderr and "Traceback" not in bad_uid.stderr
    )


def test_an_interrupted_posting_resumes_instead_of_posting_everything_again(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first attempt dies after 100 of its 250 events; the rerun posts only the events whose
    index is not yet complete in the lake, and the lake then holds every index a whole run would."""
    pipeline.build_source_db(settings, 400, 0)
    job = {"rows": 400, "db_seed": 0, "events": 250, "seed": 100}
    real_emulate = pipeline.emulate

    def dies_after_100(settings: Settings, plan: PostingPlan, sink: str, **kwargs: Any) -> None:
        real_emulate(settings, dataclasses.replace(plan, events=100), sink, **kwargs)
        raise PinpipeError("the emulator was killed")

    monkeypatch.setattr(pipeline, "emulate", dies_after_100)
    with pytest.raises(PinpipeError, match="killed"):
        pipeline.post_once(settings, **job)
    monkeypatch.undo()
    sequence = pick_indexes("random", 100, 399)
    planned = [next(sequence) for _ in range(250)]
    done_before = set(planned[:100])
    assert pipeline.complete_indexes(settings) == done_before

    summary = pipeline.post_once(settings, **job)
    assert summary is not None
    assert summary.events == sum(1 for index in planned if index not in done_before) < 250
    assert pipeline.complete_indexes(settings) == set(planned)
    lake = Lake(settings.lake)
    landed = sum(len(split_lines(lake.read_bytes(o.key))) for o in lake.list("raw/topics/"))
    assert landed == 3 * (100 + summary.events)  # nothing posted twice
    assert pipeline.post_once(settings, **job) is None  # finished now: nothing more
