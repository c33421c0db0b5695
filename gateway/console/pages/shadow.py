"""``overstap shadow report`` as a page: verdict counts over the newest shadow-mode messages, newest differences.

Its own module because it reads through ``gateway.deliver.shadow`` (the CLI's report), not the console's queries.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.deliver import shadow

from .. import queries
from ..context import Console
from ..privacy import mask_text

SHADOW_WINDOW = 2000
"""The shadow page compares the newest this many shadow messages (one query per message, as the CLI report)."""
SHADOW_SHOWN = 50


async def shadow_page(console: Console, request: Request) -> Response:
    """``overstap shadow report`` over the newest shadow-mode messages: verdict counts, newest differences."""
    session = await console.session_of(request)
    if session is None:
        return console.to_login(request)
    route = request.query_params.get("route") or None
    lines = await console.read(shadow.report, route, SHADOW_WINDOW)
    counts = shadow.summary(lines)
    differing = [line for line in reversed(lines) if line.differences][:SHADOW_SHOWN]
    for line in differing:
        line.differences = [mask_text(d) for d in line.differences]
    return console.page(request, "shadow.html", session, counts=counts, total=len(lines), differing=differing,
                        route=route, routes=await console.read(queries.routes), window=SHADOW_WINDOW,
                        same=counts[shadow.BOTH] + counts[shadow.NEITHER], lacking=shadow.lacking(lines),
                        different=counts[shadow.LEGACY_ONLY] + counts[shadow.NEW_ONLY])
