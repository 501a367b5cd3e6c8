"""The install is reproducible: uv.lock matches pyproject.toml, and what is installed is consistent
(every package's own requirements met, Airflow's and Cosmos' included)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
UV = Path(sys.executable).with_name("uv")


def test_the_lock_file_matches_pyproject() -> None:
    done = subprocess.run(
        [str(UV), "lock", "--check"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr


def test_installed_packages_meet_each_others_requirements() -> None:
    done = subprocess.run(
        [str(UV), "pip", "check", "--python", sys.executable],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_makefile_installs_from_the_lock_with_a_pinned_uv() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "uv sync --frozen" in makefile.replace("$(UV)", "uv")
    assert "uv==$(UV_VERSION)" in makefile
    pinned = next(line for line in makefile.splitlines() if line.startswith("UV_VERSION :="))
    version = subprocess.run([str(UV), "--version"], capture_output=True, text=True, check=True).stdout
    assert version.split()[1] == pinned.split(":=")[1].strip()
