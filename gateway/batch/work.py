"""The worker side of a batch: convert a chunk of members and hand back its report lines and output.

A worker process builds its Converter (and so compiles every mapping) once, in the pool's
initializer, and then converts chunk after chunk. Everything that depends on the message happens
here: conversion, schema validation, the report line, the quarantine copy with its ``.reason``,
and packing outputs for the sink. The parent only streams members in (a ZIP member as a reference the worker
reads, inputs.ZipRef, unless the parent has time to read it: placement.py) and appends results in order.
"""

from __future__ import annotations

import _signal  # getsignal without the enum lookup of signal.getsignal: 0.04 µs, not 2 (once a message)
import contextlib
import gc
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from gateway.ingest import Source, read
from gateway.mapping import Compiled, MappingError, Refused, Registry
from gateway.parentwatch import end_with_parent
from gateway.pipeline import FAILURES, Converter, FailureInfo, bug, describe
from gateway.procmemory import DEFAULT_GROWTH_MB, Allowance
from gateway.render import RenderSettings
from gateway.render.ggk_chain import received_di01
from gateway.render.zkn import STRICT_JSON, Prepared, prepared_from_plain

from .budget import Budget, Limits
from .inputs import ZipRef, member_bytes
from .keys import output_path, quarantine_path, reason_path
from .report import FAILED, REFUSED, Tally, encode_line, failed_line, ok_line, reason_text
from .shard import Shard
from .sinks import Packer, SinkSpec, packer_for

