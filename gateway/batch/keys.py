"""Names of inputs and of what becomes of them: one stable key per member, safe paths under OUT.

Every member gets a key ``<input label>/<path inside the input>``. Output and quarantine paths
are derived from the key alone, so a resumed run, a sharded run and an uninterrupted run agree on
every name, and a hostile member name (``../../etc/passwd``) can never leave OUT.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from .digests import DigestSet

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
JUNK_NAMES = frozenset({"__MACOSX", "Thumbs.db", "desktop.ini"})
MAX_COMPONENT = 200  # bytes; file systems allow 255 and outputs add a suffix
CONVERTED, QUARANTINE = "converted", "quarantine"
REASON_SUFFIX = ".reason"


def archive_kind(name: str) -> str | None:
    """``zip`` or ``tar`` when the name says it is an archive, else None."""
    lower = name.lower()
    if lower.endswith(".zip"):
        return "zip"
    if any(lower.endswith(s) for s in ARCHIVE_SUFFIXES):
        return "tar"
    return None


def _printable(c: str) -> str:
    """A character of a name as a key may hold it: a byte the file system name was not UTF-8 for (Python's
    surrogate escape) as ``%XX``; any other character that is not printable (controls, bidi overrides, lone
    surrogates, separators) as ``_``; the rest as it is."""
    if c.isprintable():
        return c
    code = ord(c)
    return f"%{code - 0xDC00:02X}" if 0xDC80 <= code <= 0xDCFF else "_"


def _component(part: str) -> str:
    """One name of a path as a key holds it: printable UTF-8 (a report line, a .reason file and a ZIP entry name
    must be able to spell it), never ``..``, at most :data:`MAX_COMPONENT` bytes."""
    if not part.isprintable():
        part = "".join(map(_printable, part))
    if part == "..":
        return "__"
    if len(part.encode("utf-8")) <= MAX_COMPONENT:
        return part
    return _shortened(part, MAX_COMPONENT, digest_size=6)  # keys made before output names were cut keep theirs


def clean_path(name: str) -> str:
    """A member name as a relative path: forward slashes, no empty, ``.`` or ``..`` parts, no control chars."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(_component(p) for p in parts)


def is_junk(path: str) -> bool:
    """Operating-system litter (``__MACOSX/``, ``.DS_Store``, dot files) that is no message at all."""
    return any(part.startswith(".") or part in JUNK_NAMES for part in path.split("/"))


def folded(name: str) -> str:
    """``name`` as a file system that ignores case and Unicode normalisation compares it (APFS and HFS+ on macOS,
    NTFS, FAT and SMB shares): two keys equal here are one file once OUT is copied or extracted there.

    Why: ``A.xml`` and ``a.xml``, or ``café`` in NFC and in NFD, are two names on Linux; on such a file system the
    second output written would replace the first. Case folding is Unicode's, a little wider than NTFS's (``ß`` is
    ``ss``): a name told apart here that NTFS would not confuse only costs that member a ``~N`` name."""
    if name.isascii():
        return name.lower()
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


def input_labels(paths: Iterable[Path]) -> list[str]:
    """One label per INPUT: its base name, made unique with ``~2``, ``~3`` in command-line order (past any
    label taken already: inputs ``p/a``, ``q/a`` and ``r/a~2`` are ``a``, ``a~3`` and ``a~2``). Labels are told
    apart as :func:`folded` compares them: inputs ``p/A.zip`` and ``q/a.zip`` are ``A.zip`` and ``a.zip~2``."""
    bases = [_component(path.resolve().name or "input") for path in paths]
    taken = {folded(base) for base in bases}
    labels, used = [], set()
    for base in bases:
        label, n = base, 1
        while folded(label) in used or (label != base and folded(label) in taken):
            n += 1
            label = f"{base}~{n}"
        used.add(folded(label))
        labels.append(label)
    return labels


_XML_DIR = re.compile(r"\.xml~*\Z")


def output_path(key: str, output_name: str) -> str:
    """Where one converted message of member ``key`` goes, relative to OUT.

    Every file under ``converted/`` ends in ``.xml``; a folder on the way whose name ends so too (a
    member ``a.xml/b.xml``, or ``a.XML/b.xml``: :func:`folded`) gets a ``~``, so no output file can ever stand
    where another needs a folder.
    """
    folders, _, last = key.rpartition("/")
    folders = _output_folders(folders) if folders else ""
    suffix = f".{_component(output_name.replace('/', '_').replace(chr(92), '_'))}.xml"  # one component, always
    room = MAX_NAME - len(suffix.encode("utf-8"))
    if len(last.encode("utf-8")) > room:  # a member name near the 200-byte cap plus the output's own name
        last = _shortened(last, room)
    return f"{CONVERTED}/{folders}{last}{suffix}"


