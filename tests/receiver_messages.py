"""Hand-written zakLk01 messages and receivers for the reference-receiver tests (apply paths and refusals).

Each message is written out in full, as a StUF specialist would write it."""


from __future__ import annotations

import re

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
    <ZKN:zaakniveau>1</ZKN:zaakniveau>
    <ZKN:deelzakenIndicatie>N</ZKN:deelzakenIndicatie>
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


OMSCHRIJVING = "\n    <ZKN:omschrijving>Wmo toewijzing 01A01</ZKN:omschrijving>"
IS_VAN_I = """
    <ZKN:isVan StUF:entiteittype="ZAKZKT" StUF:verwerkingssoort="I">
      <ZKN:gerelateerde StUF:entiteittype="ZKT" StUF:verwerkingssoort="I">
        <ZKN:omschrijving>Toewijzing Wmo-ondersteuning</ZKN:omschrijving><ZKN:code>WMOTOEW</ZKN:code>
        <ZKN:ingangsdatumObject>20150101</ZKN:ingangsdatumObject>
      </ZKN:gerelateerde>
    </ZKN:isVan>"""
"""The zaak's isVan as a W names it among its kerngegevens (VNG's verwerkingssoort table: ``object.isVan,I``)."""
FIRST_RELATION = re.compile(r"\s*<ZKN:(?:isVan|heeft|leidtTot)")


def with_kern(body: str) -> str:
    """``body`` with the ZAK kerngegevens every object of a W carries (StUF 03.01 5.2.4): the omschrijving, unless
    ``body`` gives one (a W that changes it), and the isVan with verwerkingssoort I before the first relation,
    unless ``body`` has its own (a W that adds or replaces it: a ZAK holds one isVan)."""
    if not body.lstrip().startswith("<ZKN:omschrijving"):
        body = OMSCHRIJVING + body
    if "<ZKN:isVan" in body:
        return body
    found = FIRST_RELATION.search(body)
    at = found.start() if found else len(body)
    return body[:at] + IS_VAN_I + body[at:]


def update_objects(oud: str, nieuw: str, identificatie: str = ZAAK, vs: str = "W", sleutel: str | None = None) -> str:
    """An oud and a nieuw ZAK object around the hand-written elements ``oud`` and ``nieuw``, with the kerngegevens
    (:func:`with_kern`), or without them where the objects carry the receiver's own ``sleutel`` (sleutelOntvangend:
    StUF 03.01 5.2.4 asks no kerngegevens then)."""
    head = f' StUF:sleutelOntvangend="{sleutel}"' if sleutel else ""
    return "".join(f"""<ZKN:object StUF:entiteittype="ZAK" StUF:verwerkingssoort="{vs}"{head}>
    <ZKN:identificatie>{identificatie}</ZKN:identificatie>{body if sleutel else with_kern(body)}
  </ZKN:object>""" for body in (oud, nieuw))


GEZET_DOOR = """<ZKN:isGezetDoor StUF:entiteittype="ZAKSTTBTR" StUF:verwerkingssoort="I"><ZKN:gerelateerde>
        <ZKN:organisatorischeEenheid StUF:entiteittype="OEH" StUF:verwerkingssoort="I">
          <ZKN:identificatie>OEH-WMO</ZKN:identificatie><ZKN:naam>Team Wmo</ZKN:naam>
        </ZKN:organisatorischeEenheid></ZKN:gerelateerde></ZKN:isGezetDoor>"""
"""Who set a status: ZDS 1.2 §4.1.3.2 marks its medewerker or organisatorischeEenheid identificatie verplicht."""


STT_ONBEKEND = 'xsi:nil="true" StUF:noValue="waardeOnbekend"'
"""A statustype kerngegeven the sender does not know (code, ingangsdatumObject of the demo catalogue)."""


def status_objects(volgnummer: str, omschrijving: str, datum: str, identificatie: str = ZAAK,
                   gezet_door: str = GEZET_DOOR, zaaktype: str = "WMOTOEW", without: str = "") -> str:
    """actualiseerZaakstatus: the zaak identified, a status added, its statustype by all its kerngegevens;
    ``volgnummer`` "" leaves the element out, as ``without`` names another one to leave out."""
    nummer = f"<ZKN:volgnummer>{volgnummer}</ZKN:volgnummer>" if volgnummer else ""
    kern = {"zkt.omschrijving": "<ZKN:zkt.omschrijving>Toewijzing Wmo-ondersteuning</ZKN:zkt.omschrijving>",
            "code": f"<ZKN:code {STT_ONBEKEND}/>", "ingangsdatumObject": f"<ZKN:ingangsdatumObject {STT_ONBEKEND}/>"}
    kern.pop(without, None)
    return update_objects(
        '<ZKN:heeft StUF:entiteittype="ZAKSTT" StUF:verwerkingssoort="T" xsi:nil="true" StUF:noValue="geenWaarde"/>',
        f"""<ZKN:heeft StUF:entiteittype="ZAKSTT" StUF:verwerkingssoort="T">
      <ZKN:gerelateerde StUF:entiteittype="STT" StUF:verwerkingssoort="I">
        <ZKN:zkt.code>{zaaktype}</ZKN:zkt.code>{kern.get("zkt.omschrijving", "")}{nummer}{kern.get("code", "")}
        <ZKN:omschrijving>{omschrijving}</ZKN:omschrijving>{kern.get("ingangsdatumObject", "")}
      </ZKN:gerelateerde>
      <ZKN:datumStatusGezet>{datum}</ZKN:datumStatusGezet>
      {gezet_door}
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
