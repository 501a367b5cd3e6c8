"""The dbt project as Airflow tasks: astronomer-cosmos configuration of the ``dbt`` task group.

**Watcher execution** (``PINPIPE_DAG_EXECUTION=watcher``, the default): one task,
``dbt.dbt_producer_watcher``, runs one ``dbt build`` of the whole project (dbt's own order; a failed
test skips everything built from its model), and every model keeps its own Airflow task,
``dbt.<model>_build``, a sensor that turns the model's run and its data tests into the task's state
and log (``model_sensor.py``; a test reading several models counts for each of them). A run costs
about one ``dbt build`` plus the start of one task per model.

**Local execution** (``PINPIPE_DAG_EXECUTION=local``): a task per model run and per model's tests
(``dbt.<model>.run``, ``dbt.<model>.test``) and per source's freshness, each running its own dbt
command, one at a time on DuckDB.

Dependencies are the manifest's ``depends_on`` in both.

Rendering reads ``dbt_project/target/manifest.json`` (``LoadMode.DBT_MANIFEST``, written by
``make manifest``): a parse of the DAG file runs no dbt and opens no database.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from airflow.configuration import conf
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos import settings as cosmos_settings
from cosmos.constants import (
    DbtResourceType,
    ExecutionMode,
    InvocationMode,
    LoadMode,
    SourceRenderingBehavior,
    TestBehavior,
    TestIndirectSelection,
)
from cosmos.profiles import DatabricksTokenProfileMapping, SparkThriftProfileMapping

from ingestion.errors import PinpipeError
from pinpipe.report.questions import read_questions
from pinpipe_dag.config import DBT_PROFILE, DBT_PROJECT_DIR, PROFILES_YML, DagConfig
from pinpipe_dag.model_sensor import model_converter

log = logging.getLogger(__name__)

EXCLUDED = ["resource_type:unit_test", "resource_type:operation"]
"""Not tasks: dbt unit tests check SQL logic on fixed inputs (they run in ``make test``/CI, not on each
day's data), and the project's on-run-start hook (an operation) runs inside every dbt call anyway."""
WATCHER_EXCLUDED = ["path:tests/engine"]
"""Not in the watcher's build: the engine checks (singular tests of the project's macros, reading no
model) have no model whose test sensor could report them (Cosmos would attach them to an unrelated
model whose test sensor then never completes); ``make test`` runs them on every engine."""
PRODUCER_TASK_ID = "dbt_producer_watcher"
"""Cosmos' id of the watcher's ``dbt build`` task (inside the ``dbt`` group: ``dbt.dbt_producer_watcher``)."""
SENSOR_POKE_SECONDS = 2
"""How often a watcher sensor reads its node's state (an XCom read; cheap)."""
SENSOR_TIMEOUT = 2 * 3600
"""Seconds after which a watcher sensor whose node never reported fails."""


def project_config(config: DagConfig) -> ProjectConfig:
    """The dbt project, its manifest and the environment every dbt call gets."""
    return ProjectConfig(
        dbt_project_path=DBT_PROJECT_DIR,
        manifest_path=config.manifest_path if config.load_mode == "dbt_manifest" else None,
        project_name=DBT_PROFILE,
        env_vars=config.dbt_env(),
        install_dbt_deps=False,
    )


def profile_config(config: DagConfig) -> ProfileConfig:
    """profiles.yml of the repository, target from the configuration.

    On databricks with ``PINPIPE_DATABRICKS_CONN_ID`` set, the credentials come from that Airflow
    connection (Cosmos' token profile mapping) instead of the DATABRICKS_* variables of profiles.yml;
    on spark with ``PINPIPE_SPARK_CONN_ID`` set, from that connection of a Spark Thrift server
    (Cosmos' thrift profile mapping) instead of the local Spark session of profiles.yml. No
    credential is ever read here: Cosmos reads the connection when a task runs.
    """
    if config.target == "databricks" and config.databricks_conn_id:
        return ProfileConfig(
            profile_name=DBT_PROFILE,
            target_name=config.target,
            profile_mapping=DatabricksTokenProfileMapping(
                conn_id=config.databricks_conn_id,
                profile_args={"schema": os.environ.get("DATABRICKS_SCHEMA", "pinpipe")},
            ),
        )
    if config.target == "spark" and config.spark_conn_id:
        return ProfileConfig(
            profile_name=DBT_PROFILE,
            target_name=config.target,
            profile_mapping=SparkThriftProfileMapping(
                conn_id=config.spark_conn_id,
                profile_args={"schema": os.environ.get("PINPIPE_SPARK_SCHEMA", "pinpipe")},
            ),
        )
    return ProfileConfig(
        profile_name=DBT_PROFILE,
        target_name=config.target,
        profiles_yml_filepath=PROFILES_YML,
    )


