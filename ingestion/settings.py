"""One settings object for the whole project.

Values come, highest priority first, from: keyword arguments (the CLI's options), environment variables
``PINPIPE_<NAME>``, an optional TOML file (``PINPIPE_CONFIG`` or ``./pinpipe.toml``), then the defaults
below. Credentials are never settings: AWS and Kafka credentials come from the environment, the AWS
default chain or Airflow connections.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ingestion.errors import PinpipeError

ENTITIES: tuple[str, ...] = ("pin", "geo", "user")
"""The three record kinds of one post event, in the order the original emulator sent them."""

INDEX_FIELD: dict[str, str] = {"pin": "index", "geo": "ind", "user": "ind"}
"""The field that carries the event index in each entity's records (docs/data-contract.md)."""

SOURCE_FIELDS: dict[str, tuple[str, ...]] = {
    "pin": (
        "index",
        "unique_id",
        "title",
        "description",
        "poster_name",
        "follower_count",
        "tag_list",
        "is_image_or_video",
        "image_src",
        "downloaded",
        "save_location",
        "category",
    ),
    "geo": ("ind", "timestamp", "latitude", "longitude", "country"),
    "user": ("ind", "first_name", "last_name", "age", "date_joined"),
}
"""The wire contract: each entity's source columns, by their source names, in source order."""

PROJECT_ROOT = Path(__file__).resolve().parent.parent
IN_CHECKOUT = (PROJECT_ROOT / "pyproject.toml").is_file() and (PROJECT_ROOT / "dbt_project").is_dir()
"""Whether this code runs from the repository (``make``, editable install) rather than an installed wheel,
where PROJECT_ROOT is site-packages: then the data folder is ``data/`` of the current directory."""
DEFAULT_DATA_DIR = PROJECT_ROOT / "data" if IN_CHECKOUT else Path("data")
_UID_RE = re.compile(r"^[0-9a-z][0-9a-z_-]{0,63}$")


def _config_file() -> Path | None:
    """The TOML file to read: ``PINPIPE_CONFIG`` (which must exist), else ``./pinpipe.toml`` if there."""
    named = os.environ.get("PINPIPE_CONFIG", "").strip()
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise PinpipeError(f"PINPIPE_CONFIG={named}: no such file (unset it or point it at a TOML file)")
        return path
    default = Path("pinpipe.toml")
    return default if default.is_file() else None


def _check_config_file(path: Path, known: set[str]) -> None:
    """Refuse a TOML file that does not parse or names a setting that does not exist (a typo would
    otherwise be ignored silently)."""
    try:
        with path.open("rb") as file:
            values = tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PinpipeError(f"{path}: not a valid TOML file: {exc}") from None
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise PinpipeError(f"{path}: unknown setting {key!r}{hint}")


