"""The way back changes nothing without saying so (the review of session 21): what a zaak or a flat file cannot
tell is named in the Reversal, and what the target cannot hold is refused, never written to vanish on reading."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from shared_registry import shared_registry

from gateway.ingest import InputError, read
from gateway.ingest.zkn_v2 import read_zkn_v2
from gateway.mapping import ConversionError
from gateway.pipeline import Converter

FIXTURES = Path(__file__).parent / "fixtures" / "iwmo21"
SOORT_NOTE = "read as 01 (BRP address)"


def _zaak(data: bytes) -> bytes:
    (zaak,) = Converter(shared_registry(), validate=False).convert(data, "301.xml").outputs
    assert zaak.operation == "creeerZaak"
    return zaak.xml


def test_a_place_of_stay_read_back_from_a_zaak_as_the_brp_address_is_named() -> None:
    """The forward writes the verblijfsadres from contact 01, else 03/04; a zaak does not say which, and the reader
    takes 01. The client's tijdelijk adres (04) comes back as a BRP address: a changed value, so it is named."""
    data = (FIXTURES / "CasusB-01-WMO301_toewijzing.xml").read_bytes()
    tijdelijk = data.replace(b"<wmo301:Soort>01</wmo301:Soort>", b"<wmo301:Soort>04</wmo301:Soort>", 1)
    assert tijdelijk != data
    converter = Converter(shared_registry(), validate=False)
    before = converter.to_model(tijdelijk, "04.xml")[2].bericht.clients[0]
    assert [c.soort for c in before.contacten] == ["04"]
    (back,) = converter.reverse(_zaak(tijdelijk), "iwmo21-wmo301", "zaak.xml")
    after = converter.to_model(back.xml, "back.xml")[2].bericht.clients[0]
    assert [c.soort for c in after.contacten] == ["01"]  # what the zaak allows ...
    assert after.contacten[0].adres == before.contacten[0].adres.model_copy(update={"landcode": None})
    notes = [n for n in back.normalised if SOORT_NOTE in n]
    assert [n.split(":", 1)[0] for n in notes] == ["clients.0.contacten.0.soort"]  # ... and said
    assert "tijdelijk" not in " ".join(back.normalised)  # by path, never with the value


def test_a_relative_s_contact_soort_is_named_for_each_relative() -> None:
    """A relative's correspondence contact (02) keeps only its e-mail address in a zaak and comes back as 01."""
    data = (FIXTURES / "Full-WMO301_alle_elementen.xml").read_bytes()
    converter = Converter(shared_registry(), validate=False)
    before = converter.to_model(data, "full.xml")[2].bericht.clients[0]
    assert [c.soort for c in before.relaties[0].contacten] == ["02"]
    (back,) = converter.reverse(_zaak(data), "iwmo21-wmo301", "zaak.xml")
    after = converter.to_model(back.xml, "back.xml")[2].bericht.clients[0]
    assert [(c.soort, c.emailadres) for c in after.relaties[0].contacten] == [
        ("01", before.relaties[0].contacten[0].emailadres)]
    assert [n.split(":", 1)[0] for n in back.normalised if SOORT_NOTE in n] == [
        "clients.0.contacten.0.soort", "clients.0.relaties.0.contacten.0.soort"]


def test_a_dialect_message_s_own_soorten_are_not_said_to_be_read_as_01() -> None:
    """Only a zaak leaves the soort unsaid: a 2.1 message written as 2.0 keeps its own soorten."""
    data = (FIXTURES / "Full-WMO301_alle_elementen.xml").read_bytes()
    (back,) = Converter(shared_registry(), validate=False).reverse(data, "iwmo20-wmo301", "full.xml")
    assert not [n for n in back.normalised if SOORT_NOTE in n]


