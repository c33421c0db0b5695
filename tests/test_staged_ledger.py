"""The staged ledger's reads: own writes, then the newest write set in flight, then the database.

The sidecar renders the next message of a zaak against what the previous one will leave before that one's
commit lands (gateway/ledger/staged.py); these pin the order of the layers and what a settle leaves.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from gateway.ledger import epoch
from gateway.ledger.staged import StagedLedger, WriteSet, apply

NOW = dt.datetime(2026, 1, 1, 12, 0, 0)


def _stage(ledger: StagedLedger, zaak: str, key: str = "toewijzing:1") -> WriteSet:
    with ledger.transaction() as tx:
        tx.bind(key, zaak)
        tx.put_state(zaak, {"status": zaak})
        tx.remember("di01", key, zaak)
    assert ledger.last is not None
    return ledger.last


def _commit(path: Path, writes: WriteSet) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    apply(conn, writes)
    conn.execute("COMMIT")
    conn.close()


def _seen(ledger: StagedLedger, key: str = "toewijzing:1") -> tuple[str | None, object, str | None]:
    with ledger.transaction() as tx:
        zaak = tx.zaak_for(["unknown", key])
        return zaak, tx.state(zaak) if zaak else None, tx.recall("di01", key)


def test_a_read_sees_the_newest_write_set_in_flight_then_the_database_after_settle(tmp_path: Path) -> None:
    ledger = StagedLedger(tmp_path / "o.db")
    first, second = _stage(ledger, "Z1"), _stage(ledger, "Z2")
    assert _seen(ledger) == ("Z2", {"status": "Z2"}, "Z2")
    _commit(tmp_path / "o.db", first)
    ledger.settle(first)  # the older one lands first: the newer still shadows it
    assert _seen(ledger) == ("Z2", {"status": "Z2"}, "Z2")
    ledger.settle(second)  # its commit failed: reads fall back to what was committed
    assert _seen(ledger) == ("Z1", {"status": "Z1"}, "Z1")
    assert ledger.in_flight() == []


def test_settling_the_newest_first_uncovers_the_older_one(tmp_path: Path) -> None:
    ledger = StagedLedger(tmp_path / "o.db")
    first, second, third = _stage(ledger, "Z1"), _stage(ledger, "Z2"), _stage(ledger, "Z3")
    ledger.settle(third)
    assert _seen(ledger) == ("Z2", {"status": "Z2"}, "Z2")
    ledger.settle(second)
    assert _seen(ledger) == ("Z1", {"status": "Z1"}, "Z1")
    ledger.settle(first)
    assert _seen(ledger) == (None, None, None)


def test_own_writes_come_before_the_write_sets_in_flight(tmp_path: Path) -> None:
    ledger = StagedLedger(tmp_path / "o.db")
    _stage(ledger, "Z1")
    with ledger.transaction() as tx:
        tx.bind("toewijzing:1", "Z9")
        first = tx.tijdstip("zender", NOW)
        assert tx.zaak_for(["toewijzing:1"]) == "Z9"
        assert tx.tijdstip("zender", NOW) > first  # its own last tijdstip, not the database's


def test_a_tijdstip_in_flight_keeps_the_next_one_strictly_later(tmp_path: Path) -> None:
    ledger = StagedLedger(tmp_path / "o.db")
    with ledger.transaction() as tx:
        first = tx.tijdstip("zender", NOW)
    with ledger.transaction() as tx:
        assert tx.tijdstip("zender", NOW) > first


def test_a_write_set_with_nothing_in_it_does_not_stay_in_flight(tmp_path: Path) -> None:
    ledger = StagedLedger(tmp_path / "o.db")
    with ledger.transaction():
        pass
    assert ledger.last is not None and not ledger.last
    assert ledger.in_flight() == []
    ledger.settle(WriteSet())  # never staged: nothing to do
    ledger.settle(_stage(ledger, "Z1"))
    assert ledger.in_flight() == []


def test_when_another_process_moved_the_epoch_the_write_sets_in_flight_are_forgotten(tmp_path: Path) -> None:
    """``import-ledger`` wrote the ledger beside the sidecar: what is in flight was rendered from the state it
    replaced, so after :meth:`refresh` renders read the imported state, and a commit of the old render fails."""
    ledger = StagedLedger(tmp_path / "o.db")
    stale = _stage(ledger, "Z-new")
    assert not ledger.refresh()  # nothing moved: the write set stays in flight
    assert _seen(ledger) == ("Z-new", {"status": "Z-new"}, "Z-new")
    rendered_under = ledger.epoch
    other = sqlite3.connect(tmp_path / "o.db", isolation_level=None)  # the import, in its own transaction
    other.execute("BEGIN IMMEDIATE")
    apply(other, WriteSet(keys={"toewijzing:1": "Z-batch"}, states={"Z-batch": '{"status":"imported"}'},
                          values={("di01", "toewijzing:1"): "Z-batch"}))
    epoch.move(other)
    other.execute("COMMIT")
    assert ledger.refresh() and ledger.epoch != rendered_under
    assert ledger.in_flight() == []
    assert _seen(ledger) == ("Z-batch", {"status": "imported"}, "Z-batch")
    ledger.settle(stale)  # its commit failed meanwhile: nothing left to drop
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(epoch.LedgerMoved):
        epoch.check(other, rendered_under)
    epoch.check(other, ledger.epoch)
    other.execute("ROLLBACK")