def execution_config(config: DagConfig) -> ExecutionConfig:
    """Watcher (one ``dbt build``) or local execution, with the dbt of Airflow's own virtual environment.

    The watcher's producer never retries (Cosmos skips a second attempt rather than run a second
    whole build); a retry of a sensor runs its own node's dbt command (see ``operator_args``).
    """
    invocation = InvocationMode.SUBPROCESS if config.invocation == "subprocess" else InvocationMode.DBT_RUNNER
    watcher = config.execution == "watcher"
    return ExecutionConfig(
        execution_mode=ExecutionMode.WATCHER if watcher else ExecutionMode.LOCAL,
        invocation_mode=invocation,
        dbt_executable_path=config.dbt_executable,
        test_indirect_selection=TestIndirectSelection.EAGER,
        setup_operator_args={"retries": 0} if watcher else None,
    )


def render_config(config: DagConfig) -> RenderConfig:
    """Watcher: one task per model (run and tests). Local: per-model run and test tasks, sources
    rendered, multi-parent tests detached."""
    load_mode = LoadMode.DBT_MANIFEST if config.load_mode == "dbt_manifest" else LoadMode.DBT_LS
    watcher = config.execution == "watcher"
    rendered = RenderConfig(
        load_method=load_mode,
        # Watcher: no test tasks; each model's task waits for its tests too (see model_sensor.py)
        test_behavior=TestBehavior.NONE if watcher else TestBehavior.AFTER_EACH,
        # Watcher: source freshness is the DAG's own task before the build (Cosmos 1.15's producer does
        # not publish its freshness results to the source sensors, which then wait forever).
        source_rendering_behavior=SourceRenderingBehavior.NONE if watcher else SourceRenderingBehavior.ALL,
        # Watcher: a test reading several models counts for each parent's task (dbt build runs it
        # after all of them); Cosmos 1.15's detached test sensors never receive a status.
        should_detach_multiple_parents_tests=not watcher,
        exclude=EXCLUDED + WATCHER_EXCLUDED if watcher else EXCLUDED,
        dbt_executable_path=config.dbt_executable,
        invocation_mode=InvocationMode.SUBPROCESS,
        emit_datasets=False,
    )
    if not watcher:
        return rendered
    return replace(rendered, node_converters={DbtResourceType.MODEL: model_converter(rendered)})


def operator_args(config: DagConfig) -> dict[str, Any]:
    """Arguments of every Cosmos operator (owner and pool come from the DAG's default_args).

    Watcher sensors poke every 2 s in a worker slot (no triggerer needed, no second task start after
    a deferral) and do not retry on their own: a failed node is a data or SQL problem that the same
    command would fail again. Clearing a sensor re-runs its own node (see docs/airflow.md).
    """
    args: dict[str, Any] = {"append_env": True}
    if config.execution == "watcher":
        # timeout: a sensor whose node never reports gives up instead of holding its slot for days
        args.update(deferrable=False, poke_interval=SENSOR_POKE_SECONDS, retries=0, timeout=SENSOR_TIMEOUT)
    return args


def _tasks(group: Any) -> Iterator[Any]:
    """Every task of a task group, nested groups included."""
    for child in group.children.values():
        if hasattr(child, "children"):
            yield from _tasks(child)
        else:
            yield child


def writer_lock_path(config: DagConfig) -> Path:
    """The warehouse's lock file, the one ``pinpipe dbt`` and ``pinpipe run`` hold while dbt runs."""
    return Path(config.warehouse + ".lock")


@contextmanager
def writer_lock(path: Path, log: Callable[[str], None]) -> Iterator[None]:
    """Hold the warehouse's writer lock (waiting for it, and saying so)."""
    from ingestion.locks import FileLock  # deferred imports: when a task runs, not at parse

    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path), f"the warehouse {path.with_suffix('')}", wait=True, notify=log):
        yield


