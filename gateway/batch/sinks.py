"""Where converted and quarantined messages go: a folder, a ``.zip``, a ``.tar`` or a ``.tar.gz``.

Each sink has two halves. The *packer* runs in the workers: it writes files straight into an OUT
folder, or packs a chunk's entries into a ready-made archive fragment (deflated ZIP entries, or a
self-contained gzip member of tar entries), so compression runs in parallel. The *sink* runs in
the parent and only appends fragments and report lines, in input order.

Crash safety: archive sinks build the archive in ``OUT.partial/`` by appending only. A commit
fsyncs the appended files and records their lengths in the journal; resuming truncates every file
back to the last commit, so a killed run leaves nothing half-counted. Only when the run finishes
are the report, summary and ZIP central directory appended and the file renamed into place,
so a half-written OUT never appears under its final name.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from . import zipformat

KINDS = ("folder", "zip", "tar", "tar.gz")
REPORT, SUMMARY, JOURNAL = "report.jsonl", "summary.json", "journal.jsonl"
_GZIP_WBITS = 31  # zlib with a gzip header (mtime 0: fragments are byte-for-byte reproducible)
_BLOCK = tarfile.BLOCKSIZE


def kind_of(target: Path) -> str:
    name = target.name.lower()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith((".tar.gz", ".tgz")):
        return "tar.gz"
    if name.endswith(".tar"):
        return "tar"
    return "folder"


@dataclass(frozen=True, slots=True)
class SinkSpec:
    """What workers and parent both need to know about the output (picklable)."""

    kind: str
    target: Path
    stamp: int
    """Run start (epoch seconds): the timestamp of every archive entry, the same after a resume."""
    level: int = 1
    """Deflate level for archive sinks, 0-9 (ISA-L): a ZIP entry at 1 is ISA-L's cheapest deflate and shrinks XML
    ~2.7x (zipformat.ISAL_LEVELS), 0 stores it; a .tar.gz chunk (one gzip member) at ISA-L's ``min(level, 3)``,
    ~12x at 1."""

    @classmethod
    def for_target(cls, target: Path, stamp: int, level: int = 1) -> SinkSpec:
        return cls(kind_of(target), target, stamp, level)

    @property
    def workdir(self) -> Path:
        """Journal (and, for archives, the growing archive and report) live here until the run ends."""
        if self.kind == "folder":
            return self.target
        return self.target.with_name(self.target.name + ".partial")

    @property
    def journal(self) -> Path:
        return self.workdir / (f".{JOURNAL}" if self.kind == "folder" else JOURNAL)

    def file_in_the_way(self) -> Path | None:
        """The file (no folder) that stands at the work folder or one of its parents, if any: ``--out /etc/passwd``
        or ``--out a-file/x`` is the options' mistake, to be said as such before anything reads or writes there
        (it ended in "cannot write ... --resume continues", exit 3, as a full disk does)."""
        for place in (self.workdir, *self.workdir.parents):
            if place.exists():
                return None if place.is_dir() else place
        return None


# -- worker side ----------------------------------------------------------------------------------


class Packer(Protocol):
    def add(self, path: str, data: bytes) -> None: ...

    def take(self) -> Any: ...


class FolderPacker:
    """Writes each file straight into OUT; nothing travels back to the parent."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: set[str] = set()

    def add(self, path: str, data: bytes) -> None:
        folder = path.rpartition("/")[0]
        if folder not in self._made:
            if len(self._made) > 4096:
                self._made.clear()
            (self.root / folder).mkdir(parents=True, exist_ok=True)
            self._made.add(folder)
        with open(self.root / path, "wb") as fh:
            fh.write(data)

    def take(self) -> None:
        return None


class ZipPacker:
    """Deflates entries into one blob of local entries plus their central-directory records."""

    def __init__(self, stamp: int, level: int = 1) -> None:
        self.stamp = zipformat.dos_time(stamp)
        self.level = level
        self._blob = bytearray()
        self._records: list[zipformat.CentralRecord] = []

    def add(self, path: str, data: bytes) -> None:
        entry, record = zipformat.local_entry(path, data, self.stamp, len(self._blob), self.level)
        self._blob += entry
        self._records.append(record)

    def take(self) -> tuple[bytes, list[zipformat.CentralRecord]]:
        out = bytes(self._blob), self._records
        self._blob, self._records = bytearray(), []
        return out


