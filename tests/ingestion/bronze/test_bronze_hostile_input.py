"""Bronze under hostile input: keys every engine can type, no crash, every record exactly once.

Example tests pin each case of the issue (keys beyond 64 bits or not ASCII digits, a lone surrogate,
a byte order mark, an integer beyond 64 bits in a plain field); property tests (hypothesis) throw
arbitrary bytes, JSON values and Unicode at the loader and check it against a small independent
oracle written with the standard library's JSON parser.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion import bronze
from ingestion.bronze import loader as bronze_loader
from ingestion.bronze import records as bronze_records
from ingestion.bronze.loader import BronzeLoader
from ingestion.bronze.records import INT64_MAX, INT64_MIN, KEY_CONTRACT, parse_record
from ingestion.bronze.tables import LOADERS, read_table
from ingestion.lake import Lake
from ingestion.landing import UTF8_BOM, LandingWriter, object_key, split_lines
from ingestion.settings import ENTITIES, INDEX_FIELD, SOURCE_FIELDS, Settings

KINDS = {"not_utf8", "not_json", "not_object", "empty", "missing_index", "bad_index", "too_large"}
HYPOTHESIS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def keeps_contract(text: str | None) -> bool:
    """The key contract, checked on the text bronze stored (an independent re-statement)."""
    if text is None or re.fullmatch(r"-?[0-9]+", text, flags=re.ASCII) is None:
        return False
    return -(2**63) <= int(text) <= 2**63 - 1


def land(settings: Settings, entity: str, values: list[bytes], *, partition: int = 0) -> None:
    writer = LandingWriter(Lake(settings.lake), flush_records=50)
    for offset, value in enumerate(values):
        writer.add(settings.topic(entity), partition, offset, value)
    writer.flush_all()


def tables(settings: Settings, partition: int | None = None) -> dict[str, list[dict[str, Any]]]:
    """Rows of the three entity tables and the quarantine (of one partition)."""
    result = {}
    for name in (*ENTITIES, "quarantine"):
        rows = read_table(settings, name).to_pylist()
        result[name] = [r for r in rows if partition is None or r["_partition"] == partition]
    return result


def pin(index: bytes, **fields: bytes) -> bytes:
    extra = b"".join(b', "%s": %s' % (name.encode(), value) for name, value in fields.items())
    return b'{"index": ' + index + extra + b"}"


# --- the key contract ---------------------------------------------------------------------------

REFUSED_KEYS = [
    (b"9223372036854775808", "value 9223372036854775808 is outside the 64-bit range"),  # 2^63
    (b"-9223372036854775809", "value -9223372036854775809 is outside the 64-bit range"),
    (b"18446744073709551616", "value 18446744073709551616 is outside the 64-bit range"),  # 2^64
    (b"1180591620717411303424", "value 1180591620717411303424 is outside the 64-bit range"),  # 2^70
    (b"1" * 50, "is outside the 64-bit range"),
    (b"1e300", "is not an integer: 1e+300 (a JSON number with a fraction or exponent)"),
    (b"1e400", "is not an integer: 1e400"),
    (b"5.0", "is not an integer: 5.0"),
    (b"-0.0", "is not an integer"),
    (b"true", "is not an integer: true (a JSON boolean)"),
    (b"[1]", "is not an integer: a JSON array"),
    (b'{"v": 1}', "is not an integer: a JSON object"),
    ('"²"'.encode(), "is not an integer: '²'"),
    ('"１２"'.encode(), "is not an integer: '１２'"),
    ('"٣"'.encode(), "is not an integer"),  # Arabic-Indic digit three
    (b'"--5"', "is not an integer: '--5'"),
    (b'"+5"', "is not an integer: '+5'"),
    (b'" 12"', "is not an integer: ' 12'"),
    (b'"12\\n"', "is not an integer"),
    (b'""', "is not an integer: ''"),
    (b'"-"', "is not an integer: '-'"),
    (b'"1_000"', "is not an integer"),
    (b'"0x10"', "is not an integer"),
    (b'"9999999999999999999"', "value '9999999999999999999' is outside the 64-bit range"),
    (b'"-9223372036854775809"', "is outside the 64-bit range"),
    (b'"' + b"9" * 5000 + b'"', "is outside the 64-bit range"),
]


@pytest.mark.parametrize(("index", "detail"), REFUSED_KEYS, ids=[i[:30].decode() for i, _ in REFUSED_KEYS])
def test_a_key_no_engine_can_type_goes_to_quarantine(settings: Settings, index: bytes, detail: str) -> None:
    raw = pin(index, category=b'"art"')
    land(settings, "pin", [pin(b"1"), raw, pin(b"2")])
    report = BronzeLoader(settings).load()
    assert (report.loaded["pin"], report.quarantined, report.reasons) == (2, 1, {"bad_index": 1})
    rows = tables(settings)
    (row,) = rows["quarantine"]
    assert row["reason"].startswith("bad_index: index field 'index' ")
    assert detail in row["reason"]
    assert len(row["reason"]) < 300
    assert (row["raw_bytes"], row["_offset"]) == (raw, 1)
    assert sorted(r["index"] for r in rows["pin"]) == ["1", "2"]


@pytest.mark.parametrize("entity", ["geo", "user"])
@pytest.mark.parametrize("index", [b"1180591620717411303424", b'"9999999999999999999"', '"１２"'.encode()])
def test_geo_and_user_ind_keep_the_same_contract(settings: Settings, entity: str, index: bytes) -> None:
    land(settings, entity, [b'{"ind": 1}', b'{"ind": ' + index + b"}"])
    report = BronzeLoader(settings).load()
    assert (report.loaded[entity], report.reasons) == (1, {"bad_index": 1})
    (row,) = tables(settings)["quarantine"]
    assert row["reason"].startswith("bad_index: index field 'ind' ")


ACCEPTED_KEYS = [
    (b"0", "0"),
    (b"-0", "0"),
    (b"9223372036854775807", "9223372036854775807"),  # 2^63 - 1
    (b"-9223372036854775808", "-9223372036854775808"),  # -2^63
    (b'"9223372036854775807"', "9223372036854775807"),
    (b'"-9223372036854775808"', "-9223372036854775808"),
    (b'"007"', "007"),
    (b'"-0"', "-0"),
    (b'"' + b"0" * 40 + b'42"', "0" * 40 + "42"),
]


@pytest.mark.parametrize(("index", "stored"), ACCEPTED_KEYS, ids=[i.decode()[:30] for i, _ in ACCEPTED_KEYS])
def test_keys_within_the_contract_load_as_delivered(settings: Settings, index: bytes, stored: str) -> None:
    land(settings, "pin", [pin(index)])
    # a clean object (fast path) and the same line next to a bad one (line by line) agree
    land(settings, "pin", [pin(index), b"not json"], partition=1)
    report = BronzeLoader(settings).load()
    assert (report.loaded["pin"], report.quarantined) == (2, 1)
    assert [r["index"] for r in tables(settings)["pin"]] == [stored, stored]
    assert keeps_contract(stored)


def test_the_contract_is_written_down() -> None:
    assert "64-bit" in KEY_CONTRACT and "ASCII digits" in KEY_CONTRACT
    assert "The key contract" in (bronze.__doc__ or "")
    assert (INT64_MIN, INT64_MAX) == (-(2**63), 2**63 - 1)


# --- text: surrogates, invalid UTF-8, byte order mark -------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pin(b"3", title=b'"\\ud83d"'),  # half an emoji
        pin(b"3", title=b'"ok \\ude00 then"'),  # a lone low surrogate
        pin(b"3", title=b'"\\ude00\\ud83d"'),  # a pair in the wrong order
        pin(b"3", tag_list=b'["a", {"deep": ["\\udfff"]}]'),  # nested
        b'{"index": 3, "\\ud83d": "in a key"}',
        b'{"index": "\\ud83d"}',
        pin(b"3", title=b'"\xed\xa0\xbd"'),  # a surrogate encoded as UTF-8 bytes (CESU-8)
        pin(b"3", title=b'"\xc3"'),  # a cut multi-byte character
    ],
)
def test_invalid_unicode_is_quarantined_and_the_batch_commits_whole(settings: Settings, raw: bytes) -> None:
    # good records of all three entities in the same batch: before, the loader committed pin and geo
    # and then died on the user table (or here on pin) before the ledger, on every retry
    land(settings, "pin", [pin(b"1"), raw, pin(b"2")])
    land(settings, "geo", [b'{"ind": 1}'])
    land(settings, "user", [b'{"ind": 1, "first_name": "\\ud83d\\ude00"}'])  # a valid pair: an emoji
    report = BronzeLoader(settings).load()
    assert report.loaded == {"pin": 2, "geo": 1, "user": 1}
    assert (report.quarantined, report.reasons) == (1, {"not_utf8": 1})
    rows = tables(settings)
    assert rows["quarantine"][0]["raw_bytes"] == raw
    assert rows["quarantine"][0]["reason"].startswith("not_utf8: ")
    assert rows["user"][0]["first_name"] == "😀"
    assert len(read_table(settings, "_loaded_objects")) == 3
    again = BronzeLoader(settings).load()
    assert (again.objects_loaded, again.records_loaded, again.quarantined) == (0, 0, 0)


def test_a_lone_surrogate_names_the_code_point() -> None:
    with pytest.raises(bronze_records.Rejected, match=r"lone surrogate \\ud83d"):
        parse_record(pin(b"3", title=b'"\\ud83d"'), "index", 1 << 20)


def test_a_byte_order_mark_at_the_start_of_an_object_is_dropped(settings: Settings) -> None:
    lake = Lake(settings.lake)
    topic = settings.topic("pin")
    lake.write_bytes(object_key(topic, 0, 0), UTF8_BOM + pin(b"1") + b"\n" + pin(b"2") + b"\n")
    lake.write_bytes(object_key(topic, 0, 2, single=True), UTF8_BOM + b'{"index": 3,\n"title": "t"}')
    lake.write_bytes(object_key(topic, 0, 3), UTF8_BOM + b"\n" + pin(b"4") + b"\n")  # a mark alone
    report = BronzeLoader(settings).load()
    assert (report.loaded["pin"], report.quarantined, report.reasons) == (4, 1, {"empty": 1})
    rows = sorted(tables(settings)["pin"], key=lambda r: r["_offset"])
    assert [r["index"] for r in rows] == ["1", "2", "3", "4"]
    assert rows[0]["_raw_json"] == pin(b"1").decode()
    assert rows[2]["_raw_json"] == '{"index": 3,\n"title": "t"}'
    assert tables(settings)["quarantine"][0]["raw_bytes"] == UTF8_BOM  # kept as landed


# --- other fields stay exactly as delivered -----------------------------------------------------


def test_integers_beyond_64_bits_keep_every_digit(settings: Settings) -> None:
    thirty = b"123456789012345678901234567890"
    values = [
        pin(b"1", follower_count=thirty),
        pin(b"2", follower_count=b"-" + thirty, downloaded=b"18446744073709551616"),
        pin(b"3", tag_list=b"[" + thirty + b', {"n": -9223372036854775809}]'),
        pin(b"4", follower_count=b"1e400", downloaded=b"-1E+999"),
        pin(b"5", follower_count=b"9" * 5000),  # beyond Python's int/str conversion limit
        pin(b"6", follower_count=b"18446744073709551615", title=b'"a 20-digit run 12345678901234567890"'),
    ]
    land(settings, "pin", values)
    report = BronzeLoader(settings).load()
    assert (report.loaded["pin"], report.quarantined) == (6, 0)
    rows = {r["index"]: r for r in tables(settings)["pin"]}
    assert rows["1"]["follower_count"] == thirty.decode()
    assert (rows["2"]["follower_count"], rows["2"]["downloaded"]) == ("-" + thirty.decode(), str(2**64))
    assert rows["3"]["tag_list"] == f'[{thirty.decode()},{{"n":-9223372036854775809}}]'
    assert (rows["4"]["follower_count"], rows["4"]["downloaded"]) == ("1e400", "-1E+999")
    assert rows["5"]["follower_count"] == "9" * 5000
    assert rows["6"]["follower_count"] == "18446744073709551615"
    assert rows["6"]["title"] == "a 20-digit run 12345678901234567890"
    for offset, raw in enumerate(values):
        assert next(r for r in rows.values() if r["_offset"] == offset)["_raw_json"] == raw.decode()


def test_the_fast_path_keeps_big_integers_too(settings: Settings) -> None:
    """A clean object is parsed with one orjson call; the lines where orjson rounded a number are
    parsed again alone (a long digit run inside a string, like an image URL, changes nothing)."""
    thirty = b"123456789012345678901234567890"
    values = [
        pin(b"0", image_src=b'"https://i.pinimg.com/originals/3085215db77e55770202724268465490.jpg"'),
        pin(b"1", follower_count=thirty),
        pin(b"2", follower_count=b"1e19"),  # a float delivered as a float stays one
        pin(b"3", tag_list=b'[{"n": -9223372036854775809}]', downloaded=b"9223372036854775807"),
        pin(b"4", follower_count=b"-" + thirty),
    ]
    parsed = bronze_records.parse_clean_object(values, "index", 1 << 20)
    assert parsed is not None
    assert [bronze_records.render(r.get("follower_count")) for r in parsed] == [
        None,
        thirty.decode(),
        "1e+19",
        None,
        "-" + thirty.decode(),
    ]
    one_by_one = [parse_record(v, "index", 1 << 20) for v in values]
    for name in SOURCE_FIELDS["pin"]:  # the same as line by line
        assert bronze_records.render_column(parsed, name) == bronze_records.render_column(one_by_one, name)
    land(settings, "pin", values)
    assert BronzeLoader(settings).load().loaded["pin"] == 5
    rows = {r["index"]: r for r in tables(settings)["pin"]}
    assert rows["1"]["follower_count"] == thirty.decode()
    assert rows["3"]["tag_list"] == '[{"n":-9223372036854775809}]'
    assert rows["3"]["downloaded"] == "9223372036854775807"


def test_deep_nesting_is_stored_not_a_crash(settings: Settings) -> None:
    deep = b"[" * 400 + b"1" + b"]" * 400  # orjson parses it but writes at most 255 levels
    land(settings, "pin", [pin(b"1", tag_list=deep), pin(b"2", tag_list=b'{"a":' * 300 + b"1" + b"}" * 300)])
    report = BronzeLoader(settings).load()
    assert report.loaded["pin"] == 2
    rows = {r["index"]: r for r in tables(settings)["pin"]}
    assert rows["1"]["tag_list"] == deep.decode()
    assert rows["2"]["tag_list"] == '{"a":' * 300 + "1" + "}" * 300


def test_a_record_that_cannot_be_stored_is_quarantined_alone(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were a field to slip through parse_record's checks and fail when stored, that record alone
    goes to quarantine; the rest of the batch (every entity) loads and the ledger is written."""
    real = bronze_records.render

    def render(value: Any) -> str | None:
        if value == ["poison"]:
            raise UnicodeEncodeError("utf-8", "\ud83d", 0, 1, "surrogates not allowed")
        return real(value)

    monkeypatch.setattr(bronze_records, "render", render)
    land(settings, "pin", [pin(b"1", tag_list=b'["ok"]'), pin(b"2", tag_list=b'["poison"]'), pin(b"3")])
    land(settings, "geo", [b'{"ind": 1}'])
    report = BronzeLoader(settings).load()
    assert report.loaded == {"pin": 2, "geo": 1, "user": 0}
    assert (report.quarantined, report.reasons) == (1, {"not_json": 1})
    rows = tables(settings)
    (row,) = rows["quarantine"]
    assert "field 'tag_list' cannot be stored as text" in row["reason"]
    assert (row["_offset"], row["raw_bytes"]) == (1, pin(b"2", tag_list=b'["poison"]'))
    assert sorted(r["_offset"] for r in rows["pin"]) == [0, 2]
    ledger = {r["landing_object"]: r for r in read_table(settings, "_loaded_objects").to_pylist()}
    assert sorted((r["records"], r["loaded"], r["quarantined"]) for r in ledger.values()) == [
        (1, 1, 0),
        (3, 2, 1),
    ]