def test_a_volume_of_zero_is_refused_for_an_ei_file_not_written_to_vanish() -> None:
    """An EI N field of zeros is empty (notes/ei-flat-format.md), so Volume 0, valid in iWmo 2.1 (0..99999999),
    would be written as a file whose toewijzing reads back without the volume its omvang requires."""
    data = (FIXTURES / "CasusA-02-WMO301_toewijzing.xml").read_bytes()
    converter = Converter(shared_registry(), validate=False)
    line = converter.to_model(data, "a02.xml")[2].bericht.clients[0].producten[0]
    assert line.omvang is not None and line.omvang.volume > 0
    nul = data.replace(f"<iwmo:Volume>{line.omvang.volume}</iwmo:Volume>".encode(), b"<iwmo:Volume>0</iwmo:Volume>")
    assert nul.count(b"<iwmo:Volume>0</iwmo:Volume>") >= 1
    assert converter.to_model(nul, "nul.xml")[2].bericht.clients[0].producten[0].omvang.volume == 0
    with pytest.raises(ConversionError, match="Volume cannot hold a value of only zeros") as caught:
        converter.reverse(nul, "iwmo20-ei-wmo301", "nul.xml")
    assert caught.value.path is not None and caught.value.path.endswith("/Volume")


@pytest.mark.parametrize(("source", "target", "message"), [
    ("ijw21/JW301_toewijzing.xml", "iwmo20-wmo301", "writes Wmo messages; this message is a Jeugdwet toewijzing"),
    ("iwmo21/CasusB-01-WMO301_toewijzing.xml", "ijw21-jw301",
     "writes Jeugdwet messages; this message is a Wmo toewijzing"),
])
def test_a_message_of_the_other_law_is_refused_not_written_with_its_berichtcode(source: str, target: str,
                                                                                 message: str) -> None:
    """Written, a Jeugdwet toewijzing in a Wmo dialect kept its BerichtCode 436: a message no reader takes (and for
    the dialects without an XSD here, 2.0 and iJw 2.1, nothing said so). Its zaak and the message alike."""
    data = (FIXTURES.parent / source).read_bytes()
    for given in (data, _zaak(data)):
        with pytest.raises(ConversionError, match=message) as caught:
            Converter(shared_registry(), validate=False).reverse(given, target, "in.xml")
        assert caught.value.field == "wet"


def test_a_zaak_of_a_317_line_reads_back_as_a_verzoek_wijziging_not_as_a_315() -> None:
    """Read as a 315, a 317 line's zaak was refused for every target as a verzoek without a birth date (which a 317
    does not carry). It is a verzoek-wijziging, 3.x only, with the client's ReferentieAanbieder; a 315 dialect refuses
    it by its kind, and the 317 dialect only for the XsdVersie no zaak carries (docs/canonical-spec.md 9)."""
    data = (FIXTURES.parent / "iwmo32" / "WMO317_verzoek_wijziging.xml").read_bytes()
    converter = Converter(shared_registry(), validate=False)
    original = converter.convert(data, "317.xml")
    kinds = {z.code: tuple(key.rsplit(":", 1)[-1].split(".", 1)) for key, z in converter.settings.zaaktypen.items()}
    for zaak, line in zip(original.outputs, original.bericht.clients[0].producten[1:], strict=True):
        back = read_zkn_v2(read(zaak.xml).root, "zaak.xml", kinds)  # type: ignore[arg-type]
        assert (back.soort, back.versie, back.berichtcode) == ("verzoek-wijziging", "3.2", "480")
        (client,) = back.clients
        assert client.referentie_aanbieder == original.bericht.clients[0].referentie_aanbieder
        assert client.producten == [line.model_copy(update={"aanbieder": "98026987"})]
        with pytest.raises(ConversionError, match="writes verzoek messages; this message is a verzoek-wijziging"):
            converter.reverse(zaak.xml, "iwmo21-wmo315", "zaak.xml")
        with pytest.raises(ConversionError) as caught:
            converter.reverse(zaak.xml, "iwmo32-wmo317", "zaak.xml")
        assert caught.value.message.endswith(
            "lacks what iwmo32-wmo317 requires: xsd_versie_basisschema, xsd_versie_bericht")


