"""uvicorn's server for ``overstap serve``: the sidecar says "gateway ready" once its sockets listen.

uvicorn runs the app's lifespan start before it binds: a ready line logged there sent a client that connected on
reading it (a deploy script, a systemd unit, a test) to a closed port. Here the line comes after the bind, with the
addresses the sockets listen on (the port the kernel picked when asked for 0, too).
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

import uvicorn

from .app import Ready


def addresses(servers: Sequence[Any], tls: bool) -> list[str]:
    """The URLs the listening sockets of ``servers`` (asyncio servers) take connections at."""
    scheme = "https" if tls else "http"
    found = []
    for server in servers:
        for sock in server.sockets:
            host, port = sock.getsockname()[:2]
            found.append(f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}")
    return found


class SidecarServer(uvicorn.Server):
    """A uvicorn server that tells ``ready`` once its sockets listen, instead of the app's lifespan telling it."""

    def __init__(self, config: uvicorn.Config, ready: Ready) -> None:
        super().__init__(config)
        ready.by_server = True
        self.ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start the app, bind, then say ready: not when the bind failed (uvicorn exits) or a stop came meanwhile."""
        await super().startup(sockets=sockets)
        if not self.should_exit:
            self.ready.say(addresses(self.servers, self.config.ssl is not None))
