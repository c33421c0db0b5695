"""The batch's building blocks on real files: the ZIP reader and writer, tar streams, member names,
shards, the journal, flat memory while streaming, and a worker that dies on one message.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest
from batch_corpus import holds, varied

from gateway.batch import BatchOptions, BatchUsageError, Shard, run, work
from gateway.batch import journal as journal_mod
from gateway.batch.inputs import Inputs, Member
from gateway.batch.keys import clean_path, input_labels, is_junk, output_path
from gateway.batch.pool import WORKER_DIED
from gateway.batch.sinks import SinkSpec, ZipSink, packer_for
from gateway.batch.zipformat import ZipReader

MESSAGE = varied(1)[0][1]


def members(*paths: Path, **kwargs: object) -> list[Member]:
    return list(Inputs(list(paths), **kwargs).members())  # type: ignore[arg-type]


# -- ZIP -----------------------------------------------------------------------------------------------


def test_zip_members_of_every_common_kind(tmp_path: Path) -> None:
    path = tmp_path / "mixed.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("dir/", b"")
        zf.writestr("dir/stored.xml", b"<a/>", zipfile.ZIP_STORED)
        zf.writestr("dir/deflated.xml", MESSAGE, zipfile.ZIP_DEFLATED)
        zf.writestr("dir/bzip2.xml", b"<b/>" * 100, zipfile.ZIP_BZIP2)
        zf.writestr("dir/éé.xml", b"<c/>")
        with zf.open("dir/big64.xml", "w", force_zip64=True) as fh:
            fh.write(b"<d/>")
    found = {m.key: m for m in members(path)}
    assert list(found) == ["mixed.zip/dir/stored.xml", "mixed.zip/dir/deflated.xml", "mixed.zip/dir/bzip2.xml",
                           "mixed.zip/dir/éé.xml", "mixed.zip/dir/big64.xml"]
    assert found["mixed.zip/dir/deflated.xml"].data == MESSAGE
    assert found["mixed.zip/dir/bzip2.xml"].data == b"<b/>" * 100
    assert found["mixed.zip/dir/big64.xml"].data == b"<d/>"
    assert all(m.problem is None for m in found.values())


def test_damaged_zip_member_fails_alone_and_a_broken_zip_is_one_failure(tmp_path: Path) -> None:
    path = tmp_path / "damaged.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("a.xml", b"<first/>")
        zf.writestr("b.xml", b"<second-member-with-some-text/>")
        zf.writestr("c.xml", b"<third/>")
    raw = bytearray(path.read_bytes())
    raw[raw.index(b"some-text")] ^= 0x20
    path.write_bytes(bytes(raw))
    found = members(path)
    assert [m.problem is None for m in found] == [True, False, True]
    assert "checksum" in (found[1].problem or "")

    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"PK\x03\x04 this is not really a zip file")
    [only] = members(garbage)
    assert only.key == "garbage.zip" and "cannot open ZIP archive" in (only.problem or "")


def test_zip_we_write_is_a_standard_zip_also_past_65535_entries(tmp_path: Path) -> None:
    spec = SinkSpec(kind="zip", target=tmp_path / "many.zip", stamp=1_700_000_000, level=0)
    sink = ZipSink(spec, None)
    packer = packer_for(spec)
    count = 66_000
    for start in range(0, count, 1000):
        for i in range(start, start + 1000):
            packer.add(f"m/{i:05d}.xml", b"<x>%d</x>" % i)
        sink.append(packer.take(), b"")
    sink.sync()
    sink.finish({"inputs": count})
    sink.publish()
    with zipfile.ZipFile(spec.target) as zf:
        names = zf.namelist()
        assert len(names) == count + 2 and names[-2:] == ["report.jsonl", "summary.json"]
        assert zf.read("m/65999.xml") == b"<x>65999</x>"
        assert json.loads(zf.read("summary.json")) == {"inputs": count}
        assert zf.getinfo("m/00000.xml").date_time[:3] == (2023, 11, 14)
    with ZipReader(spec.target) as reader:
        assert reader.count == count + 2, "the ZIP64 end record is read back"


@pytest.mark.parametrize("library", ["isal", "zlib"])
@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_deflated_output_reads_back_with_isal_or_plain_zlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            library: str, kind: str) -> None:
    import zlib

    from gateway.batch import zipformat

    if library == "zlib":  # the fallback on a platform without isal wheels
        monkeypatch.setattr(zipformat, "deflate_lib", zlib)
    else:
        assert zipformat.deflate_lib is not zlib, "isal is a dependency; its deflate is the one in use"
    spec = SinkSpec(kind=kind, target=tmp_path / f"out.{kind}", stamp=1_700_000_000, level=1)
    packer = packer_for(spec)
    packer.add("a/one.xml", MESSAGE)
    packer.add("a/two.xml", MESSAGE.replace(b"<", b"\n<"))
    payload = packer.take()
    if kind == "zip":
        sink = ZipSink(spec, None)
        sink.append(payload, b"")
        sink.sync()
        sink.finish({})
        sink.publish()
        with zipfile.ZipFile(spec.target) as zf:
            assert zf.getinfo("a/one.xml").compress_type == zipfile.ZIP_DEFLATED
            assert zf.getinfo("a/one.xml").compress_size < len(MESSAGE) / 2
            assert zf.read("a/one.xml") == MESSAGE
            assert zf.testzip() is None
    else:
        assert payload[:2] == b"\x1f\x8b" and payload[4:8] == b"\0\0\0\0", "gzip member, mtime 0"
        with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as tar:
            one = tar.extractfile("a/one.xml")
            assert one is not None and one.read() == MESSAGE


# -- tar -----------------------------------------------------------------------------------------------


def make_tar(path: Path, count: int, mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tf:
        for i in range(count):
            data = b"<m>%05d</m>" % i
            info = tarfile.TarInfo(f"./x/m{i:05d}.xml")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def test_truncated_tar_gz_gives_what_it_holds_then_one_failure(tmp_path: Path) -> None:
    path = make_tar(tmp_path / "cut.tar.gz", 400)
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 6 // 10])
    found = members(path)
    good = [m for m in found if m.problem is None]
    assert 50 < len(good) < 400
    assert [m.data for m in good] == [b"<m>%05d</m>" % i for i in range(len(good))]
    assert found[-1].key == "cut.tar.gz" and "damaged" in (found[-1].problem or "")


def test_gzip_of_several_members_reads_whole(tmp_path: Path) -> None:
    """Our own .tar.gz output is a chain of gzip members; read as input it must give every entry."""
    plain = make_tar(tmp_path / "p.tar", 30, "w").read_bytes()
    body, end = plain[:-1024 * 10], plain[-1024 * 10:]
    half = (len(body) // 2) // 512 * 512
    chained = tmp_path / "chained.tar.gz"
    chained.write_bytes(gzip.compress(body[:half]) + gzip.compress(body[half:]) + gzip.compress(end))
    assert len(members(chained)) == 30


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_streaming_memory_does_not_grow_with_the_archive(kind: str, tmp_path: Path) -> None:
    count = 8_000
    if kind == "zip":
        path = tmp_path / "many.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for i in range(count):
                zf.writestr(f"x/m{i:05d}.xml", b"<m/>")
    else:
        path = make_tar(tmp_path / "many.tar.gz", count)
    tracemalloc.start()
    try:
        seen = sum(1 for _ in Inputs([path]).members())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seen == count
    assert peak < 1_500_000, f"peak {peak} bytes while streaming {count} members (a list of them: ~4 MB)"


# -- names, shards, resume points -------------------------------------------------------------------------


def test_hostile_member_names_stay_inside_out() -> None:
    assert clean_path("../../etc/passwd") == "__/__/etc/passwd"
    assert clean_path("/abs//./x.xml") == "abs/x.xml"
    assert clean_path("win\\dir\\y.xml") == "win/dir/y.xml"
    assert clean_path("ctrl\x00\x1fz.xml") == "ctrl__z.xml"
    long = clean_path("n" * 400 + ".xml")
    assert len(long.encode()) <= 200 and long.startswith("nnn")
    assert output_path("a.zip/__/x.xml", "ref").startswith("converted/a.zip/__/x.xml.")
    assert output_path("x.zip/m.xml", "a/../b\\c") == "converted/x.zip/m.xml.a_.._b_c.xml"  # an output name: one part
    assert is_junk("__MACOSX/a/._b.xml") and is_junk("a/.DS_Store") and not is_junk("a/b.xml")


def test_names_that_are_not_utf8_or_not_printable_become_printable_keys() -> None:
    """A byte the name was not UTF-8 for (a latin-1 ``cliënt`` in a folder or tar) is ``%XX``; a C1 control, a
    bidi override or a lone surrogate is ``_``: every key can be written into a report line and a ZIP name."""
    assert clean_path("2016/cli\udcebnt.xml") == "2016/cli%EBnt.xml"
    assert clean_path("a\x9bb\u202ec\ud800d.xml") == "a_b_c_d.xml"
    for name in ("cli\udcebnt.xml", "\udcff" * 300, "x\u202e\udc80.xml"):
        clean_path(name).encode("utf-8")  # no surrogate left
    assert input_labels([Path("p/a"), Path("q/a"), Path("r/a~2")]) == ["a", "a~3", "a~2"]
    assert input_labels([Path("p/a"), Path("q/a")]) == ["a", "a~2"]


def test_folder_names_that_clean_to_one_key_are_told_apart(tmp_path: Path) -> None:
    """``a\\b.xml`` beside a folder ``a/`` holding ``b.xml``, and ``c\\x01.xml`` beside ``c_.xml``: one key each
    before, so one quarantine copy overwrote the other; claimed as in an archive, the later one is renamed.
    ``E.xml`` and ``e.xml``, two files here, are one on macOS or Windows: told apart too."""
    folder = tmp_path / "in"
    (folder / "a").mkdir(parents=True)
    names = ("a/b.xml", "a\\b.xml", "c\x01.xml", "c_.xml", "E.xml", "e.xml")
    for name in names:
        (folder / name).write_bytes(name.encode())
    found = {m.key: m.data for m in Inputs([folder]).members()}
    assert len(found) == 6 and sorted(found.values()) == sorted(n.encode() for n in names)
    assert found["in/a/b.xml"] == b"a/b.xml" and found["in/c_.xml"] == b"c\x01.xml"
    assert found["in/E.xml"] == b"E.xml" and [k for k in found if k.startswith("in/e.xml~")], sorted(found)


CASE_NAMES = ["Toewijzing.xml", "toewijzing.xml", "caf\u00e9.xml", "cafe\u0301.xml", "D/x.xml", "d/X.XML"]
"""Six names of a ZIP that are six files on Linux and three on macOS or Windows (case, NFC against NFD)."""


def test_names_one_on_macos_or_windows_are_told_apart() -> None:
    """The later of two names a case- or normalisation-insensitive file system holds as one is renamed, as an
    exact repeat is: extracted on APFS or NTFS, its outputs would otherwise replace the first one's."""
    from gateway.batch.keys import NameClaims, folded, quarantine_path

    claims = NameClaims()
    assert [claims.claim(name, i) for i, name in enumerate(CASE_NAMES)] == [
        "Toewijzing.xml", "toewijzing.xml~1", "caf\u00e9.xml", "cafe\u0301.xml~3", "D/x.xml", "d~X.XML~5"]
    assert input_labels([Path("p/A.zip"), Path("q/a.zip"), Path("r/A.ZIP")]) == ["A.zip", "a.zip~2", "A.ZIP~3"]
    assert folded("Stra\u00dfe/CAFE\u0301") == folded("strasse/caf\u00e9") == "strasse/caf\u00e9"
    assert output_path("x.zip/a.XML/b.xml", "o") == "converted/x.zip/a.XML~/b.xml.o.xml"  # never beside a.xml.*.xml
    assert quarantine_path("x.zip/m.REASON") == "quarantine/x.zip/m.REASON~"  # never another member's reason file