def serialise_dbt_calls(group: DbtTaskGroup, config: DagConfig) -> None:
    """On DuckDB, make every dbt call of the group's tasks take one file lock: the watcher's build,
    and a cleared sensor's own ``dbt run``/``dbt test``, one at a time (one writer), whatever the
    number of tasks running at once. Done on the task objects each time the DAG file is parsed (the
    task runner parses it too)."""
    if not config.single_writer:
        return
    path = writer_lock_path(config)
    for task in _tasks(group):
        run_command = getattr(task, "run_command", None)
        if run_command is None or getattr(run_command, "_pinpipe_locked", False):
            continue

        def locked(*args: Any, _run: Any = run_command, _task: Any = task, **kwargs: Any) -> Any:
            with writer_lock(path, _task.log.info):
                return _run(*args, **kwargs)

        functools.update_wrapper(locked, run_command)
        locked._pinpipe_locked = True  # type: ignore[attr-defined]
        task.run_command = locked


def dbt_task_group(config: DagConfig, group_id: str = "dbt") -> DbtTaskGroup:
    """The dbt project rendered as a task group of the DAG being defined."""
    group = DbtTaskGroup(
        group_id=group_id,
        project_config=project_config(config),
        profile_config=profile_config(config),
        execution_config=execution_config(config),
        render_config=render_config(config),
        operator_args=operator_args(config),
    )
    if config.execution == "watcher":
        build_tests_in_producer(group)
        keep_producer_xcoms_in_memory()
    serialise_dbt_calls(group, config)
    return group


def keep_producer_xcoms_in_memory() -> None:
    """Turn off Cosmos' "reliable retry" of the watcher's producer unless Airflow's configuration
    sets ``[cosmos] enable_watcher_reliable_retry`` itself.

    With it on, every XCom the producer pushes (status, events and compiled SQL of each of ~150 nodes)
    also rewrites one Airflow Variable holding all the XComs so far, compressed: quadratic work and a
    second API call per node, while dbt waits. It only serves a retry of the producer, and the
    producer here never retries (see ``execution_config``); clearing a model's task rebuilds that model
    instead. Measured in docs/airflow.md ("Speed"). Done at each parse: the task runner parses too."""
    if not conf.has_option("cosmos", "enable_watcher_reliable_retry"):
        cosmos_settings.enable_watcher_reliable_retry = False


def build_tests_in_producer(group: DbtTaskGroup) -> None:
    """Let the watcher's ``dbt build`` run the data tests too.

    With ``TestBehavior.NONE`` Cosmos limits the producer to ``--resource-type model/seed/snapshot``;
    the model tasks here report their tests, so the build must run them (in dbt's order: a failed test
    still skips what is built from its model)."""
    for task in _tasks(group):
        if task.task_id.endswith(PRODUCER_TASK_ID):
            flags = list(task.dbt_cmd_flags)
            kept: list[str] = []
            while flags:
                flag = flags.pop(0)
                if flag == "--resource-type" and flags:
                    flags.pop(0)
                    continue
                kept.append(flag)
            task.dbt_cmd_flags = kept


def gold_tables(group: DbtTaskGroup) -> list[str]:
    """The gold tables the group builds: the marts in the ``gold`` schema materialised as tables.

    Every gold question of the project (``pinpipe.report.questions``) must be one of them, so that
    downstream DAGs can schedule on its Asset; one that is not (a manifest older than the project's
    YAML: ``make manifest``) is logged as a warning, and the DAG still renders."""
    nodes = group.dbt_graph.filtered_nodes.values()
    tables = sorted(
        node.name
        for node in nodes
        if node.resource_type.value == "model"
        and "marts" in Path(node.file_path).parts
        and node.config.get("schema") == "gold"
        and node.config.get("materialized") in ("table", "incremental")
    )
    try:
        questions = read_questions(DBT_PROJECT_DIR)
    except PinpipeError as exc:  # the report's problem, not the run's: `pinpipe report` says it too
        log.warning("cannot read the gold questions: %s", exc)
        return tables
    missing = [question.table for question in questions if question.table not in tables]
    if missing:
        log.warning("gold questions without an Asset: %s; is the manifest stale? `make manifest`", missing)
    return tables
