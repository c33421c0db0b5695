"""The reference receiver on hand-written zakLk01 messages: every apply path and every refusal (issue 10).

Each message is written out below in full, as a StUF specialist would write it; each refusal test
asserts the StUF fout code and the rule, and changes the zaak store not at all.
"""

from __future__ import annotations

import json

import pytest

from gateway.receiver import Answer, Receiver

ZAAK = "0384RECV00001"
CLIENT_BSN = "999993653"  # a test BSN (elfproef valid), never shown unmasked
NS = ('xmlns:ZKN="http://www.egem.nl/StUF/sector/zkn/0310" xmlns:StUF="http://www.egem.nl/StUF/StUF0301" '
      'xmlns:BG="http://www.egem.nl/StUF/sector/bg/0310" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"')
CREEER = "http://www.egem.nl/StUF/sector/zkn/0310/creeerZaak_Lk01"
UPDATE = "http://www.egem.nl/StUF/sector/zkn/0310/updateZaak_Lk01"
STATUS = "http://www.egem.nl/StUF/sector/zkn/0310/actualiseerZaakstatus_Lk01"


def lk01(mutatiesoort: str, objects: str, ref: str, tijdstip: str, applicatie: str = "OVERSTAP") -> bytes:
    """A zakLk01 around ``objects``: the stuurgegevens every test message shares."""
    return f"""<ZKN:zakLk01 {NS}>
  <ZKN:stuurgegevens>
    <StUF:berichtcode>Lk01</StUF:berichtcode>
    <StUF:zender><StUF:organisatie>0384</StUF:organisatie><StUF:applicatie>{applicatie}</StUF:applicatie></StUF:zender>
    <StUF:ontvanger><StUF:organisatie>0384</StUF:organisatie><StUF:applicatie>ZAAKSYSTEEM</StUF:applicatie></StUF:ontvanger>
    <StUF:referentienummer>{ref}</StUF:referentienummer>
    <StUF:tijdstipBericht>{tijdstip}</StUF:tijdstipBericht>
    <StUF:entiteittype>ZAK</StUF:entiteittype>
  </ZKN:stuurgegevens>
  <ZKN:parameters><StUF:mutatiesoort>{mutatiesoort}</StUF:mutatiesoort><StUF:indicatorOvername>V</StUF:indicatorOvername></ZKN:parameters>
  {objects}
</ZKN:zakLk01>""".encode()


def creeer_object(identificatie: str = ZAAK, extra_relations: str = "", startdatum: str = "20260101") -> str:
    return f"""<ZKN:object StUF:entiteittype="ZAK" StUF:verwerkingssoort="T">
    <ZKN:identificatie>{identificatie}</ZKN:identificatie>
    <ZKN:omschrijving>Wmo toewijzing 01A01</ZKN:omschrijving>
    <ZKN:toelichting>Begeleiding</ZKN:toelichting>
    <ZKN:kenmerk><ZKN:kenmerk>1234567</ZKN:kenmerk><ZKN:bron>ToewijzingNummer</ZKN:bron></ZKN:kenmerk>
    <ZKN:startdatum>{startdatum}</ZKN:startdatum>
    <ZKN:registratiedatum>20260102</ZKN:registratiedatum>
    <ZKN:einddatumGepland>20261231</ZKN:einddatumGepland>
    <StUF:extraElementen><StUF:extraElement naam="product.code">01A01</StUF:extraElement></StUF:extraElementen>
    <ZKN:isVan StUF:entiteittype="ZAKZKT" StUF:verwerkingssoort="T">
      <ZKN:gerelateerde StUF:entiteittype="ZKT" StUF:verwerkingssoort="I">
        <ZKN:omschrijving>Toewijzing Wmo-ondersteuning</ZKN:omschrijving><ZKN:code>WMOTOEW</ZKN:code>
        <ZKN:ingangsdatumObject>20150101</ZKN:ingangsdatumObject>
      </ZKN:gerelateerde>
    </ZKN:isVan>
    <ZKN:heeftAlsInitiator StUF:entiteittype="ZAKBTRINI" StUF:verwerkingssoort="T">
      <ZKN:gerelateerde><ZKN:natuurlijkPersoon StUF:entiteittype="NPS" StUF:verwerkingssoort="T">
        <BG:inp.bsn>{CLIENT_BSN}</BG:inp.bsn><BG:geslachtsnaam>Jansen</BG:geslachtsnaam>
      </ZKN:natuurlijkPersoon></ZKN:gerelateerde>
    </ZKN:heeftAlsInitiator>
    <ZKN:heeftAlsUitvoerende StUF:entiteittype="ZAKBTRUTV" StUF:verwerkingssoort="T">
      <ZKN:gerelateerde><ZKN:nietNatuurlijkPersoon StUF:entiteittype="NNP" StUF:verwerkingssoort="T">
        <BG:ann.identificatie>00000000012345678</BG:ann.identificatie>
        <BG:statutaireNaam xsi:nil="true" StUF:noValue="waardeOnbekend"/>
      </ZKN:nietNatuurlijkPersoon></ZKN:gerelateerde>
      <ZKN:omschrijving>Zorgaanbieder</ZKN:omschrijving>
    </ZKN:heeftAlsUitvoerende>
    {extra_relations}
  </ZKN:object>"""


