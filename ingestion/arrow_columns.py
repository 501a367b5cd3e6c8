"""Arrow columns of one repeated value: bronze's lineage columns (source, topic, landing object).

``pa.repeat`` builds a string column value by value (about 28 ms for 10,000 rows of a 60-byte key
with pyarrow 26, a third of the bulk loader's main thread); the buffers of a column of one repeated
string are simple enough to build at once: the bytes repeated, and offsets every ``len`` bytes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

_INT32_MAX = 2**31 - 1


def repeated(value: Any, count: int, kind: pa.DataType) -> pa.Array:
    """``count`` times ``value`` as an array of ``kind`` (nulls as ``pa.repeat`` gives them)."""
    if value is None or kind != pa.string():
        return pa.repeat(pa.scalar(value, kind), count)
    data = str(value).encode()
    if len(data) * count > _INT32_MAX:  # beyond 32-bit offsets: Arrow's own way
        return pa.repeat(pa.scalar(value, kind), count)
    offsets = np.arange(count + 1, dtype=np.int32) * np.int32(len(data))
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data * count))


def repeated_runs(runs: list[tuple[Any, int]], kind: pa.DataType) -> pa.Array:
    """Each ``(value, count)`` run repeated, one after the other, as one array of ``kind``."""
    if not runs:
        return pa.array([], kind)
    return pa.concat_arrays([repeated(value, count, kind) for value, count in runs])
