"""The initiator's afwijkendCorrespondentieAdres (iWmo Contact Soort 02): sent in the creeerZaak, changed in a W
with the relation's verwerkingssoort W (StUF 03.01 5.2.6 item 3, Tabel 5.5 "Wijzigen relatie") and emptied with
xsi:nil, as the reference receiver applies it. Values are hand-written into a copy of the public CasusA-02."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from receiver_run import Run

from gateway.receiver import Receiver

ZKN, STUF, BG = ("http://www.egem.nl/StUF/sector/zkn/0310", "http://www.egem.nl/StUF/StUF0301",
                 "http://www.egem.nl/StUF/sector/bg/0310")
A02 = "CasusA-02-WMO301_toewijzing.xml"
CLOSE = b"</wmo301:Adressen>"


def with_post_address(a02: bytes, huisnummer: str, postcode: str) -> bytes:
    """CasusA-02 with a second client address of Soort 02 (correspondentieadres)."""
    adres = (f"<wmo301:Adres><wmo301:Soort>02</wmo301:Soort><wmo301:Adres><iwmo:Huis><iwmo:Huisnummer>{huisnummer}"
             f"</iwmo:Huisnummer></iwmo:Huis><iwmo:Postcode>{postcode}</iwmo:Postcode><iwmo:Straatnaam>Postweg"
             "</iwmo:Straatnaam><iwmo:Plaatsnaam>Diemen</iwmo:Plaatsnaam><iwmo:LandCode>NL</iwmo:LandCode>"
             "</wmo301:Adres></wmo301:Adres>").encode()
    assert a02.count(CLOSE) == 1
    return a02.replace(CLOSE, adres + CLOSE)


def address(relation: etree._Element) -> dict[str, str | None] | None:
    group = relation.find(f"{{{ZKN}}}afwijkendCorrespondentieAdres")
    if group is None:
        return None
    return {etree.QName(e).localname: e.text for e in group}


@pytest.fixture()
def run(reference_dir: Path) -> Run:
    return Run(reference_dir)


def test_the_correspondence_address_is_sent_changed_and_emptied(run: Run) -> None:
    a02 = (run.folder / A02).read_bytes()
    (created,) = run.feed("A-02 with Postweg 12", with_post_address(a02, "12", "1111AA")).outputs
    initiator = etree.fromstring(created.xml).find(f".//{{{ZKN}}}heeftAlsInitiator")
    assert address(initiator) == {"wpl.woonplaatsNaam": "Diemen", "postcode": "1111AA",
                                  "gor.openbareRuimteNaam": "Postweg", "gor.straatnaam": "Postweg",
                                  "aoa.huisnummer": "12", "aoa.huisletter": None, "aoa.huisnummertoevoeging": None}
    assert run.receiver.zaak(created.zaak)["initiator"]["afwijkendCorrespondentieAdres"] == [  # type: ignore[index]
        "aoa.huisletter", "aoa.huisnummer", "aoa.huisnummertoevoeging", "gor.openbareRuimteNaam",
        "gor.straatnaam", "postcode", "wpl.woonplaatsNaam"]  # the receiver shows which, not the values

    (moved,) = run.feed("A-02 with Postweg 14", with_post_address(a02, "14", "1111AB")).outputs
    assert moved.operation == "updateZaak"
    oud, nieuw = etree.fromstring(moved.xml).findall(f"{{{ZKN}}}object")
    sides = []
    for obj in (oud, nieuw):
        assert obj.get(f"{{{STUF}}}verwerkingssoort") == "I"  # only a relation changed
        relation = obj.find(f"{{{ZKN}}}heeftAlsInitiator")
        person = relation.find(f"{{{ZKN}}}gerelateerde/{{{ZKN}}}natuurlijkPersoon")
        assert (relation.get(f"{{{STUF}}}verwerkingssoort"), person.get(f"{{{STUF}}}verwerkingssoort")) == ("W", "I")
        assert person.findtext(f"{{{BG}}}inp.bsn") == "123456782"
        sides.append((address(relation) or {}).get("postcode"))
    assert sides == ["1111AA", "1111AB"]

    (emptied,) = run.feed("A-02 without", a02).outputs  # accepted: its oud (1111AB) is what the receiver holds
    nieuw_relation = etree.fromstring(emptied.xml).findall(f"{{{ZKN}}}object")[1].find(f"{{{ZKN}}}heeftAlsInitiator")
    assert nieuw_relation.find(f"{{{ZKN}}}afwijkendCorrespondentieAdres").get(
        "{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"
    assert "afwijkendCorrespondentieAdres" not in run.receiver.zaak(created.zaak)["initiator"]  # type: ignore[index]


def test_a_changed_relation_whose_oud_is_not_what_the_receiver_holds_is_refused(run: Run) -> None:
    a02 = (run.folder / A02).read_bytes()
    run.feed("A-02 with Postweg 12", with_post_address(a02, "12", "1111AA"))
    converter = run.converter
    other = Receiver()  # a receiver that got the zaak without the correspondence address
    (created,) = Run(run.folder.parent.parent).feed(A02).outputs
    assert other.receive(created.xml, created.soap_action).accepted
    (moved,) = converter.convert(with_post_address(a02, "14", "1111AB"), "moved").outputs
    answer = other.receive(moved.xml, moved.soap_action)
    assert (answer.accepted, answer.code, answer.rule) == (False, "StUF058", "oud-mismatch")
    assert answer.fout is not None and answer.fout.element == "heeftAlsInitiator/afwijkendCorrespondentieAdres"


def test_a_relative_gone_is_dropped_with_v_and_one_come_is_added_with_t(run: Run) -> None:
    a02 = (run.folder / A02).read_bytes()
    (created,) = run.feed(A02).outputs
    partner = run.receiver.zaak(created.zaak)["betrokkenen"][0]  # type: ignore[index]
    assert (partner["rol"], partner["code"], partner["omschrijving"]) == ("heeftAlsBelanghebbende", "12", "Partner")
    (changed,) = run.feed("A-02 with another partner", a02.replace(b">Mistral<", b">Bora<")).outputs
    oud, nieuw = etree.fromstring(changed.xml).findall(f"{{{ZKN}}}object")
    pairs = [(r.get(f"{{{STUF}}}verwerkingssoort"), r.get(f"{{{STUF}}}noValue"),
              r.findtext(f".//{{{BG}}}geslachtsnaam")) for obj in (oud, nieuw)
             for r in obj.findall(f"{{{ZKN}}}heeftAlsBelanghebbende")]
    assert pairs == [("V", None, "Mistral"), ("T", "geenWaarde", None),  # oud: the one that goes; the added empty
                     ("V", "geenWaarde", None), ("T", None, "Bora")]  # nieuw: the gone empty; the one that comes
    gerelateerde = oud.find(f"{{{ZKN}}}heeftAlsBelanghebbende/{{{ZKN}}}gerelateerde/{{{ZKN}}}natuurlijkPersoon")
    assert gerelateerde.get(f"{{{STUF}}}verwerkingssoort") == "I"  # Tabel 5.5 Verwijderen relatie: K/Sleutel, I
    after = run.receiver.zaak(created.zaak)["betrokkenen"]  # type: ignore[index]
    assert [(b["rol"], b.get("code")) for b in after] == [("heeftAlsUitvoerende", None),
                                                          ("heeftAlsBelanghebbende", "12")]
    assert after[1]["identificatie"] != partner["identificatie"]  # another person, found by its kerngegevens
