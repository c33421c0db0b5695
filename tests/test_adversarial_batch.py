"""Hostile and damaged archives through ``overstap batch`` (issue 11, items 2, 5, 10 and 12): archives built
here, run for real, and the safe outcome asserted — every member in the report, nothing written outside
OUT, archive output that extracts, a quarantine that cannot fill the disk, never a crash with exit 1.
"""

from __future__ import annotations

import io
import json
import os
import struct
import tarfile
import warnings
import zipfile
from pathlib import Path

import pytest
from batch_corpus import IDENT, varied
from click.testing import CliRunner

from gateway.batch import EXIT_INTERNAL, BatchOptions, Limits, run, sinks
from gateway.batch.keys import QUARANTINE
from gateway.cli import main

GOOD = varied(6)


def report(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "report.jsonl").read_text().splitlines()]


def batch(inputs: list[Path], out: Path, **options: object) -> tuple[int, list[dict[str, object]]]:
    outcome = run(BatchOptions(inputs, out, validate=False, progress="quiet", **options))  # type: ignore[arg-type]
    return outcome.exit_code, report(out)


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# -- item 2: two members for one output path, damaged archives: reported, never a crash ------------------------


def clash_zip(path: Path) -> None:
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as zf:
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name we write on purpose
        zf.writestr("a.xml", b"not a message")            # fails: quarantine/clash.zip/a.xml is a file ...
        zf.writestr("a.xml/b.xml", GOOD[0][1])            # ... and this one needs a folder of that name
        zf.writestr("a.xml/c.xml", b"broken too")         # quarantined under that folder name as well
        zf.writestr("d.xml", GOOD[1][1])
        zf.writestr("d.xml", b"same name again")          # a duplicate name: must not overwrite the first


def _data_only(tf: tarfile.TarFile) -> dict[str, str]:
    """``extractall``'s ``filter="data"`` (PEP 706: Python 3.11.4+; Debian bookworm's 3.11.2 lacks it); before it,
    the same refusals checked here: only plain files and folders, every name relative and inside the target."""
    if hasattr(tarfile, "data_filter"):
        return {"filter": "data"}
    for member in tf.getmembers():
        assert member.isfile() or member.isdir(), member.name
        assert not member.name.startswith("/") and ".." not in member.name.split("/"), member.name
    return {}


@pytest.mark.parametrize("sink", ["out", "out.zip", "out.tar.gz"])
def test_members_a_xml_and_a_xml_slash_b_xml_both_land_and_output_extracts(tmp_path: Path, sink: str) -> None:
    clash_zip(tmp_path / "clash.zip")
    outcome = run(BatchOptions([tmp_path / "clash.zip"], tmp_path / sink, validate=False, progress="quiet",
                               workers=1))
    assert outcome.exit_code == 1
    folder = tmp_path / "x"
    if sink == "out":
        folder = tmp_path / sink
    elif sink.endswith(".zip"):
        with zipfile.ZipFile(tmp_path / sink) as zf:
            zf.extractall(folder)  # a file/folder clash inside would raise here
    else:
        with tarfile.open(tmp_path / sink) as tf:
            tf.extractall(folder, **_data_only(tf))
    lines = report(folder)
    keys = [line["source"] for line in lines]
    assert keys == ["clash.zip/a.xml", "clash.zip/a.xml~b.xml~1", "clash.zip/a.xml~c.xml~2", "clash.zip/d.xml",
                    "clash.zip/d.xml~4"]
    assert [line["status"] for line in lines] == ["failed", "ok", "failed", "ok", "failed"]
    files = files_under(folder)
    assert files[f"{QUARANTINE}/clash.zip/a.xml"] == b"not a message"
    assert files[f"{QUARANTINE}/clash.zip/a.xml~c.xml~2"] == b"broken too"
    assert files[f"{QUARANTINE}/clash.zip/d.xml~4"] == b"same name again"
    assert all(folder.joinpath(str(o)).is_file() for line in lines if line["status"] == "ok"
               for o in line["outputs"])  # type: ignore[union-attr]


