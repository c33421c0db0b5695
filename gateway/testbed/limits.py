"""The testbed's limits on what it is sent, and the server that enforces them.

Without them a client that announces 10 MiB and stalls holds its connection and what it sent for ever; a dozen held
~190 MB and were never answered (review of the testbed). Bodies are read as the sidecar reads them
(:mod:`gateway.httpguard.bodies`), so the refusals are the sidecar's: a body past the limit is StUF058 (413), one not
complete in time StUF058 (408), one there is no room for now StUF046 (503, ``Retry-After``: "Opslaan bericht niet
mogelijk", offer it again). The header deadline, the minimum body rate and the connection cap are the server's
(:func:`guarded_config`: the guarded protocol of :mod:`gateway.httpguard.protocol`). ``overstap testbed`` and
``compliance --listen`` both serve the testbed through :func:`guarded_config`: a vendor's system on the other end
of ``--listen`` is as untrusted as any client of the testbed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.httpguard.limits import HttpLimits

if TYPE_CHECKING:
    import uvicorn
    from starlette.types import ASGIApp

HEADER_TIMEOUT = 10.0
"""Seconds a client may take to send its request headers (``overstap testbed --header-timeout``)."""
MIN_BODY_RATE = 8 * 1024
"""Bytes a second a body must arrive at, judged over 5 s windows (``--min-body-rate``; 0: not judged)."""
MAX_CONNECTIONS = 256
"""Open connections at most (``--max-connections``); beyond it the oldest idle one is closed."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What one body may be and take, and what all bodies may hold at once (beyond their free part)."""

    max_body_bytes: int = 10 * 1024 * 1024
    body_timeout: float = 60.0
    max_body_buffer_bytes: int = 64 * 1024 * 1024


def http_limits(limits: Limits, header_timeout: float = HEADER_TIMEOUT, min_body_rate: int = MIN_BODY_RATE,
                max_connections: int = MAX_CONNECTIONS) -> HttpLimits:
    """The guard's limits for a testbed reading bodies within ``limits`` (the same body deadline)."""
    return HttpLimits(max_connections=max_connections, header_timeout=header_timeout,
                      body_timeout=limits.body_timeout, min_body_rate=min_body_rate)


def guarded_config(app: ASGIApp, host: str, port: int, http: HttpLimits) -> uvicorn.Config:
    """uvicorn settings of a testbed: uvloop, the guarded protocol with ``http``, idle connections closed after 5 s."""
    import uvicorn

    from gateway.httpguard.protocol import guarded_protocol

    from .app import slow_body, unknown_coding

    guard = guarded_protocol(http, slow_body(http), unknown_coding)  # a SOAP request refused there: a SOAP Fault
    return uvicorn.Config(app, host=host, port=port, log_level="warning", loop="uvloop", http=guard,  # type: ignore[arg-type]
                          timeout_keep_alive=5)
