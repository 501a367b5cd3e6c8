"""Quality gates of the dbt project, read from a freshly parsed manifest (no warehouse, no lake):

* dbt-score passes its thresholds (project and every model, source and macro at least 9.0);
* the lineage reads one way and follows dbt-project-evaluator's modeling and testing rules, checked
  by hand (its package cannot be installed offline): no intermediate model reads a mart, a staging
  model reads exactly one source table and nothing else (or, with a written reason, a union of
  symmetrical tables of one source), no other model reads a source, no model rejoins
  an upstream concept, fan-out above 3 only with a written reason, every mart has a primary-key
  test (unique and not_null on the same column or key expression);
* the profile resolves its default paths against the repository whatever the working directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import dbt_support as support

DBT_SCORE_EXECUTABLE = Path(sys.executable).parent / "dbt-score"
FAIL_PROJECT_UNDER = 9.0
FAIL_ANY_ITEM_UNDER = 9.0
"""The thresholds, the same as `[tool.dbt-score]` (no rule is disabled)."""
MAX_FANOUT = 3
"""dbt-project-evaluator's default: a model read by more models needs a written reason."""


def _parse(target: Path, *, cwd: Path = support.REPO_ROOT, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PINPIPE_LAKE", "PINPIPE_WAREHOUSE", "PINPIPE_SPARK_HOME", "DBT_PROFILES_DIR")
    }
    env.update({"PINPIPE_DBT_TARGET": "duckdb", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
    result = subprocess.run(
        [
            str(support.DBT_EXECUTABLE),
            "parse",
            *extra,
            "--target-path",
            str(target / "target"),
            "--log-path",
            str(target / "logs"),
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return json.loads((target / "target" / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    work = tmp_path_factory.mktemp("parsed")
    manifest = _parse(
        work, extra=("--project-dir", str(support.DBT_PROJECT_DIR), "--profiles-dir", str(support.REPO_ROOT))
    )
    yield work / "target" / "manifest.json", manifest


def _models(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and node["package_name"] == "pinpipe"
    }


def _layer(node: dict[str, Any]) -> str:
    """staging, intermediate or marts: the folder under models/."""
    return node["fqn"][1]


# --------------------------------------------------------------------------------------------------
# dbt-score


def test_dbt_score_passes_its_thresholds(parsed: tuple[Path, dict[str, Any]]) -> None:
    manifest_path, _ = parsed
    result = subprocess.run(
        [
            str(DBT_SCORE_EXECUTABLE),
            "lint",
            "--manifest",
            str(manifest_path),
            "--format",
            "json",
            "--fail-project-under",
            str(FAIL_PROJECT_UNDER),
            "--fail-any-item-under",
            str(FAIL_ANY_ITEM_UNDER),
        ],
        cwd=support.REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(result.stdout)
    failing = {
        name: [rule for rule, outcome in item["results"].items() if outcome["result"] != "OK"]
        for name, item in report["evaluables"].items()
        if item["score"] < FAIL_ANY_ITEM_UNDER
    }
    assert failing == {}
    assert report["project"]["score"] >= FAIL_PROJECT_UNDER, report["project"]
    assert result.returncode == 0, result.stderr[-2000:]
    # every macro is linted, i.e. described (macro_has_description) with its arguments
    macros = [name for name, item in report["evaluables"].items() if item["type"] == "macro"]
    assert len(macros) >= 20


def test_every_macro_and_argument_is_described(parsed: tuple[Path, dict[str, Any]]) -> None:
    _, manifest = parsed
    undescribed = []
    for uid, macro in manifest["macros"].items():
        if macro["package_name"] != "pinpipe":
            continue
        if not macro["description"].strip():
            undescribed.append(uid)
        undescribed += [f"{uid}({a['name']})" for a in macro["arguments"] if not a.get("description")]
    assert undescribed == []


# --------------------------------------------------------------------------------------------------
# Lineage and testing rules (dbt-project-evaluator's, by hand)


def test_no_intermediate_model_reads_a_mart(parsed: tuple[Path, dict[str, Any]]) -> None:
    _, manifest = parsed
    models = _models(manifest)
    backwards = [
        (node["name"], models[parent]["name"])
        for node in models.values()
        if _layer(node) in ("staging", "intermediate")
        for parent in node["depends_on"]["nodes"]
        if parent in models and _layer(models[parent]) == "marts"
    ]
    assert backwards == []


def test_sources_are_read_by_staging_only_one_each(parsed: tuple[Path, dict[str, Any]]) -> None:
    _, manifest = parsed
    problems = []
    for node in _models(manifest).values():
        sources = [p for p in node["depends_on"]["nodes"] if p.startswith("source.")]
        models = [p for p in node["depends_on"]["nodes"] if p.startswith("model.")]
        # a staging model may union symmetrical tables of one source, with a written reason
        reason = (node["config"].get("meta") or {}).get("union_reason", "")
        union = (
            _layer(node) == "staging"
            and len({source.rsplit(".", 1)[0] for source in sources}) == 1
            and len(reason.strip()) >= 40
        )
        if len(sources) > 1 and not union:
            problems.append(f"{node['name']} reads {len(sources)} sources")
        if _layer(node) == "staging" and (not sources or models):
            problems.append(f"{node['name']} (staging) must read exactly one source and no model")
        if _layer(node) != "staging" and sources:
            problems.append(f"{node['name']} ({_layer(node)}) reads a source directly")
    assert problems == []


def test_no_rejoining_of_upstream_concepts(parsed: tuple[Path, dict[str, Any]]) -> None:
    """A model reading both a parent and that parent's only child (which it could read alone)."""
    _, manifest = parsed
    models = _models(manifest)
    children = {uid: [c for c in manifest["child_map"][uid] if c in models] for uid in models}
    rejoined = []
    for uid, node in models.items():
        parents = [p for p in node["depends_on"]["nodes"] if p in models]
        for parent in parents:
            for other in parents:
                if other != parent and other in children[parent] and children[other] == [uid]:
                    rejoined.append((node["name"], models[parent]["name"], models[other]["name"]))
    assert rejoined == []


def test_fanout_above_three_only_with_a_written_reason(parsed: tuple[Path, dict[str, Any]]) -> None:
    _, manifest = parsed
    models = _models(manifest)
    unexplained = {}
    for uid, node in models.items():
        children = [c for c in manifest["child_map"][uid] if c in models]
        reason = (node["config"].get("meta") or {}).get("fanout_reason", "")
        if len(children) > MAX_FANOUT and len(reason.strip()) < 40:
            unexplained[node["name"]] = sorted(models[c]["name"] for c in children)
    assert unexplained == {}


def test_every_mart_has_a_primary_key_test(parsed: tuple[Path, dict[str, Any]]) -> None:
    """unique and not_null on the same column, or on the same key expression (composite keys)."""
    _, manifest = parsed
    models = _models(manifest)
    tested: dict[str, dict[str, set[str]]] = {uid: {} for uid in models}
    for node in manifest["nodes"].values():
        metadata = node.get("test_metadata") or {}
        if node["resource_type"] != "test" or metadata.get("name") not in ("unique", "not_null"):
            continue
        model = node.get("attached_node")
        key = metadata["kwargs"].get("column_name") or node.get("column_name")
        if model in tested and key:
            tested[model].setdefault(key, set()).add(metadata["name"])
    marts = [uid for uid, node in models.items() if _layer(node) == "marts"]
    assert len(marts) >= 14
    without_key = [
        models[uid]["name"]
        for uid in marts
        if not any(kinds == {"unique", "not_null"} for kinds in tested[uid].values())
    ]
    assert without_key == []


def test_one_model_joins_pins_geos_and_users(parsed: tuple[Path, dict[str, Any]]) -> None:
    _, manifest = parsed
    models = _models(manifest)
    silver = {"model.pinpipe.stg_pinterest__pins", "model.pinpipe.stg_pinterest__geos"}
    joiners = sorted(node["name"] for node in models.values() if silver <= set(node["depends_on"]["nodes"]))
    assert joiners == ["int_posts_joined"]
    assert models["model.pinpipe.posts"]["depends_on"]["nodes"] == ["model.pinpipe.int_posts_joined"]
    assert models["model.pinpipe.int_posts_joined"]["config"]["materialized"] == "incremental"


# --------------------------------------------------------------------------------------------------
# Paths resolved from the repository, whatever the working directory


@pytest.mark.integration  # dbt debug in two processes
@pytest.mark.parametrize("from_folder", ["repository", "dbt_project"])
def test_default_paths_resolve_against_the_repository(tmp_path: Path, from_folder: str) -> None:
    """`dbt` typed in the repository root or in dbt_project/ (profiles.yml there is a symlink) with no
    PINPIPE_* variable: the DuckDB file and the lake are `data/` of the repository. Run on a copy of
    the repository's dbt files, so nothing is written into the checkout."""
    repository = tmp_path / "repository"
    shutil.copytree(
        support.DBT_PROJECT_DIR,
        repository / "dbt_project",
        symlinks=True,
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"),
    )
    shutil.copy(support.REPO_ROOT / "profiles.yml", repository / "profiles.yml")
    assert (repository / "dbt_project" / "profiles.yml").resolve() == (repository / "profiles.yml").resolve()
    cwd = repository if from_folder == "repository" else repository / "dbt_project"
    extra = ("--project-dir", "dbt_project") if from_folder == "repository" else ()
    manifest = _parse(tmp_path / "parse", cwd=cwd, extra=extra)
    lake = manifest["sources"]["source.pinpipe.pinterest.pin"]["meta"]["delta_table_path"]
    assert (cwd / lake).resolve() == (repository / "data" / "lake" / "bronze" / "pin").resolve()

    env = {k: v for k, v in os.environ.items() if k not in ("PINPIPE_LAKE", "PINPIPE_WAREHOUSE")}
    debug = subprocess.run(
        [str(support.DBT_EXECUTABLE), "debug", *extra, "--log-path", str(tmp_path / "logs")],
        cwd=cwd,
        env={**env, "PINPIPE_DBT_TARGET": "duckdb", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        capture_output=True,
        text=True,
        check=False,
    )
    (path,) = [
        line.split(" path: ", 1)[1].strip()
        for line in debug.stdout.splitlines()
        if " path: " in line and line.strip().endswith(".duckdb")
    ]
    assert (cwd / path).resolve() == (repository / "data" / "warehouse.duckdb").resolve(), debug.stdout
