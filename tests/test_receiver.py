"""The reference receiver on hand-written zakLk01 messages: every apply path (issue 10). Refusals are in
tests/test_receiver_refusals.py; the messages in tests/receiver_messages.py."""

from __future__ import annotations

import json

import pytest
from receiver_messages import (
    CLIENT_BSN,
    CREEER,
    NEW_RELATION_NIEUW,
    NEW_RELATION_OUD,
    STATUS,
    UPDATE,
    W_NIEUW,
    W_OUD,
    ZAAK,
    creeer_object,
    gestart,
    lk01,
    refused,
    status_objects,
    update_objects,
)

from gateway.receiver import Receiver

# ---------------------------------------------------------------- apply paths


def test_creeer_zaak_stores_the_zaak_field_by_field(created: Receiver) -> None:
    zaak = created.zaak(ZAAK)
    assert zaak == {
        "identificatie": ZAAK,
        "zaaktype": "WMOTOEW",
        "omschrijving": "Wmo toewijzing 01A01",
        "toelichting": "Begeleiding",
        "startdatum": "20260101",
        "registratiedatum": "20260102",
        "einddatumGepland": "20261231",
        "einddatum": None,
        "resultaat": None,
        "kenmerken": [{"kenmerk": "1234567", "bron": "ToewijzingNummer"}],
        "initiator": {"soort": "natuurlijkPersoon", "identificatie": "inp.bsn=*******53"},
        "betrokkenen": [{"rol": "heeftAlsUitvoerende", "soort": "nietNatuurlijkPersoon",
                         "identificatie": "ann.identificatie=00000000012345678", "omschrijving": "Zorgaanbieder"}],
        "heeftBetrekkingOpAndere": [],
        "deelzaken": [],
        "hoofdzaak": [],
        "statussen": [],
        "laatsteStatus": None,
        "extraElementen": {"product.code": "01A01"},
        "berichten": ["ref-1"],
    }
    assert CLIENT_BSN not in json.dumps(created.snapshot())  # never unmasked


def test_creeer_zaak_answers_bv03_naming_operation_and_zaak(receiver: Receiver) -> None:
    answer = receiver.receive(lk01("T", creeer_object(), "ref-1", "20260102100000000"), f'"{CREEER}"')
    assert (answer.berichtcode, answer.referentienummer, answer.zaak, answer.operation) == (
        "Bv03", "ref-1", ZAAK, "creeerZaak")


def test_update_zaak_changes_exactly_the_nieuw_values_and_geen_waarde_removes(created: Receiver) -> None:
    answer = created.receive(lk01("W", update_objects(W_OUD, W_NIEUW), "ref-2", "20260102100000001"), UPDATE)
    assert (answer.accepted, answer.operation) == (True, "updateZaak"), answer.fout
    zaak = created.zaak(ZAAK)
    assert zaak["omschrijving"] == "Wmo toewijzing 01A02"
    assert zaak["toelichting"] is None  # removed by noValue="geenWaarde"
    assert zaak["einddatumGepland"] == "20260630"
    assert zaak["startdatum"] == "20260101"  # not in the W: unchanged
    assert zaak["extraElementen"] == {"product.code": "01A02", "toewijzing.reden_wijziging": "01"}
    assert zaak["berichten"] == ["ref-1", "ref-2"]


def test_update_zaak_ends_the_zaak_with_resultaat_and_einddatum(created: Receiver) -> None:
    oud = '<ZKN:resultaat xsi:nil="true"/><ZKN:einddatum xsi:nil="true" StUF:noValue="geenWaarde"/>'
    nieuw = ("<ZKN:resultaat><ZKN:omschrijving>Toewijzing ingetrokken</ZKN:omschrijving></ZKN:resultaat>"
             "<ZKN:einddatum>20260401</ZKN:einddatum>")
    assert created.receive(lk01("W", update_objects(oud, nieuw), "ref-2", "20260402000000000"), UPDATE).accepted
    zaak = created.zaak(ZAAK)
    assert (zaak["resultaat"], zaak["einddatum"]) == ({"omschrijving": "Toewijzing ingetrokken"}, "20260401")


def test_update_zaak_adds_a_relation_t_with_an_empty_oud(created: Receiver) -> None:
    objects = update_objects(NEW_RELATION_OUD, NEW_RELATION_NIEUW, vs="I")
    answer = created.receive(lk01("W", objects, "ref-2", "20260102100000001"), UPDATE)
    assert (answer.accepted, answer.operation) == (True, "updateZaak"), answer.fout
    assert created.zaak(ZAAK)["betrokkenen"][-1] == {
        "rol": "heeftAlsBelanghebbende", "soort": "natuurlijkPersoon", "identificatie": "inp.bsn=*******19",
        "code": "12", "omschrijving": "Partner"}


