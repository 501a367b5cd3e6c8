"""Every contact of the DAG with astronomer-cosmos's private API, in one place.

Cosmos 1.15's watcher execution has no public per-model "run and tests" sensor (it refuses
``TestBehavior.BUILD``; 1.16.0a3 still does), so ``model_sensor.py`` extends the watcher's run sensor:
it overrides ``_get_node_status`` and reads the aggregated test status the producer publishes. The
names below are what that needs. ``tests/dags/test_cosmos_internals.py`` checks each of them against the
installed Cosmos and fails, naming the one that changed, when an upgrade moves or reshapes them.

Measured against 1.16.0a3: the same names and signatures, but the aggregated test status becomes a
dict (``{"status": …, "passed_count": …}``) instead of the text ``"pass"``/``"fail"``;
:func:`tests_status` reads both.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from cosmos.operators._watcher.aggregation import get_tests_status_xcom_key
from cosmos.operators._watcher.state import get_xcom_val, is_dbt_node_status_success

COSMOS_VERSION_CHECKED = "1.15.1"
"""The Cosmos release these names were last checked against (pinned in pyproject.toml)."""

NODE_STATUS_METHOD = "_get_node_status"
"""The watcher sensor's method (``(self, ti, context)``) that turns XComs into the node's status."""

__all__ = [
    "COSMOS_VERSION_CHECKED",
    "NODE_STATUS_METHOD",
    "is_dbt_node_status_success",
    "tests_status",
]


def tests_status(ti: Any, producer_task_id: str, model_unique_id: str) -> str | None:
    """The aggregated status of a model's data tests, once every one of them reported (else None)."""
    value = get_xcom_val(ti, producer_task_id, get_tests_status_xcom_key(model_unique_id))
    if isinstance(value, dict):  # Cosmos 1.16: a summary with counts
        value = value.get("status")
    if isinstance(value, Enum):  # as pushed (Cosmos' DbtTestStatus); the XCom store keeps its text
        value = value.value
    return None if value is None else str(value)
