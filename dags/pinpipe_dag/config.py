"""How the daily DAG is configured: where things are, and the ``PINPIPE_*`` environment it reads.

Everything comes from the project's one settings object (``ingestion.settings.Settings``: lake,
warehouse, uid, Kafka, dbt target) plus a few DAG-only variables:

- ``PINPIPE_DBT_TARGET``: dbt target of profiles.yml, ``duckdb`` (default), ``databricks``, ``spark``.
- ``PINPIPE_DAG_SOURCE``: default of the run param ``source``; ``kafka`` (default) drains the topics to
  the raw landing first, ``lake`` skips the drain (the emulator's lake sink wrote the landing).
- ``PINPIPE_DAG_LOAD_MODE``: ``dbt_manifest`` (default, reads dbt_project/target/manifest.json) or
  ``dbt_ls`` (runs ``dbt ls`` at every parse; slow, for development without a manifest).
- ``PINPIPE_DBT_INVOCATION``: ``dbt_runner`` (default, dbt in the task's process) or ``subprocess``
  (the venv's ``dbt`` executable).
- ``PINPIPE_DAG_MAX_ACTIVE_TASKS``: tasks of one run at a time; 1 on duckdb (one writer), else 8.
- ``PINPIPE_DAG_POOL``: optional Airflow pool for every task (e.g. a 1-slot pool shared with other
  DAGs that write the same DuckDB file).
- ``PINPIPE_DATABRICKS_CONN_ID``: optional Airflow connection holding the Databricks credentials
  (instead of the DATABRICKS_* variables that profiles.yml reads).

Reading this is cheap (environment and an optional TOML file): no database, no dbt, no network.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ingestion.settings import Settings

DAGS_DIR = Path(__file__).resolve().parent.parent
"""The Airflow dags folder (``dags/`` of the repository)."""
REPO_ROOT = DAGS_DIR.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
PROFILES_YML = REPO_ROOT / "profiles.yml"
MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"
"""Written by ``make manifest`` (``dbt parse``); what ``LoadMode.DBT_MANIFEST`` renders the DAG from."""
DBT_PROFILE = "pinpipe"

SOURCES = ("kafka", "lake")
LOAD_MODES = ("dbt_manifest", "dbt_ls")
INVOCATIONS = ("dbt_runner", "subprocess")
SINGLE_WRITER_TARGETS = frozenset({"duckdb"})
"""Targets whose warehouse is one file that one process at a time may write."""
PARALLEL_TASKS = 8
"""Tasks of one run at a time on a warehouse that takes concurrent writers (Databricks, Spark)."""


class DagConfigError(ValueError):
    """A DAG setting has a value the DAG cannot run with."""


def _choice(environ: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    value = environ.get(name, allowed[0]).strip().lower() or allowed[0]
    if value not in allowed:
        raise DagConfigError(f"{name}={value!r}: expected one of {', '.join(allowed)}")
    return value


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise DagConfigError(f"{name}={raw!r}: expected a positive integer") from None
    if value < 1:
        raise DagConfigError(f"{name}={raw!r}: expected a positive integer")
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


@dataclass(frozen=True)
class DagConfig:
    """The resolved configuration of one parse of the DAG file."""

    settings: Settings
    source: str
    load_mode: str
    invocation: str
    max_active_tasks: int
    pool: str | None
    databricks_conn_id: str | None
    dbt_executable: Path
    manifest_path: Path = MANIFEST_PATH

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DagConfig:
        """Read the settings and the DAG's own variables (see the module docstring)."""
        environ = os.environ if environ is None else environ
        settings = Settings()
        default_tasks = 1 if settings.dbt_target in SINGLE_WRITER_TARGETS else PARALLEL_TASKS
        return cls(
            settings=settings,
            source=_choice(environ, "PINPIPE_DAG_SOURCE", SOURCES),
            load_mode=_choice(environ, "PINPIPE_DAG_LOAD_MODE", LOAD_MODES),
            invocation=_choice(environ, "PINPIPE_DBT_INVOCATION", INVOCATIONS),
            max_active_tasks=_positive_int(environ, "PINPIPE_DAG_MAX_ACTIVE_TASKS", default_tasks),
            pool=environ.get("PINPIPE_DAG_POOL", "").strip() or None,
            databricks_conn_id=environ.get("PINPIPE_DATABRICKS_CONN_ID", "").strip() or None,
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
        return _absolute(self.settings.warehouse)

    def dbt_env(self) -> dict[str, str]:
        """Environment variables for every dbt call: what profiles.yml and the sources read."""
        env = dict(self.settings.dbt_env())
        env["PINPIPE_LAKE"] = _absolute(self.settings.lake)
        env["PINPIPE_WAREHOUSE"] = self.warehouse
        env["PINPIPE_DBT_TARGET"] = self.target
        env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
        # dbt runs inside the task's process: close the DuckDB file when each call ends (profiles.yml)
        env["PINPIPE_DUCKDB_KEEP_OPEN"] = "false"
        return env
