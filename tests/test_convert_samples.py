"""End-to-end conversion of the public iWmo 2.0 samples and the project's iWmo 2.1 fixtures.

Why these tests: they are the contract of issue 2. Every sample must become zakLk01 messages that
validate against the official StUF-ZKN 3.10 schema, with no source element left unmapped; the
values must land where docs/canonical-spec.md says; 2.0 and 2.1 versions of one case must say the
same thing; and bad input must give one clear line (file, line, field), never a traceback.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from lxml import etree
from shared_registry import shared_registry

from gateway.cli import main
from gateway.mapping import Registry
from gateway.model import Bericht
from gateway.pipeline import Conversion, Converter
from gateway.render.schemas import errors_of

NS = {
    "ZKN": "http://www.egem.nl/StUF/sector/zkn/0310",
    "StUF": "http://www.egem.nl/StUF/StUF0301",
    "BG": "http://www.egem.nl/StUF/sector/bg/0310",
}
XS = "{http://www.w3.org/2001/XMLSchema}"
FIXTURES_21 = Path(__file__).resolve().parent / "fixtures" / "iwmo21"

A01, A02, A04 = "CasusA-01-WMO315_verzoek.xml", "CasusA-02-WMO301_toewijzing.xml", "CasusA-04-WMO301_intrekking.xml"
CASES = [A01, A02, A04, "CasusB-01-WMO301_toewijzing.xml", "CasusC-01-WMO301_intrekking.xml",
         "CasusC-02-WMO301_herindicatie.xml"]
"""Every public 2.0 WMO301/WMO315 sample; each has a 2.1 twin of the same name in tests/fixtures/iwmo21."""
FIXTURES = sorted(p.name for p in FIXTURES_21.glob("*.xml"))
MULTI = "Multi-WMO301_twee_clienten.xml"
FULL_301, FULL_315 = "Full-WMO301_alle_elementen.xml", "Full-WMO315_alle_elementen.xml"

ONLY_ONE_VERSION = frozenset({
    "tekenset", "clientnummer", "geheim", "leefeenheid", "gemeentecode", "toewijzingnummer", "naamcode",
    "reden_intrekking", "reden_wijziging", "versie",
    "status_aanlevering",  # 2.0 WMO315 only
    "referentie_aanbieder",  # 2.1 only (required in the 2.1 WMO315)
})
"""Canonical fields that exactly one of iWmo 2.0 and 2.1 has, so twins cannot agree on them."""
REDEN_2_0_TO_2_1 = {"4": "09", "3": "05"}
"""RedenIntrekking (COD172) -> RedenWijziging (WMO002) as chosen in tests/fixtures/iwmo21/README.md."""


NOON = dt.datetime(2026, 12, 4, 12, 0, 0)


@pytest.fixture()
def converter(reference_dir: Path, registry: Registry) -> Converter:
    """A fresh converter (and in-memory zaak ledger) per test: chains are built inside a test. The
    module's registry is shared (it holds only the mappings; reading them again cost 0.3 s of CPU a test)."""
    return Converter(registry, validate=True, clock=lambda: NOON)


def sample(reference_dir: Path, name: str) -> Path:
    return reference_dir / "samples" / "iwmo20-xml" / name


def convert(converter: Converter, path: Path) -> Conversion:
    return converter.convert(path.read_bytes(), str(path))


class Zaak:
    """One rendered zakLk01, read back with lxml at the places the renderer puts values."""

    def __init__(self, xml: bytes) -> None:
        self.root = etree.fromstring(xml)
        self.objects = self.root.findall("ZKN:object", NS)
        self.new = self.objects[-1]  # with two objects (a wijziging) the last one is the new state

    def text(self, path: str, node: etree._Element | None = None) -> str | None:
        found = (self.new if node is None else node).find(path, NS)
        return None if found is None else found.text

    def person(self, tag: str) -> str | None:
        return self.text(f"ZKN:heeftAlsInitiator/ZKN:gerelateerde/ZKN:natuurlijkPersoon/BG:{tag}")

    def extra(self, name: str) -> str | None:
        hits = self.new.xpath("StUF:extraElementen/StUF:extraElement[@naam=$n]", namespaces=NS, n=name)
        assert len(hits) <= 1, f"extraElement {name} appears {len(hits)} times"
        return hits[0].text if hits else None

    def kenmerken(self) -> list[tuple[str | None, str | None]]:
        return [(k.findtext("ZKN:kenmerk", namespaces=NS), k.findtext("ZKN:bron", namespaces=NS))
                for k in self.new.findall("ZKN:kenmerk", NS)]

    @property
    def mutatiesoort(self) -> str | None:
        return self.root.findtext("ZKN:parameters/StUF:mutatiesoort", namespaces=NS)


