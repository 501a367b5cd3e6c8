"""Vectorised, deterministic generator of the emulated source database.

Rows are produced in fixed blocks of :data:`BLOCK_ROWS` rows. Each block has its own random stream derived
from ``(seed, block number)``, and the recurring people and poster accounts come from pools derived from
``(seed, rows)``. The values of row ``k`` therefore depend only on ``(rows, seed, k)``: generating
``[0, n)`` in one call or in any number of pieces gives identical rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from emulator import vocab
from emulator.schema import META_ROWS, META_SEED, META_VERSION, TABLES, metadata, source_meta

GENERATOR_VERSION = "1"
"""Bumped whenever a change alters the generated values for a given (rows, seed)."""

BLOCK_ROWS = 65_536
"""Rows per random-stream block; also the insert chunk size of :func:`generate_source_db`."""

DEFAULT_ROWS = 11_153
PEOPLE_PER_ROW = 1 / 8  # person pool size ~ rows / 8
POSTERS_PER_ROW = 1 / 6  # poster account pool size ~ rows / 6

_POOL_STREAM = 0
_BLOCK_STREAM = 1

# Skew exponents: value = low + span * U**p concentrates draws at the start of a sorted domain,
# as in the source (A-countries, age 20, early join dates, coordinates near -90/-180).
_SKEW_NAME = 2.2
_SKEW_AGE = 2.4
_SKEW_JOINED = 2.1
_SKEW_COORD = 2.5
_SKEW_POPULARITY = 1.5  # some people and posters recur much more often than others

_KIND_P = (0.895, 0.075, 0.03)  # image, story, video
_ALL_ERROR_GIVEN_STORY = 0.15  # ~1.1 % of all rows, as in the source
_STORY_NO_DESCRIPTION = 0.6  # story posts usually lack a description
_STORY_NO_IMAGE = 0.2
_P_TITLE_PLACEHOLDER = 0.004
_P_DESCRIPTION_PLACEHOLDER = 0.015
_P_USER_INFO_ERROR = 0.004
_P_TAG_PLACEHOLDER = 0.005
_P_IMAGE_PLACEHOLDER = 0.004
_P_PNG = 0.15
_P_TITLE_WITH_POSTER = 0.12
_SENTENCE_COUNT_P = (0.3, 0.35, 0.25, 0.1)  # 1..4 sentences per description
_DESCRIPTION_CUT = (150, 179)  # longer descriptions are cut at a length in this range, plus "…\xa0"
_TAGS_PER_PIN = 9
_P_FOLLOWER_ZERO = 0.015
_FOLLOWER_LOG10 = (4.0, 1.2)  # mean, sd of log10(follower count)
_FOLLOWER_MAX = 15_999_999  # renders as at most "15M"

_JOINED_RANGE = (np.datetime64("2015-10-01T00:00:00", "s"), np.datetime64("2017-10-15T00:00:00", "s"))
_TIMESTAMP_RANGE = (np.datetime64("2017-10-15T00:00:00", "s"), np.datetime64("2022-11-01T00:00:00", "s"))

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_NCAT = len(vocab.CATEGORIES)

ProgressFn = Callable[[int], None]
Columns = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class GenerationReport:
    """Outcome of :func:`generate_source_db`."""

    rows: int
    seed: int
    seconds: float
    url: str


@dataclass(frozen=True)
class _Vocab:
    """Vocabulary as numpy object arrays, laid out for vectorised lookups."""

    categories: np.ndarray
    save_locations: np.ndarray
    category_cdf: np.ndarray
    topics: np.ndarray  # (ncat, ntopics)
    tags: np.ndarray  # (ncat, ntags)
    sentences: np.ndarray  # (ncat, nsentences): category sentences then general ones
    category_sentences: int  # how many leading columns of ``sentences`` are category-specific
    adjectives: np.ndarray
    numbers: np.ndarray
    countries: np.ndarray
    first_names: np.ndarray
    last_names: np.ndarray


def _object_array(values: Sequence[Any]) -> np.ndarray:
    """Return a 1-D numpy object array holding ``values``."""
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def _category_matrix(field: str) -> np.ndarray:
    """Stack one per-category word pool into an (ncat, n) object array, truncated to the shortest pool."""
    pools = [getattr(vocab.CATEGORY_WORDS[c], field) for c in vocab.CATEGORIES]
    width = min(len(p) for p in pools)
    out = np.empty((_NCAT, width), dtype=object)
    for i, pool in enumerate(pools):
        out[i, :] = list(pool[:width])
    return out


def _build_vocab() -> _Vocab:
    """Turn :mod:`emulator.vocab` into numpy arrays (sorted where the source skews toward the start)."""
    weights = np.asarray(vocab.CATEGORY_WEIGHTS, dtype=np.float64)
    cat_sentences = _category_matrix("sentences")
    general = np.tile(_object_array(vocab.GENERAL_SENTENCES), (_NCAT, 1))
    return _Vocab(
        categories=_object_array(vocab.CATEGORIES),
        save_locations=_object_array([f"{vocab.SAVE_LOCATION_PREFIX}/data/{c}" for c in vocab.CATEGORIES]),
        category_cdf=np.cumsum(weights) / weights.sum(),
        topics=_category_matrix("topics"),
        tags=_category_matrix("tags"),
        sentences=np.concatenate([cat_sentences, general], axis=1),
        category_sentences=cat_sentences.shape[1],
        adjectives=_object_array(vocab.TITLE_ADJECTIVES),
        numbers=np.asarray(vocab.TITLE_NUMBERS, dtype=np.int64),
        countries=_object_array(sorted(vocab.COUNTRIES)),
        first_names=_object_array(sorted(vocab.FIRST_NAMES)),
        last_names=_object_array(sorted(vocab.LAST_NAMES)),
    )


@dataclass(frozen=True)
class _Pools:
    """Recurring people (user + geo fields) and poster accounts (grouped by category)."""

    first_name: np.ndarray
    last_name: np.ndarray
    age: np.ndarray
    date_joined: np.ndarray
    latitude: np.ndarray
    longitude: np.ndarray
    country: np.ndarray
    poster_name: np.ndarray
    follower_count: np.ndarray
    poster_offset: np.ndarray  # posters of category c are [offset[c], offset[c + 1])


def _rng(seed: int, *key: int) -> np.random.Generator:
    """Return an independent PCG64 generator for ``seed`` and the stream ``key``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def _skewed_index(rng: np.random.Generator, domain: int, size: int, power: float) -> np.ndarray:
    """Draw indexes in [0, domain) that favour the start of the domain (power > 1 skews harder)."""
    return np.minimum((domain * rng.random(size) ** power).astype(np.int64), domain - 1)


