"""The throughput targets of issue 13, printed beside each measurement (a sibling module of the benchmarks).

Every benchmark ends with a block of these lines so a run answers "is the target met on this machine,
now" without a reader having to redo the arithmetic: the measured figure, the target (and stretch where
the issue sets one) and MET / NOT MET. Ratios are against the floor measured in the same run.
"""

from __future__ import annotations

CONVERT_FLOOR_SHARE = 0.20
"""Convert with output validation, one core: share of the lxml parse+serialise floor (stretch below)."""
CONVERT_STRETCH = 0.33
BATCH_WORKER_SHARE = 0.15
"""Batch with validation and zip output: messages/s per worker as a share of the floor, 1 and 2 workers."""
BATCH_STRETCH = 0.25
BATCH_RSS_MB = 300.0
"""Peak RSS summed over the batch process tree (at 1,000,000 messages)."""
PROXY_ACCEPTED = 1000.0
"""Sidecar: acknowledged messages/s at concurrency 32 (durable acknowledgement)."""
PROXY_P99_MS = 10.0
"""Sidecar, open loop at 200 msg/s: acknowledgement p99."""
GGK_US = 300.0
"""GGk conversion: µs per message."""


def verdict(met: bool) -> str:
    return "MET" if met else "NOT MET"


def target_line(label: str, measured: str, target: str, met: bool, stretch: str | None = None,
                stretch_met: bool | None = None) -> str:
    """``label: measured (target ...) MET``; with a stretch target its own verdict follows."""
    text = f"  {label:38} {measured:>22}   target {target:<12} {verdict(met)}"
    if stretch is not None and stretch_met is not None:
        text += f"   (stretch {stretch}: {verdict(stretch_met)})"
    return text


def share_line(label: str, rate: float, floor: float, target: float, stretch: float | None = None) -> str:
    """A throughput as a share of the same run's floor, against a target share (and stretch)."""
    share = rate / floor
    return target_line(label, f"{rate:,.0f} msg/s = {share:.1%}", f">= {target:.0%}", share >= target,
                       None if stretch is None else f">= {stretch:.0%}",
                       None if stretch is None else share >= stretch)


def header(floor: float | None = None) -> str:
    """The heading of the targets block; ``floor``: the same run's floor in msg/s, when the targets are shares."""
    suffix = f" (floor of this run: {floor:,.0f} msg/s)" if floor else ""
    return f"\ntargets (issue 13){suffix}; figures from a busy machine are not the final ones:"