def test_an_archive_of_such_names_extracts_whole_on_a_case_insensitive_file_system(tmp_path: Path) -> None:
    """End to end, with members that fail (a quarantined copy is named by its member alone; outputs carry their
    message's identificatie too): no two paths under OUT are one file where case and Unicode normalisation do not
    count, as extracting OUT onto APFS or NTFS would find."""
    from gateway.batch.keys import folded

    path = tmp_path / "cases.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i, name in enumerate(CASE_NAMES):
            zf.writestr(name, b"not a message %d" % i)
    outcome = run(BatchOptions([path], tmp_path / "out", workers=0, validate=False, progress="quiet",
                               state="none"))
    assert outcome.summary is not None and outcome.summary["status"] == {"ok": 0, "failed": len(CASE_NAMES)}
    written = [p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file()]
    quarantined = [p for p in written if p.startswith("quarantine/") and not p.endswith(".reason")]
    assert sorted((tmp_path / "out" / p).read_bytes() for p in quarantined) == [
        b"not a message %d" % i for i in range(len(CASE_NAMES))]
    assert len({folded(p) for p in written}) == len(written), sorted(written)


def test_an_archive_named_input_that_is_a_fifo_is_refused_not_waited_for(tmp_path: Path) -> None:
    """Opening a FIFO blocks until a writer comes: a FIFO named ``.zip`` or ``.tar.gz`` is refused unopened."""
    for name in ("fifo.zip", "fifo.tar.gz"):
        os.mkfifo(tmp_path / name)
        (member,) = list(Inputs([tmp_path / name]).members())
        assert member.problem is not None and "not a regular file" in member.problem


