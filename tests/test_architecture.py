"""The layout's rules, checked on the source: dependencies point one way, and an import inside a
function only defers an optional extra (and says so)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN: dict[str, set[str]] = {
    "ingestion": {"emulator", "pinpipe", "pinpipe_dag"},
    "emulator": {"pinpipe", "pinpipe_dag"},
    "pinpipe": {"pinpipe_dag"},
}
"""Package → top-level packages it must never import (the composition root pinpipe sits on top)."""


def python_files(package: str) -> list[Path]:
    return sorted((REPO_ROOT / package).rglob("*.py"))


def imports(tree: ast.AST) -> Iterator[tuple[ast.stmt, str]]:
    """Every import statement with the top-level name of each module it imports."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node, node.module.split(".")[0]


def function_level_imports(tree: ast.AST) -> Iterator[ast.stmt]:
    """Imports inside a function body (not at module level, not under ``if TYPE_CHECKING``)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    yield inner


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_dependencies_point_one_way(package: str) -> None:
    found = []
    for path in python_files(package):
        for node, name in imports(ast.parse(path.read_text(), str(path))):
            if name in FORBIDDEN[package]:
                found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno} imports {name}")
    assert found == []


def test_a_function_level_import_defers_an_optional_extra_and_says_so() -> None:
    """An import inside a function must say why: an optional extra (or, in the DAG file, the
    deferral Airflow asks for), in a comment on its line, the line above, or the ``try:`` above."""
    unexplained = []
    for package in ("pinpipe", "emulator", "ingestion", "dags"):
        for path in python_files(package):
            lines = path.read_text().splitlines()
            for node in function_level_imports(ast.parse("\n".join(lines), str(path))):
                context = " ".join(lines[max(0, node.lineno - 4) : node.lineno]).lower()
                if "extra" not in context and "deferred imports" not in context:
                    unexplained.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert unexplained == []


def test_the_core_install_imports_without_the_extras() -> None:
    """The CLI and the pipeline's steps load without kafka-python, boto3, httpx or FastAPI: each
    extra is imported only by the command that needs it."""
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'kafka', 'boto3', 'botocore', 'httpx', 'fastapi', 'uvicorn'}:\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import pinpipe.cli, pinpipe.pipeline\n"
        "from emulator.sinks import open_sink\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", blocker], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


TEXT_SUFFIXES = {".py", ".sql", ".yml", ".yaml", ".md", ".toml", ".cfg", ".txt", ".xml", ".properties"}
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
DOCUMENT_MENTION = re.compile(r"(?<![\w/.-])([\w/.-]*[\w-]\.md)\b")
"""A document named in text: ``docs/operations.md``, ``README.md``, ``overview.md``."""
OUTSIDE_THE_REPOSITORY = re.compile(r"\.\./shared\b")


def project_text_files() -> list[Path]:
    """The repository's files (tracked, or new and not ignored) that people read as text."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    paths = [REPO_ROOT / name for name in listed]
    return [p for p in paths if p.is_file() and (p.suffix in TEXT_SUFFIXES or p.name in ("Makefile", "run"))]


def test_every_reference_resolves_to_a_file_in_the_repository() -> None:
    """A user's clone is all they have: no file names a document that is not in it (a mentioned
    ``*.md`` must be a path, or the end of a path, of a file in the repository)."""
    files = project_text_files()
    known = {p.relative_to(REPO_ROOT).as_posix() for p in files}
    broken = []
    for path in files:
        text = path.read_text(errors="replace")
        where = path.relative_to(REPO_ROOT)
        broken += [f"{where} points outside the repository" for _ in OUTSIDE_THE_REPOSITORY.findall(text)]
        for name in DOCUMENT_MENTION.findall(text):
            bare = name.removeprefix("./").lstrip("/")
            if "://" in text and f"://{bare}" in text:
                continue  # part of a web address
            if (
                not any(k == bare or k.endswith("/" + bare) for k in known)
                and not (path.parent / name).exists()
            ):
                broken.append(f"{where} names {name}")
        if path.suffix == ".md":
            for target in MARKDOWN_LINK.findall(text):
                if target.startswith(("http://", "https://", "mailto:", "#")):
                    continue
                if not (path.parent / target.split("#", 1)[0]).exists():
                    broken.append(f"{where} links to {target}")
    assert broken == []
