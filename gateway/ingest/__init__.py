"""Ingest: turn inbound bytes into a :class:`Source` safely, whatever the envelope or format."""

from __future__ import annotations

from pathlib import Path

from . import ggk
from .ei_default import is_flat_file, parse_default_ei
from .envelopes import unwrap_soap
from .errors import InputError
from .packed import refuse_packed
from .source import Source
from .xml import DEFAULT_MAX_BYTES, parse_xml

__all__ = ["DEFAULT_MAX_BYTES", "InputError", "Source", "parse_xml", "read", "read_capped"]


def read_capped(path: Path, limit: int = DEFAULT_MAX_BYTES) -> bytes:
    """At most ``limit`` bytes of ``path`` (a FIFO or ``/dev/stdin`` too); InputError when there is more."""
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", source=str(path)) from None
    if len(data) > limit:
        raise InputError(f"message is more than the limit of {limit} bytes", source=str(path), code="StUF058")
    return data


def read(data: bytes, name: str = "<input>", *, max_bytes: int = DEFAULT_MAX_BYTES, route: str | None = None,
         blanks: bool = True) -> Source:
    """Parse ``data`` (XML, SOAP-wrapped XML, a StUF-GGk envelope or an EI flat file) into a :class:`Source`.
    ``blanks=False`` leaves out the blank text between elements (:func:`.parse_xml`): for a converter whose
    mappings cannot read it (``Registry.blanks_matter``)."""
    refuse_packed(data, name)  # a ZIP or tar given as a message: said so, not "not well-formed XML"
    if is_flat_file(data):  # an EI flat file: a digit first (XML never starts with one)
        root = parse_default_ei(data, name, max_bytes)
        return Source(name=name, data=data, root=root, format="ei", route=route)
    envelope_limit = ggk.limit_for(data, max_bytes) if len(data) > max_bytes else max_bytes  # GGk: 25 MB
    try:
        root = parse_xml(data, name, envelope_limit, huge=envelope_limit > max_bytes, blanks=blanks)
    except InputError as exc:
        raise ggk.malformed(data, exc) from None
    envelopes: list[str] = []
    root, soap = unwrap_soap(root, name)
    if soap:
        envelopes.append(soap)
    if ggk.is_envelope(root):  # StUF-GGk Di01/Du01: convert the base64 payload inside
        return ggk.read_envelope(root, data, name, envelope_limit, route, envelopes, blanks)
    if len(data) > max_bytes:  # it only looked like an envelope: the general limit applies
        raise InputError(f"message is {len(data)} bytes, more than the limit of {max_bytes}", source=name,
                         code="StUF058")
    return Source(name=name, data=data, root=root, envelopes=envelopes, route=route)
