"""The batch's stateful step: render each mapped member against the zaak ledger, in input order.

Profile zkn v2 renders a message against what the receiver holds (creeerZaak, then updateZaak with the old
values, statuses on the right zaak), so the messages of one zaak must reach the ledger in the order of the
input: a batch of a whole history must give the same zaken as ``convert --state`` on the files one by one.
Workers map (bytes -> canonical model, the expensive, stateless half) in parallel; the parent renders,
validates and packs each member in member order against ``--state DIR/ledger.sqlite`` (the same ledger
``convert`` uses, so a later run, batch or convert, continues the chains).

Durability and ``--resume``: the ledger commits once per chunk (one fsync, not one per message), before
the journal records the chunk done. The outputs of a chunk's members are remembered in the ledger as one value
under the run and the chunk's first ordinal, in the same transaction as their zaak states; a resume that redoes
members after a kill finds them and writes the remembered outputs again instead of applying the message twice.
What the journal has committed is pruned from the ledger, so it keeps only the outputs of the chunks in flight.

``--state postgresql://…`` (shards sharing one ledger): the same, in the database. The remembered outputs stay
with the zaak states because they must commit in the same transaction (kept in a local folder, a kill between
the two commits would apply a member twice or lose its outputs); the journal and OUT stay with each shard.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import struct
import zlib
from pathlib import Path
from typing import Any

import orjson

from gateway.ledger.keys_before_s25 import write_folder_keys
from gateway.ledger.sqlite import DB_NAME
from gateway.ledger.staged import ConnLedger, create_tables
from gateway.ledger.transfer import BATCH_OUTPUTS
from gateway.mapping import Compiled, Registry
from gateway.pgstore import is_url
from gateway.pgstore.chunked import ChunkedPgLedger, ZaakOfAnotherShard
from gateway.pipeline import FAILURES, Converter, FailureInfo, bug, describe
from gateway.render import RenderError

from .budget import Budget
from .chunkledger import ChunkOverlay
from .inputs import member_bytes
from .report import Tally, encode_line, ok_line
from .sinks import packer_for
from .work import READ_FAILED, ChunkResult, MappedMember, WorkConfig, pack_outputs, quarantine
from .zipformat import deflate_lib

KIND = BATCH_OUTPUTS
"""``remembered`` kind of the outputs kept until the journal has them: one value a chunk (:func:`kept_chunk_text`)
keyed ``{run}|{first:012d}+{count}``, between the keys of its first member and the next, so a prune below a member
takes it once the chunk is done; or, kept by a run before chunk values, one a member (:func:`kept_text`) keyed
``{run}|{ordinal:012d}``, still read on its resume."""
KEPT = "d1:"
"""The prefix of a kept value in :func:`kept_text`'s form (an older run kept ``[[name, xml], ...]`` JSON)."""
KEPT_CHUNK = "c1:"
"""The prefix of :func:`kept_chunk_text`'s form."""
_FRAME = struct.Struct("<II")
"""Before each output: the length of its name (UTF-8) and of its bytes."""
_MEMBER = struct.Struct("<QI")
"""Before each member's outputs in a chunk's kept value: its ordinal and how many outputs follow."""
_Rendered = tuple[MappedMember, Compiled, "list[tuple[str, bytes]] | None", "FailureInfo | None"]
"""A member rendered in :meth:`LedgerStep.process`'s first pass: (member, mapping, outputs or None, why it failed)."""


def _packed(framed: bytearray) -> str:
    """Framed bytes deflated at the cheapest level, as base64 text (PostgreSQL's ``remembered.value`` is text)."""
    if deflate_lib is zlib:
        packer = zlib.compressobj(1, zlib.DEFLATED, -15)
        packed = packer.compress(framed) + packer.flush()
    else:
        packed = deflate_lib.compress(framed, 0, -15)
    return base64.b64encode(packed).decode("ascii")


def _frame(framed: bytearray, outputs: list[tuple[str, bytes]]) -> None:
    for name, xml in outputs:
        raw = name.encode("utf-8")
        framed += _FRAME.pack(len(raw), len(xml))
        framed += raw
        framed += xml


