"""The sidecar's answer to a sender: the HTTP answer itself, and for a stored message a Bv03 at once
(``ack: durable``) or the downstream's verdict (``ack: delivered``).

Apart from :mod:`.service` because waiting on the deliveries of one message and turning their outcome into a
reply (relayed as-is from a legacy partner, else our Bv03 or Fo03) is a job of its own; the stateful route
(:mod:`.ledgered`) answers through it too.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.deliver import outbox
from gateway.deliver.forwarder import DEAD, DELIVERED, Outcome
from gateway.deliver.store import failure_name
from gateway.render import stuf

from .config import RouteConfig
from .converting import Facts, reply_parties

if TYPE_CHECKING:
    from .service import Gateway

log = logging.getLogger("overstap.gateway")


@dataclass(slots=True)
class Answer:
    """An HTTP answer: status, body, content type and extra headers."""

    status: int
    body: bytes
    content_type: str = stuf.CONTENT_TYPE["soap11"]
    headers: dict[str, str] = field(default_factory=dict)


def refused_downstream(dead: Outcome, message_id: str) -> stuf.Fout:
    """Our Fo03 for a message the downstream refused (translate, ``ack: delivered``): its code and plek, in our words.

    The downstream's omschrijving and details are its own free text about the message, which may quote a BSN or
    a name; they are described by shape only and stay with the delivery in the outbox (scrubbed), where the
    operator reads them. The sender gets the code, the plek and where to look."""
    reply = dead.reply
    if reply is None or reply.kind != "fo":
        return stuf.Fout.of("StUF058", f"refused downstream: {dead.summary or 'no StUF answer'}; message {message_id}")
    said = reply.omschrijving or ""
    return stuf.Fout(reply.code or "StUF058", "client" if reply.plek == "client" else "server",
                     f"refused downstream: {reply.berichtcode} {reply.code or '?'} ({reply.plek or '?'}), its "
                     f"omschrijving ({len(said)} characters) kept with message {message_id} in the outbox")


def waited_on(routes: dict[str, RouteConfig], route: str, target: str) -> bool:
    """Whether a sender may wait for the verdict of a delivery of ``route`` to ``target`` (:func:`acknowledge`'s
    ``ack: delivered``), so that a replica on a shared store NOTIFYs the others when it stores that verdict
    (gateway/pgstore/notify.py). A route this configuration does not know: yes (another replica's may say so)."""
    config = routes.get(route)
    if config is None:
        return True
    return config.ack == "delivered" and target == (outbox.NEW if config.mode == "translate" else outbox.LEGACY)


async def acknowledge(gw: Gateway, route: RouteConfig, accepted: outbox.Accepted, facts: Facts,
                      version: stuf.SoapVersion) -> Answer:
    """A stored message: queue its deliveries and answer (at once, or with the downstream's verdict)."""
    ack_target = outbox.NEW if route.mode == "translate" else outbox.LEGACY
    waits: dict[int, asyncio.Future[Outcome]] = {}
    if route.ack == "delivered":
        for item in accepted.queued:
            if item.target == ack_target:
                waits[item.id] = gw.forwarder.waiter(item.id)
    # Handed over before any await: a rescan meanwhile could take them up and settle them, and handed over after
    # that, the forwarder (no longer tracking them) would send them again.
    gw.forwarder.add(accepted.queued)
    renewed: list[int] = []
    if accepted.renew:  # a re-offer of GGk envelopes the chain refused: each goes again in a new one
        from .replaying import renew_offered  # replaying -> shared_stage -> ledgered -> this module

        found = await renew_offered(gw, route.name, accepted)
        if found is None:  # its refused envelope queued nowhere: acknowledged, the message would go nowhere
            for delivery_id, fut in waits.items():
                gw.forwarder.forget(delivery_id, fut)
            return _renew_failed(gw, route, accepted, facts, version)
        renewed = found
    routes = {item.id: item.route for item in accepted.queued}
    if route.ack == "delivered":
        if ack_target == outbox.NEW:  # pending again, in a new envelope: the forwarder picks them up from the outbox
            waits.update((i, gw.forwarder.waiter(i)) for i in renewed)
        for delivery_id, status, target, stored_route in accepted.known:
            if target == ack_target and status == outbox.PENDING:  # one another replica holds: its status answers
                waits[delivery_id] = gw.forwarder.waiter(delivery_id, watch=not gw.forwarder.tracks(delivery_id))
                routes[delivery_id] = stored_route
    headers = {"X-Overstap-Message": str(accepted.message_id),
               "X-Overstap-Referentienummers": ",".join(accepted.refs)}
    if accepted.duplicate:
        headers["X-Overstap-Duplicate"] = "true"
        gw.metrics.duplicates.labels(route.name).inc()
    log.info("message %d accepted on route %s (%s): %d delivery(ies) queued%s", accepted.message_id, route.name,
             route.mode, len(accepted.queued), ", a re-send" if accepted.duplicate else "",
             extra={"route": route.name, "message_id": accepted.message_id, "source_ref": facts.source_ref,
                    "queued": len(accepted.queued), "duplicate": accepted.duplicate})
    stuck = _undeliverable(gw, waits, routes, ack_target)
    if stuck is not None and not await _elsewhere_may(gw, stuck, ack_target):
        for delivery_id, fut in waits.items():
            gw.forwarder.forget(delivery_id, fut)
        return _no_downstream(gw, route, stuck, ack_target, facts, version, headers)
    if waits:
        return await _await_delivery(gw, route, waits, headers, facts, version, _elsewhere(stuck, ack_target))
    gw.metrics.acknowledged.labels(route.name).inc()
    bv = stuf.bv03(*reply_parties(facts, gw.config.reply), facts.source_ref or stuf.UNKNOWN_REF)
    return Answer(200, stuf.envelope(bv, version), stuf.CONTENT_TYPE[version], headers)


def _undeliverable(gw: Gateway, waits: dict[int, asyncio.Future[Outcome]], routes: dict[int, str],
                   target: str) -> tuple[int, str] | None:
    """A delivery the sender would wait for that this sidecar has no downstream for (its route, as stored, is not
    configured for ``target`` now: renamed, or a retour's first route whose mode changed): (its id, that route). On
    a SQLite outbox nobody else delivers it; on a shared store another replica's configuration may: only when a live
    replica configures the route does the sender wait (:func:`_elsewhere_may`); its 504 names it (`_elsewhere`)."""
    return next(((i, routes[i]) for i in waits if i in routes and (routes[i], target) not in gw.forwarder.targets),
                None)


async def _elsewhere_may(gw: Gateway, stuck: tuple[int, str], target: str) -> bool:
    """Whether another replica may deliver the stuck delivery: on a shared store, a live replica configuring its
    route (session 29); a store that cannot say is taken for yes: the sender waits, as before."""
    if not gw.store.shared:
        return False
    try:
        return await gw.forwarder.configured_elsewhere(stuck[1], target)
    except Exception as exc:
        log.warning("whether a replica configures a route was not read (%s): the sender waits", failure_name(exc))
        return True


def _elsewhere(stuck: tuple[int, str] | None, target: str) -> str:
    """What a 504 on a shared store says when this replica has no downstream for the awaited delivery's route and a
    live replica configures it: which route and delivery the operator looks for there, not "delivery continues"
    alone (session 29)."""
    if stuck is None:
        return ""
    return (f"route {stuck[1]!r} has no {target} downstream on this replica, only one configuring it delivers delivery "
            f"{stuck[0]}; a re-send is recognised")


def _no_downstream(gw: Gateway, route: RouteConfig, stuck: tuple[int, str], target: str, facts: Facts,
                   version: stuf.SoapVersion, headers: dict[str, str]) -> Answer:
    """``ack: delivered`` on a message whose delivery can never be made with this configuration: said at once, why
    and what it takes, not a Bv03 (nothing was delivered) nor a 504 after ``ack_timeout`` that says delivery goes
    on (it does not, until an operator configures the route)."""
    gw.metrics.rejected.labels(route.name, "no_downstream").inc()
    where = "on any live replica" if gw.store.shared else "in this configuration"
    fout = stuf.Fout.of("StUF058", f"stored as message {headers['X-Overstap-Message']}, but its delivery {stuck[0]} "
                        f"is of route {stuck[1]!r}, which has no {target} downstream {where}: it is "
                        "not delivered until one is configured; a re-send is recognised")
    return gw.fault(503, fout, version, facts, headers)


def _renew_failed(gw: Gateway, route: RouteConfig, accepted: outbox.Accepted, facts: Facts,
                  version: stuf.SoapVersion) -> Answer:
    """A re-offer whose envelope the chain refused could not be queued again in a new one: the message is stored,
    but not all that was sent is durable, so no Bv03; the sender offers it again later, and that offer renews it."""
    gw.metrics.rejected.labels(route.name, "store_failed").inc()
    fout = stuf.Fout.of("StUF046", f"stored as message {accepted.message_id}, but its envelope the chain refused "
                        "could not be queued again in a new one; offer it again later")
    return gw.fault(503, fout, version, facts, {"X-Overstap-Message": str(accepted.message_id),
                                                "X-Overstap-Duplicate": "true", "Retry-After": "5"})


async def _await_delivery(gw: Gateway, route: RouteConfig, waits: dict[int, asyncio.Future[Outcome]],
                          headers: dict[str, str], facts: Facts, version: stuf.SoapVersion, elsewhere: str = "",
                          ) -> Answer:
    """``ack: delivered``: answer with the downstream's verdict (relayed as-is from a legacy partner)."""
    _done, late = await asyncio.wait(waits.values(), timeout=route.ack_timeout)
    for delivery_id, fut in waits.items():
        gw.forwarder.forget(delivery_id, fut)
    if late:
        gw.metrics.rejected.labels(route.name, "ack_timeout").inc()
        return gw.fault(504, stuf.Fout.of("StUF058", f"stored as message {headers['X-Overstap-Message']}"
                                          f" but not yet accepted downstream within {route.ack_timeout:g}s; "
                                          + (elsewhere or "delivery continues, a re-send is recognised")), version,
                      facts, headers)
    outcomes = [fut.result() for fut in waits.values()]
    dead = next((o for o in outcomes if o.result == DEAD), None)
    relay = route.mode != "translate"
    if dead is not None:
        gw.metrics.rejected.labels(route.name, "downstream").inc()
        if relay and dead.body:
            return Answer(dead.http_status or 502, dead.body, dead.content_type or "text/xml", headers)
        fout = refused_downstream(dead, headers["X-Overstap-Message"])
        return gw.fault(422 if fout.plek == "client" else 502, fout, version, facts, headers)
    gw.metrics.acknowledged.labels(route.name).inc()
    delivered = [o for o in outcomes if o.result == DELIVERED and o.body]
    if relay and delivered:
        o = delivered[0]
        return Answer(o.http_status or 200, o.body, o.content_type or "text/xml", headers)
    bv = stuf.bv03(*reply_parties(facts, gw.config.reply), facts.source_ref or stuf.UNKNOWN_REF)
    return Answer(200, stuf.envelope(bv, version), stuf.CONTENT_TYPE[version], headers)
