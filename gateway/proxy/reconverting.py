"""``POST /admin/reconvert``: ``overstap outbox reconvert`` (gateway/deliver/reconvert.py) through the running sidecar.

Why through the sidecar: on SQLite it renders each message against its staged ledger ahead of the commit, so a CLI
beside it would take back a zaak it may be rendering (the CLI is refused there, as ``replay --quarantined`` is).
Here the re-conversion runs as one committer job while the render lock is held: every message rendered before it is
stored first (the committer keeps the order), none is rendered meanwhile, and its checks and renders read the ledger
tables in that job's transaction. Afterwards the staged write sets, all committed by then, are forgotten, so the
next render reads the zaken and the zender's tijdstipBericht as the re-conversion left them. On PostgreSQL every
replica renders inside the store's write lock, and so does this job.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from gateway.deliver.reconvert import LEDGERLESS, Reconverted, ReconvertRefused, reconvert
from gateway.ledger.job import JobLedger
from gateway.ledger.staged import ConnLedger
from gateway.pgstore.conn import next_tijdstip

from .ledger_converting import ledger_converting
from .shared_stage import SharedLedgerStage

if TYPE_CHECKING:
    from .service import Gateway

NO_LEDGER = ("this sidecar renders without a zaak ledger (ledger: none): there is no zaak to take back; replay the "
             "dead letter, or quarantine and convert it again")


async def reconvert_through(gw: Gateway, ids: list[int], expected: set[int] | None = None) -> list[Reconverted]:
    """Convert the messages of dead deliveries ``ids`` anew with the mappings the sidecar holds now; raises
    :class:`ReconvertRefused` (nothing changed) as the CLI's refusal says. ``expected``: the messages the console's
    confirmation showed (refused if the zaken now have others)."""
    stage = gw.stage
    if stage is None:
        raise ReconvertRefused(NO_LEDGER, LEDGERLESS)
    bind, in_order = await asyncio.to_thread(ledger_converting, gw.config, gw.registry)
    if isinstance(stage, SharedLedgerStage):
        shared = JobLedger(next_tijdstip)
        convert = bind(shared)

        def on_shared_store(conn: Any) -> list[Reconverted]:
            with shared.using(conn):
                return reconvert(conn, ids, convert, in_order, expected)

        done = await gw.committer.write(on_shared_store)
        _queue(gw, done)
        return done

    def on_outbox_file(conn: Any) -> list[Reconverted]:
        return reconvert(conn, ids, bind(ConnLedger(conn, create=False)), in_order, expected)

    async with stage.lock:
        try:
            done = await gw.committer.write(on_outbox_file)
        finally:  # all committed before the job (or given up): what the job wrote is read from the database now
            stage.ledger.forget_in_flight()
        _queue(gw, done)  # before the lock goes: a message of the zaak rendered next is queued after them
    return done


def _queue(gw: Gateway, done: list[Reconverted]) -> None:
    """Hand the new deliveries to the forwarder now, in order: found later by the outbox generation, they came
    after a message of the zaak that arrived meanwhile, which the receiver refused (no such zaak yet)."""
    gw.forwarder.add([q for r in done for q in r.queued])