def _unframe(framed: bytes, at: int, count: int) -> tuple[list[tuple[str, bytes]], int]:
    """``count`` outputs framed from ``at`` on, and where they end."""
    outputs = []
    for _ in range(count):
        size, length = _FRAME.unpack_from(framed, at)
        at += _FRAME.size
        outputs.append((framed[at:at + size].decode("utf-8"), framed[at + size:at + size + length]))
        at += size + length
    return outputs, at


def kept_chunk_text(members: list[tuple[int, list[tuple[str, bytes]]]]) -> str:
    """A chunk's rendered members' outputs as the ledger keeps them until the journal has them: one value a chunk.

    Why: one value a member cost an INSERT, a DELETE and ~2.2 KB of pages each; deflated together, the outputs of
    a chunk's members share their XML's words (~0.7 KB a member) and cost one INSERT and one DELETE a chunk."""
    framed = bytearray()
    for ordinal, outputs in members:
        framed += _MEMBER.pack(ordinal, len(outputs))
        _frame(framed, outputs)
    return KEPT_CHUNK + _packed(framed)


def kept_chunk_outputs(text: str) -> dict[int, list[tuple[str, bytes]]]:
    """The outputs :func:`kept_chunk_text` kept, by member ordinal."""
    framed = zlib.decompress(base64.b64decode(text[len(KEPT_CHUNK):]), -15)
    members, at = {}, 0
    while at < len(framed):
        ordinal, count = _MEMBER.unpack_from(framed, at)
        members[ordinal], at = _unframe(framed, at + _MEMBER.size, count)
    return members


def kept_text(outputs: list[tuple[str, bytes]]) -> str:
    """A member's outputs as a run before chunk rows (:func:`kept_chunk_text`) kept them: framed, deflated, base64.

    Why: the JSON text of a member's outputs was ~5.7 KB, written into the ledger's WAL and deleted again a
    commit later, and SQLite's cost goes with the pages that touches (~50 µs a member). Deflated at the cheapest
    level it is ~2.2 KB of text (~6 µs to pack); still text, so PostgreSQL's ``remembered`` holds it too."""
    framed = bytearray()
    _frame(framed, outputs)
    return KEPT + _packed(framed)


def kept_outputs(text: str) -> list[tuple[str, bytes]]:
    """The outputs :func:`kept_text` kept (or the JSON of a run killed before it came)."""
    if not text.startswith(KEPT):
        return [(name, xml.encode("utf-8")) for name, xml in orjson.loads(text)]
    framed = zlib.decompress(base64.b64decode(text[len(KEPT):]), -15)
    outputs: list[tuple[str, bytes]] = []
    at = 0
    while at < len(framed):
        more, at = _unframe(framed, at, 1)
        outputs += more
    return outputs


CHECKPOINT_PAGES = 10_000
"""WAL pages (4 KB) before a commit copies them into the database (SQLite's default is 1,000): a chunk rewrites the
same hot pages (the zender's tijdstip, index pages, kept outputs deleted a commit later), and a checkpoint copies
each page once however often it was rewritten, so fewer checkpoints copy and fsync less (~40 MB of WAL at most)."""


def open_state(state: str) -> sqlite3.Connection:
    """The ledger database of ``--state DIR`` (WAL, fsync before each journal commit: :meth:`SqliteChunks.sync`),
    or one in memory for ``none``."""
    if state.strip().lower() == "none":
        return sqlite3.connect(":memory:", isolation_level=None)
    folder = Path(state)
    folder.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(folder / DB_NAME, timeout=30.0, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES}")
    create_tables(conn)
    write_folder_keys(conn)  # a ledger an earlier release wrote: the keys it lacks, once
    return conn


