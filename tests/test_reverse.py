"""The way back: canonical messages written in a vendor's dialect through the same mapping file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree
from shared_registry import shared_registry

from gateway.cli import main
from gateway.mapping import ConversionError, Registry
from gateway.mapping.reverse import unmap
from gateway.mapping.rules import Compiled
from gateway.model import Bericht
from gateway.model.bericht import Achternaam
from gateway.model.versions import for_version
from gateway.pipeline import Converter
from gateway.render.schemas import errors_of

FIXTURES = Path(__file__).parent / "fixtures" / "iwmo21"
SAMPLES_301_315 = ["CasusA-01-WMO315_verzoek", "CasusA-02-WMO301_toewijzing", "CasusA-04-WMO301_intrekking",
                   "CasusB-01-WMO301_toewijzing", "CasusC-01-WMO301_intrekking", "CasusC-02-WMO301_herindicatie"]


@pytest.fixture(scope="module")
def converter() -> Converter:
    """Validating where the official XSDs are here; without them the written messages are still read back."""
    from gateway.reference import available

    return Converter(shared_registry(), validate=available())


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("*.xml")))
def test_every_21_fixture_round_trips_dialect_canonical_dialect(converter: Converter, fixture: str,
                                                                reference_dir: Path) -> None:
    original = converter.convert((FIXTURES / fixture).read_bytes(), fixture)
    written = unmap(original.mapping, original.bericht)
    assert written.one_way == [] and written.unplaced == []
    assert errors_of(written.root) == []  # valid against the official iWmo 2.1 XSD
    again = converter.convert(written.tostring(), "written.xml")
    assert again.bericht == original.bericht  # every mapped field comes back unchanged


@pytest.mark.parametrize("sample", SAMPLES_301_315)
def test_every_20_sample_round_trips_through_the_canonical_zaklk01(converter: Converter, sample: str,
                                                                   reference_dir: Path) -> None:
    """v2 is lossy on the way back (docs/canonical-spec.md 9): the header is rebuilt from the zaak, so the test
    compares what a zaak holds: the client, the product line, its dates and numbers."""
    data = (reference_dir / "samples" / "iwmo20-xml" / f"{sample}.xml").read_bytes()
    original = Converter(shared_registry(), validate=converter.validate).convert(data, sample)
    zaak = original.outputs[0]
    assert zaak.operation == "creeerZaak"
    (back,) = converter.reverse(zaak.xml, original.mapping.name, "zaak.xml")
    again = converter.to_model(back.xml, "back.xml")[2].bericht
    before, after = original.bericht.clients[0], again.clients[0]
    assert before.naam is not None and after.naam is not None
    assert (after.bsn, after.geslacht, after.geboortedatum) == (before.bsn, before.geslacht, before.geboortedatum)
    naam = ("geslachtsnaam.naam", "geslachtsnaam.voorvoegsel", "voorletters", "naamgebruik")  # naamcode: not in v2
    assert [_get(after.naam, n) for n in naam] == [_get(before.naam, n) for n in naam]
    line, line_back = before.producten[0], after.producten[0]
    for field in ("categorie", "code", "omvang", "ingangsdatum", "leveringsvorm", "toewijzingsdatum",
                  "toewijzingstijd", "reden_intrekking", "verwijzer", "raamcontract"):
        assert getattr(line_back, field) == getattr(line, field), field
    assert (again.wet, again.soort) == (original.bericht.wet, original.bericht.soort)


def _get(model: object, dotted: str) -> object:
    for part in dotted.split("."):
        model = getattr(model, part)
    return model


def test_20_toewijzing_written_as_21_is_schema_valid_and_names_what_21_cannot_hold(
        converter: Converter, reference_dir: Path) -> None:
    data = (reference_dir / "samples" / "iwmo20-xml" / "CasusA-02-WMO301_toewijzing.xml").read_bytes()
    zaak = Converter(shared_registry()).convert(data, "a02").outputs[0]
    (back,) = converter.reverse(zaak.xml, "iwmo21-wmo301", "zaak.xml")  # validates against WMO301.xsd
    root = etree.fromstring(back.xml)
    ns = {"m": "http://www.istandaarden.nl/iwmo/2_1/wmo301/schema/2_1",
          "i": "http://www.istandaarden.nl/iwmo/2_1/basisschema/schema/2_1"}
    assert root.findtext("m:Header/m:BerichtSubversie", namespaces=ns) == "1"
    assert root.findtext(".//m:ToegewezenProduct/m:Product/i:Code", namespaces=ns) == "07A03"
    assert root.findtext(".//m:ToegewezenProduct/m:Omvang/i:Volume", namespaces=ns) == "6"
    # Clientnummer = BSN: not in v2. A 2.1 Relatie needs a NaamGebruik, which a zaak does not carry (ZDS 1.2
    # 4.1.4.2: a ROL has no extraElement but emailadres; docs/canonical-spec.md 5): without a Partnernaam it is 1
    assert set(back.unplaced) == {"clients.0.geheim", "clients.0.leefeenheid"}
    (partner,) = converter.to_model(back.xml, "back.xml")[2].bericht.clients[0].relaties
    assert (partner.soort, partner.naam.naamgebruik, partner.naam.partnernaam) == ("12", "1", None)
    assert [n.split(":")[0] for n in back.normalised if "naamgebruik" in n] == ["clients.0.relaties.0.naam.naamgebruik"]


def _relative_without_naamgebruik(reference_dir: Path, partnernaam: Achternaam | None) -> Bericht:
    data = (reference_dir / "samples" / "iwmo20-xml" / "CasusA-02-WMO301_toewijzing.xml").read_bytes()
    bericht = Converter(shared_registry()).convert(data, "a02").bericht
    client = bericht.clients[0]
    (relatie,) = client.relaties
    naam = relatie.naam.model_copy(update={"naamgebruik": None, "partnernaam": partnernaam,
                                           "geslachtsnaam": relatie.naam.geslachtsnaam.model_copy(
                                               update={"naamcode": None})})
    relatie = relatie.model_copy(update={"naam": naam})
    return bericht.model_copy(update={"clients": [client.model_copy(update={"relaties": [relatie]})]})


def test_a_relative_without_naamgebruik_is_written_to_21_with_own_name_unless_a_partnernaam_leaves_1_to_4(
        reference_dir: Path) -> None:
    """CS050: without a Partnernaam a NaamGebruik is 1 or 6 (not a natural person); with one, any of 1-4."""
    plain = for_version(_relative_without_naamgebruik(reference_dir, None), "wmo", "2.1")
    assert [r.naam.naamgebruik for r in plain.bericht.clients[0].relaties] == ["1"]
    assert not plain.dropped
    partner = for_version(_relative_without_naamgebruik(reference_dir, Achternaam(naam="Jansen")), "wmo", "2.1")
    assert plain.bericht.clients[0].relaties and not partner.bericht.clients[0].relaties
    assert partner.dropped == ["clients.0.relaties.0: an iWmo 2.1 Relatie needs a NaamGebruik, and with a "
                               "Partnernaam it could be any of 1-4"]


ZKN_NS, STUF_NS = "http://www.egem.nl/StUF/sector/zkn/0310", "http://www.egem.nl/StUF/StUF0301"


def _as_written_before(xml: bytes) -> bytes:
    """A creeerZaak as profile zkn v2 wrote it before 6 December 2026: the client's e-mail the ZAK's client.emailadres,
    a relative's contact data and naamgebruik its relation's relatie.* extraElementen (names now retired)."""
    root = etree.fromstring(xml)
    obj = root.find(f"{{{ZKN_NS}}}object")
    zak = obj.find(f"{{{STUF_NS}}}extraElementen")
    for relation in obj:
        own = relation.find(f"{{{STUF_NS}}}extraElementen")
        if own is None:
            continue
        (email,) = own
        if etree.QName(relation).localname == "heeftAlsInitiator":
            relation.remove(own)
            etree.SubElement(zak, f"{{{STUF_NS}}}extraElement", naam="client.emailadres").text = email.text
        else:
            email.set("naam", "relatie.emailadres")
            for naam, value in (("relatie.naamgebruik", "2"), ("relatie.telefoonnummer", "0612345678"),
                                ("relatie.telefoon.landnummer", "0031")):
                etree.SubElement(own, f"{{{STUF_NS}}}extraElement", naam=naam).text = value
    return etree.tostring(root)


def test_a_zaak_written_before_the_rol_email_moved_reads_back_with_its_retired_names(converter: Converter,
                                                                                    reference_dir: Path) -> None:
    """The retired names stay registered (gateway/zaken/extraelementen.yaml) and are read from an older zaak: the
    client's client.emailadres, a relative's relatie.emailadres, relatie.naamgebruik and telephone."""
    data = (reference_dir / "samples" / "iwmo20-xml" / "CasusA-02-WMO301_toewijzing.xml").read_bytes()
    zaak = Converter(shared_registry()).convert(data, "a02").outputs[0]
    (back,) = converter.reverse(_as_written_before(zaak.xml), "iwmo21-wmo301", "zaak.xml")
    assert back.unplaced == ["clients.0.geheim", "clients.0.leefeenheid"]  # the partner is whole again
    client = converter.to_model(back.xml, "back.xml")[2].bericht.clients[0]
    assert [c.emailadres for c in client.contacten if c.emailadres] == ["DHRGaastra@email.nl"]
    (partner,) = client.relaties
    assert partner.naam.naamgebruik == "2"
    assert [(c.emailadres, [(t.nummer, t.landnummer) for t in c.telefoon]) for c in partner.contacten] == [
        ("dsmistral@email.nl", [("0612345678", "0031")])]
    (today,) = converter.reverse(zaak.xml, "iwmo21-wmo301", "zaak.xml")  # the same zaak as written now
    client = converter.to_model(today.xml, "today.xml")[2].bericht.clients[0]
    assert [c.emailadres for c in client.contacten if c.emailadres] == ["DHRGaastra@email.nl"]  # the initiator's


def test_a_20_intrekking_written_as_21_carries_the_closest_reden_wijziging(converter: Converter,
                                                                            reference_dir: Path) -> None:
    data = (reference_dir / "samples" / "iwmo20-xml" / "CasusA-04-WMO301_intrekking.xml").read_bytes()
    # unknown here: created (then ended) from its content
    zaak = Converter(shared_registry()).convert(data, "a04").outputs[0]
    (back,) = converter.reverse(zaak.xml, "iwmo21-wmo301", "zaak.xml")
    again = converter.to_model(back.xml, "back.xml")[2].bericht.clients[0].producten[0]
    assert (again.reden_wijziging, again.reden_intrekking) == ("09", None)  # COD172 4 (overplaatsing) -> 09
    assert any("reden_intrekking" in n for n in back.normalised)


def test_a_verzoek_cannot_be_written_as_a_toewijzing(converter: Converter, reference_dir: Path) -> None:
    data = (reference_dir / "samples" / "iwmo20-xml" / "CasusA-01-WMO315_verzoek.xml").read_bytes()
    with pytest.raises(ConversionError, match="writes toewijzing messages; this message is a verzoek"):
        converter.reverse(data, "iwmo21-wmo301")


def test_missing_required_target_data_is_an_error_not_an_invalid_message(converter: Converter) -> None:
    # a 3.2 toewijzing has no Beschikking; iWmo 2.1 requires one and nothing can be derived for its number
    data = (Path(__file__).parent / "fixtures" / "iwmo32" / "WMO301_toewijzing_budget.xml").read_bytes()
    with pytest.raises(ConversionError, match=r"lacks what iwmo21-wmo301 requires: clients\.0\.beschikking\.nummer"):
        converter.reverse(data, "iwmo21-wmo301")


def test_what_lacks_is_said_before_what_cannot_be_written(converter: Converter) -> None:
    """The writer's one walk also notes required values that are empty. A writing error earlier in that walk
    (three telephone numbers where 2.1 has room for two) must not hide the lacking value (StUF055) behind it."""
    bericht = converter.convert((FIXTURES / "Full-WMO301_alle_elementen.xml").read_bytes(), "full").bericht
    mapping = converter.registry.get("iwmo21-wmo301")
    too_many = bericht.model_copy(deep=True)
    contact = too_many.clients[0].contacten[0]
    contact.telefoon = [contact.telefoon[0]] * 3
    with pytest.raises(ConversionError, match="3 items, but"):
        unmap(mapping, too_many)
    too_many.clients[0].bsn = ""  # written before the contacts, and required
    with pytest.raises(ConversionError, match=r"lacks what iwmo21-wmo301 requires: clients\.0\.bsn$") as caught:
        unmap(mapping, too_many)
    assert caught.value.__context__ is None  # nothing of the writing error rides along
    empty = bericht.model_copy(deep=True)
    empty.clients[0].bsn = ""
    with pytest.raises(ConversionError, match=r"requires: clients\.0\.bsn$"):
        unmap(mapping, empty)


def test_the_unplaced_shortcut_names_what_looking_up_every_value_names(converter: Converter,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """When the writer placed every value it saw, unmap names only the values at no rule's path; it must name
    exactly what looking up each value of the message among the placed paths names, for every fixture and every
    dialect of its version (2.0 samples written as 2.1 leave values unplaced; a PGB leveringsvorm is one the
    writer saw and could not place)."""
    from gateway.mapping import reverse

    cases = []
    for path in sorted(Path(__file__).parent.glob("fixtures/*/*.xml")):
        bericht = converter.convert(path.read_bytes(), path.name).bericht
        pgb = bericht.model_copy(deep=True)
        for client in pgb.clients:
            for product in client.producten:
                product.leveringsvorm = "PGB"
        cases += [(path.name, m, b) for b in (bericht, pgb) for m in converter.registry.all()
                  if (m.wet, m.versie, m.format) == (b.wet, b.versie, "xml") and m.match.root]

    def written(mapping: Compiled, bericht: Bericht) -> list[str] | str:
        try:
            return unmap(mapping, bericht).unplaced
        except ConversionError as exc:
            return str(exc)

    shortcut = [written(m, b) for _, m, b in cases]
    init = reverse._Writer.__init__

    def looked_up(self: reverse._Writer, plan: reverse.MappingPlan) -> None:
        init(self, plan)
        self.partial = True  # the shortcut never applies: every value is looked up

    monkeypatch.setattr(reverse._Writer, "__init__", looked_up)
    assert [written(m, b) for _, m, b in cases] == shortcut
    assert any(isinstance(u, list) and any(p.endswith("leveringsvorm") for p in u) for u in shortcut)


def test_a_20_verzoek_written_as_21_derives_the_required_referentie_aanbieder(converter: Converter,
                                                                             reference_dir: Path) -> None:
    data = (reference_dir / "samples" / "iwmo20-xml" / "CasusA-01-WMO315_verzoek.xml").read_bytes()
    (back,) = converter.reverse(data, "iwmo21-wmo315")
    assert errors_of(etree.fromstring(back.xml)) == []
    again = converter.convert(back.xml, "back.xml").bericht.clients[0].producten[0]
    assert again.referentie_aanbieder == "77edaa56cd81-1-1"


def test_rules_without_a_reverse_are_reported_one_way(tmp_path: Path) -> None:
    mapping = tmp_path / "substring.yaml"
    mapping.write_text(
        "overstap-mapping: 1\nname: test-substring\nextends: iwmo20-wmo301\n"
        "match: {namespace: 'urn:test', root: Bericht}\n"
        "rules:\n  clients:\n    rules:\n      naam.voorletters: {path: m:Naam/i:Voorletters, "
        "transform: {substring: [0, 3]}}\n",
        encoding="utf-8")
    registry = Registry(files=[mapping])
    compiled = registry.get(str(mapping))
    assert "clients[].naam.voorletters (substring)" in compiled.one_way


def test_the_items_of_a_group_that_cannot_be_written_are_all_unplaced(converter: Converter, tmp_path: Path) -> None:
    """A group whose ``each`` is no plain path is one-way: none of its items is written, so each of their
    values is named unplaced (the writer never saw them, so its count of what it placed cannot vouch for them)."""
    mapping = tmp_path / "first-product.yaml"
    mapping.write_text(
        "overstap-mapping: 1\nname: test-first-product\nextends: iwmo21-wmo301\n"
        "rules:\n  clients:\n    rules:\n      producten:\n"
        "        each: m:Beschikking/m:ToegewezenProducten/m:ToegewezenProduct[1]\n"
        "        rules:\n          code: m:Product/i:Code\n",
        encoding="utf-8")
    compiled = Registry(files=[mapping]).get(str(mapping))
    bericht = converter.convert((FIXTURES / "Full-WMO301_alle_elementen.xml").read_bytes(), "full").bericht
    written = unmap(compiled, bericht)
    assert any(w.startswith("clients.0.producten (each: ") for w in written.one_way)
    assert "clients.0.producten.0.code" in written.unplaced
    assert "clients.0.producten.0.ingangsdatum" in written.unplaced


def test_a_normalising_transform_writes_back_only_values_in_its_normal_form(tmp_path: Path) -> None:
    """upper/lower/replace have no inverse, but a canonical value they leave unchanged can be written as is;
    one they would change is reported one-way for that message and left unplaced, never written wrong."""
    mapping = tmp_path / "upper.yaml"
    mapping.write_text(
        "overstap-mapping: 1\nname: test-upper\nextends: iwmo21-wmo301\n"
        "rules:\n  clients:\n    rules:\n      naam.voorletters: {path: m:Naam/i:Voorletters, transform: upper}\n",
        encoding="utf-8")
    compiled = Registry(files=[mapping]).get(str(mapping))
    assert not any("voorletters" in item for item in compiled.one_way)
    converter = Converter(Registry(files=[mapping]), mappings=[str(mapping)])
    original = converter.convert((FIXTURES / "CasusA-02-WMO301_toewijzing.xml").read_bytes(), "a02")
    assert original.bericht.clients[0].naam.voorletters == "DHR"
    written = unmap(compiled, original.bericht)
    assert written.one_way == [] and written.unplaced == []
    lower = original.bericht.model_copy(deep=True)
    lower.clients[0].naam.voorletters = "dhr"
    written = unmap(compiled, lower)
    # the initials by their shape (review s18: they were quoted, and convert --reverse printed them)
    assert written.one_way == ["clients.0.naam.voorletters (upper would change (3 letters): not its normal form)"]
    assert written.unplaced == ["clients.0.naam.voorletters"]


def test_cli_reverse_writes_files_and_reports(tmp_path: Path, reference_dir: Path) -> None:
    runner = CliRunner()
    sample = reference_dir / "samples" / "iwmo20-xml" / "CasusA-02-WMO301_toewijzing.xml"
    zkn = tmp_path / "zkn"
    assert runner.invoke(main, ["convert", str(sample), "--out", str(zkn), "--state", "none"]).exit_code == 0
    out = tmp_path / "back"
    result = runner.invoke(main, ["convert", "--reverse", "--mapping", "iwmo21-wmo301", str(zkn), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "not representable in iwmo21-wmo301: clients.0.leefeenheid" in result.output
    (written,) = out.glob("*.xml")
    assert re.fullmatch(r"iwmo21-wmo301-[0-9a-f]{12}\.xml", written.name)  # 12 hex made from the zaak id
    assert errors_of(etree.parse(str(written)).getroot()) == []
    usage = runner.invoke(main, ["convert", "--reverse", str(sample), "--out", str(out)])
    assert usage.exit_code == 2 and "exactly one --mapping" in usage.output


def _texts(root: etree._Element, local: str) -> list[str | None]:
    return [e.text for e in root.iter() if isinstance(e.tag, str) and etree.QName(e).localname == local]


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("*.xml")))
def test_codes_are_written_back_in_the_lists_two_digit_form(converter: Converter, fixture: str,
                                                             reference_dir: Path) -> None:
    """2.1 types Categorie and Eenheid as xs:integer; the lists (and every fixture) spell them 07 and 04."""
    data = (FIXTURES / fixture).read_bytes()
    original = converter.convert(data, fixture)
    written = unmap(original.mapping, original.bericht).root
    source = etree.fromstring(data)
    for local in ("Categorie", "Eenheid"):
        assert _texts(written, local) == _texts(source, local), local
        assert all(len(t or "") == 2 for t in _texts(written, local))


def test_a_317_line_goes_to_the_group_its_verzoek_groep_names() -> None:
    """OngewijzigdProduct | TeWijzigenProduct | NieuwProduct: the element's own name says the group, so the
    canonical verzoek_groep chooses it on the way back (two new lines and an unchanged one, in any order)."""
    converter = Converter(shared_registry())
    data = (Path(__file__).parent / "fixtures" / "iwmo32" / "WMO317_verzoek_wijziging.xml").read_bytes()
    original = converter.convert(data, "317.xml")
    client = original.bericht.clients[0]
    unchanged, change, new = client.producten
    second = new.model_copy(update={"code": "07A04"})
    shuffled = original.bericht.model_copy(deep=True)
    shuffled.clients[0].producten = [new, unchanged, second, change]
    written = unmap(original.mapping, shuffled)
    assert written.unplaced == [] and written.one_way == []
    ns = {"m": "http://www.istandaarden.nl/iwmo/3_2/wmo317/schema",
          "i": "http://www.istandaarden.nl/iwmo/3_2/basisschema/schema"}
    verzoek = written.root.find("m:Client/m:Verzoek", ns)
    assert [etree.QName(e).localname for e in verzoek][2:] == [
        "OngewijzigdeProducten", "TeWijzigenProducten", "NieuweProducten"]
    assert [e.text for e in verzoek.findall("m:NieuweProducten/m:NieuwProduct/m:Product/i:Code", ns)] == [
        "07A03", "07A04"]
    back = converter.convert(written.tostring(), "back.xml").bericht.clients[0].producten
    assert [(p.verzoek_groep, p.toewijzingnummer, p.code) for p in back] == [
        ("ongewijzigd", "320002", None), ("te-wijzigen", "320001", None), ("nieuw", None, "07A03"),
        ("nieuw", None, "07A04")]


def test_a_value_other_than_the_dialects_constant_is_reported_not_placed(converter: Converter,
                                                                         reference_dir: Path) -> None:
    """An iWmo toewijzing is zorg in natura (leveringsvorm: {constant: ZIN}); a PGB line cannot be said."""
    original = converter.convert((FIXTURES / "CasusA-02-WMO301_toewijzing.xml").read_bytes(), "a02")
    pgb = original.bericht.model_copy(deep=True)
    pgb.clients[0].producten[0].leveringsvorm = "PGB"
    assert unmap(original.mapping, original.bericht).unplaced == []
    assert unmap(original.mapping, pgb).unplaced == ["clients.0.producten.0.leveringsvorm"]


def test_ei_pairs_root_attribute_and_fewer_values_than_paths_are_written_back(converter: Converter) -> None:
    """The EI dialect reads a telephone's Landnummer as the field after its number
    (``following-sibling::*[1][self::Landnummer01 or self::Landnummer02]``), recognises the message by
    ``@berichtcode`` and takes Grondslag01/02 as the grondslagen present: all three are written back."""
    from gateway.ingest.ei import default_layouts
    from gateway.ingest.ei_write import write_ei

    original = converter.convert((FIXTURES / "Full-WMO301_alle_elementen.xml").read_bytes(), "full").bericht
    bericht = original.model_copy(deep=True)
    contact = bericht.clients[0].contacten[0]
    first = contact.telefoon[0]
    assert first.landnummer == "0031"
    contact.telefoon = [first, first.model_copy(update={"nummer": "0612345678", "landnummer": None})]
    bericht.clients[0].beschikking.grondslagen = ["04"]
    mapping = converter.registry.get("iwmo20-ei-wmo301")
    written = unmap(mapping, bericht)
    assert written.root.get("berichtcode") == "414"
    adres = written.root.find("Client/Adres")
    assert [(e.tag, e.text) for e in adres if e.tag.startswith(("Telefoon", "Landnummer"))] == [
        ("Telefoonnummer01", first.nummer), ("Landnummer01", "0031"), ("Telefoonnummer02", "0612345678")]
    assert [e.tag for e in written.root.find("Client/Beschikking") if e.tag.startswith("Grondslag")] == [
        "Grondslag01"]
    again = converter.convert(write_ei(written.root, default_layouts()), "back.ei").bericht.clients[0]
    assert [(t.nummer, t.landnummer) for t in again.contacten[0].telefoon] == [
        (first.nummer, "0031"), ("0612345678", None)]
    assert again.beschikking.grondslagen == ["04"]


def test_a_reversed_message_s_name_is_one_file_name_whatever_its_identificatie(monkeypatch: pytest.MonkeyPatch) -> None:
    """The way back names its file after the message's identificatie: from a v1 zakLk01 that is the sender's
    ``bericht.identificatie`` as it was, so ``../`` or ``/`` there must not make the name a path."""
    from gateway.ingest import zkn_v2

    real = zkn_v2.read_zkn_v2
    monkeypatch.setattr(zkn_v2, "read_zkn_v2", lambda *a: real(*a).model_copy(update={"identificatie": "../../x/y"}))
    # its own ledger: the module's converter holds this zaak already
    converter = Converter(shared_registry(), validate=False)
    zaak = converter.convert((FIXTURES / "CasusA-02-WMO301_toewijzing.xml").read_bytes(), "a.xml").outputs[0].xml
    (reversal,) = converter.reverse(zaak, "iwmo21-wmo301", "zaak.xml")
    assert reversal.name == "iwmo21-wmo301-.._.._x_y"