def _round_significant(values: np.ndarray, digits: int = 6, max_decimals: int = 6) -> np.ndarray:
    """Round to ``digits`` significant digits (at most ``max_decimals`` decimals), like the source floats."""
    magnitude = np.floor(np.log10(np.maximum(np.abs(values), 1e-9))).astype(np.int64) + 1
    decimals = np.clip(digits - magnitude, 0, max_decimals)
    scale = 10.0**decimals
    return np.round(values * scale) / scale


def _format_followers(counts: np.ndarray) -> list[str]:
    """Render follower counts the way the source does: ``437``, ``46k``, ``6M``."""
    out: list[str] = []
    for n in counts.tolist():
        if n < 1_000:
            out.append(str(n))
        elif n < 1_000_000:
            out.append(f"{n // 1_000}k")
        else:
            out.append(f"{n // 1_000_000}M")
    return out


def _draw_followers(rng: np.random.Generator, size: int) -> np.ndarray:
    """Draw follower counts: log-normal-ish, a few exact zeros, capped below 16M."""
    mean, sd = _FOLLOWER_LOG10
    counts = np.floor(10.0 ** rng.normal(mean, sd, size)).astype(np.int64)
    counts = np.clip(counts, 1, _FOLLOWER_MAX)
    counts[rng.random(size) < _P_FOLLOWER_ZERO] = 0
    return counts