def zaken(conversion: Conversion) -> list[Zaak]:
    return [Zaak(out.xml) for out in conversion.outputs]


# -- every input converts, validates and leaves nothing unmapped ---------------------------------


def _assert_clean(conversion: Conversion, mapping: str) -> None:
    assert conversion.mapping.name == mapping
    assert conversion.unmapped == [], [f"{u.path} (line {u.line})" for u in conversion.unmapped]
    # the only warning allowed: a wijziging/intrekking whose toewijzing this fresh ledger never saw
    assert all(w.rule == "zaak" and "no zaak is known" in w.message for w in conversion.warnings)
    lines = sum(len(c.producten) for c in conversion.bericht.clients)
    assert len(conversion.outputs) >= lines >= 1  # one zaak per product line, some with an update and status
    for out in conversion.outputs:
        assert errors_of(etree.fromstring(out.xml), "zkn") == []


@pytest.mark.parametrize("name", CASES)
def test_iwmo20_sample_converts_to_valid_zkn(name: str, reference_dir: Path, converter: Converter) -> None:
    conversion = convert(converter, sample(reference_dir, name))
    _assert_clean(conversion, "iwmo20-wmo315" if "WMO315" in name else "iwmo20-wmo301")


@pytest.mark.parametrize("name", FIXTURES)
def test_iwmo21_fixture_converts_to_valid_zkn(name: str, converter: Converter) -> None:
    conversion = convert(converter, FIXTURES_21 / name)
    _assert_clean(conversion, "iwmo21-wmo315" if "WMO315" in name else "iwmo21-wmo301")
    assert conversion.bericht.versie == "2.1"


@pytest.mark.parametrize("name", FIXTURES)
def test_iwmo21_fixture_is_valid_against_the_21_xsd(name: str, reference_dir: Path) -> None:
    root = etree.parse(str(FIXTURES_21 / name)).getroot()
    assert errors_of(root) == []


def test_every_21_twin_exists() -> None:
    assert set(CASES) <= set(FIXTURES)


# -- the Full fixtures hold every element of the 2.1 XSDs, so the mappings are tested on all ------


def xsd_leaf_paths(xsd: Path) -> set[str]:
    """Every leaf element path (local names) reachable from the schema's root element."""
    types: dict[tuple[str, str], etree._Element] = {}
    for file in (xsd, xsd.parent / "basisschema.xsd"):
        schema = etree.parse(str(file)).getroot()
        for node in schema:
            if node.tag in (f"{XS}complexType", f"{XS}simpleType"):
                types[(schema.get("targetNamespace"), node.get("name"))] = node
    out: set[str] = set()

    def walk(el: etree._Element, path: str) -> None:
        ref = el.get("type")
        node = None
        if ref:
            prefix, _, local = ref.rpartition(":")
            node = types.get((el.nsmap.get(prefix or None), local))
        if node is None or node.tag == f"{XS}simpleType":
            out.add(path)
            return
        for child in node.iter(f"{XS}element"):
            walk(child, f"{path}/{child.get('name')}")

    root = etree.parse(str(xsd)).getroot().find(f"{XS}element")
    walk(root, root.get("name"))
    return out


def instance_leaf_paths(path: Path) -> set[str]:
    root = etree.parse(str(path)).getroot()
    out: set[str] = set()
    for el in root.iter(etree.Element):
        if len(el) == 0:
            out.add("/".join(etree.QName(a).localname for a in [*reversed(list(el.iterancestors())), el]))
    return out