@pytest.mark.parametrize("loader", LOADERS)
def test_a_failing_batch_commits_nothing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, loader: str
) -> None:
    """If building the tables fails anyway, nothing is written: no table holds half a batch."""

    def broken(records: list[dict[str, Any]], entity: str) -> dict[str, Any]:
        if entity == "user":
            raise RuntimeError("boom")
        return real(records, entity)

    def broken_bulk(self: BronzeLoader, entity: str, batch: Any, now: datetime) -> Any:
        if entity == "user":
            raise RuntimeError("boom")
        return real_bulk(self, entity, batch, now)

    real, real_bulk = bronze_records.source_columns, BronzeLoader._bulk_table
    monkeypatch.setattr(bronze_loader, "source_columns", broken)  # as the loader calls it
    monkeypatch.setattr(bronze_loader, "unstorable_records", lambda rows, entity: {})
    monkeypatch.setattr(BronzeLoader, "_bulk_table", broken_bulk)  # the bulk loader's typed rows
    for entity in ENTITIES:
        land(settings, entity, [b'{"%s": 1}' % INDEX_FIELD[entity].encode()])
    land(settings, "pin", [b"bad"], partition=1)
    with pytest.raises(RuntimeError, match="boom"):
        BronzeLoader(settings, loader=loader).load()
    assert all(not rows for rows in tables(settings).values())
    assert len(read_table(settings, "_loaded_objects")) == 0
    monkeypatch.undo()
    report = BronzeLoader(settings).load()
    assert (report.records_loaded, report.quarantined, report.duplicates) == (3, 1, 0)


