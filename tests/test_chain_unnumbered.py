"""2.x lines without a ToewijzingNummer when toewijzingen share the product key (docs/canonical-spec.md 1): a 305/307
goes to the toewijzing whose period holds its Begindatum, else to the one named last with a warning naming the
candidates; a 301 is refused rather than applied to a guess; a 301 without a number keeps the number its zaak holds.
Messages built from the iWmo 2.1 fixtures (chain_messages.py), the reference receiver getting every output."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from chain_messages import (
    FIRST_DAY,
    LAST_DAY,
    Toewijzing,
    _bytes,
    _one,
    _set,
    message_301,
    message_301_unnumbered,
    message_305,
    message_307,
)
from chain_oracle import GESTART, GESTOPT
from lxml import etree
from receiver_run import Run
from test_chain_found import Chain, _at, _day
from test_chain_property import TOEWIJZINGEN
from test_chains import Chain as Fixtures
from test_chains import samples_20

from gateway.pipeline import FAILURES, describe

FIXTURES_32 = Path(__file__).parent / "fixtures" / "iwmo32"
OLD, NEW = TOEWIJZINGEN[0], TOEWIJZINGEN[1]
"""200001 and 200002: one client, beschikking, product and Ingangsdatum, so one 2.x product key."""


def _begun(xml: bytes, begin: dt.date) -> bytes:
    """A 307 whose Begindatum (the start of the delivery it stops, as its 305 gave it) is ``begin``."""
    root = etree.fromstring(xml)
    _set(root, "Begindatum", begin.isoformat())
    return _bytes(root)


def _statussen(chain: Chain, identificatie: str) -> list[tuple[str, str]]:
    return [(s["statustype"], s["datumStatusGezet"][:8]) for s in chain.zaak(identificatie)["statussen"]]


def _both(chain: Chain) -> None:
    """200001 from FIRST_DAY to the end of the year, then 200002 (named last) alike."""
    chain.deliver(message_301([OLD], "u1", _day(0), _at(0), LAST_DAY, 22500, None), "u1")
    chain.deliver(message_301([NEW], "u2", _day(1), _at(1), LAST_DAY, 18000, None), "u2")


def test_a_start_without_number_goes_to_the_toewijzing_whose_period_holds_its_begindatum(reference_dir: Path) -> None:
    chain = Chain()
    _both(chain)
    # 200001 corrected to end on its Ingangsdatum (a volume change from the same day): it names the key last
    chain.deliver(message_301([OLD], "u3", _day(2), _at(2), FIRST_DAY, 22500, "01"), "u3")
    conversion = chain.converter.convert(message_305([OLD], "u4", _day(3), _day(3), False, numbered=False), "u4")
    assert [(o.operation, o.zaak) for o in conversion.outputs] == [("actualiseerZaakstatus", "0384T200002")]
    assert conversion.warnings == []
    for output in conversion.outputs:
        assert chain.receiver.receive(output.xml, output.soap_action).accepted
    assert _statussen(chain, "0384T200002") == [(GESTART, "20160310")]
    assert _statussen(chain, "0384T200001") == []


def test_a_stop_without_number_goes_by_its_begindatum_as_its_start(reference_dir: Path) -> None:
    chain = Chain()
    _both(chain)
    chain.deliver(message_301([OLD], "u3", _day(2), _at(2), FIRST_DAY, 22500, "01"), "u3")
    stop = _begun(message_307([OLD], "u4", _day(4), _day(4), "02", numbered=False), _day(3))
    assert chain.deliver(stop, "u4") == ["actualiseerZaakstatus 0384T200002", "updateZaak 0384T200002",
                                         "actualiseerZaakstatus 0384T200002"]
    assert _statussen(chain, "0384T200002")[0] == (GESTOPT, "20160311")


def test_a_start_without_number_that_both_periods_hold_is_applied_with_a_warning(reference_dir: Path) -> None:
    chain = Chain()
    _both(chain)
    conversion = chain.converter.convert(message_305([OLD], "u3", _day(3), _day(3), False, numbered=False), "u3")
    assert [(o.operation, o.zaak) for o in conversion.outputs] == [("actualiseerZaakstatus", "0384T200002")]
    (warning,) = conversion.warnings
    assert "toewijzingen 200001, 200002, whose periods all hold its Begindatum 20160310" in warning.message
    assert "applied to 200002, the one named last" in warning.message
    assert OLD.bsn not in warning.message and OLD.code not in warning.message


def test_a_toewijzing_without_number_whose_product_two_toewijzingen_share_is_refused(reference_dir: Path) -> None:
    chain = Chain()
    _both(chain)
    xml = message_301_unnumbered([OLD], "u3", _day(2), _at(2), LAST_DAY, 12000, None)
    assert chain.refused(xml, "u3") == ("StUF058", "clients")
    try:
        chain.converter.convert(xml, "u3")
    except Exception as exc:  # the text names the candidates by number, never the client
        assert "toewijzingen 200001, 200002" in str(exc) and OLD.bsn not in str(exc)
    assert chain.zaak("0384T200002")["extraElementen"]["product.omvang.volume"] == "18000"


def test_a_toewijzing_without_number_keeps_the_number_its_zaak_holds(reference_dir: Path) -> None:
    chain = Chain()
    chain.deliver(message_301([OLD], "u1", _day(0), _at(0), LAST_DAY, 22500, None), "u1")
    xml = message_301_unnumbered([OLD], "u2", _day(1), _at(1), LAST_DAY, 18000, None)
    assert chain.deliver(xml, "u2") == ["updateZaak 0384T200001"]
    zaak = chain.zaak("0384T200001")
    assert {"kenmerk": "200001", "bron": "ToewijzingNummer"} in zaak["kenmerken"]
    assert zaak["extraElementen"]["product.omvang.volume"] == "18000"
    # the number still names the zaak: a new toewijzing of the same product and day is a zaak of its own
    assert chain.deliver(message_301([NEW], "u3", _day(2), _at(2), LAST_DAY, 12000, None), "u3") == [
        "creeerZaak 0384T200002"]


def test_the_20_samples_never_leave_a_line_without_number_a_choice(reference_dir: Path) -> None:
    """2.0 has no ToewijzingNummer: every 301, 305 and 307 of the public samples is found by its product key alone,
    and no two toewijzingen of theirs share one (case C's herindicatie runs from another Ingangsdatum, 2016-10-10,
    than the toewijzing it follows, so it is a zaak of its own), so none of them gets the warning."""
    chain = Fixtures(reference_dir)
    convert = chain.converter.convert
    warned: list[str] = []

    def recording(data: bytes, name: str) -> Any:  # the real conversion, its warnings kept
        conversion = convert(data, name)
        warned.extend(w.message for w in conversion.warnings if "ToewijzingNummer" in w.message)
        return conversion

    chain.converter.convert = recording  # type: ignore[method-assign]
    samples_20(chain)
    assert warned == []
    case_c = [z for z in chain.zaken("BeschikkingNummer", "425386123", "WMOTOEW") if z["identificatie"][:4] == "0392"]
    assert sorted(z["startdatum"] for z in case_c) == ["20160215", "20161010"]
    assert chain.one("BeschikkingNummer", "658721123", "WMOTOEW", gemeente="0384")["statussen"][0]["statustype"] == \
        GESTART  # B-02's start without a number found B-01's toewijzing


def test_a_start_without_number_goes_to_the_newest_that_fits_when_the_last_named_does_not(
        reference_dir: Path) -> None:
    third = Toewijzing("200004", OLD.bsn, OLD.beschikking, OLD.code)  # a third of the same key
    chain = Chain()
    _both(chain)
    chain.deliver(message_301([third], "u3", _day(2), _at(2), FIRST_DAY, 9000, None), "u3")  # ends on its Ingangsdatum
    conversion = chain.converter.convert(message_305([OLD], "u4", _day(3), _day(3), False, numbered=False), "u4")
    assert [(o.operation, o.zaak) for o in conversion.outputs] == [("actualiseerZaakstatus", "0384T200002")]
    (warning,) = conversion.warnings
    assert "toewijzingen 200001, 200002, whose periods all hold" in warning.message
    assert "applied to 200002, the newest of them" in warning.message


def _jeugd(name: str, values: dict[str, str], drop_number: bool = False) -> bytes:
    """The iJw 2.1 fixture ``name`` with ``values`` set (every element of that local name) and, if asked, no
    ToewijzingNummer."""
    root = etree.fromstring((Path(__file__).parent / "fixtures" / "ijw21" / name).read_bytes())
    for local, value in values.items():
        _set(root, local, value)
    if drop_number:
        number = _one(root, "ToewijzingNummer")
        number.getparent().remove(number)
    return _bytes(root)


def test_a_jeugdwet_start_without_number_goes_by_its_begindatum_too(reference_dir: Path) -> None:
    chain = Chain()
    chain.deliver(_jeugd("JW301_toewijzing.xml", {"Identificatie": "j1"}), "j1")
    chain.deliver(_jeugd("JW301_toewijzing.xml", {"Identificatie": "j2", "ToewijzingNummer": "100003",
                                                  "Toewijzingstijd": "17:00:00", "Volume": "18000"}), "j2")
    chain.deliver(_jeugd("JW301_toewijzing.xml", {"Identificatie": "j3", "Toewijzingstijd": "18:00:00",
                                                  "Einddatum": "2016-03-07"}), "j3")  # 100002 ends on its first day
    start = _jeugd("JW305_start.xml", {"Identificatie": "j4"}, drop_number=True)
    assert chain.deliver(start, "j4") == ["actualiseerZaakstatus 0384JT100003"]
    assert _statussen(chain, "0384JT100002") == []


def test_a_32_start_without_number_is_refused_though_its_toewijzing_is_known(reference_dir: Path) -> None:
    """3.x has no 2.x product key (no BeschikkingNummer): a 305 line without its ToewijzingNummer finds no zaak, even
    for the client whose toewijzing was converted, and is refused (StUF064) rather than dropped or guessed."""
    run = Run(reference_dir)
    run.feed("301", (FIXTURES_32 / "WMO301_toewijzing_specifiek.xml").read_bytes())
    root = etree.fromstring((FIXTURES_32 / "WMO305_start.xml").read_bytes())
    number = _one(root, "ToewijzingNummer")
    number.getparent().remove(number)
    with pytest.raises(FAILURES) as info:
        run.feed("305 without number", _bytes(root))
    described = describe(info.value, "305 without number")  # as convert, batch and the sidecar report it
    assert (described.code, described.field) == ("StUF064", "clients")
    assert "no zaak is known for this start" in str(info.value)
    (zaak,) = run.receiver.snapshot().values()
    assert (zaak["statussen"], zaak["einddatum"]) == ([], None)