def test_with_validation_on_an_ei_output_is_read_back_by_the_ei_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """An EI file has no XSD: validation on reads it back with the parser, so a file written wrong (here a sluit
    record counting one record too many) is an error, not an output. Validation off writes it as it is."""
    import gateway.ingest.ei_write as ei_write
    from gateway.render.schemas import OutputInvalid

    real = ei_write.write_ei

    def miscounted(root: object, layouts: object) -> bytes:
        lines = real(root, layouts).decode("latin-1").split("\n")  # type: ignore[arg-type]
        sluit = lines[-2]
        assert sluit.startswith("99")
        lines[-2] = sluit[:2] + str(int(sluit[2:8]) + 1).zfill(6) + sluit[8:]
        return "\n".join(lines).encode("latin-1")

    monkeypatch.setattr(ei_write, "write_ei", miscounted)
    data = (FIXTURES / "CasusA-02-WMO301_toewijzing.xml").read_bytes()
    (unchecked,) = Converter(shared_registry(), validate=False).reverse(data, "iwmo20-ei-wmo301", "a02.xml")
    assert unchecked.suffix == ".ei"
    with pytest.raises(OutputInvalid, match="iwmo20-ei-wmo301 EI layout") as caught:
        Converter(shared_registry(), validate=True).reverse(data, "iwmo20-ei-wmo301", "a02.xml")
    assert "123456782" not in str(caught.value)


@pytest.mark.parametrize("same", [True, False])
def test_a_retired_e_mail_name_beside_the_rol_s_is_read_only_when_they_agree(same: bool) -> None:
    """A zaak with the client's ROL emailadres and the retired client.emailadres: the retired one was passed over
    without a word. The same address twice reads back; two addresses are refused, naming the retired element."""
    stuf = "http://www.egem.nl/StUF/StUF0301"
    root = etree.fromstring(_zaak((FIXTURES / "Full-WMO301_alle_elementen.xml").read_bytes()))
    (rol,) = root.xpath("//*[local-name()='heeftAlsInitiator']/*[local-name()='extraElementen']/*")
    extras = root.xpath("/*/*[local-name()='object']/*[local-name()='extraElementen']")[0]
    retired = "ander.adres@example.nl" if not same else rol.text
    etree.SubElement(extras, f"{{{stuf}}}extraElement", naam="client.emailadres").text = retired
    converter = Converter(shared_registry(), validate=False)
    if same:
        (back,) = converter.reverse(etree.tostring(root), "iwmo21-wmo301", "zaak.xml")
        client = converter.to_model(back.xml, "back.xml")[2].bericht.clients[0]
        assert [c.emailadres for c in client.contacten] == [rol.text]
        return
    with pytest.raises(InputError) as caught:
        converter.reverse(etree.tostring(root), "iwmo21-wmo301", "zaak.xml")
    assert caught.value.field == "extraElement client.emailadres"
    assert "differs from the ROL's emailadres" in caught.value.message
    assert retired not in str(caught.value) and rol.text not in str(caught.value)


def test_an_einddatum_that_differs_from_the_einddatum_gepland_is_refused() -> None:
    """Both end dates on one creeerZaak: the planned one was read and the other passed over without a word."""
    zkn = "http://www.egem.nl/StUF/sector/zkn/0310"
    root = etree.fromstring(_zaak((FIXTURES / "Full-WMO301_alle_elementen.xml").read_bytes()))
    gepland = root.find(f"{{{zkn}}}object/{{{zkn}}}einddatumGepland")
    assert gepland is not None and gepland.text
    gepland.addnext(etree.Element(f"{{{zkn}}}einddatum"))
    gepland.getnext().text = "20991231"
    with pytest.raises(InputError) as caught:
        Converter(shared_registry(), validate=False).reverse(etree.tostring(root), "iwmo21-wmo301", "zaak.xml")
    assert (caught.value.field, caught.value.message) == (
        "einddatum", "einddatum differs from einddatumGepland; the product line has one end date")
    gepland.getnext().text = gepland.text  # the same date twice says one thing
    (back,) = Converter(shared_registry(), validate=False).reverse(etree.tostring(root), "iwmo21-wmo301", "zaak.xml")
    assert back.xml
