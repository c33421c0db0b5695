"""ZIP members are read by the batch worker that converts them, not by the parent (inputs.ZipRef).

The parent's serial path (list, render against the ledger, write) is what a batch's throughput waits for; it now
reads only the central directory and hands each worker a reference of ~0.1 KB. These tests pin that down and
that nothing else changed: a damaged member is reported with the same reason whoever reads it, its quarantine
copy holds its bytes when a render in the parent fails, and a run in one process (``--workers 0``) gives the same
report as a run with a worker process. test_adversarial_archives.py runs every ZIP limit and error path both ways.
"""

from __future__ import annotations

import json
import os
import struct
import zipfile
from pathlib import Path

import pytest
from batch_corpus import varied

from gateway.batch import BatchOptions, ledgered, run
from gateway.batch.chunking import chunked
from gateway.batch.inputs import Inputs, ZipRef, close_readers, member_bytes
from gateway.batch.zipformat import ZipReader
from gateway.render import RenderError

MESSAGES = varied(12)
DAMAGED = 5
"""The member whose central-directory CRC is wrong: its bytes do not match their checksum."""


def archive(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in MESSAGES:
            zf.writestr(name, data)
    raw = bytearray(path.read_bytes())
    at = -1
    for _ in range(DAMAGED + 1):
        at = raw.find(b"PK\x01\x02", at + 1)
    struct.pack_into("<L", raw, at + 16, 1234)  # the CRC the central directory gives for member DAMAGED
    path.write_bytes(bytes(raw))
    return path


def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pid of the process of each member read from now on: a forked worker appends to its own copy, so the
    list holds the parent's reads only."""
    reads: list[int] = []
    original = ZipReader.read

    def counted(self: ZipReader, entry: object, limit: int) -> bytes:
        reads.append(os.getpid())
        return original(self, entry, limit)  # type: ignore[arg-type]

    monkeypatch.setattr(ZipReader, "read", counted)
    return reads


def report(out: Path) -> list[dict[str, object]]:
    with zipfile.ZipFile(out) as zf:
        return [json.loads(line) for line in zf.read("report.jsonl").splitlines()]


def test_the_chunks_the_parent_sends_carry_references_not_bytes(tmp_path: Path) -> None:
    path = archive(tmp_path / "in.zip")
    [chunk] = list(chunked(Inputs([path], defer_zip=True).members(), 64))
    refs = [data for _, data, _, _ in chunk.members]
    assert all(isinstance(ref, ZipRef) for ref in refs)
    assert [member_bytes(ref, 1 << 20)[0] for i, ref in enumerate(refs) if i != DAMAGED] == \
        [data for i, (_, data) in enumerate(MESSAGES) if i != DAMAGED]
    assert member_bytes(refs[DAMAGED], 1 << 20) == (b"", "member data does not match its checksum (archive damaged)")
    assert member_bytes(refs[0], 10) == (b"", f"member is {len(MESSAGES[0][1])} bytes, more than the limit of 10")


@pytest.mark.parametrize("workers", [0, 1])
def test_a_run_reads_members_in_its_workers_and_reports_as_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  workers: int) -> None:
    reads = count_reads(monkeypatch)
    path = archive(tmp_path / "in.zip")
    out = tmp_path / "out.zip"
    outcome = run(BatchOptions([path], out, workers=workers, validate=False, progress="quiet", chunk_size=4))
    assert outcome.summary is not None and outcome.summary["status"] == {"ok": 11, "failed": 1}
    assert len(reads) == (len(MESSAGES) if workers == 0 else 0)  # with a worker process, the parent read none
    [failed] = [line for line in report(out) if line["status"] == "failed"]
    assert failed["source"] == f"in.zip/{MESSAGES[DAMAGED][0]}"
    assert failed["error"]["message"] == "member data does not match its checksum (archive damaged)"  # type: ignore[index]


def test_a_member_whose_render_fails_in_the_parent_is_quarantined_with_its_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The parent renders against the ledger; when that fails it reads the member (only then) for the copy."""
    def failing(self: object, bericht: object, mapping: object, *args: object, **kwargs: object) -> object:
        raise RenderError("injected: no zaak to apply it to", "zaak")

    monkeypatch.setattr(ledgered.Converter, "render", failing)
    monkeypatch.setattr(ledgered.Converter, "plan", failing)  # how the parent renders a chunk (session 32)
    path = archive(tmp_path / "in.zip")
    out = tmp_path / "out.zip"
    outcome = run(BatchOptions([path], out, workers=1, validate=False, progress="quiet", chunk_size=4))
    assert outcome.summary is not None and outcome.summary["status"] == {"ok": 0, "failed": 12}
    with zipfile.ZipFile(out) as zf:
        for i, (name, data) in enumerate(MESSAGES):
            if i != DAMAGED:
                assert zf.read(f"quarantine/in.zip/{name}") == data


def test_a_second_run_reads_the_file_now_at_the_path_not_the_one_before(tmp_path: Path) -> None:
    """The process keeps the last archive open for the next member: a new file at the same path (the next run in
    this process) must be opened anew (found by the review: it read the old file's handle)."""
    path = tmp_path / "in.zip"
    for run_number in range(2):
        fresh = tmp_path / f"new-{run_number}.zip"
        with zipfile.ZipFile(fresh, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in MESSAGES[run_number * 6:(run_number + 1) * 6]:
                zf.writestr(name, data)
        os.replace(fresh, path)
        outcome = run(BatchOptions([path], tmp_path / f"out-{run_number}.zip", workers=0, validate=False,
                                   progress="quiet"))
        assert outcome.summary is not None and outcome.summary["status"] == {"ok": 6, "failed": 0}


def test_an_archive_replaced_while_it_is_read_is_read_as_listed_or_reported(tmp_path: Path) -> None:
    """A worker that has the listed file open goes on reading it (as the parent did before the workers read);
    one that opens the path anew (a new worker process) finds another file there and says so."""
    path = archive(tmp_path / "in.zip")
    refs = [member.data for member in Inputs([path], defer_zip=True).members()]
    assert member_bytes(refs[0], 1 << 20) == (MESSAGES[0][1], None)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in reversed(MESSAGES):
            zf.writestr(name, data)
    os.replace(other, path)
    assert member_bytes(refs[1], 1 << 20) == (MESSAGES[1][1], None)  # the open handle: the listed file
    relisted = [member.data for member in Inputs([path], defer_zip=True).members()]
    assert member_bytes(relisted[0], 1 << 20) == (MESSAGES[-1][1], None)  # listed again: the file there now
    close_readers()  # as in a worker process started after the change
    for ref in refs[2:4]:
        data, problem = member_bytes(ref, 1 << 20)
        assert data == b"" and problem is not None and problem.startswith("the archive is not the file that was listed")
