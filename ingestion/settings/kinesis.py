"""Kinesis (ingestion/kinesis.py) and the stream ingestion (ingestion/stream.py).

Each field is the environment variable ``PINPIPE_<NAME>`` (or a key of the TOML file); the one
:class:`ingestion.settings.Settings` composes this group with the others.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class KinesisSettings(BaseModel):
    """Kinesis (ingestion/kinesis.py) and the stream ingestion (ingestion/stream.py). settings."""

    kinesis_shards: int = Field(default=2, ge=1, le=500, description="Shards of a stream the sink creates.")
    stream_commit_seconds: float = Field(
        default=0.5, gt=0, le=60, description="Stream ingestion: most seconds between bronze commits."
    )
    stream_poll_seconds: float = Field(
        default=0.2, gt=0, le=10, description="Stream ingestion: pause when a round read nothing."
    )