def _dedupe(names: list[str]) -> list[str]:
    """Make names unique by appending `` 2``, `` 3``... to repeats, so a name means one account."""
    seen: dict[str, int] = {}
    taken = set(names)
    out: list[str] = []
    for name in names:
        count = seen.get(name, 0) + 1
        seen[name] = count
        candidate = name
        while count > 1 and candidate in taken:
            candidate = f"{name} {count}"
            count += 1
        if candidate != name:
            taken.add(candidate)
        out.append(candidate)
    return out


def _poster_names(rng: np.random.Generator, categories: np.ndarray, voc: _Vocab) -> list[str]:
    """Compose Pinterest-style account names (``Everyday Wholesome``, ``Amber Strong | Home Decor``)."""
    size = len(categories)
    pattern = rng.choice(6, size=size, p=(0.3, 0.25, 0.15, 0.1, 0.1, 0.1))
    first = voc.first_names[rng.integers(0, len(voc.first_names), size)]
    last = voc.last_names[rng.integers(0, len(voc.last_names), size)]
    brand_a = rng.integers(0, len(vocab.BRAND_FIRST), size)
    brand_b = rng.integers(0, len(vocab.BRAND_SECOND), size)
    tagline_i = rng.integers(0, 1 << 30, size)
    names: list[str] = []
    rows = zip(
        pattern.tolist(),
        first,
        last,
        brand_a.tolist(),
        brand_b.tolist(),
        categories.tolist(),
        tagline_i,
        strict=True,
    )
    for p, f, la, a, b, c, t in rows:
        taglines = vocab.CATEGORY_WORDS[vocab.CATEGORIES[c]].taglines
        brand = f"{vocab.BRAND_FIRST[a]} {vocab.BRAND_SECOND[b]}"
        tagline = taglines[int(t) % len(taglines)]
        options = (f"{f} {la}", brand, f"{brand} | {tagline}", f"{f} | {tagline}", f"{f} {la} | {tagline}")
        names.append(options[p] if p < len(options) else brand.replace(" ", ""))
    return _dedupe(names)


