"""The API gateway (ingestion/gateway/): where it listens and what it accepts.

Each field is the environment variable ``PINPIPE_<NAME>`` (or a key of the TOML file); the one
:class:`ingestion.settings.Settings` composes this group with the others.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class GatewaySettings(BaseModel):
    """The API gateway (ingestion/gateway/) settings."""

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
