"""Check a source message against its dialect's own XSD (``source_schema:`` in the mapping file).

Under ``strictness: strict`` a deviation rejects the message; under ``lenient`` it becomes a warning
that is counted as the vendor's dialect debt. The XSDs live in the reference dir (never in the repo):
when it is absent the check is skipped with one logged warning per schema, not per message.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from gateway.ingest.errors import xsd_message
from gateway.reference import load_schema, reference_dir

log = logging.getLogger("gateway.mapping")

_lock = threading.Lock()
_reported_missing: set[Path] = set()
MAX_DEVIATIONS = 20
"""Schema errors reported per message; a badly broken message would otherwise flood the warnings."""

_CLARK = re.compile(r"\{[^{}'\s]*[:/][^{}'\s]*\}")
"""A namespace URI in Clark notation (``{urn:x}Naam``); not a pattern's ``{3}`` nor an enumeration's ``{'1'}``."""


@dataclass(frozen=True, slots=True)
class Deviation:
    """One place where a source message breaks its dialect's schema."""

    element: str
    line: int | None
    message: str


def source_schema(relative: str) -> etree.XMLSchema | None:
    """The compiled XSD at ``relative`` inside the reference dir, or None (logged once) when absent."""
    found = load_schema(relative)
    if found is None:
        path = reference_dir() / relative
        with _lock:
            if path not in _reported_missing:
                _reported_missing.add(path)
                log.warning("source schema %s not found (reference dir absent?): source messages are not "
                            "checked against it", path)
    return found


def _readable(message: str) -> str:
    """lxml's message without namespace URIs, the offending value told by its shape (it may be a BSN or a name)."""
    return _CLARK.sub("", xsd_message(message))


def deviations(relative: str, root: etree._Element) -> list[Deviation] | None:
    """Schema errors of ``root`` (empty when valid), or None when the schema is not available."""
    xsd = source_schema(relative)
    if xsd is None:
        return None
    target = root.getroottree() if root.getparent() is None else etree.ElementTree(root)
    with _lock:  # an XMLSchema keeps one error log: validate and read it under the lock
        if xsd.validate(target):
            return []
        errors = list(xsd.error_log)[:MAX_DEVIATIONS]
    out: list[Deviation] = []
    for error in errors:
        match = re.match(r"Element '([^']+)'", error.message)
        element = _CLARK.sub("", match.group(1)) if match else "?"
        out.append(Deviation(element, error.line or None, _readable(error.message)))
    return out
