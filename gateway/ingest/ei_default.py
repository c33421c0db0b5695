"""EI flat files with the layouts shipped in dialects/ei, failing the way every other input fails.

The parser in :mod:`gateway.ingest.ei` raises its own :class:`EiError` so it can be used (and
tested) on its own. Ingest callers, though, catch one error type: this module turns an EiError
into an :class:`InputError` that keeps the line and the layout field, so a broken EI file is
reported like a broken XML file ("file.ei:3 [Geboortedatum]: ... is not a valid date").
"""

from __future__ import annotations

from lxml import etree

from .ei import EiError, default_layouts, parse_ei
from .errors import InputError
from .xml import DEFAULT_MAX_BYTES, wide_encoding

__all__ = ["is_flat_file", "parse_default_ei"]

_BOM = b"\xef\xbb\xbf"


def is_flat_file(data: bytes) -> bool:
    """True when ``data`` can only be an EI flat file: its first byte (after a UTF-8 BOM) is a digit.

    Deliberately looser than :func:`gateway.ingest.ei.looks_like_ei`: a file whose voorloop is
    damaged (wrong length, unknown BerichtCode, missing) must still reach the EI parser, which names
    the line and field, instead of the XML parser's "not well-formed". XML never starts with a digit.
    """
    codec = wide_encoding(data)
    if codec is not None:  # UTF-16/32: an EI file too when its first character is a digit
        return data[:16].decode(codec, errors="replace").removeprefix("\ufeff")[:1].isdigit()
    head = data[len(_BOM) : len(_BOM) + 1] if data.startswith(_BOM) else data[:1]
    return head.isdigit()


def _as_latin1(data: bytes, name: str) -> bytes:
    """The EI bytes in the parser's one-byte-per-character encoding (ISO-8859-1).

    Fixed positions count characters, so a UTF-8 or UTF-16/32 file is decoded first: otherwise an
    ``é`` would shift every later field (mojibake) or the file would read as broken XML.
    """
    codec = wide_encoding(data)
    if codec is None:
        body = data.removeprefix(_BOM)
        if body.isascii():
            return body
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:  # not UTF-8: the ISO-8859-1 the layouts assume
            return body
    else:
        text = data.decode(codec, errors="strict").removeprefix("\ufeff")
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError as exc:
        line = text.count("\n", 0, exc.start) + 1
        raise InputError(f"EI flat file: character U+{ord(text[exc.start]):04X} cannot be written in the "
                         "ISO-8859-1 the EI layouts use", source=name, line=line) from None


def parse_default_ei(data: bytes, name: str = "<input>", max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Parse ``data`` with the built-in iWmo 2.0 EI layouts into the ``EI`` tree (dialects/ei/README.md)."""
    if len(data) > max_bytes:
        raise InputError(
            f"message is {len(data)} bytes, more than the limit of {max_bytes}", source=name, code="StUF058"
        )
    try:
        layouts = default_layouts()
    except (OSError, ValueError) as exc:  # a broken installation, not a broken message
        raise RuntimeError(f"the built-in EI layouts cannot be loaded: {exc}") from exc
    try:
        data = _as_latin1(data, name)
    except UnicodeDecodeError as exc:
        raise InputError(f"EI flat file: not valid {exc.encoding} ({exc.reason})", source=name) from None
    try:
        return parse_ei(data, layouts, name)
    except EiError as exc:
        raise InputError(f"EI flat file: {exc.message}", source=name, line=exc.line, field=exc.field) from None
