"""A zaak ledger written by the release before session 25 (f743108) and the messages that follow it after the
upgrade: what test_ledger_before_s25.py replays. Why a fixture: the ledger's keys are what that release wrote, which
no code of this one writes any more (no ``{product key}#{n}`` slots for toewijzingen sharing a product key, no
``-:-`` new-product key for a 317 line asking for a budget).

The fixture (tests/fixtures/ledger_before_s25/) was made by running this module under that release::

    git worktree add --detach /work/wt-old f743108   # plus the native .so files of a built tree
    PYTHONPATH=/work/wt-old:$PWD/tests python tests/ledger_before_s25.py tests/fixtures/ledger_before_s25

It converts :data:`BEFORE` through a ``convert --state`` folder ledger (SqliteLedger) and writes that ledger as SQL
text (``ledger.sql``) and every delivery it made (``deliveries.json``: name, SOAP action, operation, zaak, XML).
Generated data only: the BSNs are the chain tests' (11-proof), no real person's.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

from chain_messages import (
    FIRST_DAY,
    LAST_DAY,
    Toewijzing,
    message_301,
    message_301_unnumbered,
    message_305,
    message_307,
)
from test_chain_property_requests import message_301_of, message_317

FIXTURE = Path(__file__).parent / "fixtures" / "ledger_before_s25"
MOMENT = dt.datetime(2016, 3, 7, 9, 0, 0)

OLD, NEW = Toewijzing("200001", "123456782", "700000001", "01A01"), Toewijzing("200002", "123456782", "700000001",
                                                                             "01A01")
"""Client 1: a toewijzing and the one replacing it from the same day (one 2.x product key); the old one is corrected
to end on its Ingangsdatum last, so the key names it (named last) though only the new one's period runs on."""
FIRST, SECOND = Toewijzing("200003", "111222333", "700000002", "01A01"), Toewijzing("200006", "111222333",
                                                                                   "700000002", "01A01")
"""Client 2: two toewijzingen of one product from one day, both running (one 2.x product key)."""
BUDGET_REFERENTIE = "VOW-B"
"""The 3.2 317 of client 3 whose one line asks for a budget (no Product, CD079)."""


def _day(n: int) -> dt.date:
    return FIRST_DAY + dt.timedelta(days=n)


def _at(n: int) -> dt.datetime:
    return MOMENT + dt.timedelta(days=n)


BEFORE: tuple[tuple[str, Callable[[], bytes]], ...] = (
    ("301 200001", lambda: message_301([OLD], "o1", _day(0), _at(0), LAST_DAY, 22500, None)),
    ("301 200002", lambda: message_301([NEW], "o2", _day(1), _at(1), LAST_DAY, 18000, None)),
    ("301 200001 ends on its Ingangsdatum", lambda: message_301([OLD], "o3", _day(2), _at(2), FIRST_DAY, 22500, "01")),
    ("301 200003", lambda: message_301([FIRST], "o4", _day(0), _at(0), LAST_DAY, 9000, None)),
    ("301 200006", lambda: message_301([SECOND], "o5", _day(1), _at(1), LAST_DAY, 6000, None)),
    ("317 budget", lambda: message_317("o6", _day(0), BUDGET_REFERENTIE, [("p", None)], 5)),
)
"""What the release before session 25 converted (in this order)."""

AFTER: tuple[tuple[str, Callable[[], bytes]], ...] = (
    ("305 without number", lambda: message_305([OLD], "n1", _day(3), _day(3), False, numbered=False)),
    ("307 without number", lambda: message_307([OLD], "n2", _day(4), _day(4), "02", numbered=False)),
    ("301 200003 without number", lambda: message_301_unnumbered([FIRST], "n3", _day(3), _at(3), LAST_DAY, 12000,
                                                                 None)),
    ("301 200003 changed", lambda: message_301([FIRST], "n4", _day(4), _at(4), LAST_DAY, 12000, None)),
    ("305 200006", lambda: message_305([SECOND], "n5", _day(5), _day(5), False)),
    ("301 of the budget", lambda: message_301_of("n6", _day(1), _at(1), "320004", BUDGET_REFERENTIE, None, False)),
)
"""What follows after the upgrade (in this order)."""


def write(folder: Path) -> None:
    """Convert :data:`BEFORE` with the release on ``sys.path`` into ``folder`` (see the module's text)."""
    from clocks import StepClock
    from test_chain_property import registry

    from gateway.ledger.sqlite import SqliteLedger
    from gateway.pipeline import Converter

    folder.mkdir(parents=True, exist_ok=True)
    ledger = SqliteLedger(folder / "state")
    converter = Converter(registry(), validate=True, ledger=ledger, clock=StepClock())
    deliveries = [{"name": name, "soap_action": o.soap_action, "operation": o.operation, "zaak": o.zaak,
                   "xml": o.xml.decode("utf-8")}
                  for name, make in BEFORE for o in converter.convert(make(), name).outputs]
    ledger.close()
    conn = sqlite3.connect(folder / "state" / "ledger.sqlite")
    dump = "\n".join(conn.iterdump()) + "\n"
    conn.close()
    (folder / "ledger.sql").write_text(dump, encoding="utf-8")
    (folder / "deliveries.json").write_text(json.dumps(deliveries, indent=1) + "\n", encoding="utf-8")
    for leftover in sorted((folder / "state").iterdir()):
        leftover.unlink()
    (folder / "state").rmdir()


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else FIXTURE)
