"""A zaak state handed to the ledger is never changed afterwards, so a ledger that ends with its transaction
(``ThrowawayLedger``: the convert benchmark, the sidecar's converting workers) may store it without a copy.

Why: ``put_state``'s deep copy was ~10% of a zkn render. Skipping it is only safe while the render hands over
states that nothing else holds and never touches one once stored: these tests render the benchmark mix
(creeerZaak, updates, ends, statuses, several units a message) through a transaction that snapshots every
state it is handed and checks, after each message and at the end, that no stored object changed; and they
empty every container of the canonical model after a render and find the stored states as they were.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import BaseModel
from shared_registry import shared_registry
from writers import WRITERS, use_writer

from gateway.ledger.base import FreshStateTransaction, MemoryLedger
from gateway.ledger.staged import ThrowawayLedger
from gateway.pipeline import FAILURES, Converter
from gateway.render import zkn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import batch_bench  # a script folder, not a package

NOW = dt.datetime(2026, 12, 4, 12, 0, 0)


class Snapshots:
    """A ledger transaction that remembers each state handed to ``put_state`` and its text at that moment."""

    def __init__(self, tx: Any) -> None:
        self.tx = tx
        self.stored: list[tuple[str, Any, bytes]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tx, name)

    def put_state(self, zaak: str, state: Any) -> None:
        self.stored.append((zaak, state, orjson.dumps(state, option=orjson.OPT_SORT_KEYS)))
        self.tx.put_state(zaak, state)

    def changed(self) -> list[str]:
        """The zaken whose stored state object no longer reads as it did when it was handed over."""
        return [zaak for zaak, state, text in self.stored if orjson.dumps(state, option=orjson.OPT_SORT_KEYS) != text]


def _mix() -> list[tuple[str, bytes]]:
    return list(batch_bench.messages(2 * len(batch_bench.templates())))


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("prepared", [False, True], ids=["model", "prepared"])
def test_no_state_changes_once_handed_to_the_ledger(reference_dir: Path, prepared: bool, writer: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole mix against one ledger, from the model and from prepared facts, with each writer (the Python
    one runs where the native one is not built): every state stored, at the end of its message and at the end of
    the run, reads as it did when it was stored."""
    use_writer(writer, monkeypatch)
    ledger = MemoryLedger()
    converter = Converter(shared_registry(), ledger=ledger, clock=lambda: NOW)
    spies: list[Snapshots] = []
    for name, data in _mix():
        _, mapping, result = converter.to_model(data, name)
        settings = converter.settings_for(mapping)
        with ledger.transaction() as tx:
            spy = Snapshots(tx)
            try:
                if prepared:
                    facts = zkn.prepare(result.bericht, settings)
                    assert facts is not None, name
                    zkn.render_prepared(facts, settings, spy, NOW)
                else:
                    zkn.render(result.bericht, settings, spy, NOW)
            except FAILURES:
                pass
            assert spy.changed() == [], name
        spies.append(spy)
    assert sum(len(spy.stored) for spy in spies) > len(spies)  # most messages store, some more than one state
    assert [zaak for spy in spies for zaak in spy.changed()] == []


def _emptied(value: Any, seen: set[int]) -> None:
    """Every list, dict and set reachable from ``value`` (models included) emptied, innermost first."""
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _emptied(getattr(value, name), seen)
    elif isinstance(value, dict):
        for item in value.values():
            _emptied(item, seen)
        value.clear()
    elif isinstance(value, list | set):
        for item in value:
            _emptied(item, seen)
        value.clear()


def _states(tx: Any, zaken: Iterator[str]) -> dict[str, Any]:
    return {zaak: tx.state(zaak) for zaak in zaken}


def test_a_stored_state_shares_nothing_with_the_model(reference_dir: Path) -> None:
    """After each render into a throwaway transaction, every container of the canonical model is emptied: the
    states the transaction holds do not change (none of the model's lists or dicts was stored)."""
    converter = Converter(shared_registry(), clock=lambda: NOW)
    checked = 0
    for name, data in _mix()[: len(batch_bench.templates())]:
        _, mapping, result = converter.to_model(data, name)
        with ThrowawayLedger().transaction() as tx:
            spy = Snapshots(tx)
            try:
                zkn.render(result.bericht, converter.settings_for(mapping), spy, NOW)
            except FAILURES:
                continue
            before = _states(tx, (zaak for zaak, _, _ in spy.stored))
            _emptied(result.bericht, set())
            assert _states(tx, iter(before)) == before, name
            checked += len(before)
    assert checked > 10


def test_the_throwaway_transaction_stores_as_handed_and_reads_copies() -> None:
    with ThrowawayLedger().transaction() as tx:
        assert isinstance(tx, FreshStateTransaction)
        state = {"attrs": {"kenmerk": [["1", "ToewijzingNummer"]]}, "statussen": []}
        tx.put_state("z", state)
        read = tx.state("z")
        assert read == state and read is not state
        read["attrs"]["kenmerk"].clear()
        read["statussen"].append({"volgnummer": 1})
        assert tx.state("z") == {"attrs": {"kenmerk": [["1", "ToewijzingNummer"]]}, "statussen": []}
        assert tx.state("other") is None


def test_the_throwaway_transaction_answers_as_a_fresh_memory_ledger_does() -> None:
    """``FreshStateTransaction`` keeps its own writes only (nothing is held before it): every read must still
    answer as a transaction of a new ``MemoryLedger`` does: the first known chain key, a later binding winning,
    tijdstipBericht strictly increasing per zender within the message, remembered values."""
    def steps(tx: Any) -> list[Any]:
        seen = [tx.zaak_for(["a", "b"])]
        tx.bind("b", "Z1")
        seen.append(tx.zaak_for(["a", "b"]))
        tx.bind("a", "Z2")
        seen += [tx.zaak_for(["a", "b"]), tx.zaak_for(["b"]), tx.zaak_for(["c"])]
        tx.bind("b", "Z3")
        seen.append(tx.zaak_for(["b", "a"]))
        seen += [tx.tijdstip("0363|OVERSTAP|", NOW) for _ in range(3)] + [tx.tijdstip("0599|OVERSTAP|", NOW)]
        seen.append(tx.recall("di01", "k"))
        tx.remember("di01", "k", "u1")
        tx.remember("di01", "k", "u2")
        seen += [tx.recall("di01", "k"), tx.recall("di02", "k"), tx.state("Z1")]
        return seen

    with MemoryLedger().transaction() as memory, ThrowawayLedger().transaction() as fresh:
        expected, got = steps(memory), steps(fresh)
    assert got == expected
    assert got[6] < got[7] < got[8] and got[9] == got[6]
