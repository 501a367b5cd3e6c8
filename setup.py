"""The wheel carries the dbt project and profiles.yml inside the package (pinpipe/warehouse/bundled/).

They stay at the repository root, where dbt, Cosmos and the docs expect them; this build step copies
them into the built package so an installed pinpipe runs `pinpipe run` without a checkout (see
pinpipe/warehouse/project_files.py). An editable install reads the checkout's own files instead.
All other packaging settings are in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
DBT_PARTS = ("dbt_project.yml", "models", "macros", "tests")
"""What dbt reads of the project (its other paths are empty); not target/, logs/ or the lint rules."""


class BuildPyWithDbtProject(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        bundled = Path(self.build_lib) / "pinpipe" / "warehouse" / "bundled"
        shutil.rmtree(bundled, ignore_errors=True)
        (bundled / "dbt_project").mkdir(parents=True)
        for part in DBT_PARTS:
            source = ROOT / "dbt_project" / part
            if source.is_dir():
                shutil.copytree(source, bundled / "dbt_project" / part)
            else:
                shutil.copy2(source, bundled / "dbt_project" / part)
        shutil.copy2(ROOT / "profiles.yml", bundled / "profiles.yml")


setup(cmdclass={"build_py": BuildPyWithDbtProject})
