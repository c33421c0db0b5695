"""Stream the members of the INPUTs (folders, single files, ZIP and tar archives) one at a time.

Nothing is unpacked to disk and no archive is held in memory: ZIP members are read from the
central directory on demand, tar archives (plain, gzip, bzip2, xz) are read as a stream. Members
come out in a fixed order with an ordinal, so a resumed run can skip the ones already done
without reading their bytes, and a member that cannot be read becomes a failed input instead of
stopping the run.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import stat
import tarfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from gateway.ingest.ggk import SCAN_BYTES, limit_for
from gateway.regularfile import NotRegular, open_regular

from .keys import NameClaims, archive_kind, clean_path, input_labels, is_junk
from .shard import Shard
from .zipformat import BOMB_FLOOR, MAX_RATIO, ZipEntry, ZipFormatError, ZipReader

Loader = Callable[[], bytes]
TAR_ERRORS = (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError)


def _decompressed(path: Path) -> BinaryIO:
    """The tar stream inside ``path``, by magic number: gzip (any number of members), bzip2, xz or none.

    ``tarfile``'s own streaming mode stops after the first gzip member; GzipFile reads them all,
    which is what a .tar.gz written by parts (like our own output) needs.
    """
    with path.open("rb") as fh:
        magic = fh.read(6)
    raw = _Counted(path.open("rb"))
    if magic[:2] == b"\x1f\x8b":
        return _Bounded(gzip.GzipFile(fileobj=raw, mode="rb"), raw)
    if magic[:3] == b"BZh":
        return _Bounded(bz2.BZ2File(raw, "rb"), raw)
    if magic == b"\xfd7zXZ\x00":
        return _Bounded(lzma.LZMAFile(raw, "rb"), raw)
    return raw


class _Counted(io.RawIOBase):
    """A file that counts the bytes read from it (what a decompressor took of the archive)."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh, self.taken = fh, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.fh.readinto(buffer)  # type: ignore[attr-defined]
        self.taken += n or 0
        return n  # type: ignore[no-any-return]

    def close(self) -> None:
        self.fh.close()
        super().close()


class _Bounded(io.RawIOBase):
    """A decompressed tar stream that ends in an error once it has expanded more than :data:`MAX_RATIO` times past
    :data:`BOMB_FLOOR` bytes: a member too large to convert must still be decompressed to reach the next, and an
    11 KB bzip2 of 8 GiB of zeros took 21 s of it (the ZIP reader refuses such members unread)."""

    def __init__(self, inner: BinaryIO, raw: _Counted) -> None:
        self.inner, self.raw, self.given = inner, raw, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.given += n
        if self.given > BOMB_FLOOR and self.given > MAX_RATIO * max(self.raw.taken, 1):
            raise OSError(f"the archive expands more than {MAX_RATIO:,} times (a decompression bomb?): "
                          "the rest is not read")
        return n

    def close(self) -> None:
        self.inner.close()
        self.raw.close()
        super().close()


class InputsChanged(Exception):
    """A resumed run's inputs are not those it began with (the members before its resume point differ)."""


def identity(path: Path) -> list[int] | None:
    """What tells a file INPUT from another at its path: size and modification time (None for a folder)."""
    if path.is_dir():
        return None
    found = path.stat()
    return [found.st_size, found.st_mtime_ns]


class Unreadable(Exception):
    """A member (or a whole archive) whose bytes cannot be had; the message says why."""


def whose(limit: int, max_bytes: int) -> str:
    """After ``the limit of N``: whose limit it is when it is not ``max_bytes``, so a refusal names the one that
    applied."""
    return " (a GGk envelope's, GGk spec 3.2)" if limit > max_bytes else ""


def read_zip_member(reader: ZipReader, entry: ZipEntry, max_bytes: int) -> bytes:
    """A ZIP member's bytes up to ``max_bytes``, or up to a GGk envelope's 25 MB when its first bytes show one
    (ingest, convert and the sidecar take those too). Only a member declared larger than ``max_bytes`` has its
    head decompressed to tell, so another message still costs at most ``max_bytes`` of memory."""
    limit = limit_for(reader.head(entry, SCAN_BYTES), max_bytes) if entry.size > max_bytes else max_bytes
    if entry.size > limit:
        raise ZipFormatError(f"member is {entry.size} bytes, more than the limit of {limit}{whose(limit, max_bytes)}")
    return reader.read(entry, limit)