@pytest.mark.parametrize(("fixture", "xsd"), [(FULL_301, "WMO301.xsd"), (FULL_315, "WMO315.xsd")])
def test_full_fixture_holds_every_xsd_element(fixture: str, xsd: str, reference_dir: Path) -> None:
    expected = xsd_leaf_paths(reference_dir / "iwmo21-xsd" / xsd)
    assert len(expected) > (60 if xsd == "WMO301.xsd" else 25)  # the walk really went deep
    assert instance_leaf_paths(FIXTURES_21 / fixture) == expected


def test_full_301_values_reach_the_canonical_model(converter: Converter) -> None:
    client = convert(converter, FIXTURES_21 / FULL_301).bericht.clients[0]
    assert (client.communicatievorm, client.communicatietaal) == ("2", "Fries")
    assert (client.juridische_status, client.wettelijke_vertegenwoordiging) == ("01", "07")
    assert client.commentaar == "Slechthorend; graag schriftelijk bevestigen."
    assert client.naam.partnernaam is not None and client.naam.partnernaam.voorvoegsel == "van"
    assert (client.naam.naamgebruik, client.geboortedatum_gebruik) == ("2", "1")
    relatie = client.relaties[0]
    assert (relatie.volgorde, relatie.contacten[0].organisatie) == (1, "Zorgkantoor Voorbeeld")
    assert str(relatie.contacten[0].begindatum) == "2017-01-01"
    assert [t.nummer for t in client.contacten[0].telefoon] == ["0201234500", "0687654321"]
    adres = client.contacten[0].adres
    assert adres is not None
    assert (adres.huisletter, adres.huisnummertoevoeging, adres.aanduiding_woonadres) == ("b", "2hg", "BY")
    assert (str(client.contacten[1].begindatum), str(client.contacten[1].einddatum)) == ("2017-02-01", "2017-04-30")
    beschikking = client.beschikking
    assert beschikking is not None
    assert beschikking.grondslagen == ["01", "03"]
    assert beschikking.commentaar == "Herbeoordeling na een jaar."
    beperking = beschikking.beperkingen[0]
    assert (beperking.categorie, beperking.duur, beperking.commentaar) == ("2", "3", "Na heupoperatie.")
    assert [(s.vraag, s.score, s.commentaar) for s in beperking.scores] == [
        ("0201", "2", "Traplopen lukt niet."), ("0204", "1", None)]
    assert beschikking.producten[0].commentaar == "Huishoudelijke hulp, drie uur per week."
    product = client.producten[0]
    assert (product.toewijzingnummer, product.referentie_aanbieder, product.reden_wijziging) == (
        "200001", "VZ-2017-0042", "04")


def test_full_315_values_reach_the_canonical_model(converter: Converter) -> None:
    conversion = convert(converter, FIXTURES_21 / FULL_315)
    client = conversion.bericht.clients[0]
    assert (client.naam.voornamen, client.naam.geslachtsnaam.voorvoegsel) == ("Johanna Maria", "van den")
    product = client.producten[0]
    assert product.referentie_aanbieder == "VZ-2017-0042"
    assert (product.beschikkingnummer, str(product.beschikking_ingangsdatum)) == ("700100200", "2017-03-01")
    assert (str(product.ingangsdatum), str(product.einddatum)) == ("2017-03-01", "2018-02-28")
    assert product.verwijzer is not None and (product.verwijzer.type, product.verwijzer.naam) == (
        "02", "Huisartsenpraktijk Centrum")
    assert product.raamcontract == "1"
    zaak = zaken(conversion)[0]
    assert zaak.text("ZKN:einddatumGepland") == "20180228"


