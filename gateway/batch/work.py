"""The worker side of a batch: convert a chunk of members and hand back its report lines and output.

A worker process builds its Converter (and so compiles every mapping) once, in the pool's
initializer, and then converts chunk after chunk. Everything that depends on the message happens
here: conversion, schema validation, the report line, the quarantine copy with its ``.reason``,
and packing outputs for the sink. The parent only streams bytes in and appends results in order.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.ingest import read
from gateway.mapping import Compiled, MappingError, Refused, Registry
from gateway.pipeline import FAILURES, Converter, FailureInfo, describe

from .keys import REASON_SUFFIX, output_path, quarantine_path
from .report import FAILED, REFUSED, Tally, encode_line, failed_line, ok_line, reason_text
from .sinks import Packer, SinkSpec, packer_for

_PR_SET_PDEATHSIG = 1
READ_FAILED = "StUF058"
"""Code for an input whose bytes could not be read at all (damaged archive member, too large)."""


@dataclass(frozen=True, slots=True)
class WorkConfig:
    """Everything a worker needs to build its Converter and packer (picklable, sent once)."""

    sink: SinkSpec
    profile: str = "zkn"
    mappings: tuple[str, ...] = ()
    mapping_files: tuple[str, ...] = ()
    validate: bool = True
    route: str | None = None
    max_bytes: int = 10 * 1024 * 1024


@dataclass(slots=True)
class Chunk:
    """Consecutive members ``first .. first+len(members)-1`` as (key, bytes, why-unreadable)."""

    first: int
    members: list[tuple[str, bytes, str | None]]

    @property
    def count(self) -> int:
        return len(self.members)


@dataclass(slots=True)
class ChunkResult:
    first: int
    count: int
    payload: Any
    report: bytes
    tally: Tally = field(default_factory=Tally)


class Worker:
    """One process's converter and packer."""

    def __init__(self, config: WorkConfig, registry: Registry | None = None) -> None:
        self.config = config
        if registry is None:
            registry = Registry(files=[Path(f) for f in config.mapping_files])
        self.converter = Converter(registry, profile=config.profile, mappings=config.mappings,
                                   validate=config.validate, max_bytes=config.max_bytes)
        self.packer: Packer = packer_for(config.sink)

    def convert_chunk(self, chunk: Chunk) -> ChunkResult:
        lines = bytearray()
        tally = Tally()
        for key, data, problem in chunk.members:
            line = self._one(key, data, problem)
            tally.count(line)
            lines += encode_line(line)
        return ChunkResult(chunk.first, chunk.count, self.packer.take(), bytes(lines), tally)

    def crashed(self, chunk: Chunk, why: str) -> ChunkResult:
        """The result for a single member that took its worker process down with it."""
        key, data, _ = chunk.members[0]
        info = FailureInfo(READ_FAILED, None, None, why, key)
        line = self._quarantine(key, data, info, None)
        tally = Tally()
        tally.count(line)
        return ChunkResult(chunk.first, 1, self.packer.take(), encode_line(line), tally)

    def _one(self, key: str, data: bytes, problem: str | None) -> dict[str, Any]:
        if problem is not None:
            return self._quarantine(key, data, FailureInfo(READ_FAILED, None, None, problem, key), None)
        try:
            result = self.converter.convert(data, key, route=self.config.route)
        except Refused as exc:  # recognised and refused by its mapping (refuse:): counted apart from failures
            return self._quarantine(key, data, describe(exc, key), self.converter.registry.get(exc.mapping), REFUSED)
        except (*FAILURES, MappingError) as exc:
            return self._quarantine(key, data, describe(exc, key), self._detect(data, key))
        except Exception as exc:  # a bug must not stop the run: the input is quarantined and reported
            info = describe(exc, key)
            detail = f"{info.message}: {str(exc)[:300]}" if str(exc) else info.message
            info = FailureInfo(info.code, info.field, info.line, detail, key)
            return self._quarantine(key, data, info, self._detect(data, key))
        paths = []
        for output in result.outputs:
            path = output_path(key, output.name)
            if path in paths:  # two outputs with one name: keep both, numbered
                path = path[:-4] + f"-{len(paths) + 1}.xml"
            paths.append(path)
            self.packer.add(path, output.xml)
        return ok_line(key, result.mapping, list(result.source.envelopes), paths, len(result.unmapped),
                       len(result.warnings))

    def _quarantine(self, key: str, data: bytes, info: FailureInfo, mapping: Compiled | None,
                    status: str = FAILED) -> dict[str, Any]:
        path = quarantine_path(key)
        self.packer.add(path, data)
        self.packer.add(path + REASON_SUFFIX, reason_text(key, info, mapping))
        return failed_line(key, info, mapping, path, status)

    def _detect(self, data: bytes, key: str) -> Compiled | None:
        """Which mapping a failed input was for, when that much could still be told (for the report)."""
        try:
            return self.converter.detect(read(data, key, max_bytes=self.config.max_bytes, route=self.config.route))
        except Exception:
            return None


# -- process-pool plumbing ------------------------------------------------------------------------

_worker: Worker | None = None
_inherited: Registry | None = None
"""The parent's compiled mappings, set before the pool forks: workers started by fork reuse them
(copy-on-write) instead of compiling every mapping file again. Spawned workers compile their own."""


def share_registry(registry: Registry | None) -> None:
    global _inherited
    _inherited = registry


def start_worker(config: WorkConfig, parent: int | None = None) -> None:
    """Pool initializer: build the Converter once; leave Ctrl-C to the parent; die with the parent."""
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler inherited through fork
    if parent is not None:
        _die_with(parent)
    _worker = Worker(config, _inherited)


def _die_with(parent: int) -> None:
    """Exit when ``parent`` does (e.g. ``kill -9``): nobody would collect our results, and OUT is theirs."""
    if sys.platform == "linux":  # the kernel does it at once, however busy this process is
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before we asked
        os._exit(1)

    def watch() -> None:  # elsewhere (and as a fallback): look every half second
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def run_chunk(chunk: Chunk) -> ChunkResult:
    assert _worker is not None, "start_worker() must run first (pool initializer)"
    return _worker.convert_chunk(chunk)
