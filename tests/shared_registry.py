"""One compiled registry per set of mapping folders and files, shared by the tests of one process.

``Registry()`` (and ``Converter()`` without one) reads and compiles every mapping file again: ~0.3 s of CPU, paid
~800 times a CI run by tests that only read the mappings (docs/testing.md, "CI run time (session 31, per-test
overheads)"). Only for tests that read a registry: one that reloads it, or changes the files it names, builds its own.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path

from gateway.mapping import Registry
from gateway.mapping.registry import default_dirs


@functools.cache
def _compiled(dirs: tuple[Path, ...], files: tuple[Path, ...]) -> Registry:
    return Registry(list(dirs), files=list(files))


def shared_registry(dirs: Iterable[Path] | None = None, files: Iterable[Path] = ()) -> Registry:
    """The registry of ``dirs`` (the default folders as ``OVERSTAP_MAPPING_PATH`` names them now) and ``files``,
    compiled once per process for each distinct set."""
    folders = tuple(Path(d) for d in (default_dirs() if dirs is None else dirs))
    return _compiled(folders, tuple(Path(f).resolve() for f in files))