def test_integer_typed_codes_of_21_are_read_as_two_digit_codes(converter: Converter, tmp_path: Path) -> None:
    """LDT_ProductCategorie and LDT_Eenheid are xs:integer in 2.1: "7" and "4" are valid and mean 07 and 04."""
    text = (FIXTURES_21 / A02).read_text(encoding="utf-8")
    text = text.replace("<iwmo:Categorie>07</iwmo:Categorie>", "<iwmo:Categorie>7</iwmo:Categorie>")
    text = text.replace("<iwmo:Eenheid>04</iwmo:Eenheid>", "<iwmo:Eenheid>4</iwmo:Eenheid>")
    assert errors_of(etree.fromstring(text.encode())) == []
    path = tmp_path / "short-codes.xml"
    path.write_text(text, encoding="utf-8")
    zaak = zaken(convert(converter, path))[0]
    assert (zaak.extra("product.categorie"), zaak.extra("product.omvang.eenheid")) == ("07", "04")
    assert zaak.extra("beschikt.omvang.eenheid") == "04"


# -- golden values ---------------------------------------------------------------------------------


def _a02(reference_dir: Path, version: str) -> Path:
    return sample(reference_dir, A02) if version == "2.0" else FIXTURES_21 / A02


def test_21_numbers_in_any_xs_integer_spelling_become_their_plain_digits(converter: Converter,
                                                                         reference_dir: Path) -> None:
    """2.1 types BeschikkingNummer and ToewijzingNummer as xs:integer (LDT_Nummer): ``+0425386123`` is as
    valid as ``425386123``, and must name the same zaak."""
    from gateway.mapping.reverse import unmap
    from gateway.render.schemas import check

    text = (FIXTURES_21 / A02).read_text(encoding="utf-8")
    for plain, other in (("<wmo301:BeschikkingNummer>425386123<", "<wmo301:BeschikkingNummer>+0425386123<"),
                         ("<wmo301:ToewijzingNummer>100001<", "<wmo301:ToewijzingNummer> 000100001 <")):
        assert text.count(plain) == 1
        text = text.replace(plain, other)
    check(text.encode(), "iwmo21-301")  # the official XSD accepts both spellings
    conversion = converter.convert(text.encode(), "spelled.xml")
    [zaak] = zaken(conversion)
    assert zaak.text("ZKN:identificatie") == "0384T100001"
    assert zaak.kenmerken() == [("425386123", "BeschikkingNummer"), ("100001", "ToewijzingNummer")]
    written = unmap(conversion.mapping, conversion.bericht)
    assert [e.text for e in written.root.iter("{*}BeschikkingNummer")] == ["425386123"]
    assert [e.text for e in written.root.iter("{*}ToewijzingNummer")] == ["100001"]
    padded = conversion.bericht.model_copy(deep=True)  # e.g. a 2.0 Beschikkingnummer, which is text
    assert padded.clients[0].beschikking is not None
    padded.clients[0].beschikking.nummer = "000425386123"
    written = unmap(conversion.mapping, padded)
    assert [e.text for e in written.root.iter("{*}BeschikkingNummer")] == ["000425386123"]
    assert written.one_way == [] and written.unplaced == []
    check(written.tostring(), "iwmo21-301")


@pytest.mark.parametrize("version", ["2.0", "2.1"])
def test_golden_a02_toewijzing(version: str, reference_dir: Path, converter: Converter) -> None:
    conversion = convert(converter, _a02(reference_dir, version))
    [zaak] = zaken(conversion)
    assert zaak.mutatiesoort == "T" and conversion.outputs[0].operation == "creeerZaak"
    assert len(zaak.objects) == 1
    assert zaak.new.get(f"{{{NS['StUF']}}}verwerkingssoort") == "T"
    ident = zaak.text("ZKN:identificatie")
    if version == "2.0":  # no ToewijzingNummer: gemeente, B, beschikkingnummer and a hash of the product key
        assert ident is not None and re.fullmatch(r"0384B425386123-[0-9A-F]{10}", ident)
        assert zaak.kenmerken() == [("425386123", "BeschikkingNummer")]
    else:
        assert ident == "0384T100001"
        assert zaak.kenmerken() == [("425386123", "BeschikkingNummer"), ("100001", "ToewijzingNummer")]
    assert zaak.person("inp.bsn") == "123456782"
    assert zaak.person("geslachtsnaam") == "Gaastra"
    assert zaak.person("geslachtsaanduiding") == "M"
    assert zaak.person("geboortedatum") == "19850106"
    assert zaak.text("ZKN:startdatum") == "20160215"
    assert zaak.text("ZKN:registratiedatum") == "20160220"
    assert zaak.text("ZKN:einddatumGepland") == "20161231"
    assert zaak.text("ZKN:einddatum") is None
    assert zaak.text("ZKN:isVan/ZKN:gerelateerde/ZKN:code") == "WMOTOEW"
    assert zaak.extra("product.code") == "07A03"
    assert zaak.extra("product.omvang.volume") == "6"
    assert zaak.extra("product.omvang.eenheid") == "04"
    assert zaak.extra("product.omvang.frequentie") == "2"
    assert zaak.text("ZKN:heeftAlsUitvoerende/ZKN:gerelateerde/ZKN:nietNatuurlijkPersoon/BG:ann.identificatie"
                     ) == "00000000098025566"
    assert zaak.extra("bericht.versie") is None  # header facts are no zaak data in v2


