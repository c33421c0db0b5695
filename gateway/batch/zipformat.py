"""The ZIP container format, read and written one entry at a time.

The standard library's ``zipfile`` keeps every entry of an archive in memory (about 400 bytes per
entry with its name index), which alone breaks a flat-memory budget at a million messages, and it
cannot append to an archive that a killed process left half-written. So the batch reads the
central directory lazily and writes entries itself: local entries are appended to the data file,
central-directory records to a side file, and the two are joined (with the ZIP64 end records a
million entries need) only when the run finishes.
"""

from __future__ import annotations

import bz2
import os
import struct
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

try:  # ISA-L deflate: the same raw DEFLATE streams at about a third of zlib's cost for small messages
    from isal import isal_zlib as deflate_lib
except ImportError:  # pragma: no cover - a platform without isal wheels: zlib writes the same format
    deflate_lib = zlib  # type: ignore[assignment]
crc32 = deflate_lib.crc32
"""CRC-32 as zlib computes it; ISA-L's takes ~0.3 µs for a 6 KB message where zlib's took ~2.8 (once for every
member read and every output written)."""

MAX_RATIO = 1000
"""Expansion past which a member is refused unread: XML messages deflate or bzip2 10-50 times; a member of zeros
(a bomb with honest sizes, which the overlap check does not catch) some 10,000 to 1,000,000 times."""
BOMB_FLOOR = 1 << 20
"""Members that expand to less than this are read whatever their ratio (a small file of one repeated byte)."""

LOCAL_SIG = b"PK\x03\x04"
CENTRAL_SIG = b"PK\x01\x02"
END_SIG = b"PK\x05\x06"
ZIP64_END_SIG = b"PK\x06\x06"
ZIP64_LOCATOR_SIG = b"PK\x06\x07"

_LOCAL = struct.Struct("<4s5H3L2H")  # sig, version, flags, method, time, date, crc, csize, usize, nlen, xlen
_CENTRAL = struct.Struct("<4s6H3L5H2L")  # + made-by first; + comment len, disk, attrs, offset last
_END = struct.Struct("<4s4H2LH")
_ZIP64_END = struct.Struct("<4sQ2H2L4Q")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")

STORED, DEFLATED, BZIP2 = 0, 8, 12
FLAG_ENCRYPTED, FLAG_UTF8 = 0x1, 0x800
FLAG_LINK = 1 << 16
"""Not a ZIP flag (those are 16 bits): set on an entry whose Unix mode (made by Unix, external attributes) says
symbolic link, so the batch refuses it as it refuses a tar link instead of reading the link's target as a message."""
_UNIX, _MODE_TYPE, _MODE_LINK = 3, 0o170000, 0o120000
U32, U16 = 0xFFFFFFFF, 0xFFFF
_MADE_BY = (3 << 8) | 20  # Unix, spec 2.0
_FILE_ATTRS = (0o100644 << 16)  # regular file, rw-r--r--


class ZipFormatError(ValueError):
    """The archive or one of its entries cannot be read (truncated, corrupt, or an unsupported feature)."""


class ZipEntry(NamedTuple):
    """One central-directory record: enough to find and check the member's data. A tuple: a batch sends one to
    the worker that reads the member (inputs.ZipRef), and a tuple pickles at a third of a dataclass's cost."""

    name: str
    flags: int
    method: int
    crc: int
    compressed_size: int
    size: int
    header_offset: int

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")

    @property
    def is_link(self) -> bool:
        return bool(self.flags & FLAG_LINK)


# -- reading --------------------------------------------------------------------------------------


