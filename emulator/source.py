"""Reading post events from the source database: the three records that share one index.

Records go on the wire as one JSON object each, the source columns by their source names in source
order, datetimes as ISO-8601 strings (docs/data-contract.md, "On the wire"). Serialised records are
cached per index, since random picks revisit the same rows (the original picked from 11,001 indexes
forever).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
import sqlalchemy as sa

from emulator.schema import TABLES
from ingestion.errors import PinpipeError
from ingestion.settings import ENTITIES, INDEX_FIELD


@dataclass(frozen=True)
class Event:
    """One post event: its position in the posted sequence, its index and its three JSON records."""

    seq: int
    index: int
    records: dict[str, bytes]
    """Entity (pin, geo, user) → the record's JSON bytes as it goes on the wire."""


class EventSource:
    """Fetches events by index from a source database (any SQLAlchemy URL)."""

    def __init__(self, url: str, *, cache_size: int = 200_000, chunk: int = 500) -> None:
        self.engine = sa.create_engine(url)
        self.chunk = chunk
        self.cache_size = cache_size
        self._cache: OrderedDict[int, dict[str, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        try:
            with self.engine.connect() as conn:
                self.rows = int(
                    conn.execute(sa.select(sa.func.count()).select_from(TABLES["pin"])).scalar_one()
                )
        except sa.exc.SQLAlchemyError as exc:
            raise PinpipeError(
                f"cannot read the source database {self.engine.url!r}: run `pinpipe db build` first "
                f"({type(exc).__name__})"
            ) from None
        if self.rows == 0:
            raise PinpipeError(f"the source database {self.engine.url!r} is empty: run `pinpipe db build`")

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def records(self, indexes: Sequence[int]) -> dict[int, dict[str, bytes]]:
        """The serialised records of each distinct index; raises if an index has no row."""
        wanted = set(indexes)
        found: dict[int, dict[str, bytes]] = {}
        with self._lock:
            for index in wanted:
                hit = self._cache.get(index)
                if hit is not None:
                    found[index] = hit
        missing = sorted(wanted - found.keys())
        for start in range(0, len(missing), self.chunk):
            found.update(self._fetch(missing[start : start + self.chunk]))
        if len(found) != len(wanted):
            absent = sorted(wanted - found.keys())[:5]
            raise PinpipeError(f"indexes {absent} have no row in every source table")
        return found

    def events(self, start_seq: int, indexes: Sequence[int]) -> list[Event]:
        """Events for a run of picked indexes, numbered from ``start_seq``."""
        records = self.records(indexes)
        return [Event(start_seq + i, index, records[index]) for i, index in enumerate(indexes)]

    def _fetch(self, indexes: list[int]) -> dict[int, dict[str, bytes]]:
        per_entity: dict[str, dict[int, bytes]] = {}
        with self.engine.connect() as conn:
            for entity in ENTITIES:
                table = TABLES[entity]
                names = [str(column.name) for column in table.columns]
                position = names.index(INDEX_FIELD[entity])
                key = table.c[INDEX_FIELD[entity]]
                rows = conn.execute(sa.select(table).where(key.in_(indexes)))
                per_entity[entity] = {
                    row[position]: _exact(orjson.dumps(dict(zip(names, row, strict=True)))) for row in rows
                }
        result: dict[int, dict[str, bytes]] = {}
        for index in indexes:
            if all(index in per_entity[e] for e in ENTITIES):
                result[index] = {e: per_entity[e][index] for e in ENTITIES}
        with self._lock:
            for index, records in result.items():
                self._cache[index] = records
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return result


def _exact(data: bytes) -> bytes:
    """A copy of ``data`` that holds only its bytes: orjson's result keeps its whole write buffer
    (about 4 KB for a record of a few hundred bytes), and the cache holds 600,000 records."""
    return bytes(memoryview(data))
