"""How one delivery attempt went, judged from the downstream's answer; and the headers it is sent with.

Kept apart from the forwarder (which schedules, retries and settles) so the verdict rules can be
read and tested on their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .downstream import Downstream, action_for
from .outbox import Queued
from .replies import Reply, read_reply, scrub
from .wire import PROTOCOL_ERRORS

DELIVERED, RETRY, DEAD, GONE = "delivered", "retry", "dead", "gone"
TRANSIENT_FO = frozenset({"StUF046", "StUF049", "StUF960"})
"""Fo codes that say "not now" (cannot store, process unavailable, time-out): retried, not dead-lettered."""
RETRYABLE_4XX = frozenset({408, 425, 429})


@dataclass(slots=True)
class Outcome:
    """How one attempt ended, with what the downstream said (kept in memory only for waiting senders)."""

    result: str
    reason: str = ""
    http_status: int | None = None
    reply: Reply | None = None
    retry_after: float | None = None
    transport_failure: bool = False
    body: bytes = b""
    content_type: str | None = None
    seconds: float = 0.0
    said: str = ""
    """What the downstream's bytes said beyond our words in ``reason`` (an exception's text that quotes them),
    scrubbed: kept in the outbox's reason (:attr:`stored`), never logged."""
    unsent: bool = False
    """Held back before it went out (a creeerZaak an import marked): says nothing about the downstream."""

    @property
    def summary(self) -> str:
        """For the log: status and StUF code only, or our words for a failed exchange (never :attr:`said`). The
        downstream's own text may name a person; it is kept (scrubbed, capped) in the outbox's reason column."""
        if self.http_status is None:
            return self.reason
        reply = self.reply_code or (self.reply.kind if self.reply is not None else "")
        return " ".join(x for x in (f"HTTP {self.http_status}", reply) if x)

    @property
    def stored(self) -> str:
        """The reason as the outbox keeps it: ours, and what the downstream said."""
        return f"{self.reason}: {self.said}" if self.said else self.reason

    @property
    def reply_code(self) -> str | None:
        if self.reply is None or self.reply.kind not in ("bv", "fo"):
            return None
        return self.reply.berichtcode + (f" {self.reply.code}" if self.reply.code else "")


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def transport_failed(exc: BaseException) -> Outcome:
    """A connection that failed or an answer that was not HTTP: retried, told in our words and the exception's type.
    The exception's text may quote the downstream's bytes (h11: ``illegal status line: bytearray(b'Client
    Castricum ...')``), so it is kept, scrubbed, in ``said`` only (review of the sidecar, finding 3)."""
    what = "malformed HTTP answer from the downstream" if isinstance(exc, PROTOCOL_ERRORS) else "connection error"
    return Outcome(RETRY, f"{what}: {type(exc).__name__}", transport_failure=True, said=scrub(str(exc), 200))


def classify(status: int, body: bytes, content_type: str | None, expect_bv: bool,
             retry_after: str | None = None) -> Outcome:
    """Turn a downstream's HTTP answer into delivered / retry / dead."""
    reply = read_reply(body)
    common: dict[str, Any] = {"http_status": status, "reply": reply, "body": body, "content_type": content_type}
    if reply.kind == "fo":
        if reply.code in TRANSIENT_FO:
            return Outcome(RETRY, f"HTTP {status}: {reply.reason()}", retry_after=_retry_after(retry_after),
                           transport_failure=True, **common)
        return Outcome(DEAD, f"HTTP {status}: {reply.reason()}", **common)
    if 200 <= status < 300:
        if reply.kind == "bv" or not expect_bv:
            return Outcome(DELIVERED, "", **common)
        return Outcome(DEAD, f"HTTP {status} without a StUF Bv: {reply.reason()}", **common)
    if status in RETRYABLE_4XX or status >= 500:
        return Outcome(RETRY, f"HTTP {status}: {reply.reason()}", retry_after=_retry_after(retry_after),
                       transport_failure=True, **common)
    return Outcome(DEAD, f"HTTP {status}: {reply.reason()}", **common)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def header_value(value: str) -> str | bytes:
    """A header value as it may go on the wire: the sender's bytes back as they came, never a crash.

    Inbound headers are decoded as latin-1, so encoding them as latin-1 gives the sender's bytes
    back; characters beyond latin-1 (config, old rows) go as UTF-8. Control characters are dropped:
    they would split the header.
    """
    value = _CONTROL.sub("", value)
    if value.isascii():
        return value
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def wire_headers(item: Queued, downstream: Downstream) -> dict[str, str | bytes]:
    """Headers of one delivery; the reply is asked for uncompressed so its size limit is real."""
    headers: dict[str, str | bytes] = {
        "Content-Type": header_value(item.content_type or "text/xml; charset=utf-8"),
        "X-Overstap-Referentienummer": header_value(item.referentienummer), "Accept-Encoding": "identity"}
    headers.update({k: header_value(v) for k, v in downstream.headers.items()})
    action = action_for(downstream, item.soap_action)  # per ZDS operation unless the downstream says otherwise
    if action:
        headers["SOAPAction"] = header_value(f'"{action}"')
    return headers
