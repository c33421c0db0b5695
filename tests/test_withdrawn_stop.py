"""A 307 with StatusAanlevering 3 (Verwijderen aanlevering): the aanbieder withdraws a stop of zorg it sent in error
(docs/canonical-spec.md 3, "A closed zaak takes no change"). Expected values are the reference receiver's end state,
written by hand from the 3.2 fixtures (WMO307_stop.xml: Einddatum 2023-06-02, RedenBeeindiging 22)."""

from __future__ import annotations

from pathlib import Path

import pytest
from receiver_run import Run

from gateway.render import RenderError

FIXTURES = Path(__file__).parent / "fixtures" / "iwmo32"
CLOSED_BY_STOP = ("20230602", {"omschrijving": "Levering gestopt (RedenBeeindiging 22)"})


def _iwmo32(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _stop(status: bytes = b"1", einddatum: bytes = b"2023-06-02", dagtekening: bytes = b"2023-06-05") -> bytes:
    """WMO307_stop.xml with another StatusAanlevering, Einddatum and Dagtekening (and its own identificatie)."""
    return _iwmo32("WMO307_stop.xml").replace(
        b"<wmo307:StatusAanlevering>1<", b"<wmo307:StatusAanlevering>" + status + b"<").replace(
        b"<wmo307:Einddatum>2023-06-02<", b"<wmo307:Einddatum>" + einddatum + b"<").replace(
        b"<iwmo:Dagtekening>2023-06-05<", b"<iwmo:Dagtekening>" + dagtekening + b"<").replace(
        b">ovs32stp0001<", b">ovs32stp" + status + dagtekening[-2:] + b"<")


def _ending_301() -> bytes:
    """The 3.2 wijziging of toewijzing 320001 (registered 2023-06-12) ending it per 2023-06-10 (RedenWijziging 06)."""
    return _iwmo32("WMO301_wijziging_verkorting.xml").replace(b"<wmo301:RedenWijziging>05<",
                                                               b"<wmo301:RedenWijziging>06<").replace(
        b"<wmo301:Einddatum>2023-06-30<", b"<wmo301:Einddatum>2023-06-10<")


def _zaak(run: Run) -> dict:
    (zaak,) = [z for z in run.receiver.snapshot().values()
               if {"kenmerk": "320001", "bron": "ToewijzingNummer"} in z["kenmerken"]]
    return zaak


def _statussen(run: Run) -> list[tuple[str, str]]:
    return [(s["statustype"], s["datumStatusGezet"][:8]) for s in _zaak(run)["statussen"]]


@pytest.fixture()
def run(reference_dir: Path) -> Run:
    run = Run(reference_dir)
    run.feed("301", _iwmo32("WMO301_toewijzing_specifiek.xml"))
    run.feed("305", _iwmo32("WMO305_start.xml"))
    return run


def test_withdrawing_the_stop_that_closed_the_zaak_is_refused_as_reopening(run: Run) -> None:
    run.feed("307", _stop())
    with pytest.raises(RenderError, match="would reopen") as info:
        run.feed("307 withdrawn", _stop(b"3", dagtekening=b"2023-06-08"))
    assert info.value.code == "StUF058"
    assert "closed at its eindstatus by the stop of zorg per 20230602" in str(info.value)
    assert "must be corrected at the receiver" in str(info.value)
    zaak = _zaak(run)  # the receiver is as the stop left it: nothing was sent
    assert (zaak["einddatum"], zaak["resultaat"]) == CLOSED_BY_STOP
    assert _statussen(run) == [("Levering gestart", "20230306"), ("Levering gestopt", "20230602"),
                               ("Afgehandeld", "20230602")]


def test_withdrawing_a_stop_after_a_301_closed_the_zaak_is_not_sent(run: Run) -> None:
    run.feed("301 ending", _ending_301())  # closes the zaak per 2023-06-10
    # the provider's stop on the same day: only the 301's resultaat tells the 301 closed the zaak, not this stop
    assert run.feed("307", _stop(einddatum=b"2023-06-10", dagtekening=b"2023-06-13")).outputs == []
    withdrawn = run.feed("307 withdrawn", _stop(b"3", einddatum=b"2023-06-10", dagtekening=b"2023-06-14"))
    assert withdrawn.outputs == []
    assert withdrawn.outcome.startswith("not sent: zaak 0384T320001 was closed at its eindstatus")
    zaak = _zaak(run)  # the 301's end stays: the withdrawn stop never reached the zaak
    assert (zaak["einddatum"], zaak["resultaat"]) == (
        "20230610", {"omschrijving": "Toewijzing beëindigd (RedenWijziging 06)"})
    assert _statussen(run) == [("Levering gestart", "20230306"), ("Afgehandeld", "20230610")]


def test_withdrawing_a_later_stop_the_closed_zaak_never_took_is_not_sent(run: Run) -> None:
    run.feed("307", _stop())
    other = run.feed("307 other date", _stop(einddatum=b"2023-06-20", dagtekening=b"2023-06-21"))
    assert other.outputs == []
    withdrawn = run.feed("307 other date withdrawn", _stop(b"3", einddatum=b"2023-06-20", dagtekening=b"2023-06-22"))
    assert withdrawn.outputs == [] and withdrawn.outcome.startswith("not sent: zaak 0384T320001 was closed")
    zaak = _zaak(run)
    assert (zaak["einddatum"], zaak["resultaat"]) == CLOSED_BY_STOP


def test_withdrawing_a_stop_on_an_open_zaak_sends_the_correction_and_leaves_it_open(run: Run) -> None:
    withdrawn = run.feed("307 withdrawn", _stop(b"3", dagtekening=b"2023-06-08"))
    assert [o.operation for o in withdrawn.outputs] == ["actualiseerZaakstatus"]
    zaak = _zaak(run)
    assert (zaak["einddatum"], zaak["resultaat"]) == (None, None)
    # the catalogue's statustype for a correcting status, whichever delivery it withdraws
    assert _statussen(run) == [("Levering gestart", "20230306"), ("Start levering ingetrokken", "20230602")]
    assert zaak["statussen"][-1]["toelichting"] == (
        "Aanlevering stop levering per 20230602 verwijderd (StatusAanlevering 3)")
    stop = run.feed("307 again, corrected", _stop(einddatum=b"2023-06-09", dagtekening=b"2023-06-12"))
    assert [o.operation for o in stop.outputs] == ["actualiseerZaakstatus", "updateZaak", "actualiseerZaakstatus"]
    zaak = _zaak(run)
    assert (zaak["einddatum"], zaak["resultaat"]) == ("20230609", CLOSED_BY_STOP[1])
