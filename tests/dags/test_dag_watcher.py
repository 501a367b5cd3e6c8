"""The watcher DAG's shape and its model tasks' verdicts, without a scheduler (that run is in
tests/dags/test_airflow_scheduler.py): one task per dbt model that reports the model's run and its data
tests, its dependencies the manifest's, and a producer whose one ``dbt build`` runs those tests.

The DAG is parsed in its own Python process (see tests/dags/test_airflow_source.py for why).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.dags.test_airflow_source import dag_process_env, run_with_dag
from tests.dags.test_dag import MANIFEST, REPO_ROOT, manifest_command, manifest_env

pytestmark = pytest.mark.integration

RENDER = """
import json, runpy, sys
dag = runpy.run_path(sys.argv[1])["dag"]
tasks = {}
for task in dag.tasks:
    tasks[task.task_id] = {
        "class": type(task).__name__,
        "upstream": sorted(task.upstream_task_ids),
        "model": getattr(task, "model_unique_id", None),
        "has_tests": getattr(task, "model_has_tests", None),
        "flags": list(getattr(task, "dbt_cmd_flags", None) or []),
        "exclude": getattr(task, "exclude", None),
        "base_cmd": list(getattr(task, "base_cmd", None) or []),
    }
print(json.dumps(tasks))
"""

VERDICTS = """
import copy, json, runpy, sys
from cosmos.operators._watcher.aggregation import get_tests_status_xcom_key
from cosmos.operators._watcher.state import get_status_xcom_key

dag = runpy.run_path(sys.argv[1])["dag"]
tested = dag.task_dict["dbt.stg_pinterest__pins_build"]
untested = copy.copy(tested)  # every model of the project has tests: the same task, without them
untested.model_has_tests = False

class TaskInstance:
    def __init__(self, xcoms):
        self.xcoms = xcoms
    def xcom_pull(self, task_ids, key):
        return self.xcoms.get(key)

def verdict(task, model=None, tests=None):
    xcoms = {}
    if model is not None:
        xcoms[get_status_xcom_key(task.model_unique_id)] = {"status": model, "outlet_uris": []}
    if tests is not None:
        xcoms[get_tests_status_xcom_key(task.model_unique_id)] = tests
    return task._get_node_status(TaskInstance(xcoms), {})

print(json.dumps({
    "tested_waiting": verdict(tested),
    "tested_built_tests_pending": verdict(tested, "success"),
    "tested_built_tests_pass": verdict(tested, "success", "pass"),
    "tested_built_tests_fail": verdict(tested, "success", "fail"),
    "tested_error": verdict(tested, "error"),
    "tested_error_tests_pass": verdict(tested, "error", "pass"),
    "tested_skipped": verdict(tested, "skipped"),
    "untested_built": verdict(untested, "success"),
    "untested_waiting": verdict(untested),
}))
"""


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    """dbt_project/target/manifest.json, written by ``dbt parse`` as ``make manifest`` does."""
    done = subprocess.run(
        manifest_command(), cwd=REPO_ROOT, env=manifest_env(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    data: dict[str, Any] = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return data


def test_one_task_per_model_reporting_its_run_and_tests(manifest: dict[str, Any], tmp_path: Path) -> None:
    tasks = run_with_dag(RENDER, dag_process_env(tmp_path, PINPIPE_DAG_EXECUTION="watcher"))
    nodes = manifest["nodes"]
    models = {uid: n for uid, n in nodes.items() if n["resource_type"] == "model"}
    data_tests = [
        n
        for n in nodes.values()
        if n["resource_type"] == "test" and not n["original_file_path"].startswith("tests/engine")
    ]
    build_task = {uid: f"dbt.{n['name']}_build" for uid, n in models.items()}
    producer = "dbt.dbt_producer_watcher"
    dbt_tasks = {t for t in tasks if t.startswith("dbt.")}
    assert dbt_tasks == set(build_task.values()) | {producer, f"{producer}_done"}
    for uid, task_id in build_task.items():
        task = tasks[task_id]
        assert task["class"] == "DbtModelBuildWatcherSensor", task_id
        assert task["model"] == uid
        assert task["has_tests"] == any(uid in t["depends_on"]["nodes"] for t in data_tests), task_id
        assert task["base_cmd"] == ["build"]  # a cleared task rebuilds its model and runs its tests
        parents = {build_task[p] for p in models[uid]["depends_on"]["nodes"] if p in build_task}
        assert set(task["upstream"]) == (parents or {"ingest.source_freshness"}), task_id
    # the producer builds everything but the engine checks, tests included (no --resource-type limit)
    assert "--resource-type" not in tasks[producer]["flags"]
    assert "path:tests/engine" in tasks[producer]["exclude"]
    assert tasks[producer]["upstream"] == ["ingest.source_freshness"]
    leaves = {
        t for t in build_task.values() if not any(t in tasks[o]["upstream"] for o in build_task.values())
    }
    assert set(tasks["record_run"]["upstream"]) == leaves | {f"{producer}_done"}


def test_a_model_task_waits_for_its_tests_and_fails_with_them(
    manifest: dict[str, Any], tmp_path: Path
) -> None:
    outcome = run_with_dag(VERDICTS, dag_process_env(tmp_path, PINPIPE_DAG_EXECUTION="watcher"))
    assert outcome["tested_waiting"] is None
    assert outcome["tested_built_tests_pending"] is None  # built, tests not all reported: keep waiting
    assert outcome["tested_built_tests_pass"] == "pass"
    assert outcome["tested_built_tests_fail"] == "fail"
    assert outcome["tested_error"] == "error"
    assert outcome["tested_error_tests_pass"] == "error"  # a failed build is not rescued by old tests
    assert outcome["tested_skipped"] == "skipped"
    assert outcome["untested_built"] == "success"
    assert outcome["untested_waiting"] is None
