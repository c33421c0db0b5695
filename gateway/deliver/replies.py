"""Read what a downstream answered: a StUF Bv (accepted), a StUF Fo (refused, and why) or something else.

Downstreams answer in SOAP, a Fo usually inside a SOAP Fault's detail, sometimes bare. The body is
parsed with the same safe parser as inbound messages; an answer that is not XML is simply ``other``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from gateway.ingest import InputError, parse_xml
from gateway.model import mask_bsn

_BERICHT = re.compile(r"^(Bv0[1-4]|Fo0[1-3])Bericht$")
_BSN_LIKE = re.compile(r"(?<![\w.-])\d{9}(?![\w-])")
"""Nine digits standing alone (a BSN's shape); not inside a longer token such as a referentienummer."""
_PLAIN_BV = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(Bv0[1-4])Bericht[\s>/]")
MAX_REPLY_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Reply:
    """``kind`` is ``bv``, ``fo``, ``fault`` (SOAP Fault without a Fo) or ``other``."""

    kind: str
    berichtcode: str | None = None
    code: str | None = None
    plek: str | None = None
    omschrijving: str | None = None
    details: str | None = None

    def reason(self) -> str:
        """One line for the dead-letter record and the operator: code, place and description."""
        if self.kind == "fo":
            parts = [f"{self.berichtcode} {self.code or '?'} ({self.plek or '?'})", self.omschrijving or ""]
            if self.details:
                parts.append(self.details)
            return scrub(": ".join(p for p in parts if p))
        if self.kind == "fault":
            return scrub(f"SOAP Fault: {self.omschrijving or ''}")
        return scrub(self.omschrijving or "")


def mask(text: str) -> str:
    """Every free-standing nine-digit number masked (how a BSN slips into a text); other digits kept."""
    return _BSN_LIKE.sub(lambda m: mask_bsn(m.group(0)), text)


def scrub(text: str, limit: int = 500) -> str:
    """Downstream text as we keep it: BSN-like numbers masked, one line, bounded."""
    text = mask(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(parent: etree._Element, name: str) -> str | None:
    for child in parent.iter():
        if isinstance(child.tag, str) and etree.QName(child).localname == name:
            return (child.text or "").strip() or None
    return None


def read_reply(body: bytes) -> Reply:
    """Classify a downstream's answer; never raises."""
    quick = _PLAIN_BV.search(body, 0, 4096)
    if quick is not None and b"Fo0" not in body and b"Fault" not in body and b"<!" not in body:
        return Reply("bv", quick.group(1).decode())  # the common answer, without parsing it
    if not body.strip():
        return Reply("other", omschrijving="(empty body)")
    try:
        root = parse_xml(body[:MAX_REPLY_BYTES], "reply", MAX_REPLY_BYTES)
    except InputError:
        return Reply("other", omschrijving=body[:200].decode("utf-8", "replace"))
    fault_string: str | None = None
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        name = etree.QName(el).localname
        match = _BERICHT.match(name)
        if match:
            code = match.group(1)
            if code.startswith("Bv"):
                return Reply("bv", code)
            return Reply("fo", code, _text(el, "code"), _text(el, "plek"), _text(el, "omschrijving"),
                         _text(el, "details"))
        if name in ("faultstring", "Text") and fault_string is None:
            fault_string = (el.text or "").strip()
    if etree.QName(root).localname == "Envelope" and any(
            isinstance(e.tag, str) and etree.QName(e).localname == "Fault" for e in root.iter()):
        return Reply("fault", omschrijving=fault_string)
    return Reply("other", omschrijving=f"<{etree.QName(root).localname}> without a StUF Bv or Fo")
