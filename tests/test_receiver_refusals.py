"""The reference receiver refuses what StUF 03.01 and ZDS 1.2 forbid: each test asserts the StUF fout code and
the rule, and that the zaak store did not change (issue 10)."""

from __future__ import annotations

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

# ---------------------------------------------------------------- refusals


def test_w_whose_oud_differs_from_the_stored_value_is_refused(created: Receiver) -> None:
    oud = W_OUD.replace("Wmo toewijzing 01A01", "Wmo toewijzing 99Z99")
    answer = created.receive(lk01("W", update_objects(oud, W_NIEUW), "ref-2", "20260102100000001"), UPDATE)
    refused(answer, "StUF058", "oud-mismatch")
    assert answer.fout.element == "omschrijving"
    assert created.zaak(ZAAK)["omschrijving"] == "Wmo toewijzing 01A01"  # nothing applied


def test_w_whose_oud_says_waarde_onbekend_for_a_known_value_is_refused(created: Receiver) -> None:
    oud = '<ZKN:einddatumGepland xsi:nil="true" StUF:noValue="waardeOnbekend"/>'
    nieuw = "<ZKN:einddatumGepland>20260630</ZKN:einddatumGepland>"
    answer = created.receive(lk01("W", update_objects(oud, nieuw), "ref-2", "20260102100000001"), UPDATE)
    refused(answer, "StUF058", "oud-mismatch")


def test_w_whose_oud_extra_element_differs_is_refused(created: Receiver) -> None:
    oud = W_OUD.replace(">01A01</StUF:extraElement>", ">07A03</StUF:extraElement>")
    answer = created.receive(lk01("W", update_objects(oud, W_NIEUW), "ref-2", "20260102100000001"), UPDATE)
    refused(answer, "StUF058", "oud-mismatch")
    assert answer.fout.element == "extraElement product.code"


def test_w_whose_oud_and_nieuw_hold_different_elements_is_refused(created: Receiver) -> None:
    oud = "<ZKN:omschrijving>Wmo toewijzing 01A01</ZKN:omschrijving>"
    nieuw = "<ZKN:omschrijving>Wmo toewijzing 01A02</ZKN:omschrijving><ZKN:einddatum>20260401</ZKN:einddatum>"
    answer = created.receive(lk01("W", update_objects(oud, nieuw), "ref-2", "20260102100000001"), UPDATE)
    refused(answer, "StUF055", "oud-nieuw-elements")
    assert answer.fout.element == "einddatum"


def test_w_whose_oud_and_nieuw_hold_different_extra_elements_is_refused(created: Receiver) -> None:
    nieuw = W_NIEUW.replace('<StUF:extraElement naam="toewijzing.reden_wijziging">01</StUF:extraElement>', "")
    answer = created.receive(lk01("W", update_objects(W_OUD, nieuw), "ref-2", "20260102100000001"), UPDATE)
    refused(answer, "StUF055", "oud-nieuw-elements")


def test_w_adding_a_second_zaaktype_is_refused(created: Receiver) -> None:
    oud = '<ZKN:isVan StUF:entiteittype="ZAKZKT" StUF:verwerkingssoort="T" xsi:nil="true" StUF:noValue="geenWaarde"/>'
    nieuw = """<ZKN:isVan StUF:entiteittype="ZAKZKT" StUF:verwerkingssoort="T">
      <ZKN:gerelateerde StUF:entiteittype="ZKT" StUF:verwerkingssoort="I">
        <ZKN:omschrijving>Andere</ZKN:omschrijving><ZKN:code>WMOANDER</ZKN:code>
        <ZKN:ingangsdatumObject>20150101</ZKN:ingangsdatumObject>
      </ZKN:gerelateerde></ZKN:isVan>"""
    objects = update_objects(oud, nieuw, vs="I", sleutel="zaak-1")  # one isVan a ZAK: no kerngegevens beside it
    answer = created.receive(lk01("W", objects, "ref-2", "20260102100000001"), UPDATE)
    refused(answer, "StUF058", "second-zaaktype")
    assert created.zaak(ZAAK)["zaaktype"] == "WMOTOEW"


