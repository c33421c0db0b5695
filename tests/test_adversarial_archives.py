"""Every archive limit made observable, and every ZIP/tar error path run (issue 11 item 4, issue 18).

Each limit test fails when its limit alone is switched off: the member-size checks by their exact
message, the decompression cap by the memory a lying member may cost (tracemalloc), and each error
path by its exact reason. Archives are built here, by zipfile/tarfile or byte by byte. Every test runs
twice: with the members read as they are listed, and with ZIP members handed on unread and read the way a
batch worker reads them (``defer_zip``, :func:`member_bytes`): the same limits, the same reasons.
"""

from __future__ import annotations

import io
import struct
import tarfile
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest

from gateway.batch.inputs import Inputs, Member, ZipRef, member_bytes

LIMIT = 1 << 20  # 1 MiB: the members below are 64 times that once decompressed
U32 = 0xFFFFFFFF
DEFER = [False]


@pytest.fixture(autouse=True, params=[False, True], ids=["read-listed", "read-by-worker"])
def deferred(request: pytest.FixtureRequest) -> None:
    DEFER[0] = request.param


def members(path: Path, limit: int = LIMIT) -> list[Member]:
    found = list(Inputs([path], max_bytes=limit, defer_zip=DEFER[0]).members())
    for member in found:
        if isinstance(member.data, ZipRef):
            member.data, member.problem = member_bytes(member.data, limit)
    return found


def problems(path: Path, limit: int = LIMIT) -> dict[str, str | None]:
    return {m.key: m.problem for m in members(path, limit)}


def patch_central(path: Path, **fields: int) -> None:
    """Rewrite fields of the first central-directory record (flags, method, size, crc)."""
    raw = bytearray(path.read_bytes())
    at = raw.find(b"PK\x01\x02")
    offsets = {"flags": (8, "<H"), "method": (10, "<H"), "crc": (16, "<L"), "size": (24, "<L")}
    for name, value in fields.items():
        offset, fmt = offsets[name]
        struct.pack_into(fmt, raw, at + offset, value)
    path.write_bytes(bytes(raw))


# -- the four limits ------------------------------------------------------------------------------------------


def test_zip_member_size_limit_refuses_by_declared_size(tmp_path: Path) -> None:
    path = tmp_path / "z.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.xml", b"<x>" + b"a" * 2000 + b"</x>")
        zf.writestr("small.xml", b"<x/>")
    assert problems(path, 1000) == {"z.zip/big.xml": "member is 2007 bytes, more than the limit of 1000",
                                    "z.zip/small.xml": None}


