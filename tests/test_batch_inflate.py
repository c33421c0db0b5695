"""Input members are inflated by zlib, which refuses a stream its format forbids even when the member's size and
CRC are right; ISA-L inflates such a stream without a word (measured in the tenth session: a faster read of the
input, dropped for this). A member every ZIP reader but a lenient one calls corrupt must fail here too, in zlib's
words, and not be converted.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from gateway.batch.zipformat import ZipFormatError, ZipReader

MESSAGE = b"<bericht><code>301</code><tekst>abcabc</tekst></bericht>"


class _Bits:
    """DEFLATE's bit order: fields least significant bit first, Huffman codes most significant bit first."""

    def __init__(self) -> None:
        self.bits: list[int] = []

    def field(self, value: int, width: int) -> None:
        self.bits += [(value >> i) & 1 for i in range(width)]

    def code(self, value: int, width: int) -> None:
        self.bits += [(value >> i) & 1 for i in reversed(range(width))]

    def packed(self) -> bytes:
        bits = self.bits + [0] * (-len(self.bits) % 8)
        return bytes(sum(bits[i + j] << j for j in range(8)) for i in range(0, len(bits), 8))


def incomplete_code_stream(data: bytes) -> bytes:
    """One dynamic-Huffman block (RFC 1951 3.2.7) whose literal/length code is incomplete: every symbol used gets
    the same length L with 2**L more than the symbols, so codes are left unassigned. zlib refuses it ("invalid
    literal/lengths set"); a decoder that does not check completeness reads ``data`` back."""
    used = [*sorted(set(data)), 256]
    width = max(1, len(used).bit_length())
    assert 2 ** width > len(used)
    lengths = [width if s in used else 0 for s in range(257)] + [2 if width != 2 else 3]  # + one distance code
    out = _Bits()
    out.field(1, 1)  # last block
    out.field(2, 2)  # dynamic Huffman
    out.field(0, 5)  # 257 literal/length codes
    out.field(0, 5)  # 1 distance code
    order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
    code_lengths = {0: 2, lengths[-1]: 2, width: 2, 18: 2}  # four code-length symbols of 2 bits: complete
    out.field(len(order) - 4, 4)
    for symbol in order:
        out.field(code_lengths.get(symbol, 0), 3)
    codes = {symbol: n for n, symbol in enumerate(sorted(code_lengths))}
    i = 0
    while i < len(lengths):
        if lengths[i] == 0:
            run = 0
            while i + run < len(lengths) and lengths[i + run] == 0 and run < 138:
                run += 1
            if run >= 11:
                out.code(codes[18], 2)
                out.field(run - 11, 7)
                i += run
                continue
        out.code(codes[lengths[i]], 2)
        i += 1
    literal = {symbol: n for n, symbol in enumerate(used)}  # canonical codes: one length, in symbol order
    for byte in data:
        out.code(literal[byte], width)
    out.code(literal[256], width)
    return out.packed()


def one_member_zip(path: Path, name: bytes, data: bytes, stream: bytes) -> Path:
    crc = zlib.crc32(data)
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(stream), len(data), len(name), 0)
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(stream), len(data),
                          len(name), 0, 0, 0, 0, 0, 0)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central) + len(name), len(local) + len(name)
                      + len(stream), 0)
    path.write_bytes(local + name + stream + central + name + end)
    return path


def test_the_crafted_stream_is_what_the_test_says() -> None:
    stream = incomplete_code_stream(MESSAGE)
    with pytest.raises(zlib.error, match="invalid literal/lengths set"):
        zlib.decompressobj(-15).decompress(stream)
    isal = pytest.importorskip("isal.isal_zlib")
    assert isal.decompressobj(-15).decompress(stream) == MESSAGE  # the lenient reader this test guards against


def test_a_member_zlib_refuses_is_refused_though_its_size_and_crc_match(tmp_path: Path) -> None:
    path = one_member_zip(tmp_path / "m.zip", b"m.xml", MESSAGE, incomplete_code_stream(MESSAGE))
    with ZipReader(path) as reader:
        (entry,) = list(reader.entries())
        assert (entry.size, entry.crc) == (len(MESSAGE), zlib.crc32(MESSAGE))
        with pytest.raises(ZipFormatError, match=r"member data is corrupt: .*invalid literal/lengths set"):
            reader.read(entry, 1 << 20)


def test_an_intact_member_reads_back(tmp_path: Path) -> None:
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    path = one_member_zip(tmp_path / "ok.zip", b"ok.xml", MESSAGE, packer.compress(MESSAGE) + packer.flush())
    with ZipReader(path) as reader:
        (entry,) = list(reader.entries())
        assert reader.read(entry, 1 << 20) == MESSAGE
