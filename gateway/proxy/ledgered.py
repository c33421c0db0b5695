"""The sidecar's stateful step: render each message against the zaak ledger, in the order it is stored.

Profile zkn v2 renders a message against what the receiver already holds (creeerZaak or updateZaak with
the old values, a status on the right zaak). So the order in which the ledger sees the messages of a zaak
must be the order in which their outputs enter the outbox, and the ledger must never get ahead of what
was stored. Mapping (bytes -> canonical model) is stateless and stays in the worker processes; the
stateful step runs here, in the main process, one message at a time:

    lock: render against the ledger (on the loop; a large message in a thread) -> plan -> hand the outbox
          write to the committer
    unlock; await the commit (group commit keeps its batching: nobody waits for a flush under the lock)

The committer's queue keeps the order of submission. The ledger tables live in the outbox database and
a message's ledger writes are applied in the same committer job (one SAVEPOINT) as its outbox rows
(gateway/ledger/staged.py says why this beats undoing a separate ledger: a crash between two commits
cannot lose a message). A message with no outputs (a retour, "no change") is stored and acknowledged;
nothing is delivered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.deliver import outbox, replay
from gateway.deliver.committer import GroupCommitter
from gateway.deliver.plan import plan
from gateway.deliver.replay import Replayed
from gateway.deliver.store import store_failure
from gateway.ledger import epoch
from gateway.ledger.epoch import LedgerMoved
from gateway.ledger.staged import StagedLedger, WriteSet, apply
from gateway.mapping import ConversionError
from gateway.pipeline import FAILURES, Converter, FailureInfo, describe
from gateway.render import RenderError, stuf

from .answering import Answer, acknowledge
from .config import RouteConfig
from .converting import (
    STATEFUL_MODES,
    ConversionPool,
    Converted,
    stored_message,
    unread,
    worker_died,
)
from .mapped import Mapped, map_in_worker, map_message
from .unmapped_report import report_unmapped

if TYPE_CHECKING:
    from .service import Gateway

log = logging.getLogger("overstap.ledger")
INLINE_RENDER_BYTES = 64 * 1024
"""Messages up to this size are rendered on the event loop (a few hundred microseconds, and the lock lets one
render run at a time anyway); a hand-over to the ledger thread and back cost more server CPU than the render
itself. Larger ones go to the ledger thread, so one huge message cannot hold up every other answer."""
MAX_RENDERS = 5
"""Renders of one message whose commits each found the ledger's epoch moved (imports in a row) before it is
refused as a store failure (503, the sender resends): one import costs a message one render more."""
LEDGER_IMPORTING = ("not replayed, still quarantined: the zaak ledger is being imported (outbox import-ledger moved "
                    "its epoch while this message was rendered, time after time); retry the replay in a few seconds")
"""The note of a quarantined replay given up after :data:`MAX_RENDERS` renders, and of the ids after it in the
request (not tried): ``POST /admin/replay`` answers it 503 with Retry-After, nothing of those messages stored."""


@dataclass(slots=True)
class Staged:
    """What the stateful step made of one message: outputs (or a failure) and the ledger writes to store."""

    attempt: Converted
    writes: WriteSet | None = None


class LedgerStage:
    """Renders against the ledger in the outbox database and stores outputs and ledger writes together."""

    def __init__(self, db_path: Path, committer: GroupCommitter) -> None:
        self.ledger = StagedLedger(db_path)
        self.committer = committer
        self.lock = asyncio.Lock()
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="ledger")
        self.routes: tuple[str, ...] = ()

    @staticmethod
    def applies(route: RouteConfig) -> bool:
        """Routes whose canonical outputs reach a receiver (translate, shadow) keep its zaak state."""
        return route.mode in STATEFUL_MODES

    def attach(self, converters: dict[str, Converter], routes: dict[str, RouteConfig]) -> None:
        """Let the main-process converters of stateful routes render against this ledger."""
        self.routes = tuple(name for name, route in routes.items() if self.applies(route))
        for name, converter in converters.items():
            if name in routes and self.applies(routes[name]):
                converter.ledger = self.ledger

    async def map(self, pool: ConversionPool, route: str, match_route: str, body: bytes) -> Mapped:
        """Map in a worker process (or a thread); a worker that dies twice on it refuses the message."""
        mapped = await pool.run(map_message, map_in_worker, route, match_route, body)
        return mapped if mapped is not None else Mapped(None, None, unread(), worker_died(route), "internal")

    def _render(self, converter: Converter, mapped: Mapped, route: str) -> Staged:
        """Outputs of one mapped message and its staged ledger writes (on the loop, or in the ledger thread)."""
        started = time.perf_counter()
        assert (mapped.bericht is not None or mapped.prepared is not None) and mapped.mapping is not None
        notes: list[str] = []
        try:
            mapping = next((m for m in converter.only if m.name == mapped.mapping), None)  # a route's own file
            outputs = converter.render(mapped.bericht, mapping or converter.registry.get(mapped.mapping), notes,
                                       mapped.received, mapped.prepared)
        except (*FAILURES, RenderError) as exc:
            if isinstance(exc, RenderError) and exc.code == "StUF064":
                exc = ConversionError(str(exc), field=exc.field, source=route, code=exc.code)
            failed = Converted(None, mapped.mapping, mapped.facts, describe(exc, route), "invalid",
                               mapped.seconds + time.perf_counter() - started)
            if type(exc).__name__ == "OutputInvalid":
                failed.reason = "output_invalid"
            return Staged(failed)
        except Exception as exc:
            if store_failure(exc):  # the store failed, not the message: refused 503 by the caller, nothing kept
                raise
            log.error("rendering failed unexpectedly on route %s: %s", route, type(exc).__name__, exc_info=exc)
            info = FailureInfo("StUF058", None, None, f"internal error while rendering: {type(exc).__name__}", route)
            return Staged(Converted(None, mapped.mapping, mapped.facts, info, "internal"))
        return Staged(Converted(outputs, mapped.mapping, mapped.facts, None, None,
                                mapped.seconds + time.perf_counter() - started, notes=tuple(notes)))

    def share_identity(self, message: outbox.NewMessage, mapped: Mapped) -> outbox.NewMessage:
        """A retour's identity spans the routes of this ledger (one sidecar's view of one chain): a second 302 to
        one 301 on another route would be a second Du01 to one Di01 (GGk spec 2.2; docs/ggk-profile.md 2.1)."""
        message.mapping = message.mapping or mapped.mapping
        if mapped.facts.retour:
            message.shared_routes = self.routes
        return message

    async def render_and_store(self, converter: Converter, mapped: Mapped, route: RouteConfig,
                               message: outbox.NewMessage, also: Any = None) -> tuple[Staged, Any]:
        """Render under the lock, hand the store to the committer before unlocking, await it outside.

        Returns the staged result and the ``outbox.accept`` result (None when rendering failed: nothing
        was stored, the caller refuses). Raises what the outbox write raised; the ledger writes are then
        dropped with it. ``also(conn)`` runs in the same job (e.g. removing a replayed quarantine entry).
        A commit that finds the ledger's epoch moved since the render (``outbox import-ledger`` committed in
        between: gateway/ledger/epoch.py) stored nothing; the message is rendered again against the ledger as it
        is now, at most :data:`MAX_RENDERS` times.
        """
        renders = 0
        while True:
            renders += 1
            staged, submitted = await self._stage(converter, mapped, route, message, also, refresh=renders > 1)
            if submitted is None:
                return staged, None
            future, deliveries, writes = submitted
            try:
                return staged, (await future, deliveries)
            except LedgerMoved:
                if renders >= MAX_RENDERS:
                    raise
                log.info("the zaak ledger was written by another process (import-ledger) after a message on route "
                         "%s was rendered: rendering it again", route.name, extra={"route": route.name})
            finally:
                self.ledger.settle(writes)

    async def _stage(self, converter: Converter, mapped: Mapped, route: RouteConfig, message: outbox.NewMessage,
                     also: Any, *, refresh: bool) -> tuple[Staged, Any]:
        """Under the lock: render, plan and queue the store; (staged, None) when rendering failed, else (staged,
        (the commit's future, the deliveries, the write set to settle once it is answered)). ``refresh``: take the
        ledger's epoch anew first (a retry after :class:`LedgerMoved`)."""
        async with self.lock:
            if refresh:
                self.ledger.refresh()
            rendered_under = self.ledger.epoch
            if len(message.original) <= INLINE_RENDER_BYTES:
                staged = self._render(converter, mapped, route.name)
            else:
                staged = await asyncio.get_running_loop().run_in_executor(self.thread, self._render, converter,
                                                                          mapped, route.name)
            if staged.attempt.failure is not None:
                return staged, None
            staged.writes = self.ledger.last
            message.mapping, message.reason = staged.attempt.mapping, staged.attempt.no_output
            deliveries = plan(route.mode, staged.attempt.outputs, message.original, message.content_type,
                              message.soap_action, route.in_order)
            writes = staged.writes or WriteSet()
            try:
                future = self._submit(message, deliveries, writes, also, rendered_under)
            except BaseException:
                self.ledger.settle(writes)
                raise
        return staged, (future, deliveries, writes)

    def _submit(self, message: outbox.NewMessage, deliveries: list[outbox.NewDelivery], writes: WriteSet,
                also: Any, rendered_under: str) -> asyncio.Future[outbox.Accepted]:
        """Queue the outbox rows and the ledger writes of one message as one committer job (one SAVEPOINT), which
        stores nothing when the ledger's epoch is no longer ``rendered_under``."""

        def job(conn: Any) -> outbox.Accepted:
            epoch.check(conn, rendered_under)
            accepted = outbox.accept(conn, message, deliveries)
            if not accepted.repeat:  # a re-send's effect is in the ledger since it was first stored
                apply(conn, writes)
            if also is not None:
                also(conn)
            return accepted

        return self.committer.enqueue(job)

    async def receive(self, gw: Gateway, route: RouteConfig, body: bytes, content_type: str | None,
                      soap_action: str | None, version: stuf.SoapVersion) -> Answer:
        """One inbound message on a stateful route, from mapping to the acknowledgement."""
        converter = gw.converters[route.name]
        mapped = await self.map(gw.conversion, route.name, route.match_route or route.name, body)
        if mapped.warnings and mapped.mapping:
            gw.debt.record(mapped.mapping, mapped.warnings)
        if mapped.failure is not None:
            attempt = Converted(None, None, mapped.facts, mapped.failure, mapped.reason, mapped.seconds)
            return await gw.refused_or_unconverted(route, body, content_type, soap_action, attempt, version)
        message = self.share_identity(stored_message(route.name, route.mode, body, content_type, soap_action,
                                                     mapped.facts, mapped.mapping, unmapped=mapped.unmapped), mapped)
        try:
            staged, stored = await self.render_and_store(converter, mapped, route, message)
        except outbox.ReferenceConflict as exc:  # not a re-send: refused, and kept for the operator
            return await gw.refuse_conflict(route, body, content_type, soap_action, mapped, exc, version)
        except Exception as exc:  # not stored means not acknowledged; the ledger did not move either
            return gw.store_failed(route, exc, mapped.facts, version)
        gw.metrics.conversion_seconds.labels(route.name).observe(staged.attempt.seconds)
        if stored is None:
            return await gw.refused_or_unconverted(route, body, content_type, soap_action, staged.attempt, version)
        gw.metrics.converted.labels(route.name).inc()
        if not staged.attempt.outputs:
            log.info("message on route %s stored, nothing to deliver: %s", route.name,
                     staged.attempt.notes[0] if staged.attempt.notes else "no output", extra={"route": route.name})
        accepted, _deliveries = stored
        report_unmapped(gw.metrics, route.name, route.mode, mapped.mapping, accepted, mapped.facts.source_ref,
                        mapped.unmapped)
        return await acknowledge(gw, route, accepted, mapped.facts, version)

    async def replay_quarantined(self, gw: Gateway, ids: list[int]) -> list[Replayed]:
        """Quarantined messages converted again through the same ordered step, leaving the quarantine."""
        results: list[Replayed] = []
        for at, message_id in enumerate(ids):
            row = await gw.committer.write(lambda c, m=message_id: outbox.message(c, m))
            if row is None or row["status"] != outbox.QUARANTINED or row["route"] not in gw.config.routes:
                results.append(Replayed(message_id, False, "no such quarantined message (on a configured route)"))
                continue
            route = gw.config.routes[row["route"]]
            original = bytes(row["original"])
            mapped = await self.map(gw.conversion, route.name, route.match_route or route.name, original)
            if mapped.failure is not None:
                results.append(Replayed(message_id, False, f"still does not convert: {mapped.failure}"))
                continue
            message = self.share_identity(stored_message(route.name, row["mode"], original, row["content_type"],
                                                         row["soap_action"], mapped.facts, unmapped=mapped.unmapped),
                                          mapped)
            try:
                staged, stored = await self.render_and_store(
                    gw.converters[route.name], mapped, route, message,
                    also=lambda c, m=message_id: leave_quarantine(c, m))
            except outbox.ReferenceConflict as exc:
                results.append(Replayed(message_id, False, f"still refused: {exc}"))
                continue
            except NoLongerQuarantined:
                results.append(Replayed(message_id, False, "no longer quarantined"))
                continue
            except LedgerMoved:  # the job stored nothing: this one and the rest stay quarantined, replayable
                results += [Replayed(m, False, LEDGER_IMPORTING) for m in ids[at:]]
                break
            if stored is None:
                results.append(Replayed(message_id, False, f"still does not convert: {staged.attempt.failure}"))
                continue
            accepted, _ = stored
            report_unmapped(gw.metrics, route.name, row["mode"], mapped.mapping, accepted, mapped.facts.source_ref,
                            mapped.unmapped)
            gw.forwarder.add(accepted.queued)
            results.append(Replayed(message_id, True, f"converted; now message {accepted.message_id} with "
                                    f"{len(accepted.queued)} delivery(ies) queued"))
        return results

    async def restamp(self, steps: list[replay.Prepared]) -> list[Replayed]:
        """Replay ``steps``, those of a GGk envelope the chain holds in a new one whose tijdstipBericht is taken under
        the render lock like a rendered envelope's, and stored in the same job as the counter (one SAVEPOINT)."""
        async with self.lock:
            with self.ledger.transaction() as tx:
                stamped = replay.stamp(steps, tx)
            writes = self.ledger.last or WriteSet()

            def job(conn: Any) -> list[Replayed]:
                results = replay.apply(conn, stamped)
                apply(conn, writes)
                return results

            try:
                future = self.committer.enqueue(job)
            except BaseException:
                self.ledger.settle(writes)
                raise
        try:
            return await future
        finally:
            self.ledger.settle(writes)

    def close(self) -> None:
        self.thread.shutdown(wait=True)
        self.ledger.close()


class NoLongerQuarantined(Exception):
    """Another replay took the message out of the quarantine while this one converted it."""


def leave_quarantine(conn: Any, message_id: int) -> None:
    """Take a replayed message out of the quarantine, in the job that stores what it became; raise
    :class:`NoLongerQuarantined` when another replay did so first, which drops this job's rows and ledger writes.

    Two operators replaying one message both read it quarantined; the second was answered "converted" too, and
    counted as the message received a second time (``times_received`` 2, ``x2`` in the listings), as replay.py's
    ``_apply_quarantined`` has long refused ("no longer quarantined")."""
    if conn.execute("DELETE FROM message WHERE id = ? AND status = ?", (message_id, outbox.QUARANTINED)).rowcount != 1:
        raise NoLongerQuarantined(message_id)
    outbox.bump_generation(conn)