class Settings(BaseSettings):
    """Where things live and how the pipeline behaves; see docs/operations.md, "Configuration"."""

    model_config = SettingsConfigDict(env_prefix="PINPIPE_", extra="ignore", frozen=True)

    data_dir: Path = Field(default=DEFAULT_DATA_DIR, description="Folder for local state.")
    lake: str = Field(default="", description="Lake root: a local path or s3://bucket/prefix.")
    source_db_url: str = Field(default="", description="SQLAlchemy URL of the emulator's source DB.")
    warehouse: str = Field(default="", description="DuckDB warehouse file of the dbt duckdb target.")
    uid: str = Field(default="0a5040edb649", description="Names topics <uid>.pin and streams.")
    partitions: int = Field(default=1, ge=1, le=1024, description="Partitions per topic.")
    flush_records: int = Field(default=10_000, ge=1, description="Landing: records per object.")
    flush_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, description="Landing: bytes per object.")
    flush_seconds: float = Field(default=5.0, gt=0, description="Landing: max age of an open object.")
    max_record_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Bronze: larger records are quarantined."
    )
    bronze_loader: str = Field(
        default="bulk", description="Bronze: bulk (pyarrow per object) or per-line; both load the same rows."
    )
    bronze_batch_records: int | None = Field(
        default=None,
        ge=1,
        description="Bronze: records per commit (default 1,000,000 bulk, 250,000 per-line).",
    )
    bronze_batch_bytes: int = Field(
        default=256 * 1024 * 1024, ge=1, description="Bronze: bytes of landing objects per commit."
    )
    bronze_part_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1,
        description="Bronze: the smallest part (Arrow bytes) of a commit's appends written side by side.",
    )
    kafka_bootstrap: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers.")
    kafka_group: str = Field(default="", description="Consumer group of the landing (default per uid).")
    kafka_timeout: float = Field(
        default=10.0, gt=0, le=600, description="Kafka: seconds to connect and for each request."
    )
    kafka_outage_timeout: float = Field(
        default=120.0, gt=0, description="Kafka landing: a drain fails after this long without progress."
    )
    kafka_session_timeout_ms: int = Field(
        default=6_000,
        ge=6_000,
        le=300_000,
        description="Kafka landing: ms after which a silent group member is replaced (broker minimum).",
    )
    kafka_compression: str = Field(default="lz4", description="Producer compression: lz4, gzip, zstd, none.")
    kafka_client: str = Field(
        default="auto", description="Kafka client: auto (confluent when installed), confluent, kafka-python."
    )
    kinesis_shards: int = Field(default=2, ge=1, le=500, description="Shards of a stream the sink creates.")
    stream_commit_seconds: float = Field(
        default=0.5, gt=0, le=60, description="Stream ingestion: most seconds between bronze commits."
    )
    stream_poll_seconds: float = Field(
        default=0.2, gt=0, le=10, description="Stream ingestion: pause when a round read nothing."
    )
    gateway_host: str = Field(default="127.0.0.1", description="Gateway: address to bind.")
    gateway_port: int = Field(default=8000, ge=1, le=65535, description="Gateway: port to bind.")
    gateway_max_body_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="Gateway: larger request bodies get 413."
    )
    gateway_body_timeout: float = Field(
        default=30.0, gt=0, le=3600, description="Gateway: most seconds between two parts of a body (408)."
    )
    gateway_idle_timeout: int = Field(
        default=15,
        ge=1,
        le=3600,
        description="Gateway: whole seconds a connection may wait without a request, or take to send "
        "a request's headers, before it is closed.",
    )
    gateway_rate_limit: float = Field(
        default=0.0, ge=0, description="Gateway: requests/s per client address (0: no limit)."
    )
    gateway_url: str = Field(default="http://127.0.0.1:8000", description="HTTP sink: the gateway's URL.")
    http_api: str = Field(default="kafka", description="HTTP sink: kafka (REST Proxy v2) or kinesis.")
    http_batch: int = Field(default=1, ge=1, le=500, description="HTTP sink: records per request.")
    dbt_target: str = Field(default="duckdb", description="dbt target for dbt calls of the CLI.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path is not None:
            _check_config_file(path, set(settings_cls.model_fields))
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @field_validator("uid")
    @classmethod
    def _check_uid(cls, value: str) -> str:
        if not _UID_RE.match(value):
            raise ValueError(f"uid {value!r} must be lower-case letters, digits, '-' or '_'")
        return value

    def model_post_init(self, context: Any) -> None:
        # Derived defaults that depend on data_dir; frozen model, so set through object.__setattr__.
        data_dir = self.data_dir.expanduser().resolve()
        object.__setattr__(self, "data_dir", data_dir)
        if not self.lake:
            object.__setattr__(self, "lake", str(data_dir / "lake"))
        if not self.source_db_url:
            object.__setattr__(self, "source_db_url", f"sqlite:///{data_dir / 'source.db'}")
        if not self.kafka_group:
            object.__setattr__(self, "kafka_group", f"pinpipe-landing-{self.uid}")
        if not self.warehouse:
            object.__setattr__(self, "warehouse", str(data_dir / "warehouse.duckdb"))

    @field_validator("bronze_loader")
    @classmethod
    def _check_bronze_loader(cls, value: str) -> str:
        if value not in ("bulk", "per-line"):
            raise ValueError(f"bronze_loader {value!r}: expected one of bulk, per-line")
        return value

    @field_validator("kafka_client")
    @classmethod
    def _check_kafka_client(cls, value: str) -> str:
        if value not in ("auto", "confluent", "kafka-python"):
            raise ValueError(f"kafka_client {value!r} must be auto, confluent or kafka-python")
        return value

    @field_validator("http_api")
    @classmethod
    def _check_http_api(cls, value: str) -> str:
        if value not in ("kafka", "kinesis"):
            raise ValueError(f"http_api {value!r} must be kafka or kinesis")
        return value

    def topic(self, entity: str) -> str:
        """Kafka topic of an entity: ``<uid>.pin``."""
        return f"{self.uid}.{entity}"

    def stream(self, entity: str) -> str:
        """Kinesis stream of an entity: ``streaming-<uid>-pin``."""
        return f"streaming-{self.uid}-{entity}"

    @cached_property
    def topics(self) -> dict[str, str]:
        """Entity → topic for the three topics of this uid."""
        return {entity: self.topic(entity) for entity in ENTITIES}

    def entity_of_topic(self, topic: str) -> str | None:
        """The entity a topic or stream name carries (``pin`` for ``<uid>.pin``), or None."""
        for entity in ENTITIES:
            if topic in (self.topic(entity), self.stream(entity)):
                return entity
        return None

    def dbt_env(self) -> dict[str, str]:
        """Environment variables that profiles.yml and the dbt sources read."""
        return {
            "PINPIPE_LAKE": self.lake,
            "PINPIPE_WAREHOUSE": self.warehouse,
            "PINPIPE_UID": self.uid,
        }
