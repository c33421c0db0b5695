"""Re-convert from the console: messages whose deliveries the receiver refused, converted anew with the mappings of
now (``overstap outbox reconvert``, ``POST /admin/reconvert``), with a confirmation step.

Why here and not in the proxy: the page only plans and words; the re-conversion itself is the gateway's, handed in
as ``Backend.reconvert`` (the same ``reconvert_through`` as ``/admin/reconvert``), and its checks are the ones in
gateway/deliver/reconvert.py, run read-only for the plan. The confirmation shows every message the re-conversion
would convert anew (all messages of the zaken, not only those named) and the POST carries that set back, so the
gateway refuses when the zaken gained a message in between: an operator never converts more than was shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.deliver import outbox, reconvert, superseded

from .. import params
from ..context import Console

MAX_NAMED = reconvert.MAX_MESSAGES
"""Messages one console re-conversion may name: the bound of ``/admin/reconvert`` (one transaction that every arriving
message waits for), checked before anything is read."""
STILL_QUARANTINED, NO_DEAD_LETTER, NOT_ACCEPTED = "quarantined", "no-dead-letter", "not-accepted"
"""Refusals of the console's own, before the gateway's checks: a message that has nothing to re-convert."""
WORDS = {
    reconvert.HELD: "The receiver holds this zaak, or may still take it: a delivery of it was delivered or is still "
                    "pending. Converting anew would build on a state the receiver does not have. Wait for pending "
                    "deliveries to end, or correct a delivered zaak at the receiver.",
    reconvert.MAY_HOLD: "The receiver may hold this zaak: the creeerZaak that made it is no longer in the outbox "
                        "(delivered and purged since, or it came with a batch run's ledger). Correct the zaak at the "
                        "receiver; converting anew would send it again as a new zaak.",
    reconvert.SUPERSEDED: "This was converted anew already: see the message that replaced it.",
    reconvert.NOT_DEAD: "Only a message whose deliveries the receiver refused (dead letters) is converted anew.",
    reconvert.NOT_ZAAK: "This is not a canonical zaak message (an original for the legacy system or a GGk envelope): "
                        "there is no zaak to take back. Replay its dead letter instead.",
    reconvert.SHADOW: "A message of a shadow route went to the legacy system as well, which a re-conversion would not "
                      "take back: only messages of translate routes are converted anew.",
    reconvert.TOO_MANY: f"Too many messages at once: a re-conversion converts at most {reconvert.MAX_MESSAGES} "
                        "messages (every arriving message waits for it). Select fewer.",
    reconvert.NOT_CONVERTING: "A message does not convert with the mappings of now: fix the mapping (and reload it) "
                              "first.",
    reconvert.CONFLICT: "The outbox refused a message converted anew: it collides with a message stored since.",
    reconvert.CHANGED: "The zaak changed since the confirmation (a message of it came in): look again.",
    reconvert.LEDGERLESS: "This sidecar renders without a zaak ledger: there is no zaak to take back. Replay the dead "
                          "letter instead.",
    STILL_QUARANTINED: "A quarantined message was never converted: use Convert again on its page.",
    NO_DEAD_LETTER: "Only a message whose deliveries the receiver refused (dead letters) is converted anew.",
    NOT_ACCEPTED: "No such message to convert anew.",
}
"""What each refusal means for an operator; the gateway's own text follows it on the page (ids and zaken only)."""


@dataclass(slots=True)
class Plan:
    """What a re-conversion of the named messages would do, or why it cannot be done (``kind``, ``detail``)."""

    named: list[int]
    deliveries: list[int] = field(default_factory=list)
    """Their dead letters: what the gateway's re-conversion is asked for."""
    messages: list[int] = field(default_factory=list)
    """Every message it would convert anew: all messages of the zaken, in order."""
    zaken: list[str] = field(default_factory=list)
    kind: str | None = None
    detail: str = ""

    @property
    def words(self) -> str:
        return WORDS.get(self.kind or "", "It cannot be converted anew safely.")

    def refuse(self, kind: str, detail: str) -> Plan:
        self.kind, self.detail = kind, detail
        return self