def _stopped_half_way(inputs: list[Path], out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run of ``inputs`` stopped cleanly (as by Ctrl-C) after its third chunk, its journal committed."""
    import signal

    from gateway.batch import ledgered

    real, seen = ledgered.LedgerStep.process, [0]

    def process(self: object, result: object) -> object:
        seen[0] += 1
        if seen[0] == 3:
            os.kill(os.getpid(), signal.SIGINT)  # the run's handler: stop at the next chunk
        return real(self, result)  # type: ignore[arg-type]

    monkeypatch.setattr(ledgered.LedgerStep, "process", process)
    options = BatchOptions(inputs, out, workers=0, validate=False, progress="quiet", chunk_size=4,
                           commit_seconds=0, state="none")
    assert run(options).exit_code == 130
    monkeypatch.setattr(ledgered.LedgerStep, "process", real)


def test_a_resume_whose_inputs_changed_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A drop folder that got a file sorting first, or a ZIP replaced at its path, between the kill and the
    resume: continued by position, members were lost, reported twice and handed another's kept outputs."""
    folder = tmp_path / "drop"
    folder.mkdir()
    for n, (_, data) in enumerate(varied(40)):
        (folder / f"msg-{n + 1:03d}.xml").write_bytes(data)
    _stopped_half_way([folder], tmp_path / "o.zip", monkeypatch)
    (folder / "msg-000.xml").write_bytes(varied(41)[40][1])
    with pytest.raises(BatchUsageError, match=r"not those the run began with.*was 'drop/msg-0"):
        run(BatchOptions([folder], tmp_path / "o.zip", workers=0, validate=False, progress="quiet", resume=True,
                         state="none"))
    (folder / "msg-000.xml").unlink()  # as it was: the resume goes on
    assert run(BatchOptions([folder], tmp_path / "o.zip", workers=0, validate=False, progress="quiet",
                            resume=True, state="none")).exit_code == 0
    archive = tmp_path / "in.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in varied(40):
            zf.writestr(name, data)
    _stopped_half_way([archive], tmp_path / "p.zip", monkeypatch)
    with zipfile.ZipFile(archive, "w") as zf:  # another archive at the same path
        for name, data in varied(41)[1:]:
            zf.writestr(name, data)
    with pytest.raises(BatchUsageError, match="identities"):
        run(BatchOptions([archive], tmp_path / "p.zip", workers=0, validate=False, progress="quiet", resume=True,
                         state="none"))


def test_a_commit_names_the_newest_chunk_end_it_covers() -> None:
    """A commit inside a chunk retried member by member (done 5 of the chunk 4..7) names the end before it (4),
    never ``done``, whose member is not the one the key belongs to; ends passed are let go."""
    from gateway.batch.chunking import covered

    ends = {4: "in/m-3.xml", 8: "in/m-7.xml"}
    assert covered(ends, 3, None) is None and ends == {4: "in/m-3.xml", 8: "in/m-7.xml"}
    assert covered(ends, 5, None) == (4, "in/m-3.xml") and ends == {8: "in/m-7.xml"}
    assert covered(ends, 6, (4, "in/m-3.xml")) == (4, "in/m-3.xml")
    assert covered(ends, 9, (4, "in/m-3.xml")) == (8, "in/m-7.xml") and ends == {}


def test_shards_partition_every_key_exactly_once_and_stably() -> None:
    keys = [f"archive.zip/{i:05d}.xml" for i in range(3000)]
    shards = [Shard(i, 4) for i in range(4)]
    owners = [[s.owns(k) for s in shards].count(True) for k in keys]
    assert owners == [1] * len(keys)
    sizes = [sum(s.owns(k) for k in keys) for s in shards]
    assert min(sizes) > 600, f"roughly even: {sizes}"
    # The hash must never change between versions, or a resumed or scaled-out run would mix partitions.
    assert [Shard(i, 7).owns("history.zip/2016/CasusA.xml") for i in range(7)].index(True) == 1
    for bad in ("4/4", "-1/3", "1/0", "1", "a/b"):
        with pytest.raises(ValueError):
            Shard.parse(bad)
    assert Shard.parse("2/5") == Shard(2, 5)


def test_start_skips_members_without_reading_them(tmp_path: Path) -> None:
    path = make_tar(tmp_path / "t.tar", 50, "w")
    everything = members(path)
    tail = list(Inputs([path]).members(start=37))
    assert [(m.ordinal, m.key, m.data) for m in tail] == [(m.ordinal, m.key, m.data) for m in everything[37:]]


def test_journal_ignores_a_torn_last_line_and_names_differences(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = journal_mod.Journal(path, header={"inputs": ["a"], "shard": "0/1"})
    journal.commit({"done": 10})
    journal.commit({"done": 20})
    journal.close()
    with path.open("ab") as fh:
        fh.write(b'{"done": 3')  # a kill in the middle of a write
    found = journal_mod.read(path)
    assert found is not None and found.last == {"done": 20} and not found.finished
    journal = journal_mod.Journal(path, valid_length=found.valid_length)
    journal.commit({"done": 30})
    journal.close()
    again = journal_mod.read(path)
    assert again is not None and again.last == {"done": 30}
    assert journal_mod.differences({"inputs": ["a"]}, {"inputs": ["b"]}) == \
        ["inputs: journal has ['a'], this run ['b']"]


# -- a message that kills its worker ---------------------------------------------------------------------


def test_a_message_that_kills_its_worker_is_reported_and_the_rest_converts(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    original = work.Worker.map_chunk  # what workers run: they map, the parent renders against the ledger

    def fragile(self: work.Worker, chunk: work.Chunk) -> work.ChunkResult:
        if holds(chunk.members, b"<!-- BOOM -->"):
            os._exit(9)  # what a segfault in a C extension or the OOM killer looks like from outside
        return original(self, chunk)

    monkeypatch.setattr(work.Worker, "map_chunk", fragile)  # workers are forked from this process: they inherit it
    path = tmp_path / "in.zip"
    messages = varied(40)
    with zipfile.ZipFile(path, "w") as zf:
        for i, (name, data) in enumerate(messages):
            zf.writestr(name, data + b"<!-- BOOM -->" if i == 17 else data)
    outcome = run(BatchOptions([path], tmp_path / "out", workers=2, validate=False, chunk_size=8,
                               progress="quiet"))
    assert outcome.summary is not None
    assert outcome.summary["status"] == {"ok": 39, "failed": 1}
    assert outcome.summary["run"]["worker_crashes"] == 1
    lines = [json.loads(x) for x in (tmp_path / "out" / "report.jsonl").read_text().splitlines()]
    assert [line["source"] for line in lines] == [f"in.zip/{name}" for name, _ in messages], "input order kept"
    assert lines[17]["status"] == "failed" and lines[17]["error"]["message"] == WORKER_DIED
    assert (tmp_path / "out" / lines[17]["quarantine"]).read_bytes().endswith(b"<!-- BOOM -->")


def test_workers_that_cannot_start_are_a_configuration_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: work.Worker, *args: object) -> None:
        raise RuntimeError("no schemas in this container")

    monkeypatch.setattr(work.Worker, "__init__", broken)
    path = tmp_path / "in.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.xml", MESSAGE)
    with pytest.raises(BatchUsageError, match="worker processes die on start-up"):
        run(BatchOptions([path], tmp_path / "out", workers=1, validate=False, progress="quiet"))


def test_each_zip_level_reads_back_and_level_one_is_isals_cheapest(tmp_path: Path) -> None:
    """``--level 1`` ("the fastest") writes ISA-L's own cheapest deflate (its level 0, ~2.5x faster than its 1);
    the higher levels are still real choices: each reads back and none is larger than level 1."""
    from isal import isal_zlib

    from gateway.batch.zipformat import local_entry

    message = MESSAGE * 4  # a few KB, like a rendered zakLk01
    sizes = {}
    for level in range(1, 10):
        entry, record = local_entry("m.xml", message, (0, 0x21), 0, level)
        assert zlib.decompress(entry[30 + len("m.xml"):], -15) == message
        sizes[level] = record.compressed_size
    assert sizes[1] == len(isal_zlib.compress(message, 0, -15))
    assert sizes[2] == len(isal_zlib.compress(message, 1, -15)) < sizes[1]
    assert all(sizes[level] <= sizes[1] for level in sizes)


@pytest.mark.parametrize("level", [-1, 10])
def test_a_level_outside_0_to_9_is_a_usage_error_through_the_library_too(tmp_path: Path, level: int) -> None:
    """The CLI limits ``--level``; a caller of ``run`` gets the same answer instead of a failure mid-run."""
    path = tmp_path / "in.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.xml", MESSAGE)
    with pytest.raises(BatchUsageError, match="--level must be 0 to 9"):
        run(BatchOptions([path], tmp_path / "out.zip", workers=0, validate=False, progress="quiet", level=level))
    assert not (tmp_path / "out.zip").exists()