def test_update_zaak_removes_a_relation_with_v(created: Receiver) -> None:
    created.receive(lk01("W", update_objects(NEW_RELATION_OUD, NEW_RELATION_NIEUW, vs="I"), "ref-2",
                         "20260102100000001"), UPDATE)
    oud = NEW_RELATION_NIEUW.replace('StUF:verwerkingssoort="T">', 'StUF:verwerkingssoort="V">', 1)
    nieuw = NEW_RELATION_OUD.replace('"T"', '"V"')
    answer = created.receive(lk01("W", update_objects(oud, nieuw, vs="I"), "ref-3", "20260102100000002"), UPDATE)
    assert answer.accepted, answer.fout
    assert [b["rol"] for b in created.zaak(ZAAK)["betrokkenen"]] == ["heeftAlsUitvoerende"]


def test_update_zaak_replaces_the_initiator_with_r(created: Receiver) -> None:
    initiator = """<ZKN:heeftAlsInitiator StUF:entiteittype="ZAKBTRINI" StUF:verwerkingssoort="R">
      <ZKN:gerelateerde><ZKN:natuurlijkPersoon StUF:entiteittype="NPS" StUF:verwerkingssoort="I">
        <BG:inp.bsn>{}</BG:inp.bsn></ZKN:natuurlijkPersoon></ZKN:gerelateerde></ZKN:heeftAlsInitiator>"""
    objects = update_objects(initiator.format(CLIENT_BSN), initiator.format("999990019"), vs="I")
    assert created.receive(lk01("W", objects, "ref-2", "20260102100000001"), UPDATE).accepted
    assert created.zaak(ZAAK)["initiator"] == {"soort": "natuurlijkPersoon", "identificatie": "inp.bsn=*******19"}


@pytest.mark.parametrize(("held", "inner_vs"), [("", "I"), (CLIENT_BSN, "T")])
def test_a_replaced_relation_must_name_the_held_object_with_i_in_oud(created: Receiver, held: str,
                                                                      inner_vs: str) -> None:
    relation = """<ZKN:heeftAlsInitiator StUF:entiteittype="ZAKBTRINI" StUF:verwerkingssoort="R">
      <ZKN:gerelateerde><ZKN:natuurlijkPersoon StUF:entiteittype="NPS" StUF:verwerkingssoort="{}">{}
      </ZKN:natuurlijkPersoon></ZKN:gerelateerde></ZKN:heeftAlsInitiator>"""
    names = f"<BG:inp.bsn>{held}</BG:inp.bsn>" if held else (  # no kerngegeven with a value: names no one
        '<BG:geslachtsnaam xsi:nil="true" StUF:noValue="waardeOnbekend"/>')
    oud = relation.format(inner_vs, names)
    nieuw = relation.format("T", "<BG:inp.bsn>999990019</BG:inp.bsn>")
    answer = created.receive(lk01("W", update_objects(oud, nieuw, vs="I"), "ref-2", "20260102100000001"), UPDATE)
    refused(answer, "StUF055", "relation-replaced-oud" if not held else "verwerkingssoort")
    assert created.zaak(ZAAK)["initiator"]["identificatie"] == f"inp.bsn=*******{CLIENT_BSN[-2:]}"


def test_update_zaak_changes_a_relations_own_elements_with_w(created: Receiver) -> None:
    uitvoerende = """<ZKN:heeftAlsUitvoerende StUF:entiteittype="ZAKBTRUTV" StUF:verwerkingssoort="W">
      <ZKN:gerelateerde><ZKN:nietNatuurlijkPersoon StUF:entiteittype="NNP" StUF:verwerkingssoort="I">
        <BG:ann.identificatie>00000000012345678</BG:ann.identificatie>
      </ZKN:nietNatuurlijkPersoon></ZKN:gerelateerde>
      <ZKN:omschrijving>{}</ZKN:omschrijving></ZKN:heeftAlsUitvoerende>"""
    objects = update_objects(uitvoerende.format("Zorgaanbieder"), uitvoerende.format("Hoofdaannemer"), vs="I")
    assert created.receive(lk01("W", objects, "ref-2", "20260102100000001"), UPDATE).accepted
    assert created.zaak(ZAAK)["betrokkenen"][0]["omschrijving"] == "Hoofdaannemer"