@pytest.mark.parametrize("version", ["2.0", "2.1"])
def test_golden_a04_intrekking(version: str, reference_dir: Path, converter: Converter) -> None:
    (created,) = convert(converter, _a02(reference_dir, version)).outputs
    path = sample(reference_dir, A04) if version == "2.0" else FIXTURES_21 / A04
    update, status = convert(converter, path).outputs
    assert (update.operation, status.operation) == ("updateZaak", "actualiseerZaakstatus")
    zaak = Zaak(update.xml)
    assert zaak.mutatiesoort == "W"
    old, new = zaak.objects
    assert [o.get(f"{{{NS['StUF']}}}verwerkingssoort") for o in zaak.objects] == ["W", "W"]
    assert [etree.QName(e).localname for e in old] == [etree.QName(e).localname for e in new]
    assert zaak.text("ZKN:identificatie", old) == zaak.text("ZKN:identificatie", new) == created.zaak
    assert old.find("ZKN:einddatum", NS).get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"
    assert zaak.text("ZKN:einddatum") == "20161107"
    assert zaak.text("ZKN:einddatumGepland") is None  # the plan (20161231) is not rewritten
    # the initiator is re-sent only where its own data changed: A-04 writes the client's e-mail in lower case, so
    # heeftAlsInitiator goes W (person I by its kerngegevens) with emailadres old and new (ZDS 1.2 4.1.4.2)
    initiators = [o.find("ZKN:heeftAlsInitiator", NS) for o in (old, new)]
    assert [i.get(f"{{{NS['StUF']}}}verwerkingssoort") for i in initiators] == ["W", "W"]
    assert [i.findtext("StUF:extraElementen/StUF:extraElement", namespaces=NS) for i in initiators] == [
        "DHRGaastra@email.nl", "dhrgaastra@email.nl"]
    reden = ("toewijzing.reden_intrekking", "4") if version == "2.0" else ("toewijzing.reden_wijziging", "09")
    assert zaak.extra(reden[0]) == reden[1]
    assert Zaak(status.xml).text("ZKN:heeft/ZKN:gerelateerde/ZKN:omschrijving") == "Afgehandeld"


@pytest.mark.parametrize("version", ["2.0", "2.1"])
def test_golden_a01_verzoek(version: str, reference_dir: Path, converter: Converter) -> None:
    path = sample(reference_dir, A01) if version == "2.0" else FIXTURES_21 / A01
    [zaak] = zaken(convert(converter, path))
    assert zaak.mutatiesoort == "T"
    assert zaak.text("ZKN:isVan/ZKN:gerelateerde/ZKN:code") == "WMOAANV"
    ident = zaak.text("ZKN:identificatie")
    if version == "2.0":
        assert ident is not None and re.fullmatch(r"0384A-[0-9A-F]{10}", ident)
        assert zaak.kenmerken() == [("425386123", "BeschikkingNummer")]
    else:
        assert ident == "0384AVZ-2016-0001"
        assert zaak.kenmerken() == [("425386123", "BeschikkingNummer"), ("VZ-2016-0001", "ReferentieAanbieder")]
    assert zaak.extra("verwijzer.type") == "01"
    assert zaak.extra("verwijzer.naam") == "Diemen"
    assert zaak.extra("product.raamcontract") == "2"
    assert zaak.extra("beschikking.ingangsdatum") == "20160215"
    assert zaak.text("ZKN:startdatum") == "20160215"
    assert zaak.person("inp.bsn") == "123456782"


