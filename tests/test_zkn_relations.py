"""The initiator's afwijkendCorrespondentieAdres (iWmo Contact Soort 02): sent in the creeerZaak, changed in a W
with the relation's verwerkingssoort W (StUF 03.01 5.2.6 item 3, Tabel 5.5 "Wijzigen relatie") and emptied with
xsi:nil, as the reference receiver applies it; the client's e-mail the same way, as the initiator's one extraElement
``emailadres`` (ZDS 1.2 4.1.4.2), also from a ledger written before it moved there. Values are hand-written into a
copy of the public CasusA-02."""

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


# ------------------------------------------------ the client's e-mail on heeftAlsInitiator (ZDS 1.2 4.1.4.2)

EMAIL = b"<wmo301:Emailadres>DHRGaastra@email.nl</wmo301:Emailadres>"
"""The client's e-mail address in CasusA-02 (the partner has one of its own, dsmistral@email.nl)."""


def _initiator_emails(xml: bytes) -> list[tuple[str | None, list[str | None]]]:
    """Per object: heeftAlsInitiator's verwerkingssoort and its emailadres values (None: geenWaarde)."""
    out = []
    for obj in etree.fromstring(xml).findall(f"{{{ZKN}}}object"):
        for relation in obj.findall(f"{{{ZKN}}}heeftAlsInitiator"):
            out.append((relation.get(f"{{{STUF}}}verwerkingssoort"),
                        [e.text for e in relation.iter(f"{{{STUF}}}extraElement") if e.get("naam") == "emailadres"]))
    return out


def _zak_extra(xml: bytes, side: int = 0) -> dict[str, str | None]:
    obj = etree.fromstring(xml).findall(f"{{{ZKN}}}object")[side]
    return {e.get("naam", ""): e.text for e in obj.findall(f"{{{STUF}}}extraElementen/{{{STUF}}}extraElement")}


def _held_email(run: Run, zaak: str) -> object:
    """The initiator's emailadres the receiver holds, unmasked (its snapshot masks contact data)."""
    (initiator,) = run.receiver._zaken[zaak].related("heeftAlsInitiator")
    return initiator.details.get("extraElementen", {}).get("emailadres")


def test_the_client_s_email_is_the_initiator_s_and_its_change_a_w_of_that_relation(run: Run) -> None:
    a02 = (run.folder / A02).read_bytes()
    (created,) = run.feed(A02).outputs
    assert _initiator_emails(created.xml) == [("T", ["DHRGaastra@email.nl"])]
    assert "client.emailadres" not in _zak_extra(created.xml) and "emailadres" not in _zak_extra(created.xml)
    partner = etree.fromstring(created.xml).find(f".//{{{ZKN}}}heeftAlsBelanghebbende")
    assert {e.get("naam"): e.text for e in partner.iter(f"{{{STUF}}}extraElement")} == {
        "emailadres": "dsmistral@email.nl"}  # no relatie.naamgebruik, relatie.telefoonnummer any more
    assert _held_email(run, created.zaak) == "DHRGaastra@email.nl"

    (changed,) = run.feed("A-02, another e-mail", a02.replace(EMAIL, EMAIL.replace(b"DHRGaastra", b"gaastra"))).outputs
    assert changed.operation == "updateZaak"
    assert _initiator_emails(changed.xml) == [("W", ["DHRGaastra@email.nl"]), ("W", ["gaastra@email.nl"])]
    assert _zak_extra(changed.xml) == _zak_extra(changed.xml, 1) == {}  # no ZAK extraElement changed
    assert _held_email(run, created.zaak) == "gaastra@email.nl"  # the receiver applied the W (Tabel 5.5)

    (removed,) = run.feed("A-02, no e-mail", a02.replace(EMAIL, b"")).outputs
    assert _initiator_emails(removed.xml) == [("W", ["gaastra@email.nl"]), ("W", [None])]
    assert _held_email(run, created.zaak) is None


