"""The batch's stateful step: render each mapped member against the zaak ledger, in input order.

Profile zkn v2 renders a message against what the receiver holds (creeerZaak, then updateZaak with the old
values, statuses on the right zaak), so the messages of one zaak must reach the ledger in the order of the
input: a batch of a whole history must give the same zaken as ``convert --state`` on the files one by one.
Workers map (bytes -> canonical model, the expensive, stateless half) in parallel; the parent renders,
validates and packs each member in member order against ``--state DIR/ledger.sqlite`` (the same ledger
``convert`` uses, so a later run, batch or convert, continues the chains).

Durability and ``--resume``: the ledger commits once per chunk (one fsync, not one per message), before
the journal records the chunk done. Each member's outputs are remembered in the ledger under the run and
the member's ordinal, in the same transaction as its zaak states; a resume that redoes members after a kill
finds them and writes the remembered outputs again instead of applying the message twice. What the journal
has committed is pruned from the ledger, so it keeps only the outputs of the chunks in flight.

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

from gateway.ledger.sqlite import DB_NAME
from gateway.ledger.staged import ConnLedger
from gateway.mapping import Registry
from gateway.pgstore import is_url
from gateway.pgstore.chunked import ChunkedPgLedger, ZaakOfAnotherShard
from gateway.pipeline import FAILURES, Converter, FailureInfo, describe
from gateway.render import RenderError

from .budget import Budget
from .report import Tally, encode_line, failed_line, ok_line
from .sinks import packer_for
from .work import READ_FAILED, ChunkResult, MappedMember, WorkConfig, pack_outputs, quarantine
from .zipformat import deflate_lib

KIND = "batch-outputs"
"""``remembered`` kind of a member's outputs, keyed ``{run}|{ordinal:012d}``; the value is :func:`kept_text`."""
KEPT = "d1:"
"""The prefix of a kept value in :func:`kept_text`'s form (an older run kept ``[[name, xml], ...]`` JSON)."""
_FRAME = struct.Struct("<II")
"""Before each output: the length of its name (UTF-8) and of its bytes."""


def kept_text(outputs: list[tuple[str, bytes]]) -> str:
    """A member's outputs as the ledger keeps them until the journal has them: framed, deflated, base64.

    Why: the JSON text of a member's outputs was ~5.7 KB, written into the ledger's WAL and deleted again a
    commit later, and SQLite's cost goes with the pages that touches (~50 µs a member). Deflated at the cheapest
    level it is ~2.2 KB of text (~6 µs to pack); still text, so PostgreSQL's ``remembered`` holds it too."""
    framed = bytearray()
    for name, xml in outputs:
        raw = name.encode("utf-8")
        framed += _FRAME.pack(len(raw), len(xml))
        framed += raw
        framed += xml
    if deflate_lib is zlib:
        packer = zlib.compressobj(1, zlib.DEFLATED, -15)
        packed = packer.compress(framed) + packer.flush()
    else:
        packed = deflate_lib.compress(framed, 0, -15)
    return KEPT + base64.b64encode(packed).decode("ascii")


def kept_outputs(text: str) -> list[tuple[str, bytes]]:
    """The outputs :func:`kept_text` kept (or the JSON of a run killed before it came)."""
    if not text.startswith(KEPT):
        return [(name, xml.encode("utf-8")) for name, xml in orjson.loads(text)]
    framed = zlib.decompress(base64.b64decode(text[len(KEPT):]), -15)
    outputs, at = [], 0
    while at < len(framed):
        size, length = _FRAME.unpack_from(framed, at)
        at += _FRAME.size
        outputs.append((framed[at:at + size].decode("utf-8"), framed[at + size:at + size + length]))
        at += size + length
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
    return conn