def plan(conn: Any, named: list[int]) -> Plan:
    """The plan for ``named`` on a read-only connection, by the gateway's own checks (``reconvert.involved``)."""
    found = Plan(named)
    for message_id in named:
        row = outbox.message(conn, message_id)
        status = row["status"] if row is not None else ""
        replaced = superseded.replacing(status)
        if replaced is not None:
            return found.refuse(reconvert.SUPERSEDED, f"message {message_id} was converted anew as message {replaced}")
        if status == outbox.QUARANTINED:
            return found.refuse(STILL_QUARANTINED, f"message {message_id} is quarantined")
        if status != outbox.ACCEPTED:
            return found.refuse(NOT_ACCEPTED, f"no accepted message {message_id}")
        dead = [int(d["id"]) for d in outbox.deliveries_of(conn, message_id) if d["status"] == outbox.DEAD]
        if not dead:
            return found.refuse(NO_DEAD_LETTER, f"message {message_id} has no dead letter")
        found.deliveries += dead
    try:
        messages, zaken = reconvert.involved(conn, found.deliveries)
    except reconvert.ReconvertRefused as exc:
        return found.refuse(exc.kind, str(exc))
    found.messages, found.zaken = sorted(messages), sorted(zaken)
    return found


def named_ids(values: list[str], name: str) -> list[int]:
    """Message ids from a form or address, each checked; at most :data:`MAX_NAMED`, at least one."""
    if len(values) > MAX_NAMED:
        raise params.BadParameter(f"{name}: at most {MAX_NAMED} messages a re-conversion (one transaction every "
                                  "arriving message waits for): select fewer")
    ids = [params.row_id(v.strip(), name) for v in values if v.strip()]
    if not ids:
        raise params.BadParameter(f"{name}: expected the id of at least one message to convert anew")
    return list(dict.fromkeys(i for i in ids if i is not None))


async def reconvert_page(console: Console, request: Request) -> Response:
    """GET ``/reconvert?message=ID…``: the plan and a confirmation; POST (CSRF, ``confirm=yes``): the gateway's
    re-conversion, answered with the new messages or the refusal in an operator's words."""
    session = await console.session_of(request)
    if session is None:
        return console.to_login(request)
    run = console.backend.reconvert
    if not session.operator or run is None:
        return console.forbidden(request, session, "converting anew needs the operator role and a sidecar with a "
                                 "zaak ledger")
    data: dict[str, str] = {}
    shown: list[int] = []
    if request.method == "POST":
        checked = await console.checked_form(request, session)
        if checked is None:
            return console.forbidden(request, session, "missing or wrong CSRF token")
        data = checked
    try:
        if request.method == "GET":
            named = named_ids(request.query_params.getlist("message"), "message")
        else:
            named = named_ids(data.get("messages", "").split(","), "messages")
            shown = named_ids(data.get("expected", "").split(","), "expected")
    except params.BadParameter as e:
        return console.page(request, "error.html", session, 400, why=str(e))
    found = await console.read(plan, named)
    if request.method == "GET" or found.kind is not None:
        return console.page(request, "reconvert.html", session, 409 if request.method == "POST" else 200, p=found,
                            done=None)
    if data.get("confirm") != "yes":
        return console.page(request, "reconvert.html", session, 400, p=found, done=None)
    try:
        done = await run(found.deliveries, set(shown))
    except reconvert.ReconvertRefused as exc:
        found.refuse(exc.kind, str(exc))
        done = None
    unaudited = await console.record_done(session.user, "reconvert", message_ids=",".join(map(str, named)),
                                          converted=len(done or []), ok=done is not None)
    return console.page(request, "reconvert.html", session, 409 if done is None else 200, p=found, done=done,
                        audit_failed=unaudited)
