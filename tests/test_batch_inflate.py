"""Archive members inflated by ISA-L first must read exactly as zlib read them, damaged ones included.

Why: the parent reads every member of a batch's input; ISA-L inflates a message in half zlib's time, but a
damaged member's report line and ``.reason`` quote zlib's words. Only ISA-L output with the member's declared
size and CRC is taken; everything else is read again by zlib. Held here against the zlib-only reader over
intact members and over members corrupted byte by byte, truncated, or with a wrong size or CRC.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.batch import zipformat
from gateway.batch.zipformat import ZipFormatError, ZipReader

pytestmark = pytest.mark.skipif(zipformat.FAST_INFLATE == 0, reason="no ISA-L on this platform")
LIMIT = 1 << 20


def outcome(path: Path, fast: bool, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Per member: its bytes, or the text of the error reading it raised."""
    monkeypatch.setattr(zipformat, "FAST_INFLATE", (1 << 16) if fast else 0)
    got: list[object] = []
    with ZipReader(path) as reader:
        for entry in reader.entries():
            try:
                got.append(reader.read(entry, LIMIT))
            except ZipFormatError as exc:
                got.append(f"error: {exc}")
    return got


def write(path: Path, members: list[bytes], level: int) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        for n, data in enumerate(members):
            zf.writestr(f"m{n}.xml", data)
    return path


text = st.one_of(st.binary(max_size=3000), st.text(max_size=2000).map(str.encode),
                 st.sampled_from([b"<a>" + b"x" * 5000 + b"</a>", b""]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(text, min_size=1, max_size=4), st.integers(0, 9))
def test_intact_members_read_as_they_were_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  members: list[bytes], level: int) -> None:
    path = write(tmp_path / "a.zip", members, level)
    assert outcome(path, True, monkeypatch) == members == outcome(path, False, monkeypatch)


def damage(path: Path, how: str, at: int, byte: int) -> None:
    """Damage the first member's compressed data, or its declared size or CRC in the central directory."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.infolist()[0]
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    cd = data.rfind(b"PK\x01\x02", 0, data.rfind(b"PK\x05\x06"))  # one member: its central record
    if how == "byte" and info.compress_size:
        data[start + at % info.compress_size] ^= byte or 1
    elif how == "crc":
        struct.pack_into("<L", data, cd + 16, (info.CRC + byte + 1) & 0xFFFFFFFF)
    elif how == "size":
        struct.pack_into("<L", data, cd + 24, max(0, info.file_size + (byte % 7) - 3))
    elif how == "cut":  # the stream's end replaced by zeros
        cut = at % (info.compress_size + 1)
        data[start + cut:start + info.compress_size] = bytes(info.compress_size - cut)
    path.write_bytes(bytes(data))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text, st.sampled_from(["byte", "crc", "size", "cut"]), st.integers(0, 10_000), st.integers(0, 255),
       st.integers(1, 9))
def test_a_damaged_member_fails_in_zlibs_words_as_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         member: bytes, how: str, at: int, byte: int,
                                                         level: int) -> None:
    path = write(tmp_path / "d.zip", [member], level)
    damage(path, how, at, byte)
    assert outcome(path, True, monkeypatch) == outcome(path, False, monkeypatch)


def test_a_corrupt_stream_reads_with_zlibs_error_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "c.zip", [b"<bericht>" + b"abc" * 400 + b"</bericht>"], 6)
    damage(path, "byte", 0, 0xFF)  # the first block's header
    assert outcome(path, True, monkeypatch) == outcome(path, False, monkeypatch) == [
        "error: member data is corrupt: Error -3 while decompressing data: invalid code lengths set"]
