"""dbt-duckdb's ``delta`` plugin with a bounded Arrow read-ahead (profiles.yml: ``module:
pinpipe.warehouse.dbt_delta_plugin``, ``alias: delta``): the same registration of each bronze Delta table's
current version behind a view, its dataset wrapped by :func:`pinpipe.warehouse.delta_scan.bounded_dataset`."""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins.delta import Plugin as DeltaPlugin

from pinpipe.warehouse.delta_scan import bounded_dataset


class Plugin(DeltaPlugin):
    """The delta plugin; :meth:`load` returns the bounded dataset."""

    def load(self, source_config: Any) -> Any:
        return bounded_dataset(super().load(source_config))