def tar_header(path: str, size: int, stamp: int) -> bytes:
    info = tarfile.TarInfo(path)
    info.size, info.mtime, info.mode = size, stamp, 0o644
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape")


def _padding(size: int) -> bytes:
    return b"\0" * (-size % _BLOCK)


class TarPacker:
    """Tar entries for a chunk, gzip-compressed as one self-contained member when the sink is .tar.gz."""

    def __init__(self, stamp: int, compress: bool, level: int = 1) -> None:
        self.stamp, self.compress, self.level = stamp, compress, level
        self._buf = bytearray()

    def add(self, path: str, data: bytes) -> None:
        self._buf += tar_header(path, len(data), self.stamp)
        self._buf += data
        self._buf += _padding(len(data))

    def take(self) -> bytes:
        raw, self._buf = bytes(self._buf), bytearray()
        if not self.compress or not raw:
            return raw
        if zipformat.deflate_lib is zlib:
            packer = zlib.compressobj(self.level, zlib.DEFLATED, _GZIP_WBITS)
            return packer.compress(raw) + packer.flush()
        return zipformat.deflate_lib.compress(raw, min(self.level, 3), _GZIP_WBITS)


def packer_for(spec: SinkSpec) -> Packer:
    if spec.kind == "folder":
        return FolderPacker(spec.target)
    if spec.kind == "zip":
        return ZipPacker(spec.stamp, spec.level)
    return TarPacker(spec.stamp, spec.kind == "tar.gz", spec.level)


# -- parent side ----------------------------------------------------------------------------------


def _open_at(path: Path, length: int | None) -> BinaryIO:
    """Open for appending, first cutting the file back to ``length`` (the last committed size)."""
    fh = path.open("r+b" if path.exists() else "w+b")
    if length is not None:
        fh.truncate(length)
    fh.seek(0, 2)
    return fh


def _sync(*files: BinaryIO) -> None:
    for fh in files:
        fh.flush()
        os.fsync(fh.fileno())


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while piece := fh.read(1 << 20):
            yield piece


