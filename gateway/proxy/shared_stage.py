"""The stateful step on a shared store: render inside the write transaction that stores the outputs.

On SQLite one sidecar owns the ledger, so it renders ahead of the commit against staged writes
(gateway/proxy/ledgered.py). On PostgreSQL several replicas write the same zaken: a message must be rendered
against what any replica committed last (a W computed from the state another replica just wrote). So the
render runs in the group committer's job, inside the transaction that holds the store's write lock
(``BEGIN IMMEDIATE``, an advisory lock there): read state, render, store outputs and ledger writes, commit —
one replica at a time, one message after the other in the order the jobs were queued.
"""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.deliver import outbox
from gateway.deliver.committer import GroupCommitter
from gateway.deliver.plan import plan
from gateway.ledger.job import JobLedger
from gateway.pgstore.conn import next_tijdstip
from gateway.pipeline import Converter

from .config import RouteConfig
from .converting import Converted
from .ledgered import LedgerStage, Staged
from .mapped import Mapped


class SharedLedgerStage(LedgerStage):
    """:class:`LedgerStage` for a shared store: no staging, no ledger thread; the committer renders."""

    def __init__(self, committer: GroupCommitter) -> None:  # no SQLite ledger, no lock or thread of our own
        self.ledger = JobLedger(next_tijdstip)  # type: ignore[assignment]
        self.committer = committer
        self.routes: tuple[str, ...] = ()

    async def render_and_store(self, converter: Converter, mapped: Mapped, route: RouteConfig,
                               message: outbox.NewMessage, also: Any = None) -> tuple[Staged, Any]:
        """As :meth:`LedgerStage.render_and_store`, with render and store in one committer job."""
        return await asyncio.wrap_future(self.committer.submit(
            lambda conn: self._job(conn, converter, mapped, route, message, also)))

    def _job(self, conn: Any, converter: Converter, mapped: Mapped, route: RouteConfig, message: outbox.NewMessage,
             also: Any) -> tuple[Staged, Any]:
        if outbox.repeated(conn, message) is not None:  # its effect is in the ledger since it was first stored
            staged = Staged(Converted([], mapped.mapping, mapped.facts, None, None, mapped.seconds))
            deliveries: list[outbox.NewDelivery] = []
        else:
            with self.ledger.using(conn):  # type: ignore[attr-defined]
                staged = self._render(converter, mapped, route.name)
            if staged.attempt.failure is not None:
                return staged, None
            message.mapping, message.reason = staged.attempt.mapping, staged.attempt.no_output
            deliveries = plan(route.mode, staged.attempt.outputs, message.original, message.content_type,
                              message.soap_action, route.in_order)
        accepted = outbox.accept(conn, message, deliveries)
        if also is not None:
            also(conn)
        return staged, (accepted, deliveries)

    def close(self) -> None:
        pass
