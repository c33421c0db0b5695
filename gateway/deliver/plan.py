"""What one inbound message becomes in the outbox, per migration mode: which payloads go to which target.

``translate`` sends each canonical output (one per client/zaak) to the new system; ``passthrough``
sends the original bytes unchanged to the legacy partner; ``shadow`` does both. The proxy and
``outbox replay`` plan through here, so a replayed message is planned exactly as a received one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Container, Sequence

from gateway.pipeline import Output
from gateway.render import stuf

from .outbox import LEGACY, NEW, NewDelivery

SOAP11_CONTENT_TYPE = stuf.CONTENT_TYPE["soap11"]
IN_ORDER_KEY = "*"
"""The order key of every delivery to a downstream that takes them in one order (``order: created``): no zaak
identificatie or referentienummer is one character."""
_START_TAG = re.compile(rb"<(?:([A-Za-z_][\w.-]*):)?([A-Za-z_][\w.-]*)([^>]*)>")


def root_of(xml: bytes) -> tuple[str, str]:
    """(namespace, local name) of an XML document's root element, read from its start tag."""
    pos = 0
    while True:
        match = _START_TAG.search(xml, pos)
        if match is None:
            return "", ""
        start = match.start()
        if xml[start + 1:start + 2] in (b"?", b"!"):
            pos = xml.find(b">", start) + 1
            continue
        prefix, local, attrs = match.groups()
        name = b"xmlns:" + prefix if prefix else b"xmlns"
        ns = re.search(rb"\s" + re.escape(name) + rb"\s*=\s*[\"']([^\"']*)[\"']", attrs)
        return (ns.group(1).decode() if ns else ""), local.decode()


def canonical_delivery(output: Output) -> NewDelivery:
    """A canonical output as it goes to the new downstream: SOAP 1.1 with its operation's SOAPAction (ZDS:
    ``.../creeerZaak_Lk01``, ``.../updateZaak_Lk01``, ...), else the StUF one of its root element."""
    action = output.soap_action
    if not action:
        namespace, element = root_of(output.xml)
        action = stuf.soap_action(namespace, element)
    return NewDelivery(NEW, output.referentienummer, output.zaak or output.referentienummer,
                       stuf.envelope(output.xml), SOAP11_CONTENT_TYPE, action, output.zaak)


def original_referentienummer(outputs: Sequence[Output] | None, original: bytes) -> str:
    """A stable reference for the original, from its bytes: canonical referentienummers are new for every
    rendering (profile zkn v2, StUF 03.01 4.4.3), so they cannot recognise a re-sent original."""
    seed = "original-bytes|" + hashlib.sha256(original).hexdigest()
    return "OVS" + hashlib.sha256(seed.encode()).hexdigest()[:32].upper()


def original_delivery(outputs: Sequence[Output] | None, original: bytes, content_type: str | None,
                      soap_action: str | None) -> NewDelivery:
    """The original bytes for the legacy downstream, with the content type and SOAPAction they came with.

    Its order key is the zaak of its first client, so it stays in order with the canonical messages
    about that zaak; a message that did not convert is ordered on its own.
    """
    ref = original_referentienummer(outputs, original)
    first = outputs[0] if outputs else None
    key = (first.zaak or first.referentienummer) if first is not None else ref
    return NewDelivery(LEGACY, ref, key, original, content_type or "text/xml; charset=utf-8",
                       (soap_action or "").strip('"') or None, first.zaak if first is not None else None)


def plan(mode: str, outputs: Sequence[Output] | None, original: bytes, content_type: str | None = None,
         soap_action: str | None = None, in_order: Container[str] = ()) -> list[NewDelivery]:
    """The deliveries of one message in ``mode``; ``outputs`` is None when conversion failed. A target in
    ``in_order`` (its downstream's ``order: created``) gets :data:`IN_ORDER_KEY` for every delivery: one queue,
    so nothing overtakes a delivery waiting for its retry."""
    out: list[NewDelivery] = []
    if mode in ("translate", "shadow") and outputs:
        out += [canonical_delivery(o) for o in outputs]
    if mode in ("passthrough", "shadow"):
        out.append(original_delivery(outputs, original, content_type, soap_action))
    for delivery in out:
        if delivery.target in in_order:
            delivery.order_key = IN_ORDER_KEY
    return out
