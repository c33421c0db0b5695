"""The health page: outbox figures from the database and the gateway's own counters from ``/metrics``.

Its own module because it is the only page that reads the running gateway's metrics, not just the database.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from .. import queries
from ..context import Console

COUNTERS = ("overstap_received_total", "overstap_acknowledged_total", "overstap_rejected_total",
            "overstap_delivered_total", "overstap_retried_total", "overstap_dead_lettered_total",
            "overstap_queue_depth", "overstap_unmapped_messages_total", "overstap_unmapped_values_total")
"""The /metrics samples the health page lists as they are (dialect debt gets its own table)."""


def counters_and_debt(text: bytes) -> tuple[list[tuple[str, str, float]], list[tuple[str, str, int]]]:
    """The listed counters as (name, labels, value), and the dialect debt as (mapping, rule, count)."""
    from prometheus_client.parser import text_string_to_metric_families

    counters: list[tuple[str, str, float]] = []
    debt: list[tuple[str, str, int]] = []
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            if s.name == "overstap_dialect_debt_total":
                debt.append((s.labels["mapping"], s.labels["rule"], int(s.value)))
            elif s.name in COUNTERS:
                counters.append((s.name, ", ".join(f"{k}={v}" for k, v in sorted(s.labels.items())), s.value))
    return counters, debt


async def health(console: Console, request: Request) -> Response:
    session = await console.session_of(request)
    if session is None:
        return console.to_login(request)
    figures = await console.read(queries.health)
    counters: list[tuple[str, str, float]] = []
    debt: list[tuple[str, str, int]] = []
    if console.backend.metrics is not None:
        counters, debt = counters_and_debt(console.backend.metrics())
    debt.sort(key=lambda row: (-row[2], row[0], row[1]))
    age = time.time() - figures.oldest_pending if figures.oldest_pending else None
    return console.page(request, "health.html", session, h=figures, counters=counters, age=age, debt=debt,
                        debt_max=max((n for *_, n in debt), default=0))