def test_w_adding_a_second_initiator_is_refused(created: Receiver) -> None:
    oud = NEW_RELATION_OUD.replace("heeftAlsBelanghebbende", "heeftAlsInitiator").replace("ZAKBTRBLH", "ZAKBTRINI")
    nieuw = """<ZKN:heeftAlsInitiator StUF:entiteittype="ZAKBTRINI" StUF:verwerkingssoort="T">
      <ZKN:gerelateerde><ZKN:natuurlijkPersoon StUF:entiteittype="NPS" StUF:verwerkingssoort="T">
        <BG:inp.bsn>999990019</BG:inp.bsn></ZKN:natuurlijkPersoon></ZKN:gerelateerde></ZKN:heeftAlsInitiator>"""
    answer = created.receive(lk01("W", update_objects(oud, nieuw, vs="I"), "ref-2", "20260102100000001"), UPDATE)
    refused(answer, "StUF058", "second-initiator")


def test_w_replacing_the_zaaktype_is_refused(created: Receiver) -> None:
    isvan = """<ZKN:isVan StUF:entiteittype="ZAKZKT" StUF:verwerkingssoort="R">
      <ZKN:gerelateerde StUF:entiteittype="ZKT" StUF:verwerkingssoort="I">
        <ZKN:omschrijving>x</ZKN:omschrijving><ZKN:code>{}</ZKN:code>
        <ZKN:ingangsdatumObject>20150101</ZKN:ingangsdatumObject></ZKN:gerelateerde></ZKN:isVan>"""
    objects = update_objects(isvan.format("WMOTOEW"), isvan.format("WMOANDER"), vs="I")
    refused(created.receive(lk01("W", objects, "ref-2", "20260102100000001"), UPDATE), "StUF058", "zaaktype-immutable")


@pytest.mark.parametrize("tijdstip", ["20260102100000000", "20260101000000000"])
def test_a_tijdstip_not_greater_than_the_last_of_the_zender_is_refused(created: Receiver, tijdstip: str) -> None:
    answer = created.receive(gestart("ref-2", tijdstip),
                             STATUS)
    refused(answer, "StUF019", "tijdstipBericht")
    assert created.zaak(ZAAK)["statussen"] == []


@pytest.mark.parametrize("tijdstip", ["20261399100000001", "20260230100000001", "20260103240000001",
                                     "202601031", "99999999"])
def test_a_tijdstip_that_is_no_moment_is_refused(created: Receiver, tijdstip: str) -> None:
    # StUF 03.01 §3.3.1: MM 01-12, DD 01-31 (a valid date), hh 00-23; digits left off in steps (8, 10, 12, 14-17).
    # The schema's [0-9]{8,17} takes them all, and 99999999 would then outrank every later message of the zender.
    refused(created.receive(gestart("ref-2", tijdstip), STATUS), "StUF055", "tijdstipBericht")
    assert created.zaak(ZAAK)["statussen"] == []
    assert created.receive(gestart("ref-3", "20260103100000000"), STATUS).accepted  # the order was not moved on


@pytest.mark.parametrize("datum", ["20260230", "20261301", "20260110250000"])
def test_a_status_set_at_no_moment_is_refused(created: Receiver, datum: str) -> None:
    answer = created.receive(lk01("W", status_objects("0001", "Levering gestart", datum), "ref-2", "20260110000000000"),
                             STATUS)
    refused(answer, "StUF055", "status")
    assert answer.fout.element == "heeft/datumStatusGezet"
    assert created.zaak(ZAAK)["statussen"] == []


@pytest.mark.parametrize("startdatum", ["-2026", "1", "20261301", "20260231", "2026.0"])
def test_a_creeer_zaak_whose_startdatum_is_no_date_is_refused(receiver: Receiver, startdatum: str) -> None:
    # StUF:Datum is a decimal of at most 8 digits in the schema: all of these pass it and were stored as dates.
    answer = receiver.receive(lk01("T", creeer_object(startdatum=startdatum), "ref-1", "20260102100000000"), CREEER)
    refused(answer, "StUF055", "datum")
    assert answer.fout.element == "startdatum"
    assert len(receiver) == 0


def test_a_w_setting_a_date_that_is_none_is_refused_and_an_onvolledige_datum_taken(created: Receiver) -> None:
    nieuw = W_NIEUW.replace("20260630", "20260631")
    answer = created.receive(lk01("W", update_objects(W_OUD, nieuw), "ref-2", "20260102100000001"), UPDATE)
    refused(answer, "StUF055", "datum")
    assert created.zaak(ZAAK)["einddatumGepland"] == "20261231"
    onvolledig = W_NIEUW.replace("<ZKN:einddatumGepland>20260630",
                                 '<ZKN:einddatumGepland StUF:indOnvolledigeDatum="D">20260600')
    assert created.receive(lk01("W", update_objects(W_OUD, onvolledig), "ref-3", "20260102100000002"), UPDATE).accepted
    assert created.zaak(ZAAK)["einddatumGepland"] == "20260600"