def update_objects(oud: str, nieuw: str, identificatie: str = ZAAK, vs: str = "W") -> str:
    """An oud and a nieuw ZAK object around the hand-written elements ``oud`` and ``nieuw``."""
    return "".join(f"""<ZKN:object StUF:entiteittype="ZAK" StUF:verwerkingssoort="{vs}">
    <ZKN:identificatie>{identificatie}</ZKN:identificatie>{body}
  </ZKN:object>""" for body in (oud, nieuw))


def status_objects(volgnummer: str, omschrijving: str, datum: str, identificatie: str = ZAAK) -> str:
    return update_objects(
        '<ZKN:heeft StUF:entiteittype="ZAKSTT" StUF:verwerkingssoort="T" xsi:nil="true" StUF:noValue="geenWaarde"/>',
        f"""<ZKN:heeft StUF:entiteittype="ZAKSTT" StUF:verwerkingssoort="T">
      <ZKN:gerelateerde StUF:entiteittype="STT" StUF:verwerkingssoort="I">
        <ZKN:zkt.code>WMOTOEW</ZKN:zkt.code><ZKN:volgnummer>{volgnummer}</ZKN:volgnummer>
        <ZKN:omschrijving>{omschrijving}</ZKN:omschrijving>
      </ZKN:gerelateerde>
      <ZKN:datumStatusGezet>{datum}</ZKN:datumStatusGezet>
    </ZKN:heeft>""", identificatie, vs="I")


def gestart(ref: str, tijdstip: str, applicatie: str = "OVERSTAP") -> bytes:
    """The actualiseerZaakstatus "Levering gestart" on ZAAK, as a 305 becomes it."""
    return lk01("W", status_objects("0001", "Levering gestart", "20260110"), ref, tijdstip, applicatie)


# The W of the happy path: omschrijving and einddatumGepland change, toelichting is removed, an
# extraElement changes and one is added. oud holds exactly the elements nieuw holds (Tabel 5.3).
W_OUD = """
    <ZKN:omschrijving>Wmo toewijzing 01A01</ZKN:omschrijving>
    <ZKN:toelichting>Begeleiding</ZKN:toelichting>
    <ZKN:einddatumGepland>20261231</ZKN:einddatumGepland>
    <StUF:extraElementen>
      <StUF:extraElement naam="product.code">01A01</StUF:extraElement>
      <StUF:extraElement naam="toewijzing.reden_wijziging" xsi:nil="true" StUF:noValue="geenWaarde"/>
    </StUF:extraElementen>"""
W_NIEUW = """
    <ZKN:omschrijving>Wmo toewijzing 01A02</ZKN:omschrijving>
    <ZKN:toelichting xsi:nil="true" StUF:noValue="geenWaarde"/>
    <ZKN:einddatumGepland>20260630</ZKN:einddatumGepland>
    <StUF:extraElementen>
      <StUF:extraElement naam="product.code">01A02</StUF:extraElement>
      <StUF:extraElement naam="toewijzing.reden_wijziging">01</StUF:extraElement>
    </StUF:extraElementen>"""

NEW_RELATION_OUD = ('<ZKN:heeftAlsBelanghebbende StUF:entiteittype="ZAKBTRBLH" StUF:verwerkingssoort="T" '
                    'xsi:nil="true" StUF:noValue="geenWaarde"/>')
NEW_RELATION_NIEUW = """<ZKN:heeftAlsBelanghebbende StUF:entiteittype="ZAKBTRBLH" StUF:verwerkingssoort="T">
      <ZKN:gerelateerde><ZKN:natuurlijkPersoon StUF:entiteittype="NPS" StUF:verwerkingssoort="T">
        <BG:inp.bsn>999990019</BG:inp.bsn><BG:geslachtsnaam>Jansen</BG:geslachtsnaam>
      </ZKN:natuurlijkPersoon></ZKN:gerelateerde>
      <ZKN:code>12</ZKN:code><ZKN:omschrijving>Partner</ZKN:omschrijving>
    </ZKN:heeftAlsBelanghebbende>"""


@pytest.fixture()
def receiver(reference_dir: object) -> Receiver:
    """A receiver that validates against the official schema (the reference dir is required)."""
    return Receiver()


@pytest.fixture()
def created(receiver: Receiver) -> Receiver:
    """A receiver holding the one zaak of CREEER."""
    answer = receiver.receive(lk01("T", creeer_object(), "ref-1", "20260102100000000"), CREEER)
    assert answer.accepted, answer.fout
    return receiver


def refused(answer: Answer, code: str, rule: str) -> None:
    assert not answer.accepted, "expected a Fo03"
    assert answer.berichtcode == "Fo03"
    assert (answer.code, answer.rule) == (code, rule), answer.fout


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
         "gezetDoor": None},
        {"statustype": "Levering gestopt", "volgnummer": "0003", "datumStatusGezet": "20260301", "toelichting": None,
         "gezetDoor": None},
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
        <ZKN:identificatie>0384RECV00001</ZKN:identificatie></ZKN:gerelateerde></ZKN:heeftBetrekkingOpAndere>"""
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
    answer = created.receive(lk01("W", update_objects(oud, nieuw, vs="I"), "ref-2", "20260102100000001"), UPDATE)
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
