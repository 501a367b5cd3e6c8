"""A local Spark session with Delta Lake for the dbt `spark` target.

dbt-spark's `session` method builds the SparkSession in the dbt process; profiles.yml passes it the
settings below through `server_side_parameters`, read from the environment that
:func:`spark_environment` returns (and `pinpipe dbt --target spark` sets):

- ``PINPIPE_SPARK_JARS``: the Delta Lake jars, fetched from Maven Central once with
  ``pinpipe/warehouse/spark/pom.xml`` (:func:`fetch_delta_jars`) and cached in ``data/cache/``;
- ``PINPIPE_SPARK_HOME``: where the session keeps its Hive metastore (embedded Derby: one process at a
  time) and its warehouse folder (``<data_dir>/spark``);
- ``SPARK_LOCAL_IP=127.0.0.1`` (and the profile binds the driver to 127.0.0.1: nothing listens on other
  addresses), ``SPARK_CONF_DIR`` with a quiet log4j2 configuration.
"""

from __future__ import annotations

from pathlib import Path

from ingestion.maven_jars import fetch_jars
from ingestion.settings import DEFAULT_DATA_DIR
from pinpipe.warehouse.project_files import SPARK_FILES

DELTA_VERSION = "4.4.0"
POM = SPARK_FILES / "pom.xml"
CONF_DIR = SPARK_FILES / "conf"


def fetch_delta_jars(cache_dir: Path | None = None, version: str = DELTA_VERSION) -> list[Path]:
    """The Delta Lake jars for Spark (fetched with Maven on first use)."""
    target = cache_dir or DEFAULT_DATA_DIR / "cache" / f"delta-{version}"
    folder = fetch_jars(POM, target, f"Delta Lake {version}", "delta-spark_*.jar", {"delta.version": version})
    return sorted(folder.glob("*.jar"))


def spark_environment(data_dir: Path) -> dict[str, str]:
    """Environment variables for a dbt process on the `spark` target (see the module docstring)."""
    home = (data_dir / "spark").resolve()
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PINPIPE_SPARK_JARS": ",".join(str(jar) for jar in fetch_delta_jars()),
        "PINPIPE_SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_CONF_DIR": str(CONF_DIR),
    }
