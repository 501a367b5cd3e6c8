"""The lineage columns built from buffers equal what ``pa.repeat`` gives, for any text and count."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion.arrow_columns import repeated, repeated_runs


@settings(deadline=None)  # a loaded machine; the first example also pays imports
@given(st.one_of(st.none(), st.text()), st.integers(min_value=0, max_value=3000))
def test_repeated_text_equals_arrow_repeat(value: str | None, count: int) -> None:
    column = repeated(value, count, pa.string())
    column.validate(full=True)
    assert column.equals(pa.repeat(pa.scalar(value, pa.string()), count))


@settings(deadline=None)
@given(st.lists(st.tuples(st.text(max_size=40), st.integers(min_value=0, max_value=50)), max_size=8))
def test_runs_concatenate_in_order(runs: list[tuple[str, int]]) -> None:
    column = repeated_runs(runs, pa.string())
    assert column.type == pa.string()
    assert column.to_pylist() == [value for value, count in runs for _ in range(count)]


def test_other_types_keep_their_type() -> None:
    now = datetime.now(UTC)
    stamped = repeated(now, 3, pa.timestamp("us", tz="UTC"))
    assert stamped.type == pa.timestamp("us", tz="UTC") and stamped.to_pylist() == [now] * 3
    assert repeated(7, 2, pa.int32()).to_pylist() == [7, 7]
