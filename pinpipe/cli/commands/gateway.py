"""`pinpipe gateway`: the HTTP gateway in front of Kafka or Kinesis."""

from __future__ import annotations

import logging
import os
import signal

import click

from ingestion.errors import PinpipeError
from pinpipe.cli.common import Context, info


@click.command()
@click.option("--host", help="Address to bind (default 127.0.0.1; 0.0.0.0 serves every interface).")
@click.option("--port", type=int, help="Port (default 8000).")
@click.option(
    "--idle-timeout",
    type=int,
    help="Seconds a connection may wait without a request, or take to send a request's headers, "
    "before it is closed (default 15).",
)
@click.option(
    "--insecure",
    is_flag=True,
    help="Serve an address other than loopback without an API key (refused otherwise).",
)
@click.pass_obj
def gateway(
    obj: Context, host: str | None, port: int | None, idle_timeout: int | None, insecure: bool
) -> None:
    """Serve the original's API Gateway endpoints (Kafka REST v2, Kinesis proxy) until Ctrl-C.

    The API key, if any, comes from the environment: PINPIPE_GATEWAY_API_KEY. Without one, only a
    loopback address (127.0.0.0/8, ::1, localhost) is served, unless --insecure.
    """
    try:  # the gateway extra
        import uvicorn

        from ingestion.gateway.app import check_bind, create_app, server_options
    except ImportError:
        raise PinpipeError(
            "the gateway needs the gateway extra (fastapi, uvicorn, swagger-ui-bundle)"
        ) from None
    settings = obj.settings(gateway_host=host, gateway_port=port, gateway_idle_timeout=idle_timeout)
    api_key = os.environ.get("PINPIPE_GATEWAY_API_KEY") or None
    warning = check_bind(settings.gateway_host, api_key=api_key, insecure=insecure)  # before binding
    if warning:
        info(warning)
    access = logging.getLogger("pinpipe.gateway.access")
    access.setLevel(logging.INFO)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(handler)
    access.propagate = False
    info(
        f"gateway on http://{settings.gateway_host}:{settings.gateway_port} for uid {settings.uid} "
        f"(API key {'required' if api_key else 'not required'}; OpenAPI at /docs)"
    )
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again for the handler that was
    # there before it: a no-op here, so the command ends with exit code 0 like the other long-running ones
    signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.run(
        create_app(settings, api_key=api_key),
        **server_options(settings),
        access_log=False,
        log_level="warning",
    )