def test_drop_contact_drops_the_initiator_s_and_the_relatives_emailadres(reference_dir: Path) -> None:
    """The privacy option ``drop: [contact]`` still drops the client's e-mail in its new place."""
    import dataclasses

    from gateway.render import RenderSettings

    settings = RenderSettings()
    zaaktypen = {key: dataclasses.replace(z, drop=z.drop | {"contact"}) for key, z in settings.zaaktypen.items()}
    run = Run(reference_dir, dataclasses.replace(settings, zaaktypen=zaaktypen))
    (created,) = run.feed(A02).outputs
    assert _initiator_emails(created.xml) == [("T", [])]
    assert b'naam="emailadres"' not in created.xml and b"email.nl" not in created.xml


def _old_style(run: Run, xml: bytes, zaak: str) -> bytes:
    """The zaak as a ledger and a receiver hold it when made before 6 December 2026: the client's e-mail the ZAK's
    extraElement ``client.emailadres``, none on the initiator, the relatives' contact data ``relatie.*`` in the
    ledger. Returns the creeerZaak as it was sent then (the relatives' relatie.* left out: the reference receiver
    refuses them now, and a W never compares a betrokkene's extraElementen)."""
    with run.converter.ledger.transaction() as tx:
        state = tx.state(zaak)
        email = (state["initiator"].pop("extra", None) or {}).get("emailadres")
        if email:
            state["extra"]["client.emailadres"] = email
        for betrokkene in state["betrokkenen"]:
            mail = betrokkene["extra"].pop("emailadres", None)
            betrokkene["extra"] = {"relatie.naamgebruik": "1", "relatie.telefoonnummer": "0201234567",
                                   **({"relatie.emailadres": mail} if mail else {})}
        tx.put_state(zaak, state)
    root = etree.fromstring(xml)
    obj = root.find(f"{{{ZKN}}}object")
    for relation in obj:
        if etree.QName(relation).localname.startswith("heeftAls"):
            for extra in relation.findall(f"{{{STUF}}}extraElementen"):
                relation.remove(extra)
    if email:
        zak = obj.find(f"{{{STUF}}}extraElementen")
        etree.SubElement(zak, f"{{{STUF}}}extraElement", naam="client.emailadres").text = email
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_a_zaak_made_before_the_move_gets_one_valid_w_that_moves_the_email(run: Run) -> None:
    """Decided (docs/canonical-spec.md 3): the receiver holds client.emailadres on the ZAK, so the first 301 after the
    upgrade removes it there (geenWaarde) and adds emailadres to the initiator (W, oud geenWaarde), in one updateZaak
    the receiver applies; after it the same 301 is no change. The relatives' old relatie.* data cause no update."""
    a02 = (run.folder / A02).read_bytes()
    (created,) = run.converter.convert(a02, A02).outputs
    old = _old_style(run, created.xml, created.zaak)
    assert run.receiver.receive(old, created.soap_action).accepted
    assert run.receiver.zaak(created.zaak)["extraElementen"]["client.emailadres"]  # type: ignore[index]
    assert _held_email(run, created.zaak) is None

    (moved,) = run.feed(A02).outputs  # Run.feed: every output accepted by the receiver
    assert moved.operation == "updateZaak"
    assert (_zak_extra(moved.xml), _zak_extra(moved.xml, 1)) == ({"client.emailadres": "DHRGaastra@email.nl"},
                                                                 {"client.emailadres": None})
    assert _initiator_emails(moved.xml) == [("W", [None]), ("W", ["DHRGaastra@email.nl"])]
    assert [etree.QName(r).localname for r in etree.fromstring(moved.xml).iter(f"{{{ZKN}}}heeftAlsBelanghebbende")
            ] == []  # the relative is the same person: not re-sent for its old extraElementen
    held = run.receiver.zaak(created.zaak)
    assert "client.emailadres" not in held["extraElementen"]  # type: ignore[index]
    assert _held_email(run, created.zaak) == "DHRGaastra@email.nl"
    assert run.feed(A02).outputs == []  # the state is the new one now


def test_a_zaak_made_before_the_move_without_email_gets_no_update(run: Run) -> None:
    a02 = (run.folder / A02).read_bytes().replace(EMAIL, b"")
    (created,) = run.converter.convert(a02, A02).outputs
    assert run.receiver.receive(_old_style(run, created.xml, created.zaak), created.soap_action).accepted
    with run.converter.ledger.transaction() as tx:
        assert "extra" not in tx.state(created.zaak)["initiator"]  # as an old ledger holds it
    again = run.converter.convert(a02, A02)
    assert again.outputs == [] and again.outcome.startswith("no change")