class ZipRef(NamedTuple):
    """A ZIP member not read yet, for the batch worker that converts it to read (:func:`member_bytes`): the
    parent's serial path reads only the central directory, and ~0.1 KB goes to the worker instead of the bytes.

    Why: reading a member (seek, inflate, CRC) cost the parent ~20 µs of the ~220 it spends on a message,
    and the parent's path is what a batch's throughput waits for (docs/performance-history.md, thirteenth session)."""

    archive: str
    entry: ZipEntry
    stamp: tuple[int, int, int, int]
    """The archive's :meth:`ZipReader.identity` when it was listed: a worker reads the member from that file only."""

    @property
    def size(self) -> int:
        """The size the central directory declares (chunking counts it; the read itself is capped)."""
        return self.entry.size


class _Readers:
    """The archive a process last read deferred members from, kept open: members come archive by archive. Keyed
    by path and identity, so a file put at the same path (a later run, or a change during this one) is never read
    through the handle of the one before."""

    def __init__(self) -> None:
        self._key: tuple[str, tuple[int, int, int, int]] | None = None
        self._reader: ZipReader | None = None

    def read(self, ref: ZipRef, limit: int) -> bytes:
        if self._key != (ref.archive, ref.stamp) or self._reader is None:
            self.close()
            reader = ZipReader(Path(ref.archive))
            if reader.identity() != ref.stamp:
                reader.close()
                raise ZipFormatError("the archive is not the file that was listed: it was replaced or changed "
                                     "while the batch ran (run it again on a file that stays put)")
            self._key, self._reader = (ref.archive, ref.stamp), reader
        return read_zip_member(self._reader, ref.entry, limit)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self._key = self._reader = None


_READERS = _Readers()
close_readers = _READERS.close
"""Let go of the archive this process read last (the end of a batch run)."""
if hasattr(os, "register_at_fork"):  # a forked worker must not share the parent's file offset: its own handle
    os.register_at_fork(after_in_child=_READERS.close)


def member_bytes(data: bytes | ZipRef, limit: int) -> tuple[bytes, str | None]:
    """A member's bytes, reading a :class:`ZipRef` now; with why they cannot be had (the texts
    :meth:`Inputs.members` gives when it reads a member itself)."""
    if data.__class__ is not ZipRef:
        return data, None  # type: ignore[return-value]
    try:
        return _READERS.read(data, limit), None  # type: ignore[arg-type]
    except ZipFormatError as exc:
        return b"", str(exc)
    except OSError as exc:
        _READERS.close()
        return b"", f"cannot read: {exc.strerror or exc}"


@dataclass(slots=True)
class Member:
    """One input message: its position in the stream, its key, its bytes (or why they are missing)."""

    ordinal: int
    key: str
    data: bytes | ZipRef
    """The bytes, or with ``defer_zip`` a ZIP member's :class:`ZipRef` (read by :func:`member_bytes`)."""
    problem: str | None = None
    whole: bool = False
    """The line stands for a whole archive (it cannot be opened, or broke off): nothing to quarantine but a reason."""


@dataclass(slots=True)
class _Raw:
    key: str
    load: Loader | None  # None: the problem below is all there is
    problem: str | None = None
    junk: bool = False
    whole: bool = False
    ref: ZipRef | None = None