def test_stream_ingestion_shares_the_checks(settings: Settings) -> None:
    """The Kinesis path builds its rows with the same parsing: same verdicts, no crash."""
    from ingestion.stream import StreamIngestion

    ingestion = StreamIngestion(settings, client=object())
    state = ingestion.streams["pin"]
    values = [
        pin(b"1", follower_count=b"123456789012345678901234567890"),
        pin(b"1180591620717411303424"),
        pin(b"3", title=b'"\\ud83d"'),
        UTF8_BOM + pin(b"4"),
        pin(b'"\xef\xbc\x91\xef\xbc\x92"'),  # "１２"
    ]
    now = datetime(2024, 1, 1, tzinfo=UTC)
    state.pending = [
        ("shardId-0", {"Data": v, "SequenceNumber": str(100 + i), "ApproximateArrivalTimestamp": now})
        for i, v in enumerate(values)
    ]
    table, _keys = ingestion._build(state, now)
    rows = table.to_pylist()
    assert [(r["_quarantine_reason"] or "").split(":")[0] for r in rows] == [
        "",
        "bad_index",
        "not_utf8",
        "",
        "bad_index",
    ]
    assert rows[0]["follower_count"] == "123456789012345678901234567890"
    assert (rows[3]["index"], rows[3]["_raw_json"]) == ("4", pin(b"4").decode())
    assert [r["_raw_bytes"] for r in rows] == [None, values[1], values[2], None, values[4]]


