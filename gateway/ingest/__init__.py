"""Ingest: turn inbound bytes into a :class:`Source` safely, whatever the envelope or format."""

from __future__ import annotations

from .ei_default import is_flat_file, parse_default_ei
from .envelopes import unwrap_soap
from .errors import InputError
from .source import Source
from .xml import DEFAULT_MAX_BYTES, parse_xml

__all__ = ["DEFAULT_MAX_BYTES", "InputError", "Source", "parse_xml", "read"]


def read(data: bytes, name: str = "<input>", *, max_bytes: int = DEFAULT_MAX_BYTES, route: str | None = None) -> Source:
    """Parse ``data`` (XML, SOAP-wrapped XML or an EI flat file) into a :class:`Source`."""
    if is_flat_file(data):  # an EI flat file: a digit first (XML never starts with one)
        root = parse_default_ei(data, name, max_bytes)
        return Source(name=name, data=data, root=root, format="ei", route=route)
    root = parse_xml(data, name, max_bytes)
    envelopes: list[str] = []
    root, soap = unwrap_soap(root, name)
    if soap:
        envelopes.append(soap)
    return Source(name=name, data=data, root=root, envelopes=envelopes, route=route)
