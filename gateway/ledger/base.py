"""The ledger contract and its in-memory implementation (tests, and ``convert --state none``).

Every backend (memory, SQLite, later PostgreSQL) offers the same transaction: all reads and writes for
one source message happen inside ``with ledger.transaction() as tx:``, which commits at the end and
rolls back when the block raises, so a failed conversion leaves no half-applied chain behind.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

JsonDict = dict[str, Any]


class LedgerTransaction(Protocol):
    """Reads and writes of one source message; visible to others only after commit."""

    def zaak_for(self, keys: list[str]) -> str | None:
        """The zaak identificatie bound to the first of ``keys`` that is known, or None."""

    def bind(self, key: str, zaak: str) -> None:
        """Remember that chain key ``key`` (``toewijzing:0384:1234``) names zaak ``zaak``."""

    def state(self, zaak: str) -> JsonDict | None:
        """The last state of ``zaak`` as delivered (JSON-able), or None when it was never created."""

    def put_state(self, zaak: str, state: JsonDict) -> None:
        """Store the state the receiver holds after the messages just rendered for ``zaak``."""

    def tijdstip(self, zender: str, now: dt.datetime) -> str:
        """A StUF tijdstipBericht (yyyymmddhhmmssfff) for ``zender``: ``now``, but strictly greater than
        every earlier one of that zender (StUF 03.01 4.3.2, StUF019)."""

    def remember(self, kind: str, key: str, value: str) -> None:
        """Store a value under (kind, key): e.g. ("di01", "<wet>:<afzender>:<identificatie>", uuid)."""

    def recall(self, kind: str, key: str) -> str | None:
        """The value stored by :meth:`remember`, or None."""


class Ledger(Protocol):
    def transaction(self) -> Any:  # a context manager yielding a LedgerTransaction
        ...

    def close(self) -> None: ...


@contextmanager
def savepoint(execute: Callable[[str], object], tx: LedgerTransaction) -> Iterator[LedgerTransaction]:
    """One message's ledger writes inside a transaction someone else holds (a batch chunk, an outbox commit):
    rolled back to its SAVEPOINT when the block raises. SQLite and PostgreSQL spell it alike."""
    execute("SAVEPOINT ledger")
    try:
        yield tx
    except BaseException:
        execute("ROLLBACK TO ledger")
        execute("RELEASE ledger")
        raise
    execute("RELEASE ledger")


def next_tijdstip(last: str | None, now: dt.datetime) -> str:
    """``now`` as yyyymmddhhmmssfff, moved one millisecond past ``last`` when it is not greater.

    Once per output, and in a batch most outputs share their millisecond with the one before: strptime and
    strftime cost ~25 µs together there, the f-string and int() path below ~2 µs for the same text (years
    from 1000 on; the library calls still handle the rest, and a malformed ``last`` fails as before)."""
    global _MADE
    made_for, now_text, made = _MADE  # one read of one tuple: threads share it
    if made_for != now:
        now_text = _stamp(now)
    value = now_text
    if last is not None and value <= last:
        if last == made and last[14:17] != "999":  # made here, so a valid moment: the next ms is in its second
            value = f"{last[:14]}{int(last[14:17]) + 1:03d}"
        elif len(last) >= 17 and last[:17].isdigit() and last[:4] >= "1000":
            moment = dt.datetime(int(last[:4]), int(last[4:6]), int(last[6:8]), int(last[8:10]), int(last[10:12]),
                                 int(last[12:14]))
            value = _stamp(moment + dt.timedelta(milliseconds=int(last[14:17]) + 1))
        else:
            moment = dt.datetime.strptime(last[:14], "%Y%m%d%H%M%S")
            value = _stamp(moment + dt.timedelta(milliseconds=int(last[14:17]) + 1))
    if len(value) == 17 and value[:4] >= "1000":  # not a year strftime leaves unpadded
        _MADE = (now, now_text, value)
    return value


_MADE: tuple[dt.datetime | None, str, str | None] = (None, "", None)
"""(``now``, its text, the value returned for it): a message's outputs share ``now`` and most follow each other
a millisecond apart, so the next call neither formats ``now`` again nor parses the value before (~4.6 µs a call
there, ~1 µs now)."""


def _stamp(moment: dt.datetime) -> str:
    """yyyymmddhhmmssfff: ``isoformat``'s first 23 characters without their separators (~0.8 µs against ~1.1 for
    seven formatted fields, once a message); an offset after them is cut off, as strftime never wrote one."""
    if moment.year < 1000:  # strftime does not pad the year there
        return moment.strftime("%Y%m%d%H%M%S") + f"{moment.microsecond // 1000:03d}"
    return moment.isoformat(timespec="milliseconds")[:23].replace("-", "").replace(":", "").replace(
        "T", "").replace(".", "")


def json_copy(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars) at a third of ``copy.deepcopy``'s cost, which
    a zaak state paid twice a message here; anything else is handed to deepcopy."""
    kind = type(value)
    if kind is dict:
        return {k: json_copy(v) for k, v in value.items()}
    if kind is list:
        return [json_copy(v) for v in value]
    if kind is str or kind is int or kind is bool or kind is float or value is None:
        return value
    return copy.deepcopy(value)


