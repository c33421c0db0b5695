"""An archive or compressed file handed over as a message: named as what it is, not as broken XML.

Why: ``overstap convert in.zip`` and a ZIP inside a batch's ZIP were both refused as "not well-formed XML: Start
tag expected, '<' not found", which sends the operator looking for a fault in a message that is not there.
Only ``batch`` and ``discover`` unpack archives, and only the ones they are given (never one inside another).
"""

from __future__ import annotations

from .errors import InputError

_MAGIC = (
    (b"PK\x03\x04", "a ZIP archive"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\x1f\x8b", "a gzip file"),
    (b"BZh", "a bzip2 file"),
    (b"\xfd7zXZ\x00", "an xz file"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
)
_TAR_MAGIC = b"ustar"
_TAR_AT = 257
"""Where a POSIX (and GNU) tar header says ``ustar``: a tar stream's first member name may start with a digit,
which would otherwise read as an EI flat file."""


def packed_kind(data: bytes) -> str | None:
    """What archive or compressed format ``data`` is in (``"a ZIP archive"``), or None for anything else."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    return "a tar archive" if data[_TAR_AT:_TAR_AT + len(_TAR_MAGIC)] == _TAR_MAGIC else None


def refuse_packed(data: bytes, name: str) -> None:
    """Raise :class:`InputError` (StUF055) when ``data`` is an archive or compressed file, naming it and what a
    message is; a message (XML starts with ``<`` or a byte-order mark, EI with a digit) passes at once."""
    if data[:1] == b"<":
        return
    kind = packed_kind(data)
    if kind is not None:
        raise InputError(f"{kind}, not a message: expected an XML message or an EI flat file (only `overstap "
                         "batch` unpacks archives, those it is given, not one inside another)", source=name)
