"""datumStatusGezet orders a zaak's statuses (ZDS 1.2 §4.1.3.1), so each status the gateway sends is later than every
status the zaak holds: statuses of one day do not tie, a start corrected to an earlier date is the latest status, and
a start withdrawn twice gives two statuses with different kerngegevens (docs/canonical-spec.md 3).

Real converter, ledger and reference receiver (which refuses a tie and a status it already has). Expected values are
written by hand from the fixtures: a status is set at the start of its event date (``yyyymmdd000000000``), or a
millisecond after the latest status held.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from receiver_run import Run

from gateway.zaken import gezet

FIXTURES = Path(__file__).parent / "fixtures" / "iwmo32"
B01 = "CasusB-01-WMO301_toewijzing.xml"


@pytest.fixture()
def run(reference_dir: Path) -> Run:
    return Run(reference_dir)


def _iwmo32(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _zaak(run: Run, zaak: str) -> dict[str, Any]:
    found = run.receiver.zaak(zaak)
    assert found is not None
    return found


def _heeft(zaak: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(s["statustype"], s["datumStatusGezet"], s["toelichting"]) for s in zaak["statussen"]]


def test_a_stop_and_the_eindstatus_of_one_day_do_not_tie(run: Run) -> None:
    (created,) = run.feed("301", _iwmo32("WMO301_toewijzing_specifiek.xml")).outputs
    run.feed("305", _iwmo32("WMO305_start.xml"))  # Begindatum 2023-03-06
    run.feed("307", _iwmo32("WMO307_stop.xml"))  # Einddatum 2023-06-02, RedenBeeindiging 22
    zaak = _zaak(run, created.zaak)
    assert _heeft(zaak) == [
        ("Levering gestart", "20230306000000000", None),
        ("Levering gestopt", "20230602000000000", "RedenBeeindiging 22"),
        ("Afgehandeld", "20230602000000001", "Levering gestopt (RedenBeeindiging 22)")]
    assert zaak["laatsteStatus"]["statustype"] == "Afgehandeld"


def test_a_start_corrected_to_an_earlier_date_is_the_latest_status(run: Run) -> None:
    (created,) = run.feed("301", _iwmo32("WMO301_toewijzing_specifiek.xml")).outputs
    run.feed("305 of 03-08", _iwmo32("WMO305_start.xml").replace(b">2023-03-06</wmo305:Begindatum>",
                                                                b">2023-03-08</wmo305:Begindatum>"))
    correction = _iwmo32("WMO305_correctie.xml")  # withdraws the start of 2023-03-06, starts 2023-03-08: swapped
    correction = correction.replace(b">2023-03-06</wmo305:Begindatum>", b">X</wmo305:Begindatum>").replace(
        b">2023-03-08</wmo305:Begindatum>", b">2023-03-06</wmo305:Begindatum>").replace(
        b">X</wmo305:Begindatum>", b">2023-03-08</wmo305:Begindatum>")
    run.feed("305 withdrawing 03-08, starting 03-06", correction)
    zaak = _zaak(run, created.zaak)
    assert _heeft(zaak) == [
        ("Levering gestart", "20230308000000000", None),
        ("Start levering ingetrokken", "20230308000000001",
         "Aanlevering start levering per 20230308 verwijderd (StatusAanlevering 3)"),
        ("Levering gestart", "20230308000000002", "Levering gestart per 2023-03-06")]  # the event date kept
    assert zaak["laatsteStatus"]["statustype"] == "Levering gestart"


def test_a_start_withdrawn_twice_gives_two_statuses_with_other_kerngegevens(run: Run) -> None:
    b01 = (run.folder / B01).read_bytes().replace(b">0384<", b">0385<")  # 0385's toewijzing for cases F and E
    (created,) = run.feed("B-01 of 0385", b01).outputs
    for name in ("CasusF-01-WMO305_verwijderen.xml", "CasusF-02-WMO305_nieuweaanlevering.xml",
                 "CasusE-01-WMO305_correctie.xml"):
        run.feed(name)
    zaak = _zaak(run, created.zaak)
    withdrawn = [s["datumStatusGezet"] for s in zaak["statussen"] if s["statustype"] == "Start levering ingetrokken"]
    assert withdrawn == ["20160310000000000", "20160310000000002"]  # F-01 and E-01, the start of 2016-03-10
    assert zaak["laatsteStatus"]["statustype"] == "Levering gestart"
    assert zaak["laatsteStatus"]["datumStatusGezet"] == "20160321000000000"


def _status(datum: str, toelichting: str | None = None) -> dict[str, str | None]:
    return {"volgnummer": "2", "omschrijving": "Levering gestart", "zaaktype": "B1234", "datum": datum,
            "toelichting": toelichting}


@pytest.mark.parametrize(("held", "expected"), [
    ("20230308000000000", "20230308000000001"),  # a millisecond on
    ("20230308101500998", "20230308101500999"),
    ("20230308101500999", "20230308101501000"),  # the millisecond carries into the second
    ("20231231235959999", "20240101000000000"),  # and on into the next day, month and year
    ("20240228235959999", "20240229000000000"),  # a leap day
    ("20230308", "20230309000000000"),  # a bare date of an older ledger: somewhere that day, so the next day
    ("2023030812", "20230308130000000"),  # known to the hour: the next hour
])
def test_the_step_past_a_held_moment_is_its_own_precision(held: str, expected: str) -> None:
    assert gezet.after(held) == expected


def test_a_status_after_a_bare_date_of_an_older_ledger_is_set_the_next_day_and_says_its_own_date() -> None:
    placed = gezet.placed([_status("20230308")], _status("20230308"))
    assert placed["datum"] == "20230309000000000"
    assert placed["toelichting"] == "Levering gestart per 2023-03-08"
    assert (placed["event_datum"], placed["event_toelichting"]) == ("20230308", None)


def test_a_status_later_than_every_held_one_keeps_its_event_date() -> None:
    held = [_status("20230301000000000"), _status("20230305000000004")]
    placed = gezet.placed(held, _status("20230306", "eigen toelichting"))
    assert (placed["datum"], placed["toelichting"]) == ("20230306000000000", "eigen toelichting")
    placed = gezet.placed(held, _status("20230305", "eigen toelichting"))
    assert placed["datum"] == "20230305000000005"
    assert placed["toelichting"] == "eigen toelichting"  # the date written is still the event date's day
    placed = gezet.placed(held, _status("20230304", "eigen toelichting"))
    assert placed["datum"] == "20230305000000005"
    assert placed["toelichting"] == "eigen toelichting; Levering gestart per 2023-03-04"
    placed = gezet.placed([_status("20230306000000000")], _status("20230306"))
    assert placed["datum"] == "20230306000000001"  # a held moment equal to its start of day: one step past it
