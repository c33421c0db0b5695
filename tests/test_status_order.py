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
