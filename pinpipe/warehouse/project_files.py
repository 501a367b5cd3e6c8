"""Where the files dbt needs are: the checkout's own, else the copy inside the installed package.

In a checkout (``make run``, the editable install) dbt runs on the repository's ``dbt_project/`` with
its ``profiles.yml``, so ``make manifest``, the Airflow DAG and a hand-run ``dbt`` share one project
and one ``target/``. A wheel carries a copy in ``pinpipe/warehouse/bundled/`` (setup.py puts it
there); dbt then writes its ``target/`` and ``logs/`` under the data folder, never into the installed
package. The Spark target's Maven project and log configuration are package data either way.
"""

from __future__ import annotations

from pathlib import Path

from ingestion.settings import IN_CHECKOUT, PROJECT_ROOT

BUNDLED = Path(__file__).resolve().parent / "bundled"
SPARK_FILES = Path(__file__).resolve().parent / "spark"


def dbt_project_dir() -> Path:
    """The dbt project folder (``--project-dir``)."""
    return PROJECT_ROOT / "dbt_project" if IN_CHECKOUT else BUNDLED / "dbt_project"


def dbt_profiles_dir() -> Path:
    """The folder of profiles.yml (``--profiles-dir``)."""
    return PROJECT_ROOT if IN_CHECKOUT else BUNDLED


def dbt_work_dir(data_dir: Path) -> Path:
    """The folder dbt runs in: the repository root, else the data folder."""
    return PROJECT_ROOT if IN_CHECKOUT else data_dir


def dbt_output_env(data_dir: Path) -> dict[str, str]:
    """DBT_TARGET_PATH and DBT_LOG_PATH for an installed package (its files are not a work folder)."""
    if IN_CHECKOUT:
        return {}
    return {
        "DBT_TARGET_PATH": str(data_dir / "dbt" / "target"),
        "DBT_LOG_PATH": str(data_dir / "dbt" / "logs"),
    }