@pytest.mark.parametrize(("oud", "nieuw"), [("A1", "B2"), ("A1", None)])
def test_oud_and_nieuw_with_another_sleutel_verzendend_are_refused(created: Receiver, oud: str,
                                                                    nieuw: str | None) -> None:
    # StUF 03.01 §5.2.4 overige regels: the sleutelVerzendend of oud and nieuw of a wijziging must be equal.
    objects = update_objects(W_OUD, W_NIEUW).split("</ZKN:object>")
    for at, key in enumerate((oud, nieuw)):
        if key is not None:
            keyed = f'verwerkingssoort="W" StUF:sleutelVerzendend="{key}">'
            objects[at] = objects[at].replace('verwerkingssoort="W">', keyed, 1)
    answer = created.receive(lk01("W", "</ZKN:object>".join(objects), "ref-2", "20260102100000001"), UPDATE)
    refused(answer, "StUF055", "sleutelVerzendend")
    assert created.zaak(ZAAK)["omschrijving"] == "Wmo toewijzing 01A01"


def test_a_reused_referentienummer_with_another_body_is_refused(created: Receiver) -> None:
    answer = created.receive(gestart("ref-1", "20260110000000000"), STATUS)
    refused(answer, "StUF016", "referentienummer-reused")
    assert created.zaak(ZAAK)["statussen"] == []


def test_a_w_on_an_unknown_zaak_is_refused(created: Receiver) -> None:
    objects = update_objects(W_OUD, W_NIEUW, identificatie="0384ONBEKEND")
    refused(created.receive(lk01("W", objects, "ref-2", "20260102100000001"), UPDATE), "StUF064", "unknown-zaak")


def test_a_status_on_an_unknown_zaak_is_refused(receiver: Receiver) -> None:
    answer = receiver.receive(gestart("ref-1", "20260110000000000"), STATUS)
    refused(answer, "StUF064", "unknown-zaak")
    assert len(receiver) == 0


def test_a_t_for_an_existing_zaak_is_refused(created: Receiver) -> None:
    answer = created.receive(lk01("T", creeer_object(), "ref-2", "20260102100000001"), CREEER)
    refused(answer, "StUF058", "zaak-exists")


def test_a_creeer_zaak_without_startdatum_is_refused(receiver: Receiver) -> None:
    objects = creeer_object().replace("<ZKN:startdatum>20260101</ZKN:startdatum>", "")
    refused(receiver.receive(lk01("T", objects, "ref-1", "20260102100000000"), CREEER),
            "StUF055", "creeerZaak-required")


def test_a_link_to_an_unknown_zaak_is_refused(receiver: Receiver) -> None:
    link = """<ZKN:heeftBetrekkingOpAndere StUF:entiteittype="ZAKZAKBTR" StUF:verwerkingssoort="T">
      <ZKN:gerelateerde StUF:entiteittype="ZAK" StUF:verwerkingssoort="I">
        <ZKN:identificatie>0384NIETBEKEND</ZKN:identificatie></ZKN:gerelateerde></ZKN:heeftBetrekkingOpAndere>"""
    refused(receiver.receive(lk01("T", creeer_object(extra_relations=link), "ref-1", "20260102100000000"), CREEER),
            "StUF064", "unknown-related-zaak")


def test_a_related_zaak_sent_with_t_is_refused(created: Receiver) -> None:
    link = """<ZKN:heeftBetrekkingOpAndere StUF:entiteittype="ZAKZAKBTR" StUF:verwerkingssoort="T">
      <ZKN:gerelateerde StUF:entiteittype="ZAK" StUF:verwerkingssoort="T">
        <ZKN:identificatie>0384RECV00001</ZKN:identificatie></ZKN:gerelateerde></ZKN:heeftBetrekkingOpAndere>"""
    answer = created.receive(lk01("T", creeer_object("0384RECV00002", link), "ref-2", "20260102100000001"), CREEER)
    refused(answer, "StUF058", "verwerkingssoort")
    assert answer.fout.element == "heeftBetrekkingOpAndere/gerelateerde"