class Sink:
    """Parent half: appends fragments and report lines in input order, commits, and finishes OUT."""

    def __init__(self, spec: SinkSpec, state: dict[str, Any] | None) -> None:
        self.spec = spec
        spec.workdir.mkdir(parents=True, exist_ok=True)
        self.report_path = (spec.target if spec.kind == "folder" else spec.workdir) / REPORT
        self._report = _open_at(self.report_path, state["report"] if state else 0)

    def append(self, payload: Any, report: bytes) -> None:
        self._report.write(report)

    def sync(self) -> dict[str, Any]:
        """Make everything appended so far durable; return the lengths a resume truncates back to."""
        _sync(self._report)
        return {"report": self._report.tell()}

    def finish(self, summary: dict[str, Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._report.close()

    def summary_bytes(self, summary: dict[str, Any]) -> bytes:
        return (json.dumps(summary, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


class FolderSink(Sink):
    """Workers already wrote the files; the parent keeps OUT/report.jsonl and writes OUT/summary.json."""

    def finish(self, summary: dict[str, Any]) -> None:
        _sync(self._report)
        _write_atomic(self.spec.target / SUMMARY, self.summary_bytes(summary))


class ArchiveSink(Sink):
    """Shared by ZIP and tar: a growing data file in OUT.partial, renamed to OUT when finished."""

    def __init__(self, spec: SinkSpec, state: dict[str, Any] | None) -> None:
        super().__init__(spec, state)
        self.data_path = spec.workdir / "data"
        self._data = _open_at(self.data_path, state["data"] if state else 0)

    def sync(self) -> dict[str, Any]:
        _sync(self._data)
        return {**super().sync(), "data": self._data.tell()}

    def close(self) -> None:
        super().close()
        self._data.close()

    def finish(self, summary: dict[str, Any]) -> None:
        _sync(self._report)
        self._close_archive(self.summary_bytes(summary))
        _sync(self._data)

    def _close_archive(self, summary: bytes) -> None:
        raise NotImplementedError

    def publish(self) -> None:
        """Move the finished archive into place and drop the work folder (after the journal says finished)."""
        self.close()
        publish(self.spec)


class ZipSink(ArchiveSink):
    """Local entries in ``data``, their central-directory records in ``central``; joined at the end."""

    def __init__(self, spec: SinkSpec, state: dict[str, Any] | None) -> None:
        super().__init__(spec, state)
        self._central = _open_at(spec.workdir / "central", state["central"] if state else 0)
        self.entries = state["entries"] if state else 0
        self.stamp = zipformat.dos_time(spec.stamp)

    def append(self, payload: tuple[bytes, list[zipformat.CentralRecord]], report: bytes) -> None:
        blob, records = payload
        base = self._data.tell()
        self._data.write(blob)
        for record in records:
            self._central.write(zipformat.central_entry(record, base + record.relative_offset, self.stamp))
        self.entries += len(records)
        super().append(payload, report)

    def sync(self) -> dict[str, Any]:
        _sync(self._central)
        return {**super().sync(), "central": self._central.tell(), "entries": self.entries}

    def close(self) -> None:
        super().close()
        self._central.close()

    def _close_archive(self, summary: bytes) -> None:
        data = self._data
        tail = [zipformat.stream_entry(data, REPORT, _chunks(self.report_path), self.stamp)]
        entry, record = zipformat.local_entry(SUMMARY, summary, self.stamp, data.tell())
        data.write(entry)
        tail.append(record)
        for record in tail:
            self._central.write(zipformat.central_entry(record, record.relative_offset, self.stamp))
        _sync(self._central)
        cd_offset = data.tell()
        with (self.spec.workdir / "central").open("rb") as central:
            shutil.copyfileobj(central, data, 1 << 20)
        data.write(zipformat.end_records(self.entries + len(tail), cd_offset, data.tell() - cd_offset))


class TarSink(ArchiveSink):
    """Tar fragments appended as they come (gzip members concatenate into one valid .tar.gz)."""

    def append(self, payload: bytes, report: bytes) -> None:
        self._data.write(payload)
        super().append(payload, report)

    def _close_archive(self, summary: bytes) -> None:
        compress = self.spec.kind == "tar.gz"
        packer = zlib.compressobj(6, zlib.DEFLATED, _GZIP_WBITS) if compress else None

        def put(piece: bytes) -> None:
            self._data.write(packer.compress(piece) if packer else piece)

        size = self.report_path.stat().st_size
        put(tar_header(REPORT, size, self.spec.stamp))
        for piece in _chunks(self.report_path):
            put(piece)
        put(_padding(size))
        put(tar_header(SUMMARY, len(summary), self.spec.stamp) + summary + _padding(len(summary)))
        put(b"\0" * (2 * _BLOCK))  # end-of-archive marker
        if packer:
            self._data.write(packer.flush())


def open_sink(spec: SinkSpec, state: dict[str, Any] | None) -> Sink:
    """The parent half for ``spec``, cut back to ``state`` (a journal commit) or fresh when None."""
    cls = {"folder": FolderSink, "zip": ZipSink, "tar": TarSink, "tar.gz": TarSink}[spec.kind]
    return cls(spec, state)


def publish(spec: SinkSpec) -> None:
    """Rename a finished archive from OUT.partial/ to OUT and remove OUT.partial/ (idempotent)."""
    data = spec.workdir / "data"
    if data.exists():
        os.replace(data, spec.target)
    shutil.rmtree(spec.workdir, ignore_errors=True)


def read_summary(target: Path) -> dict[str, Any] | None:
    """The summary inside a finished archive (to answer ``--resume`` on a run that already ended)."""
    try:
        if kind_of(target) == "zip":
            import zipfile

            try:
                with zipfile.ZipFile(target) as zf:
                    return json.loads(zf.read(SUMMARY))
            except zipfile.BadZipFile:  # not a ZIP at all: no run finished it
                return None
        with tarfile.open(target, "r:*") as tf:
            member = None
            for info in tf:
                if info.name == SUMMARY:
                    member = info
                tf.members.clear()
            handle = tf.extractfile(member) if member else None
            return json.loads(handle.read()) if handle else None
    except (OSError, ValueError, KeyError, tarfile.TarError, io.UnsupportedOperation):
        return None
