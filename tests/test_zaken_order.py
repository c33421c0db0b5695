"""Order within a chain: a message older than the state held changes nothing, an ended zaak is not reopened,
and a start withdrawn, delivered again and withdrawn once more is sent each time (docs/canonical-spec.md 3, 7).

Expected values are written by hand from the public iWmo 2.0 samples (dates, Toewijzingsdatum/-tijd).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from receiver_run import Run

from gateway.render import RenderError

A02, A04 = "CasusA-02-WMO301_toewijzing.xml", "CasusA-04-WMO301_intrekking.xml"
B01 = "CasusB-01-WMO301_toewijzing.xml"
F01, F02, E01 = ("CasusF-01-WMO305_verwijderen.xml", "CasusF-02-WMO305_nieuweaanlevering.xml",
                 "CasusE-01-WMO305_correctie.xml")


@pytest.fixture()
def run(reference_dir: Path) -> Run:
    return Run(reference_dir)


def test_an_older_toewijzing_after_the_intrekking_sends_nothing_and_says_why(run: Run) -> None:
    (created,) = run.feed(A02).outputs
    run.feed(A04)
    older = run.feed(A02)  # registered 2016-02-20 14:23:26; the intrekking 2016-11-08 12:49:57 ended the zaak
    assert older.outputs == []
    assert older.outcome.startswith("older than the state held")
    assert "20161108124957" in older.outcome and "20160220142326" in older.outcome
    zaak = run.receiver.zaak(created.zaak)
    assert zaak is not None and (zaak["einddatum"], zaak["einddatumGepland"]) == ("20161107", "20161231")


def test_an_older_wijziging_of_a_running_toewijzing_sends_nothing(run: Run) -> None:
    b01 = (run.folder / B01).read_bytes()
    later = b01.replace(b"<wmo301:Toewijzingstijd>16:12:58<", b"<wmo301:Toewijzingstijd>17:00:00<").replace(
        b"2016-12-31", b"2016-09-30")
    (created,) = run.feed("B-01 at 17:00, shortened", later).outputs
    older = run.feed(B01)  # 16:12:58 the same day: the longer toewijzing the shortened one replaced
    assert older.outputs == [] and older.outcome.startswith("older than the state held")
    zaak = run.receiver.zaak(created.zaak)
    assert zaak is not None and zaak["einddatumGepland"] == "20160930"


def test_a_later_toewijzing_that_would_reopen_an_ended_zaak_is_refused(run: Run) -> None:
    run.feed(A02)
    run.feed(A04)
    later = (run.folder / A02).read_bytes().replace(b"<wmo301:Toewijzingsdatum>2016-02-20<",
                                                    b"<wmo301:Toewijzingsdatum>2016-12-01<")
    with pytest.raises(RenderError, match="would reopen") as info:
        run.feed("A-02 registered after the intrekking", later)
    assert info.value.code == "StUF058"


def _on_0385(run: Run) -> str:
    b01 = (run.folder / B01).read_bytes().replace(b">0384<", b">0385<")
    (created,) = run.feed("B-01 of 0385", b01).outputs
    return created.zaak


def test_withdrawn_delivered_again_and_withdrawn_again_is_sent_each_time(run: Run) -> None:
    zaak = _on_0385(run)
    sent = [[o.operation for o in run.feed(name).outputs] for name in (F01, F02, E01)]
    assert sent == [["actualiseerZaakstatus"], ["actualiseerZaakstatus"],
                    ["actualiseerZaakstatus", "actualiseerZaakstatus"]]  # E-01: the withdrawal, then 2016-03-21
    statussen = run.receiver.zaak(zaak)["statussen"]  # type: ignore[index]
    assert [(s["statustype"], s["datumStatusGezet"]) for s in statussen] == [
        ("Start levering ingetrokken", "20160310000000000"), ("Levering gestart", "20160310000000001"),
        ("Start levering ingetrokken", "20160310000000002"), ("Levering gestart", "20160321000000000")]


def test_the_last_delivery_again_is_no_change_and_an_earlier_one_is_older(run: Run) -> None:
    zaak = _on_0385(run)
    for name in (F01, F02, E01):
        run.feed(name)
    again = run.feed(E01)
    assert again.outputs == [] and again.outcome.startswith("no change")
    earlier = run.feed(F02)  # Dagtekening 2016-03-14, E-01's is 2016-03-21: it would revive the withdrawn start
    assert earlier.outputs == [] and earlier.outcome.startswith("older than the state held")
    assert len(run.receiver.zaak(zaak)["statussen"]) == 4  # type: ignore[index]


# ---------------------------------------------------------------- a closed zaak (ZDS 1.2 4.1.3, 4.1.5)

FIXTURES = Path(__file__).parent / "fixtures" / "iwmo32"


def _iwmo32(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _ending_301(einddatum: bytes = b"2023-06-30") -> bytes:
    """The 3.2 wijziging of toewijzing 320001 (Dagtekening and Toewijzingsdatum 2023-06-12 11:30) with
    RedenWijziging 06 (uitstroom) instead of 05: it ends the toewijzing per ``einddatum``."""
    return _iwmo32("WMO301_wijziging_verkorting.xml").replace(b"<wmo301:RedenWijziging>05<",
                                                               b"<wmo301:RedenWijziging>06<").replace(
        b"<wmo301:Einddatum>2023-06-30<", b"<wmo301:Einddatum>" + einddatum + b"<")


def _zaak(run: Run, nummer: str) -> dict:
    (zaak,) = [z for z in run.receiver.snapshot().values()
               if {"kenmerk": nummer, "bron": "ToewijzingNummer"} in z["kenmerken"]]
    return zaak


def test_a_stop_after_the_301_that_ended_the_toewijzing_is_not_sent(run: Run) -> None:
    run.feed("301", _iwmo32("WMO301_toewijzing_specifiek.xml"))
    run.feed("305", _iwmo32("WMO305_start.xml"))
    ended = run.feed("301 ending", _ending_301(b"2023-06-10"))  # an end already past on its Dagtekening
    assert [o.operation for o in ended.outputs] == ["updateZaak", "actualiseerZaakstatus"]
    stop = run.feed("307", _iwmo32("WMO307_stop.xml"))  # Einddatum 2023-06-02, RedenBeeindiging 22
    assert stop.outputs == []
    assert stop.outcome.startswith("not sent: zaak 0384T320001 was closed at its eindstatus")
    assert "20230612113000" in stop.outcome
    zaak = _zaak(run, "320001")
    assert (zaak["einddatum"], zaak["resultaat"]) == ("20230610", {"omschrijving": "Toewijzing beëindigd "
                                                                                    "(RedenWijziging 06)"})
    assert [(s["statustype"], s["datumStatusGezet"]) for s in zaak["statussen"]] == [
        ("Levering gestart", "20230306000000000"), ("Afgehandeld", "20230610000000000")]
    assert zaak["laatsteStatus"]["statustype"] == "Afgehandeld"  # the eindstatus stays the latest


def test_a_301_ending_the_toewijzing_later_plans_the_end_and_its_stop_closes_the_zaak(run: Run) -> None:
    """An end after the Dagtekening is the zaak's einddatumGepland (no eindstatus dated in the future): the
    zaak stays lopend, so the provider's 307 can still be applied and closes it (ZDS 1.2 4.1.3)."""
    run.feed("301", _iwmo32("WMO301_toewijzing_specifiek.xml"))
    run.feed("305", _iwmo32("WMO305_start.xml"))
    ended = run.feed("301 ending", _ending_301())  # Einddatum 2023-06-30, Dagtekening 2023-06-12
    assert [o.operation for o in ended.outputs] == ["updateZaak"]
    zaak = _zaak(run, "320001")
    assert (zaak["einddatum"], zaak["einddatumGepland"], zaak["resultaat"]) == (None, "20230630", None)
    assert [s["statustype"] for s in zaak["statussen"]] == ["Levering gestart"]
    stop = run.feed("307", _iwmo32("WMO307_stop.xml"))  # Einddatum 2023-06-02, RedenBeeindiging 22
    assert [o.operation for o in stop.outputs] == ["actualiseerZaakstatus", "updateZaak", "actualiseerZaakstatus"]
    zaak = _zaak(run, "320001")
    assert (zaak["einddatum"], zaak["einddatumGepland"], zaak["resultaat"]) == (
        "20230602", "20230630", {"omschrijving": "Levering gestopt (RedenBeeindiging 22)"})
    assert [(s["statustype"], s["datumStatusGezet"]) for s in zaak["statussen"]] == [
        ("Levering gestart", "20230306000000000"), ("Levering gestopt", "20230602000000000"),
        ("Afgehandeld", "20230602000000001")]
    again = run.feed("301 ending again", _ending_301())  # the same end, after the stop: the zaak is closed
    assert again.outputs == [] and again.outcome.startswith("not sent: zaak 0384T320001 was closed")