def test_mutatiesoort_t_with_verwerkingssoort_w_is_refused(receiver: Receiver) -> None:
    objects = creeer_object().replace('StUF:entiteittype="ZAK" StUF:verwerkingssoort="T"',
                                      'StUF:entiteittype="ZAK" StUF:verwerkingssoort="W"', 1)
    refused(receiver.receive(lk01("T", objects, "ref-1", "20260102100000000")), "StUF058", "verwerkingssoort")


def test_an_object_with_verwerkingssoort_i_that_changes_elements_is_refused(created: Receiver) -> None:
    objects = update_objects(W_OUD, W_NIEUW, vs="I")
    refused(created.receive(lk01("W", objects, "ref-2", "20260102100000001"), UPDATE), "StUF055", "verwerkingssoort")


def test_a_relation_ended_with_e_in_a_correction_is_refused(created: Receiver) -> None:
    uitvoerende = """<ZKN:heeftAlsUitvoerende StUF:entiteittype="ZAKBTRUTV" StUF:verwerkingssoort="E">
      <ZKN:gerelateerde><ZKN:nietNatuurlijkPersoon StUF:entiteittype="NNP" StUF:verwerkingssoort="I">
        <BG:ann.identificatie>00000000012345678</BG:ann.identificatie>
      </ZKN:nietNatuurlijkPersoon></ZKN:gerelateerde></ZKN:heeftAlsUitvoerende>"""
    empty = ('<ZKN:heeftAlsUitvoerende StUF:entiteittype="ZAKBTRUTV" StUF:verwerkingssoort="E" xsi:nil="true" '
             'StUF:noValue="geenWaarde"/>')
    objects = update_objects(uitvoerende, empty, vs="I")
    refused(created.receive(lk01("C", objects, "ref-2", "20260102100000001")), "StUF055", "verwerkingssoort")
    assert created.receive(lk01("W", objects, "ref-3", "20260102100000002")).accepted  # W may end it (punt 6)
    assert created.zaak(ZAAK)["betrokkenen"] == []


def test_relations_with_another_verwerkingssoort_in_oud_than_in_nieuw_are_refused(created: Receiver) -> None:
    nieuw = NEW_RELATION_NIEUW.replace('StUF:verwerkingssoort="T">', 'StUF:verwerkingssoort="R">', 1)
    objects = update_objects(NEW_RELATION_OUD, nieuw, vs="I")
    refused(created.receive(lk01("W", objects, "ref-2", "20260102100000001")), "StUF055", "verwerkingssoort")


def test_an_added_relation_whose_oud_is_not_empty_is_refused(created: Receiver) -> None:
    objects = update_objects(NEW_RELATION_NIEUW, NEW_RELATION_NIEUW, vs="I")
    refused(created.receive(lk01("W", objects, "ref-2", "20260102100000001")), "StUF055", "relation-added-oud")


def test_an_emptied_element_without_no_value_is_refused(created: Receiver) -> None:
    nieuw = W_NIEUW.replace('<ZKN:toelichting xsi:nil="true" StUF:noValue="geenWaarde"/>',
                            '<ZKN:toelichting xsi:nil="true"/>')
    answer = created.receive(lk01("W", update_objects(W_OUD, nieuw), "ref-2", "20260102100000001"), UPDATE)
    refused(answer, "StUF055", "noValue")
    assert created.zaak(ZAAK)["toelichting"] == "Begeleiding"


@pytest.mark.parametrize(("element", "reason"),
                         [("einddatumGepland", "geenWaarde"), ("omschrijving", "waardeOnbekend")])
def test_a_no_value_beside_a_value_is_refused(created: Receiver, element: str, reason: str) -> None:
    # StUF 03.01 §3.4.1 Figuur 4: every noValue comes with "Elementinhoud: leeg". Read as geenWaarde, the
    # einddatumGepland below was emptied in the zaak although the message gave it a date.
    nieuw = W_NIEUW.replace(f"<ZKN:{element}>", f'<ZKN:{element} StUF:noValue="{reason}">')
    answer = created.receive(lk01("W", update_objects(W_OUD, nieuw), "ref-2", "20260102100000001"), UPDATE)
    refused(answer, "StUF055", "noValue")
    assert answer.fout.element == element
    assert created.zaak(ZAAK)["einddatumGepland"] == "20261231"
    assert created.zaak(ZAAK)["omschrijving"] == "Wmo toewijzing 01A01"