def truncated_targz(path: Path, count: int) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in varied(count):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    path.write_bytes(raw[: len(raw) * 2 // 3])


def lying_zip(path: Path) -> None:
    """A ZIP whose end record announces more entries than its central directory holds."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in GOOD[:3]:
            zf.writestr(name, data)
    raw = bytearray(path.read_bytes())
    end = raw.rfind(b"PK\x05\x06")
    struct.pack_into("<2H", raw, end + 8, 9, 9)
    path.write_bytes(bytes(raw))


def test_damaged_archives_are_reported_and_later_inputs_still_convert(tmp_path: Path) -> None:
    truncated_targz(tmp_path / "cut.tar.gz", 30)
    lying_zip(tmp_path / "lying.zip")
    (tmp_path / "last.xml").write_bytes(GOOD[4][1])
    inputs = [tmp_path / "cut.tar.gz", tmp_path / "lying.zip", tmp_path / "last.xml"]
    code, lines = batch(inputs, tmp_path / "out", workers=1)
    assert code == 1
    damaged = [line for line in lines if line["source"] in ("cut.tar.gz", "lying.zip")]
    assert [d["source"] for d in damaged] == ["cut.tar.gz", "lying.zip"]
    assert str(damaged[0]["error"]["message"]).startswith("tar archive damaged after ")  # type: ignore[index]
    assert damaged[1]["error"]["message"] == (  # type: ignore[index]
        "ZIP archive damaged: central directory is damaged (fewer entries than it announces?)")
    assert damaged[1]["quarantine"] == f"{QUARANTINE}/lying.zip.reason"
    assert sum(1 for line in lines if str(line["source"]).startswith("lying.zip/")) == 3
    assert lines[-1]["source"] == "last.xml" and lines[-1]["status"] == "ok"
    assert (tmp_path / "out" / QUARANTINE / "cut.tar.gz.reason").read_text().startswith("source: cut.tar.gz\n")
    again = run(BatchOptions(inputs, tmp_path / "out", validate=False, progress="quiet", workers=1, resume=True))
    assert again.exit_code == 1 and report(tmp_path / "out") == lines


def test_an_internal_error_exits_3_and_resume_finishes_the_run(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in the parent is exit 3 (a Job must not read it as "some inputs failed"), and --resume then
    completes the run with every member reported once."""
    clash_zip(tmp_path / "in.zip")
    original = sinks.FolderSink.append
    calls = []

    def failing(self: sinks.FolderSink, payload: object, lines: bytes) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("injected fault")
        original(self, payload, lines)

    monkeypatch.setattr(sinks.FolderSink, "append", failing)
    args = ["batch", str(tmp_path / "in.zip"), "--out", str(tmp_path / "out"), "--no-validate", "--workers", "0",
            "--chunk-size", "1", "--commit-interval", "0", "-q"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == EXIT_INTERNAL == 3
    assert "internal error: RuntimeError" in first.output
    monkeypatch.setattr(sinks.FolderSink, "append", original)
    second = CliRunner().invoke(main, [*args, "--resume"])
    assert second.exit_code == 1, second.output
    assert [line["source"] for line in report(tmp_path / "out")] == [
        "in.zip/a.xml", "in.zip/a.xml~b.xml~1", "in.zip/a.xml~c.xml~2", "in.zip/d.xml", "in.zip/d.xml~4"]


# -- item 5: the quarantine budget and overlapping zip entries -------------------------------------------------


def failing_zip(path: Path, count: int, size: int) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(count):
            zf.writestr(f"bad-{i:03d}.xml", b"x" * size)


@pytest.mark.parametrize(("limits", "copied"), [(Limits(max_files=5), 5), (Limits(max_bytes=25_000), 2)])
def test_the_quarantine_budget_stops_copies_not_reports(tmp_path: Path, limits: Limits, copied: int) -> None:
    failing_zip(tmp_path / "bad.zip", 40, 10_000)
    code, lines = batch([tmp_path / "bad.zip"], tmp_path / "out", workers=2, chunk_size=4, quarantine=limits)
    assert code == 1 and len(lines) == 40 and all(line["status"] == "failed" for line in lines)
    kept = [line for line in lines if line["quarantine"]]
    assert len(kept) == copied
    note = ("not copied to quarantine: the quarantine budget "
            f"({limits.max_files:,} files, {limits.max_bytes:,} bytes) is used up")
    assert all(line["note"] == note for line in lines if not line["quarantine"])
    stored = files_under(tmp_path / "out" / QUARANTINE)
    assert len(stored) == 2 * copied
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["quarantined"] == {"files": copied, "bytes": sum(len(v) for v in stored.values())}


def overlapping_zip(path: Path, names: int) -> None:
    """One 4 MiB member of zeros and ``names`` central entries all pointing at its data (a zip bomb)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("m-0000.xml", b"\0" * (4 << 20))
    raw = path.read_bytes()
    cd = raw.find(b"PK\x01\x02")
    end = raw.rfind(b"PK\x05\x06")
    record = raw[cd:end]
    records = b"".join(record.replace(b"m-0000", b"m-%04d" % i) for i in range(names))
    tail = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, names, names, len(records), cd, 0)
    path.write_bytes(raw[:cd] + records + tail)


def _reordered(path: Path, order: list[int]) -> None:
    """Rewrite ``path``'s central directory with its records in ``order`` (valid ZIP: any order is allowed)."""
    raw = path.read_bytes()
    eocd = raw.rfind(b"PK\x05\x06")
    _, _, _, _, _, size, offset, _ = struct.unpack_from("<4s4H2LH", raw, eocd)
    records, at = [], offset
    while at < offset + size:
        nlen, xlen, clen = struct.unpack_from("<3H", raw, at + 28)
        records.append(raw[at:at + 46 + nlen + xlen + clen])
        at += 46 + nlen + xlen + clen
    path.write_bytes(raw[:offset] + b"".join(records[i] for i in order) + raw[offset + size:])


def test_a_directory_out_of_data_order_is_read_and_still_checked_for_overlaps(tmp_path: Path) -> None:
    """The central directory may list entries in any order (zipfile, unzip and 7z read such a ZIP): all of them
    convert; an entry sharing another's data is still refused however the directory orders them."""
    with zipfile.ZipFile(tmp_path / "in.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in GOOD[:4]:
            zf.writestr(name, data)
    _reordered(tmp_path / "in.zip", [3, 2, 1, 0])
    code, lines = batch([tmp_path / "in.zip"], tmp_path / "out", workers=0)
    assert code == 0 and len(lines) == 4 and {line["status"] for line in lines} == {"ok"}
    overlapping_zip(tmp_path / "bomb.zip", 3)
    _reordered(tmp_path / "bomb.zip", [2, 0, 1])
    code, lines = batch([tmp_path / "bomb.zip"], tmp_path / "out2", workers=0)
    assert code == 1 and lines[-1]["source"] == "bomb.zip"
    assert "entries overlap" in lines[-1]["error"]["message"]  # type: ignore[index]


def test_a_zip_of_overlapping_entries_is_refused_as_a_bomb(tmp_path: Path) -> None:
    overlapping_zip(tmp_path / "bomb.zip", 2000)
    assert (tmp_path / "bomb.zip").stat().st_size < 200_000
    code, lines = batch([tmp_path / "bomb.zip"], tmp_path / "out", workers=1,
                        quarantine=Limits(max_bytes=64 << 20))  # bounds a regression: 2,000 copies otherwise
    assert code == 1
    assert [line["source"] for line in lines] == ["bomb.zip/m-0000.xml", "bomb.zip"]
    assert lines[1]["error"]["message"] == (  # type: ignore[index]
        "ZIP archive damaged: entries overlap (several names share one member's data: a zip bomb?)")
    written = sum(len(v) for v in files_under(tmp_path / "out").values())
    assert written < 5 << 20, "one copy of the member at most, not 2,000"


# -- item 10: every member reported, nothing read outside the input ---------------------------------------------


def special_tar(path: Path) -> None:
    with tarfile.open(path, "w") as tf:
        for name, kind in (("dir", tarfile.DIRTYPE), ("link.xml", tarfile.SYMTYPE), ("hard.xml", tarfile.LNKTYPE),
                           ("fifo.xml", tarfile.FIFOTYPE), ("tty.xml", tarfile.CHRTYPE),
                           ("disk.xml", tarfile.BLKTYPE)):
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = "/etc/passwd" if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
            tf.addfile(info)
        info = tarfile.TarInfo("real.xml")
        info.size = len(GOOD[2][1])
        tf.addfile(info, io.BytesIO(GOOD[2][1]))


def test_tar_links_fifos_and_devices_each_get_a_report_line(tmp_path: Path) -> None:
    special_tar(tmp_path / "s.tar")
    code, lines = batch([tmp_path / "s.tar"], tmp_path / "out", workers=0)
    assert code == 1
    why = {line["source"]: line["error"]["message"] if line["status"] == "failed" else "ok"  # type: ignore[index]
           for line in lines}
    tail = "member: refused (only regular files are messages; links are not followed)"
    assert why == {"s.tar/link.xml": f"tar symbolic link {tail}", "s.tar/hard.xml": f"tar hard link {tail}",
                   "s.tar/fifo.xml": f"tar FIFO {tail}", "s.tar/tty.xml": f"tar device {tail}",
                   "s.tar/disk.xml": f"tar device {tail}", "s.tar/real.xml": "ok"}


def test_a_folder_input_reads_nothing_outside_itself(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.xml").write_bytes(b"<secret>SECRET-MARKER</secret>")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.xml").write_bytes(GOOD[3][1])
    (folder / "passwd.xml").symlink_to(outside / "secret.xml")
    (folder / "elsewhere").symlink_to(outside)
    os.mkfifo(folder / "pipe.xml")  # opening it would block the run: it must be refused unopened
    code, lines = batch([folder], tmp_path / "out", workers=0)
    assert code == 1
    why = {line["source"]: line["error"]["message"] if line["status"] == "failed" else "ok"  # type: ignore[index]
           for line in lines}
    link = "symbolic link: refused (links in a folder input are not followed)"
    assert why == {"in/elsewhere": link, "in/good.xml": "ok", "in/passwd.xml": link,
                   "in/pipe.xml": "not a regular file (FIFO, socket or device): refused"}
    assert not any(b"SECRET-MARKER" in data for data in files_under(tmp_path / "out").values())


# -- item 12: names that could take another member's place; bounded reasons ------------------------------------


def test_a_member_named_like_a_reason_file_cannot_overwrite_it(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "r.zip", "w") as zf:
        zf.writestr("c.xml", b"broken c")
        zf.writestr("c.xml.reason", b"forged reason")
        zf.writestr("c.xml.reason~", b"forged again")
    code, lines = batch([tmp_path / "r.zip"], tmp_path / "out", workers=0)
    assert code == 1
    q = tmp_path / "out" / QUARANTINE / "r.zip"
    assert (q / "c.xml.reason").read_text().startswith("source: r.zip/c.xml\n")
    assert (q / "c.xml.reason~").read_bytes() == b"forged reason"
    assert (q / "c.xml.reason~.reason").read_text().startswith("source: r.zip/c.xml.reason\n")
    assert (q / "c.xml.reason~~").read_bytes() == b"forged again"
    assert [line["quarantine"] for line in lines] == [
        f"{QUARANTINE}/r.zip/c.xml", f"{QUARANTINE}/r.zip/c.xml.reason~", f"{QUARANTINE}/r.zip/c.xml.reason~~"]


def test_a_huge_error_text_is_capped_in_report_and_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.ingest import InputError
    from gateway.pipeline import Converter

    def noisy(self: Converter, data: bytes, name: str = "<input>", route: str | None = None) -> object:
        raise InputError("bad value " + "v" * 9_000_000, source=name, field="f" * 5000)

    monkeypatch.setattr(Converter, "parse", noisy)  # batch workers parse, then map; the parent renders
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "m.xml").write_bytes(GOOD[0][1])
    code, _ = batch([tmp_path / "in"], tmp_path / "out", workers=0)
    assert code == 1
    assert (tmp_path / "out" / "report.jsonl").stat().st_size < 2_000
    assert (tmp_path / "out" / QUARANTINE / "in" / "m.xml.reason").stat().st_size < 2_000
    message = report(tmp_path / "out")[0]["error"]["message"]  # type: ignore[index]
    assert message.startswith("bad value vvv") and message.endswith(" …(cut)") and len(message) <= 500  # type: ignore[union-attr,arg-type]


@pytest.mark.parametrize("sink", ["out", "out.zip"])
def test_an_output_file_never_stands_where_a_folder_is_needed(tmp_path: Path, sink: str) -> None:
    """Member ``a.xml`` converts to ``a.xml.<name>.xml``; a member inside a folder of exactly that name
    must still land (its folder gets a ``~``), and the archive must extract."""
    from gateway.pipeline import Converter

    name = Converter().convert(GOOD[0][1], "a.xml").outputs[0].name
    with zipfile.ZipFile(tmp_path / "in.zip", "w") as zf:
        zf.writestr("a.xml", GOOD[0][1])
        zf.writestr(f"a.xml.{name}.xml/b.xml", GOOD[1][1])
    outcome = run(BatchOptions([tmp_path / "in.zip"], tmp_path / sink, validate=False, progress="quiet", workers=0))
    assert outcome.exit_code == 0
    folder = tmp_path / "out"
    if sink == "out.zip":
        folder = tmp_path / "x"
        with zipfile.ZipFile(tmp_path / sink) as zf:
            zf.extractall(folder)
    lines = report(folder)
    assert [line["status"] for line in lines] == ["ok", "ok"]
    assert lines[1]["outputs"][0].startswith(f"converted/in.zip/a.xml.{name}.xml~/b.xml.")  # type: ignore[index]
    for line in lines:
        assert (folder / str(line["outputs"][0])).is_file()  # type: ignore[index]


def test_a_member_that_expands_like_a_bomb_is_refused_before_it_is_inflated(tmp_path: Path) -> None:
    """Honest sizes, no overlap: a ZIP member of 8 MB of zeros (under the 10 MB limit) is refused unread, not
    inflated and copied to the quarantine; a tar.bz2 whose stream expands past 1,000 times stops being read
    (an 11 KB one of 8 GiB of zeros took 21 s to skip through). Real messages beside them convert."""
    import bz2
    import io
    import tarfile

    zeros = bytes(8 << 20)
    with zipfile.ZipFile(tmp_path / "in.zip", "w") as zf:
        zf.writestr("bomb.xml", zeros, zipfile.ZIP_BZIP2)
        zf.writestr("fine.xml", GOOD[0][1], zipfile.ZIP_DEFLATED)
    code, lines = batch([tmp_path / "in.zip"], tmp_path / "out", workers=0)
    assert code == 1 and [line["status"] for line in lines] == ["failed", "ok"]
    assert "a decompression bomb?" in lines[0]["error"]["message"]  # type: ignore[index]
    assert all(p.stat().st_size < 1 << 20 for p in (tmp_path / "out").rglob("*") if p.is_file()), "nothing inflated"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in (("a.xml", GOOD[1][1]), ("bomb.bin", zeros * 4), ("b.xml", GOOD[2][1])):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (tmp_path / "in.tar.bz2").write_bytes(bz2.compress(buffer.getvalue()))
    assert (tmp_path / "in.tar.bz2").stat().st_size < 8_000
    code, lines = batch([tmp_path / "in.tar.bz2"], tmp_path / "out2", workers=0)
    assert code == 1 and lines[0]["status"] == "ok"
    assert "a decompression bomb?" in lines[-1]["error"]["message"]  # type: ignore[index]


def test_names_too_long_for_the_file_system_are_shortened_not_failed(tmp_path: Path) -> None:
    """A member 4,800 bytes deep (past PATH_MAX under OUT) and one whose name, at the 200-byte cap, plus its
    output's name passes 255 bytes: both convert, under a hash, and their files can be written and read."""
    deep = "/".join(["d" * 190] * 25) + "/m.xml"
    long = "2016/" + "L" * 196 + ".xml"  # 200 bytes, the cap of one name
    with zipfile.ZipFile(tmp_path / "in.zip", "w") as zf:
        zf.writestr(deep, GOOD[0][1])
        zf.writestr(long, GOOD[1][1])
        zf.writestr("fine.xml", GOOD[2][1])
    code, lines = batch([tmp_path / "in.zip"], tmp_path / "out", workers=1)
    assert code == 0 and [line["status"] for line in lines] == ["ok", "ok", "ok"]
    for line in lines:
        for output in line["outputs"]:  # type: ignore[union-attr]
            assert all(len(part.encode()) <= 255 for part in output.split("/"))
            assert (tmp_path / "out" / output).is_file()
    assert "/~" in lines[0]["outputs"][0]  # type: ignore[index]
    from gateway.batch.keys import output_path  # an output name of 70 (a long identificatie) after a 200-byte name

    shortened = output_path("in.zip/2016/" + "L" * 196 + ".xml", "0384A-" + "9" * 64)
    assert max(len(part.encode()) for part in shortened.split("/")) <= 255 and shortened.endswith("9" * 64 + ".xml")
    assert shortened != output_path("in.zip/2016/" + "L" * 195 + "M.xml", "0384A-" + "9" * 64)


def test_a_zaak_change_is_not_kept_when_out_refuses_its_output(reference_dir: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """OUT refusing an output (a name its file system rejects, a full disk) stops the run (exit 3) before the
    chunk's ledger commits: a 301 whose creeerZaak was never written must not be a zaak its 305 then updates."""
    from click.testing import CliRunner

    from gateway.batch import sinks
    from gateway.cli import main

    samples = reference_dir / "samples" / "iwmo20-xml"
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("CasusB-01-WMO301_toewijzing.xml", "CasusB-02-WMO305_start.xml"):
        (folder / name).write_bytes((samples / name).read_bytes())
    real = sinks.FolderPacker.add

    def refusing(self: object, path: str, data: bytes) -> None:
        if "CasusB-01" in path and path.startswith("converted/"):
            raise OSError(22, "Invalid argument", path)
        real(self, path, data)  # type: ignore[arg-type]

    args = ["batch", str(folder), "--out", str(tmp_path / "out"), "--state", str(tmp_path / "state"),
            "--workers", "0", "--resume", "-q"]
    monkeypatch.setattr(sinks.FolderPacker, "add", refusing)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 3 and "cannot write: Invalid argument" in result.stderr
    monkeypatch.setattr(sinks.FolderPacker, "add", real)  # OUT mended: the resume renders the chunk again
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    lines = report(tmp_path / "out")
    operations = [output.rsplit("-", 1)[1] for line in lines for output in line["outputs"]]  # type: ignore[union-attr]
    assert operations[0] == "creeerZaak.xml" and "actualiseerZaakstatus.xml" in operations


def test_a_second_ctrl_c_is_exit_130_not_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """click would turn the KeyboardInterrupt of a second Ctrl-C into "Aborted!" and status 1."""
    import gateway.cli.batch as cli_batch

    def interrupted(options: BatchOptions, say: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_batch, "run", interrupted)
    (tmp_path / "m.xml").write_bytes(GOOD[0][1])
    result = CliRunner().invoke(main, ["batch", str(tmp_path / "m.xml"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 130


def test_a_zip_announcing_fewer_entries_than_it_holds_reports_the_rest_as_damage(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "few.zip", "w") as zf:
        for name, data in GOOD[:3]:
            zf.writestr(name, data)
    raw = bytearray((tmp_path / "few.zip").read_bytes())
    struct.pack_into("<2H", raw, raw.rfind(b"PK\x05\x06") + 8, 2, 2)
    (tmp_path / "few.zip").write_bytes(bytes(raw))
    code, lines = batch([tmp_path / "few.zip"], tmp_path / "out", workers=0)
    assert code == 1
    assert [line["source"] for line in lines] == [f"few.zip/{GOOD[0][0]}", f"few.zip/{GOOD[1][0]}", "few.zip"]
    assert lines[2]["error"]["message"] == (  # type: ignore[index]
        "ZIP archive damaged: central directory holds more entries than the 2 it announces")


def test_a_member_whose_doctype_names_a_fifo_does_not_hang_the_batch(tmp_path: Path) -> None:
    """The attack that blocked a batch (and every --resume) forever: now one refused line, quickly."""
    from gateway.ingest.xml import DTD_REFUSED

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    hostile = b'<?xml version="1.0"?>\n<!--' + b"x" * 5000 + b'-->\n<!DOCTYPE x SYSTEM "' + str(fifo).encode() + \
        b'">\n<x/>'
    with zipfile.ZipFile(tmp_path / "in.zip", "w") as zf:
        zf.writestr("hostile.xml", hostile)
        zf.writestr("good.xml", GOOD[0][1])
    code, lines = batch([tmp_path / "in.zip"], tmp_path / "out", workers=1, timeout=20)
    assert code == 1
    assert [(line["status"], line.get("error", {}).get("message")) for line in lines] == [  # type: ignore[union-attr]
        ("failed", DTD_REFUSED), ("ok", None)]
    assert lines[0]["error"]["line"] == 3  # type: ignore[index]


HOSTILE_IDS = ["../../../../../esc/p", "a/b", "..\\..\\c", "..", "x/../../y"]
"""Berichtidentificaties a sender chooses (1-36 characters of any text): each becomes part of the outputs' names."""


def hostile(count: int) -> list[bytes]:
    """``count`` distinct messages (each its own client and toewijzing), with the identificaties above in turn."""
    return [IDENT.sub(rb"\g<1>" + HOSTILE_IDS[i % len(HOSTILE_IDS)].replace("\\", "\\\\").encode() + rb"\g<2>",
                      data, count=1) for i, (_, data) in enumerate(varied(count))]


@pytest.mark.parametrize("sink", ["folder", "zip"])
def test_a_message_s_identificatie_cannot_put_an_output_outside_out(tmp_path: Path, sink: str) -> None:
    """The reviewer's message: a Berichtidentificatie of ``../`` and ``/`` wrote its creeerZaak beside OUT. Now each
    message converts, and every output is one file name straight under its member's place in OUT."""
    folder = tmp_path / "work" / "in"
    folder.mkdir(parents=True)
    for i, data in enumerate(hostile(len(HOSTILE_IDS))):
        assert HOSTILE_IDS[i].encode() in data
        (folder / f"m{i}.xml").write_bytes(data)
    out = tmp_path / "work" / ("out" if sink == "folder" else "out.zip")
    outcome = run(BatchOptions([folder], out, workers=0, state="none", validate=False, progress="quiet"))
    assert outcome.exit_code == 0 and outcome.summary is not None
    assert outcome.summary["status"] == {"ok": len(HOSTILE_IDS), "failed": 0}
    if sink == "zip":
        names = zipfile.ZipFile(out).namelist()
    else:
        names = [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()]
    converted = sorted(n for n in names if n.startswith("converted/"))
    assert {n.split("/")[2].split(".xml.")[0] for n in converted} == {f"m{i}" for i in range(len(HOSTILE_IDS))}
    assert all(n.count("/") == 2 and "/.." not in n and "\\" not in n for n in converted), converted
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == sorted(["in", out.name])


def test_convert_writes_such_a_message_s_outputs_into_out_and_goes_on(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for i, data in enumerate(hostile(2)):
        (folder / f"m{i}.xml").write_bytes(data)
    result = CliRunner().invoke(main, ["convert", "--state", "none", str(folder), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.xml") if p.is_file())
    assert [w for w in written if not w.startswith("in/")] == sorted(
        f"out/{p.name}" for p in (tmp_path / "out").iterdir())
    assert len(list((tmp_path / "out").iterdir())) == 2


@pytest.mark.parametrize(("out", "blocker"), [("a-file", "a-file"), ("a-file/run", "a-file"),
                                              ("x.zip", "x.zip.partial"), ("a-file/x.tar.gz", "a-file")])
def test_out_where_a_file_stands_is_a_usage_error_not_exit_3(tmp_path: Path, out: str, blocker: str) -> None:
    """Session 24: ``batch --out /etc/passwd`` (or a path through a file) ended in "cannot write: File exists ...
    the last commit stands, and --resume continues from it", exit 3, the status of a bug or a full disk. It is the
    options' mistake: exit 2 naming the file, before anything is read or written."""
    for name in ("a-file", "x.zip.partial"):
        (tmp_path / name).write_text("not yours\n")
    with zipfile.ZipFile(tmp_path / "in.zip", "w") as zf:
        zf.writestr("a.xml", GOOD[0][1])
    for resume in ([], ["--resume"]):
        done = CliRunner().invoke(main, ["batch", "--state", "none", "--workers", "0", "--no-validate", "-q",
                                         *resume, "--out", str(tmp_path / out), str(tmp_path / "in.zip")])
        assert done.exit_code == 2
        assert done.output == (f"error: --out {tmp_path / out}: {tmp_path / blocker} is a file, not a folder: "
                               "expected a new or empty folder (or a .zip, .tar.gz or .tar name to write an archive)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "in.zip", "x.zip.partial"]
    assert (tmp_path / "a-file").read_text() == (tmp_path / "x.zip.partial").read_text() == "not yours\n"


def test_a_zip_inside_the_zip_is_reported_as_an_archive_not_as_broken_xml(tmp_path: Path) -> None:
    """Session 24: a nested ZIP was reported (and its .reason written) as "not well-formed XML: Start tag expected";
    it is quarantined naming what it is, and the messages beside it convert."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("in.xml", GOOD[0][1])
    with zipfile.ZipFile(tmp_path / "outer.zip", "w") as zf:
        zf.writestr("inner.zip", inner.getvalue())
        zf.writestr("b.xml", GOOD[1][1])
    code, lines = batch([tmp_path / "outer.zip"], tmp_path / "out", workers=0)
    assert code == 1 and [line["status"] for line in lines] == ["failed", "ok"]
    said = ("a ZIP archive, not a message: expected an XML message or an EI flat file (only `overstap batch` unpacks "
            "archives, those it is given, not one inside another)")
    assert lines[0]["error"] == {"code": "StUF055", "field": None, "line": None, "message": said}
    assert (tmp_path / "out" / QUARANTINE / "outer.zip" / "inner.zip").read_bytes() == inner.getvalue()


@pytest.mark.parametrize("workers", [0, 1])
def test_a_zip_symbolic_link_member_is_refused_as_a_tar_link_is(tmp_path: Path, workers: int) -> None:
    """Session 24: a ZIP entry made on Unix with a link's mode (what ``zip -y`` stores: the data is the target's
    path) was read as a message ("not well-formed XML"), or, holding XML, converted as one, where a tar link is
    refused. It is refused with a line of its own; the file beside it converts."""
    with zipfile.ZipFile(tmp_path / "l.zip", "w") as zf:
        link = zipfile.ZipInfo("link.xml")
        link.create_system, link.external_attr = 3, 0o120777 << 16
        zf.writestr(link, GOOD[0][1])  # a link whose "target" is a message: still no message
        zf.writestr("real.xml", GOOD[1][1])
    code, lines = batch([tmp_path / "l.zip"], tmp_path / "out", workers=workers)
    assert code == 1 and [(line["source"], line["status"]) for line in lines] == [("l.zip/link.xml", "failed"),
                                                                                ("l.zip/real.xml", "ok")]
    assert lines[0]["error"]["message"] == ("ZIP symbolic link member: refused (only regular files are messages; "  # type: ignore[index]
                                            "links are not followed)")
