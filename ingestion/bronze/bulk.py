"""Bulk parsing of a landing object for the bronze loader: every line typed at once by Arrow.

The per-line path (``parse_record`` in ingestion/bronze/records.py) decides, for every record, whether it
loads and what bronze stores. This module reaches the same rows for the common case without a Python
object per record: pyarrow's JSON reader parses the whole object against the entity's wire types,
and Arrow kernels turn the typed columns into bronze text. A line goes to the per-line path instead
whenever the bulk result is not *provably* the per-line result:

* before parsing (vectorised checks on the bytes): a line that does not start with ``{`` and end
  with ``}`` (empty, a byte order mark, whitespace around it, not an object, a value spanning lines),
  a line larger than ``max_record_bytes``, a line that is not valid UTF-8, a line holding a
  surrogate escape (``\\ud83d``: Arrow and orjson treat lone ones differently), a line holding an
  ``NaN``/``Inf`` literal after ``:``, ``,`` or ``[`` (Arrow's parser accepts them, JSON does not),
  and a line with more than :data:`MAX_BRACKETS` opening brackets (nesting Python's parser refuses);
* after parsing: a record whose index is missing or null, and a float field whose value is integral
  or not finite (Arrow types ``5`` and ``5.0`` alike; bronze stores them as ``5`` and ``5.0``).

Anything Arrow refuses for the lines left (a string index such as ``"007"``, a number where the wire
contract has a string, a repeated field, an object in a source field, a number beyond 64 bits in an
integer field, ...) sends the whole object to the per-line path: ``bulk_parse`` returns None.

Why the bulk rows equal the per-line rows:

* one line, one record: every line given to Arrow starts with ``{`` and ends with ``}`` and Arrow
  read exactly that many objects (a string cannot hold a raw newline, so no object spans lines, and
  two objects on one line would make one row too many);
* the record is accepted by both: Arrow is stricter than JSON nowhere that matters here (what it
  refuses goes per line) and more lenient only in the ways checked above (NaN/Inf, depth, invalid
  UTF-8, which the loader refuses as orjson and the standard library do);
* the same values: an integer field holds int64 values whose decimal text is what ``str(int)``
  gives; a float field holds a finite non-integral double (so the JSON token had a fraction or an
  exponent, and both parsers round it correctly to the same double) written as Python's ``repr``
  (Arrow's shortest round-trip text where it has the same form, ``float.__repr__`` otherwise); a
  string field is the decoded string (standard escapes decode alike; surrogate escapes go per line);
  the index is a non-null int64, which always keeps the key contract; ``_raw_json`` is the line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from ingestion.settings import ENTITIES, INDEX_FIELD, SOURCE_FIELDS

WIRE_INTEGERS: dict[str, tuple[str, ...]] = {
    "pin": ("index", "downloaded"),
    "geo": ("ind",),
    "user": ("ind", "age"),
}
"""Source fields the wire contract sends as JSON integers (docs/data-contract.md, "On the wire")."""
WIRE_FLOATS: dict[str, tuple[str, ...]] = {"pin": (), "geo": ("latitude", "longitude"), "user": ()}
"""Source fields sent as JSON numbers with a fraction; every other source field is a JSON string."""

MAX_BRACKETS = 256
"""A line with more opening brackets than this goes per line (orjson and the standard library refuse
nesting beyond about 1,000 levels; Arrow's parser has no limit)."""
_OPEN_CURLY, _CLOSE_CURLY, _OPEN_SQUARE = ord("{"), ord("}"), ord("[")
_BACKSLASH = ord("\\")
_NON_FINITE_NEEDLES = (b"NaN", b"Inf")
"""Arrow's parser accepts ``NaN``, ``Inf`` and ``Infinity`` (signed) in this case only; it refuses
other cases (``nan``, ``INF``), and an object it refuses loads line by line."""
_SIGNS = frozenset(b"+-")
_JSON_SPACE = frozenset(b" \t\r\n")
_VALUE_START = frozenset(b":,[")
_FIXED_FORM_MIN, _FIXED_FORM_MAX = 1e-4, 1e16
"""Python's repr writes a double of this magnitude as digits, a point and digits (no exponent); where
Arrow writes it so too, the two texts are the same shortest round-trip digits."""


def wire_schema(entity: str) -> pa.Schema:
    """The Arrow schema bulk parsing reads an entity's source fields with."""
    fields = []
    for name in SOURCE_FIELDS[entity]:
        if name in WIRE_INTEGERS[entity]:
            kind: pa.DataType = pa.int64()
        elif name in WIRE_FLOATS[entity]:
            kind = pa.float64()
        else:
            kind = pa.string()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


_WIRE_SCHEMAS = {entity: wire_schema(entity) for entity in ENTITIES}


@dataclass
class BulkObject:
    """What bulk parsing made of one object: the bronze rows it typed, the lines left to check one by one."""

    table: pa.Table
    """The entity's source fields as bronze text, ``_raw_json``, ``_offset`` and ``_json_types``."""
    per_line: list[tuple[int, bytes]]
    """(position in the object, raw bytes) of the lines for the per-line path, in order."""
    records: int
    """Lines (records) in the object."""


def split_records(data: bytes) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """The records of a ``.json`` object as :func:`ingestion.landing.split_lines` cuts them: one binary
    array of the lines (newlines removed), and the start and end (exclusive, before the newline) of
    every line in ``data``.

    Arrow's split kernel copies the lines into Arrow's memory pool, which reuses its pages from one
    object to the next; a copy in a Python ``bytes`` takes fresh pages from the system for every
    object, and on a virtual machine those page faults cost more than the copy.
    """
    whole = pa.Array.from_buffers(
        pa.binary(), 1, [None, pa.py_buffer(np.array([0, len(data)], np.int32)), pa.py_buffer(data)]
    )
    lines = pc.split_pattern(whole, "\n").flatten()
    if data.endswith(b"\n") or not data:  # the final newline ends the last record; no data, no record
        lines = lines.slice(0, len(lines) - 1)
    count = len(lines)
    offsets = np.frombuffer(lines.buffers()[1], np.int32, count + 1, lines.offset * 4).astype(np.int64)
    removed = np.arange(count, dtype=np.int64)  # newlines before each line
    return lines, offsets[:-1] + removed, offsets[1:] + removed


def _not_utf8(lines: pa.Array) -> np.ndarray:
    """Mask of the lines that are not valid UTF-8 (one vectorised check when all are)."""
    try:
        lines.view(pa.string()).validate(full=True)
        return np.zeros(len(lines), bool)
    except pa.ArrowInvalid:
        bad = np.zeros(len(lines), bool)
        for i, value in enumerate(lines.to_pylist()):
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                bad[i] = True
        return bad


def _line_of(positions: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The line holding each byte position."""
    return np.searchsorted(ends, positions, side="left")


def _surrogate_escapes(buf: np.ndarray) -> np.ndarray:
    """Positions of the escapes ``\\uD800``..``\\uDFFF`` (any case; an escaped backslash followed by
    such text counts too, which only sends its line to the per-line path)."""
    at = np.flatnonzero(buf[:-5] == _BACKSLASH) if len(buf) > 5 else np.empty(0, np.int64)
    if not len(at):
        return at
    at = at[buf[at + 1] == ord("u")]
    at = at[(buf[at + 2] | 0x20) == ord("d")]
    third = buf[at + 3] | 0x20
    return at[((third >= ord("8")) & (third <= ord("9"))) | ((third >= ord("a")) & (third <= ord("f")))]


def _non_finite_literals(data: bytes, buf: np.ndarray) -> np.ndarray:
    """Positions of the literals Arrow's parser takes for numbers and JSON does not (``NaN``, ``Inf``,
    ``Infinity``, signed) where a value can start: after ``:``, ``,`` or ``[`` and whitespace."""
    found = []
    for needle in _NON_FINITE_NEEDLES:
        at = np.flatnonzero(buf[: max(0, len(buf) - 2)] == needle[0])
        at = at[(buf[at + 1] == needle[1]) & (buf[at + 2] == needle[2])]
        for position in at.tolist():  # few: words like "Info" are cleared below
            before = position - 1
            if before >= 0 and data[before] in _SIGNS:
                before -= 1
            while before >= 0 and data[before] in _JSON_SPACE:
                before -= 1
            if before >= 0 and data[before] in _VALUE_START:
                found.append(position)
    return np.array(found, np.int64)


def bulk_parse(entity: str, data: bytes, first_offset: int, max_bytes: int) -> BulkObject | None:
    """Parse a ``.json`` landing object of an entity in bulk; None to load the whole object line by line."""
    if len(data) >= 2**31 - 1:
        return None
    lines, starts, ends = split_records(data)
    count = len(starts)
    if not count:
        return BulkObject(_empty(entity), [], 0)
    buf = np.frombuffer(data, np.uint8)
    lengths = ends - starts
    ok = (lengths >= 2) & (lengths <= max_bytes)
    first = np.where(ok, starts, 0)
    last = np.where(ok, ends - 1, 0)
    ok &= (buf[first] == _OPEN_CURLY) & (buf[last] == _CLOSE_CURLY)
    ok &= ~_not_utf8(lines)
    ok[_line_of(_surrogate_escapes(buf), ends)] = False
    ok[_line_of(_non_finite_literals(data, buf), ends)] = False
    # Nesting: every line left starts with '{', so no line holds more opening brackets than one plus
    # the object's surplus over one per line; count per line only when that bound is too high.
    surplus = int(np.count_nonzero(buf == _OPEN_CURLY) + np.count_nonzero(buf == _OPEN_SQUARE)) - int(
        ok.sum()
    )
    if surplus >= MAX_BRACKETS:
        for i in np.flatnonzero(ok & (lengths > MAX_BRACKETS)).tolist():
            line = data[starts[i] : ends[i]]
            if line.count(b"{") + line.count(b"[") > MAX_BRACKETS:
                ok[i] = False
    good = np.flatnonzero(ok)
    if not len(good):
        return BulkObject(_empty(entity), _raw_lines(data, starts, ends, np.arange(count)), count)
    whole = len(good) == count
    source = data if whole else b"\n".join(data[starts[i] : ends[i]] for i in good.tolist())
    block_size = max(1 << 20, int(lengths.max()) + 2)
    try:
        parsed = pajson.read_json(
            pa.BufferReader(source),
            read_options=pajson.ReadOptions(use_threads=False, block_size=block_size),
            parse_options=pajson.ParseOptions(
                explicit_schema=_WIRE_SCHEMAS[entity], unexpected_field_behavior="ignore"
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if parsed.num_rows != len(good):
        return None
    keep = pc.is_valid(parsed[INDEX_FIELD[entity]])
    columns: dict[str, pa.ChunkedArray | pa.Array] = {}
    for field in _WIRE_SCHEMAS[entity]:
        values = parsed[field.name]
        if pa.types.is_floating(field.type):
            typed = pc.and_kleene(pc.is_finite(values), pc.not_equal(pc.floor(values), values))
            keep = pc.and_kleene(keep, pc.or_kleene(pc.is_null(values), typed))
        columns[field.name] = values
    keep_np = np.asarray(pc.fill_null(keep, False).to_numpy(zero_copy_only=False), bool)
    if not keep_np.all():
        mask = pa.array(keep_np)
        columns = {name: pc.filter(values, mask) for name, values in columns.items()}
        ok[good[~keep_np]] = False
        good = good[keep_np]
    texts: list[pa.Array | pa.ChunkedArray] = []
    codes: list[pa.Array | pa.ChunkedArray] = []  # each field's JSON type (Arrow held only its wire type)
    for field in _WIRE_SCHEMAS[entity]:
        values = columns[field.name]
        if pa.types.is_integer(field.type):
            texts.append(pc.cast(values, pa.string()))
            code = "i"
        elif pa.types.is_floating(field.type):
            texts.append(_float_text(values))
            code = "f"
        else:
            texts.append(values)
            code = "s"
        codes.append(pc.if_else(pc.is_valid(values), code, "n"))
    json_types = pc.binary_join_element_wise(*codes, "")
    raw = (lines if len(good) == count else lines.take(pa.array(good))).view(pa.string())
    offsets = pa.array(good + first_offset, pa.int64())
    names = [*SOURCE_FIELDS[entity], "_raw_json", "_offset", "_json_types"]
    table = pa.Table.from_arrays([*texts, raw, offsets, json_types], names=names)
    per_line = _raw_lines(data, starts, ends, np.flatnonzero(~ok))
    return BulkObject(table, per_line, count)


def _float_text(values: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Finite non-integral doubles as Python's ``repr`` writes them."""
    text = pc.cast(values, pa.string())
    magnitude = pc.abs(values)
    fixed = pc.and_(
        pc.and_(pc.greater_equal(magnitude, _FIXED_FORM_MIN), pc.less(magnitude, _FIXED_FORM_MAX)),
        pc.match_substring_regex(text, r"^-?[0-9]+\.[0-9]+$"),
    )
    other = pc.invert(pc.fill_null(fixed, True))
    if not pc.any(other).as_py():
        return text
    redo = pc.filter(values, other).to_pylist()
    replaced = pa.array([float.__repr__(v) for v in redo], pa.string())
    return pc.replace_with_mask(
        text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text,
        other.combine_chunks() if isinstance(other, pa.ChunkedArray) else other,
        replaced,
    )


def _raw_lines(
    data: bytes, starts: np.ndarray, ends: np.ndarray, positions: np.ndarray
) -> list[tuple[int, bytes]]:
    return [(i, data[starts[i] : ends[i]]) for i in positions.tolist()]


def _empty(entity: str) -> pa.Table:
    arrays = [pa.array([], pa.string()) for _ in SOURCE_FIELDS[entity]]
    arrays += [pa.array([], pa.string()), pa.array([], pa.int64()), pa.array([], pa.string())]
    return pa.Table.from_arrays(arrays, names=[*SOURCE_FIELDS[entity], "_raw_json", "_offset", "_json_types"])
