"""How stored rows and payloads are shown: times, operations, message codes, indented XML and marked lineage.

Pure functions over what the queries return, kept apart from the handlers so a page module only gathers and
renders; none of them reads the database or knows who is looking.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from typing import Any

from lxml import etree

from . import highlight
from .privacy import bsn_like, mask

BERICHTCODE = re.compile(rb"/(wmo|jw)(\d{3})/schema")
"""The iWmo/iJw message schema's namespace names the message (``…/wmo315/schema/2_0``): WMO315."""
SHOW_BYTES = 2 * 1024 * 1024
"""A payload larger than this (a GGk envelope may hold 25 MB) is shown cut, as it is stored: a page stays usable."""
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True, huge_tree=False)


def when(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def pretty(data: bytes | None) -> str:
    """XML indented for reading (escaped by the template); bytes that do not parse are shown as they are."""
    if not data:
        return ""
    if len(data) > SHOW_BYTES:
        return bytes(data[:SHOW_BYTES]).decode("utf-8", "replace") + f"\n… ({len(data):,} bytes, cut for display)"
    try:
        return etree.tostring(etree.fromstring(bytes(data), _PARSER), pretty_print=True, encoding="unicode")
    except etree.LxmlError:
        return bytes(data).decode("utf-8", "replace")


def operation(soap_action: str | None) -> str:
    """``…/zkn/0310/creeerZaak_Lk01`` -> ``creeerZaak``."""
    return (soap_action or "").strip('"').rpartition("/")[2].removesuffix("_Lk01")


def berichtcode(head: bytes | None) -> str:
    found = BERICHTCODE.search(bytes(head or b""))
    return (found.group(1) + found.group(2)).decode().upper() if found else ""


def lineage(explanation: Any) -> list[Any]:
    """The explanation's rows, with every value that passes the elfproef masked (a clientnummer may be the BSN)."""
    return [replace(r, value=mask(r.value)) if bsn_like(r.value) else r for r in explanation.rows]


def marked_payloads(found: dict[str, Any], items: list[dict[str, Any]], rows: list[Any] | None
                    ) -> tuple[highlight.Shown | None, dict[int, highlight.Shown]]:
    """The original and each delivery with the lineage rows marked on their lines; none without a lineage or for
    a payload too large to show whole (that one is shown cut, unmarked)."""
    if not rows:
        return None, {}
    original = bytes(found["original"])
    source = highlight.source(original, rows) if len(original) <= SHOW_BYTES else None
    out: dict[int, highlight.Shown] = {}
    for d in items:
        payload = bytes(d["payload"] or b"")
        shown = highlight.canonical(payload, rows) if payload and len(payload) <= SHOW_BYTES else None
        if shown is not None:
            out[d["id"]] = shown
    return source, out
