"""SQLAlchemy Core schema of the emulated source database (docs/data-contract.md).

Three tables linked by row position (``pinterest_data.index`` = ``geolocation_data.ind`` =
``user_data.ind``), plus ``pinpipe_source_meta`` recording the parameters a database was generated with.
String lengths are generous bounds so the schema also works on MySQL/PostgreSQL; values stay well below.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Float, Integer, MetaData, String, Table

metadata = MetaData()

pinterest_data = Table(
    "pinterest_data",
    metadata,
    Column("index", Integer, primary_key=True, autoincrement=False),
    Column("unique_id", String(36)),
    Column("title", String(255)),
    Column("description", String(512)),
    Column("poster_name", String(255)),
    Column("follower_count", String(32)),
    Column("tag_list", String(1024)),
    Column("is_image_or_video", String(64)),
    Column("image_src", String(255)),
    Column("downloaded", Integer),
    Column("save_location", String(255)),
    Column("category", String(64)),
)

geolocation_data = Table(
    "geolocation_data",
    metadata,
    Column("ind", Integer, primary_key=True, autoincrement=False),
    Column("timestamp", DateTime(timezone=False)),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("country", String(255)),
)

user_data = Table(
    "user_data",
    metadata,
    Column("ind", Integer, primary_key=True, autoincrement=False),
    Column("first_name", String(255)),
    Column("last_name", String(255)),
    Column("age", Integer),
    Column("date_joined", DateTime(timezone=False)),
)

source_meta = Table(
    "pinpipe_source_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
)

TABLES: dict[str, Table] = {"pin": pinterest_data, "geo": geolocation_data, "user": user_data}
"""The three source tables keyed by entity name as used across the project."""

INDEX_COLUMNS: dict[str, str] = {"pin": "index", "geo": "ind", "user": "ind"}
"""Name of the row-position column of each entity."""

META_SEED = "seed"
META_ROWS = "rows"
META_VERSION = "generator_version"