READ_FAILED = "StUF058"
"""Code for an input whose bytes could not be read at all (damaged archive member, too large)."""
DEFAULT_TIMEOUT = 60.0


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection while a run is parsed, mapped and prepared; the collector as it was afterwards.

    Why: phase order keeps a run's trees, models and facts (~100 tracked objects a member) alive through three
    passes, so every collection inside a run walked and promoted objects that refcounting frees at its end anyway
    (~1,300 collections and ~30 µs of CPU a message; docs/performance-issue13-s32-conversion.md). A conversion makes
    no cyclic garbage of its own; what a failure leaves (an exception's frames) waits until the run is over."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class MessageTimeout(Exception):
    """Raised in a worker by SIGALRM when one message takes longer than the per-message deadline."""


@dataclass(frozen=True, slots=True)
class WorkConfig:
    """Everything a worker needs to build its Converter and packer (picklable, sent once)."""

    sink: SinkSpec
    profile: str = "zkn"
    mappings: tuple[str, ...] = ()
    mapping_files: tuple[str, ...] = ()
    validate: bool | str = True
    route: str | None = None
    max_bytes: int = 10 * 1024 * 1024
    timeout: float = DEFAULT_TIMEOUT
    """Seconds one message may take (0: no deadline); past it the conversion is ended and reported."""
    quarantine: Limits = field(default_factory=Limits)
    stateful: bool = False
    """Workers only map; the parent renders against the zaak ledger in member order (batch/ledgered.py)."""
    by_client: Shard | None = None
    """Shards of a shared ledger: every shard maps every member and keeps those of its clients (shard.py)."""
    worker_growth_mb: int = DEFAULT_GROWTH_MB
    """A worker process grown by more than this since its start is replaced after its chunk (0: never)."""
    settings: RenderSettings | None = None
    """The render settings (``--config``); None: the defaults. A worker's :meth:`Converter.prepare` looks up the
    zaaktype and its statustypes, so the workers need them as much as the parent's render."""


MemberTuple = tuple[str, "bytes | ZipRef", "str | None", bool]
"""(key, bytes or a ZIP member the worker reads, why-unreadable, stands-for-a-whole-archive)."""
_Read = tuple[int, str, bytes, "str | None", bool]
"""A member read in the worker: (ordinal, key, bytes, why-unreadable, stands-for-a-whole-archive)."""
RUN_BYTES = 512 * 1024
"""The worker takes a chunk's members step by step (:meth:`Worker.map_chunk`) in runs of about this many bytes of
input: the parse trees of a run are held at once, so a chunk of large members is not held whole (a chunk ends at
~2 MB, chunking.py, and at one member past it)."""


@dataclass(slots=True)
class Chunk:
    """Consecutive members ``first .. first+len(members)-1`` as :data:`MemberTuple`."""

    first: int
    members: list[MemberTuple]

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
    items: list[Any] | None = None
    """Stateful runs: per member in order, a report line (a failure, already packed) or a :class:`MappedMember`."""
    outgrown: bool = False
    """The worker process that made this has grown past its memory allowance: the pool replaces it."""

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled with its mapped members as one JSON text for the chunk (:func:`packed_items`), which
        :func:`unpacked_result` reads back; what JSON cannot hold as it is travels pickled, as before.

        Why: a worker hands every member's facts to the serial parent. Pickled member by member (a slots object
        whose facts were a JSON text of their own) that cost ~44 k instructions a member on top of the JSON
        (docs/performance.md, session 34); one text for the chunk is one ``orjson`` call a side."""
        packed = packed_items(self.items) if self.items else None
        if packed is None:
            return ChunkResult, (self.first, self.count, self.payload, self.report, self.tally, self.items,
                                 self.outgrown)
        return unpacked_result, (self.first, self.count, self.payload, self.report, self.tally, *packed,
                                 self.outgrown)


@dataclass(slots=True)
class MappedMember:
    """A member mapped to the canonical model in a worker, for the parent to render against the ledger."""

    ordinal: int
    key: str
    data: bytes | ZipRef
    """Empty as it travels back: the parent puts back the bytes it sent (:func:`rejoined`), ~4 KB a member less
    through the pipe each way."""
    mapping: str
    bericht: Any
    """The canonical model, or None when ``prepared`` stands for it (the parent then unpickles no model)."""
    envelopes: list[str]
    unmapped: int
    warnings: int
    prepared: Any = None
    """What rendering needs from the message (``Converter.prepare``: units, desired states), as plain data."""
    received: tuple[str, str] | None = None
    """The GGk Di01 the member came in (``received_di01``): the parent remembers it for the retour's Du01, as
    ``convert`` does."""


def packed_items(items: list[Any]) -> tuple[bytes, list[Any]] | None:
    """A chunk's items as one JSON text and the items it leaves out, or None when JSON cannot hold them.

    A mapped member whose facts stand for its model (:meth:`Prepared.plain`) is a JSON array; every other item
    (a failure's report line, another shard's None, a member handed over with its model) is a 0 in the text and
    travels pickled in the list, in order. What orjson refuses (text that is not UTF-8, such as a member name
    with a surrogate escape; a date; an int past 64 bits) leaves the whole chunk to the pickle."""
    plain: list[Any] = []
    others: list[Any] = []
    for item in items:
        if item.__class__ is MappedMember and item.prepared.__class__ is Prepared:
            # its model (the facts stand for it) and its bytes (work.rejoined puts them back) stay behind
            plain.append([item.ordinal, item.key, item.mapping, item.envelopes, item.unmapped, item.warnings,
                          item.received, item.prepared.plain()])
        else:
            plain.append(0)
            others.append(item)
    try:
        return orjson.dumps(plain, option=STRICT_JSON), others
    except TypeError:  # orjson.JSONEncodeError
        return None


def unpacked_items(text: bytes, others: list[Any]) -> list[Any]:
    """The items :func:`packed_items` wrote: each member as it left, its tuples tuples again."""
    rest = iter(others)
    return [next(rest) if one == 0 else
            MappedMember(one[0], one[1], b"", one[2], None, one[3], one[4], one[5], prepared_from_plain(one[7]),
                         None if one[6] is None else tuple(one[6]))
            for one in orjson.loads(text)]


def unpacked_result(first: int, count: int, payload: Any, report: bytes, tally: Tally, text: bytes,
                    others: list[Any], outgrown: bool) -> ChunkResult:
    """The :class:`ChunkResult` that :meth:`ChunkResult.__reduce__` packed."""
    return ChunkResult(first, count, payload, report, tally, unpacked_items(text, others), outgrown)


class Worker:
    """One process's converter and packer."""

    def __init__(self, config: WorkConfig, registry: Registry | None = None, budget: Budget | None = None) -> None:
        self.config = config
        if registry is None:
            registry = Registry(files=[Path(f) for f in config.mapping_files])
        self.converter = Converter(registry, profile=config.profile, mappings=config.mappings,
                                   validate=config.validate, max_bytes=config.max_bytes, settings=config.settings)
        self.packer: Packer = packer_for(config.sink)
        self.budget = budget or Budget(config.quarantine)
        self._tally = Tally()

    def run(self, chunk: Chunk) -> ChunkResult:
        return self.map_chunk(chunk) if self.config.stateful else self.convert_chunk(chunk)

    def map_chunk(self, chunk: Chunk) -> ChunkResult:
        """Map only (the stateless half); failures are quarantined here as in :meth:`convert_chunk`.

        In phase order over runs of members (:data:`RUN_BYTES`): every member read, then parsed, then mapped, then
        prepared, so each step's code and data stay in the caches (a message through every step before the next
        cost ~1.2x: docs/performance-history.md, session 31). Whatever a member leaves in OUT or the report is
        still done in member order, in the map phase: the outputs are those of one member at a time."""
        items: list[Any] = []
        self._tally = tally = Tally()
        try:
            run: list[_Read] = []
            size = 0
            for n, (key, data, problem, whole) in enumerate(chunk.members):
                if data.__class__ is ZipRef:
                    data, problem = member_bytes(data, self.config.max_bytes)
                run.append((chunk.first + n, key, data, problem, whole))  # type: ignore[arg-type]
                size += len(data)
                if size >= RUN_BYTES:
                    items += self._map_run(run)
                    run, size = [], 0
            items += self._map_run(run)
        except BaseException:
            self.packer.take()
            raise
        return ChunkResult(chunk.first, chunk.count, self.packer.take(), b"", tally, items)

    def _map_run(self, run: list[_Read]) -> list[Any]:
        """:meth:`_map_one` of each member of ``run``, step by step over the run: parse all, map all, prepare all,
        with the cyclic collector paused (:func:`collector_paused`)."""
        with collector_paused():
            parsed = [self._parse(key, data) if problem is None else None for _, key, data, problem, _ in run]
            mapped = [self._map_one(*member, parse) for member, parse in zip(run, parsed, strict=True)]
            items = [self._prepared(*item) if item.__class__ is tuple else item for item in mapped]
            del parsed, mapped  # the run's trees and models freed while paused: the collector comes back without them
        return items

    def _parse(self, key: str, data: bytes) -> tuple[Source | Exception, float]:
        """A member parsed within its deadline, or what it raised; and the seconds the parse took (the map that
        follows gets what is left of the member's deadline)."""
        started = time.monotonic()
        try:
            with _deadline(self.config.timeout):
                source: Source | Exception = self.converter.parse(data, key, route=self.config.route)
        except Exception as exc:  # MessageTimeout too: reported in member order by _map_one
            source = exc
        return source, time.monotonic() - started

    def _map_one(self, ordinal: int, key: str, data: bytes, problem: str | None, whole: bool,
                 parsed: tuple[Source | Exception, float] | None) -> Any:
        """The member mapped (source, mapping, result for :meth:`_prepared`), a failure's report line, or None for a
        member another shard renders.

        Split by client (``by_client``), a shard keeps the mapped members of its clients and the failures of
        its member names: exactly one shard reports each member, whatever it maps to."""
        shard = self.config.by_client
        elsewhere = shard is not None and not shard.owns(key)  # a failure of this name is another shard's
        if problem is not None or parsed is None:
            if elsewhere:
                return None
            return self._quarantine(key, data, FailureInfo(READ_FAILED, None, None, problem, key), None, whole)
        source, spent = parsed
        try:
            if isinstance(source, Exception):
                raise source
            with _deadline(self.config.timeout, spent):
                mapping, result = self.converter.map_parsed(source, key)
        except MessageTimeout:
            if elsewhere:
                return None
            why = f"conversion took longer than the deadline of {self.config.timeout:g} s and was ended"
            return self._quarantine(key, data, FailureInfo(READ_FAILED, None, None, why, key), None)
        except Exception as exc:  # a bug must not stop the run either
            return None if elsewhere else self._failed(key, data, exc)
        if shard is not None and not shard.owns_client(key, result.bericht):
            return None
        return ordinal, key, source, mapping, result

    def _prepared(self, ordinal: int, key: str, source: Source, mapping: Compiled, result: Any) -> MappedMember:
        prepared = self.converter.prepare(result.bericht, mapping)  # work the parent's serial render then skips
        return MappedMember(ordinal, key, b"", mapping.name, None if prepared is not None else result.bericht,
                            list(source.envelopes), len(result.unmapped), len(result.warnings), prepared,
                            received_di01(result.bericht, source.envelope_info))

    def convert_chunk(self, chunk: Chunk) -> ChunkResult:
        lines = bytearray()
        self._tally = tally = Tally()
        try:
            for key, data, problem, whole in chunk.members:
                if data.__class__ is ZipRef:
                    data, problem = member_bytes(data, self.config.max_bytes)
                try:
                    line = self._one(key, data, problem, whole)  # type: ignore[arg-type]
                except OSError as exc:  # OUT refused the write (a full disk, a name the file system rejects)
                    info = FailureInfo(READ_FAILED, None, None, f"cannot write to OUT: {exc.strerror or exc}", key)
                    line = failed_line(key, info, None, None)
                tally.count(line)
                lines += encode_line(line)
        except BaseException:
            self.packer.take()  # the chunk is redone member by member: none of its entries may linger
            raise
        return ChunkResult(chunk.first, chunk.count, self.packer.take(), bytes(lines), tally)

    def crashed(self, chunk: Chunk, why: str) -> ChunkResult:
        """The result for a single member that took its worker process down with it."""
        key, ref, _, whole = chunk.members[0]
        self._tally = tally = Tally()
        if self.config.by_client is not None and not self.config.by_client.owns(key):
            return ChunkResult(chunk.first, 1, self.packer.take(), b"", tally)  # reported by its name's shard
        data = member_bytes(ref, self.config.max_bytes)[0]  # its bytes, if they can be had, for the quarantine
        line = self._quarantine(key, data, FailureInfo(READ_FAILED, None, None, why, key), None, whole)
        tally.count(line)
        return ChunkResult(chunk.first, 1, self.packer.take(), encode_line(line), tally)

    def _one(self, key: str, data: bytes, problem: str | None, whole: bool = False) -> dict[str, Any]:
        if problem is not None:
            return self._quarantine(key, data, FailureInfo(READ_FAILED, None, None, problem, key), None, whole)
        try:
            with _deadline(self.config.timeout):
                result = self.converter.convert(data, key, route=self.config.route)
        except MessageTimeout:
            why = f"conversion took longer than the deadline of {self.config.timeout:g} s and was ended"
            return self._quarantine(key, data, FailureInfo(READ_FAILED, None, None, why, key), None)
        except Refused as exc:  # recognised and refused by its mapping (refuse:): counted apart from failures
            return self._quarantine(key, data, describe(exc, key), self.converter.registry.get(exc.mapping),
                                    status=REFUSED)
        except Exception as exc:  # a bug must not stop the run: the input is quarantined and reported
            return self._failed(key, data, exc)
        paths = pack_outputs(self.packer, key, [(o.name, o.xml) for o in result.outputs])
        return ok_line(key, result.mapping, list(result.source.envelopes), paths, len(result.unmapped),
                       len(result.warnings))

    def _failed(self, key: str, data: bytes, exc: Exception) -> dict[str, Any]:
        """A member that did not convert, quarantined; a bug is reported with its text but never stops the run."""
        if isinstance(exc, Refused):  # recognised and refused by its mapping (refuse:): counted apart
            return self._quarantine(key, data, describe(exc, key), self.converter.registry.get(exc.mapping),
                                    status=REFUSED)
        info = describe(exc, key) if isinstance(exc, (*FAILURES, MappingError)) else bug(exc, key)
        return self._quarantine(key, data, info, self._detect(data, key))

    def _quarantine(self, key: str, data: bytes, info: FailureInfo, mapping: Compiled | None,
                    whole: bool = False, status: str = FAILED) -> dict[str, Any]:
        """Copy a failed input and its reason out (within the budget) and return its report line.

        A line that stands for a whole archive gets only its ``.reason``: there are no bytes of its own.
        """
        return quarantine(self.packer, key, data, info, mapping, self.budget, self._tally, whole, status)

    def _detect(self, data: bytes, key: str) -> Compiled | None:
        """Which mapping a failed input was for, when that much could still be told (for the report)."""
        try:
            with _deadline(self.config.timeout):
                return self.converter.detect(read(data, key, max_bytes=self.config.max_bytes,
                                                  route=self.config.route))
        except Exception:
            return None