class ZipReader:
    """Walks a ZIP archive's central directory lazily and reads single members on demand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: BinaryIO = path.open("rb")
        try:
            self.count, self._cd_offset, self._cd_size = self._find_directory()
        except (OSError, struct.error) as exc:
            self._data.close()
            raise ZipFormatError(f"not a readable ZIP archive: {exc}") from None
        except ZipFormatError:
            self._data.close()
            raise

    def identity(self) -> tuple[int, int, int, int]:
        """What tells this file from another at its path, or from itself rewritten: device, inode, size, mtime."""
        st = os.fstat(self._data.fileno())
        return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns

    def close(self) -> None:
        self._data.close()

    def __enter__(self) -> ZipReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _find_directory(self) -> tuple[int, int, int]:
        f = self._data
        size = f.seek(0, 2)
        tail_len = min(size, _END.size + 0xFFFF)
        f.seek(size - tail_len)
        tail = f.read(tail_len)
        pos = tail.rfind(END_SIG)
        if pos < 0 or pos + _END.size > len(tail):
            raise ZipFormatError("not a ZIP archive (no end-of-central-directory record)")
        _, _disk, _cd_disk, _on_disk, count, cd_size, cd_offset, _comment = _END.unpack_from(tail, pos)
        end_at = size - tail_len + pos
        if count == U16 or cd_size == U32 or cd_offset == U32:
            loc_at = end_at - _ZIP64_LOCATOR.size
            f.seek(loc_at)
            sig, _d, z64_at, _disks = _ZIP64_LOCATOR.unpack(f.read(_ZIP64_LOCATOR.size))
            if sig != ZIP64_LOCATOR_SIG:
                raise ZipFormatError("ZIP64 end record announced but its locator is missing")
            f.seek(z64_at)
            fields = _ZIP64_END.unpack(f.read(_ZIP64_END.size))
            if fields[0] != ZIP64_END_SIG:
                raise ZipFormatError("ZIP64 end-of-central-directory record is damaged")
            count, cd_size, cd_offset = fields[7], fields[8], fields[9]
            end_at = z64_at
        if cd_offset + cd_size > end_at:
            raise ZipFormatError("central directory lies outside the archive (truncated?)")
        return count, cd_offset, cd_size

    def entries(self) -> Iterator[ZipEntry]:
        """Every central-directory record in archive order; memory does not grow with the count.

        No two entries may share data: a ZIP whose entries overlap (a "zip bomb" of thousands of names for one
        compressed blob) is refused as damaged instead of being decompressed over and over. Entries listed in the
        order of their data are checked as they come; a directory in another order (valid, if rare) is checked
        once as a whole when the order first breaks (:meth:`_refuse_overlaps`)."""
        low = 0  # no entry may start before the end of the previous entry's data (-1: checked as a whole)
        for flags, method, crc, csize, usize, offset, raw_name in self._records():
            end = offset + _LOCAL.size + len(raw_name) + csize
            if offset < low:
                self._refuse_overlaps()
                low = -1
            if end > self._cd_offset:
                raise ZipFormatError("an entry's data runs into the central directory (archive damaged)")
            if low >= 0:
                low = end
            name = raw_name.decode("utf-8" if flags & FLAG_UTF8 else "cp437", errors="replace")
            yield ZipEntry(name, flags, method, crc, csize, usize, offset)

    def _records(self) -> Iterator[tuple[int, int, int, int, int, int, bytes]]:
        """(flags, method, crc, compressed size, size, offset, raw name) of each central-directory record."""
        with self.path.open("rb", buffering=1 << 16) as cd:
            cd.seek(self._cd_offset)
            for _ in range(self.count):
                head = cd.read(_CENTRAL.size)
                if len(head) < _CENTRAL.size or head[:4] != CENTRAL_SIG:
                    raise ZipFormatError("central directory is damaged (fewer entries than it announces?)")
                (_, made, _need, flags, method, _time, _date, crc, csize, usize, nlen, xlen, clen, _disk,
                 _iattr, eattr, offset) = _CENTRAL.unpack(head)
                if made >> 8 == _UNIX and (eattr >> 16) & _MODE_TYPE == _MODE_LINK:
                    flags |= FLAG_LINK
                raw_name = cd.read(nlen)
                extra = cd.read(xlen)
                cd.seek(clen, 1)
                if U32 in (csize, usize, offset):
                    usize, csize, offset = _zip64_extra(extra, usize, csize, offset)
                yield flags, method, crc, csize, usize, offset, raw_name
            if cd.tell() - self._cd_offset < self._cd_size:  # members the count leaves out would go unreported
                raise ZipFormatError(f"central directory holds more entries than the {self.count} it announces")

    def _refuse_overlaps(self) -> None:
        """Raise unless the entries' data spans are disjoint, in whatever order the directory lists them.

        Spans are disjoint exactly when, starts and ends each sorted, every start from the second on lies at or
        after the end before it (an overlap leaves more spans begun than ended at its inner start). 16 bytes an
        entry, once, and only for a directory out of data order."""
        starts, ends = array("Q"), array("Q")
        for _, _, _, csize, _, offset, raw_name in self._records():
            starts.append(offset)
            ends.append(offset + _LOCAL.size + len(raw_name) + csize)
        starts, ends = array("Q", sorted(starts)), array("Q", sorted(ends))
        if any(starts[i + 1] < ends[i] for i in range(len(starts) - 1)):
            raise ZipFormatError("entries overlap (several names share one member's data: a zip bomb?)")

    def read(self, entry: ZipEntry, limit: int) -> bytes:
        """The member's bytes, checked against its CRC; refuses members larger than ``limit``.

        The declared size is only a first check: what is decompressed is capped at ``limit`` for
        every method, so a member that lies about its size costs at most ``limit`` bytes of memory.
        """
        if entry.flags & FLAG_ENCRYPTED:
            raise ZipFormatError("member is encrypted")
        if entry.size > limit:
            raise ZipFormatError(f"member is {entry.size} bytes, more than the limit of {limit}")
        if entry.size > BOMB_FLOOR and entry.size > MAX_RATIO * max(entry.compressed_size, 1):
            raise ZipFormatError(f"member expands {entry.size // max(entry.compressed_size, 1):,} times, more than "
                                 f"{MAX_RATIO:,} (a decompression bomb?): refused unread")
        if entry.method not in (STORED, DEFLATED, BZIP2):
            raise ZipFormatError(f"unsupported compression method {entry.method}")
        data = _decompressed(self._at_data(entry), entry, limit)
        if len(data) > limit:
            raise ZipFormatError(f"member decompresses to more than the limit of {limit} bytes")
        if len(data) != entry.size or crc32(data) != entry.crc:
            raise ZipFormatError("member data does not match its checksum (archive damaged)")
        return data

    def head(self, entry: ZipEntry, size: int) -> bytes:
        """At most the first ``size`` bytes of the member, decompressed; b"" for one :meth:`read` refuses anyway.

        Why: to tell a GGk envelope, which may be 25 MB, from another member above the 10 MB limit before its
        whole size is decompressed (batch/inputs.py). Not checked against the CRC: :meth:`read` does that."""
        if entry.flags & FLAG_ENCRYPTED or entry.method not in (STORED, DEFLATED, BZIP2):
            return b""
        f = self._at_data(entry)
        if entry.method == STORED:
            return f.read(min(size, entry.compressed_size))
        return _decompressed(f, entry, size)[:size]

    def _at_data(self, entry: ZipEntry) -> BinaryIO:
        """The archive's handle, at the first byte of ``entry``'s data (past its local header)."""
        f = self._data
        f.seek(entry.header_offset)
        head = f.read(_LOCAL.size)
        if len(head) < _LOCAL.size or head[:4] != LOCAL_SIG:
            raise ZipFormatError("local header missing (archive damaged)")
        nlen, xlen = _LOCAL.unpack(head)[9:11]
        f.seek(nlen + xlen, 1)
        return f


def _decompressed(f: BinaryIO, entry: ZipEntry, limit: int) -> bytes:
    """Read ``entry``'s compressed bytes piece by piece and decompress at most ``limit + 1`` bytes of them."""
    if entry.method == STORED:
        if entry.compressed_size > limit:
            raise ZipFormatError(f"member decompresses to more than the limit of {limit} bytes")
        raw = f.read(entry.compressed_size)
        if len(raw) < entry.compressed_size:
            raise ZipFormatError("member data is truncated")
        return raw
    engine = zlib.decompressobj(-15) if entry.method == DEFLATED else bz2.BZ2Decompressor()
    out = bytearray()
    left = entry.compressed_size
    try:
        while left > 0 and len(out) <= limit:
            piece = f.read(min(left, 1 << 16))
            if not piece:
                raise ZipFormatError("member data is truncated")
            left -= len(piece)
            out += engine.decompress(piece, limit + 1 - len(out))
            while len(out) <= limit and (more := _drain(engine, limit + 1 - len(out))):
                out += more
    except (zlib.error, OSError, ValueError, EOFError) as exc:
        raise ZipFormatError(f"member data is corrupt: {exc}") from None
    return bytes(out)


