"""The generator's random draws: the vocabulary as arrays, the person and poster pools, and the
per-block random numbers. Every call on a random stream lives here, so the draw order that
:data:`emulator.generate.GENERATOR_VERSION` pins down is in one module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from emulator import vocab

BLOCK_ROWS = 65_536
"""Rows per random-stream block; also the insert chunk size of ``generate_source_db``."""

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
_SENTENCE_COUNT_P = (0.3, 0.35, 0.25, 0.1)  # 1..4 sentences per description
_DESCRIPTION_CUT = (150, 179)  # longer descriptions are cut at a length in this range, plus "…\xa0"
_TAGS_PER_PIN = 9
_P_FOLLOWER_ZERO = 0.015
_FOLLOWER_LOG10 = (4.0, 1.2)  # mean, sd of log10(follower count)
_FOLLOWER_MAX = 15_999_999  # renders as at most "15M"

_JOINED_RANGE = (np.datetime64("2015-10-01T00:00:00", "s"), np.datetime64("2017-10-15T00:00:00", "s"))
TIMESTAMP_RANGE = (np.datetime64("2017-10-15T00:00:00", "s"), np.datetime64("2022-11-01T00:00:00", "s"))

_NCAT = len(vocab.CATEGORIES)


@dataclass(frozen=True)
class Vocab:
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


def object_array(values: Sequence[Any]) -> np.ndarray:
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


def build_vocab() -> Vocab:
    """Turn :mod:`emulator.vocab` into numpy arrays (sorted where the source skews toward the start)."""
    weights = np.asarray(vocab.CATEGORY_WEIGHTS, dtype=np.float64)
    cat_sentences = _category_matrix("sentences")
    general = np.tile(object_array(vocab.GENERAL_SENTENCES), (_NCAT, 1))
    return Vocab(
        categories=object_array(vocab.CATEGORIES),
        save_locations=object_array([f"{vocab.SAVE_LOCATION_PREFIX}/data/{c}" for c in vocab.CATEGORIES]),
        category_cdf=np.cumsum(weights) / weights.sum(),
        topics=_category_matrix("topics"),
        tags=_category_matrix("tags"),
        sentences=np.concatenate([cat_sentences, general], axis=1),
        category_sentences=cat_sentences.shape[1],
        adjectives=object_array(vocab.TITLE_ADJECTIVES),
        numbers=np.asarray(vocab.TITLE_NUMBERS, dtype=np.int64),
        countries=object_array(sorted(vocab.COUNTRIES)),
        first_names=object_array(sorted(vocab.FIRST_NAMES)),
        last_names=object_array(sorted(vocab.LAST_NAMES)),
    )


@dataclass(frozen=True)
class Pools:
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


def _poster_names(rng: np.random.Generator, categories: np.ndarray, voc: Vocab) -> list[str]:
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


def build_pools(rows: int, seed: int, voc: Vocab) -> Pools:
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
    return Pools(
        first_name=voc.first_names[_skewed_index(rng, len(voc.first_names), people, _SKEW_NAME)],
        last_name=voc.last_names[_skewed_index(rng, len(voc.last_names), people, _SKEW_NAME)],
        age=20 + _skewed_index(rng, 41, people, _SKEW_AGE),
        date_joined=joined,
        latitude=_round_significant(-90.0 + 180.0 * rng.random(people) ** _SKEW_COORD),
        longitude=_round_significant(-180.0 + 360.0 * rng.random(people) ** _SKEW_COORD),
        country=voc.countries[_skewed_index(rng, len(voc.countries), people, _SKEW_NAME)],
        poster_name=object_array(_poster_names(rng, poster_cat, voc)),
        follower_count=object_array(_format_followers(_draw_followers(rng, posters))),
        poster_offset=np.concatenate([[0], np.cumsum(per_cat)]),
    )


@dataclass(frozen=True)
class Draws:
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

    def slice(self, lo: int, hi: int) -> Draws:
        """Return the rows [lo, hi) of this block."""
        return Draws(**{k: v[lo:hi] for k, v in self.__dict__.items()})


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


def draw_block(seed: int, block: int, pools: Pools, voc: Vocab) -> Draws:
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
    lo, hi = TIMESTAMP_RANGE
    timestamp_offset = rng.integers(0, int((hi - lo) / np.timedelta64(1, "s")), n)
    return Draws(
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
