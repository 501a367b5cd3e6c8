"""The gold questions: the one list of the analytics answers, read from the dbt project.

A model is a question when its properties carry ``config: meta: pinpipe_question`` (the answer models
in ``models/marts/analytics/_analytics__models.yml``): its place in the list (``order``), the report's
heading (``title``) and row order (``order_by``, SQL), and the semantic layer's saved query that
answers it (``saved_query``). The report, ``pinpipe report --question``, the DAG's check of its
Assets and the tests of the semantic layer and the docs take the list from here.

Why the YAML and not ``target/manifest.json``: the property files are in every copy of the project (the
checkout and the copy a wheel bundles), always match the code that reads them, and take milliseconds to
parse (the CLI reads them when it starts, for the choices of ``--question``). The manifest exists
only after a ``dbt parse`` or build, can be older than the YAML (``make manifest`` is a manual step),
and is megabytes of JSON. The price: a ``pinpipe_question`` set elsewhere than a property file's
``config: meta`` (dbt_project.yml, a model's ``config()`` call, a top-level ``meta``) is not seen here;
tests/dbt_project/test_semantic_layer.py checks that dbt's own manifest holds the same list.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from ingestion.errors import PinpipeError
from pinpipe.warehouse.project_files import dbt_project_dir

META_KEY = "pinpipe_question"
"""The key of a model's ``meta`` that makes it a question."""
FIELDS = ("order", "title", "order_by", "saved_query")
"""What ``pinpipe_question`` holds, every field required."""
SEARCHED = Path("models") / "marts"
"""Where in the project the questions' property files are: they are gold marts."""
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class GoldQuestion(NamedTuple):
    """One analytics question: its gold table (schema ``gold``) and how the report shows it."""

    table: str
    title: str
    order_by: str
    """The SQL ``order by`` of the report's rows."""
    saved_query: str
    """The semantic layer's saved query answering it (models/marts/semantic/_semantic__saved_queries.yml)."""


def _question(table: str, spec: Any, where: str) -> tuple[int, GoldQuestion]:
    problem = f"{where}: model {table}: meta {META_KEY} needs"
    if not isinstance(spec, Mapping) or set(spec) != set(FIELDS):
        raise PinpipeError(f"{problem} exactly {', '.join(FIELDS)}")
    order, texts = spec["order"], [spec[name] for name in FIELDS[1:]]
    if type(order) is not int or not all(isinstance(text, str) and text for text in texts):
        raise PinpipeError(f"{problem} an integer order and non-empty texts")
    return order, GoldQuestion(table, *texts)


def questions_of(models: Iterable[tuple[str, Mapping[str, Any], str]]) -> tuple[GoldQuestion, ...]:
    """The questions among ``models`` (name, meta, where it is defined), in their order."""
    found = [_question(name, meta[META_KEY], where) for name, meta, where in models if META_KEY in meta]
    orders = [order for order, _question in found]
    if not found or len(set(orders)) != len(orders):
        raise PinpipeError(f"the dbt project needs models with {META_KEY} meta of distinct orders: {orders}")
    return tuple(question for _order, question in sorted(found))


def read_questions(project_dir: Path) -> tuple[GoldQuestion, ...]:
    """The questions of the dbt project in ``project_dir``, from its models' property files."""
    if not (project_dir / SEARCHED).is_dir():
        raise PinpipeError(f"no {SEARCHED} in {project_dir}: the gold questions are read there")
    models = []
    for path in sorted(p for p in (project_dir / SEARCHED).rglob("*") if p.suffix in (".yml", ".yaml")):
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER) or {}
        where = str(path.relative_to(project_dir))
        for model in document.get("models") or ():
            meta = (model.get("config") or {}).get("meta") or {}
            models.append((str(model["name"]), meta, where))
    return questions_of(models)


@functools.cache
def gold_questions() -> tuple[GoldQuestion, ...]:
    """The questions of the project dbt runs on, in the report's order (read once per process)."""
    return read_questions(dbt_project_dir())