# --- properties ---------------------------------------------------------------------------------

ANY_CHAR = st.characters(exclude_categories=())  # every code point, surrogates and controls included
SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=())
ANY_TEXT = st.text(
    st.one_of(ANY_CHAR, SURROGATES, st.sampled_from("0123456789-\n\r\t \ufeff\x00")), max_size=12
)
CLEAN_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
"""Text every layer can store (no lone surrogate)."""
BIG_INTS = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, 2**70, 10**30]),
)

HUGE_INTS = st.one_of(st.integers(min_value=2**64, max_value=10**40), st.integers(max_value=-(2**63) - 1))


def json_values(scalars: st.SearchStrategy[Any], keys: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
        max_leaves=12,
    )


JSON_VALUES = json_values(
    st.one_of(st.none(), st.booleans(), BIG_INTS, st.floats(), ANY_TEXT),
    st.one_of(ANY_TEXT, st.integers(), st.booleans(), st.none()),  # json.dumps writes them as strings
)
CLEAN_VALUES = json_values(
    st.one_of(
        st.none(), st.booleans(), BIG_INTS, st.floats(allow_nan=False, allow_infinity=False), CLEAN_TEXT
    ),
    CLEAN_TEXT,
)
"""Values of a record that loads (numbers beyond 64 bits included)."""
VALID_KEYS = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from(
        [0, 2**63 - 1, -(2**63), "0", "-0", "007", "9223372036854775807", "-9223372036854775808"]
    ),
    st.from_regex(r"-?[0-9]{1,18}", fullmatch=True),
)
BOUNDARY_KEYS = st.one_of(
    st.from_regex(r"-?[1-9][0-9]{17,19}", fullmatch=True),
    st.integers(min_value=2**63 - 100, max_value=2**63 + 100),
    st.integers(min_value=-(2**63) - 100, max_value=-(2**63) + 100),
)
"""Keys around the 64-bit bounds, as strings or JSON integers."""
KEYS = st.one_of(
    BOUNDARY_KEYS,
    JSON_VALUES,
    BIG_INTS,
    st.from_regex(r"-?[0-9]{1,25}", fullmatch=True),
    st.sampled_from(
        [
            *["²", "１２", "--5", "+5", " 12", "12 ", "", "-", "007", "-0", "٣", "9999999999999999999"],
            *["9223372036854775808", "-9223372036854775809", "18446744073709551616", "0" * 30 + "1"],
        ]
    ),
)
"""Index values of every kind, mostly refused."""


