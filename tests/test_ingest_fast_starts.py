"""The usual start of a message (``<`` and a non-zero byte) decides two questions without a scan: it is not
UTF-16/32 (:func:`gateway.ingest.xml.wide_encoding`) and not an EI flat file (:func:`is_flat_file`).

Why: both ran their full checks (eight byte marks, then the EI file's zero-byte patterns) on every message, twice
for the marks. The shortcut must give what the full checks give for every start, which is compared here over
every 4-byte start from the bytes the marks are made of, each also followed by more text."""

from __future__ import annotations

import codecs
import itertools

from gateway.ingest.ei_default import is_flat_file
from gateway.ingest.xml import _WIDE, wide_encoding

ALPHABET = [b"<", b"\0", b"\xff", b"\xfe", b"\xef", b"\xbb", b"\xbf", b"?", b"1", b"x", b" "]


def _marks(data: bytes) -> str | None:
    """The full check: the first byte mark or BOM-less first character of UTF-32/16 XML that ``data`` starts with."""
    for mark, codec in _WIDE:
        if data[:4].startswith(mark):
            return codec
    return None


def _starts() -> list[bytes]:
    heads = [b"".join(p) for n in range(5) for p in itertools.product(ALPHABET, repeat=n)]
    return [head + tail for head in heads for tail in (b"", b"<a/>", b"1234")]


def test_wide_encoding_gives_what_the_marks_give_for_every_start() -> None:
    for data in _starts():
        assert wide_encoding(data) == _marks(data), data


def test_a_start_with_a_lt_is_never_a_flat_file_in_any_encoding() -> None:
    for data in _starts():
        if data[:1] == b"<":
            assert not is_flat_file(data), data
    for codec in ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"):
        assert not is_flat_file("<a/>".encode(codec)), codec
        assert is_flat_file("0123".encode(codec)), codec
        assert wide_encoding("<?xml?>".encode(codec)) == codec
    assert is_flat_file(codecs.BOM_UTF8 + b"0123") and not is_flat_file(codecs.BOM_UTF8 + b"<a/>")
