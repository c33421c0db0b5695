"""Profile zkn v2: chains of the public samples become zaken a receiver can apply (issue 10).

Expected values are written by hand from the sample files (CasusA/B/C 2.0), not taken from the code.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from lxml import etree
from shared_registry import shared_registry

from gateway.ledger import MemoryLedger, SqliteLedger
from gateway.mapping import ConversionError, Registry
from gateway.pipeline import Conversion, Converter
from gateway.zaken.registry import is_written

NS = {"ZKN": "http://www.egem.nl/StUF/sector/zkn/0310", "StUF": "http://www.egem.nl/StUF/StUF0301",
      "BG": "http://www.egem.nl/StUF/sector/bg/0310"}
STUF_VS, STUF_NV, STUF_EX = (f"{{{NS['StUF']}}}{n}" for n in ("verwerkingssoort", "noValue", "extraElement"))
NOON = dt.datetime(2026, 12, 4, 12, 0, 0)
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def sample(reference_dir: Path, name: str) -> bytes:
    return (reference_dir / "samples" / "iwmo20-xml" / name).read_bytes()


def convert(converter: Converter, reference_dir: Path, name: str) -> Conversion:
    return converter.convert(sample(reference_dir, name), name)


def tree(xml: bytes) -> etree._Element:
    return etree.fromstring(xml)


def texts(node: etree._Element, path: str) -> list[str | None]:
    return [e.text for e in node.findall(path, NS)]


def objects(xml: bytes) -> list[etree._Element]:
    return tree(xml).findall("ZKN:object", NS)


@pytest.fixture()
def converter(reference_dir: Path, registry: Registry) -> Converter:
    """A fresh converter (its own zaak ledger) per test, on the module's registry (reading the mappings again cost
    0.3 s of CPU a test)."""
    return Converter(registry, validate=True, clock=lambda: NOON)


def test_a_new_toewijzing_is_one_creeer_zaak_with_data_in_its_place(converter: Converter, reference_dir: Path
                                                                      ) -> None:
    (out,) = convert(converter, reference_dir, "CasusA-02-WMO301_toewijzing.xml").outputs
    assert (out.operation, out.soap_action) == (
        "creeerZaak", "http://www.egem.nl/StUF/sector/zkn/0310/creeerZaak_Lk01")
    root = tree(out.xml)
    assert texts(root, "ZKN:stuurgegevens/StUF:zender/StUF:organisatie") == ["0384"]  # the gemeente, not AGB
    assert texts(root, "ZKN:stuurgegevens/StUF:ontvanger/StUF:applicatie") == ["ZAAKSYSTEEM"]
    assert texts(root, "ZKN:stuurgegevens/StUF:tijdstipBericht") == ["20261204120000000"]  # creation time
    assert UUID4.match(out.referentienummer)
    (zaak,) = objects(out.xml)
    assert zaak.get(STUF_VS) == "T"
    assert out.zaak.startswith("0384") and texts(zaak, "ZKN:identificatie") == [out.zaak]
    assert texts(zaak, "ZKN:kenmerk/ZKN:kenmerk") == ["425386123"]
    assert texts(zaak, "ZKN:kenmerk/ZKN:bron") == ["BeschikkingNummer"]
    assert texts(zaak, "ZKN:startdatum") == ["20160215"]
    assert texts(zaak, "ZKN:registratiedatum") == ["20160220"]
    assert texts(zaak, "ZKN:einddatumGepland") == ["20161231"]
    assert texts(zaak, "ZKN:einddatum") == []
    assert texts(zaak, "ZKN:isVan/ZKN:gerelateerde/ZKN:code") == ["WMOTOEW"]  # from the catalogue
    person = "ZKN:heeftAlsInitiator/ZKN:gerelateerde/ZKN:natuurlijkPersoon/"
    assert zaak.find(person[:-1], NS).get(STUF_VS) == "T"
    assert texts(zaak, person + "BG:inp.bsn") == ["123456782"]
    assert texts(zaak, person + "BG:geslachtsnaam") == ["Gaastra"]
    assert texts(zaak, person + "BG:verblijfsadres/BG:aoa.postcode") == ["1234AB"]
    assert zaak.find(person + "BG:voornamen", NS).get(STUF_NV) == "waardeOnbekend"
    assert texts(zaak, "ZKN:heeftAlsBelanghebbende/ZKN:gerelateerde/ZKN:natuurlijkPersoon/BG:geslachtsnaam") == [
        "Mistral"]  # the partner (soort 12)
    assert texts(zaak, "ZKN:heeftAlsUitvoerende/ZKN:gerelateerde/ZKN:nietNatuurlijkPersoon/BG:ann.identificatie"
                 ) == ["00000000098025566"]
    names = [e.get("naam") for e in zaak.iter(STUF_EX)]
    assert len(zaak.findall("StUF:extraElementen/StUF:extraElement", NS)) <= 20  # docs/canonical-spec.md 6
    assert all(is_written(n) for n in names)
    # the client's e-mail is the initiator's, the one extraElement ZDS 1.2 4.1.4.2 gives a ROL; every ROL has
    # that one at most
    assert texts(zaak, "ZKN:heeftAlsInitiator/StUF:extraElementen/StUF:extraElement") == ["DHRGaastra@email.nl"]
    for rol in zaak:
        if etree.QName(rol).localname.startswith("heeftAls"):
            assert {e.get("naam") for e in rol.iter(STUF_EX)} <= {"emailadres"}
    assert not [n for n in names if any(p.isdigit() for p in n.split("."))]
    extra = {e.get("naam"): e.text for e in zaak.findall("StUF:extraElementen/StUF:extraElement", NS)}
    assert extra["product.code"] == "07A03" and extra["product.omvang.volume"] == "6"
    assert extra["toewijzing.tijdstip"] == "20160220142326"


def test_the_intrekking_updates_with_equal_old_and_new_elements_then_closes(converter: Converter,
                                                                            reference_dir: Path) -> None:
    (created,) = convert(converter, reference_dir, "CasusA-02-WMO301_toewijzing.xml").outputs
    update, status = convert(converter, reference_dir, "CasusA-04-WMO301_intrekking.xml").outputs
    assert (update.zaak, status.zaak) == (created.zaak, created.zaak)
    assert (update.operation, status.operation) == ("updateZaak", "actualiseerZaakstatus")
    old, new = objects(update.xml)
    assert [etree.QName(e).localname for e in old] == [etree.QName(e).localname for e in new]
    assert [e.get("naam") for e in old.iter(STUF_EX)] == [
        e.get("naam") for e in new.iter(STUF_EX)]
    assert texts(new, "ZKN:einddatum") == ["20161107"]
    assert old.find("ZKN:einddatum", NS).get(STUF_NV) == "geenWaarde"
    assert texts(new, "ZKN:resultaat/ZKN:omschrijving") == ["Toewijzing ingetrokken (RedenIntrekking 4)"]
    emails = []
    for side in (old, new):  # never re-sent: registratiedatum, startdatum
        for tag in ("registratiedatum", "startdatum"):
            assert side.find(f"ZKN:{tag}", NS) is None, tag
        # the client's e-mail changed: a W of the initiator relation (StUF 03.01 Tabel 5.5 "Wijzigen relatie"), the
        # person by its kerngegevens (I), only the changed extraElement, no afwijkendCorrespondentieAdres
        (initiator,) = side.findall("ZKN:heeftAlsInitiator", NS)
        assert initiator.get(STUF_VS) == "W"
        assert initiator.find("ZKN:gerelateerde/ZKN:natuurlijkPersoon", NS).get(STUF_VS) == "I"
        assert initiator.find("ZKN:afwijkendCorrespondentieAdres", NS) is None
        assert [e.get("naam") for e in initiator.iter(STUF_EX)] == ["emailadres"]
        emails += texts(initiator, "StUF:extraElementen/StUF:extraElement")
        # the kerngegevens (StUF 03.01 5.2.4): omschrijving and isVan as held, the zaaktype with I
        assert texts(side, "ZKN:omschrijving") == texts(etree.fromstring(created.xml).find(
            "ZKN:object", NS), "ZKN:omschrijving") == ["Wmo toewijzing 07A03"]
        is_van = side.findall("ZKN:isVan", NS)
        assert [(e.get(STUF_VS), texts(e, "ZKN:gerelateerde/ZKN:code")) for e in is_van] == [("I", ["WMOTOEW"])]
    extra_old = {e.get("naam"): e.text for e in old.iter(STUF_EX)}
    extra_new = {e.get("naam"): e.text for e in new.iter(STUF_EX)}
    assert (extra_old["beschikking.einddatum"], extra_new["beschikking.einddatum"]) == ("20161231", "20161107")
    zak_extra = [e.get("naam") for e in old.findall("StUF:extraElementen/StUF:extraElement", NS)]
    assert "client.emailadres" not in zak_extra and "emailadres" not in zak_extra  # not a ZAK extraElement
    assert emails == ["DHRGaastra@email.nl", "dhrgaastra@email.nl"]
    heeft = objects(status.xml)[1].find("ZKN:heeft", NS)
    assert texts(heeft, "ZKN:gerelateerde/ZKN:omschrijving") == ["Afgehandeld"]
    assert texts(heeft, "ZKN:datumStatusGezet") == ["20161107000000000"]
    t1, t2, t3 = (tree(o.xml).findtext("ZKN:stuurgegevens/StUF:tijdstipBericht", namespaces=NS)
                  for o in (created, update, status))
    assert t1 < t2 < t3  # strictly increasing per zender although the clock stands still


def test_converting_the_same_message_again_sends_nothing(converter: Converter, reference_dir: Path) -> None:
    convert(converter, reference_dir, "CasusA-02-WMO301_toewijzing.xml")
    again = convert(converter, reference_dir, "CasusA-02-WMO301_toewijzing.xml")
    assert again.outputs == [] and again.outcome.startswith("no change")


def test_start_and_stop_are_statuses_on_the_one_zaak_of_b01(converter: Converter, reference_dir: Path) -> None:
    (created,) = convert(converter, reference_dir, "CasusB-01-WMO301_toewijzing.xml").outputs
    (start,) = convert(converter, reference_dir, "CasusB-02-WMO305_start.xml").outputs
    stop = convert(converter, reference_dir, "CasusB-04-WMO307_stop.xml").outputs
    assert {o.zaak for o in [start, *stop]} == {created.zaak}  # exactly one zaak for B-01 -> B-02 -> B-04
    assert [o.operation for o in stop] == ["actualiseerZaakstatus", "updateZaak", "actualiseerZaakstatus"]
    heeft = objects(start.xml)[1].find("ZKN:heeft", NS)
    assert texts(heeft, "ZKN:gerelateerde/ZKN:omschrijving") == ["Levering gestart"]
    assert texts(heeft, "ZKN:datumStatusGezet") == ["20160310000000000"]
    assert texts(objects(stop[1].xml)[1], "ZKN:einddatum") == ["20161002"]
    assert texts(objects(stop[0].xml)[1], "ZKN:heeft/ZKN:toelichting") == ["RedenBeeindiging 02"]


def test_a_start_for_an_unknown_toewijzing_is_refused_naming_the_key(converter: Converter,
                                                                     reference_dir: Path) -> None:
    with pytest.raises(ConversionError) as info:
        convert(converter, reference_dir, "CasusB-02-WMO305_start.xml")
    assert info.value.code == "StUF064"
    assert "product:0384:658721123:98026987:01:01A01:20160307" in str(info.value)


def test_an_intrekking_of_an_unknown_toewijzing_creates_then_ends_with_a_warning(converter: Converter,
                                                                                 reference_dir: Path) -> None:
    result = convert(converter, reference_dir, "CasusC-01-WMO301_intrekking.xml")
    assert [o.operation for o in result.outputs] == ["creeerZaak", "updateZaak", "actualiseerZaakstatus"]
    assert [(w.rule, w.message) for w in result.warnings] == [(
        "zaak", "zaak 0392B425386123-1536F81435: the message changes a toewijzing no zaak is known for "
        "(product:0392:425386123:98025566:07:07A03:20160215); it is created from the message's content and then "
        "ended")]
    (herindicatie,) = convert(converter, reference_dir, "CasusC-02-WMO301_herindicatie.xml").outputs
    assert herindicatie.operation == "creeerZaak" and herindicatie.zaak != result.outputs[0].zaak


def test_the_verzoek_is_an_aanvraagzaak_the_toewijzing_links_to(converter: Converter, reference_dir: Path) -> None:
    (aanvraag,) = convert(converter, reference_dir, "CasusA-01-WMO315_verzoek.xml").outputs
    toewijzing, answered, closed = convert(converter, reference_dir, "CasusA-02-WMO301_toewijzing.xml").outputs
    assert aanvraag.zaak.startswith("0384A")
    assert [(o.zaak, o.operation) for o in (answered, closed)] == [(aanvraag.zaak, "updateZaak"),
                                                                  (aanvraag.zaak, "actualiseerZaakstatus")]
    assert texts(objects(aanvraag.xml)[0], "ZKN:isVan/ZKN:gerelateerde/ZKN:code") == ["WMOAANV"]
    assert texts(objects(toewijzing.xml)[0], "ZKN:heeftBetrekkingOpAndere/ZKN:gerelateerde/ZKN:identificatie") == [
        aanvraag.zaak]


def test_a_retour_is_a_no_op(converter: Converter) -> None:
    path = Path(__file__).parent / "fixtures" / "iwmo21" / "families" / "CasusA-02-WMO302_retour_akkoord.xml"
    result = converter.convert(path.read_bytes(), path.name)
    assert result.outputs == [] and result.outcome.startswith("no-op: retour")


def test_a_failed_conversion_leaves_no_state_behind(reference_dir: Path) -> None:
    ledger = MemoryLedger()
    converter = Converter(shared_registry(), ledger=ledger, clock=lambda: NOON)
    with pytest.raises(ConversionError):
        convert(converter, reference_dir, "CasusB-02-WMO305_start.xml")
    with ledger.transaction() as tx:
        assert tx.zaak_for(["product:0384:658721123:98026987:01:01A01:20160307"]) is None


def test_the_sqlite_ledger_continues_a_chain_across_processes_runs(tmp_path: Path, reference_dir: Path) -> None:
    first = Converter(shared_registry(), ledger=SqliteLedger(tmp_path), clock=lambda: NOON)
    (created,) = convert(first, reference_dir, "CasusB-01-WMO301_toewijzing.xml").outputs
    first.ledger.close()
    second = Converter(shared_registry(), ledger=SqliteLedger(tmp_path), clock=lambda: NOON - dt.timedelta(days=1))
    (start,) = convert(second, reference_dir, "CasusB-02-WMO305_start.xml").outputs
    assert start.zaak == created.zaak
    t1 = tree(created.xml).findtext("ZKN:stuurgegevens/StUF:tijdstipBericht", namespaces=NS)
    t2 = tree(start.xml).findtext("ZKN:stuurgegevens/StUF:tijdstipBericht", namespaces=NS)
    assert t2 == "20261204120000001" and t1 == "20261204120000000"  # a clock going back cannot go below
    with second.ledger.transaction() as tx:
        state = tx.state(created.zaak)
    assert state is not None and [s["omschrijving"] for s in state["statussen"]] == ["Levering gestart"]
    second.ledger.close()