INNER_TEXT = st.text(
    st.one_of(
        st.characters(exclude_categories=["Cc"], exclude_characters='"\\'),
        SURROGATES,
        st.sampled_from("0123456789-\ufeff "),
    ),
    max_size=12,
)
"""Text that keeps a JSON string a JSON string when pasted into it (no quote, backslash, control)."""


@st.composite
def records(draw: st.DrawFn, entity: str, mode: str) -> Any:
    """A JSON-able value shaped like a record of the entity.

    ``valid``: a record that loads (an object of them takes the fast path); ``clean``: clean values
    but any key, or half a character in a field; ``wild``: anything, often not a record at all.
    """
    names = st.sampled_from([*SOURCE_FIELDS[entity], "extra"])
    if mode in ("valid", "clean"):
        record: dict[Any, Any] = draw(st.dictionaries(names, CLEAN_VALUES, max_size=5))
        keys = VALID_KEYS if mode == "valid" else st.one_of(VALID_KEYS, BOUNDARY_KEYS, KEYS)
        record[INDEX_FIELD[entity]] = draw(keys)
        field = draw(st.sampled_from(SOURCE_FIELDS[entity][1:]))
        spices = ["none", "huge"] if mode == "valid" else ["none", "huge", "surrogate"]
        spice = draw(st.sampled_from(spices))
        if spice == "huge":  # beyond 64 bits: orjson would make a float of it
            record[field] = draw(HUGE_INTS)
        elif spice == "surrogate":  # a high surrogate at the end of a string: half a character
            record[field] = draw(CLEAN_TEXT) + draw(st.characters(min_codepoint=0xD800, max_codepoint=0xDBFF))
        return record
    shape = draw(st.integers(0, 9))
    if shape == 0:
        return draw(JSON_VALUES)  # anything at all
    record = draw(st.dictionaries(st.one_of(names, ANY_TEXT), JSON_VALUES, max_size=5))
    if shape > 1:
        record[INDEX_FIELD[entity]] = draw(st.one_of(VALID_KEYS, KEYS))
    return record


