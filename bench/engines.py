"""Benchmark: the same dbt build on DuckDB and on a local Spark session with Delta Lake, side by side.

For each size, one lake (the emulator's posts through the lake sink, loaded into bronze), then the
routine ``dbt build`` (models and data tests) on the duckdb target and on the spark target (dbt-spark's
session method, local[2], the Delta jars from Maven Central), each in its own process on a fresh
warehouse. Printed: wall times, the ratio Spark/DuckDB, and the Spark session's start-up share (the
on-run-start hook runs the first statement, which starts the session; on DuckDB it takes 0.3 s).

Run: ``.venv/bin/python bench/engines.py [--posts 100000 1000000]``.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from dbt_build import Project, make_lake

from pinpipe.warehouse.dbt_runner import DBT_PROJECT, ROUTINE_BUILD, dbt_environment


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--posts", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    project = Project(DBT_PROJECT)
    for posts in args.posts:
        with tempfile.TemporaryDirectory(prefix="pinpipe-bench-engines-") as tmp:
            work = Path(tmp)
            settings = make_lake(work, posts, 0.05, 1, datetime.now(UTC))
            runs = {}
            for target in ("duckdb", "spark"):
                target_settings = settings.model_copy(update={"dbt_target": target})
                dbt_environment(target_settings)  # fetches the Delta jars before the clock starts
                (work / target).mkdir()
                runs[target] = project.dbt(target_settings, work / target, *ROUTINE_BUILD)
            duck, spark = runs["duckdb"], runs["spark"]
            startup = spark.node_seconds("operation.")
            print(
                f"dbt build (routine) on {posts:,} posts: DuckDB {duck.seconds:.1f}s, Spark (local[2], "
                f"Delta) {spark.seconds:.1f}s; ratio Spark/DuckDB {spark.seconds / duck.seconds:.1f}; Spark "
                f"session start-up (first statement) {startup:.1f}s = {startup / spark.seconds:.0%} of it"
            )
            print(f"    DuckDB: {duck.breakdown()}")
            print(f"    Spark:  {spark.breakdown()}")


if __name__ == "__main__":
    main()
