"""The batch parent plans every member of a chunk, then writes every zakLk01 (session 32): the writer and its
guard run back to back, warm. A write that fails its guard comes after the members behind it were planned on its
ledger state, so that member is taken back out of the chunk's ledger (``ChunkOverlay.rewind``) and the members
after it render again, one by one: what reaches OUT, the report and the ledger must be what one pass gave (each
member planned and written before the next). Real batch runs, a real ledger file, real settings; the failing
write is a statustype whose omschrijving the zkn XSD refuses (81+ characters), as a mistyped ``--config`` gives.
"""

from __future__ import annotations

import json
import sqlite3
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from batch_corpus import archive_tree
from proxy_helpers import sample, samples_dir, variant

from gateway.batch import BatchOptions, ledgered, run
from gateway.ledger import MemoryLedger
from gateway.pipeline import Converter, describe
from gateway.render.settings import RenderSettings
from gateway.zaken.catalogue import DEMO_ZAAKTYPEN, Zaaktype

B01, B04 = "CasusB-01-WMO301_toewijzing.xml", "CasusB-04-WMO307_stop.xml"
TOO_LONG = "S" * 200  # ZKN:omschrijving of a statustype holds 80


def refusing(*statuses: str) -> Zaaktype:
    """The demo toewijzing zaaktype with these statustypes named too long for the XSD: a zakLk01 that sets one is
    planned (the plan never reads the name's length) and refused by the value guard when it is written."""
    base = DEMO_ZAAKTYPEN["wmo.toewijzing"]
    return replace(base, statustypes={name: replace(kind, omschrijving=TOO_LONG) if name in statuses else kind
                                      for name, kind in base.statustypes.items()})


def batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plan_first: bool) -> tuple[list[dict[str, Any]],
                                                                                      dict[str, bytes], dict[str, str]]:
    """One chunk of six members through ``overstap batch`` with a ledger folder: its report lines, OUT (without
    what each rendering makes new) and the ledger's zaak states."""
    original = ledgered.LedgerStep.__init__

    def init(self: ledgered.LedgerStep, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        assert self.plan_first  # a SQLite ledger and profile zkn: planned first unless told here
        self.plan_first = plan_first

    monkeypatch.setattr(ledgered.LedgerStep, "__init__", init)
    members = [("0-start.xml", variant(sample(B01), 1, zaak=3)),
               ("1-stop-unknown.xml", variant(sample(B04), 2, zaak=7)),  # its plan fails: no such zaak (StUF064)
               ("2-stop.xml", variant(sample(B04), 3, zaak=3)),  # planned; its write fails the guard (StUF055)
               ("3-again.xml", variant(sample(B01), 4, zaak=3)),  # planned on zaak 3 as member 0 left it
               ("4-stop-unknown.xml", variant(sample(B04), 5, zaak=8)),
               ("5-start.xml", variant(sample(B01), 6, zaak=5))]
    with zipfile.ZipFile(tmp_path / "in.zip", "w") as zf:
        for name, data in members:
            zf.writestr(name, data)
    settings = RenderSettings(zaaktypen={**DEMO_ZAAKTYPEN, "wmo.toewijzing": refusing("gestopt")})
    outcome = run(BatchOptions([tmp_path / "in.zip"], tmp_path / "out.zip", workers=0, progress="quiet",
                               state=str(tmp_path / "state"), chunk_size=8, settings=settings))
    assert outcome.exit_code == 1
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        lines = [json.loads(line) for line in zf.read("report.jsonl").splitlines()]
    with sqlite3.connect(tmp_path / "state" / "ledger.sqlite") as conn:
        states = {str(zaak): str(state) for zaak, state in conn.execute("SELECT zaak, state FROM zaak_state")}
    return lines, archive_tree(tmp_path / "out.zip"), states


def test_a_write_failing_its_guard_takes_its_member_back_and_the_members_after_it_plan_without_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "first").mkdir()
    (tmp_path / "one").mkdir()
    lines, out, states = batch(tmp_path / "first", monkeypatch, plan_first=True)
    assert [line["status"] for line in lines] == ["ok", "failed", "failed", "ok", "failed", "ok"]
    assert [(line.get("error") or {}).get("code") for line in lines] == [None, "StUF064", "StUF055", None, "StUF064",
                                                                         None]
    assert "(value guard)" in lines[2]["error"]["message"] and TOO_LONG not in lines[2]["error"]["message"]
    assert [[path.rpartition("-")[2] for path in line.get("outputs") or ()] for line in lines] == [
        ["creeerZaak.xml"], [], [], ["updateZaak.xml"], [], ["creeerZaak.xml"]]
    assert sorted(zaak[:14] for zaak in states) == ["0384B700000003", "0384B700000005"]
    zaak3 = json.loads(next(state for zaak, state in states.items() if zaak.startswith("0384B700000003")))
    assert zaak3["attrs"]["einddatum"] is None and zaak3["attrs"]["resultaat"] is None  # the stop never happened
    assert "ended" not in zaak3  # (member 3 planned on the state member 0 left, not the stop's)
    with zipfile.ZipFile(tmp_path / "first" / "out.zip") as zf:  # the refused member's own bytes, quarantined
        assert zf.read(lines[2]["quarantine"]) == variant(sample(B04), 3, zaak=3)
    assert (lines, out, states) == batch(tmp_path / "one", monkeypatch, plan_first=False)  # what one pass gives


def test_a_plan_failing_after_a_write_that_fails_its_guard_fails_as_the_render_does(reference_dir: Path) -> None:
    """A message of two units: the first planned (a 305 start on a known zaak, its statustype refused when
    written), the second not (its product names no zaak). Rendered in one pass the first unit's write fails first;
    planned, the second unit's failure comes first, so the plan writes what it planned before it raises."""
    settings = RenderSettings(zaaktypen={**DEMO_ZAAKTYPEN, "0385:wmo.toewijzing": refusing("gestart", "correctie")})
    converter = Converter(ledger=MemoryLedger(), validate=True, settings=settings)
    converter.convert(sample(B01).replace(b">0384<", b">0385<"), "b01.xml")  # the first unit's zaak
    start = (samples_dir() / "CasusE-01-WMO305_correctie.xml").read_bytes()
    second = start.rindex(b"<iwmo:Code>01A01</iwmo:Code>")
    start = start[:second] + start[second:].replace(b"01A01", b"01A02", 1)  # a product no toewijzing named
    _, mapping, mapped = converter.to_model(start, "e01.xml")
    failures = []
    for attempt in (lambda: converter.render(mapped.bericht, mapping), lambda: converter.plan(mapped.bericht, mapping)):
        with pytest.raises(Exception) as caught:
            attempt()
        failures.append(describe(caught.value))
    assert failures[0] == failures[1]
    assert failures[0].code == "StUF055" and "(value guard)" in failures[0].message