def test_a_relation_with_no_value_and_a_gerelateerde_is_refused(receiver: Receiver) -> None:
    # §3.4.2: a relation-entiteit with a noValue is taken "zonder elementinhoud".
    objects = creeer_object().replace('"ZAKBTRUTV" StUF:verwerkingssoort="T">',
                                      '"ZAKBTRUTV" StUF:verwerkingssoort="T" StUF:noValue="geenWaarde">')
    answer = receiver.receive(lk01("T", objects, "ref-1", "20260102100000000"), CREEER)
    refused(answer, "StUF055", "noValue")
    assert answer.fout.element == "heeftAlsUitvoerende"
    assert len(receiver) == 0


def test_an_unsupported_mutatiesoort_is_refused(created: Receiver) -> None:
    objects = creeer_object().replace('StUF:verwerkingssoort="T"', 'StUF:verwerkingssoort="V"', 1)
    refused(created.receive(lk01("V", objects, "ref-2", "20260102100000001")), "StUF058", "mutatiesoort")


def test_a_soap_action_that_does_not_fit_the_message_is_refused(created: Receiver) -> None:
    answer = created.receive(gestart("ref-2", "20260110000000000"), UPDATE)
    refused(answer, "StUF058", "soapaction")
    assert created.zaak(ZAAK)["statussen"] == []


def test_an_unknown_soap_action_is_refused(receiver: Receiver) -> None:
    answer = receiver.receive(lk01("T", creeer_object(), "ref-1", "20260102100000000"), "voegZaakdocumentToe_Lk01")
    refused(answer, "StUF025", "soapaction-unknown")


def test_a_message_against_the_schema_is_refused(receiver: Receiver) -> None:
    objects = creeer_object().replace("<ZKN:startdatum>20260101</ZKN:startdatum>",
                                      "<ZKN:startdatum>1 januari</ZKN:startdatum>")
    answer = receiver.receive(lk01("T", objects, "ref-1", "20260102100000000"), CREEER)
    refused(answer, "StUF055", "schema")
    assert "startdatum" in answer.fout.text and "1 januari" not in answer.fout.text  # values stay out of answers


def test_a_value_with_a_quote_stays_out_of_a_schema_refusal_whole(receiver: Receiver) -> None:
    """Review s18: the value was cut at its first quote, so ``D'Souza`` left ``Souza`` in the Fo03; now the
    value is told by its shape, whole."""
    objects = creeer_object().replace("<ZKN:startdatum>20260101</ZKN:startdatum>",
                                      "<ZKN:startdatum>D&apos;Souza Jansen</ZKN:startdatum>")
    answer = receiver.receive(lk01("T", objects, "ref-1", "20260102100000000"), CREEER)
    refused(answer, "StUF055", "schema")
    assert "Souza" not in answer.fout.text and "Jansen" not in answer.fout.text
    assert "(14 characters: letters, spaces and other characters)" in answer.fout.text


@pytest.mark.parametrize("data", [b"", b"<not xml", b'<!DOCTYPE x [<!ENTITY a "b">]><x/>'])
def test_unreadable_input_is_refused_without_crashing(receiver: Receiver, data: bytes) -> None:
    refused(receiver.receive(data), "StUF055", "xml")


def test_another_message_than_zak_lk01_is_refused(receiver: Receiver) -> None:
    refused(receiver.receive(b'<ZKN:zakLv01 xmlns:ZKN="http://www.egem.nl/StUF/sector/zkn/0310"/>'),
            "StUF025", "berichtcode")


def test_a_refusal_carries_what_a_fo03_body_needs(created: Receiver) -> None:
    answer = created.receive(gestart("ref-1", "20260110000000000"), STATUS)
    assert answer.zender is not None and str(answer.zender) == "0384/OVERSTAP/"  # the Fo03 goes back to it
    assert (answer.fout.code, answer.fout.plek) == ("StUF016", "client")
    assert answer.fout.omschrijving.endswith("(StUF 03.01 §4.4.3)")
    assert answer.fout.details == "rule referentienummer-reused; element stuurgegevens/referentienummer"


