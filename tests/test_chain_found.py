"""What the chain property (test_chain_property.py) found, each shrunk into a plain chain with its values written out:
messages built from the iWmo 2.1 fixtures (chain_messages.py), one Converter with one ledger, the reference receiver
getting every output in order, the zaken found by identificatie and kenmerk. One 3.2 chain found beside it is fed
from tests/fixtures/iwmo32 (test_chains.py's Chain)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from chain_messages import FIRST_DAY, LAST_DAY, message_301, message_305, message_315
from chain_oracle import GESTART
from clocks import StepClock
from test_chain_property import TOEWIJZINGEN, registry
from test_chain_property_32 import message_301 as message_301_32
from test_chain_property_32 import message_315 as message_315_32
from test_chain_property_requests import message_301_of, message_317
from test_chains import Chain as Fixtures

from gateway.ledger import MemoryLedger
from gateway.pipeline import FAILURES, Converter, describe
from gateway.receiver import Receiver

MOMENT = dt.datetime(2016, 3, 7, 9, 0, 0)
VERZOEK_32, SPECIFIEK_32, VOW_32 = ("iwmo32/WMO315_verzoek.xml", "iwmo32/WMO301_toewijzing_specifiek.xml",
                                   "iwmo32/WMO317_verzoek_wijziging.xml")


class Chain:
    """One Converter with one ledger; the receiver gets every output in order and must accept it."""

    def __init__(self) -> None:
        self.converter = Converter(registry(), validate=True, ledger=MemoryLedger(), clock=StepClock())
        self.receiver = Receiver()

    def deliver(self, xml: bytes, name: str) -> list[str]:
        outputs = self.converter.convert(xml, name).outputs
        for output in outputs:
            assert self.receiver.receive(output.xml, output.soap_action).accepted, name
        return [f"{o.operation} {o.zaak}" for o in outputs]

    def refused(self, xml: bytes, name: str) -> tuple[str, str | None]:
        with pytest.raises(FAILURES) as caught:
            self.deliver(xml, name)
        info = describe(caught.value, name)
        return info.code, info.field

    def zaak(self, identificatie: str) -> dict[str, Any]:
        zaak = self.receiver.zaak(identificatie)
        assert zaak is not None, identificatie
        return zaak


def _day(n: int) -> dt.date:
    return FIRST_DAY + dt.timedelta(days=n)


def _at(n: int) -> dt.datetime:
    return MOMENT + dt.timedelta(days=n)


def test_a_new_toewijzingnummer_for_the_same_product_and_day_is_a_zaak_of_its_own(reference_dir: Path) -> None:
    """Found by the property (shrunk to two 301s): a toewijzing replaced from the same day by one with a new
    ToewijzingNummer shares the old one's 2.x product key (beschikking, aanbieder, product, Ingangsdatum), and the
    ledger found the old zaak by that alias: the new 301 became an updateZaak of zaak 0384T200001 (its volume
    overwritten, a second ToewijzingNummer kenmerk) and a 305 for the new toewijzing set its status there."""
    old, new = TOEWIJZINGEN[0], TOEWIJZINGEN[1]
    chain = Chain()
    assert chain.deliver(message_301([old], "reg000000001", _day(0), _at(0), LAST_DAY, 22500, None), "old") == [
        "creeerZaak 0384T200001"]
    start = message_305([new], "reg000000002", _day(0), FIRST_DAY, False)
    assert chain.refused(start, "start of new") == ("StUF064", "clients")  # no zaak known for 200002: not 200001's
    assert chain.deliver(message_301([new], "reg000000003", _day(1), _at(1), LAST_DAY, 18000, None), "new") == [
        "creeerZaak 0384T200002"]
    assert chain.deliver(start, "start of new") == ["actualiseerZaakstatus 0384T200002"]
    for nummer, volume, statussen in (("200001", "22500", []), ("200002", "18000", [GESTART])):
        zaak = chain.zaak(f"0384T{nummer}")
        assert [k["kenmerk"] for k in zaak["kenmerken"] if k["bron"] == "ToewijzingNummer"] == [nummer]
        assert zaak["extraElementen"]["product.omvang.volume"] == volume
        assert [s["statustype"] for s in zaak["statussen"]] == statussen


def test_a_second_request_for_the_same_product_is_a_request_of_its_own(reference_dir: Path) -> None:
    """Found by the property: two 315s of one client for one product (a request answered, then one for more) share
    the 2.x aanvraag-product key (beschikking, aanbieder, product). Found by it, the second, with a new
    ReferentieAanbieder, was taken for the first: refused once that was answered (StUF058, "A new request needs a
    new ReferentieAanbieder", which it had), else merged into it."""
    t = TOEWIJZINGEN[0]
    chain = Chain()
    assert chain.deliver(message_315(t, "reg000000011", _day(0), "VZ-1"), "315 VZ-1") == ["creeerZaak 0384AVZ-1"]
    assert chain.deliver(message_301([t], "reg000000012", _day(1), _at(1), LAST_DAY, 22500, None, "VZ-1"),
                         "301 VZ-1") == ["creeerZaak 0384T200001", "updateZaak 0384AVZ-1",
                                         "actualiseerZaakstatus 0384AVZ-1"]
    assert chain.deliver(message_315(t, "reg000000013", _day(5), "VZ-2"), "315 VZ-2") == ["creeerZaak 0384AVZ-2"]
    zaak = chain.zaak("0384AVZ-2")
    assert (zaak["einddatum"], zaak["statussen"]) == (None, [])
    assert {"kenmerk": "VZ-2", "bron": "ReferentieAanbieder"} in zaak["kenmerken"]


def test_a_toewijzing_naming_its_request_does_not_answer_another(reference_dir: Path) -> None:
    """Found by the property: a 301 line that names its request (ReferentieAanbieder VZ-1) also followed the 2.x
    aanvraag-product key to the client's later request for the same product (VZ-2), and a correction of the
    toewijzing closed that one "Toegewezen". The alias is the way of a line without a ReferentieAanbieder
    (canonical-spec 1); such a line still answers the request the key names."""
    t = TOEWIJZINGEN[0]
    chain = Chain()
    chain.deliver(message_315(t, "reg000000021", _day(0), "VZ-1"), "315 VZ-1")
    chain.deliver(message_301([t], "reg000000022", _day(1), _at(1), LAST_DAY, 22500, None, "VZ-1"), "301 VZ-1")
    chain.deliver(message_315(t, "reg000000023", _day(5), "VZ-2"), "315 VZ-2")
    assert chain.deliver(message_301([t], "reg000000024", _day(6), _at(6), LAST_DAY, 18000, None, "VZ-1"),
                         "301 VZ-1 corrected") == ["updateZaak 0384T200001"]  # VZ-2 not answered
    assert chain.zaak("0384AVZ-2")["einddatum"] is None
    assert chain.deliver(message_301([t], "reg000000025", _day(7), _at(7), LAST_DAY, 20000, None),
                         "301 without a ReferentieAanbieder") == [
        "updateZaak 0384T200001", "updateZaak 0384AVZ-2", "actualiseerZaakstatus 0384AVZ-2"]  # by the key
    zaak = chain.zaak("0384AVZ-2")
    assert (zaak["einddatum"], zaak["resultaat"]["omschrijving"]) == ("20160314", "Toegewezen (zaak 0384T200001)")


def test_the_same_request_again_after_its_answer_changes_nothing(reference_dir: Path) -> None:
    """Found by the property: a 315 sent again unchanged with a later Dagtekening, after the toewijzing answered it,
    was refused (StUF058, "this later request changes it"): the request was compared with the aanvraagzaak's end,
    which the answer set, not the request. Canonical-spec 1 refuses a *changed* line for an answered aanvraagzaak;
    the unchanged one is "no change", a changed one is still refused."""
    t = TOEWIJZINGEN[2]
    chain = Chain()
    chain.deliver(message_315(t, "reg000000031", _day(0), "VZ-3"), "315")
    chain.deliver(message_301([t], "reg000000032", _day(0), _at(0), LAST_DAY, 22500, None, "VZ-3"), "301")
    again = message_315(t, "reg000000033", _day(1), "VZ-3")
    assert chain.deliver(again, "315 again") == []
    zaak = chain.zaak("0384AVZ-3")
    assert (zaak["einddatum"], zaak["resultaat"]["omschrijving"]) == ("20160307", "Toegewezen (zaak 0384T200003)")
    changed = again.replace(b"<iwmo:Volume>6</iwmo:Volume>", b"<iwmo:Volume>8</iwmo:Volume>")
    assert changed != again
    assert chain.refused(changed, "315 changed") == ("StUF058", "clients")


def test_a_request_after_one_whose_referentie_holds_a_colon_is_a_request_of_its_own(reference_dir: Path) -> None:
    """Found by the property once a ReferentieAanbieder held ``:`` (LDT_Referentie: any string of 1-36): the chain
    keys are joined with ``:``, so the first request's key ``aanvraag:0384:VZ:1`` read as a 317 line's (four
    parts), not a 315's, and a second request (VZ-2) found by the shared 2.x aanvraag-product key was taken for it:
    refused once that was answered (StUF058). The first request's answer and kenmerk are its own still."""
    t = TOEWIJZINGEN[0]
    chain = Chain()
    first = chain.deliver(message_315(t, "reg000000041", _day(0), "VZ:1"), "315 VZ:1")
    assert len(first) == 1 and first[0].startswith("creeerZaak 0384A-")  # not a safe identificatie: a hash
    named = first[0].split()[1]
    assert chain.deliver(message_301([t], "reg000000042", _day(1), _at(1), LAST_DAY, 22500, None, "VZ:1"),
                         "301 VZ:1") == ["creeerZaak 0384T200001", f"updateZaak {named}",
                                         f"actualiseerZaakstatus {named}"]
    assert chain.deliver(message_315(t, "reg000000043", _day(5), "VZ-2"), "315 VZ-2") == ["creeerZaak 0384AVZ-2"]
    assert (chain.zaak("0384AVZ-2")["einddatum"], chain.zaak("0384AVZ-2")["statussen"]) == (None, [])
    zaak = chain.zaak(named)
    assert (zaak["einddatum"], zaak["resultaat"]["omschrijving"]) == ("20160308", "Toegewezen (zaak 0384T200001)")
    assert [k["kenmerk"] for k in zaak["kenmerken"] if k["bron"] == "ReferentieAanbieder"] == ["VZ:1"]
    assert chain.zaak("0384T200001")["heeftBetrekkingOpAndere"] == [named]


def test_a_315_whose_referentie_holds_a_colon_is_not_a_317_lines_request(reference_dir: Path) -> None:
    """Found beside the one above (the same keys joined with ``:``): a 3.2 315 line with ReferentieAanbieder
    ``VOW-2023-0001:320001`` had the key ``aanvraag:0384:VOW-2023-0001:320001``, which is also the key of the 317
    line of ReferentieAanbieder VOW-2023-0001 asking to change toewijzing 320001: that line became an updateZaak of
    the 315's aanvraagzaak, whose kenmerk and startdatum it overwrote (the request was gone from the receiver)."""
    chain = Fixtures(reference_dir)
    chain.feed("315", chain.source(VERZOEK_32).replace(b"VZ-2023-0001", b"VOW-2023-0001:320001"))
    chain.feed_all([SPECIFIEK_32, VOW_32])
    assert [(name, o.operation) for name, o, answer in chain.delivered if answer.accepted] == [
        ("315", "creeerZaak"), ("315", "creeerZaak"), (SPECIFIEK_32, "creeerZaak"), (VOW_32, "creeerZaak"),
        (VOW_32, "creeerZaak")]
    request = chain.one("ReferentieAanbieder", "VOW-2023-0001:320001", "WMOAANV")
    assert (request["startdatum"], request["einddatum"]) == ("20230301", None)
    asked = chain.one("ToewijzingNummer", "320001", "WMOAANV")
    assert asked["identificatie"] != request["identificatie"]
    assert {"kenmerk": "VOW-2023-0001", "bron": "ReferentieAanbieder"} in asked["kenmerken"]
    assert asked["startdatum"] == "20230601"


def test_a_referentie_holding_the_escape_of_a_colon_is_another_request(reference_dir: Path) -> None:
    """The key escaping above is one to one only with ``%`` escaped too: else ``VZ%3A2`` and ``VZ:2`` had one key,
    and the second 315 was taken for the first request, refused once a toewijzing had answered it (StUF058)."""
    chain = Chain()
    (first,) = chain.deliver(message_315_32("p32-1", _day(0), "VZ:2"), "315 VZ:2")
    chain.deliver(message_301_32("p32-2", _day(1), _at(1), "320001", "VZ:2"), "301 VZ:2")
    (second,) = chain.deliver(message_315_32("p32-3", _day(2), "VZ%3A2"), "315 VZ%3A2")
    assert first.startswith("creeerZaak 0384A-") and second.startswith("creeerZaak 0384A-") and first != second
    zaak = chain.zaak(second.split()[1])
    assert [k["kenmerk"] for k in zaak["kenmerken"] if k["bron"] == "ReferentieAanbieder"] == ["VZ%3A2"]
    assert (zaak["einddatum"], zaak["statussen"]) == (None, [])


def test_a_toewijzing_of_a_budget_answers_the_317_line_that_asked_for_it(reference_dir: Path) -> None:
    """Found by the request property (test_chain_property_requests.py) once a 317 line could ask for a budget (a
    NieuwProduct with a Budget and no Product, CD079, as the JW317 fixture's): only a line with a Product was bound
    to the new-product key and only a 301 line with one followed it, so the 301 that created the generieke
    toewijzing under the 317's ReferentieAanbieder answered nothing and the aanvraagzaak stayed open for ever. A
    toewijzing of a product answers a budget request no more than one of another product."""
    chain = Chain()
    (asked,) = chain.deliver(message_317("p32-b1", _day(0), "VOW-B", [("p", None)], 5), "317 budget")
    request = asked.split()[1]
    assert chain.zaak(request)["extraElementen"]["product.budget"] == "250000"
    assert chain.deliver(message_301_of("p32-b2", _day(1), _at(1), "320001", "VOW-B", "02A01", False),
                         "301 of 02A01") == ["creeerZaak 0384T320001"]
    assert chain.deliver(message_301_of("p32-b3", _day(2), _at(2), "320004", "VOW-B", None, False),
                         "301 of a budget") == ["creeerZaak 0384T320004", f"updateZaak {request}",
                                                f"actualiseerZaakstatus {request}"]
    zaak = chain.zaak(request)
    assert (zaak["einddatum"], zaak["resultaat"]["omschrijving"]) == ("20160309", "Toegewezen (zaak 0384T320004)")
    assert chain.zaak("0384T320004")["heeftBetrekkingOpAndere"] == [request]
    assert chain.zaak("0384T320001")["heeftBetrekkingOpAndere"] == []
