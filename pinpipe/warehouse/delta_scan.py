"""Bronze Delta tables as Arrow datasets that DuckDB scans with a bounded read-ahead.

DuckDB scans a registered pyarrow Dataset through ``dataset.scanner(columns=..., filter=...)``: the
columns a query needs and its constant filters are pushed down (files and row groups skipped by their
statistics). pyarrow's default scanner reads ahead 4 files and 16 batches; a bronze file is one row
group of ~250,000 rows, so on a 10-million-post day that read-ahead alone held ~1.5 GB of decoded
Arrow buffers beside DuckDB's own memory (outside its ``memory_limit``). :func:`bounded_dataset` wraps
the dataset so that every scanner reads one file and one batch ahead, in batches of 32,768 rows: the
same rows, the same pushdown, well under 1 GB of Arrow memory. Used by dbt (the ``delta`` plugin of
profiles.yml, :mod:`pinpipe.warehouse.dbt_delta_plugin`) and by the report's WarehouseReader.
"""

from __future__ import annotations

from typing import Any

import pyarrow.dataset as ds

SCAN_OPTIONS: dict[str, int] = {"fragment_readahead": 1, "batch_readahead": 1, "batch_size": 32_768}
"""Scanner options of a bounded dataset (pyarrow's defaults: 4 files, 16 batches of 131,072 rows)."""


class BoundedDataset(ds.FileSystemDataset):
    """A FileSystemDataset (the same fragments, with their statistics) whose scanners read ahead little."""

    def scanner(self, *args: Any, **kwargs: Any) -> ds.Scanner:
        for option, value in SCAN_OPTIONS.items():
            kwargs.setdefault(option, value)
        return super().scanner(*args, **kwargs)


def bounded_dataset(dataset: ds.Dataset) -> ds.Dataset:
    """``dataset`` (e.g. ``DeltaTable.to_pyarrow_dataset()``) with a bounded read-ahead; any dataset
    that is not a FileSystemDataset is returned as it is."""
    if type(dataset) is not ds.FileSystemDataset:
        return dataset
    return BoundedDataset(list(dataset.get_fragments()), dataset.schema, dataset.format, dataset.filesystem)