def _drain(engine: zlib._Decompress | bz2.BZ2Decompressor, room: int) -> bytes:
    """More output from input a decompressor already holds (its last output was capped at ``room``)."""
    if isinstance(engine, bz2.BZ2Decompressor):
        return b"" if engine.needs_input or engine.eof else engine.decompress(b"", room)
    tail = engine.unconsumed_tail
    return engine.decompress(tail, room) if tail else b""


def _zip64_extra(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<2H", extra, pos)
        body = extra[pos + 4: pos + 4 + length]
        if tag == 0x0001:
            values = list(struct.unpack_from(f"<{len(body) // 8}Q", body))
            if usize == U32 and values:
                usize = values.pop(0)
            if csize == U32 and values:
                csize = values.pop(0)
            if offset == U32 and values:
                offset = values.pop(0)
            return usize, csize, offset
        pos += 4 + length
    raise ZipFormatError("ZIP64 sizes announced but the extra field is missing")


# -- writing --------------------------------------------------------------------------------------


def dos_time(epoch_seconds: int) -> tuple[int, int]:
    """(time, date) in MS-DOS format for a UTC epoch timestamp, clamped to 1980."""
    import time

    t = time.gmtime(max(epoch_seconds, 315532800))
    clock = (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2)
    return clock, ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday


@dataclass(frozen=True, slots=True)
class CentralRecord:
    """What the central directory needs about an entry, with its offset relative to a packed blob."""

    name: bytes
    crc: int
    compressed_size: int
    size: int
    method: int
    relative_offset: int


def local_entry(name: str, data: bytes, stamp: tuple[int, int], relative_offset: int,
                level: int = 1) -> tuple[bytes, CentralRecord]:
    """A complete local entry (header + deflated data, or stored at level 0) and its central record.

    Deflating a message of a few KB is a sizeable share of converting it, so the default is level 1,
    through ISA-L when installed (ISA-L's cheapest level: a 3.7 KB zakLk01 in 4.5 µs, zlib's cheapest 33 µs).
    """
    raw_name = name.encode("utf-8")
    crc = crc32(data)
    body, method = data, STORED
    if level:
        packed = deflate(data, level)
        if len(packed) < len(data):
            body, method = packed, DEFLATED
    head = _LOCAL.pack(LOCAL_SIG, 20, FLAG_UTF8, method, stamp[0], stamp[1], crc, len(body), len(data),
                       len(raw_name), 0)
    return head + raw_name + body, CentralRecord(raw_name, crc, len(body), len(data), method, relative_offset)


ISAL_LEVELS = (0, 0, 1, 2, 3, 3, 3, 3, 3, 3)
"""ISA-L's level (0-3) for each ZIP level 0-9 (0 itself stores). ISA-L's own level 0 is a real deflate, the cheapest
(4.5 µs against 11.5 at its level 1 for a 3.7 KB zakLk01, ~20% larger): level 1, "the fastest", writes it."""


def deflate(data: bytes, level: int) -> bytes:
    """Raw DEFLATE (no zlib header) at ``level`` 1-9 (:data:`ISAL_LEVELS` through ISA-L)."""
    if deflate_lib is zlib:
        packer = zlib.compressobj(level, zlib.DEFLATED, -12, 5)  # small window: less set-up per message
        return packer.compress(data) + packer.flush()
    return deflate_lib.compress(data, ISAL_LEVELS[level], -15)


def central_entry(record: CentralRecord, offset: int, stamp: tuple[int, int]) -> bytes:
    """The central-directory record for an entry whose local header starts at ``offset``."""
    extra = b""
    stored_offset = offset
    need = 20
    if offset >= U32:
        extra = struct.pack("<2HQ", 0x0001, 8, offset)
        stored_offset, need = U32, 45
    head = _CENTRAL.pack(CENTRAL_SIG, _MADE_BY, need, FLAG_UTF8, record.method, stamp[0], stamp[1], record.crc,
                         record.compressed_size, record.size, len(record.name), len(extra), 0, 0, 0, _FILE_ATTRS,
                         stored_offset)
    return head + record.name + extra


def end_records(count: int, cd_offset: int, cd_size: int) -> bytes:
    """End-of-central-directory, preceded by the ZIP64 end record and locator when the numbers need it."""
    if count < U16 and cd_offset < U32 and cd_size < U32:
        return _END.pack(END_SIG, 0, 0, count, count, cd_size, cd_offset, 0)
    z64_at = cd_offset + cd_size
    z64 = _ZIP64_END.pack(ZIP64_END_SIG, _ZIP64_END.size - 12, _MADE_BY, 45, 0, 0, count, count, cd_size, cd_offset)
    locator = _ZIP64_LOCATOR.pack(ZIP64_LOCATOR_SIG, 0, z64_at, 1)
    return z64 + locator + _END.pack(END_SIG, 0, 0, U16, U16, U32, U32, 0)


def stream_entry(out: BinaryIO, name: str, chunks: Iterator[bytes], stamp: tuple[int, int]) -> CentralRecord:
    """Append an entry whose content arrives in pieces (e.g. a large report); patches sizes afterwards."""
    raw_name = name.encode("utf-8")
    start = out.tell()
    out.write(_LOCAL.pack(LOCAL_SIG, 20, FLAG_UTF8, DEFLATED, stamp[0], stamp[1], 0, 0, 0, len(raw_name), 0))
    out.write(raw_name)
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    crc = size = written = 0
    for piece in chunks:
        crc = crc32(piece, crc)
        size += len(piece)
        body = packer.compress(piece)
        out.write(body)
        written += len(body)
    tail = packer.flush()
    out.write(tail)
    written += len(tail)
    if size >= U32 or written >= U32:
        raise ZipFormatError(f"{name} is larger than 4 GB; write the output as a folder or .tar.gz instead")
    end = out.tell()
    out.seek(start + 14)
    out.write(struct.pack("<3L", crc, written, size))
    out.seek(end)
    return CentralRecord(raw_name, crc, written, size, DEFLATED, start)