@functools.lru_cache(maxsize=1024)
def _output_folders(folders: str) -> str:
    """The folders of a key as :func:`output_path` writes them under ``converted/``, with their ``/``: shallowed
    (:func:`_shallow`) and each ``….xml`` one given its ``~``. Remembered by the key's folders: an archive lists its
    members folder by folder, and a member's outputs share them (one pass over the parts a folder, not one an
    output: ~2.5 µs a member of the batch parent's serial path, session 30)."""
    folders = _shallow(f"{folders}/")[:-1]
    return "/".join(part + "~" if _XML_DIR.search(folded(part)) else part for part in folders.split("/")) + "/"


MAX_NAME = 255
"""Bytes in one file name (ext4, XFS, btrfs, NTFS, APFS): an output's name past it could not be written at all."""
MAX_FOLDERS = 2048
"""Bytes of a key's folders under OUT; deeper ones are replaced by a hash (:func:`_shallow`), so that OUT's own
path plus an output's path stays below PATH_MAX (4,096 on Linux)."""


def _shallow(key: str) -> str:
    """``key``, or, when its folders pass :data:`MAX_FOLDERS` bytes, ``label/~<hash of the folders>/name``."""
    folders, _, last = key.rpartition("/")
    if len(folders.encode("utf-8")) <= MAX_FOLDERS:
        return key
    label, _, inner = folders.partition("/")
    return f"{label}/~{hashlib.blake2b(inner.encode('utf-8'), digest_size=8).hexdigest()}/{last}"


def _shortened(name: str, size: int, digest_size: int = 8) -> str:
    """``name`` cut to at most ``size`` bytes, with ``~`` and a hash of the whole so that two cut alike differ."""
    raw = name.encode("utf-8")
    digest = hashlib.blake2b(raw, digest_size=digest_size).hexdigest()
    return raw[: max(size - 1 - len(digest), 1)].decode("utf-8", errors="ignore") + "~" + digest


_REASON_LIKE = re.compile(r"\.reason~*\Z")


def quarantine_path(key: str) -> str:
    """Where a failed member's bytes go, relative to OUT; its reason sits beside it with ``.reason``.

    A member whose own name ends in ``.reason`` (or ``.REASON``, ``.reason~``...) gets one more ``~``, so no
    quarantined input can ever take the place of another input's reason file.
    """
    path = f"{QUARANTINE}/{_shallow(key)}"
    return path + "~" if _REASON_LIKE.search(folded(path)) else path


def reason_path(key: str) -> str:
    """The ``.reason`` file of member ``key`` (beside :func:`quarantine_path`)."""
    return quarantine_path(key) + REASON_SUFFIX


class NameClaims:
    """Member names already used inside one archive, so two members never claim one output path.

    An archive may hold the same name twice, or a file ``a.xml`` and a folder ``a.xml/``; written
    out, the second would overwrite the first or could not be written at all. Names are compared
    :func:`folded`, so ``A.xml`` and ``a.xml`` clash too (one file on macOS or Windows). A clashing member is
    renamed (deterministically, by its position) instead. Memory: a 64-bit digest per member and per
    folder of the archive being read, ~10 bytes each (:class:`~.digests.DigestSet`).
    """

    def __init__(self) -> None:
        self._files = DigestSet()
        self._dirs = DigestSet()
        self._folder: tuple[str, list[int]] = ("", [])
        """The last claimed path's folder and its digests: an archive lists its members folder by folder, so the
        next member's folders are mostly these again (~2 µs a member of the batch parent's serial path)."""

    @staticmethod
    def _digest(path: str) -> int:
        digest = hashlib.blake2b(folded(path).encode("utf-8", "surrogateescape"), digest_size=8).digest()
        return int.from_bytes(digest, "big")

    def _digests(self, path: str) -> list[int]:
        """Digests of ``path``'s folders (outermost first) and, last, of ``path`` itself."""
        folder = path.rpartition("/")[0]
        if folder != self._folder[0] or not folder:
            parts = folder.split("/") if folder else []
            self._folder = (folder, [self._digest("/".join(parts[:i])) for i in range(1, len(parts) + 1)])
        return [*self._folder[1], self._digest(path)]

    def _free(self, digests: list[int]) -> bool:
        whole = digests[-1]
        if whole in self._files or whole in self._dirs:
            return False
        return not any(folder in self._files for folder in digests[:-1])

    def claim(self, path: str, position: int) -> str:
        """``path`` if no earlier member uses it (as a file or as a folder), else a renamed one."""
        candidate = path
        digests = self._digests(candidate)
        n = 0
        while not self._free(digests):
            n += 1
            candidate = f"{path.replace('/', '~')}~{position}" + (f"~{n}" if n > 1 else "")
            digests = self._digests(candidate)
        self._files.add(digests[-1])
        for folder in digests[:-1]:
            self._dirs.add(folder)
        return candidate
