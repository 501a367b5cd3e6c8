"""The emulator's HTTP sink (emulator/sinks/http.py): which gateway API it posts to, how.

Each field is the environment variable ``PINPIPE_<NAME>`` (or a key of the TOML file); the one
:class:`ingestion.settings.Settings` composes this group with the others.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator


class HttpSinkSettings(BaseModel):
    """The emulator's HTTP sink (emulator/sinks/http.py) settings."""

    gateway_url: str = Field(default="http://127.0.0.1:8000", description="HTTP sink: the gateway's URL.")
    http_api: str = Field(default="kafka", description="HTTP sink: kafka (REST Proxy v2) or kinesis.")
    http_batch: int = Field(default=1, ge=1, le=500, description="HTTP sink: records per request.")

    @field_validator("http_api")
    @classmethod
    def _check_http_api(cls, value: str) -> str:
        if value not in ("kafka", "kinesis"):
            raise ValueError(f"http_api {value!r} must be kafka or kinesis")
        return value