def quarantine(packer: Packer, key: str, data: bytes, info: FailureInfo, mapping: Compiled | None,
               budget: Budget, tally: Tally, whole: bool = False, status: str = FAILED) -> dict[str, Any]:
    """Copy a failed input and its reason out (within the budget) and return its report line.

    A line that stands for a whole archive gets only its ``.reason``: there are no bytes of its own. Used by
    workers and by the parent's ledger step alike, so both count against one budget per process.
    """
    reason = reason_text(key, info, mapping)
    size = (0 if whole else len(data)) + len(reason)
    if not budget.take(size):
        return failed_line(key, info, mapping, None, budget.refusal(), status)
    tally.quarantined += 1
    tally.quarantined_bytes += size
    if whole:
        packer.add(reason_path(key), reason)
        return failed_line(key, info, mapping, reason_path(key), status=status)
    path = quarantine_path(key)
    packer.add(path, data)
    packer.add(reason_path(key), reason)
    return failed_line(key, info, mapping, path, status=status)


def rejoined(result: ChunkResult, chunk: Chunk) -> ChunkResult:
    """``result`` with its mapped members' bytes back from the chunk they were sent in (a render failure in the
    parent quarantines them): bytes, or the :class:`ZipRef` the parent reads only then (:func:`member_bytes`)."""
    for item in result.items or ():
        if isinstance(item, MappedMember):
            item.data = chunk.members[item.ordinal - chunk.first][1]
    return result


