"""Shared CLI plumbing: loading mappings with a readable error and exit codes."""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from gateway.mapping import Registry

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_REFUSED = 3
"""convert: no input failed, but at least one was refused on purpose by its mapping (``refuse:``)."""


class RegularPath(click.Path):
    """``click.Path(exists=True)`` that also refuses a FIFO, socket or device, as a missing path is refused (exit 2,
    naming the option and the path): ``--config`` or ``mapping check`` of a FIFO waited for a writer for ever."""

    def __init__(self, *, dir_okay: bool = False) -> None:
        super().__init__(exists=True, dir_okay=dir_okay)

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> object:
        path = super().convert(value, param, ctx)
        shown = os.fsdecode(path)  # type: ignore[arg-type]
        if not os.path.isfile(shown) and not (self.dir_okay and os.path.isdir(shown)):
            self.fail(f"{click.format_filename(shown)!r} is not a regular file (a FIFO, socket or device): expected "
                      f"{'a file or folder' if self.dir_okay else 'a file'}", param, ctx)
        return path


def load_registry(extra: Iterable[str] = ()) -> Registry:
    """The registry of built-in and repo mappings plus files named on the command line."""
    from gateway.mapping import Registry  # on demand: ``overstap outbox list`` needs no mappings (~0.3 s)

    files = [Path(m) for m in extra if Path(m).suffix in (".yaml", ".yml")]
    registry = Registry(files=files)
    for err in registry.errors:
        from gateway.tooling.mappingtest import problems_shown

        for problem in problems_shown(err):
            click.echo(f"warning: mapping not loaded: {problem}", err=True)
    return registry


def echo_failure(exc: BaseException, source: str, suffix: str = "") -> None:
    """``FAIL file:line: field: reason`` for a message that did not convert, then one ``also`` line per
    further independent error (bounded), so one run names every problem of the message."""
    from gateway.pipeline import describe

    info = describe(exc, source)
    click.echo(f"FAIL {info}{suffix}")
    for other in info.also:
        click.echo(f"     also {other}")
    if info.more:
        click.echo(f"     {info.more}")


def fail_usage(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def resolve_mappings(registry: Registry, refs: Iterable[str]) -> list[str]:
    from gateway.mapping import MappingError

    names = []
    for ref in refs:
        try:
            names.append(registry.get(ref).name)
        except MappingError as exc:
            fail_usage(str(exc))
    return names


@dataclass(frozen=True, slots=True)
class NotRead:
    """An entry of a folder input that is not converted, and why; ``failed``: its files are unknown (a folder
    that cannot be listed), so the run cannot end as if everything was read."""

    path: Path
    reason: str
    failed: bool = False


def input_files(inputs: Iterable[str], not_read: list[NotRead] | None = None) -> list[Path]:
    """Expand folders into their regular files (sorted, recursive); keep files named on the command line as given.

    Inside a folder, symbolic links (to files or folders) are not followed: a folder never makes us
    read outside it. What a folder holds but is not read (a link, a FIFO or device, a subfolder that cannot
    be listed) goes to ``not_read``, so the caller names it instead of leaving it out without a word.
    """
    out: list[Path] = []
    skipped = not_read if not_read is not None else []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            out += _folder_files(path, skipped)
        elif path.exists():
            out.append(path)
        else:
            fail_usage(f"no such file or folder: {item}")
    return out


def _folder_files(root: Path, skipped: list[NotRead]) -> list[Path]:
    """The regular files under ``root`` (hidden names left out), sorted; the rest is noted in ``skipped``."""

    def unlisted(exc: OSError) -> None:
        skipped.append(NotRead(Path(exc.filename or root), f"cannot list folder: {exc.strerror or exc}", True))

    found = []
    for folder, dirs, files in os.walk(root, onerror=unlisted, followlinks=False):
        for d in [d for d in dirs if not d.startswith(".") and (Path(folder) / d).is_symlink()]:
            skipped.append(NotRead(Path(folder) / d, "symbolic link: not followed inside a folder input"))
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (Path(folder) / d).is_symlink())
        for f in files:
            path = Path(folder) / f
            if f.startswith("."):
                continue
            if path.is_symlink():
                skipped.append(NotRead(path, "symbolic link: not followed inside a folder input"))
            elif path.is_file():
                found.append(path)
            else:
                skipped.append(NotRead(path, "not a regular file (FIFO, socket or device): not read"))
    return sorted(found)


def echo_not_read(not_read: Iterable[NotRead]) -> int:
    """``skip PATH: reason`` (or ``FAIL`` for a folder that cannot be listed) per entry; the number of FAILs."""
    failed = 0
    for entry in not_read:
        click.echo(f"{'FAIL' if entry.failed else 'skip'} {entry.path}: {entry.reason}")
        failed += entry.failed
    return failed


def read_input(path: Path) -> bytes:
    """The bytes of one input, read up to the 25 MB a GGk envelope may have (GGk spec 3.2): ingest then holds
    any other message to the 10 MB limit, so convert and explain take what the sidecar takes."""
    from gateway.ingest import read_capped
    from gateway.ingest.ggk import MAX_ENVELOPE_BYTES

    return read_capped(path, MAX_ENVELOPE_BYTES)


def refuse_empty_state(state: str) -> None:
    """A usage error for ``--state ""`` (an unset variable in ``--state "$STATE"``): it was taken as the current
    folder, so the zaak ledger appeared wherever the command happened to run, beside the inputs or not."""
    if not state.strip():
        fail_usage("--state is empty: expected a folder for the zaak ledger, 'none' (memory, this run only) or a "
                   "postgresql:// URL")


def keep_apart(inputs: Iterable[str], out: Path, state: Path | None) -> None:
    """A usage error when OUT or the ``--state`` folder is an input or inside an input folder, as ``batch`` refuses
    it: ``convert --out x .`` read its own zaak ledger (``./overstap-state``, the default) as three failed
    messages, and a second run into ``in/out`` read the first run's outputs as inputs."""
    paths = [(item, Path(item).resolve()) for item in inputs]
    target = out.resolve()
    if any(path == target or (path.is_dir() and target.is_relative_to(path)) for _, path in paths):
        fail_usage("--out must not be one of the inputs or inside an input folder")
    if state is None:
        return
    place = state.resolve()
    for item, path in paths:
        if path == place or path.parent == place or (path.is_dir() and place.is_relative_to(path)):
            fail_usage(f"--state {place} and the input {item} overlap: the run would read what it writes; "
                       "choose another place")


def prepare_out(out: Path) -> None:
    """``--out`` as a folder, created when missing; a usage error before any message is converted (and its
    state entered in the zaak ledger) when that is impossible."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail_usage(f"--out {out}: cannot create the folder: {exc.strerror or exc}")


def write_output(folder: Path, name: str, data: bytes) -> bool:
    """``data`` as ``folder/name``, True when it replaced an entry that was there before.

    Written to a new hidden file in ``folder``, fsynced, and renamed onto ``name``: the rename replaces a
    symbolic link standing at that name instead of writing through it to a file outside ``folder``, nobody
    sees half a file, and once :func:`sync_folder` has made the rename durable too, a crash cannot take the
    bytes back (``convert`` commits a message's zaak state only then). OSError (the name is a folder, the disk
    is full) is the caller's to report.
    """
    target = folder / name
    existed = os.path.lexists(target)
    tmp = folder / f".{name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return existed


def sync_folder(folder: Path) -> None:
    """fsync ``folder`` itself, so the files just renamed into it stay there after a crash (POSIX keeps a
    name in the folder's own blocks; fsyncing the file does not write them). Once per message, not per file."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
