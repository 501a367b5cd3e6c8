"""The install is reproducible: uv.lock matches pyproject.toml, and what is installed is consistent
(every package's own requirements met, Airflow's and Cosmos' included). The wheel stands alone: built
from the repository and installed into a clean environment outside it, it runs the main job."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests import dbt_support as support

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


def uv(*args: str, cwd: Path = REPO_ROOT) -> str:
    done = subprocess.run([str(UV), *args], cwd=cwd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow
def test_a_wheel_installed_outside_the_checkout_runs_the_main_job(tmp_path: Path) -> None:
    uv("build", "--wheel", "--out-dir", str(tmp_path / "dist"))
    [wheel] = (tmp_path / "dist").glob("pinpipe-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "pinpipe/warehouse/bundled/dbt_project/dbt_project.yml" in names
    assert "pinpipe/warehouse/bundled/profiles.yml" in names
    assert "pinpipe/warehouse/spark/pom.xml" in names
    assert not [n for n in names if n.startswith(("devservices/", "tests/", "dags/"))]

    # the core install only (no extras), at the versions of uv.lock, with nothing of the checkout
    constraints = tmp_path / "constraints.txt"
    uv(
        "export",
        "--frozen",
        "--no-hashes",
        "--no-emit-project",
        "--no-emit-workspace",
        "--no-dev",
        "--format",
        "requirements.txt",
        "--output-file",
        str(constraints),
        "--quiet",
    )
    venv = tmp_path / "venv"
    uv("venv", "--quiet", "--python", sys.executable, str(venv), cwd=tmp_path)
    uv(
        "pip",
        "install",
        "--quiet",
        "--python",
        str(venv / "bin" / "python"),
        str(wheel),
        "--constraint",
        str(constraints),
        cwd=tmp_path,
    )
    work = tmp_path / "work"
    work.mkdir()
    # a user's environment, without the test suite's dbt output folders (tests/conftest.py)
    user_variables = ("PINPIPE_", "PYTHON", "VIRTUAL_ENV", "DBT_TARGET_PATH", "DBT_LOG_PATH")
    env = {k: v for k, v in os.environ.items() if not k.startswith(user_variables)}
    run = [str(venv / "bin" / "pinpipe"), "run", "--rows", "400", "--events", "250", "--quiet-dbt"]
    installed = subprocess.run(run, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert installed.returncode == 0, installed.stderr + installed.stdout
    assert "Q1 most popular category per country" in installed.stdout

    data = work / "data"  # the installed default: data/ of the current folder
    site = next((venv / "lib").glob("python*/site-packages"))
    assert (data / "warehouse.duckdb").is_file() and (data / "dbt" / "target" / "manifest.json").is_file()
    assert not (site / "pinpipe" / "warehouse" / "bundled" / "dbt_project" / "target").exists()

    # the same job from the checkout gives the same gold
    checkout_data = tmp_path / "checkout-data"
    env_checkout = {
        **env,
        "PINPIPE_DATA_DIR": str(checkout_data),
        # the repository's dbt_project/target belongs to the DAG tests, which may run at the same time
        "DBT_TARGET_PATH": str(checkout_data / "target"),
        "DBT_LOG_PATH": str(checkout_data / "logs"),
    }
    run_checkout = [sys.executable, "-m", "pinpipe", *run[1:]]
    ran = subprocess.run(
        run_checkout, cwd=REPO_ROOT, env=env_checkout, capture_output=True, text=True, timeout=900
    )
    assert ran.returncode == 0, ran.stderr
    assert support.gold_snapshot(data / "warehouse.duckdb") == support.gold_snapshot(
        checkout_data / "warehouse.duckdb"
    )

    # the checkout's development services are not part of the installed command
    missing = subprocess.run(
        [str(venv / "bin" / "pinpipe"), "kafka", "start"], cwd=work, env=env, capture_output=True, text=True
    )
    assert missing.returncode == 2 and "No such command 'start'" in missing.stderr
