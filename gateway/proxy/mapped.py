"""The stateless half of a conversion on a route rendered against the zaak ledger: what a conversion worker runs.

Mapping (bytes -> canonical model) runs in the workers; the stateful render runs in the server process
(gateway/proxy/ledgered.py). This half lives apart from that one because a worker imports the module of every
function it is sent: here, it needs nothing a worker has not loaded already, where ledgered's imports (the
forwarder, the metrics with prometheus_client) cost the first message after each worker start ~25 ms
(docs/performance.md, *Sidecar: the first message after a start*); :func:`~.converting._init_worker` imports it
before the worker says ready.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from gateway.deliver.unmapped import UnmappedInput
from gateway.mapping.result import Warning_
from gateway.model import Bericht
from gateway.pipeline import FAILURES, Converter, FailureInfo, describe
from gateway.render.ggk_chain import Received, received_di01
from gateway.render.zkn import Prepared

from .converting import Facts, _worker_converters, facts_from, facts_of, reason_of

log = logging.getLogger("overstap.ledger")


@dataclass(slots=True)
class Mapped:
    """A message mapped to the canonical model in a worker (picklable), or why it could not be."""

    bericht: Bericht | None
    """The canonical model; None when it failed or when ``prepared`` stands for it."""
    mapping: str | None
    facts: Facts
    failure: FailureInfo | None = None
    reason: str | None = None
    seconds: float = 0.0
    warnings: tuple[Warning_, ...] = ()
    """Deviations accepted under ``strictness: lenient`` (dialect debt), for the gateway to count."""
    prepared: Prepared | None = None
    """What rendering needs from the message (``Converter.prepare``), worked out in the worker: the serial
    render step then neither unpickles the model nor works out units and desired states."""
    received: Received | None = None
    """The GGk Di01 the message came in (``received_di01``): the render step remembers it for the retour's
    Du01, as ``convert`` does; the envelope itself stays in the worker."""
    unmapped: UnmappedInput | None = None
    """Source values no rule used (paths and lines only): logged, counted and stored with the message."""


def map_message(converter: Converter, route: str, match_route: str, body: bytes) -> Mapped:
    """The stateless half of a conversion: detect, map, check the model. Never raises."""
    started = time.perf_counter()
    try:
        source, mapping, result = converter.to_model(body, route, route=match_route)
    except FAILURES as exc:
        return Mapped(None, None, facts_of(body), describe(exc, route), reason_of(exc, body),
                      time.perf_counter() - started)
    except Exception as exc:  # a bug, not bad input
        log.error("mapping failed unexpectedly on route %s: %s", route, type(exc).__name__, exc_info=exc)
        info = FailureInfo("StUF058", None, None, f"internal error while converting: {type(exc).__name__}", route)
        return Mapped(None, None, facts_of(body), info, "internal", time.perf_counter() - started)
    if result.warnings:
        converter.debt.record(mapping.name, result.warnings)
    prepared = converter.prepare(result.bericht, mapping)
    return Mapped(None if prepared is not None else result.bericht, mapping.name,
                  facts_from(result.bericht, source.envelope_info), seconds=time.perf_counter() - started,
                  warnings=tuple(result.warnings), prepared=prepared,
                  received=received_di01(result.bericht, source.envelope_info),
                  unmapped=UnmappedInput.of(result.unmapped))


def map_in_worker(route: str, match_route: str, body: bytes) -> Mapped:
    """:func:`map_message` with the worker's converter of ``route`` (the task the ledger stage sends a worker)."""
    return map_message(_worker_converters[route], route, match_route, body)
