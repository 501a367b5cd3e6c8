"""The dbt project as Airflow tasks: astronomer-cosmos configuration of the ``dbt`` task group.

One task per model (``dbt run --select``) followed by a task running that model's data tests
(``TestBehavior.AFTER_EACH``), one task per source (``dbt source freshness`` where the source declares
freshness, an empty task otherwise), and one task per test that reads several models (it runs after
all of them, instead of inside the test task of one parent, where it could read a model this run has
not built yet). Dependencies are the manifest's ``depends_on``.

Rendering reads ``dbt_project/target/manifest.json`` (``LoadMode.DBT_MANIFEST``, written by
``make manifest``): a parse of the DAG file runs no dbt and opens no database.
"""

from __future__ import annotations

import os
from typing import Any

from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import (
    ExecutionMode,
    InvocationMode,
    LoadMode,
    SourceRenderingBehavior,
    TestBehavior,
    TestIndirectSelection,
)
from cosmos.profiles import DatabricksTokenProfileMapping

from pinpipe_dag.config import DBT_PROFILE, DBT_PROJECT_DIR, PROFILES_YML, DagConfig

EXCLUDED = ["resource_type:unit_test", "resource_type:operation"]
"""Not tasks: dbt unit tests check SQL logic on fixed inputs (they run in ``make test``/CI, not on each
day's data), and the project's on-run-start hook (an operation) runs inside every dbt call anyway."""


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
    connection (Cosmos' token profile mapping) instead of the DATABRICKS_* variables of profiles.yml.
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
    return ProfileConfig(
        profile_name=DBT_PROFILE,
        target_name=config.target,
        profiles_yml_filepath=PROFILES_YML,
    )


def execution_config(config: DagConfig) -> ExecutionConfig:
    """Local execution with the dbt of Airflow's own virtual environment."""
    invocation = InvocationMode.SUBPROCESS if config.invocation == "subprocess" else InvocationMode.DBT_RUNNER
    return ExecutionConfig(
        execution_mode=ExecutionMode.LOCAL,
        invocation_mode=invocation,
        dbt_executable_path=config.dbt_executable,
        test_indirect_selection=TestIndirectSelection.EAGER,
    )


def render_config(config: DagConfig) -> RenderConfig:
    """Per-model run and test tasks, sources rendered, multi-parent tests detached."""
    load_mode = LoadMode.DBT_MANIFEST if config.load_mode == "dbt_manifest" else LoadMode.DBT_LS
    return RenderConfig(
        load_method=load_mode,
        test_behavior=TestBehavior.AFTER_EACH,
        source_rendering_behavior=SourceRenderingBehavior.ALL,
        should_detach_multiple_parents_tests=True,
        exclude=EXCLUDED,
        dbt_executable_path=config.dbt_executable,
        invocation_mode=InvocationMode.SUBPROCESS,
        emit_datasets=False,
    )


def operator_args(config: DagConfig) -> dict[str, Any]:
    """Arguments of every Cosmos operator (retries, owner and pool come from the DAG's default_args)."""
    return {"append_env": True}


def dbt_task_group(config: DagConfig, group_id: str = "dbt") -> DbtTaskGroup:
    """The dbt project rendered as a task group of the DAG being defined."""
    return DbtTaskGroup(
        group_id=group_id,
        project_config=project_config(config),
        profile_config=profile_config(config),
        execution_config=execution_config(config),
        render_config=render_config(config),
        operator_args=operator_args(config),
    )
