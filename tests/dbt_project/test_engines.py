"""One dbt project, three engines: the same models and tests on DuckDB and on a local Spark session with
Delta Lake (one Spark build for the module: the Spark start-up is paid once), gold compared row by row;
and the Databricks target parsed offline.

The Spark build runs in its own `dbt` process (dbt-spark's session method, pyspark 4.2, the Delta jars
from Maven Central), bound to 127.0.0.1; its gold tables are managed Delta tables, read back here with
deltalake.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from ingestion.settings import PROJECT_ROOT
from tests import dbt_support as support

pytestmark = pytest.mark.slow


@dataclass
class Engines:
    data_dir: Path
    spark_result: subprocess.CompletedProcess[str]


def pinpipe(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PINPIPE_DATA_DIR": str(data_dir),
        "DBT_TARGET_PATH": str(data_dir / "target"),
        "DBT_LOG_PATH": str(data_dir / "logs"),
    }
    return subprocess.run(
        [sys.executable, "-m", "pinpipe", *args], env=env, capture_output=True, text=True, timeout=1500
    )


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engines]:
    data_dir = tmp_path_factory.mktemp("engines")
    # The main job lands and loads the events and builds everything on DuckDB (unit tests included)...
    duck = pinpipe(data_dir, "run", "--rows", "1500", "--events", "2500", "--quiet-dbt")
    assert duck.returncode == 0, duck.stderr[-4000:]
    unit = pinpipe(data_dir, "dbt", "test", "--select", "resource_type:unit_test")
    assert unit.returncode == 0, unit.stdout[-4000:]
    # ... then the very same project on Spark over the same bronze tables.
    spark = pinpipe(data_dir, "dbt", "--target", "spark", "build")
    yield Engines(data_dir, spark)


def _normal(value: Any) -> Any:
    """One representation for both engines' Python values (UTC datetimes, lists, rounded floats)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, float):
        return round(value, 9) if math.isfinite(value) else value
    if isinstance(value, list | tuple):
        return tuple(_normal(v) for v in value)
    return value


def _spark_gold(spark_home: Path, tables: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    gold: dict[str, list[tuple[Any, ...]]] = {}
    for table in tables:
        arrow = DeltaTable(str(spark_home / "warehouse" / "gold.db" / table)).to_pyarrow_table()
        columns = [c for c in arrow.column_names if c not in support.LOAD_TIME_COLUMNS]
        rows = zip(*(arrow[c].to_pylist() for c in columns), strict=True)
        gold[table] = sorted((tuple(_normal(v) for v in row) for row in rows), key=repr)
    return gold


def test_the_whole_project_builds_on_spark(engines: Engines) -> None:
    result = engines.spark_result
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    results = json.loads((engines.data_dir / "target" / "run_results.json").read_text())["results"]
    kinds = {r["unique_id"].split(".")[0] for r in results}
    assert {"model", "test", "unit_test"} <= kinds  # models, data tests (contracts on gold) and unit tests
    # Saved queries and exposures have nothing to build: dbt reports them as no-op.
    failed = [r["unique_id"] for r in results if r["status"] not in ("success", "pass") and not _no_op(r)]
    assert not failed, failed


def _no_op(result: dict[str, Any]) -> bool:
    return result["status"] == "no-op" and result["unique_id"].startswith(("saved_query.", "exposure."))


def test_gold_is_identical_on_duckdb_and_spark(engines: Engines) -> None:
    assert engines.spark_result.returncode == 0, engines.spark_result.stdout[-4000:]
    duck = support.gold_snapshot(engines.data_dir / "warehouse.duckdb", _normal)
    spark = _spark_gold(engines.data_dir / "spark", sorted(duck))
    # posts, the nine answers, quarantine_summary and the four aggregates behind the answers
    assert len(duck) == 15 and len(duck["posts"]) > 500
    for table in sorted(duck):
        assert spark[table] == duck[table], f"gold.{table} differs between DuckDB and Spark"


def test_databricks_target_parses_offline(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PINPIPE_DBT_TARGET": "databricks",
        "DATABRICKS_HOST": "example.cloud.databricks.com",
        "DATABRICKS_HTTP_PATH": "/sql/1.0/warehouses/none",
        "DATABRICKS_TOKEN": "not-a-token",
        "DATABRICKS_CATALOG": "pinpipe_ci",
    }
    done = subprocess.run(
        [
            str(support.DBT_EXECUTABLE),
            "parse",
            "--project-dir",
            "dbt_project",
            "--profiles-dir",
            ".",
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:]
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    posts = manifest["nodes"]["model.pinpipe.posts"]
    assert (
        posts["database"] == "pinpipe_ci" and posts["schema"] == "gold"
    )  # Unity Catalog: catalog.gold.posts
    assert posts["config"]["file_format"] == "delta" and posts["config"]["incremental_strategy"] == "append"
    assert manifest["metadata"]["adapter_type"] == "databricks"