def _masked(xml: bytes) -> bytes:
    return re.sub(rb"<StUF:referentienummer>[^<]*<", b"<StUF:referentienummer>-<", xml)


def test_same_input_twice_gives_the_same_bytes_but_new_references(reference_dir: Path,
                                                                   converter: Converter) -> None:
    """Two converters with their own ledger and the same clock write the same zaken; only the referentienummer
    (a new UUID4 for every created message, StUF 03.01 4.4.3) differs."""
    fresh = Converter(shared_registry(), validate=True, clock=lambda: NOON)
    paths = [sample(reference_dir, n) for n in CASES] + [FIXTURES_21 / n for n in FIXTURES]
    refs: list[str] = []
    for path in paths:
        first, second = convert(converter, path), convert(fresh, path)
        assert [_masked(o.xml) for o in first.outputs] == [_masked(o.xml) for o in second.outputs], path.name
        refs += [o.referentienummer for o in first.outputs + second.outputs]
    assert len(set(refs)) == len(refs) > 20


# -- 2.0 and 2.1 twins say the same thing ----------------------------------------------------------


def _shared(value: Any) -> Any:
    """A dumped model without the fields only one version has."""
    if isinstance(value, dict):
        return {k: _shared(v) for k, v in value.items() if k not in ONLY_ONE_VERSION}
    if isinstance(value, list):
        return [_shared(v) for v in value]
    return value