def test_the_zip_reader_itself_refuses_a_member_by_its_declared_size(tmp_path: Path) -> None:
    """The batch checks the declared size before it asks the reader (inputs.read_zip_member), so the mutant
    ``zip-member-size-limit-off`` of the reader's own check survived (session 24's run): any other caller of
    ``ZipReader.read`` must be refused as well, before anything is inflated."""
    from gateway.batch.zipformat import ZipFormatError, ZipReader

    path = tmp_path / "z.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.xml", b"<x>" + b"a" * 2000 + b"</x>")
    with ZipReader(path) as reader:
        entry = next(reader.entries())
        with pytest.raises(ZipFormatError, match=r"^member is 2007 bytes, more than the limit of 1000$"):
            reader.read(entry, 1000)


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_STORED])
def test_zip_decompression_is_capped_whatever_the_member_claims(tmp_path: Path, method: int) -> None:
    """A member that claims 100 bytes but holds 64 MiB: at most the limit is decompressed, for every method."""
    path = tmp_path / "liar.zip"
    with zipfile.ZipFile(path, "w", method) as zf:
        zf.writestr("liar.xml", b"\0" * (64 * LIMIT))
    patch_central(path, size=100)
    tracemalloc.start()
    try:
        found = problems(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert found == {"liar.zip/liar.xml": f"member decompresses to more than the limit of {LIMIT} bytes"}
    assert peak < 8 * LIMIT, f"decompressing the lying member cost {peak:,} bytes"


def test_tar_member_limit(tmp_path: Path) -> None:
    path = tmp_path / "t.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for name, size in (("big.xml", 2000), ("small.xml", 10)):
            info = tarfile.TarInfo(name)
            info.size = size
            tf.addfile(info, io.BytesIO(b"a" * size))
    assert problems(path, 1000) == {"t.tar.gz/big.xml": "member is 2000 bytes, more than the limit of 1000",
                                    "t.tar.gz/small.xml": None}


def test_plain_file_limit(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "big.xml").write_bytes(b"a" * 2000)
    (tmp_path / "in" / "small.xml").write_bytes(b"a" * 1000)
    found = {m.key: (m.problem, len(m.data)) for m in Inputs([tmp_path / "in"], max_bytes=1000).members()}
    assert found == {"in/big.xml": ("file is more than the limit of 1000 bytes", 0), "in/small.xml": (None, 1000)}


# -- every ZIP error path --------------------------------------------------------------------------------------


def one_member_zip(path: Path, data: bytes = b"<x/>", method: int = zipfile.ZIP_DEFLATED) -> None:
    with zipfile.ZipFile(path, "w", method) as zf:
        zf.writestr("m.xml", data)


def test_encrypted_member(tmp_path: Path) -> None:
    one_member_zip(tmp_path / "e.zip")
    patch_central(tmp_path / "e.zip", flags=0x1)
    assert problems(tmp_path / "e.zip") == {"e.zip/m.xml": "member is encrypted"}


def test_unsupported_method(tmp_path: Path) -> None:
    one_member_zip(tmp_path / "u.zip")
    patch_central(tmp_path / "u.zip", method=14)  # LZMA
    assert problems(tmp_path / "u.zip") == {"u.zip/m.xml": "unsupported compression method 14"}


def test_checksum_mismatch(tmp_path: Path) -> None:
    one_member_zip(tmp_path / "c.zip")
    patch_central(tmp_path / "c.zip", crc=1234)
    assert problems(tmp_path / "c.zip") == {"c.zip/m.xml": "member data does not match its checksum (archive damaged)"}


def test_corrupt_deflate_and_bzip2_data(tmp_path: Path) -> None:
    for method, name in ((zipfile.ZIP_DEFLATED, "d.zip"), (zipfile.ZIP_BZIP2, "b.zip")):
        one_member_zip(tmp_path / name, b"<x>" + bytes(range(256)) * 40 + b"</x>", method)
        raw = bytearray((tmp_path / name).read_bytes())
        start = raw.find(b"m.xml") + 5
        raw[start + 4: start + 40] = b"\xff" * 36
        (tmp_path / name).write_bytes(bytes(raw))
        problem = problems(tmp_path / name)[f"{name}/m.xml"]
        assert problem is not None and problem.startswith("member data is corrupt: "), problem


def test_truncated_archive(tmp_path: Path) -> None:
    one_member_zip(tmp_path / "t.zip", b"<x>" + b"y" * 5000 + b"</x>")
    raw = (tmp_path / "t.zip").read_bytes()
    (tmp_path / "t.zip").write_bytes(raw[: len(raw) // 2])
    found = members(tmp_path / "t.zip")
    assert [(m.key, m.problem, m.whole) for m in found] == [
        ("t.zip", "cannot open ZIP archive: not a ZIP archive (no end-of-central-directory record)", True)]


def test_entry_data_running_into_the_directory(tmp_path: Path) -> None:
    one_member_zip(tmp_path / "r.zip", method=zipfile.ZIP_STORED)
    raw = bytearray((tmp_path / "r.zip").read_bytes())
    struct.pack_into("<L", raw, raw.find(b"PK\x01\x02") + 20, 5000)  # compressed size past the directory
    (tmp_path / "r.zip").write_bytes(bytes(raw))
    assert problems(tmp_path / "r.zip") == {
        "r.zip": "ZIP archive damaged: an entry's data runs into the central directory (archive damaged)"}


def zip64_archive(path: Path, data: bytes, with_extra: bool) -> None:
    """A one-entry ZIP whose central record says 0xFFFFFFFF for both sizes and keeps them in a ZIP64 extra."""
    name = b"m.xml"
    crc = zlib.crc32(data)
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 45, 0, 0, 0, 0, crc, len(data), len(data), len(name), 0)
    extra = struct.pack("<2H2Q", 0x0001, 16, len(data), len(data)) if with_extra else b""
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 45, 45, 0, 0, 0, 0, crc, U32, U32, len(name), len(extra),
                          0, 0, 0, 0, 0) + name + extra
    body = local + name + data
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(body), 0)
    path.write_bytes(body + central + end)


