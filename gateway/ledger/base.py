"""The ledger contract and its in-memory implementation (tests, and ``convert --state none``).

Every backend (memory, SQLite, later PostgreSQL) offers the same transaction: all reads and writes for
one source message happen inside ``with ledger.transaction() as tx:``, which commits at the end and
rolls back when the block raises, so a failed conversion leaves no half-applied chain behind.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
from collections.abc import Iterator
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


def next_tijdstip(last: str | None, now: dt.datetime) -> str:
    """``now`` as yyyymmddhhmmssfff, moved one millisecond past ``last`` when it is not greater."""
    value = now.strftime("%Y%m%d%H%M%S") + f"{now.microsecond // 1000:03d}"
    if last is not None and value <= last:
        moment = dt.datetime.strptime(last[:14], "%Y%m%d%H%M%S") + dt.timedelta(milliseconds=int(last[14:17]) + 1)
        value = moment.strftime("%Y%m%d%H%M%S") + f"{moment.microsecond // 1000:03d}"
    return value


class _MemoryTransaction:
    def __init__(self, data: dict[str, dict[str, Any]]) -> None:
        self.data = data

    def zaak_for(self, keys: list[str]) -> str | None:
        return next((self.data["keys"][k] for k in keys if k in self.data["keys"]), None)

    def bind(self, key: str, zaak: str) -> None:
        self.data["keys"][key] = zaak

    def state(self, zaak: str) -> JsonDict | None:
        found = self.data["states"].get(zaak)
        return copy.deepcopy(found) if found is not None else None

    def put_state(self, zaak: str, state: JsonDict) -> None:
        self.data["states"][zaak] = copy.deepcopy(state)

    def tijdstip(self, zender: str, now: dt.datetime) -> str:
        value = next_tijdstip(self.data["tijdstip"].get(zender), now)
        self.data["tijdstip"][zender] = value
        return value

    def remember(self, kind: str, key: str, value: str) -> None:
        self.data["values"][f"{kind}\0{key}"] = value

    def recall(self, kind: str, key: str) -> str | None:
        return self.data["values"].get(f"{kind}\0{key}")  # type: ignore[no-any-return]


class MemoryLedger:
    """A ledger that lives as long as the process: each transaction works on a copy, swapped in on commit."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, Any]] = {"keys": {}, "states": {}, "tijdstip": {}, "values": {}}
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[LedgerTransaction]:
        with self._lock:
            work = copy.deepcopy(self._data)
            yield _MemoryTransaction(work)
            self._data = work

    def close(self) -> None:
        pass
