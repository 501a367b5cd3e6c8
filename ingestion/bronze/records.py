"""A record's bytes to bronze's row, or to quarantine: the key contract and the JSON edge cases
(the package docstring states them), the per-line parser, and the text of each field."""

from __future__ import annotations

import json
import math
import re
from bisect import bisect_right
from itertools import accumulate
from typing import Any

import orjson
import pyarrow as pa

from ingestion.landing import strip_bom
from ingestion.settings import SOURCE_FIELDS

JSON_TYPE_CODES: dict[type, str] = {str: "s", int: "i", float: "f", bool: "b", dict: "o", list: "a"}

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
KEY_CONTRACT = (
    "the index is a JSON integer, or a JSON string of ASCII digits with an optional leading '-', "
    "whose value lies within the signed 64-bit range -2^63 .. 2^63-1"
)
"""What bronze accepts as a record's index (``index`` of pin, ``ind`` of geo and user); see the package
docstring (ingestion/bronze/__init__.py). Everything else goes to quarantine as ``bad_index`` (or
``missing_index``)."""

_KEY_TEXT = re.compile(r"-?[0-9]+")
_ROUNDED = float(2**63)
"""orjson makes a float of an integer beyond 64 bits (it keeps up to 2^64-1 and down to -2^63), and
that float's magnitude is at least 2^63: a parsed value holding such a float may have lost digits, and
its line is parsed again by the standard library, which keeps every digit (a float delivered as a
float is merely parsed again, to the same value)."""
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_DIGIT_RUN = b"0" * 19


class Rejected(Exception):
    """A record that goes to quarantine; the message is the reason, ``<kind>: <detail>``.

    Kinds: not_utf8 (bytes that are not UTF-8, or a JSON string escape that is a lone surrogate),
    not_json, not_object, empty, missing_index, bad_index (breaks the key contract: not an integer, or
    outside the 64-bit range), too_large.
    """


class _Number:
    """A JSON number that no Python int or float holds as delivered, kept as its JSON text.

    Only the standard-library path makes these: an integer token of more than 20 characters (beyond
    64 bits, which orjson would turn into a float and lose digits of) or a number beyond the range of
    a double (which would become ``inf``).
    """

    __slots__ = ("integer", "text")

    def __init__(self, text: str, *, integer: bool) -> None:
        self.text = text
        self.integer = integer

    def __repr__(self) -> str:
        return self.text


def _parse_int(text: str) -> int | _Number:
    return int(text) if len(text) <= 20 else _Number(text, integer=True)


def _parse_float(text: str) -> float | _Number:
    value = float(text)
    return value if math.isfinite(value) else _Number(text, integer=False)


def key_problem(value: Any) -> str | None:
    """What is wrong with an index value under the key contract (KEY_CONTRACT); None when it keeps it.

    The answer reads after the field name: ``index field 'index' <answer>``.
    """
    if value.__class__ is int:
        if INT64_MIN <= value <= INT64_MAX:
            return None
        return f"value {value} is outside the 64-bit range (-2^63 .. 2^63-1)"
    if isinstance(value, str):
        if _KEY_TEXT.fullmatch(value) is None:
            return (
                f"is not an integer: {_show(value)} (a string index must be ASCII digits with an "
                "optional leading '-')"
            )
        negative = value.startswith("-")
        digits = value.lstrip("-").lstrip("0") or "0"
        if len(digits) <= 19 and INT64_MIN <= int(digits) * (-1 if negative else 1) <= INT64_MAX:
            return None
        return f"value {_show(value)} is outside the 64-bit range (-2^63 .. 2^63-1)"
    if isinstance(value, _Number):
        if value.integer:
            return f"value {_clip(value.text)} is outside the 64-bit range (-2^63 .. 2^63-1)"
        return f"is not an integer: {_clip(value.text)} (a JSON number with a fraction or exponent)"
    if isinstance(value, bool):
        return f"is not an integer: {'true' if value else 'false'} (a JSON boolean)"
    if isinstance(value, float):
        return f"is not an integer: {float.__repr__(value)} (a JSON number with a fraction or exponent)"
    if isinstance(value, dict):
        return "is not an integer: a JSON object"
    if isinstance(value, list):
        return "is not an integer: a JSON array"
    return f"is not an integer: {_clip(_clean(repr(value)))}"


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _show(text: str) -> str:
    """A string value for a reason: quoted, cut short, and always valid UTF-8."""
    return _clean(repr(text[:40])) + (f" ... ({len(text):,} characters)" if len(text) > 40 else "")


