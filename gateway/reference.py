"""Where the official reference material lives (StUF/GGk/iWmo XSDs, public samples).

It is never committed (its licence is not ours); tests and ``overstap validate`` read it from
``$OVERSTAP_REFERENCE_DIR``, by default ``../shared/reference`` beside the checkout.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from lxml import etree

ENV = "OVERSTAP_REFERENCE_DIR"


def reference_dir() -> Path:
    default = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference"
    return Path(os.environ.get(ENV, str(default))).resolve()


def available() -> bool:
    return (reference_dir() / "stuf" / "_zkn_mutatie_entry.xsd").is_file()


_schema_lock = threading.Lock()
_schemas: dict[tuple[str | None, str], etree.XMLSchema] = {}


def load_schema(relative: str) -> etree.XMLSchema | None:
    """The official XSD at ``relative`` in the reference dir, compiled once per process (None if absent).

    Output validation (render) and source-schema checks (mapping) share this one cache. The hot
    path is one dict look-up: no path building or file-system calls once a schema is loaded.
    """
    key = (os.environ.get(ENV), relative)
    found = _schemas.get(key)
    if found is not None:
        return found
    with _schema_lock:
        if key not in _schemas:
            path = reference_dir() / relative
            if not path.is_file():
                return None
            _schemas[key] = etree.XMLSchema(etree.parse(str(path)))
        return _schemas[key]


_ZS_DMS_ENTRY = """<schema xmlns="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:overstap:entry:zs-dms"
    elementFormDefault="qualified">
  <import namespace="http://www.egem.nl/StUF/StUF0301" schemaLocation="_stuf_all.xsd"/>
  <import namespace="http://www.egem.nl/StUF/sector/bg/0310" schemaLocation="overstap-bg-zs-dms.xsd"/>
  <import namespace="http://www.egem.nl/StUF/sector/zkn/0310" schemaLocation="zkn0310/zs-dms/zkn0310_msg_zs-dms.xsd"/>
</schema>"""
_BG_ZS_DMS = """<schema xmlns="http://www.w3.org/2001/XMLSchema" targetNamespace="http://www.egem.nl/StUF/sector/bg/0310"
    elementFormDefault="qualified">
  <include schemaLocation="zkn0310/entiteiten/zkn0310_bg0310_ent.xsd"/>
  <include schemaLocation="zkn0310/zs-dms/zkn0310_bg0310_simpleTypes_zs-dms.xsd"/>
</schema>"""


_ZKN_VRAAG_ENTRY = """<schema xmlns="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:overstap:entry:zkn-vraag"
    elementFormDefault="qualified">
  <import namespace="http://www.egem.nl/StUF/StUF0301" schemaLocation="_stuf_all.xsd"/>
  <import namespace="http://www.egem.nl/StUF/sector/zkn/0310"
          schemaLocation="zkn0310/vraagAntwoord/zkn0310_msg_vraagAntwoord.xsd"/>
</schema>"""


class _Wrappers(etree.Resolver):
    """Serves our in-memory wrapper for the BG namespace: libxml2 keeps only the first schemaLocation it meets
    for a namespace, and the ZDS vrije berichten need BG types from two files (as _stuf_all.xsd does for StUF)."""

    def __init__(self, stuf: Path) -> None:
        super().__init__()
        self.stuf = stuf

    def resolve(self, system_url: str, public_id: str, context: object) -> object:
        if system_url.endswith("overstap-bg-zs-dms.xsd"):
            return self.resolve_string(_BG_ZS_DMS, context, base_url=str(self.stuf / "overstap-bg-zs-dms.xsd"))
        return None


def load_zs_dms_schema() -> etree.XMLSchema | None:
    """The StUF-ZKN 3.10 zs-dms schema (ZDS 1.2 vrije berichten: genereerZaakIdentificatie_Di02/Du02 …),
    compiled once per process; None when the reference dir is absent."""
    return _entry_schema("zs-dms", _ZS_DMS_ENTRY, "zkn0310/zs-dms/zkn0310_msg_zs-dms.xsd")


def load_zkn_vraag_schema() -> etree.XMLSchema | None:
    """The StUF-ZKN 3.10 vraag/antwoord schema (zakLv01 questions, zakLa01 answers …), compiled once per process;
    None when the reference dir is absent. Its own entry: it declares the ZKN namespace again, as the mutatie
    schema does, so the two cannot be one schema."""
    return _entry_schema("zkn-vraag", _ZKN_VRAAG_ENTRY, "zkn0310/vraagAntwoord/zkn0310_msg_vraagAntwoord.xsd")


def _entry_schema(name: str, entry_text: str, needed: str) -> etree.XMLSchema | None:
    """A schema compiled from one of our in-memory entry files in the reference dir's stuf/ folder."""
    key = (os.environ.get(ENV), name)
    found = _schemas.get(key)
    if found is not None:
        return found
    with _schema_lock:
        if key not in _schemas:
            stuf = reference_dir() / "stuf"
            if not (stuf / needed).is_file():
                return None
            parser = etree.XMLParser()
            parser.resolvers.add(_Wrappers(stuf))
            entry = etree.fromstring(entry_text.encode(), parser, base_url=str(stuf / f"overstap-{name}.xsd"))
            _schemas[key] = etree.XMLSchema(entry)
        return _schemas[key]
