"""Prometheus metrics of the sidecar, per route: what came in, what was refused, delivered, retried, dead.

Each gateway has its own registry (not the process-global one), so tests and embedded use never
see each other's counters. Queue depth is read from the forwarder at scrape time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.deliver.forwarder import Observer, Outcome
from gateway.deliver.outbox import Queued

M = TypeVar("M", Counter, Histogram)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Depth(Collector):
    def __init__(self, depth: Callable[[], dict[tuple[str, str], int]]) -> None:
        self.depth = depth

    def collect(self):  # type: ignore[no-untyped-def]
        family = GaugeMetricFamily("overstap_queue_depth", "Deliveries waiting in the outbox",
                                   labels=["route", "target"])
        for (route, target), value in sorted(self.depth().items()):
            family.add_metric([route, target], value)
        yield family


class _Writes(Collector):
    """Outbox writes not yet answered: queued for the committer or in the commit waiting for the store's write lock,
    read at scrape (a gauge an operator alerts on, and a test waits on instead of sleeping)."""

    def __init__(self, waiting: Callable[[], int]) -> None:
        self.waiting = waiting

    def collect(self):  # type: ignore[no-untyped-def]
        yield GaugeMetricFamily("overstap_outbox_writes_waiting", "Outbox writes queued for the committer or in "
                                "the commit under way (waiting for the store's write lock), not yet answered",
                                value=self.waiting())


class _Debt(Collector):
    """Dialect debt: deviations accepted under ``strictness: lenient`` per mapping and rule, read at scrape."""

    def __init__(self, counts: Callable[[], dict[tuple[str, str], int]]) -> None:
        self.counts = counts

    def collect(self):  # type: ignore[no-untyped-def]
        family = CounterMetricFamily("overstap_dialect_debt", "Deviations accepted under strictness: lenient, "
                                     "per mapping and rule", labels=["mapping", "rule"])
        for (mapping, rule), value in sorted(self.counts().items()):
            family.add_metric([mapping, rule], value)
        yield family


class _Workers(Collector):
    """Delivery workers running and restarted, and whether canonical output is validated, read at scrape."""

    def __init__(self, workers: Callable[[], dict[str, int]], validating: Callable[[], dict[str, bool]]) -> None:
        self.workers = workers
        self.validating = validating

    def collect(self):  # type: ignore[no-untyped-def]
        now = self.workers()
        running = GaugeMetricFamily("overstap_delivery_workers", "Delivery workers by state", labels=["state"])
        running.add_metric(["running"], now["running"])
        running.add_metric(["expected"], now["expected"])
        yield running
        yield CounterMetricFamily("overstap_delivery_worker_restarts", "Delivery workers started again after "
                                  "an unexpected end", value=now["restarted"])
        yield CounterMetricFamily("overstap_delivery_worker_errors", "Deliveries whose handling failed "
                                  "unexpectedly (tried again later)", value=now["errors"])
        validated = GaugeMetricFamily("overstap_validation_enabled", "1 when a route validates its canonical "
                                      "output against the official schema", labels=["route"])
        for route, on in sorted(self.validating().items()):
            validated.add_metric([route], 1 if on else 0)
        yield validated


class _ConsoleAudit(Collector):
    """Console actions done whose audit entry could not be written (docs/console.md), read at scrape."""

    def __init__(self, failures: Callable[[], int]) -> None:
        self.failures = failures

    def collect(self):  # type: ignore[no-untyped-def]
        yield CounterMetricFamily("overstap_console_audit_failures", "Console actions (replay, re-convert, purge) "
                                  "done whose audit entry could not be written", value=self.failures())


class _Labelled(Generic[M]):
    """A labelled metric whose children are looked up once per label values: prometheus_client's ``labels()``
    checks and locks on every call, and a message updates seven of them (6 of its ~10 us)."""

    __slots__ = ("children", "metric")

    def __init__(self, metric: M) -> None:
        self.metric = metric
        self.children: dict[tuple[str, ...], M] = {}

    def labels(self, *values: str) -> M:
        child = self.children.get(values)
        if child is None:
            child = self.children[values] = self.metric.labels(*values)
        return child


class Metrics(Observer):
    """The counters and histograms; also the forwarder's observer."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.received = _Labelled(Counter("overstap_received", "Messages received", ["route"], registry=r))
        self.converted = _Labelled(Counter("overstap_converted", "Messages converted to the canonical form",
                                           ["route"], registry=r))
        self.rejected = _Labelled(Counter("overstap_rejected", "Messages refused with a Fo03", ["route", "reason"],
                                          registry=r))
        self.unconverted = _Labelled(Counter("overstap_unconverted", "Passthrough/shadow messages that would not "
                                             "convert", ["route", "reason"], registry=r))
        self.acknowledged = _Labelled(Counter("overstap_acknowledged", "Messages acknowledged with a Bv03", ["route"],
                                              registry=r))
        self.duplicates = _Labelled(Counter("overstap_duplicates", "Re-sent messages acknowledged again, not queued "
                                            "again", ["route"], registry=r))
        self.delivered_total = _Labelled(Counter("overstap_delivered", "Deliveries accepted by a downstream",
                                                 ["route", "target"], registry=r))
        self.retried_total = _Labelled(Counter("overstap_retried", "Delivery attempts that will be retried",
                                               ["route", "target"], registry=r))
        self.dead_total = _Labelled(Counter("overstap_dead_lettered", "Deliveries that ended as dead letters",
                                            ["route", "target"], registry=r))
        self.settled_meanwhile_total = _Labelled(Counter(
            "overstap_settled_meanwhile", "Delivery attempts whose outcome (delivered, dead) was not written: the "
            "delivery was settled another way while the attempt was out (a chain's Fo01, a replay)",
            ["route", "target", "outcome"], registry=r))
        self.conversion_seconds = _Labelled(Histogram("overstap_conversion_seconds", "Time to convert one message",
                                                      ["route"], buckets=LATENCY_BUCKETS, registry=r))
        self.ack_seconds = _Labelled(Histogram("overstap_ack_seconds", "Time from request to acknowledgement",
                                               ["route"], buckets=LATENCY_BUCKETS, registry=r))
        self.delivery_seconds = _Labelled(Histogram("overstap_delivery_seconds", "Time of one delivery attempt",
                                                    ["route", "target"], buckets=LATENCY_BUCKETS, registry=r))
        self.commit_batch = Histogram("overstap_outbox_commit_batch", "Writes per outbox commit",
                                      buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512), registry=r)
        self.commit_seconds = Histogram("overstap_outbox_commit_seconds", "Duration of one outbox commit",
                                        buckets=LATENCY_BUCKETS, registry=r)
        self.unmapped_messages = _Labelled(Counter("overstap_unmapped_messages", "Stored messages with source values "
                                                   "no mapping rule used (unmapped input), per mapping",
                                                   ["route", "mapping"], registry=r))
        self.unmapped_values = _Labelled(Counter("overstap_unmapped_values", "Source values no mapping rule used, "
                                                 "per mapping", ["route", "mapping"], registry=r))
        self.reloads = _Labelled(Counter("overstap_mapping_reloads", "Mapping reloads", ["result"], registry=r))
        self.chain_faults = _Labelled(Counter("overstap_chain_faults", "StUF Fo01s from the ISD-keten, by what became "
                                              "of them: dead_letter, repeat, quarantined", ["route", "outcome"],
                                              registry=r))

    def watch_depth(self, depth: Callable[[], dict[tuple[str, str], int]]) -> None:
        self.registry.register(_Depth(depth))

    def watch_writes(self, waiting: Callable[[], int]) -> None:
        self.registry.register(_Writes(waiting))

    def watch_debt(self, counts: Callable[[], dict[tuple[str, str], int]]) -> None:
        self.registry.register(_Debt(counts))

    def watch_workers(self, workers: Callable[[], dict[str, int]], validating: Callable[[], dict[str, bool]]) -> None:
        self.registry.register(_Workers(workers, validating))

    def watch_console_audit(self, failures: Callable[[], int]) -> None:
        self.registry.register(_ConsoleAudit(failures))

    def on_commit(self, size: int, seconds: float) -> None:
        self.commit_batch.observe(size)
        self.commit_seconds.observe(seconds)

    # forwarder hooks
    def delivered(self, item: Queued, outcome: Outcome) -> None:
        self.delivered_total.labels(item.route, item.target).inc()
        self.delivery_seconds.labels(item.route, item.target).observe(outcome.seconds)

    def retried(self, item: Queued, outcome: Outcome, delay: float) -> None:
        self.retried_total.labels(item.route, item.target).inc()
        self.delivery_seconds.labels(item.route, item.target).observe(outcome.seconds)

    def dead(self, item: Queued, outcome: Outcome) -> None:
        self.dead_total.labels(item.route, item.target).inc()
        self.delivery_seconds.labels(item.route, item.target).observe(outcome.seconds)

    def settled_meanwhile(self, item: Queued, outcome: Outcome) -> None:
        self.settled_meanwhile_total.labels(item.route, item.target, outcome.result).inc()
        self.delivery_seconds.labels(item.route, item.target).observe(outcome.seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
