"""The batch journal: what a run is, and how far it has durably got, so ``--resume`` can continue.

An append-only file of JSON lines. The first line describes the run (inputs, options, shard, sink)
so a resume with different arguments is refused instead of mixing two runs in one OUT. Each later
line is a commit: how many inputs are done and the lengths of the output files at that moment,
written after those files were fsynced. A line torn by a kill is ignored; the run continues from
the last whole line, and the sinks cut their files back to the lengths it names.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.render import RenderSettings, fingerprint

VERSION = 1


@dataclass(slots=True)
class Progress:
    """The journal as read back: the run's description, its last commit, whether it finished."""

    header: dict[str, Any]
    last: dict[str, Any] | None
    final: dict[str, Any] | None
    valid_length: int

    @property
    def finished(self) -> bool:
        return self.final is not None


def read(path: Path) -> Progress | None:
    """The journal at ``path``, or None when there is none (or not even its first line survived)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    header: dict[str, Any] | None = None
    last: dict[str, Any] | None = None
    final: dict[str, Any] | None = None
    length = 0
    for line in raw.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break
        try:
            entry = json.loads(line)
        except ValueError:
            break
        length += len(line)
        if header is None:
            header = entry
        elif entry.get("finished"):
            final = entry
        else:
            last = entry
    if header is None:
        return None
    return Progress(header, last, final, length)


def differences(recorded: dict[str, Any], wanted: dict[str, Any], where: str = "journal") -> list[str]:
    """Which run settings differ between the journal (or a finished archive's summary) and this command line."""
    keys = sorted(set(recorded) | set(wanted))
    return [_render_difference(recorded.get(k), wanted.get(k)) if k == RENDER
            else f"{k}: {where} has {recorded.get(k)!r}, this run {wanted.get(k)!r}" for k in keys
            if recorded.get(k) != wanted.get(k)]


RENDER = "render"
"""The header's key for the render settings' fingerprint (absent: the defaults, as in runs begun before it)."""


def render_entry(settings: RenderSettings | None) -> dict[str, str]:
    """The header's record of the render settings (``--config``): a fingerprint of their values, none for the
    defaults. Why: a resume with another catalogue (or none) would mix two zaaktypen in one OUT and one ledger."""
    found = fingerprint.whole(settings)
    return {RENDER: found} if found else {}


def _render_difference(recorded: str | None, wanted: str | None) -> str:
    def said(fingerprint: str | None) -> str:
        return f"those of fingerprint {fingerprint}" if fingerprint else "the default ones (no --config)"

    return (f"render settings (--config, --route): the run began with {said(recorded)}, this run has "
            f"{said(wanted)}; resume with the config the run began with, or start a new run in another OUT")


class Journal:
    """Appends commits with fsync; opened fresh (with a header) or after the last whole line."""

    def __init__(self, path: Path, header: dict[str, Any] | None = None, valid_length: int | None = None) -> None:
        self.path = path
        if header is not None:
            tmp = path.with_name(path.name + ".tmp")
            with tmp.open("wb") as fh:
                fh.write(_line({"journal": VERSION, **header}))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            self._fh = path.open("ab")
        else:
            self._fh = path.open("r+b")
            self._fh.truncate(valid_length)
            self._fh.seek(0, 2)

    def commit(self, entry: dict[str, Any]) -> None:
        self._fh.write(_line(entry))
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def finish(self, entry: dict[str, Any]) -> None:
        self.commit({**entry, "finished": True})

    def close(self) -> None:
        self._fh.close()


def header_of(progress: Progress) -> dict[str, Any]:
    return {k: v for k, v in progress.header.items() if k != "journal"}


def _line(entry: dict[str, Any]) -> bytes:
    return (json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
