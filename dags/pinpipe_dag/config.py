"""How the daily DAG is configured: where things are, and the ``PINPIPE_*`` environment it reads.

Everything comes from the project's one settings object (``ingestion.settings.Settings``: lake,
warehouse, uid, Kafka, dbt target) plus the DAG's own settings, read the same way (pydantic-settings):

- ``PINPIPE_DBT_TARGET``: dbt target of profiles.yml, ``duckdb`` (default), ``databricks``, ``spark``.
- ``PINPIPE_DAG_SOURCE``: default of the run param ``source``; ``auto`` (default) drains Kafka when
  its broker answers within a few seconds and else reads the lake landing as it is, ``kafka`` drains
  the topics (and fails at once when the broker does not answer), ``lake`` skips the drain (the
  emulator's lake sink wrote the landing).
- ``PINPIPE_DAG_EXECUTION``: ``watcher`` (default: one ``dbt build`` task feeding a sensor per model
  and per model's tests) or ``local`` (one Airflow task per dbt model run and per model's tests).
- ``PINPIPE_DAG_LOAD_MODE``: ``dbt_manifest`` (default, reads dbt_project/target/manifest.json) or
  ``dbt_ls`` (runs ``dbt ls`` at every parse; slow, for development without a manifest).
- ``PINPIPE_DBT_INVOCATION``: ``subprocess`` (the venv's ``dbt`` executable; the default with
  watcher execution) or ``dbt_runner`` (dbt in the task's process; the default with local execution,
  where it saves dbt's import in each of ~70 tasks).
- ``PINPIPE_DAG_MAX_ACTIVE_TASKS``: tasks of one run at a time; with ``local`` execution 1 on duckdb
  (one writer), else 8; with ``watcher`` 16 (the sensors do not write).
- ``PINPIPE_DAG_POOL``: optional Airflow pool for every task (e.g. a 1-slot pool shared with other
  DAGs that write the same DuckDB file).
- ``PINPIPE_DATABRICKS_CONN_ID``: optional Airflow connection holding the Databricks credentials
  (instead of the DATABRICKS_* variables that profiles.yml reads).
- ``PINPIPE_SPARK_CONN_ID``: optional Airflow connection (type ``spark``) of a Spark Thrift server for
  the ``spark`` target (instead of the local Spark session of profiles.yml).

Reading this is cheap (environment and an optional TOML file): no database, no dbt, no network.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingestion.settings import Settings

DAGS_DIR = Path(__file__).resolve().parent.parent
"""The Airflow dags folder (``dags/`` of the repository)."""
REPO_ROOT = DAGS_DIR.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
PROFILES_YML = REPO_ROOT / "profiles.yml"
MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"
"""Written by ``make manifest`` (``dbt parse``); what ``LoadMode.DBT_MANIFEST`` renders the DAG from."""
DBT_PROFILE = "pinpipe"

Source = Literal["auto", "kafka", "lake"]
SOURCES: tuple[str, ...] = ("auto", "kafka", "lake")
EXECUTIONS: tuple[str, ...] = ("watcher", "local")
SINGLE_WRITER_TARGETS = frozenset({"duckdb"})
"""Targets whose warehouse is one file that one process at a time may write."""
PARALLEL_TASKS = 8
"""Tasks of one run at a time on a warehouse that takes concurrent writers (Databricks, Spark)."""
WATCHER_TASKS = 16
"""Tasks of one run at a time in watcher execution: one dbt build and the sensors following it."""


class DagConfigError(ValueError):
    """A DAG setting has a value the DAG cannot run with."""


class DagSettings(BaseSettings):
    """The DAG's own variables; each field is read from the environment variable its alias names."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    source: Source = Field(default="auto", validation_alias="PINPIPE_DAG_SOURCE")
    execution: Literal["watcher", "local"] = Field(
        default="watcher", validation_alias="PINPIPE_DAG_EXECUTION"
    )
    load_mode: Literal["dbt_manifest", "dbt_ls"] = Field(
        default="dbt_manifest", validation_alias="PINPIPE_DAG_LOAD_MODE"
    )
    invocation: Literal["dbt_runner", "subprocess"] | None = Field(
        default=None, validation_alias="PINPIPE_DBT_INVOCATION"
    )
    max_active_tasks: int | None = Field(default=None, ge=1, validation_alias="PINPIPE_DAG_MAX_ACTIVE_TASKS")
    pool: str | None = Field(default=None, validation_alias="PINPIPE_DAG_POOL")
    databricks_conn_id: str | None = Field(default=None, validation_alias="PINPIPE_DATABRICKS_CONN_ID")
    spark_conn_id: str | None = Field(default=None, validation_alias="PINPIPE_SPARK_CONN_ID")

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_default(cls, value: Any, info: ValidationInfo) -> Any:
        """A variable set to an empty string means the default; choices are case-insensitive."""
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return cls.model_fields[str(info.field_name)].default
            if info.field_name in ("source", "execution", "load_mode", "invocation"):
                return value.lower()
        return value


