"""EI flat files with the layouts shipped in dialects/ei, failing the way every other input fails.

The parser in :mod:`gateway.ingest.ei` raises its own :class:`EiError` so it can be used (and
tested) on its own. Ingest callers, though, catch one error type: this module turns an EiError
into an :class:`InputError` that keeps the line and the layout field, so a broken EI file is
reported like a broken XML file ("file.ei:3 [Geboortedatum]: ... is not a valid date").
"""

from __future__ import annotations

import re

from lxml import etree

from .ei import EiError, default_layouts, parse_ei
from .errors import InputError
from .xml import DEFAULT_MAX_BYTES, wide_encoding

__all__ = ["is_flat_file", "parse_default_ei"]

_BOM = b"\xef\xbb\xbf"
_LEAD = 256
"""How many bytes of blanks (spaces, tabs, line ends) before the first digit still make a file an EI file."""


def _wide(data: bytes) -> str | None:
    """UTF-16/32 by BOM, or (without one) by the zero bytes around a first digit, as an EI file starts."""
    codec = wide_encoding(data)
    if codec is not None or len(data) < 4:
        return codec
    first = data[:4]
    if first[0:1].isdigit() and first[1:4] == b"\0\0\0":
        return "utf-32-le"
    if first[0:3] == b"\0\0\0" and first[3:4].isdigit():
        return "utf-32-be"
    if first[0:1].isdigit() and first[1] == 0:
        return "utf-16-le"
    if first[0] == 0 and first[1:2].isdigit():
        return "utf-16-be"
    return None


def is_flat_file(data: bytes) -> bool:
    """True when ``data`` can only be an EI flat file: its first byte (after a UTF-8 BOM) is a digit.

    Deliberately looser than :func:`gateway.ingest.ei.looks_like_ei`: a file whose voorloop is
    damaged (wrong length, unknown BerichtCode, missing, after blank lines or spaces) must still reach the EI
    parser, which names the line and field, instead of the XML parser's "not well-formed". XML never starts
    with a digit, not even after blanks.
    """
    if data[:1] == b"<":  # XML, or UTF-16/32 whose first character is "<": no digit first either way
        return False
    codec = _wide(data)
    if codec is not None:  # UTF-16/32: an EI file too when its first character is a digit
        return data[:16].decode(codec, errors="replace").removeprefix("\ufeff")[:1].isdigit()
    head = data[len(_BOM) : len(_BOM) + _LEAD] if data.startswith(_BOM) else data[:_LEAD]
    return head.lstrip(b" \t\r\n")[:1].isdigit()  # blanks before it: still EI, so its parser names them


_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
"""A multi-byte UTF-8 sequence: in a file that is not UTF-8 as a whole, the sign of two encodings mixed."""


def _where(data: bytes, at: int) -> str:
    """``line L, byte B`` (both 1-based, the byte counted from the start of the line) of byte ``at``."""
    line, byte = data.count(b"\n", 0, at) + 1, at - data.rfind(b"\n", 0, at)
    return f"line {line}, byte {byte}"


def _as_latin1(data: bytes, name: str) -> bytes:
    """The EI bytes in the parser's one-byte-per-character encoding (ISO-8859-1).

    Fixed positions count characters, so a UTF-8 or UTF-16/32 file is decoded first: otherwise an
    ``é`` would shift every later field (mojibake) or the file would read as broken XML. Only a file
    without a byte-order mark whose non-ASCII bytes are no UTF-8 at all is read as the ISO-8859-1 the
    layouts assume: a BOM declares its encoding, so bytes after it that do not decode are an error, and so
    is a file that mixes UTF-8 sequences with bytes that are not UTF-8 (either reading would be a guess that
    turns some letters into others without a word).
    """
    codec = _wide(data)
    if codec is None:
        bom = data.startswith(_BOM)
        body = data.removeprefix(_BOM)
        if body.isascii():
            return body
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            at = exc.start + len(_BOM) * bom
            if bom:
                raise InputError(f"EI flat file: not valid UTF-8 at {_where(data, at)} (file offset {at}): "
                                 f"{exc.reason}; the byte-order mark at the start declares UTF-8, so every byte "
                                 "after it must be UTF-8", source=name, line=data.count(b"\n", 0, at) + 1) from None
            mixed = _UTF8_SEQUENCE.search(body)
            if mixed is None:  # not UTF-8 anywhere: the ISO-8859-1 the layouts assume
                return body
            raise InputError(f"EI flat file: mixes encodings: a UTF-8 sequence at {_where(body, mixed.start())} "
                             f"and a byte that is not UTF-8 at {_where(body, at)} (file offset {at}, {exc.reason}); "
                             "expected one encoding, UTF-8 (best with a byte-order mark) or ISO-8859-1",
                             source=name, line=body.count(b"\n", 0, at) + 1) from None
    else:
        try:
            text = data.decode(codec, errors="strict").removeprefix("\ufeff")
        except UnicodeDecodeError as exc:
            line = data[: exc.start - exc.start % 2].decode(codec, errors="replace").count("\n") + 1
            raise InputError(f"EI flat file: not valid {exc.encoding} at line {line} (file offset {exc.start}): "
                             f"{exc.reason}; its byte-order mark or first character declares {exc.encoding}",
                             source=name, line=line) from None
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
    data = _as_latin1(data, name)
    try:
        return parse_ei(data, layouts, name)
    except EiError as exc:
        raise InputError(f"EI flat file: {exc.message}", source=name, line=exc.line, field=exc.field) from None
