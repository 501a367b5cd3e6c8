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
    "ingestion": {"emulator", "pinpipe", "pinpipe_dag", "devservices"},
    "emulator": {"pinpipe", "pinpipe_dag", "devservices"},
    "pinpipe": {"pinpipe_dag", "devservices"},
    "dags": {"devservices"},
    "devservices": {"pinpipe_dag"},
}
"""Package → top-level packages it must never import (the composition root pinpipe sits on top).
devservices (the checkout's local Kafka and moto, not in the wheel) may use production code, never
the other way round: pinpipe reaches its commands through entry points only."""


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


PRODUCTION = ("ingestion", "emulator", "pinpipe", "dags", "devservices")
"""The packages whose modules are checked below (``dags`` holds the ``pinpipe_dag`` package)."""


def module_name(path: Path) -> str:
    """The dotted name a file is imported as (``dags/`` is on the DAG processor's path)."""
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[0] == "dags":
        parts = parts[1:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """Module → the project modules it imports, at module level or inside a function."""
    files = {module_name(p): p for package in PRODUCTION for p in python_files(package)}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # ``from package import module`` names a module too
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            graph[name] |= {t for t in targets if t in files and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle() -> None:
    """Modules import each other one way (a deferred import counts too: it is a circle all the same)."""
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_one_project_root() -> None:
    """The checkout's root is defined once (ingestion/settings/__init__.py); everything else imports it."""
    defined = [
        f"{path.relative_to(REPO_ROOT)}"
        for package in PRODUCTION
        for path in python_files(package)
        if re.search(r"^PROJECT_ROOT\s*[:=]", path.read_text(), re.MULTILINE)
    ]
    assert defined == ["ingestion/settings/__init__.py"]
    from ingestion.settings import IN_CHECKOUT, PROJECT_ROOT

    assert PROJECT_ROOT == REPO_ROOT and IN_CHECKOUT  # a move of settings must not move the root


MODULE_LINES = 600
"""The most lines a module should need; a longer one does several jobs."""
OVERSIZED: set[str] = set()
"""Modules still over the bound, to be split (issue "packages by role"): none may join them, and each
leaves this list when it is split."""


def test_no_module_grows_past_the_bound() -> None:
    over = {
        f"{path.relative_to(REPO_ROOT)}"
        for package in PRODUCTION
        for path in python_files(package)
        if len(path.read_text().splitlines()) > MODULE_LINES
    }
    assert over == OVERSIZED


def test_every_project_import_names_a_module_of_the_project() -> None:
    """An import of a moved or renamed module fails here (mypy skips missing imports by its settings)."""
    tops = {"ingestion", "emulator", "pinpipe", "pinpipe_dag", "devservices"}
    known = {module_name(p) for package in PRODUCTION for p in python_files(package)}
    unresolved = []
    for package in (*PRODUCTION, "tests", "bench"):
        for path in python_files(package):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                else:
                    continue
                unresolved += [
                    f"{path.relative_to(REPO_ROOT)}:{node.lineno} imports {name}"
                    for name in names
                    if name.split(".")[0] in tops and name not in known
                ]
    assert unresolved == []


PROJECT_WIDE_TESTS = {"test_architecture.py", "test_install.py"}
"""The tests of the whole repository (its layout, its install); every other test sits in the folder of
tests/ that mirrors the package or project folder it tests."""


def test_the_test_folders_mirror_the_packages() -> None:
    misplaced = []
    for path in sorted((REPO_ROOT / "tests").rglob("test_*.py")):
        folder = path.parent.relative_to(REPO_ROOT / "tests")
        if folder == Path("."):
            if path.name not in PROJECT_WIDE_TESTS:
                misplaced.append(f"{path.relative_to(REPO_ROOT)}: in no package's folder")
        elif not (REPO_ROOT / folder).is_dir():
            misplaced.append(f"{path.relative_to(REPO_ROOT)}: there is no {folder}/ to mirror")
    assert misplaced == []