def test_a_correction_c_replaces_all_kenmerken(created: Receiver) -> None:
    oud = "<ZKN:kenmerk><ZKN:kenmerk>1234567</ZKN:kenmerk><ZKN:bron>ToewijzingNummer</ZKN:bron></ZKN:kenmerk>"
    nieuw = ("<ZKN:kenmerk><ZKN:kenmerk>1234576</ZKN:kenmerk><ZKN:bron>ToewijzingNummer</ZKN:bron></ZKN:kenmerk>"
             "<ZKN:kenmerk><ZKN:kenmerk>425386123</ZKN:kenmerk><ZKN:bron>BeschikkingNummer</ZKN:bron></ZKN:kenmerk>")
    answer = created.receive(lk01("C", update_objects(oud, nieuw), "ref-2", "20260102100000001"))
    assert (answer.accepted, answer.operation) == (True, "updateZaak"), answer.fout
    assert created.zaak(ZAAK)["kenmerken"] == [{"kenmerk": "1234576", "bron": "ToewijzingNummer"},
                                               {"kenmerk": "425386123", "bron": "BeschikkingNummer"}]


def test_actualiseer_zaakstatus_appends_to_the_status_history(created: Receiver) -> None:
    first = created.receive(gestart("ref-2", "20260110000000000"), STATUS)
    second = created.receive(lk01("W", status_objects("0003", "Levering gestopt", "20260301"), "ref-3",
                                  "20260301000000000"), STATUS)
    assert (first.operation, second.operation) == ("actualiseerZaakstatus", "actualiseerZaakstatus")
    assert created.zaak(ZAAK)["statussen"] == [
        {"statustype": "Levering gestart", "volgnummer": "0001", "datumStatusGezet": "20260110", "toelichting": None,
         "gezetDoor": "identificatie=OEH-WMO"},
        {"statustype": "Levering gestopt", "volgnummer": "0003", "datumStatusGezet": "20260301", "toelichting": None,
         "gezetDoor": "identificatie=OEH-WMO"},
    ]


def test_a_status_without_soap_action_is_recognised_by_its_content(created: Receiver) -> None:
    answer = created.receive(gestart("ref-2", "20260110000000000"))
    assert answer.operation == "actualiseerZaakstatus"


def test_a_message_in_a_soap_envelope_is_applied(receiver: Receiver) -> None:
    body = lk01("T", creeer_object(), "ref-1", "20260102100000000")
    envelope = (b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
                + body + b"</soap:Body></soap:Envelope>")
    assert receiver.receive(envelope, CREEER).accepted
    assert len(receiver) == 1


def test_a_linked_zaak_names_the_zaak_it_relates_to(created: Receiver) -> None:
    link = """<ZKN:heeftBetrekkingOpAndere StUF:entiteittype="ZAKZAKBTR" StUF:verwerkingssoort="T">
      <ZKN:gerelateerde StUF:entiteittype="ZAK" StUF:verwerkingssoort="I">
        <ZKN:identificatie>0384RECV00001</ZKN:identificatie>
        <ZKN:omschrijving>Wmo toewijzing 01A01</ZKN:omschrijving>
        <ZKN:isVan StUF:entiteittype="ZAKZKT"><ZKN:gerelateerde StUF:entiteittype="ZKT">
          <ZKN:omschrijving>Toewijzing Wmo-ondersteuning</ZKN:omschrijving><ZKN:code>WMOTOEW</ZKN:code>
          <ZKN:ingangsdatumObject>20150101</ZKN:ingangsdatumObject>
        </ZKN:gerelateerde></ZKN:isVan>
      </ZKN:gerelateerde></ZKN:heeftBetrekkingOpAndere>"""
    answer = created.receive(lk01("T", creeer_object("0384RECV00002", link), "ref-2", "20260102100000001"), CREEER)
    assert answer.accepted, answer.fout
    assert created.zaak("0384RECV00002")["heeftBetrekkingOpAndere"] == [ZAAK]


def test_the_same_message_twice_is_applied_once_and_answered_alike(created: Receiver) -> None:
    message = gestart("ref-2", "20260110000000000")
    first, again = created.receive(message, STATUS), created.receive(message, STATUS)
    assert (first.accepted, again.accepted, again.duplicate, again.referentienummer) == (True, True, True, "ref-2")
    assert len(created.zaak(ZAAK)["statussen"]) == 1
    assert created.zaak(ZAAK)["berichten"] == ["ref-1", "ref-2"]


def test_tijdstip_rises_per_zender_not_across_zenders(created: Receiver) -> None:
    other = gestart("ref-2", "20260101000000000", applicatie="ANDERE")
    assert created.receive(other, STATUS).accepted  # earlier than ref-1, but another zender
