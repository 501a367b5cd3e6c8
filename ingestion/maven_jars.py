"""Jars from Maven Central, fetched once with ``mvn dependency:copy-dependencies`` and cached.

Used for Delta Lake on Spark (``pinpipe/warehouse/spark/pom.xml``) and for the development Kafka
broker (``scripts/kafka/pom.xml``). The jars land in a staging folder first and a marker file is written after
success, so an interrupted fetch never leaves a half-filled cache behind, and a cached folder is
returned at once without Maven.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from ingestion.errors import PinpipeError

MARKER = ".fetched"


class JarFetchError(PinpipeError):
    """Maven is missing, or it could not fetch the jars; the message says why."""


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def fetch_jars(pom: Path, target: Path, what: str, expect: str, properties: dict[str, str]) -> Path:
    """Copy the dependencies of ``pom`` (with ``-D`` ``properties``) into ``target``; returns it.

    ``what`` names the fetch in messages; ``expect`` is a glob that must match a copied jar.
    """
    target = target.resolve()
    if (target / MARKER).is_file():
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JarFetchError(f"mvn is not on PATH: install Maven (apt-get install maven) to fetch {what}")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        command = [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies"]
        command += [f"-DoutputDirectory={staging}", *(f"-D{k}={v}" for k, v in properties.items())]
        result = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            output = _tail(result.stdout + result.stderr) or "(no output)"
            raise JarFetchError(f"mvn failed (exit {result.returncode}) fetching {what} jars:\n{output}")
        if not any(staging.glob(expect)):
            raise JarFetchError(f"mvn succeeded but copied no {expect} into {staging}")
        (staging / MARKER).write_text(f"{what}\n", encoding="utf-8")
        _install(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _install(staging: Path, target: Path) -> None:
    """Move a complete staging folder to ``target``, unless a concurrent fetch got there first."""
    if (target / MARKER).is_file():
        return
    shutil.rmtree(target, ignore_errors=True)
    try:
        staging.rename(target)
    except OSError:
        if not (target / MARKER).is_file():
            raise
