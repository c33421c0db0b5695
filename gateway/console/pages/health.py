"""The health page: outbox figures from the database, the gateway's own counters from ``/metrics`` and the
quarantine bound's fill (the figures /readyz shows).

Its own module because it is the only page that reads the running gateway's state, not just the database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

from .. import queries
from ..context import Console

COUNTERS = ("overstap_received_total", "overstap_acknowledged_total", "overstap_rejected_total",
            "overstap_delivered_total", "overstap_retried_total", "overstap_dead_lettered_total",
            "overstap_queue_depth", "overstap_unmapped_messages_total", "overstap_unmapped_values_total",
            "overstap_settled_meanwhile_total", "overstap_console_audit_failures_total")
"""The /metrics samples the health page lists as they are (dialect debt gets its own table)."""


@dataclass(slots=True)
class Figures:
    """What the health page takes from ``/metrics``."""

    counters: list[tuple[str, str, float]] = field(default_factory=list)
    """The listed counters as (name, labels, value)."""
    debt: list[tuple[str, str, int]] = field(default_factory=list)
    """The dialect debt as (mapping, rule, count)."""
    settled: dict[tuple[str, str], int] = field(default_factory=dict)
    """Attempts per (route, target) whose outcome was not written: the delivery was settled meanwhile."""


def from_metrics(text: bytes) -> Figures:
    """The health page's figures out of the ``/metrics`` text (the one counting path: the gateway's own)."""
    from prometheus_client.parser import text_string_to_metric_families

    out = Figures()
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            if s.name == "overstap_dialect_debt_total":
                out.debt.append((s.labels["mapping"], s.labels["rule"], int(s.value)))
            elif s.name in COUNTERS:
                out.counters.append((s.name, ", ".join(f"{k}={v}" for k, v in sorted(s.labels.items())), s.value))
            if s.name == "overstap_settled_meanwhile_total":
                key = (s.labels["route"], s.labels["target"])
                out.settled[key] = out.settled.get(key, 0) + int(s.value)
    return out


async def health(console: Console, request: Request) -> Response:
    session = await console.session_of(request)
    if session is None:
        return console.to_login(request)
    figures = await console.read(queries.health)
    m = from_metrics(console.backend.metrics()) if console.backend.metrics is not None else Figures()
    m.debt.sort(key=lambda row: (-row[2], row[0], row[1]))
    bound = await console.backend.quarantine() if console.backend.quarantine is not None else None
    age = time.time() - figures.oldest_pending if figures.oldest_pending else None
    return console.page(request, "health.html", session, h=figures, counters=m.counters, age=age, debt=m.debt,
                        debt_max=max((n for *_, n in m.debt), default=0), settled=m.settled, bound=bound)