def test_zip64_extra_field_sizes_are_read(tmp_path: Path) -> None:
    zip64_archive(tmp_path / "z64.zip", b"<x>zip64</x>", with_extra=True)
    assert [(m.key, m.data, m.problem) for m in members(tmp_path / "z64.zip")] == [
        ("z64.zip/m.xml", b"<x>zip64</x>", None)]


def test_zip64_sizes_without_the_extra_field(tmp_path: Path) -> None:
    zip64_archive(tmp_path / "bad64.zip", b"<x/>", with_extra=False)
    assert problems(tmp_path / "bad64.zip") == {
        "bad64.zip": "ZIP archive damaged: ZIP64 sizes announced but the extra field is missing"}


def test_zip64_end_record_without_locator(tmp_path: Path) -> None:
    one_member_zip(tmp_path / "l.zip")
    raw = bytearray((tmp_path / "l.zip").read_bytes())
    struct.pack_into("<2H", raw, raw.rfind(b"PK\x05\x06") + 8, 0xFFFF, 0xFFFF)
    (tmp_path / "l.zip").write_bytes(bytes(raw))
    assert problems(tmp_path / "l.zip") == {
        "l.zip": "cannot open ZIP archive: ZIP64 end record announced but its locator is missing"}


# -- every tar error path --------------------------------------------------------------------------------------


def test_tar_that_is_no_tar(tmp_path: Path) -> None:
    (tmp_path / "n.tar.gz").write_bytes(b"\x1f\x8b" + b"garbage" * 20)
    found = members(tmp_path / "n.tar.gz")
    assert len(found) == 1 and found[0].key == "n.tar.gz" and found[0].whole
    assert str(found[0].problem).startswith("cannot open tar archive: ")


def test_tar_bz2_and_xz_members_are_capped_too(tmp_path: Path) -> None:
    """Text that compresses as messages do (numbers in markup, ~10-30 times); a member of zeros, which expands
    thousands of times, ends the stream as a bomb instead (test_adversarial_batch)."""
    text = b"".join(b"<v>%07d</v>\n" % i for i in range(4 * LIMIT // 13 + 1))[:4 * LIMIT]
    for mode, name in (("w:bz2", "b.tar.bz2"), ("w:xz", "x.tar.xz")):
        with tarfile.open(tmp_path / name, mode) as tf:
            info = tarfile.TarInfo("huge.xml")
            info.size = 4 * LIMIT
            tf.addfile(info, io.BytesIO(text))
        assert problems(tmp_path / name) == {f"{name}/huge.xml": f"member is {4 * LIMIT} bytes, more than the "
                                                                  f"limit of {LIMIT}"}


def test_tar_member_data_cut_short(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("m.xml")
        info.size = 10_000
        tf.addfile(info, io.BytesIO(b"a" * 10_000))
    (tmp_path / "cut.tar").write_bytes(buf.getvalue()[:4096])
    found = members(tmp_path / "cut.tar")
    assert found[0].key == "cut.tar/m.xml"
    assert str(found[0].problem).startswith("member data is truncated or corrupt: ")