def test_a_301_ending_a_toewijzing_no_zaak_is_known_for_later_creates_it_open(run: Run) -> None:
    (created,) = run.feed("301 ending", _ending_301()).outputs
    assert created.operation == "creeerZaak"
    zaak = _zaak(run, "320001")
    assert (zaak["einddatum"], zaak["einddatumGepland"], zaak["statussen"]) == (None, "20230630", [])


def test_a_301_ending_the_toewijzing_after_its_stop_is_not_sent(run: Run) -> None:
    run.feed("301", _iwmo32("WMO301_toewijzing_specifiek.xml"))
    run.feed("305", _iwmo32("WMO305_start.xml"))
    run.feed("307", _iwmo32("WMO307_stop.xml"))  # Dagtekening 2023-06-05: closes the zaak
    ended = run.feed("301 ending", _ending_301())  # registered 2023-06-12, after the stop
    assert ended.outputs == []
    assert ended.outcome.startswith("not sent: zaak 0384T320001 was closed at its eindstatus")
    zaak = _zaak(run, "320001")
    assert (zaak["einddatum"], zaak["einddatumGepland"], zaak["resultaat"]) == (
        "20230602", "20231231", {"omschrijving": "Levering gestopt (RedenBeeindiging 22)"})
    assert [(s["statustype"], s["datumStatusGezet"]) for s in zaak["statussen"]] == [
        ("Levering gestart", "20230306000000000"), ("Levering gestopt", "20230602000000000"),
        ("Afgehandeld", "20230602000000001")]
    assert zaak["laatsteStatus"]["statustype"] == "Afgehandeld"