def pack_outputs(packer: Packer, key: str, outputs: list[tuple[str, bytes]]) -> list[str]:
    """Pack one member's outputs (name, xml) under paths derived from its key; the paths, in order."""
    paths: list[str] = []
    for name, xml in outputs:
        path = output_path(key, name)
        if path in paths:  # two outputs with one name: keep both, numbered
            path = path[:-4] + f"-{len(paths) + 1}.xml"
        paths.append(path)
        packer.add(path, xml)
    return paths


class Clocks:
    """When each worker process of one pool started the message in hand (monotonic seconds, 0 between messages), in
    shared memory the parent reads (:meth:`gateway.batch.pool.OrderedPool._end_stuck`): a worker stuck in one C call
    that holds the GIL runs no signal handler and lets no thread of its own run, so only another process can end
    it. Each worker claims a slot on start (:func:`start_worker`) and writes its pid there."""

    def __init__(self, context: Any, workers: int) -> None:
        self.started = context.RawArray("d", workers)
        self.pids = context.RawArray("q", workers)
        self.claimed = context.Value("i", 0)

    def attach(self) -> None:
        """In a worker process: claim a slot, write this pid there, and have :class:`_deadline` stamp it."""
        global _started, _slot
        with self.claimed.get_lock():
            slot = self.claimed.value
            self.claimed.value = slot + 1
        self.pids[slot] = os.getpid()
        _started, _slot = memoryview(self.started).cast("B").cast("d"), slot  # ~20 ns a write, ~30 for the array

    def stuck(self, since: float) -> list[int]:
        """The pids of the workers whose message started before ``since``."""
        return [self.pids[slot] for slot, started in enumerate(self.started) if 0 < started < since]


