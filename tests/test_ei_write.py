"""EI flat files as an output: the writer is the parser's inverse, from the same layout declarations.

The strongest check is byte equality with the 15 public EI files: parse -> write, and the whole way
EI -> canonical (zakLk01) -> EI through ``convert --reverse``. The only bytes not reproduced are the
final newline that the four ``*_voorbeeld.txt`` files lack (the writer ends every record with one).
The rest runs without the reference: hand-built trees, every refusal, the CLI.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree
from shared_registry import shared_registry

from gateway.cli import main
from gateway.ingest.ei import EiError, EiLayouts, default_layouts, parse_ei
from gateway.ingest.ei_write import write_ei
from gateway.mapping import ConversionError
from gateway.pipeline import Converter
from gateway.reference import reference_dir

EI_SAMPLES = reference_dir() / "samples" / "iwmo-ei"
XML_SAMPLES = reference_dir() / "samples" / "iwmo20-xml"
NAMES = sorted(p.name for p in EI_SAMPLES.iterdir()) if EI_SAMPLES.is_dir() else ["reference-absent"]
TWINS = sorted(p.stem for p in XML_SAMPLES.glob("*.xml")) if XML_SAMPLES.is_dir() else ["reference-absent"]
WITHOUT_FINAL_NEWLINE = {"WMO301_voorbeeld.txt", "WMO305_voorbeeld.txt", "WMO307_voorbeeld.txt",
                         "WMO315_voorbeeld.txt"}
FIXTURES_21 = Path(__file__).parent / "fixtures" / "iwmo21"


@pytest.fixture(scope="module")
def layouts() -> EiLayouts:
    return default_layouts()


@pytest.fixture(scope="module")
def converter() -> Converter:
    return Converter(shared_registry())


def _expected(name: str, data: bytes) -> bytes:
    """The sample as the writer spells it: the voorbeeld files only lack their final newline."""
    if name in WITHOUT_FINAL_NEWLINE:
        assert not data.endswith(b"\n")
        return data + b"\n"
    return data


def test_the_reference_set_is_the_one_measured(reference_dir: Path) -> None:
    assert len(NAMES) == 15 and set(NAMES) >= WITHOUT_FINAL_NEWLINE
    assert all((EI_SAMPLES / n).read_bytes().endswith(b"\n") for n in set(NAMES) - WITHOUT_FINAL_NEWLINE)


@pytest.mark.parametrize("name", NAMES)
def test_parse_then_write_gives_back_the_same_bytes(name: str, layouts: EiLayouts, reference_dir: Path) -> None:
    data = (EI_SAMPLES / name).read_bytes()
    assert write_ei(parse_ei(data, layouts, name), layouts) == _expected(name, data)


@pytest.mark.parametrize("name", NAMES)
def test_ei_to_canonical_and_back_gives_the_same_bytes(name: str, converter: Converter, reference_dir: Path) -> None:
    """The whole way: EI -> canonical model -> EI, through the same mapping file. (Profile zkn v2's zakLk01 is
    a ZDS operation on one toewijzing's zaak, not a carrier of the whole message: docs/canonical-spec.md.)"""
    data = (EI_SAMPLES / name).read_bytes()
    _, mapping, _ = converter.to_model(data, name)
    (back,) = converter.reverse(data, mapping.name, name)
    assert back.suffix == ".ei" and back.unplaced == []
    assert back.xml == _expected(name, data)


@pytest.mark.parametrize("stem", TWINS)
def test_a_20_xml_message_is_written_as_its_ei_twin(stem: str, converter: Converter, reference_dir: Path) -> None:
    data = (XML_SAMPLES / f"{stem}.xml").read_bytes()
    dialect = converter.to_model(data, stem)[1].name  # iwmo20-wmo301 -> iwmo20-ei-wmo301 (a lone 305 has no zaak)
    (back,) = converter.reverse(data, dialect.replace("iwmo20-", "iwmo20-ei-"), stem)
    assert back.xml == (EI_SAMPLES / f"{stem}.ei").read_bytes()


# --------------------------------------------------------------------------------------------------
# Hand-built trees: what the writer fills in itself


def _el(tag: str, *children: etree._Element, **fields: str) -> etree._Element:
    el = etree.Element(tag)
    for name, value in fields.items():
        etree.SubElement(el, name).text = value
    el.extend(children)
    return el


def _toewijzing() -> etree._Element:
    """A 414 with two relaties, each with an address, the client's own address, and no link fields,
    Relatienummers, sequence numbers or Sluit: everything the writer must supply."""
    relaties = [_el("Relatie", _el("Adres", Soort="01", Postcode="1234AB", Huisnummer="7"),
                    Nummer=nummer, Soort="02", Geslacht="2", Geslachtsnaam=naam)
                for nummer, naam in (("00000000001", "Mistral"), ("00000000002", "Müller"))]
    client = _el("Client", *relaties, _el("Adres", Soort="01", Postcode="9999ZZ", Emailadres="c@example.org"),
                 _el("Beschikking",
                     _el("BeschiktProduct", Categorie="07", Code="07A03", Ingangsdatum="2016-02-15"),
                     _el("ToegewezenProduct", Categorie="07", Code="07A03", Toewijzingstijd="00:00:00",
                         Volume="6", Eenheid="04", Frequentie="2"),
                     Beschikkingnummer="425386123", Grondslag01="04", Afgiftedatum="2016-02-15"),
                 Bsn="111222333", Clientnummer="111222333", Geboortedatum="1950-05-17", Geslacht="0",
                 Geslachtsnaam="Jansen")
    root = _el("EI", _el("Voorloop", Versie="2", SubVersie="0", Gemeentecode="0384", Aanbieder="98025566",
                         Identificatie="abc123", Dagtekening="2016-02-20", Tekenset="1"), client)
    root.set("berichtcode", "414")
    return root


def test_the_writer_fills_links_sequence_numbers_and_counters(layouts: EiLayouts) -> None:
    data = write_ei(_toewijzing(), layouts)
    lines = data.decode("latin-1").split("\n")
    assert lines[-1] == "" and all(len(line) == 310 for line in lines[:-1])
    records = lines[:-1]
    assert [r[:2] for r in records] == ["01", "02", "03", "03", "04", "04", "04", "08", "09", "15", "99"]
    assert [r[2:14] for r in records[1:-1]] == [f"{n:012d}" for n in range(1, 10)]
    assert all(r[14:38] == "0000111222333".ljust(24) for r in records[2:-1])  # Clientnummer from the 02
    assert records[1][24:48] == "0000111222333".ljust(24)  # zero_pad: 13 digits, as every sample
    assert [r[38:58] for r in records[4:7]] == ["00000000001".ljust(20), "00000000002".ljust(20), " " * 20]
    assert all(r[38:56] == "000000000425386123" for r in records[7:10])  # Beschikkingnummer from the 08
    assert records[3][72:97] == "Müller".ljust(25) and "Müller".encode("latin-1") in data
    assert records[9][83:89] == "000000"  # Toewijzingstijd midnight; absent dates are zeros
    assert records[6][273:289] == "0" * 16 and records[6][72:80] == "9999ZZ  "
    assert records[-1][:63] == "99" + "".join(f"{n:06d}" for n in (1, 2, 3, 0, 1, 1, 0, 1, 0)) + f"{9:07d}"
    back = parse_ei(data, layouts)
    assert [a.findtext("Postcode") for a in back.iter("Adres")] == ["1234AB", "1234AB", "9999ZZ"]
    assert [a.getparent().tag for a in back.iter("Adres")] == ["Relatie", "Relatie", "Client"]
    assert back.findtext("Client/Relatie[2]/Adres/Relatienummer") == "00000000002"
    assert back.findtext("Client/Relatie[2]/Geslachtsnaam") == "Müller"
    assert back.findtext("Sluit/AantalDetailrecords") == "9"


def test_a_written_tree_reads_back_to_itself(layouts: EiLayouts) -> None:
    def fields(root: etree._Element) -> list[tuple[str, str]]:
        links = {"Clientnummer", "Beschikkingnummer", "Relatienummer"}
        return [(root.getroottree().getpath(e), e.text or "") for e in root.iter()
                if not len(e) and e.getparent() is not None and e.getparent().tag != "Sluit"
                and not (e.tag in links and e.getparent().getparent() is not None
                         and e.getparent().getparent().tag != "EI")]

    tree = _toewijzing()
    back = parse_ei(write_ei(tree, layouts), layouts)
    expected = [(path, text) for path, text in fields(tree)]
    expected += [("/EI/Voorloop/BerichtCode", "414")]  # fixed: written although the tree left it out
    assert sorted(fields(back)) == sorted(expected)


def _set(root: etree._Element, path: str, value: str) -> etree._Element:
    target = root.find(path)
    assert target is not None, path
    target.text = value
    return root


def _add(root: etree._Element, path: str, tag: str, value: str) -> etree._Element:
    parent = root.find(path)
    assert parent is not None, path
    etree.SubElement(parent, tag).text = value
    return root


REFUSALS = [
    ("too-long", lambda r: _set(r, "Client/Geslachtsnaam", "x" * 26), "Client[1]/Geslachtsnaam",
     "more than its 25 positions"),
    ("not-digits", lambda r: _set(r, "Client/Bsn", "12345678X"), "Client[1]/Bsn", "must be digits"),
    ("bad-date", lambda r: _set(r, "Client/Geboortedatum", "1950-02-30"), "Client[1]/Geboortedatum",
     "not a real date"),
    ("bad-time", lambda r: _set(r, "Client/Beschikking/ToegewezenProduct/Toewijzingstijd", "24:00:00"),
     "Client[1]/Beschikking[1]/ToegewezenProduct[1]/Toewijzingstijd", "must be a time"),
    ("not-latin-1", lambda r: _set(r, "Client/Geslachtsnaam", "Øster€"), "Client[1]/Geslachtsnaam", "ISO-8859-1"),
    ("line-break", lambda r: _set(r, "Client/Geslachtsnaam", "Jan\nsen"), "Client[1]/Geslachtsnaam",
     "line break"),
    # a C1 control (U+0080-U+009F) fits ISO-8859-1 but the parser refuses it: written, the file would not read back
    ("c1-control", lambda r: _set(r, "Client/Geslachtsnaam", "O\x92Brien"), "Client[1]/Geslachtsnaam",
     "control character"),
    # what the parser reads as an empty field would vanish on the way back in: Volume 0 (0..99999999 in 2.1)
    ("zero-volume", lambda r: _set(r, "Client/Beschikking/ToegewezenProduct/Volume", "0"),
     "Client[1]/Beschikking[1]/ToegewezenProduct[1]/Volume", "only zeros or spaces: the parser takes that"),
    ("blank-name", lambda r: _set(r, "Client/Geslachtsnaam", "  "), "Client[1]/Geslachtsnaam",
     "cannot hold a value of only spaces"),
    ("fixed", lambda r: _set(r, "Voorloop/Versie", "3"), "Voorloop/Versie", "must be '02'"),
    ("max", lambda r: _set(r, "Client/Beschikking/Beschikkingnummer", "1234567890"),
     "Client[1]/Beschikking[1]/Beschikkingnummer", "more than the maximum 999999999"),
    ("unknown-field", lambda r: _add(r, "Client", "Voornamen", "Piet"), "Client[1]/Voornamen",
     "not a field of record 02"),
    ("twice", lambda r: _add(r, "Client", "Bsn", "111222333"), "Client[1]/Bsn", "Bsn twice"),
    ("link-differs", lambda r: _add(r, "Client/Beschikking", "Clientnummer", "999"),
     "Client[1]/Beschikking[1]/Clientnummer", r"differs from the Clientnummer of the parent record \(here 3 digits, "
     r"there 9 digits\)"),
    ("not-top-level", lambda r: r.append(_el("Beschikking")) or r, "Beschikking", "directly under EI"),
    ("unknown-code", lambda r: r.set("berichtcode", "999") or r, "BerichtCode", "no EI layout for BerichtCode"),
]


@pytest.mark.parametrize(("mutate", "where", "message"), [pytest.param(*c[1:], id=c[0]) for c in REFUSALS])
def test_what_cannot_be_written_is_refused_with_its_element(mutate: object, where: str, message: str,
                                                            layouts: EiLayouts) -> None:
    tree = mutate(_toewijzing())  # type: ignore[operator]
    with pytest.raises(EiError, match=message) as exc:
        write_ei(tree, layouts)
    assert exc.value.field == where


PLANTED = [  # a BSN, a name or a birth date where the layout refuses it: the refusal must not repeat it
    ("bsn-in-name", "Client/Geslachtsnaam", "Castricum 123456782 Castricum"),
    ("name-in-bsn", "Client/Bsn", "Castricum"),
    ("bsn-in-date", "Client/Geboortedatum", "123456782"),
    ("birth-date-not-real", "Client/Geboortedatum", "1985-02-30"),
    ("name-in-time", "Client/Beschikking/ToegewezenProduct/Toewijzingstijd", "Castricum"),
    ("bsn-in-versie", "Voorloop/Versie", "123456782"),
    ("bsn-too-big", "Client/Beschikking/Beschikkingnummer", "1234567820"),
    ("name-not-latin-1", "Client/Geslachtsnaam", "Castricum€"),
]


@pytest.mark.parametrize(("path", "value"), [pytest.param(*c[1:], id=c[0]) for c in PLANTED])
def test_a_refused_value_is_never_repeated(path: str, value: str, layouts: EiLayouts) -> None:
    with pytest.raises(EiError) as exc:
        write_ei(_set(_toewijzing(), path, value), layouts)
    text = str(exc.value)
    assert exc.value.field and path.rsplit("/", 1)[-1] in exc.value.field, text  # the element is named ...
    for part in ("Castricum", "123456782", "12345", "1985"):
        assert part not in text, text  # ... the value never


def test_a_differing_link_field_is_not_repeated(layouts: EiLayouts) -> None:
    with pytest.raises(EiError) as exc:
        write_ei(_add(_toewijzing(), "Client/Beschikking", "Clientnummer", "123456782"), layouts)
    assert "123456782" not in str(exc.value) and "111222333" not in str(exc.value)
    assert "both 9 digits, the first difference at character 2" in str(exc.value)


def test_a_root_other_than_ei_is_refused(layouts: EiLayouts) -> None:
    with pytest.raises(EiError, match="not EI"):
        write_ei(etree.Element("Bericht"), layouts)


# --------------------------------------------------------------------------------------------------
# Converter.reverse and the CLI


def test_a_21_toewijzing_is_written_as_an_ei_file_that_reads_back(converter: Converter) -> None:
    data = (FIXTURES_21 / "CasusA-02-WMO301_toewijzing.xml").read_bytes()
    original = converter.convert(data, "a02").bericht
    (back,) = converter.reverse(data, "iwmo20-ei-wmo301", "a02.xml")
    assert back.suffix == ".ei" and back.name == "iwmo20-ei-wmo301-1d8d1f0852bf"
    assert back.unplaced == ["clients.0.producten.0.toewijzingnummer"]  # 2.0 has no toewijzingnummer
    again = converter.convert(back.xml, "back.ei")
    assert again.mapping.name == "iwmo20-ei-wmo301"
    client, before = again.bericht.clients[0], original.clients[0]
    assert (client.bsn, client.naam, client.producten[0].code) == (before.bsn, before.naam, before.producten[0].code)
    assert client.producten[0].omvang == before.producten[0].omvang


def test_a_value_the_flat_file_cannot_hold_is_a_conversion_error(converter: Converter) -> None:
    data = (FIXTURES_21 / "CasusA-02-WMO301_toewijzing.xml").read_bytes()
    long_name = data.replace(b">Gaastra</iwmo:Naam>", b">" + b"G" * 26 + b"</iwmo:Naam>", 1)
    assert long_name != data
    with pytest.raises(ConversionError, match=r"longer than the 25 characters iWmo 2\.0 allows") as exc:
        converter.reverse(long_name, "iwmo20-ei-wmo301", "a02.xml")  # refused by the 2.0 lengths before the layout
    assert exc.value.field == "clients.0.naam.geslachtsnaam.naam"


def test_cli_reverse_writes_an_ei_file(tmp_path: Path) -> None:
    runner = CliRunner()
    zkn = tmp_path / "zkn"
    fixture = FIXTURES_21 / "CasusB-01-WMO301_toewijzing.xml"
    assert runner.invoke(main, ["convert", "--no-validate", str(fixture), "--out", str(zkn)]).exit_code == 0
    (zaak,) = zkn.glob("*.xml")
    out = tmp_path / "ei"
    result = runner.invoke(main, ["convert", "--reverse", "--no-validate", "--mapping", "iwmo20-ei-wmo301",
                                  str(zaak), "--out", str(out)])
    assert result.exit_code == 0, result.output
    (written,) = out.iterdir()
    assert written.suffix == ".ei" and f"-> {written.name} (iwmo20-ei-wmo301)" in result.output
    root = parse_ei(written.read_bytes(), default_layouts())
    assert root.get("berichtcode") == "414" and root.findtext("Client/Geslachtsnaam") == "Castricum"


def test_cli_reverse_of_a_public_zaak_gives_its_ei_facts_back(tmp_path: Path, reference_dir: Path) -> None:
    """A v2 creeerZaak read back (gateway/ingest/zkn_v2.py) gives an EI 301 with the zaak's facts; the header
    facts the zaak does not carry (BerichtIdentificatie, Tekenset, ...) are not expected back byte for byte."""
    runner = CliRunner()
    sample = EI_SAMPLES / "CasusA-02-WMO301_toewijzing.ei"
    zkn = tmp_path / "zkn"
    assert runner.invoke(main, ["convert", str(sample), "--out", str(zkn)]).exit_code == 0
    (zaak,) = zkn.glob("*.xml")
    out = tmp_path / "ei"
    result = runner.invoke(main, ["convert", "--reverse", "--mapping", "iwmo20-ei-wmo301", str(zaak),
                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    (written,) = out.glob("*.ei")
    back, original = (parse_ei(p.read_bytes(), default_layouts()) for p in (written, sample))
    for path in ("Client/Bsn", "Client/Geslachtsnaam", "Client/Geboortedatum", "Client/Beschikking/Beschikkingnummer",
                 "Client/Beschikking/ToegewezenProduct/Code", "Client/Beschikking/ToegewezenProduct/Ingangsdatum"):
        assert back.findtext(path) == original.findtext(path) is not None, path