def _only(value: Any, found: set[str]) -> set[str]:
    """Names of the version-specific fields that hold a value anywhere in a dumped model."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ONLY_ONE_VERSION and item not in (None, [], {}):
                found.add(key)
            _only(item, found)
    elif isinstance(value, list):
        for item in value:
            _only(item, found)
    return found


@pytest.mark.parametrize("name", CASES)
def test_twins_give_the_same_canonical_values(name: str, reference_dir: Path, converter: Converter) -> None:
    old = convert(converter, sample(reference_dir, name))
    new = convert(Converter(shared_registry(), validate=True, clock=lambda: NOON), FIXTURES_21 / name)  # its own ledger
    b20: Bericht = old.bericht
    b21: Bericht = new.bericht
    d20, d21 = b20.model_dump(), b21.model_dump()
    for field in Bericht.model_fields:  # field by field, so a failure names the field
        if field in ONLY_ONE_VERSION:
            continue
        assert _shared(d20[field]) == _shared(d21[field]), field
    assert _only(d21, set()) <= {"toewijzingnummer", "referentie_aanbieder", "reden_wijziging", "versie"}
    assert "toewijzingnummer" in _only(d21, set()) or "WMO315" in name
    for p20, p21 in zip(b20.clients[0].producten, b21.clients[0].producten, strict=True):
        assert REDEN_2_0_TO_2_1.get(p20.reden_intrekking or "") == p21.reden_wijziging
    if name != "CasusC-01-WMO301_intrekking.xml":  # 2.0 RedenIntrekking 3 ends it; its 2.1 twin 05 only shortens
        assert [o.operation for o in old.outputs] == [o.operation for o in new.outputs]


# -- several clients -------------------------------------------------------------------------------


def test_multi_client_message_gives_one_zaak_per_toewijzing(converter: Converter) -> None:
    conversion = convert(converter, FIXTURES_21 / MULTI)
    assert [o.operation for o in conversion.outputs] == ["creeerZaak"] * 4  # two clients, two lines each
    zs = zaken(conversion)
    assert [z.text("ZKN:identificatie") for z in zs] == ["0384T100005", "0384T100006", "0384T100007", "0384T100008"]
    assert [z.person("inp.bsn") for z in zs] == ["999900006", "999900006", "999900018", "999900018"]
    assert [z.person("geslachtsnaam") for z in zs] == ["Jansen", "Jansen", "Vries", "Vries"]
    assert zs[2].person("voorvoegselGeslachtsnaam") == "de"
    assert [z.extra("product.code") for z in zs] == ["07A03", "01A01", "02A01", "03A01"]
    assert zs[0].text("ZKN:einddatumGepland") == "20171231"
    assert zs[2].text("ZKN:einddatumGepland") is None  # 02A01 is open-ended
    assert zs[3].text("ZKN:einddatumGepland") == "20170630"
    child = "ZKN:heeftAlsBelanghebbende/ZKN:code"  # soort 16 (zoon/dochter) is a belanghebbende
    assert (zs[0].text(child), zs[2].text(child)) == (None, "16")
    assert len({o.referentienummer for o in conversion.outputs}) == 4


# -- bad input through the CLI: one clear line, exit code 1, never a traceback ---------------------

BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
"""
XXE = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE wmo301:Bericht [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
"""
PROLOG = '<?xml version="1.0" encoding="UTF-8"?>\n'


def _not_xml(text: str) -> str:
    return "Bsn;Naam\n123456782;Gaastra\n"


def _bomb(text: str) -> str:
    return BOMB + text.removeprefix(PROLOG).replace("Gaastra", "&lol3;")


def _xxe(text: str) -> str:
    return XXE + text.removeprefix(PROLOG).replace("Gaastra", "&xxe;")


def _namespace(text: str) -> str:
    return text.replace("/wmo301/schema/2_0", "/wmo301/schema/2_9")


def _bsn(text: str) -> str:
    return text.replace("<wmo301:Bsn>123456782<", "<wmo301:Bsn>123456789<")


def _no_bsn(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if "<wmo301:Bsn>" not in line) + "\n"


def _no_geboortedatum(text: str) -> str:
    start, end = text.index("<wmo301:Geboortedatum>"), text.index("</wmo301:Geboortedatum>")
    return text[:start] + text[end + len("</wmo301:Geboortedatum>"):]


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


BAD = [
    # id, version of the A-02 that is mutated, mutation, expected line (in the mutated text), words in the message
    ("not-xml", "2.0", _not_xml, lambda t: 1, ["not well-formed XML"]),
    ("entity-bomb", "2.0", _bomb, lambda t: 2, ["DOCTYPE/ENTITY", "not allowed"]),
    ("external-entity", "2.0", _xxe, lambda t: 2, ["DOCTYPE/ENTITY", "not allowed"]),
    ("unknown-namespace", "2.0", _namespace, lambda t: _line_of(t, "<wmo301:Bericht"),
     ["dialect:", "unknown dialect", "2_9"]),
    ("bsn-11-proef", "2.0", _bsn, lambda t: _line_of(t, "<wmo301:Bsn>"), ["clients.0.bsn", "11-proef"]),
    ("bsn-missing", "2.0", _no_bsn, lambda t: _line_of(t, "<wmo301:Client>"), ["clients.0.bsn", "required"]),
    ("bsn-11-proef-2.1", "2.1", _bsn, lambda t: _line_of(t, "<wmo301:Bsn>"), ["clients.0.bsn", "11-proef"]),
    ("geboortedatum-missing-2.1", "2.1", _no_geboortedatum, lambda t: _line_of(t, "<wmo301:Client>"),
     ["clients.0.geboortedatum", "required"]),
]


@pytest.mark.parametrize(("version", "mutate", "line", "words"), [pytest.param(*b[1:], id=b[0]) for b in BAD])
def test_bad_input_gives_one_clear_line(version: str, mutate: Any, line: Any, words: list[str],
                                        reference_dir: Path, tmp_path: Path) -> None:
    text = mutate(_a02(reference_dir, version).read_text(encoding="utf-8"))
    bad = tmp_path / "bad-input.xml"
    bad.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["convert", str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an escaped exception
    assert "Traceback" not in result.output
    [printed] = [row for row in result.output.splitlines() if row.startswith("FAIL")]
    assert f"{bad}:{line(text)}:" in printed
    for word in words:
        assert word in printed
    assert "123456782" not in printed and "123456789" not in printed  # no BSN in clear
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