_started: Any = [0.0]
"""When the message in hand started, at :data:`_slot`: this process's slot of its pool's :class:`Clocks` (a view of
the shared memory) in a worker, a list of one elsewhere."""
_slot = 0


def _on_alarm(signum: int, frame: object) -> None:
    raise MessageTimeout


class _deadline:  # lower case: used as ``with _deadline(seconds):``, as the function it was
    """End the block with :class:`MessageTimeout` after ``seconds`` (SIGALRM; main thread only), less ``spent``:
    what the message already took in an earlier step (its parse, :meth:`Worker.map_chunk`), stamped as its start.

    Code stuck in C (signals blocked, or one long call holding the GIL) is not reached by the alarm; in a worker
    process the parent ends the whole process then (:class:`Clocks`), and the pool reports it.
    A class, not a generator: entered once a message, its ~1.5 µs of generator machinery was a worker's cost.
    """

    __slots__ = ("armed", "seconds", "spent")

    def __init__(self, seconds: float, spent: float = 0.0) -> None:
        self.seconds = seconds
        self.spent = spent
        self.armed = seconds > 0 and threading.get_ident() == threading.main_thread().ident

    def __enter__(self) -> None:
        if self.armed:
            left = self.seconds - self.spent
            if left <= 0:  # the earlier step took it all (its alarm came as it ended)
                raise MessageTimeout
            if _signal.getsignal(signal.SIGALRM) is not _on_alarm:  # once per process, not per message
                signal.signal(signal.SIGALRM, _on_alarm)
            signal.setitimer(signal.ITIMER_REAL, left)
        _started[_slot] = time.monotonic() - self.spent

    def __exit__(self, *exc: object) -> None:
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
        _started[_slot] = 0.0


