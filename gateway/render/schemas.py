"""Validate rendered messages against the official schemas with lxml (libxml2): ~11 µs a message.

The schemas are read from the reference directory, compiled once per process and shared.
"""

from __future__ import annotations

import re
import threading

from lxml import etree

from gateway.ingest.errors import xsd_message
from gateway.reference import load_schema, load_zkn_vraag_schema, reference_dir

SCHEMA_FILES = {
    "zkn": "stuf/_zkn_mutatie_entry.xsd",
    "ggk": "ggk/ggk0310_21/ggkberichten/ggk0310_msg.xsd",
    "stuf": "stuf/0301/stuf0301.xsd",
    "iwmo21-301": "iwmo21-xsd/WMO301.xsd",
    "iwmo21-302": "iwmo21-xsd/WMO302.xsd",
    "iwmo21-305": "iwmo21-xsd/WMO305.xsd",
    "iwmo21-306": "iwmo21-xsd/WMO306.xsd",
    "iwmo21-307": "iwmo21-xsd/WMO307.xsd",
    "iwmo21-308": "iwmo21-xsd/WMO308.xsd",
    "iwmo21-315": "iwmo21-xsd/WMO315.xsd",
    "iwmo21-316": "iwmo21-xsd/WMO316.xsd",
    "zkn-vraag": "stuf/zkn0310/vraagAntwoord/zkn0310_msg_vraagAntwoord.xsd",
}
ENTRY_LOADERS = {"zkn-vraag": load_zkn_vraag_schema}
"""Kinds compiled from an entry of our own (the file in SCHEMA_FILES is the one it needs), not from the file."""
VRAAG_ANTWOORD = re.compile(r"[a-z]{3}L[av]\d\d")
"""Root names of the ZKN vraag/antwoord messages (zakLv01, zakLa01, …): their schema is not the mutatie one."""
ZKN_NS = "http://www.egem.nl/StUF/sector/zkn/0310"
GGK_NS = "http://www.stufstandaarden.nl/sectormodel/ggk/0210"
STUF_NS = "http://www.egem.nl/StUF/StUF0301"
IWMO21 = "http://www.istandaarden.nl/iwmo/2_1/"

class SchemaUnavailable(RuntimeError):
    """The reference directory (official XSDs) is not where OVERSTAP_REFERENCE_DIR says."""


class OutputInvalid(ValueError):
    """A rendered message that does not validate: a bug or a mapping that produced an impossible value."""

    def __init__(self, kind: str, errors: list[str]) -> None:
        super().__init__(f"output does not validate against the {kind} schema: " + "; ".join(errors[:3]))
        self.kind = kind
        self.errors = errors


def schema(kind: str) -> etree.XMLSchema:
    found = ENTRY_LOADERS[kind]() if kind in ENTRY_LOADERS else load_schema(SCHEMA_FILES[kind])
    if found is None:
        path = reference_dir() / SCHEMA_FILES[kind]
        raise SchemaUnavailable(f"schema {path} not found: set OVERSTAP_REFERENCE_DIR to the reference folder")
    return found


def iwmo_kind(wet: str | None, versie: str | None, nummer: str | None) -> str | None:
    """The schema kind of an iWmo message of family ``nummer`` (301) in ``versie``, None when no XSD is known."""
    kind = f"iwmo21-{nummer}"
    return kind if (wet, versie) == ("wmo", "2.1") and kind in SCHEMA_FILES else None


def kind_of(root: etree._Element) -> str | None:
    """Which official schema governs this root element (as ../shared/tools/stuf-validate decides)."""
    ns = etree.QName(root).namespace or ""
    if ns == ZKN_NS:
        return "zkn-vraag" if VRAAG_ANTWOORD.fullmatch(etree.QName(root).localname) else "zkn"
    if ns == GGK_NS:
        return "ggk"
    if ns == STUF_NS:
        return "stuf"
    if ns.startswith(IWMO21):  # only the message kinds whose XSD is there: any other has no schema here
        kind = "iwmo21-" + ns[len(IWMO21):].split("/")[0].replace("wmo", "")
        return kind if kind in SCHEMA_FILES else None
    return None


def errors_of(root: etree._Element, kind: str | None = None) -> list[str]:
    """Validation errors (empty when valid) for an element, the schema chosen by its root if not given."""
    kind = kind or kind_of(root)
    if kind is None:
        return [f"no official schema known for root element {root.tag}"]
    xsd = schema(kind)
    if xsd.validate(root.getroottree() if root.getparent() is None else etree.ElementTree(root)):
        return []
    # a value the message carried is told by its shape: these texts reach Fo03 replies and batch reports
    return [f"line {e.line}: {xsd_message(e.message)}" for e in xsd.error_log]


_local = threading.local()


def check(xml: bytes, kind: str) -> None:
    """Raise :class:`OutputInvalid` unless ``xml`` validates against schema ``kind``."""
    parser = getattr(_local, "parser", None)
    if parser is None:  # lxml parsers must not be shared between threads
        parser = _local.parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(xml, parser)
    errs = errors_of(root, kind)
    if errs:
        raise OutputInvalid(kind, errs)
