"""The raw landing writer (ingestion/landing.py): when an open landing object is flushed.

Each field is the environment variable ``PINPIPE_<NAME>`` (or a key of the TOML file); the one
:class:`ingestion.settings.Settings` composes this group with the others.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class LandingSettings(BaseModel):
    """The raw landing writer (ingestion/landing.py) settings."""

    flush_records: int = Field(default=10_000, ge=1, description="Landing: records per object.")
    flush_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, description="Landing: bytes per object.")
    flush_seconds: float = Field(default=5.0, gt=0, description="Landing: max age of an open object.")