# -- process-pool plumbing ------------------------------------------------------------------------

_worker: Worker | None = None
_allowance: Allowance | None = None
_inherited: Registry | None = None
"""The parent's compiled mappings, set before the pool forks: workers started by fork reuse them
(copy-on-write) instead of compiling every mapping file again. Spawned workers compile their own."""


def share_registry(registry: Registry | None) -> None:
    global _inherited
    _inherited = registry


def start_worker(config: WorkConfig, parent: int | None = None, budget: Budget | None = None, nice: int = 0,
                 clocks: Clocks | None = None) -> None:
    """Pool initializer: build the Converter once; leave Ctrl-C to the parent; die with the parent; run ``nice``
    lower than the parent (pool.worker_nice); stamp each message's start in a slot of ``clocks``."""
    global _worker, _allowance
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if nice:
        with contextlib.suppress(OSError):
            os.nice(nice)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler inherited through fork
    if parent is not None:
        end_with_parent(parent)  # nobody would collect our results, and OUT is theirs
    if clocks is not None:
        clocks.attach()
    _worker = Worker(config, _inherited, budget)
    _allowance = Allowance(config.worker_growth_mb)  # measured from here: start-up is not growth


def run_chunk(chunk: Chunk) -> ChunkResult:
    assert _worker is not None and _allowance is not None, "start_worker() must run first (pool initializer)"
    result = _worker.run(chunk)
    result.outgrown = _allowance.exceeded()  # checked a chunk at a time: a chunk holds at most ~2 MB of input
    return result
