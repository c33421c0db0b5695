"""The sidecar's side of the ISD-keten's Fo01 (GGk spec 2.3): take it on a ggk route, keep it, mark what it refuses.

The chain acknowledges an envelope at once and refuses it later, asynchronously, in a StUF Fo01 to the gemeente
(operation ``Fo01`` of ``ggk0310_OntvangAsynchroon.wsdl``: input Fo01, output Bv03, fault Fo03). Without this a
Fo01 was refused as a message of no known dialect, and the Di01 it refused stayed ``delivered``. Now it is read
and checked (gateway/ingest/fo01.py), stored with its effect in one outbox write (gateway/deliver/chain_faults.py)
and only then answered with a Bv03. It is never converted or forwarded. The log says ids and code only.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from gateway.deliver import chain_faults, outbox
from gateway.ingest import InputError, fo01
from gateway.pipeline import FailureInfo
from gateway.render import stuf

from .converting import Converted, Facts, facts_of, party_of, reply_parties, stored_message

if TYPE_CHECKING:
    from .config import RouteConfig
    from .service import Answer, Gateway

log = logging.getLogger("overstap.gateway")


def takes_fo01(route: RouteConfig, body: bytes) -> bool:
    """A Fo01 on a translate route of profile ggk: the one kind of route whose downstream is the chain."""
    return route.profile == "ggk" and route.mode == "translate" and fo01.is_fo01(body)


def chain_routes(gw: Gateway, route: RouteConfig) -> list[str]:
    """The routes whose new downstream gets GGk envelopes at the chain endpoint (URL) ``route``'s does: where a Fo01
    arriving on ``route`` may point. That chain sends its Fo01s to any route before it; another chain's
    deliveries are not its to refuse, whatever UUID a sender on ``route`` names."""
    def endpoint(r: RouteConfig) -> str | None:
        downstream = gw.config.downstream_for(r, outbox.NEW)
        return downstream.url if downstream is not None else None

    own = endpoint(route)
    return sorted(name for name, r in gw.config.routes.items()
                  if r.profile == "ggk" and r.mode != "passthrough" and endpoint(r) == own)


async def receive_fo01(gw: Gateway, route: RouteConfig, body: bytes, content_type: str | None,
                       soap_action: str | None, version: stuf.SoapVersion) -> Answer:
    """Check, keep and settle one Fo01; a Bv03 once stored, a Fo03 (and quarantine) when it is not a valid Fo01."""
    from .service import Answer

    try:
        fault = await asyncio.to_thread(fo01.read_fo01, body, route.name, gw.config.max_body_bytes)
    except (InputError, fo01.SchemaMissing) as exc:
        internal = isinstance(exc, fo01.SchemaMissing)
        info = FailureInfo("StUF058" if internal else exc.code, fo01.FO01 if internal else exc.field,
                           None if internal else exc.line, str(exc) if internal else exc.message, route.name)
        gw.metrics.chain_faults.labels(route.name, "invalid").inc()
        facts = await asyncio.to_thread(facts_of, body)  # its Fo03 still answers its referentienummer and zender
        refused = Converted(None, None, facts, info, "internal" if internal else "invalid")
        return await gw.refused_or_unconverted(route, body, content_type, soap_action, refused, version)
    facts = Facts(fault.referentienummer, fault.stuurgegevens.get("zender.organisatie"),
                  fault.stuurgegevens.get("ontvanger.organisatie"),
                  stuf_zender=party_of(fault.stuurgegevens, "zender"),
                  stuf_ontvanger=party_of(fault.stuurgegevens, "ontvanger"))
    message = stored_message(route.name, route.mode, body, content_type, soap_action, facts)
    reason = chain_faults.reason_of(fault.code, fault.plek, fault.omschrijving, fault.details)
    routes = chain_routes(gw, route)
    size = len(body)
    room = await gw.quarantine_room(route.name, size, tell=False)  # used only if it names nothing we sent
    settled: chain_faults.Settled | None = None
    try:
        settled = await gw.committer.write(lambda c: chain_faults.settle(c, message, fault.crossRefnummer, fault.code,
                                                                         reason, routes, room=room))
    except chain_faults.QuarantineFull:  # not stored, not acknowledged: the chain offers it again
        gw.quarantine_refused(route.name, size)
        return gw.quarantine_full(version, facts)
    except Exception as exc:  # not stored means not acknowledged: the chain offers it again
        return gw.store_failed(route, exc, facts, version)
    finally:
        if room:  # a new quarantine entry, or the room goes back
            gw.quarantine.written(size, settled is not None and settled.quarantined and not settled.repeat)
    headers = {"X-Overstap-Message": str(settled.message_id)}
    extra = {"route": route.name, "code": fault.code, "source_ref": fault.referentienummer,
             "cross_ref": fault.crossRefnummer, "message_id": settled.message_id, "delivery_id": settled.delivery_id}
    if settled.quarantined:
        headers["X-Overstap-Quarantine"] = str(settled.message_id)
        gw.metrics.chain_faults.labels(route.name, "quarantined").inc()
        log.warning("Fo01 %s %s on route %s names no delivery this gateway sent (crossRefnummer %s): kept as "
                    "quarantined message %d", fault.code, fault.referentienummer, route.name, fault.crossRefnummer,
                    settled.message_id, extra=extra)
    elif settled.repeat:
        headers["X-Overstap-Duplicate"] = "true"
        gw.metrics.chain_faults.labels(route.name, "repeat").inc()
        log.info("Fo01 %s %s on route %s again (message %d): delivery %d left as it is", fault.code,
                 fault.referentienummer, route.name, settled.message_id, settled.delivery_id, extra=extra)
    else:
        headers["X-Overstap-Delivery"] = str(settled.delivery_id)
        gw.metrics.chain_faults.labels(route.name, "dead_letter").inc()
        gw.metrics.dead_total.labels(settled.route or route.name, outbox.NEW).inc()
        log.warning("Fo01 %s %s on route %s refuses delivery %d (%s, was %s): dead letter; kept as message %d",
                    fault.code, fault.referentienummer, route.name, settled.delivery_id, fault.crossRefnummer,
                    settled.was, settled.message_id, extra=extra)
    gw.metrics.acknowledged.labels(route.name).inc()
    bv = stuf.bv03(*reply_parties(facts, gw.config.reply), fault.referentienummer)
    return Answer(200, stuf.envelope(bv, version), stuf.CONTENT_TYPE[version], headers)