class Inputs:
    """The members of the INPUTs that belong to one shard, in a deterministic order."""

    def __init__(self, paths: list[Path], shard: Shard | None = None, max_bytes: int = 10 * 1024 * 1024,
                 by_name: bool = True, defer_zip: bool = False) -> None:
        self.paths = paths
        self.defer_zip = defer_zip
        """ZIP members come out as :class:`ZipRef` for the consumer to read (batch workers), not as bytes."""
        self.labels = input_labels(paths)
        self.shard = shard or Shard()
        self.by_name = by_name
        """False when shards split by client (work.py): every member is read, the workers keep this shard's."""
        self.max_bytes = max_bytes
        self.skipped = 0
        """Operating-system litter (dot files, ``__MACOSX``) seen in this shard; not messages, not reported."""

    def estimate(self) -> int | None:
        """How many members this shard will see, when that is cheap to know (ZIPs and single files)."""
        total = 0
        for path in self.paths:
            if path.is_dir() or archive_kind(path.name) == "tar":
                return None
            if archive_kind(path.name) == "zip":
                try:
                    with ZipReader(path) as reader:
                        total += reader.count
                except (ZipFormatError, OSError):
                    total += 1
            else:
                total += 1
        return -(-total // self.shard.count) if self.by_name else total

    def members(self, start: int = 0, before: tuple[int, str] | None = None) -> Iterator[Member]:
        """Members of this shard from ordinal ``start`` on; earlier ones are passed over unread. ``before``: a
        resumed run's journal's (end, key): member ``end - 1``, at or before ``start - 1``, had that key then
        (:class:`InputsChanged` if it has another now)."""
        ordinal = 0
        self.skipped = 0
        for raw in self._all():
            owned = self.shard.owns(raw.key)
            if raw.junk:
                self.skipped += owned
                continue
            if self.by_name and not owned:
                continue
            if ordinal >= start:
                yield self._load(ordinal, raw)
            elif before is not None and ordinal == before[0] - 1 and raw.key != before[1]:
                raise InputsChanged(f"input {ordinal + 1:,} was {before[1]!r} when the run began and is {raw.key!r} "
                                    "now: members were added, removed or renamed before the point to resume from")
            ordinal += 1
        if start > ordinal:
            raise InputsChanged(f"the run had done {start:,} input(s), and the inputs hold {ordinal:,} now")

    def _load(self, ordinal: int, raw: _Raw) -> Member:
        if raw.ref is not None:
            return Member(ordinal, raw.key, raw.ref)
        if raw.load is None:
            return Member(ordinal, raw.key, b"", raw.problem, raw.whole)
        try:
            return Member(ordinal, raw.key, raw.load())
        except Unreadable as exc:
            return Member(ordinal, raw.key, b"", str(exc))
        except OSError as exc:
            return Member(ordinal, raw.key, b"", f"cannot read: {exc.strerror or exc}")

    # -- sources ----------------------------------------------------------------------------------

    def _all(self) -> Iterator[_Raw]:
        for path, label in zip(self.paths, self.labels, strict=True):
            if path.is_dir():
                yield from self._folder(path, label)
            else:
                yield from self._file(path, label)

    def _file(self, path: Path, key: str) -> Iterator[_Raw]:
        kind = archive_kind(path.name)
        if kind is not None and not _regular(path):  # a FIFO named .zip would block the open for ever
            yield _Raw(key, None, "not a regular file (FIFO, socket or device): refused", whole=True)
            return
        if kind == "zip":
            yield from self._zip(path, key)
        elif kind == "tar":
            yield from self._tar(path, key)
        else:
            yield _Raw(key, lambda: self._read_file(path))

    def _folder(self, root: Path, prefix: str, names: NameClaims | None = None,
                seen: list[int] | None = None) -> Iterator[_Raw]:
        """The folder's files in name order, depth first. Names are cleaned (keys.clean_path) and then claimed
        once for the whole input folder, as in an archive: ``a\\b.xml`` beside ``a/b.xml``, or ``c\\x01.xml``
        beside ``c_.xml``, clean to one key, and the later one is renamed by its position."""
        names = NameClaims() if names is None else names
        seen = [0] if seen is None else seen
        try:
            with os.scandir(root) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield _Raw(prefix, None, f"cannot list folder: {exc.strerror or exc}")
            return
        for entry in entries:
            if is_junk(entry.name):
                yield _Raw(f"{prefix}/{clean_path(entry.name)}", None, junk=True)
                continue
            if entry.is_dir(follow_symlinks=False):
                yield from self._folder(Path(entry.path), f"{prefix}/{clean_path(entry.name)}", names, seen)
                continue
            seen[0] += 1
            label, _, folders = prefix.partition("/")  # the folders are clean already; the label holds no "/"
            inner = clean_path(f"{folders}/{entry.name}")
            key = f"{label}/{names.claim(inner, seen[0])}"
            if entry.is_symlink():  # never followed: it could point anywhere outside the input
                yield _Raw(key, None, "symbolic link: refused (links in a folder input are not followed)")
            elif entry.is_file(follow_symlinks=False):
                yield from self._file(Path(entry.path), key)
            else:
                yield _Raw(key, None, "not a regular file (FIFO, socket or device): refused")

    def _read_file(self, path: Path) -> bytes:
        """At most ``max_bytes`` of a regular file; a FIFO or device is refused before it is opened."""
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            raise Unreadable(f"cannot read: {exc.strerror or exc}") from None
        if not stat.S_ISREG(mode):
            raise Unreadable("not a regular file (FIFO, socket or device): refused")
        limit = self.max_bytes
        try:  # judged again on the descriptor: a FIFO put in its place since the stat is refused, not waited on
            fh = open_regular(path)
        except NotRegular:
            raise Unreadable("not a regular file (FIFO, socket or device): refused") from None
        with fh:  # read with a cap: the file may have grown since it was listed
            data = fh.read(limit + 1)
            if len(data) > limit:  # a GGk envelope may be 25 MB: read on only for one
                limit = limit_for(data, self.max_bytes)
                data += fh.read(limit + 1 - len(data)) if limit > self.max_bytes else b""
        if len(data) > limit:
            raise Unreadable(f"file is more than the limit of {limit} bytes{whose(limit, self.max_bytes)}")
        return data

    def _zip(self, path: Path, prefix: str) -> Iterator[_Raw]:
        try:
            reader = ZipReader(path)
        except (ZipFormatError, OSError) as exc:
            yield _Raw(prefix, None, f"cannot open ZIP archive: {exc}", whole=True)
            return
        names = NameClaims()
        archive, stamp = str(path), reader.identity()
        with reader:
            try:
                for position, entry in enumerate(reader.entries()):
                    if entry.is_dir:
                        continue
                    inner = clean_path(entry.name)
                    junk = is_junk(inner)
                    key = f"{prefix}/{inner if junk else names.claim(inner, position)}"
                    if entry.is_link:  # its data is the link's target, never a message: refused as a tar link is
                        yield _Raw(key, None, ZIP_LINK, junk=junk)
                        continue
                    if self.defer_zip:
                        yield _Raw(key, None, junk=junk, ref=ZipRef(archive, entry, stamp))
                        continue

                    def load(entry: object = entry) -> bytes:
                        try:
                            return read_zip_member(reader, entry, self.max_bytes)  # type: ignore[arg-type]
                        except ZipFormatError as exc:
                            raise Unreadable(str(exc)) from None

                    yield _Raw(key, load, junk=junk)
            except (ZipFormatError, OSError) as exc:
                yield _Raw(prefix, None, f"ZIP archive damaged: {exc}", whole=True)

    def _tar(self, path: Path, prefix: str) -> Iterator[_Raw]:
        seen = 0
        names = NameClaims()
        with ExitStack() as stack:
            try:
                tar = stack.enter_context(tarfile.open(fileobj=stack.enter_context(_decompressed(path)), mode="r|"))
            except TAR_ERRORS as exc:
                yield _Raw(prefix, None, f"cannot open tar archive: {exc}", whole=True)
                return
            try:
                for position, info in enumerate(tar):
                    tar.members.clear()  # streaming mode would otherwise keep every header in memory
                    if info.isdir():
                        continue
                    seen += 1
                    inner = clean_path(info.name)
                    junk = is_junk(inner)
                    key = f"{prefix}/{inner if junk else names.claim(inner, position)}"
                    refused = _special(info)
                    if refused:
                        yield _Raw(key, None, refused, junk=junk)
                    else:
                        yield _Raw(key, self._tar_loader(tar, info), junk=junk)
            except TAR_ERRORS as exc:
                yield _Raw(prefix, None, f"tar archive damaged after {seen} member(s): {exc}", whole=True)

    def _tar_loader(self, tar: tarfile.TarFile, info: tarfile.TarInfo) -> Loader:
        def load() -> bytes:
            try:
                handle = tar.extractfile(info)
                if handle is None:
                    raise Unreadable("member has no data")
                head = handle.read(SCAN_BYTES) if info.size > self.max_bytes else b""  # a GGk envelope may be 25 MB
                limit = limit_for(head, self.max_bytes) if head else self.max_bytes
                if info.size > limit:
                    raise Unreadable(f"member is {info.size} bytes, more than the limit of {limit}"
                                     f"{whose(limit, self.max_bytes)}")
                return head + handle.read()
            except TAR_ERRORS as exc:
                raise Unreadable(f"member data is truncated or corrupt: {exc}") from None

        return load


def _regular(path: Path) -> bool:
    """Whether ``path`` is a regular file (not a FIFO, socket or device), without opening it."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return True  # not there (any more): the reader says why, as it did


ZIP_LINK = "ZIP symbolic link member: refused (only regular files are messages; links are not followed)"


def _special(info: tarfile.TarInfo) -> str | None:
    """Why a tar member that is no regular file is refused (links, FIFOs, devices), or None for a file."""
    if info.isfile():
        return None
    kind = ("hard link" if info.islnk() else "symbolic link" if info.issym() else "FIFO" if info.isfifo()
            else "device" if info.isdev() else "special member")
    return f"tar {kind} member: refused (only regular files are messages; links are not followed)"