def test_only_the_last_remembered_referentienummers_are_kept() -> None:
    receiver = Receiver(validate=False, remembered=1)
    first = lk01("T", creeer_object(), "ref-1", "20260102100000000")
    assert receiver.receive(first).accepted
    assert receiver.receive(gestart("ref-2", "20260110000000000")).accepted
    again = receiver.receive(first)  # ref-1 is forgotten: no longer a duplicate, so the tijdstip check answers
    assert (again.duplicate, again.code) == (False, "StUF019")


def test_removing_the_initiator_without_a_replacement_is_refused(created: Receiver) -> None:
    oud = f"""<ZKN:heeftAlsInitiator StUF:entiteittype="ZAKBTRINI" StUF:verwerkingssoort="V">
      <ZKN:gerelateerde><ZKN:natuurlijkPersoon StUF:entiteittype="NPS" StUF:verwerkingssoort="I">
        <BG:inp.bsn>{CLIENT_BSN}</BG:inp.bsn></ZKN:natuurlijkPersoon></ZKN:gerelateerde></ZKN:heeftAlsInitiator>"""
    nieuw = ('<ZKN:heeftAlsInitiator StUF:entiteittype="ZAKBTRINI" StUF:verwerkingssoort="V" xsi:nil="true" '
             'StUF:noValue="geenWaarde"/>')
    answer = created.receive(lk01("W", update_objects(oud, nieuw, vs="I"), "ref-2", "20260102100000001"), UPDATE)
    refused(answer, "StUF058", "heeftAlsInitiator-required")
    assert created.zaak(ZAAK)["initiator"] is not None


def test_a_zaak_closed_at_its_eindstatus_takes_no_status_and_no_update(created: Receiver) -> None:
    """ZDS 1.2 4.1.3: at the eindstatus "dient het ZS de betreffende zaak af te sluiten"; actualiseerZaakstatus and
    updateZaak (4.1.5) change a lopende zaak only. "Afgehandeld" is the demo catalogue's eindstatus."""
    eind = lk01("W", status_objects("0009", "Afgehandeld", "20260401"), "ref-2", "20260402000000000")
    assert created.receive(eind, STATUS).accepted
    stop = lk01("W", status_objects("0003", "Levering gestopt", "20260401"), "ref-3", "20260402000000001")
    refused(created.receive(stop, STATUS), "StUF058", "zaak-closed")
    oud = "<ZKN:einddatumGepland>20261231</ZKN:einddatumGepland>"
    later = lk01("W", update_objects(oud, "<ZKN:einddatumGepland>20260630</ZKN:einddatumGepland>"), "ref-4",
                 "20260402000000002")
    refused(created.receive(later, UPDATE), "StUF058", "zaak-closed")
    zaak = created.zaak(ZAAK)
    assert [(s["statustype"], s["datumStatusGezet"]) for s in zaak["statussen"]] == [("Afgehandeld", "20260401")]
    assert (zaak["einddatumGepland"], zaak["berichten"]) == ("20261231", ["ref-1", "ref-2"])


def test_a_receiver_with_other_eindstatussen_closes_at_those(reference_dir: object) -> None:
    own = Receiver(eindstatussen=frozenset({"Zaak afgerond"}))
    assert own.receive(lk01("T", creeer_object(), "ref-1", "20260102100000000"), CREEER).accepted
    afgehandeld = lk01("W", status_objects("0009", "Afgehandeld", "20260401"), "ref-2", "20260402000000000")
    assert own.receive(afgehandeld, STATUS).accepted  # not an eindstatus of this ZTC
    afgerond = lk01("W", status_objects("0010", "Zaak afgerond", "20260402"), "ref-3", "20260402000000001")
    assert own.receive(afgerond, STATUS).accepted
    stop = lk01("W", status_objects("0003", "Levering gestopt", "20260403"), "ref-4", "20260402000000002")
    refused(own.receive(stop, STATUS), "StUF058", "zaak-closed")


def test_the_receiver_imports_nothing_above_ingest_and_reference() -> None:
    """It sits at the top floor beside the shells but must not lean on render or pipeline (it judges them)."""
    import ast
    from pathlib import Path

    import gateway.receiver

    allowed = ("gateway.ingest", "gateway.reference")
    for path in Path(gateway.receiver.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gateway"):
                modules = [f"gateway.{a.name}" for a in node.names] if node.module == "gateway" else [node.module]
                assert all(m.startswith(allowed) for m in modules), (path.name, modules)
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("gateway") for a in node.names), path.name
