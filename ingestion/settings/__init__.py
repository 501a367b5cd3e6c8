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
from ingestion.settings.bronze import BronzeSettings
from ingestion.settings.gateway import GatewaySettings
from ingestion.settings.http_sink import HttpSinkSettings
from ingestion.settings.kafka import KafkaSettings
from ingestion.settings.kinesis import KinesisSettings
from ingestion.settings.landing import LandingSettings

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

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
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


class Settings(
    BaseSettings,
    LandingSettings,
    BronzeSettings,
    KafkaSettings,
    KinesisSettings,
    GatewaySettings,
    HttpSinkSettings,
):
    """Where things live and how the pipeline behaves; see docs/operations.md, "Configuration".

    The fields here say where things live; each component's own fields are in its module of this
    package, composed here into the one object every part is given (flat names: ``kafka_timeout``
    is PINPIPE_KAFKA_TIMEOUT, wherever it is defined)."""

    model_config = SettingsConfigDict(env_prefix="PINPIPE_", extra="ignore", frozen=True)

    data_dir: Path = Field(default=DEFAULT_DATA_DIR, description="Folder for local state.")
    lake: str = Field(default="", description="Lake root: a local path or s3://bucket/prefix.")
    source_db_url: str = Field(default="", description="SQLAlchemy URL of the emulator's source DB.")
    warehouse: str = Field(default="", description="DuckDB warehouse file of the dbt duckdb target.")
    uid: str = Field(default="0a5040edb649", description="Names topics <uid>.pin and streams.")
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
