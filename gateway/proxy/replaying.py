"""``POST /admin/replay`` of deliveries: as stored, or (a GGk envelope the chain holds) in a new envelope.

The new envelope's tijdstipBericht comes from the zender's counter in the zaak ledger as a fresh envelope's does
(gateway/deliver/restamp.py), through whichever ledger this sidecar renders with: on SQLite the staged ledger,
under the render lock (:meth:`LedgerStage.restamp`), so it is ordered with the envelopes rendered meanwhile; on
PostgreSQL the store's atomic counter inside the committer's job, as a replica renders; without a ledger
(``ledger: none``) the counter in the outbox file, which nothing stamps ahead of.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from gateway.deliver.outbox import claim_renewal
from gateway.deliver.replay import (
    NOT_OWED,
    RENEWED_MEANWHILE,
    Prepared,
    Replayed,
    apply,
    needs_stamp,
    prepare,
    stamp,
)
from gateway.deliver.store import failure_name
from gateway.ledger.job import JobLedger
from gateway.ledger.staged import ConnLedger
from gateway.pgstore.conn import next_tijdstip

from .shared_stage import SharedLedgerStage

if TYPE_CHECKING:
    from gateway.deliver.outbox import Accepted

    from .service import Gateway

log = logging.getLogger("overstap.gateway")


async def replay_deliveries(gw: Gateway, chunk: list[int], force: bool, renewal: bool = False) -> list[Replayed]:
    """One chunk of delivery ids replayed through the outbox writer; ``force``: delivered ones too; ``renewal``:
    only those owed a renewal, each claimed in the write that queues it (gateway/deliver/replay.py)."""
    targets = gw.config.targets()

    def read(conn: Any) -> list[Prepared]:
        return prepare(conn, chunk, force=force, targets=targets, renewal=renewal)

    if gw.stage is not None and not isinstance(gw.stage, SharedLedgerStage):
        steps = await gw.committer.write(read)
        if needs_stamp(steps):
            return await gw.stage.restamp(steps)
        return await gw.committer.write(lambda c: apply(c, steps))
    shared = JobLedger(next_tijdstip) if gw.store.shared else None

    def job(conn: Any) -> list[Replayed]:
        steps = read(conn)
        if needs_stamp(steps):
            steps = _stamped(conn, steps, shared)
        return apply(conn, steps)

    return await gw.committer.write(job)


async def renew_offered(gw: Gateway, route: str, accepted: Accepted) -> list[int] | None:
    """The sender offered a message again whose GGk envelope the chain refused (``accepted.renew``, left dead by
    the outbox write): replay those deliveries now, each in a new envelope as an operator's replay would. Returns
    the ids queued again; None when the replay's write failed (the dead letters stay as they were, the re-offer is
    not acknowledged: the sender offers it again); a delivery the replay refuses stays a dead letter, as the log
    says."""
    try:
        results = await replay_deliveries(gw, accepted.renew, False)
    except Exception as exc:  # a store failure: the dead letters stay for the sender's next offer, or the operator
        log.error("re-offer of message %d on route %s: its dead letter(s) %s not sent again: %s",
                  accepted.message_id, route, accepted.renew, failure_name(exc), extra={"route": route})
        return None
    for r in results:
        log.info("re-offer of message %d on route %s: delivery %d %s", accepted.message_id, route, r.id,
                 r.note if r.ok else f"not sent again: {r.note}", extra={"route": route, "delivery_id": r.id})
    picked_up(gw, results)
    return [r.id for r in results if r.ok]


async def renew_stale(gw: Gateway, delivery_id: int) -> bool:
    """Pay the renewal a dead letter the chain answered StUF019 is owed (written with it when it is older than its
    zender's later envelopes, gateway/deliver/restamp.py ``owe_renewal``): replay it in a new envelope now, as an
    operator would next (docs/ggk-profile.md 5.2). The chain holds nothing under its UUID (StUF 03.01 4.4, Tabel
    4.1). Called by the forwarder after the dead letter's COMMIT, and for debts a killed process or replica left
    (:meth:`Forwarder.renew_owed`); the write that queues it claims the debt, so it is paid once whoever asks.
    Whether the delivery goes on in a new envelope (this one's, or one queued meanwhile by another): a sender on
    ``ack: delivered`` then waits for that envelope's verdict. A store failure leaves the debt for the next try."""
    try:
        (result,) = await replay_deliveries(gw, [delivery_id], False, renewal=True)
        if not result.ok and result.note not in (NOT_OWED, RENEWED_MEANWHILE):
            # refused before its claim (a route this sidecar no longer delivers): the operator's, not every poll's
            await gw.committer.write(lambda c: claim_renewal(c, delivery_id))
    except Exception as exc:  # a store failure: still owed, paid at the next look (the poll, a restart)
        log.error("delivery %d: not renewed after StUF019: %s", delivery_id, failure_name(exc))
        return False
    if result.note == NOT_OWED:
        return False
    log.info("delivery %d: the chain took none under its UUID (StUF019): %s", delivery_id,
             result.note if result.ok else f"not renewed: {result.note}", extra={"delivery_id": delivery_id})
    picked_up(gw, [result])
    return result.ok or result.note == RENEWED_MEANWHILE


def picked_up(gw: Gateway, results: list[Replayed]) -> None:
    """Have the forwarder take up the deliveries queued again now: found only by the outbox generation at its next
    poll, they would wait up to ``poll_interval`` (on SQLite no NOTIFY wakes it; the forwarder skips ids it has)."""
    if any(r.ok for r in results):
        gw.forwarder.rescan_soon()


def _stamped(conn: Any, steps: list[Prepared], shared: JobLedger | None) -> list[Prepared]:
    """The steps stamped through the ledger tables on the job's connection (the store's counter when shared)."""
    if shared is None:
        with ConnLedger(conn, create=False).transaction() as tx:
            return stamp(steps, tx)
    with shared.using(conn), shared.transaction() as tx:
        return stamp(steps, tx)
