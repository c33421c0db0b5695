"""The numbers of the HTTP guard, in a module of their own: configuration code (gateway/proxy/config.py, the CLI)
names them without loading uvicorn or starlette."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """Inbound HTTP limits (enforced by :mod:`gateway.httpguard.protocol` and the app's body read)."""

    max_connections: int = 1000
    max_header_bytes: int = 64 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    min_body_rate: int = 8 * 1024
    body_rate_window: float = 5.0
    probe_connections: int = 8