def _clean(text: str) -> str:
    """Text that is valid UTF-8 (a lone surrogate written as its escape)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def render_column(records: list[dict[str, Any]], name: str) -> list[str | None]:
    """One source field of every record as bronze text (strings, the common case, pass through)."""
    values = [record.get(name) for record in records]
    return [
        v if v is None or v.__class__ is str else (str(v) if v.__class__ is int else render(v))
        for v in values
    ]


def render(value: Any) -> str | None:
    """A JSON value as bronze text: strings as is, numbers and booleans as JSON text, null as None.

    An integer beyond 64 bits or a number beyond the double range keeps the text it was delivered as;
    an object or array is its compact JSON text (orjson's, or, for what orjson cannot write, e.g.
    nesting deeper than 255 levels, the same form written by :func:`_dumps`).
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return float.__repr__(value)  # what json.dumps writes for a finite float
    if isinstance(value, _Number):
        return value.text
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return _dumps(value)


def _dumps(value: Any) -> str:
    """Compact JSON text of any parsed value, without recursion (no depth limit)."""
    parts: list[str] = []
    stack: list[tuple[bool, Any]] = [(False, value)]
    while stack:
        literal, item = stack.pop()
        if literal:
            parts.append(item)
        elif isinstance(item, dict):
            todo: list[tuple[bool, Any]] = [(True, "{")]
            for i, (key, inner) in enumerate(item.items()):
                todo.append((True, ("," if i else "") + orjson.dumps(key).decode() + ":"))
                todo.append((False, inner))
            todo.append((True, "}"))
            stack.extend(reversed(todo))
        elif isinstance(item, list):
            todo = [(True, "[")]
            for i, inner in enumerate(item):
                if i:
                    todo.append((True, ","))
                todo.append((False, inner))
            todo.append((True, "]"))
            stack.extend(reversed(todo))
        elif isinstance(item, str):
            parts.append(orjson.dumps(item).decode())
        else:
            parts.append(render(item) or "null")
    return "".join(parts)


def source_columns(records: list[dict[str, Any]], entity: str) -> dict[str, Any]:
    """The entity's source fields of every record as Arrow text columns, and ``_json_types``."""
    columns = {name: pa.array(render_column(records, name), pa.string()) for name in SOURCE_FIELDS[entity]}
    columns["_json_types"] = pa.array(json_types(records, entity), pa.string())
    return columns


def json_type(value: Any) -> str:
    """The ``_json_types`` character of one parsed JSON value (see ``tables.JSON_TYPES_FIELD``)."""
    if value is None:
        return "n"
    code = JSON_TYPE_CODES.get(value.__class__)
    if code is not None:
        return code
    if isinstance(value, _Number):
        return "i" if value.integer else "f"
    return "s" if isinstance(value, str) else "o" if isinstance(value, dict) else "a"


def json_types(records: list[dict[str, Any]], entity: str) -> list[str]:
    """The ``_json_types`` text of every record (an empty record, a quarantine placeholder, is all
    ``n``)."""
    fields = SOURCE_FIELDS[entity]
    return ["".join([json_type(record.get(name)) for name in fields]) for record in records]


def unstorable_records(records: list[dict[str, Any]], entity: str) -> dict[int, str]:
    """Positions of the records a source field of which cannot be stored as text, with the reason.

    parse_record's checks leave no such record; when building the columns fails all the same, this
    finds the culprits so that they go to quarantine alone and the rest of the batch still loads.
    """
    failed: dict[int, str] = {}
    for i, record in enumerate(records):
        for name in SOURCE_FIELDS[entity]:
            try:
                pa.array([render(record.get(name))], pa.string())
            except Exception as exc:
                detail = _clean(f"{type(exc).__name__}: {exc}")[:160]
                failed[i] = f"not_json: field {name!r} cannot be stored as text ({detail})"
                break
    return failed