def _absolute(location: str) -> str:
    """A local path made absolute (dbt runs in a temporary copy of the project); URLs unchanged."""
    if "://" in location:
        return location
    return str(Path(location).expanduser().resolve())


def venv_dbt_executable() -> Path:
    """The ``dbt`` beside the running Python (the venv Airflow runs in), else the one on PATH."""
    beside = Path(sys.executable).parent / "dbt"
    if beside.exists():
        return beside
    found = shutil.which("dbt")
    return Path(found) if found else beside


def _read_dag_settings() -> DagSettings:
    try:
        return DagSettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}={error.get('input')!r}: {error['msg']}"
            for error in exc.errors()
        )
        raise DagConfigError(problems) from None


@dataclass(frozen=True)
class DagConfig:
    """The resolved configuration of one parse of the DAG file."""

    settings: Settings
    source: str
    execution: str
    load_mode: str
    invocation: str
    max_active_tasks: int
    pool: str | None
    databricks_conn_id: str | None
    spark_conn_id: str | None
    dbt_executable: Path
    manifest_path: Path = MANIFEST_PATH

    @classmethod
    def from_env(cls) -> DagConfig:
        """Read the settings and the DAG's own variables (see the module docstring)."""
        base = Settings()
        # dbt runs in a temporary copy of the project: local paths must not depend on the folder
        settings = base.model_copy(
            update={"lake": _absolute(base.lake), "warehouse": _absolute(base.warehouse)}
        )
        dag = _read_dag_settings()
        if dag.execution == "watcher":
            default_tasks = WATCHER_TASKS
        else:
            default_tasks = 1 if settings.dbt_target in SINGLE_WRITER_TARGETS else PARALLEL_TASKS
        # Watcher: dbt as a subprocess, whose JSON log Cosmos turns into XComs while dbt goes on (with
        # dbtRunner each node's XComs are pushed from dbt's thread, which waits for every round trip:
        # the build task took 51 s instead of 37 s at 100,000 posts, docs/airflow.md "Speed").
        default_invocation = "subprocess" if dag.execution == "watcher" else "dbt_runner"
        return cls(
            settings=settings,
            source=dag.source,
            execution=dag.execution,
            load_mode=dag.load_mode,
            invocation=dag.invocation or default_invocation,
            max_active_tasks=dag.max_active_tasks or default_tasks,
            pool=dag.pool,
            databricks_conn_id=dag.databricks_conn_id,
            spark_conn_id=dag.spark_conn_id,
            dbt_executable=venv_dbt_executable(),
        )

    @property
    def target(self) -> str:
        """The dbt target (``PINPIPE_DBT_TARGET``, default ``duckdb``)."""
        return self.settings.dbt_target

    @property
    def single_writer(self) -> bool:
        """Whether the target's warehouse is a DuckDB file (one writing process at a time)."""
        return self.target in SINGLE_WRITER_TARGETS

    @property
    def warehouse(self) -> str:
        """The DuckDB warehouse file, absolute."""
        return self.settings.warehouse

    def dbt_env(self) -> dict[str, str]:
        """Environment variables for every dbt call: what profiles.yml and the sources read."""
        env = dict(self.settings.dbt_env())
        env["PINPIPE_DBT_TARGET"] = self.target
        env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
        if self.invocation == "dbt_runner":
            # dbt runs inside the long-lived task process: close the DuckDB file when each call ends
            # (profiles.yml). A dbt subprocess keeps it open to its exit: no re-open per node.
            env["PINPIPE_DUCKDB_KEEP_OPEN"] = "false"
        return env
