"""The bronze loader (ingestion/bronze/): how records are refused and commits are sized.

Each field is the environment variable ``PINPIPE_<NAME>`` (or a key of the TOML file); the one
:class:`ingestion.settings.Settings` composes this group with the others.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator


class BronzeSettings(BaseModel):
    """The bronze loader (ingestion/bronze/) settings."""

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

    @field_validator("bronze_loader")
    @classmethod
    def _check_bronze_loader(cls, value: str) -> str:
        if value not in ("bulk", "per-line"):
            raise ValueError(f"bronze_loader {value!r}: expected one of bulk, per-line")
        return value