def _build_pools(rows: int, seed: int, voc: _Vocab) -> _Pools:
    """Draw the person and poster pools for a database of ``rows`` rows."""
    rng = _rng(seed, _POOL_STREAM)
    people = max(1, int(rows * PEOPLE_PER_ROW))
    posters = max(_NCAT, int(rows * POSTERS_PER_ROW))
    lo, hi = _JOINED_RANGE
    span = int((hi - lo) / np.timedelta64(1, "s"))
    joined = lo + (span * rng.random(people) ** _SKEW_JOINED).astype(np.int64).astype("timedelta64[s]")
    per_cat = np.full(_NCAT, posters // _NCAT, dtype=np.int64)
    per_cat[: posters % _NCAT] += 1
    poster_cat = np.repeat(np.arange(_NCAT), per_cat)
    return _Pools(
        first_name=voc.first_names[_skewed_index(rng, len(voc.first_names), people, _SKEW_NAME)],
        last_name=voc.last_names[_skewed_index(rng, len(voc.last_names), people, _SKEW_NAME)],
        age=20 + _skewed_index(rng, 41, people, _SKEW_AGE),
        date_joined=joined,
        latitude=_round_significant(-90.0 + 180.0 * rng.random(people) ** _SKEW_COORD),
        longitude=_round_significant(-180.0 + 360.0 * rng.random(people) ** _SKEW_COORD),
        country=voc.countries[_skewed_index(rng, len(voc.countries), people, _SKEW_NAME)],
        poster_name=_object_array(_poster_names(rng, poster_cat, voc)),
        follower_count=_object_array(_format_followers(_draw_followers(rng, posters))),
        poster_offset=np.concatenate([[0], np.cumsum(per_cat)]),
    )


@dataclass(frozen=True)
class _Draws:
    """All random numbers of one block (or a slice of it), one entry per row."""

    category: np.ndarray
    kind: np.ndarray
    flags: np.ndarray  # (n, 8) uniforms deciding placeholders and small variations
    poster: np.ndarray
    template: np.ndarray
    number: np.ndarray
    adjective: np.ndarray
    topic: np.ndarray
    sentence_count: np.ndarray
    sentences: np.ndarray  # (n, 4)
    cut: np.ndarray
    tags: np.ndarray  # (n, 9)
    md5: np.ndarray  # (n, 16) uint8
    uuid: np.ndarray  # (n, 16) uint8
    person: np.ndarray
    timestamp_offset: np.ndarray

    def slice(self, lo: int, hi: int) -> _Draws:
        """Return the rows [lo, hi) of this block."""
        return _Draws(**{k: v[lo:hi] for k, v in self.__dict__.items()})


def _distinct_picks(
    rng: np.random.Generator, size: int, domain: int, k: int, favoured: int = 0
) -> np.ndarray:
    """Pick ``k`` distinct positions in [0, domain) per row, in random order.

    The first ``favoured`` positions are more likely to be picked and to come first.
    """
    keys = rng.random((size, domain))
    keys[:, :favoured] *= 0.3
    picks = np.argpartition(keys, k - 1, axis=1)[:, :k]
    order = np.argsort(np.take_along_axis(keys, picks, axis=1), axis=1)
    return np.take_along_axis(picks, order, axis=1)


def _draw_block(seed: int, block: int, pools: _Pools, voc: _Vocab) -> _Draws:
    """Draw every random number of block ``block`` (always :data:`BLOCK_ROWS` rows)."""
    rng = _rng(seed, _BLOCK_STREAM, block)
    n = BLOCK_ROWS
    category = np.searchsorted(voc.category_cdf, rng.random(n), side="right").clip(0, _NCAT - 1)
    kind = np.searchsorted(np.cumsum(_KIND_P), rng.random(n), side="right").clip(0, 2)
    flags = rng.random((n, 8))
    counts = pools.poster_offset[category + 1] - pools.poster_offset[category]
    poster = pools.poster_offset[category] + (counts * rng.random(n) ** _SKEW_POPULARITY).astype(np.int64)
    template = rng.integers(0, len(vocab.TITLE_TEMPLATES), n)
    number = rng.integers(0, len(voc.numbers), n)
    adjective = rng.integers(0, len(voc.adjectives), n)
    topic = rng.integers(0, voc.topics.shape[1], n)
    sentence_count = 1 + np.searchsorted(np.cumsum(_SENTENCE_COUNT_P), rng.random(n), side="right").clip(0, 3)
    sentences = _distinct_picks(rng, n, voc.sentences.shape[1], 4, favoured=voc.category_sentences)
    cut = rng.integers(_DESCRIPTION_CUT[0], _DESCRIPTION_CUT[1] + 1, n)
    tags = _distinct_picks(rng, n, voc.tags.shape[1], _TAGS_PER_PIN)
    md5 = np.frombuffer(rng.bytes(n * 16), dtype=np.uint8).reshape(n, 16)
    uuid = np.frombuffer(rng.bytes(n * 16), dtype=np.uint8).reshape(n, 16)
    people = len(pools.age)
    person = np.minimum((people * rng.random(n) ** _SKEW_POPULARITY).astype(np.int64), people - 1)
    lo, hi = _TIMESTAMP_RANGE
    timestamp_offset = rng.integers(0, int((hi - lo) / np.timedelta64(1, "s")), n)
    return _Draws(
        category=category,
        kind=kind,
        flags=flags,
        poster=np.minimum(poster, pools.poster_offset[category + 1] - 1),
        template=template,
        number=number,
        adjective=adjective,
        topic=topic,
        sentence_count=sentence_count,
        sentences=sentences,
        cut=cut,
        tags=tags,
        md5=md5,
        uuid=uuid,
        person=person,
        timestamp_offset=timestamp_offset,
    )


def _fixed_width_strings(chars: np.ndarray) -> list[str]:
    """Split an (n, w) uint8 ASCII matrix into n Python strings."""
    n, width = chars.shape
    text = np.ascontiguousarray(chars).tobytes().decode("ascii")
    return [text[i : i + width] for i in range(0, n * width, width)]


def _hex_matrix(raw: np.ndarray) -> np.ndarray:
    """Hex-encode an (n, b) uint8 matrix into an (n, 2b) uint8 matrix of ASCII hex digits."""
    out = np.empty((raw.shape[0], raw.shape[1] * 2), dtype=np.uint8)
    out[:, 0::2] = _HEX[raw >> 4]
    out[:, 1::2] = _HEX[raw & 0x0F]
    return out


def _uuid4_strings(raw: np.ndarray) -> list[str]:
    """Format (n, 16) random bytes as canonical uuid4 strings (version and variant bits set)."""
    raw = raw.copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexed = _hex_matrix(raw)
    out = np.full((raw.shape[0], 36), ord("-"), dtype=np.uint8)
    for src, dst, width in ((0, 0, 8), (8, 9, 4), (12, 14, 4), (16, 19, 4), (20, 24, 12)):
        out[:, dst : dst + width] = hexed[:, src : src + width]
    return _fixed_width_strings(out)


def _image_paths(raw: np.ndarray) -> list[str]:
    """Format (n, 16) md5 bytes as Pinterest storage paths ``xx/yy/zz/<md5>``."""
    hexed = _hex_matrix(raw)
    out = np.full((raw.shape[0], 41), ord("/"), dtype=np.uint8)
    out[:, 0:2], out[:, 3:5], out[:, 6:8] = hexed[:, 0:2], hexed[:, 2:4], hexed[:, 4:6]
    out[:, 9:41] = hexed
    return _fixed_width_strings(out)


def _image_srcs(d: _Draws) -> list[str]:
    """Build image_src URLs: images under /originals/ (.jpg or .png), videos and stories as thumbnails."""
    paths = _image_paths(d.md5)
    png = (d.flags[:, 6] < _P_PNG).tolist()
    out: list[str] = []
    for path, kind, is_png in zip(paths, d.kind.tolist(), png, strict=True):
        if kind == 0:
            out.append(f"{vocab.IMAGE_URL_PREFIX}{path}{'.png' if is_png else '.jpg'}")
        else:
            out.append(f"{vocab.VIDEO_URL_PREFIX}{path}{vocab.VIDEO_URL_SUFFIX}")
    return out


def _titles(d: _Draws, voc: _Vocab) -> list[str]:
    """Fill title templates with a number, an adjective and a category topic."""
    topics = voc.topics[d.category, d.topic].tolist()
    adjectives = voc.adjectives[d.adjective].tolist()
    numbers = voc.numbers[d.number].tolist()
    templates = vocab.TITLE_TEMPLATES
    return [
        templates[t].format(n=n, a=a, t=tp)
        for t, n, a, tp in zip(d.template.tolist(), numbers, adjectives, topics, strict=True)
    ]


def _descriptions(d: _Draws, voc: _Vocab) -> list[str]:
    """Join 1-4 sentences; cut long ones at ~150-179 chars and end them with ``…`` + no-break space."""
    picked = voc.sentences[d.category[:, None], d.sentences].tolist()
    out: list[str] = []
    for sentences, count, cut in zip(picked, d.sentence_count.tolist(), d.cut.tolist(), strict=True):
        text = " ".join(sentences[:count])
        out.append(text if len(text) <= cut else text[:cut].rstrip() + vocab.DESCRIPTION_ELLIPSIS)
    return out


def _tag_lists(d: _Draws, voc: _Vocab) -> list[str]:
    """Join nine distinct category tags with commas (no spaces after commas)."""
    picked = voc.tags[d.category[:, None], d.tags].tolist()
    return [",".join(row) for row in picked]


def _put(values: list[str], mask: np.ndarray, value: str) -> None:
    """Set ``values[i] = value`` wherever ``mask`` is true."""
    for i in np.flatnonzero(mask).tolist():
        values[i] = value


def _pin_columns(d: _Draws, index: np.ndarray, pools: _Pools, voc: _Vocab) -> dict[str, Any]:
    """Build the pinterest_data columns for the rows in ``d``, placeholders included."""
    f = d.flags
    story = d.kind == 1
    all_error = story & (f[:, 0] < _ALL_ERROR_GIVEN_STORY)
    title = _titles(d, voc)
    description = _descriptions(d, voc)
    poster_name = pools.poster_name[d.poster].tolist()
    follower_count = pools.follower_count[d.poster].tolist()
    tag_list = _tag_lists(d, voc)
    image_src = _image_srcs(d)
    user_error = all_error | (f[:, 3] < _P_USER_INFO_ERROR)
    for i in np.flatnonzero((f[:, 7] < _P_TITLE_WITH_POSTER) & ~user_error).tolist():
        title[i] = f"{title[i]} - {poster_name[i]}"
    no_desc_p = np.where(story, _STORY_NO_DESCRIPTION, _P_DESCRIPTION_PLACEHOLDER)
    _put(title, all_error | (f[:, 1] < _P_TITLE_PLACEHOLDER), vocab.TITLE_PLACEHOLDER)
    _put(description, (story & (f[:, 2] < no_desc_p)) | all_error, vocab.DESCRIPTION_STORY_PLACEHOLDER)
    _put(description, ~story & (f[:, 2] < no_desc_p), vocab.DESCRIPTION_PLACEHOLDER)
    _put(poster_name, user_error, vocab.POSTER_NAME_PLACEHOLDER)
    _put(follower_count, user_error, vocab.FOLLOWER_COUNT_PLACEHOLDER)
    _put(tag_list, all_error | (f[:, 4] < _P_TAG_PLACEHOLDER), vocab.TAG_LIST_PLACEHOLDER)
    no_image_p = np.where(story, _STORY_NO_IMAGE, _P_IMAGE_PLACEHOLDER)
    _put(image_src, all_error | (f[:, 5] < no_image_p), vocab.IMAGE_SRC_PLACEHOLDER)
    return {
        "index": index,
        "unique_id": _uuid4_strings(d.uuid),
        "title": title,
        "description": description,
        "poster_name": poster_name,
        "follower_count": follower_count,
        "tag_list": tag_list,
        "is_image_or_video": _object_array(vocab.KINDS)[d.kind].tolist(),
        "image_src": image_src,
        "downloaded": np.where(all_error, 0, 1).astype(np.int64),
        "save_location": voc.save_locations[d.category].tolist(),
        "category": voc.categories[d.category].tolist(),
    }


def _geo_columns(d: _Draws, index: np.ndarray, pools: _Pools) -> dict[str, Any]:
    """Build the geolocation_data columns: the person's place, an event timestamp in whole seconds."""
    return {
        "ind": index,
        "timestamp": _TIMESTAMP_RANGE[0] + d.timestamp_offset.astype("timedelta64[s]"),
        "latitude": pools.latitude[d.person],
        "longitude": pools.longitude[d.person],
        "country": pools.country[d.person].tolist(),
    }


def _user_columns(d: _Draws, index: np.ndarray, pools: _Pools) -> dict[str, Any]:
    """Build the user_data columns from the recurring person of each row."""
    return {
        "ind": index,
        "first_name": pools.first_name[d.person].tolist(),
        "last_name": pools.last_name[d.person].tolist(),
        "age": pools.age[d.person],
        "date_joined": pools.date_joined[d.person],
    }


def _concat(parts: list[Columns]) -> Columns:
    """Concatenate per-block column dicts (numpy arrays with numpy, lists with lists)."""
    if len(parts) == 1:
        return parts[0]
    out: Columns = {}
    for entity, cols in parts[0].items():
        out[entity] = {}
        for name, first in cols.items():
            pieces = [p[entity][name] for p in parts]
            if isinstance(first, np.ndarray):
                out[entity][name] = np.concatenate(pieces)
            else:
                out[entity][name] = [v for piece in pieces for v in piece]
    return out


class SourceGenerator:
    """Generator bound to ``(rows, seed)``; builds the pools once, then serves any row range.

    Use this instead of :func:`generate_columns` when asking for many ranges of the same database.
    """

    def __init__(self, rows: int = DEFAULT_ROWS, seed: int = 0) -> None:
        """Validate the parameters and draw the person and poster pools."""
        if rows < 1:
            raise ValueError(f"rows must be >= 1, got {rows}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.rows = rows
        self.seed = seed
        self._vocab = _build_vocab()
        self._pools = _build_pools(rows, seed, self._vocab)

    def columns(self, start: int = 0, stop: int | None = None) -> Columns:
        """Return the columns of rows [start, stop) for "pin", "geo" and "user" (see generate_columns)."""
        stop = self.rows if stop is None else stop
        if not 0 <= start <= stop <= self.rows:
            raise ValueError(
                f"need 0 <= start <= stop <= rows, got start={start} stop={stop} rows={self.rows}"
            )
        parts: list[Columns] = []
        first = start // BLOCK_ROWS
        for block in range(first, max(first + 1, -(-stop // BLOCK_ROWS))):
            base = block * BLOCK_ROWS
            lo, hi = max(start, base) - base, min(stop, base + BLOCK_ROWS) - base
            draws = _draw_block(self.seed, block, self._pools, self._vocab).slice(lo, hi)
            index = np.arange(base + lo, base + hi, dtype=np.int64)
            parts.append(
                {
                    "pin": _pin_columns(draws, index, self._pools, self._vocab),
                    "geo": _geo_columns(draws, index, self._pools),
                    "user": _user_columns(draws, index, self._pools),
                }
            )
        return _concat(parts)


def generate_columns(rows: int, seed: int, start: int = 0, stop: int | None = None) -> Columns:
    """Return the columns of rows [start, stop) of the (rows, seed) source database.

    Result: ``{"pin": {...}, "geo": {...}, "user": {...}}`` with column names as in
    :mod:`emulator.schema`. Integer and float columns (``index``, ``ind``, ``downloaded``, ``age``,
    ``latitude``, ``longitude``) and the datetime columns (``timestamp``, ``date_joined``, as naive
    ``datetime64[s]``) are numpy arrays; string columns are lists of ``str``. A row's values do not depend
    on how the range is split into calls.
    """
    return SourceGenerator(rows, seed).columns(start, stop)


def _as_python(values: Any) -> list[Any]:
    """Convert a column (numpy array or list) to a list of plain Python values for the DB driver."""
    if isinstance(values, np.ndarray):
        if np.issubdtype(values.dtype, np.datetime64):
            return values.astype("datetime64[us]").astype(object).tolist()
        return values.tolist()
    return list(values)


def _insert(conn: sa.Connection, table: sa.Table, columns: dict[str, Any]) -> None:
    """Insert columns into ``table`` with one executemany (driver-level for positional paramstyles)."""
    names = [c.name for c in table.columns]
    data = {name: _as_python(columns[name]) for name in names}
    dialect = conn.dialect
    compiled = table.insert().compile(dialect=dialect)
    order = compiled.positiontup
    if not dialect.positional or order is None or sorted(order) != sorted(names):
        conn.execute(
            table.insert(),
            [dict(zip(names, row, strict=True)) for row in zip(*(data[n] for n in names), strict=True)],
        )
        return
    for name in names:
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            data[name] = [processor(v) for v in data[name]]
    conn.exec_driver_sql(compiled.string, list(zip(*(data[n] for n in order), strict=True)))


def _recreate_tables(engine: sa.Engine) -> None:
    """Drop the meta table first (so a half-built database never looks complete), then re-create all."""
    with engine.begin() as conn:
        source_meta.drop(conn, checkfirst=True)
        for table in TABLES.values():
            table.drop(conn, checkfirst=True)
        metadata.create_all(conn)


def _write_meta(engine: sa.Engine, rows: int, seed: int) -> None:
    """Record the generation parameters (written last, after all rows are in)."""
    entries = {META_SEED: str(seed), META_ROWS: str(rows), META_VERSION: GENERATOR_VERSION}
    with engine.begin() as conn:
        conn.execute(source_meta.delete())
        conn.execute(source_meta.insert(), [{"key": k, "value": v} for k, v in entries.items()])


def generate_source_db(
    url: str,
    rows: int = DEFAULT_ROWS,
    seed: int = 0,
    *,
    progress: ProgressFn | None = None,
) -> GenerationReport:
    """Drop and re-create the source tables at ``url`` and fill them with ``rows`` rows each.

    Inserts in chunks of :data:`BLOCK_ROWS` rows (one transaction per chunk) and calls
    ``progress(rows_done)`` after each chunk. On SQLite the load runs with ``synchronous=OFF`` and WAL;
    the journal mode is set back to ``DELETE`` at the end so the result is a single self-contained file.
    """
    started = time.perf_counter()
    generator = SourceGenerator(rows, seed)
    engine = sa.create_engine(url)
    try:
        _recreate_tables(engine)
        sqlite = engine.dialect.name == "sqlite"
        with engine.connect() as conn:
            if sqlite:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
                conn.exec_driver_sql("PRAGMA synchronous=OFF")
            for start in range(0, rows, BLOCK_ROWS):
                stop = min(rows, start + BLOCK_ROWS)
                cols = generator.columns(start, stop)
                for entity, table in TABLES.items():
                    _insert(conn, table, cols[entity])
                conn.commit()
                if progress is not None:
                    progress(stop)
            if sqlite:
                conn.exec_driver_sql("PRAGMA journal_mode=DELETE")
        _write_meta(engine, rows, seed)
    finally:
        engine.dispose()
    return GenerationReport(rows=rows, seed=seed, seconds=time.perf_counter() - started, url=url)


def _missing_sqlite_file(url: str) -> bool:
    """True for an SQLite file URL whose file does not exist (opening it would create it)."""
    parsed = sa.make_url(url)
    database = parsed.database
    if not parsed.drivername.startswith("sqlite") or not database or database == ":memory:":
        return False
    if database.startswith("file:"):
        return False  # URI filenames: let SQLite decide
    return not Path(database).exists()


def existing_generation(url: str) -> tuple[int, int] | None:
    """Return ``(rows, seed)`` of a database generated by this generator version, else None.

    None when the meta table or any source table is missing, or when the recorded generator version
    differs from :data:`GENERATOR_VERSION` (the rows would not match a fresh generation).
    """
    if _missing_sqlite_file(url):
        return None
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        needed = [source_meta.name, *(t.name for t in TABLES.values())]
        if not all(inspector.has_table(name) for name in needed):
            return None
        with engine.connect() as conn:
            rows = conn.execute(sa.select(source_meta.c.key, source_meta.c.value)).all()
        meta = {str(key): str(value) for key, value in rows}
    finally:
        engine.dispose()
    if meta.get(META_VERSION) != GENERATOR_VERSION:
        return None
    try:
        return int(meta[META_ROWS]), int(meta[META_SEED])
    except (KeyError, ValueError):
        return None