class SqliteChunks:
    """``--state DIR`` (or ``none``) for a batch: each chunk is one ``BEGIN IMMEDIATE`` transaction of the ledger
    file, each message a SAVEPOINT in it (the interface of ``ChunkedPgLedger``).

    A chunk's commit is not flushed to disk by itself (``synchronous=NORMAL``): :meth:`sync` flushes the WAL before
    the journal records the chunks done, every couple of seconds instead of every chunk (an fsync of several
    ms each 64 messages, the parent waiting). A killed process loses nothing (the commits are in the OS's
    cache); a power cut may take the last commits since the journal's, a suffix (the WAL's checksums end the
    log at the first frame lost), with their kept outputs: the resume renders those members afresh."""

    def __init__(self, state: str) -> None:
        self.conn = open_state(state)
        self.wal = None if state.strip().lower() == "none" else Path(state) / f"{DB_NAME}-wal"
        self._ledger = ConnLedger(self.conn)
        self.direct = self._ledger.direct
        self.transaction = self._ledger.transaction

    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
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

    def remembers(self, kind: str, low: str, high: str) -> bool:
        """Whether a value of ``kind`` is remembered keyed from ``low`` up to (not including) ``high``."""
        return self.conn.execute("SELECT 1 FROM remembered WHERE kind = ? AND key >= ? AND key < ? LIMIT 1",
                                 (kind, low, high)).fetchone() is not None

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
                                   validate=config.validate, max_bytes=config.max_bytes, ledger=store)
        self.packer = packer_for(config.sink)
        self.run = run
        self.budget = Budget(config.quarantine)  # render failures in the parent count against their own budget
        self._tally = Tally()
        self._recall = True
        """Whether members of the chunk in hand may have remembered outputs (:meth:`process` looks once)."""

    def _member(self, ordinal: int) -> str:
        return f"{self.run}|{ordinal:012d}"

    def process(self, result: ChunkResult) -> tuple[Any, bytes, Tally]:
        """The chunk's items in order: (packed outputs, report lines, tally)."""
        lines = bytearray()
        self._tally = tally = Tally()  # the worker's own counts (its quarantine copies) come with result.tally
        self.store.begin()
        try:
            # one look for the whole chunk: outside a resume after a kill nothing is remembered for its members,
            # and then no member asks (a SELECT a member; a round trip each on PostgreSQL)
            self._recall = self.store.remembers(KIND, self._member(result.first),
                                                self._member(result.first + result.count))
            for item in result.items or []:
                if item is None:  # another shard's client (a shared ledger splits by client)
                    continue
                line = self._render(item) if isinstance(item, MappedMember) else item
                tally.count(line)
                lines += encode_line(line)
        except BaseException:
            self.store.rollback()
            raise
        self.store.commit()
        return self.packer.take(), bytes(lines), tally

    def _render(self, item: MappedMember) -> dict[str, Any]:
        member = self._member(item.ordinal)
        mapping = next((m for m in self.converter.only if m.name == item.mapping), None)
        mapping = mapping or self.converter.registry.get(item.mapping)
        stored = self.store.direct.recall(KIND, member) if self._recall else None  # no SAVEPOINT of its own
        if stored is not None:  # rendered before a kill: the ledger holds its effect, reuse its outputs
            outputs = kept_outputs(stored)
        else:
            try:
                rendered = self.converter.render(item.bericht, mapping, prepared=item.prepared)
            except (*FAILURES, RenderError) as exc:
                return quarantine(self.packer, item.key, item.data, describe(exc, item.key), mapping, self.budget,
                                  self._tally)
            except ZaakOfAnotherShard as exc:  # a zaak whose messages name two clients (chunked.py)
                info = FailureInfo(READ_FAILED, "zaak", None, str(exc), item.key)
                return quarantine(self.packer, item.key, item.data, info, mapping, self.budget, self._tally)
            except Exception as exc:  # a bug must not stop the run
                info = describe(exc, item.key)
                info = FailureInfo(info.code, info.field, info.line, f"{info.message}: {str(exc)[:300]}", item.key)
                return quarantine(self.packer, item.key, item.data, info, mapping, self.budget, self._tally)
            outputs = [(o.name, o.xml) for o in rendered]
            # one INSERT inside the chunk's transaction (a failure rolls the chunk back): no SAVEPOINT of its own
            self.store.direct.remember(KIND, member, kept_text(outputs))
        try:
            paths = pack_outputs(self.packer, item.key, outputs)
        except OSError as exc:  # OUT refused the write (a full disk, a name the file system rejects)
            info = FailureInfo(READ_FAILED, None, None, f"cannot write to OUT: {exc.strerror or exc}", item.key)
            return failed_line(item.key, info, mapping, None)
        return ok_line(item.key, mapping, item.envelopes, paths, item.unmapped, item.warnings)

    def sync(self) -> None:
        """Before the journal records chunks done: their ledger commits must be durable first (PostgreSQL's are)."""
        if isinstance(self.store, SqliteChunks):
            self.store.sync()

    def prune(self, done: int) -> None:
        """The journal has committed members below ``done``: their remembered outputs are no longer needed."""
        self.store.forget(KIND, f"{self.run}|", self._member(done))

    def close(self) -> None:
        self.store.close()
