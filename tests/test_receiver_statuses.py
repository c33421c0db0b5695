"""The reference receiver works out a zaak's latest status from datumStatusGezet, not from arrival (ZDS 1.2
§4.1.3.1), and refuses a status it could not place: one that ties with the latest, or one with the kerngegevens
(statustype + datumStatusGezet) of a status the zaak already has. Values written by hand."""

from __future__ import annotations

import pytest
from receiver_messages import GEZET_DOOR, STATUS, ZAAK, lk01, refused, status_objects

from gateway.receiver import Receiver
from gateway.receiver.statuses import compare


def _status(receiver: Receiver, ref: str, tijdstip: str, volgnummer: str, omschrijving: str, datum: str) -> bool:
    answer = receiver.receive(lk01("W", status_objects(volgnummer, omschrijving, datum), ref, tijdstip), STATUS)
    return answer.accepted


def test_the_latest_status_is_the_one_with_the_greatest_datum_status_gezet(created: Receiver) -> None:
    assert _status(created, "ref-2", "20260110000000000", "0001", "Levering gestart", "20260110000000000")
    assert _status(created, "ref-3", "20260111000000000", "0002", "Start levering ingetrokken", "20260108000000000")
    zaak = created.zaak(ZAAK)
    assert zaak is not None
    assert [s["statustype"] for s in zaak["statussen"]] == ["Levering gestart", "Start levering ingetrokken"]
    assert zaak["laatsteStatus"]["statustype"] == "Levering gestart"  # arrived first, but the later date


def test_a_status_that_ties_with_the_latest_is_refused(created: Receiver) -> None:
    assert _status(created, "ref-2", "20260110000000000", "0001", "Levering gestart", "20260110")
    answer = created.receive(lk01("W", status_objects("0002", "Start levering ingetrokken", "20260110"), "ref-3",
                                  "20260111000000000"), STATUS)
    refused(answer, "StUF058", "status-tie")
    assert [s["statustype"] for s in created.zaak(ZAAK)["statussen"]] == ["Levering gestart"]  # type: ignore[index]


def test_a_date_and_a_moment_of_that_day_tie(created: Receiver) -> None:
    """StUF 03.01 §3.3.1: a Tijdstip coded as a date is one whose time within the day is not known."""
    assert _status(created, "ref-2", "20260110000000000", "0001", "Levering gestart", "20260110")
    answer = created.receive(lk01("W", status_objects("0003", "Levering gestopt", "20260110000000001"), "ref-3",
                                  "20260111000000000"), STATUS)
    refused(answer, "StUF058", "status-tie")


def test_a_status_with_the_kerngegevens_of_one_held_is_refused(created: Receiver) -> None:
    assert _status(created, "ref-2", "20260110000000000", "0002", "Start levering ingetrokken", "20260108")
    assert _status(created, "ref-3", "20260110000000001", "0001", "Levering gestart", "20260110")
    answer = created.receive(lk01("W", status_objects("0002", "Start levering ingetrokken", "20260108"), "ref-4",
                                  "20260111000000000"), STATUS)
    refused(answer, "StUF058", "status-exists")
    assert len(created.zaak(ZAAK)["statussen"]) == 2  # type: ignore[index]


def test_an_earlier_status_is_history_and_accepted(created: Receiver) -> None:
    assert _status(created, "ref-2", "20260110000000000", "0001", "Levering gestart", "20260110")
    assert _status(created, "ref-3", "20260111000000000", "0002", "Start levering ingetrokken", "20260105")
    assert created.zaak(ZAAK)["laatsteStatus"]["statustype"] == "Levering gestart"  # type: ignore[index]


def test_tijdstippen_compare_on_the_digits_both_have() -> None:
    assert compare("20230308000000001", "20230308000000000") == 1
    assert compare("20230308", "20230308235959999") == 0
    assert compare("20230307", "20230308000000000") == -1
    assert compare("20230309", "20230308235959999") == 1


EEN_MEDEWERKER = """<ZKN:isGezetDoor StUF:entiteittype="ZAKSTTBTR" StUF:verwerkingssoort="I"><ZKN:gerelateerde>
        <ZKN:medewerker StUF:entiteittype="MDW" StUF:verwerkingssoort="I">
          <ZKN:identificatie>MDW-0042</ZKN:identificatie></ZKN:medewerker></ZKN:gerelateerde></ZKN:isGezetDoor>"""
NOBODY = """<ZKN:isGezetDoor StUF:entiteittype="ZAKSTTBTR" StUF:verwerkingssoort="I"><ZKN:gerelateerde>
        <ZKN:organisatorischeEenheid StUF:entiteittype="OEH" StUF:verwerkingssoort="I">
          <ZKN:naam>Team Wmo</ZKN:naam></ZKN:organisatorischeEenheid></ZKN:gerelateerde></ZKN:isGezetDoor>"""


@pytest.mark.parametrize(("volgnummer", "gezet_door", "element"), [
    ("", GEZET_DOOR, "heeft/gerelateerde/volgnummer"),
    ("0001", "", "heeft/isGezetDoor/gerelateerde/identificatie"),
    ("0001", NOBODY, "heeft/isGezetDoor/gerelateerde/identificatie"),
])
def test_a_status_without_what_zds_makes_verplicht_is_refused(created: Receiver, volgnummer: str, gezet_door: str,
                                                              element: str) -> None:
    """ZDS 1.2 §4.1.3.2, actualiseerZaakstatus: the Statustype-volgnummer and the identificatie of the medewerker or
    organisatorischeEenheid that set the status are "v" (verplicht); a receiver taking a status without them hid a
    gateway that did not send them."""
    message = lk01("W", status_objects(volgnummer, "Levering gestart", "20260110", gezet_door=gezet_door), "ref-2",
                   "20260110000000000")
    answer = created.receive(message, STATUS)
    refused(answer, "StUF055", "status")
    assert answer.fout.element == element and "ZDS 1.2 §4.1.3.2" in answer.fout.omschrijving
    assert created.zaak(ZAAK)["statussen"] == []


def test_a_status_set_by_a_medewerker_is_accepted(created: Receiver) -> None:
    message = lk01("W", status_objects("0001", "Levering gestart", "20260110", gezet_door=EEN_MEDEWERKER), "ref-2",
                   "20260110000000000")
    assert created.receive(message, STATUS).accepted
    assert created.zaak(ZAAK)["statussen"][0]["gezetDoor"] == "identificatie=MDW-0042"
