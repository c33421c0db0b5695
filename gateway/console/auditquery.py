"""What an auditor asks the audit page (session 31): the filters and the page's place in the log, from its address.

Apart from the readers (``auditlog.py``) because both stores answer the same question: the file in Python
(:meth:`AuditFilter.matches`), PostgreSQL in SQL whose text is fixed here and whose values are always bound
(:meth:`AuditFilter.where`). Every value is checked first; a bad one is a 400 naming the parameter.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, fields, replace
from typing import Any

from . import params

ACTIONS = ("login", "logout", "session_revoked", "view_payload", "view_zaak", "client_search", "replay",
           "retry_quarantined", "reconvert", "purge")
"""Every action the console writes (``console.record``/``record_done`` in the pages and ``context.py``)."""
KINDS = ("message", "delivery", "zaak")
"""What an id names: a message (``message_id``, or one of a re-conversion's ``message_ids``), a delivery
(``delivery_id``), a zaak (``zaak_key``, the number in ``/console/zaken/<key>``). None: any of them."""
KEYS = {"message": "message_id", "delivery": "delivery_id", "zaak": "zaak_key"}
MAX_TEXT = 200
"""The longest user name or source searched for: an account or a ``--source`` is a short name."""


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """The filters (combined: an entry matches all given) and the cursor: ``before`` lists the entries older than
    it, ``after`` those newer (on the file a byte offset where a line starts, on PostgreSQL an entry's id)."""

    user: str | None = None
    action: str | None = None
    id: int | None = None
    kind: str | None = None
    day_from: str | None = None
    day_to: str | None = None
    source: str | None = None
    before: int | None = None
    after: int | None = None

    @property
    def filtered(self) -> bool:
        """Whether any filter is set (the cursor aside)."""
        return any(getattr(self, f.name) is not None for f in fields(self) if f.name not in ("before", "after"))

    def query(self, **cursor: int | None) -> dict[str, str]:
        """The page's address parameters with ``cursor`` (``before=`` or ``after=``) in place of this one's."""
        names = {"day_from": "from", "day_to": "to"}
        values = {names.get(f.name, f.name): getattr(self, f.name) for f in fields(self)
                  if f.name not in ("before", "after")}
        values.update(cursor)
        return {k: str(v) for k, v in values.items() if v is not None}

    def at_most(self) -> str | None:
        """The first time past the range (``to`` is a whole day): the entries' times are ISO 8601 text in UTC,
        so ``time < the day after`` compares as text. The calendar's last day has no day after: past its last hour
        (``to=9999-12-31`` was an OverflowError, a 503, before session 32)."""
        if not self.day_to:
            return None
        day = dt.date.fromisoformat(self.day_to)
        return (day + dt.timedelta(days=1)).isoformat() if day < dt.date.max else f"{self.day_to}T24"

    def matches(self, found: dict[str, Any]) -> bool:
        """Whether a file's entry passes every filter (the source: a file has none, so any given matches none)."""
        if self.source is not None:
            return False
        if self.user is not None and found.get("user") != self.user:
            return False
        if self.action is not None and found.get("action") != self.action:
            return False
        time = found.get("time")
        if self.day_from is not None and not (isinstance(time, str) and time >= self.day_from):
            return False
        end = self.at_most()
        if end is not None and not (isinstance(time, str) and time < end):
            return False
        return self.id is None or names(found, self.id, self.kind)

    def where(self) -> tuple[list[str], list[Any]]:
        """SQL conditions on ``console_audit`` (fixed text, ``?`` placeholders) and their values, in order."""
        sql: list[str] = []
        values: list[Any] = []
        for column, value in (("account", self.user), ("action", self.action), ("source", self.source)):
            if value is not None:
                sql.append(f"{column} = ?")
                values.append(value)
        if self.day_from is not None:
            sql.append("at >= ?")
            values.append(self.day_from)
        if self.day_to is not None:
            sql.append("at < ?")
            values.append(self.at_most())
        if self.id is not None:
            kinds = [self.kind] if self.kind else list(KINDS)
            named = ["details @> ?::jsonb"] * len(kinds)
            values += [json.dumps({KEYS[k]: self.id}) for k in kinds]
            if "message" in kinds:  # a re-conversion names its messages in one text: "12,13"
                named.append("(action = 'reconvert' AND ',' || (details->>'message_ids') || ',' LIKE ?)")
                values.append(f"%,{self.id},%")
            sql.append("(" + " OR ".join(named) + ")")
        return sql, values


def names(found: dict[str, Any], number: int, kind: str | None) -> bool:
    """Whether an entry names ``number`` as a ``kind`` (any kind when None): as a number, never as a flag
    (``True == 1`` in Python), or in a re-conversion's ``message_ids``."""
    for k in [kind] if kind else KINDS:
        value = found.get(KEYS[k])
        if isinstance(value, int) and not isinstance(value, bool) and value == number:
            return True
    listed = found.get("message_ids")
    return kind in (None, "message") and isinstance(listed, str) and str(number) in listed.split(",")


def text(value: str | None, name: str) -> str | None:
    """A user name or source searched for as it is (bound, never built into SQL): at most :data:`MAX_TEXT`
    characters, no control character."""
    if not value:
        return None
    if len(value) > MAX_TEXT or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise params.BadParameter(f"{name}: expected a name of at most {MAX_TEXT} characters, no control characters")
    return value


def number(value: str | None, name: str, what: str) -> int | None:
    """A whole number from 0 to 2**63 − 1 (ASCII digits), or None when empty."""
    try:
        return params.row_id(value, name)
    except params.BadParameter:
        raise params.BadParameter(f"{name}: expected {what}, a whole number from 0 to {params.MAX_ROWID}") from None


def parse(q: Any, pg: bool) -> AuditFilter:
    """The filter and cursor of the page's address (``q``: its query parameters); ``source`` only on PostgreSQL."""
    cursor = "an entry's number (from the page's Older or Newer link)" if pg else \
        "a position in the audit file (from the page's Older or Newer link)"
    f = AuditFilter(user=text(q.get("user"), "user"), action=params.choice(q.get("action"), "action", ACTIONS),
                    id=number(q.get("id"), "id", "a message, delivery or zaak number"),
                    kind=params.choice(q.get("kind"), "kind", KINDS), day_from=params.day(q.get("from"), "from"),
                    day_to=params.day(q.get("to"), "to"), before=number(q.get("before"), "before", cursor),
                    after=number(q.get("after"), "after", cursor))
    if q.get("source"):
        if not pg:
            raise params.BadParameter("source: only a PostgreSQL store's audit has sources (imported entries)")
        f = replace(f, source=text(q.get("source"), "source"))
    if f.kind is not None and f.id is None:
        raise params.BadParameter("kind: expected an id with it (what kind of thing the id names)")
    if f.day_from and f.day_to and f.day_to < f.day_from:
        raise params.BadParameter("to: expected a day on or after from")
    if f.before is not None and f.after is not None:
        raise params.BadParameter("before, after: expected one of them, not both")
    return f
