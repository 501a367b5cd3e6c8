"""Rendering of drawn numbers into the source tables' column values (titles, descriptions, uuids,
image URLs, placeholders). Nothing here draws from a random stream: the values come from
:mod:`emulator.draws`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emulator import vocab
from emulator.draws import TIMESTAMP_RANGE, Draws, Pools, Vocab, object_array

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

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


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


def _image_srcs(d: Draws) -> list[str]:
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


def _titles(d: Draws, voc: Vocab) -> list[str]:
    """Fill title templates with a number, an adjective and a category topic."""
    topics = voc.topics[d.category, d.topic].tolist()
    adjectives = voc.adjectives[d.adjective].tolist()
    numbers = voc.numbers[d.number].tolist()
    templates = vocab.TITLE_TEMPLATES
    return [
        templates[t].format(n=n, a=a, t=tp)
        for t, n, a, tp in zip(d.template.tolist(), numbers, adjectives, topics, strict=True)
    ]


def _descriptions(d: Draws, voc: Vocab) -> list[str]:
    """Join 1-4 sentences; cut long ones at ~150-179 chars and end them with ``…`` + no-break space."""
    picked = voc.sentences[d.category[:, None], d.sentences].tolist()
    out: list[str] = []
    for sentences, count, cut in zip(picked, d.sentence_count.tolist(), d.cut.tolist(), strict=True):
        text = " ".join(sentences[:count])
        out.append(text if len(text) <= cut else text[:cut].rstrip() + vocab.DESCRIPTION_ELLIPSIS)
    return out


def _tag_lists(d: Draws, voc: Vocab) -> list[str]:
    """Join nine distinct category tags with commas (no spaces after commas)."""
    picked = voc.tags[d.category[:, None], d.tags].tolist()
    return [",".join(row) for row in picked]


def _put(values: list[str], mask: np.ndarray, value: str) -> None:
    """Set ``values[i] = value`` wherever ``mask`` is true."""
    for i in np.flatnonzero(mask).tolist():
        values[i] = value


def pin_columns(d: Draws, index: np.ndarray, pools: Pools, voc: Vocab) -> dict[str, Any]:
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
        "is_image_or_video": object_array(vocab.KINDS)[d.kind].tolist(),
        "image_src": image_src,
        "downloaded": np.where(all_error, 0, 1).astype(np.int64),
        "save_location": voc.save_locations[d.category].tolist(),
        "category": voc.categories[d.category].tolist(),
    }


def geo_columns(d: Draws, index: np.ndarray, pools: Pools) -> dict[str, Any]:
    """Build the geolocation_data columns: the person's place, an event timestamp in whole seconds."""
    return {
        "ind": index,
        "timestamp": TIMESTAMP_RANGE[0] + d.timestamp_offset.astype("timedelta64[s]"),
        "latitude": pools.latitude[d.person],
        "longitude": pools.longitude[d.person],
        "country": pools.country[d.person].tolist(),
    }


def user_columns(d: Draws, index: np.ndarray, pools: Pools) -> dict[str, Any]:
    """Build the user_data columns from the recurring person of each row."""
    return {
        "ind": index,
        "first_name": pools.first_name[d.person].tolist(),
        "last_name": pools.last_name[d.person].tolist(),
        "age": pools.age[d.person],
        "date_joined": pools.date_joined[d.person],
    }
