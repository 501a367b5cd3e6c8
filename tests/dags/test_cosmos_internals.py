"""The private Cosmos names the watcher DAG's model sensor rests on (dags/pinpipe_dag/cosmos_internals.py),
checked against the installed astronomer-cosmos: an upgrade that moves, renames or reshapes one of
them fails here, naming it, instead of in a DAG run.

The checks run in their own Python process with their own Airflow home (importing Cosmos' operators
configures Airflow; see tests/dags/test_airflow_source.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dags.test_airflow_source import dag_process_env, run_with_dag

pytestmark = pytest.mark.integration

CHECKS = """
import inspect, json
import cosmos
from cosmos.airflow.graph import create_task_metadata
from cosmos.core.airflow import get_airflow_task
from cosmos.operators._watcher import aggregation, state
from cosmos.operators._watcher.base import BaseConsumerSensor
from cosmos.operators.watcher import DbtRunWatcherOperator

from pinpipe_dag import cosmos_internals
from pinpipe_dag.model_sensor import DbtModelBuildWatcherSensor



def params(function):
    return [name for name in inspect.signature(function).parameters]


class TaskInstance:
    def __init__(self):
        self.xcoms = {}

    def xcom_push(self, key, value, **_):
        self.xcoms[key] = value

    def xcom_pull(self, task_ids=None, key=None, **_):
        return self.xcoms.get(key)


def aggregated(outcome):
    # two tests of one model reported through Cosmos' own aggregation: pending after one, then the verdict
    tests = {"model.p.m": ["test.p.t1", "test.p.t2"]}
    ti, results = TaskInstance(), {}
    aggregation.push_test_result_or_aggregate("test.p.t1", "pass", tests, results, ti)
    pending = cosmos_internals.tests_status(ti, "producer", "model.p.m")
    aggregation.push_test_result_or_aggregate("test.p.t2", outcome, tests, results, ti)
    verdict = cosmos_internals.tests_status(ti, "producer", "model.p.m")
    return pending, verdict, cosmos_internals.is_dbt_node_status_success(verdict)


node_status = getattr(BaseConsumerSensor, cosmos_internals.NODE_STATUS_METHOD, None)
poke = inspect.getsource(BaseConsumerSensor.poke)
label = inspect.getattr_static(BaseConsumerSensor, "_resource_label", None)
print(json.dumps({
    "version": cosmos.__version__,
    "node_status_params": params(node_status) if node_status else None,
    "poke_calls_node_status": "self._get_node_status(ti, context)" in poke,
    "resource_label_is_property": isinstance(label, property),
    "sensor_extends_run_watcher": issubclass(DbtModelBuildWatcherSensor, DbtRunWatcherOperator),
    "get_xcom_val_params": params(state.get_xcom_val),
    "tests_status_key": aggregation.get_tests_status_xcom_key("model.p.m"),
    "create_task_metadata_params": params(create_task_metadata),
    "get_airflow_task_params": params(get_airflow_task),
    "pass": aggregated("pass"),
    "fail": aggregated("fail"),
}))
"""


def test_the_private_cosmos_names_the_model_sensor_uses_are_as_checked(tmp_path: Path) -> None:
    found = run_with_dag(CHECKS, dag_process_env(tmp_path))
    # A new Cosmos release: check each name below against it (cosmos_internals.py says what 1.16.0a3
    # changes), then raise COSMOS_VERSION_CHECKED and the pin in pyproject.toml together.
    assert found["version"] == "1.15.1", "a Cosmos upgrade: re-check dags/pinpipe_dag/cosmos_internals.py"
    assert found["node_status_params"] == ["self", "ti", "context"], "the sensor's status method changed"
    assert found["poke_calls_node_status"], "poke no longer asks _get_node_status for the node's status"
    assert found["resource_label_is_property"], "_resource_label (overridden by the model sensor) changed"
    assert found["sensor_extends_run_watcher"]
    assert found["get_xcom_val_params"] == ["task_instance", "task_ids", "key"]
    assert found["tests_status_key"] == "model__p__m_tests_status"
    assert {
        "node",
        "execution_mode",
        "args",
        "dbt_dag_task_group_identifier",
        "render_config",
        "test_indirect_selection",
    } <= set(found["create_task_metadata_params"]), "model_sensor.model_converter's call changed"
    assert found["get_airflow_task_params"] == ["task", "dag", "task_group"]
    # The aggregated test status as Cosmos' own code publishes it, read by cosmos_internals.tests_status
    assert found["pass"] == [None, "pass", True]
    assert found["fail"] == [None, "fail", False]