def encode(value: Any, ascii_only: bool) -> bytes:
    """JSON text of a value as bytes; lone surrogates as escapes, or (not ASCII) as CESU-8 bytes."""
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def expected(raw: bytes, entity: str, max_bytes: int) -> tuple[str, Any]:
    """The oracle: ('ok', parsed record) or ('quarantine', reason kind), by the standard library."""
    if len(raw) > max_bytes:
        return "quarantine", "too_large"
    raw = raw.removeprefix(UTF8_BOM)
    if not raw.strip():
        return "quarantine", "empty"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "quarantine", "not_utf8"

    def constant(name: str) -> Any:
        raise ValueError(name)

    try:
        value = json.loads(text, parse_constant=constant, parse_int=lambda s: int(s) if len(s) < 4000 else s)
    except (ValueError, RecursionError):
        return "quarantine", "not_json"
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "quarantine", "not_utf8"
    if not isinstance(value, dict):
        return "quarantine", "not_object"
    index = value.get(INDEX_FIELD[entity])
    if index is None:
        return "quarantine", "missing_index"
    if type(index) is int:
        ok = -(2**63) <= index <= 2**63 - 1
    else:
        ok = isinstance(index, str) and keeps_contract(index)
    return ("ok", value) if ok else ("quarantine", "bad_index")