class _MemoryTransaction:
    """Reads see the committed data plus this transaction's own writes; writes wait in ``pending`` until commit,
    so a transaction costs what it touches, not the size of the ledger."""

    def __init__(self, data: dict[str, dict[str, Any]]) -> None:
        self.data = data
        self.pending: dict[str, dict[str, Any]] = {name: {} for name in data}

    def _get(self, table: str, key: str) -> Any:
        mine = self.pending[table]
        return mine[key] if key in mine else self.data[table].get(key)

    def zaak_for(self, keys: list[str]) -> str | None:
        return next((found for k in keys if (found := self._get("keys", k)) is not None), None)

    def bind(self, key: str, zaak: str) -> None:
        self.pending["keys"][key] = zaak

    def state(self, zaak: str) -> JsonDict | None:
        found = self._get("states", zaak)
        return json_copy(found) if found is not None else None

    def put_state(self, zaak: str, state: JsonDict) -> None:
        self.pending["states"][zaak] = json_copy(state)

    def tijdstip(self, zender: str, now: dt.datetime) -> str:
        value = next_tijdstip(self._get("tijdstip", zender), now)
        self.pending["tijdstip"][zender] = value
        return value

    def remember(self, kind: str, key: str, value: str) -> None:
        self.pending["values"][f"{kind}\0{key}"] = value

    def recall(self, kind: str, key: str) -> str | None:
        return self._get("values", f"{kind}\0{key}")  # type: ignore[no-any-return]

    def commit(self) -> None:
        for table, writes in self.pending.items():
            self.data[table].update(writes)


class FreshStateTransaction:
    """The one transaction of a ledger that ends with it (``ThrowawayLedger``): a state is stored as handed
    over, without :func:`json_copy` (~10% of a zkn render), and reads still copy. Safe because the render
    hands over states nothing else holds and never changes one once stored (tests/test_ledger_fresh_states.py),
    and because the ledger, and with it every stored state, is gone when the transaction ends. Its own
    context manager, neither locked nor committed: no one reads this ledger after the block. Nothing is held
    before it, so it keeps this transaction's writes only (four dicts, no committed tables to look through)."""

    __slots__ = ("keys", "states", "tijdstippen", "values")

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}
        self.states: dict[str, JsonDict] = {}
        self.tijdstippen: dict[str, str] = {}
        self.values: dict[str, str] = {}

    def zaak_for(self, keys: list[str]) -> str | None:
        for key in keys:
            found = self.keys.get(key)
            if found is not None:
                return found
        return None

    def bind(self, key: str, zaak: str) -> None:
        self.keys[key] = zaak

    def state(self, zaak: str) -> JsonDict | None:
        found = self.states.get(zaak)
        return json_copy(found) if found is not None else None

    def put_state(self, zaak: str, state: JsonDict) -> None:
        self.states[zaak] = state

    def tijdstip(self, zender: str, now: dt.datetime) -> str:
        value = self.tijdstippen[zender] = next_tijdstip(self.tijdstippen.get(zender), now)
        return value

    def remember(self, kind: str, key: str, value: str) -> None:
        self.values[f"{kind}\0{key}"] = value

    def recall(self, kind: str, key: str) -> str | None:
        return self.values.get(f"{kind}\0{key}")

    def __enter__(self) -> FreshStateTransaction:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class MemoryLedger:
    """A ledger that lives as long as the process: a transaction's writes are applied on commit, dropped when
    its block raises."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, Any]] = {"keys": {}, "states": {}, "tijdstip": {}, "values": {}}
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[LedgerTransaction]:
        with self._lock:
            work = _MemoryTransaction(self._data)
            yield work
            work.commit()

    def close(self) -> None:
        pass
