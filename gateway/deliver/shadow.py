"""The shadow report: per message sent both ways, did the legacy partner and the new system both accept it?

In ``shadow`` mode the original goes to the legacy partner and the canonical messages to the new
system. Before cutting over, a municipality wants to see that the new side accepts everything the
old side accepts — and, where they differ, why (a Fo from one side, a conversion that failed).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from . import outbox
from .unmapped import UnmappedInput

BOTH, LEGACY_ONLY, NEW_ONLY, NEITHER, WAITING = "both accepted", "legacy only", "new only", "both refused", "pending"
UNKNOWN = "unknown"
"""A side whose delivery is not in the outbox (``outbox purge`` removes finished deliveries one by one, so a
shadow message can keep one side's row and lose the other's): neither accepted nor refused, whatever is left."""
GONE = "not in the outbox"
NO_OUTPUT = "no output"
"""A verdict, and the new side's status, for a message converted to nothing to send (a retour, "no change" against
the ledger): the new system was rightly sent nothing, so neither accepted nor refused; its detail says why."""


@dataclass(slots=True)
class Side:
    status: str
    """delivered, dead, pending, or ``not converted`` (new side only)."""
    detail: str = ""


@dataclass(slots=True)
class ShadowLine:
    message_id: int
    route: str
    source_ref: str | None
    received_at: float
    legacy: Side
    new: list[Side] = field(default_factory=list)
    verdict: str = WAITING
    differences: list[str] = field(default_factory=list)
    unmapped: int = 0
    """Source values of the message no mapping rule used: not in what the new side got, whatever it answered."""


def _side(row: sqlite3.Row) -> Side:
    if row["status"] == outbox.DELIVERED:
        detail = " ".join(x for x in (f"HTTP {row['http_status']}" if row["http_status"] else "",
                                      row["reply_code"] or "") if x)
    else:
        detail = row["reason"] or ""
    return Side(row["status"], detail)


def _ok(side: Side) -> bool | None:
    return None if side.status == outbox.PENDING else side.status == outbox.DELIVERED


def report(conn: sqlite3.Connection, route: str | None = None, limit: int | None = None) -> list[ShadowLine]:
    """One line per shadow-mode message, oldest first."""
    return [line_of(conn, msg) for msg in reversed(outbox.message_rows(conn, status=outbox.ACCEPTED, mode="shadow",
                                                                       route=route, limit=limit))]


def line_of(conn: sqlite3.Connection, msg: sqlite3.Row | dict[str, Any]) -> ShadowLine:
    """The comparison for one shadow-mode message row (also what the console shows on the message page)."""
    rows = outbox.deliveries_of(conn, int(msg["id"]))
    legacy_rows = [r for r in rows if r["target"] == outbox.LEGACY]
    legacy = _side(legacy_rows[0]) if legacy_rows else Side(GONE, "no legacy delivery: removed by outbox purge?")
    new = [_side(r) for r in rows if r["target"] == outbox.NEW]
    line = ShadowLine(msg["id"], msg["route"], msg["source_ref"], msg["received_at"], legacy, new)
    reason = msg["reason"] or ""
    if not new and not msg["fault_code"] and reason.startswith(outbox.NO_OUTPUT):  # converted, nothing to send
        line.new = [Side(NO_OUTPUT, reason.removeprefix(outbox.NO_OUTPUT))]
    elif not new and (msg["fault_code"] or msg["reason"]):  # the conversion failed: the new side got nothing
        where = " ".join(x for x in (msg["fault_code"], msg["fault_field"]) if x)
        line.new = [Side("not converted", (f"{where}: " if where else "") + (msg["reason"] or "no canonical output"))]
    elif not new:  # converted, yet no delivery: none was made, or purge removed it; either way nothing to judge
        line.new = [Side(GONE, "no canonical delivery: none was made, or outbox purge removed it")]
    legacy_ok = _ok(line.legacy)
    new_states = [_ok(s) if s.status != "not converted" else False for s in line.new]
    if GONE in (line.legacy.status, *(s.status for s in line.new)):
        line.verdict = UNKNOWN
        line.differences.append(f"{'legacy' if line.legacy.status == GONE else 'new'} side not in the outbox: "
                                "accepted or refused is no longer known")
    elif legacy_ok is None or None in new_states:
        line.verdict = WAITING
    elif line.new[0].status == NO_OUTPUT:
        line.verdict = NO_OUTPUT
        if not legacy_ok:
            line.differences.append(f"legacy {line.legacy.status}: {line.legacy.detail}")
    else:
        new_ok = all(bool(s) for s in new_states)
        line.verdict = {(True, True): BOTH, (True, False): LEGACY_ONLY, (False, True): NEW_ONLY,
                        (False, False): NEITHER}[(bool(legacy_ok), new_ok)]
    if line.verdict in (LEGACY_ONLY, NEW_ONLY, NEITHER):
        if not legacy_ok:
            line.differences.append(f"legacy {line.legacy.status}: {line.legacy.detail}")
        line.differences += [f"new {s.status}: {s.detail}" for s in line.new if s.status != outbox.DELIVERED]
    found = UnmappedInput.decode(msg["unmapped"])
    if found is not None:  # both sides may accept it, yet the new one never got these values
        line.unmapped = found.count
        line.differences.append(f"new side lacks {found.count} source value(s) no mapping rule used: "
                                + "; ".join(found.lines()[:4]) + (" …" if len(found.spots) > 4 else ""))
    return line


UNMAPPED = "with unmapped input"
"""How the report names the messages some of whose values the new side never got (:attr:`ShadowLine.unmapped`):
beside the verdicts, not one of them, since both sides may have accepted such a message."""


def summary(lines: list[ShadowLine]) -> dict[str, int]:
    out = dict.fromkeys((BOTH, LEGACY_ONLY, NEW_ONLY, NEITHER, NO_OUTPUT, WAITING, UNKNOWN), 0)
    for line in lines:
        out[line.verdict] += 1
    return out


def lacking(lines: list[ShadowLine]) -> int:
    """Messages with unmapped input: the new side got less than the vendor sent, whatever the verdict."""
    return sum(1 for line in lines if line.unmapped)