def as_text(value: Any) -> str | None:
    """What bronze stores for a scalar source field (containers are compared parsed)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return repr(value)


@contextmanager
def fresh_lake() -> Iterator[Settings]:
    """A lake of its own for one example (a lake shared by all examples gets slower with every commit)."""
    with tempfile.TemporaryDirectory(prefix="pinpipe-hostile-") as folder:
        yield Settings(data_dir=Path(folder) / "data", uid="0a5040edb649")


def load_and_check(settings: Settings, landed: dict[str, list[bytes]]) -> None:
    """Load, then: every line once in bronze or quarantine, as the oracle says, raw bytes kept."""
    report = BronzeLoader(settings).load()  # never raises
    assert report.duplicates == 0
    rows = tables(settings)
    for entity, lines in landed.items():
        topic = settings.topic(entity)
        loaded = {r["_offset"]: r for r in rows[entity]}
        quarantined = {r["_offset"]: r for r in rows["quarantine"] if r["_topic"] == topic}
        assert len(loaded) == len(rows[entity])
        assert len(quarantined) == len([r for r in rows["quarantine"] if r["_topic"] == topic])
        assert not loaded.keys() & quarantined.keys()
        assert sorted(loaded.keys() | quarantined.keys()) == list(range(len(lines)))
        for offset, raw in enumerate(lines):
            verdict, detail = expected(raw, entity, settings.max_record_bytes)
            if offset in quarantined:
                row = quarantined[offset]
                assert row["raw_bytes"] == raw
                kind = row["reason"].split(":")[0]
                assert kind in KINDS and len(row["reason"]) > len(kind) + 2
                assert (verdict, kind) == ("quarantine", detail), (raw, row["reason"])
                continue
            row = loaded[offset]
            assert verdict == "ok", (raw, detail)
            assert keeps_contract(row[INDEX_FIELD[entity]])
            assert row["_raw_json"] == raw.removeprefix(UTF8_BOM).decode()
            for name in SOURCE_FIELDS[entity]:
                value = detail.get(name)
                if isinstance(value, dict | list):
                    assert json.loads(row[name]) == value
                else:
                    assert row[name] == as_text(value), (name, raw)


@HYPOTHESIS
@given(
    data=st.data(),
    entity=st.sampled_from(ENTITIES),
    mode=st.sampled_from(["valid", "clean", "wild"]),
    ascii_only=st.booleans(),
    bom=st.booleans(),
)
def test_arbitrary_json_values_load_or_quarantine_exactly_once(
    data: st.DataObject, entity: str, mode: str, ascii_only: bool, bom: bool
) -> None:
    """Objects of valid records take the fast path (one orjson call), the others line by line."""
    values = data.draw(st.lists(records(entity, mode), min_size=1, max_size=6))
    lines = [encode(v, ascii_only) for v in values]
    if bom:
        lines[0] = UTF8_BOM + lines[0]
    with fresh_lake() as lake_settings:
        land(lake_settings, entity, lines)
        load_and_check(lake_settings, {entity: lines})


@HYPOTHESIS
@given(objects=st.lists(st.binary(max_size=200), min_size=1, max_size=4), entity=st.sampled_from(ENTITIES))
def test_arbitrary_bytes_never_crash_the_loader(objects: list[bytes], entity: str) -> None:
    """Whole objects of arbitrary bytes, written as they are (any line break, any byte)."""
    with fresh_lake() as lake_settings:
        lake = Lake(lake_settings.lake)
        lines: list[bytes] = []
        for data in objects:
            lake.write_bytes(object_key(lake_settings.topic(entity), 0, len(lines)), data)
            lines += split_lines(data)
        load_and_check(lake_settings, {entity: lines})


@HYPOTHESIS
@given(
    texts=st.lists(st.one_of(ANY_TEXT, INNER_TEXT, INNER_TEXT), min_size=1, max_size=6),
    template=st.sampled_from(
        [
            '{{"index": 7, "title": "{}"}}',
            '{{"index": "{}"}}',
            '{{"index": {}}}',
            '{{"{}": 1, "index": 2}}',
            "{}",
        ]
    ),
    errors=st.sampled_from(["surrogatepass", "backslashreplace", "replace"]),
)
def test_arbitrary_unicode_never_crashes_the_loader(texts: list[str], template: str, errors: str) -> None:
    """Any code point (surrogates, controls, a mark, newlines) pasted raw into JSON text."""
    lines = [template.format(text).encode("utf-8", errors) for text in texts]
    with fresh_lake() as lake_settings:
        land(lake_settings, "pin", lines)
        load_and_check(lake_settings, {"pin": lines})
