"""One Airflow task per dbt model in watcher execution: the model's run and its data tests together.

Cosmos 1.15's watcher renders two sensors per model (``<model>.run`` and ``<model>.test``) and refuses
``TestBehavior.BUILD``. Every sensor is a task start (a process that parses the DAG file), and on a
small machine those start-ups, not dbt, were most of a DAG run (docs/airflow.md, "Speed"). This sensor
halves them: it succeeds when its model was built and every data test of the model passed, fails
when either failed, and is skipped when dbt skipped the model (an upstream failure).

It reads the two XComs Cosmos' producer already publishes: ``<model>_status`` and, once every test
of the model has reported, the aggregated ``<model>_tests_status``. Every name of Cosmos' private API
it needs comes from ``cosmos_internals.py`` (checked by tests/dags/test_cosmos_internals.py). Cleared or
retried after the build ended, it runs ``dbt build --select <model>`` (the model and its tests) under
the writer lock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, ClassVar

from cosmos.airflow.graph import create_task_metadata
from cosmos.config import RenderConfig
from cosmos.constants import ExecutionMode, TestIndirectSelection
from cosmos.core.airflow import get_airflow_task
from cosmos.dbt.graph import DbtNode
from cosmos.operators.watcher import DbtRunWatcherOperator

from pinpipe_dag.cosmos_internals import is_dbt_node_status_success, tests_status

BUILD_SUFFIX = "build"
"""Task id of a model's task: ``<model>_build`` (its run and its tests, as ``dbt build`` does)."""


class DbtModelBuildWatcherSensor(DbtRunWatcherOperator):
    """A model's run and its data tests, watched from the producer's one ``dbt build``."""

    base_cmd: ClassVar[list[str]] = ["build"]  # after a clear or retry: the model and its tests

    def __init__(self, *args: Any, model_has_tests: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.model_has_tests = model_has_tests

    @property
    def _resource_label(self) -> str:
        return "Model (run and tests)" if self.model_has_tests else "Model"

    def _get_node_status(self, ti: Any, context: Any) -> Any:  # cosmos_internals.NODE_STATUS_METHOD
        """The model's status until it succeeded; then, if it has tests, their aggregated status
        (``None`` until every test reported, which keeps the sensor waiting)."""
        status = super()._get_node_status(ti, context)
        if not self.model_has_tests or not is_dbt_node_status_success(status):
            return status
        tests = tests_status(ti, self.producer_task_id, self.model_unique_id)
        if tests is not None and not is_dbt_node_status_success(tests):
            self.log.error(
                "Model '%s' was built, but its data tests failed (%s)", self.model_unique_id, tests
            )
        return tests


def model_converter(render_config: RenderConfig) -> Callable[..., Any]:
    """A Cosmos node converter for models: Cosmos' own task arguments, this module's sensor."""

    def convert(
        *,
        dag: Any,
        task_group: Any,
        node: DbtNode,
        task_args: dict[str, Any],
        execution_mode: ExecutionMode,
        test_indirect_selection: TestIndirectSelection,
        **_: Any,
    ) -> Any:
        group_id = "__".join(part for part in (dag.dag_id, getattr(task_group, "group_id", None)) if part)
        meta = create_task_metadata(
            node=node,
            execution_mode=execution_mode,
            args=task_args,
            dbt_dag_task_group_identifier=group_id,
            render_config=render_config,
            test_indirect_selection=test_indirect_selection,
        )
        if meta is None:  # a node Cosmos does not render (e.g. an ephemeral model as empty task)
            return None
        sensor_path = f"{__name__}.{DbtModelBuildWatcherSensor.__name__}"
        if meta.operator_class.endswith(".DbtRunWatcherOperator"):
            meta = replace(
                meta,
                id=f"{node.name}_{BUILD_SUFFIX}",
                operator_class=sensor_path,
                arguments={**meta.arguments, "model_has_tests": bool(node.has_test)},
            )
        return get_airflow_task(meta, dag, task_group)

    return convert
