"""What the sidecar reads of a SOAP envelope itself, apart from its message: the version, and header blocks.

The answer goes in the envelope's own SOAP version. Header blocks the sidecar must understand and does not are
refused, kept in quarantine, never acknowledged.

On a translate route the sidecar is the message's ultimate receiver: nothing after it reads the vendor's envelope
(only the canonical output travels on). SOAP 1.1 4.2.3: a header block marked mustUnderstand="1" for that node
is obeyed "or [the node] MUST fail processing the message" (SOAP 1.2 Part 1 5.2.3 alike). The sidecar understands
no header block, so a Bv03 for such a message would tell the sender that, for instance, its WS-Security header
was honoured. Passthrough and shadow routes forward the original envelope, header and all, to the partner that
does read it. The answer is the SOAP MustUnderstand fault (SOAP 1.1 4.4.1, 1.2 Part 1 5.4.8), HTTP 500 in both
bindings (SOAP 1.2 Part 2 7.5.1); the message is kept in quarantine with the reason, like every refusal.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from gateway.deliver.chain_faults import QuarantineFull
from gateway.ingest import InputError, ggk, parse_xml
from gateway.ingest.envelopes import not_understood
from gateway.pipeline import FailureInfo
from gateway.render import stuf

from .answering import Answer
from .converting import Facts, stored_message

if TYPE_CHECKING:
    from .config import RouteConfig
    from .service import Gateway

log = logging.getLogger("overstap.gateway")
SOAP12_HINT = stuf.SOAP12_NS.encode()
MARK = b"mustUnderstand"
"""No header block can be marked without these bytes (the attribute's local name): a body without them is not
parsed a second time."""


def soap_version(body: bytes, content_type: str | None) -> stuf.SoapVersion:
    """Answer in the SOAP version the sender used: its envelope's, whatever the Content-Type says; bare XML (or a
    start that cannot be read) in the version of its Content-Type; without one, an unreadable start that mentions
    the SOAP 1.2 namespace early in SOAP 1.2, anything else in SOAP 1.1."""
    kind = ggk.soap_of(body)
    if kind:
        return "soap12" if kind == "soap12" else "soap11"
    if content_type and "application/soap+xml" in content_type:
        return "soap12"
    return "soap12" if kind is None and SOAP12_HINT in body[:2048] else "soap11"


def not_understood_in(body: bytes, max_bytes: int) -> tuple[tuple[str, str], ...]:
    """The header blocks of ``body``'s SOAP envelope marked mustUnderstand for the ultimate receiver; nothing when
    it is no SOAP envelope or cannot be read (the conversion refuses that with its own words)."""
    limit = ggk.limit_for(body, max_bytes) if len(body) > max_bytes else max_bytes
    try:
        return not_understood(parse_xml(body, "soap", limit, huge=limit > max_bytes))
    except InputError:
        return ()


async def refuse_not_understood(gw: Gateway, route: RouteConfig, body: bytes, content_type: str | None,
                                soap_action: str | None, version: stuf.SoapVersion) -> Answer | None:
    """The MustUnderstand fault for a message on a translate route with header blocks it must understand, after
    it is kept in quarantine; None when there are none."""
    if route.mode != "translate" or MARK not in body:
        return None
    blocks = await asyncio.to_thread(not_understood_in, body, gw.config.max_body_bytes)
    if not blocks:
        return None
    names = ", ".join(f"{{{namespace}}}{name}" for namespace, name in blocks)
    info = FailureInfo("StUF055", "Header", None, f"header block(s) marked mustUnderstand not understood: {names}",
                       route.name)
    message = stored_message(route.name, route.mode, body, content_type, soap_action, Facts(), None, info)
    try:
        qid = await gw.keep_refused(route.name, message)
    except QuarantineFull:
        return gw.quarantine_full(version)
    gw.metrics.rejected.labels(route.name, "must_understand").inc()
    headers = {} if qid is None else {"X-Overstap-Quarantine": str(qid)}
    log.warning("message refused on route %s: header block(s) marked mustUnderstand not understood: %s", route.name,
                names, extra={"route": route.name, "reason": "must_understand",
                              "quarantine": headers.get("X-Overstap-Quarantine")})
    return Answer(500, stuf.must_understand_fault(list(blocks), version), stuf.CONTENT_TYPE[version], headers)
