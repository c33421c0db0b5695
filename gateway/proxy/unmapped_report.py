"""Unmapped input of a stored message, reported where an operator of the sidecar looks: its log and /metrics.

Why: the sidecar converts what a vendor sends and acknowledges it; a value no mapping rule used is not in the
canonical message, and in shadow or translate mode nobody would notice a vendor's new element being lost. The
row in the outbox keeps the same paths (``message.unmapped``) for the console and ``overstap outbox list
--unmapped``. Paths and line numbers only, never a value; the message is named by its id and the sender's
reference, never its payload. Nothing happens for a message without unmapped input (the hot path).
"""

from __future__ import annotations

import logging

from gateway.deliver.outbox import Accepted
from gateway.deliver.unmapped import UnmappedInput

from .metrics import Metrics

log = logging.getLogger("overstap.unmapped")
IN_TEXT = 3
"""Paths named in the log line's text; the line's ``unmapped`` field lists every one carried."""


def report_unmapped(metrics: Metrics, route: str, mode: str, mapping: str | None, accepted: Accepted,
                    source_ref: str | None, found: UnmappedInput | None) -> None:
    """Log and count the unmapped input of a message just stored; a re-send was reported when it first came."""
    if found is None or accepted.duplicate:
        return
    label = mapping or "unknown"
    metrics.unmapped_messages.labels(route, label).inc()
    metrics.unmapped_values.labels(route, label).inc(found.count)
    named = [f"{path} (line {line})" if line else path for path, line in found.spots[:IN_TEXT]]
    rest = found.count - len(named)
    log.warning("message %d on route %s (%s, mapping %s, ref %s): %d source value(s) no mapping rule used, not in "
                "the canonical message: %s%s", accepted.message_id, route, mode, label, source_ref or "-",
                found.count, "; ".join(named), f"; and {rest} more" if rest else "",
                extra={"route": route, "mode": mode, "mapping": label, "message_id": accepted.message_id,
                       "source_ref": source_ref, "unmapped_count": found.count,
                       "unmapped": [{"path": path, "line": line} for path, line in found.spots]})