def parse_record(raw: bytes, index_field: str, max_bytes: int) -> dict[str, Any]:
    """Decode one raw record value into a JSON object, or raise Rejected with the reason.

    A UTF-8 byte order mark at the start is dropped. The index must keep the key contract.
    """
    if len(raw) > max_bytes:
        raise Rejected(f"too_large: record of {len(raw):,} bytes is larger than the limit of {max_bytes:,}")
    raw = strip_bom(raw)
    if not raw.strip():
        raise Rejected("empty: empty record")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = _parse_slow(raw)
    else:
        if _rounded(value):  # an integer beyond 64 bits became a float: keep its digits
            value = _parse_slow(raw)
    if not isinstance(value, dict):
        raise Rejected(f"not_object: JSON {_json_type(value)} is not an object")
    index = value.get(index_field)
    if index is None:
        raise Rejected(f"missing_index: missing index field {index_field!r}")
    problem = key_problem(index)
    if problem is not None:
        raise Rejected(f"bad_index: index field {index_field!r} {problem}")
    return value


def parse_clean_object(values: list[bytes], index_field: str, max_bytes: int) -> list[dict[str, Any]] | None:
    """Parse all lines of an object in one go; None unless every line is a valid record.

    One orjson call over the lines joined as a JSON array is much cheaper than one call per line.
    Anything unusual (a bad line, an index that is not a JSON integer within 64 bits, an oversized
    line, a byte order mark) returns None and the caller checks line by line, so the outcome is the
    same as parse_record on each line. A line holding a number orjson may have rounded (an integer
    beyond 64 bits) is parsed again alone, as parse_record does.
    """
    if not values or max(map(len, values)) > max_bytes or not all(values):
        return None
    joined = b"[" + b",".join(values) + b"]"
    try:
        parsed = orjson.loads(joined)
    except orjson.JSONDecodeError:
        return None
    if len(parsed) != len(values):  # a line holding two values ('1,2') would shift the offsets
        return None
    for record in parsed:
        if record.__class__ is not dict:
            return None
        index = record.get(index_field)
        if index.__class__ is not int or index < INT64_MIN or index > INT64_MAX:
            return None
    for i in _long_digit_lines(joined, values):
        if _rounded(parsed[i]):
            try:
                parsed[i] = parse_record(values[i], index_field, max_bytes)
            except Rejected:
                return None
    return parsed


def _long_digit_lines(joined: bytes, values: list[bytes]) -> list[int]:
    """Positions of the lines holding a run of 19 or more digits (an integer orjson may have rounded
    has one); ``joined`` is the lines joined as a JSON array. One C-speed pass when there is none."""
    translated = joined.translate(_DIGITS_AS_ZERO)
    at = translated.find(_DIGIT_RUN)
    if at < 0:
        return []
    ends = list(accumulate(len(value) + 1 for value in values))  # the ',' (or ']') after each line
    lines = []
    while at >= 0:
        line = bisect_right(ends, at)
        lines.append(line)
        at = translated.find(_DIGIT_RUN, ends[line])
    return lines


def _rounded(value: Any) -> bool:
    """Whether a parsed value holds a float of magnitude 2^63 or more (see _ROUNDED), at any depth."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = item.__class__
        if kind is float:
            if item >= _ROUNDED or item <= -_ROUNDED:
                return True
        elif kind is dict:
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
    return False


def _parse_slow(raw: bytes) -> Any:
    """The standard library's parser, for what orjson refuses or would change but JSON allows.

    Integers beyond 64 bits and numbers beyond the double range keep their text (:class:`_Number`);
    a string holding a lone surrogate escape (half a character, which no UTF-8 text can hold) is
    rejected, as bytes that are not UTF-8 are.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(f"not_utf8: not valid UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(
            text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_reject_constant
        )
    except (ValueError, RecursionError) as exc:
        raise Rejected(f"not_json: not valid JSON: {_clean(str(exc))[:120]}") from None
    _check_unicode(value)
    return value


def _check_unicode(value: Any) -> None:
    """Raise Rejected if a string or key anywhere in a parsed value holds a lone surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if item.__class__ is str:
            _check_text(item)
        elif item.__class__ is dict:
            for key, inner in item.items():
                _check_text(key)
                stack.append(inner)
        elif item.__class__ is list:
            stack.extend(item)


def _check_text(text: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        raise Rejected(
            f"not_utf8: a JSON string holds the lone surrogate \\u{code:04x} (half a UTF-16 pair), "
            "which is not valid Unicode"
        ) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