class SqliteChunks:
    """``--state DIR`` (or ``none``) for a batch: each chunk is one ``BEGIN IMMEDIATE`` transaction of the ledger
    file (the interface of ``ChunkedPgLedger``); each message's writes are staged in memory and the chunk's written
    just before its commit (:class:`~gateway.batch.chunkledger.ChunkOverlay`), not a SAVEPOINT and statements each.

    A chunk's commit is not flushed to disk by itself (``synchronous=NORMAL``): :meth:`sync` flushes the WAL before
    the journal records the chunks done, every couple of seconds instead of every chunk (an fsync of several
    ms each 64 messages, the parent waiting). A killed process loses nothing (the commits are in the OS's
    cache); a power cut may take the last commits since the journal's, a suffix (the WAL's checksums end the
    log at the first frame lost), with their kept outputs: the resume renders those members afresh."""

    def __init__(self, state: str) -> None:
        self.conn = open_state(state)
        self.wal = None if state.strip().lower() == "none" else Path(state) / f"{DB_NAME}-wal"
        self.direct = ConnLedger(self.conn).direct  # creates the tables
        self._overlay = ChunkOverlay(self.conn)
        self.transaction = self._overlay.transaction
        """A message's ledger transaction: staged within the chunk, written at its commit (chunkledger.py)."""

    @property
    def overlay(self) -> ChunkOverlay:
        """The chunk's staged writes, for a parent that takes members back out (:meth:`ChunkOverlay.rewind`)."""
        return self._overlay

    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self._overlay.flush()
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        self._overlay.drop()
        self.conn.execute("ROLLBACK")

    def sync(self) -> None:
        """Make every chunk committed so far durable: fsync the WAL their commits appended to."""
        if self.wal is None or not self.wal.exists():
            return
        fd = os.open(self.wal, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def forget(self, kind: str, low: str, high: str) -> None:
        self.conn.execute("DELETE FROM remembered WHERE kind = ? AND key >= ? AND key < ?", (kind, low, high))

    def recall_range(self, kind: str, low: str, high: str) -> list[tuple[str, str]]:
        """The (key, value) of ``kind`` remembered keyed from ``low`` up to (not including) ``high``, in key order."""
        return [(str(key), str(value)) for key, value in self.conn.execute(
            "SELECT key, value FROM remembered WHERE kind = ? AND key >= ? AND key < ? ORDER BY key",
            (kind, low, high))]

    def first(self, kind: str, value: str) -> str:
        """Store ``value`` under (``kind``, ``""``) unless a value is there; the one there now."""
        self.conn.execute("INSERT INTO remembered (kind, key, value) VALUES (?, '', ?) ON CONFLICT (kind, key) "
                          "DO NOTHING", (kind, value))
        return str(self.conn.execute("SELECT value FROM remembered WHERE kind = ? AND key = ''", (kind,)).fetchone()[0])

    def close(self) -> None:
        self.conn.close()


ChunkStore = SqliteChunks | ChunkedPgLedger


def open_store(state: str, shard: tuple[int, int] | None = None) -> ChunkStore:
    """The batch's ledger for ``--state``: a PostgreSQL URL (shared by the shards, which claim their zaken), a
    folder, or ``none``; RuntimeError when the database cannot be reached."""
    return ChunkedPgLedger(state, shard) if is_url(state) else SqliteChunks(state)


class LedgerStep:
    """Renders the mapped members of each chunk against the ledger, one ledger transaction per chunk."""

    def __init__(self, config: WorkConfig, registry: Registry, store: ChunkStore, run: str) -> None:
        self.store = store
        self.converter = Converter(registry, profile=config.profile, mappings=config.mappings,
                                   validate=config.validate, max_bytes=config.max_bytes, ledger=store,
                                   settings=config.settings)
        self.packer = packer_for(config.sink)
        self.max_bytes = config.max_bytes
        self.run = run
        self.budget = Budget(config.quarantine)  # render failures in the parent count against their own budget
        self._tally = Tally()
        self._kept: dict[int, list[tuple[str, bytes]]] = {}
        """Outputs remembered before a kill, by member ordinal, read value by value as the members come."""
        self._read: list[tuple[int, int]] = []
        """(first, last) member of each value read back (only on a resume): a prune must keep those not yet done."""
        self._looked = False
        """Whether a chunk was looked up yet (the first look also takes values keyed before it)."""
        self._fresh: list[tuple[int, list[tuple[str, bytes]]]] = []
        """The chunk in hand's members rendered here, for its one remembered value."""
        self.plan_first = isinstance(store, SqliteChunks) and self.converter.profile == "zkn"
        """Plan every member of a chunk, then write their zakLk01s (:meth:`_render_chunk`); PostgreSQL's members
        each have a SAVEPOINT, released before the next one, so there each member renders whole, in turn."""

    def _member(self, ordinal: int) -> str:
        return f"{self.run}|{ordinal:012d}"

    def _look_up(self, first: int, count: int) -> None:
        """Before a chunk's members render: the outputs remembered for them before a kill (none outside a resume).

        One SELECT a chunk, of the values keyed within it, so a value is read before its first member comes, also
        when a resume cuts its chunks elsewhere (another ``--chunk-size``). The first look also takes the values
        keyed before the chunk: after a resume that cut its chunks elsewhere, the journal may stand inside a
        value (:meth:`prune` keeps it), and the next resume starts there."""
        low, high = (self._member(first) if self._looked else f"{self.run}|"), self._member(first + count)
        self._looked = True
        for key, text in self.store.recall_range(KIND, low, high):
            start = key.rpartition("|")[2]
            if text.startswith(KEPT_CHUNK):
                outputs = kept_chunk_outputs(text)
                self._kept.update(outputs)
                self._read.append((int(start.partition("+")[0]), max(outputs, default=0)))
            else:  # one member's, kept by a run before chunk values
                self._kept[int(start)] = kept_outputs(text)
                self._read.append((int(start), int(start)))

    def process(self, result: ChunkResult) -> tuple[Any, bytes, Tally]:
        """The chunk's items in order: (packed outputs, report lines, tally).

        In two passes: every member rendered against the ledger first (:meth:`_render`), then each one packed and
        reported in member order (:meth:`_pack`), so the render's code and data stay in the caches from one member
        to the next (docs/performance-history.md, session 31). Each member still renders in its own ledger
        transaction; what reaches OUT and the report, and in which order, is what one pass gave."""
        lines = bytearray()
        self._tally = tally = Tally()  # the worker's own counts (its quarantine copies) come with result.tally
        self.store.begin()
        self._fresh = []
        try:
            self._look_up(result.first, result.count)  # one look for the whole chunk, not a SELECT a member
            rendered = self._render_chunk(result.items or ())
            for one in rendered:
                line = self._pack(*one) if one.__class__ is tuple else one
                tally.count(line)
                lines += encode_line(line)
            if self._fresh:  # one INSERT in the chunk's transaction: its outputs commit with its zaak states
                self.store.direct.remember(KIND, f"{self._member(result.first)}+{result.count}",
                                           kept_chunk_text(self._fresh))
        except BaseException:
            self.store.rollback()
            raise
        self.store.commit()
        return self.packer.take(), bytes(lines), tally

    def _bytes(self, item: MappedMember) -> bytes:
        """The member's bytes for its quarantine copy: a ZIP member is read again only now (work.rejoined)."""
        return member_bytes(item.data, self.max_bytes)[0]

    def _render_chunk(self, items: list[Any]) -> list[Any]:
        """The chunk's items with each mapped member rendered (:data:`_Rendered`); the others (report lines of
        what the worker failed) as they came. None: another shard's client, left out.

        With :attr:`plan_first`, every member is planned against the ledger first (its zaak states, chain keys
        and tijdstip, each in its own transaction as before), then every member's zakLk01s are written and
        guarded back to back, so the writer runs warm (docs/performance-history.md, session 32). A write that
        fails takes its member back out of the chunk's ledger (:meth:`ChunkOverlay.rewind`) with every member
        planned after it, which then render one by one on the state without it: what one pass gave."""
        if not self.plan_first:
            return [self._render(item) if isinstance(item, MappedMember) else item
                    for item in items if item is not None]
        overlay = self.store.overlay  # type: ignore[union-attr]
        out: list[Any] = []
        planned: list[tuple[int, int]] = []  # (index in out, the chunk's mark before it) of each member planned
        for item in items:
            if item is None:
                continue
            if not isinstance(item, MappedMember):
                out.append(item)
                continue
            mapping = self._mapping(item)
            kept = self._kept.pop(item.ordinal, None)  # rendered before a kill: the ledger holds its effect, reuse
            if kept is not None:
                out.append((item, mapping, kept, None))
                continue
            mark = overlay.mark()
            try:
                plan = self.converter.plan(item.bericht, mapping, received=item.received, prepared=item.prepared)
            except Exception as exc:
                out.append((item, mapping, None, self._failed(exc, item)))
            else:
                out.append((item, mapping, plan, None))
            planned.append((len(out) - 1, mark))
        for at, (index, mark) in enumerate(planned):
            item, mapping, plan, failure = out[index]
            if failure is not None:
                continue
            try:
                outputs = [(o.name, o.xml) for o in plan.write()]
            except Exception as exc:
                out[index] = (item, mapping, None, self._failed(exc, item))
                overlay.rewind(mark)  # this member's ledger writes and those planned after it
                for later, _ in planned[at + 1:]:
                    out[later] = self._render(out[later][0])
                break
            self._fresh.append((item.ordinal, outputs))
            out[index] = (item, mapping, outputs, None)
        return out

    def _mapping(self, item: MappedMember) -> Compiled:
        mapping = next((m for m in self.converter.only if m.name == item.mapping), None)
        return mapping or self.converter.registry.get(item.mapping)

    def _failed(self, exc: Exception, item: MappedMember) -> FailureInfo:
        """Why rendering ``item`` failed, as its report line says it."""
        if isinstance(exc, (*FAILURES, RenderError)):
            return describe(exc, item.key)
        if isinstance(exc, ZaakOfAnotherShard):  # a zaak whose messages name two clients (chunked.py)
            return FailureInfo(READ_FAILED, "zaak", None, str(exc), item.key)
        return bug(exc, item.key)  # a bug must not stop the run

    def _render(self, item: MappedMember) -> _Rendered:
        """The member rendered against the ledger: its outputs, or why it failed (packed by :meth:`_pack`)."""
        mapping = self._mapping(item)
        outputs = self._kept.pop(item.ordinal, None)  # rendered before a kill: the ledger holds its effect, reuse
        if outputs is not None:
            return item, mapping, outputs, None
        try:
            rendered = self.converter.render(item.bericht, mapping, received=item.received, prepared=item.prepared)
        except Exception as exc:
            return item, mapping, None, self._failed(exc, item)
        outputs = [(o.name, o.xml) for o in rendered]
        self._fresh.append((item.ordinal, outputs))
        return item, mapping, outputs, None

    def _pack(self, item: MappedMember, mapping: Compiled, outputs: list[tuple[str, bytes]] | None,
              failure: FailureInfo | None) -> dict[str, Any]:
        """A rendered member's outputs packed for OUT, or its quarantine copy; its report line."""
        if outputs is None:
            assert failure is not None
            return quarantine(self.packer, item.key, self._bytes(item), failure, mapping, self.budget, self._tally)
        # OUT refusing the write (a full disk, a name its file system rejects) stops the run here: the member's zaak
        # changes are in the chunk's ledger transaction, which must not commit without its outputs (the chunk rolls
        # back, and --resume renders it again once OUT can take it).
        paths = pack_outputs(self.packer, item.key, outputs)
        return ok_line(item.key, mapping, item.envelopes, paths, item.unmapped, item.warnings)

    def sync(self) -> None:
        """Before the journal records chunks done: their ledger commits must be durable first (PostgreSQL's are)."""
        if isinstance(self.store, SqliteChunks):
            self.store.sync()

    def prune(self, done: int) -> None:
        """The journal has committed members below ``done``: their remembered outputs are no longer needed.

        A value read back that also holds members from ``done`` on stays (with the values keyed after it): a
        resume that cut its chunks elsewhere can stand inside one, and those members are not yet in the journal."""
        self._read = [(start, last) for start, last in self._read if last >= done]
        below = min([done, *(start for start, _ in self._read)])
        self.store.forget(KIND, f"{self.run}|", self._member(below))

    def close(self) -> None:
        self.store.close()
