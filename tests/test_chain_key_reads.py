"""How often a render reads a chain key from a real SQLite ledger (session 30, benchmarks/batch_counts.py): a new
toewijzing's zaak asks for each of its keys once. The product key of a 2.x line was asked again before it was
bound (``bind_product``: does it name another zaak?), though the lookup of the line's keys had just found none of
them bound: one ledger read a message more in the batch since session 25. A toewijzing found by its number still
asks, and two toewijzingen sharing the key still both take a slot. A line without a number, found by the product
key, asks whether the key is shared (``#0``) but not again whom it names."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from chain_messages import LAST_DAY, message_301, message_305
from clocks import StepClock
from test_chain_found import _at, _day
from test_chain_property import TOEWIJZINGEN, registry

from gateway.ledger.sqlite import SqliteLedger
from gateway.pipeline import Converter

OLD, NEW = TOEWIJZINGEN[0], TOEWIJZINGEN[1]
"""200001 and 200002: one client, beschikking, product and Ingangsdatum, so one 2.x product key."""


def _counted(tmp_path: Path) -> tuple[Converter, SqliteLedger, list[str]]:
    ledger = SqliteLedger(tmp_path)
    reads: list[str] = []
    ledger._conn.set_trace_callback(  # the statements as SQLite runs them, values bound
        lambda sql: reads.append(sql) if sql.startswith("SELECT zaak FROM chain_key") else None)
    return Converter(registry(), validate=True, ledger=ledger, clock=StepClock()), ledger, reads


def test_a_new_toewijzing_reads_each_of_its_chain_keys_once(reference_dir: Path, tmp_path: Path) -> None:
    converter, ledger, reads = _counted(tmp_path)
    outputs = converter.convert(message_301([OLD], "u1", _day(0), _at(0), LAST_DAY, 22500, None), "u1").outputs
    assert [(o.operation, o.zaak) for o in outputs] == [("creeerZaak", "0384T200001")]
    asked = Counter(sql.split("'")[1].split(":")[0] for sql in reads)
    assert asked == {"toewijzing": 1, "product": 1, "aanvraag-product": 1}, asked
    reads.clear()
    # the second toewijzing of the same product key: new by its number, but the key names 200001 (both take a slot)
    outputs = converter.convert(message_301([NEW], "u2", _day(1), _at(1), LAST_DAY, 18000, None), "u2").outputs
    assert [(o.operation, o.zaak) for o in outputs] == [("creeerZaak", "0384T200002")]
    rows = ledger._conn.execute("SELECT key, zaak FROM chain_key WHERE key LIKE 'product:%' ORDER BY key").fetchall()
    assert [(key.rsplit(":", 1)[1][8:], zaak) for key, zaak in rows] == [
        ("", "0384T200002"), ("#0", "0384T200001"), ("#1", "0384T200002")]


def test_a_toewijzing_found_by_its_number_still_asks_whom_its_product_key_names(
        reference_dir: Path, tmp_path: Path) -> None:
    converter, _, reads = _counted(tmp_path)
    converter.convert(message_301([OLD], "u1", _day(0), _at(0), LAST_DAY, 22500, None), "u1")
    reads.clear()
    outputs = converter.convert(message_301([OLD], "u2", _day(1), _at(1), LAST_DAY, 18000, "01"), "u2").outputs
    assert [(o.operation, o.zaak) for o in outputs] == [("updateZaak", "0384T200001")]
    asked = Counter(sql.split("'")[1].split(":")[0] for sql in reads)
    assert asked["toewijzing"] == 1 and asked["product"] == 1, asked  # found first by its number: key asked at bind


def test_a_start_without_number_reads_its_product_key_once(reference_dir: Path, tmp_path: Path) -> None:
    converter, _, reads = _counted(tmp_path)
    converter.convert(message_301([OLD], "u1", _day(0), _at(0), LAST_DAY, 22500, None), "u1")
    reads.clear()
    outputs = converter.convert(message_305([OLD], "u2", _day(1), _day(1), False, numbered=False), "u2").outputs
    assert [(o.operation, o.zaak) for o in outputs] == [("actualiseerZaakstatus", "0384T200001")]
    asked = Counter(sql.split("'")[1] for sql in reads)
    product = [key for key in asked if key.startswith("product:")]
    assert sorted(key.rpartition(":")[2][8:] for key in product) == ["", "#0"], asked  # the key, and its first slot
    assert all(asked[key] == 1 for key in product), asked


def test_a_toewijzing_found_by_its_number_whose_new_ingangsdatum_another_named_takes_a_slot_beside_it(
        reference_dir: Path, tmp_path: Path) -> None:
    converter, ledger, _ = _counted(tmp_path)
    converter.convert(message_301([OLD], "u1", _day(0), _at(0), LAST_DAY, 22500, None), "u1")
    converter.convert(message_301([NEW], "u2", _day(1), _at(1), LAST_DAY, 18000, None, ingang=_day(1)), "u2")
    # 200002's Ingangsdatum corrected to 200001's: found by its number, its product key now the one 200001 holds
    outputs = converter.convert(message_301([NEW], "u3", _day(2), _at(2), LAST_DAY, 18000, None), "u3").outputs
    assert [(o.operation, o.zaak) for o in outputs] == [("updateZaak", "0384T200002")]
    rows = ledger._conn.execute("SELECT key, zaak FROM chain_key WHERE key LIKE 'product:%0307%' ORDER BY key")
    assert [(key.rpartition(":")[2][8:], zaak) for key, zaak in rows] == [
        ("", "0384T200002"), ("#0", "0384T200001"), ("#1", "0384T200002")]
