"""EI flat files end to end: bytes -> EI tree -> EI dialect mapping -> canonical model -> zakLk01.

Why: issue 4 promises that an EI file and the iWmo 2.0 XML message of the same case give the same
canonical content. The public samples come in such pairs, so each pair is converted and the two
canonical models are compared value by value (and the rendered zakLk01 byte by byte). The EI
mappings live in dialects/ei/wmo3xx.yaml; the parser has its own tests in tests/test_ei.py.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from pathlib import Path
from typing import Any

import pytest

from gateway.ingest import InputError, read
from gateway.mapping import ConversionError, Registry
from gateway.mapping.rules import GroupRule, Rule
from gateway.pipeline import Conversion, Converter, describe
from gateway.render.schemas import check

CASES = [
    "CasusA-01-WMO315_verzoek",
    "CasusA-02-WMO301_toewijzing",
    "CasusA-04-WMO301_intrekking",
    "CasusB-01-WMO301_toewijzing",
    "CasusB-02-WMO305_start",
    "CasusB-04-WMO307_stop",
    "CasusC-01-WMO301_intrekking",
    "CasusC-02-WMO301_herindicatie",
    "CasusE-01-WMO305_correctie",
    "CasusF-01-WMO305_verwijderen",
    "CasusF-02-WMO305_nieuweaanlevering",
]
"""The public EI samples that have a 2.0 XML twin of the same name."""

VOORBEELDEN = ["WMO301_voorbeeld", "WMO305_voorbeeld", "WMO307_voorbeeld", "WMO315_voorbeeld"]

EI_CANNOT_CARRY: dict[str, str] = {
    "clients.*.naam.voornamen": "the EI 02 record has no position for the 2.0 Naam/Voornamen (only Voorletters)",
    "clients.*.relaties.*.naam.voornamen": "the EI 03 record has no position for Naam/Voornamen either",
}
"""Canonical fields (fnmatch patterns over dotted paths) the 2.0 XML can fill and the EI format cannot.

They are left out of the comparison; nothing else is. No public twin fills them today.
"""

BOM = b"\xef\xbb\xbf"


# -- helpers ---------------------------------------------------------------------------------------


def differences(ei: Any, xml: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted path, EI value, XML value) for every leaf where two ``model_dump`` trees differ."""
    if isinstance(ei, dict) and isinstance(xml, dict):
        out: list[tuple[str, Any, Any]] = []
        for key in sorted(set(ei) | set(xml)):
            out += differences(ei.get(key), xml.get(key), f"{path}.{key}" if path else key)
        return out
    if isinstance(ei, list) and isinstance(xml, list) and len(ei) == len(xml):
        return [d for i, (a, b) in enumerate(zip(ei, xml, strict=True)) for d in differences(a, b, f"{path}.{i}")]
    return [] if ei == xml else [(path, ei, xml)]


def leaves(tree: Any) -> int:
    """How many filled values a dump holds (so a comparison of two empty models cannot pass)."""
    if isinstance(tree, dict):
        return sum(leaves(v) for v in tree.values())
    if isinstance(tree, list):
        return sum(leaves(v) for v in tree)
    return int(tree is not None)


def excluded(path: str) -> bool:
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in EI_CANNOT_CARRY)


def overwrite(line: str, start: int, text: str) -> str:
    """``line`` with ``text`` written over the 1-based position ``start`` (record length unchanged)."""
    return line[: start - 1] + text + line[start - 1 + len(text) :]


def family(case: str) -> str:
    return case.split("WMO", 1)[1][:3]


def targets(rules: list[Rule], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for rule in rules:
        if isinstance(rule, GroupRule):
            out |= targets(rule.rules, f"{prefix}{rule.target}.*.")
        else:
            out.add(prefix + rule.target)
    return out


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry() -> Registry:
    reg = Registry()
    assert not reg.errors, reg.errors
    return reg


@pytest.fixture(scope="module")
def converter(registry: Registry, reference_dir: Path) -> Converter:
    return Converter(registry, validate=True)


def masked(xml: bytes) -> bytes:
    return re.sub(rb"<StUF:referentienummer>[^<]*<", b"<StUF:referentienummer><", xml)


@pytest.fixture(scope="module")
def ei_dir(reference_dir: Path) -> Path:
    return reference_dir / "samples" / "iwmo-ei"


NOON = dt.datetime(2026, 12, 4, 12, 0, 0)


def fresh(converter: Converter) -> Converter:
    """A converter on the same registry with its own zaak ledger and a fixed clock."""
    return Converter(converter.registry, validate=True, clock=lambda: NOON)


def prime(converter: Converter, path: Path) -> None:
    """A start or stop is a status on its toewijzing's zaak: convert that 301 first (E and F are about gemeente
    0385, whose 301 is not among the samples: the B-01 toewijzing sent by 0385 stands in)."""
    if not any(f in path.name for f in ("WMO305", "WMO307")):
        return
    if "voorbeeld" in path.name:
        heen = path.parent / "WMO301_voorbeeld.txt"
    else:
        heen = path.parent / ("CasusB-01-WMO301_toewijzing" + path.suffix)
    data = heen.read_bytes()
    if path.name.startswith(("CasusE", "CasusF")):
        data = data.replace(b">0384<", b">0385<") if path.suffix == ".xml" else _ei_gemeente(data, b"0385")
    assert converter.convert(data, heen.name).outputs


def _ei_gemeente(data: bytes, gemeente: bytes) -> bytes:
    """The EI B-01 with another gemeentecode: the sender in the voorloop record and the gemeente of the line."""
    return data.replace(b"0384", gemeente)


def convert_sample(converter: Converter, path: Path) -> Conversion:
    converter = fresh(converter)
    prime(converter, path)
    conversion = converter.convert(path.read_bytes(), path.name)
    assert conversion.unmapped == [], f"{path.name}: values no rule reads: {conversion.unmapped}"
    assert conversion.outputs, f"{path.name}: no zakLk01 rendered"
    return conversion


# -- the EI samples against their XML twins -------------------------------------------------------


def test_every_public_ei_sample_is_covered(ei_dir: Path) -> None:
    assert sorted(p.stem for p in ei_dir.glob("*.ei")) == CASES
    assert sorted(p.stem for p in ei_dir.glob("*.txt")) == VOORBEELDEN


@pytest.mark.parametrize("case", CASES)
def test_ei_gives_the_canonical_content_of_its_xml_twin(converter: Converter, reference_dir: Path, case: str) -> None:
    ei = convert_sample(converter, reference_dir / "samples" / "iwmo-ei" / f"{case}.ei")
    xml = convert_sample(converter, reference_dir / "samples" / "iwmo20-xml" / f"{case}.xml")
    assert ei.source.format == "ei" and xml.source.format == "xml"
    assert ei.mapping.name == f"iwmo20-ei-wmo{family(case)}"
    assert xml.mapping.name == f"iwmo20-wmo{family(case)}"

    ei_dump = ei.bericht.model_dump(mode="json")
    xml_dump = xml.bericht.model_dump(mode="json")
    diffs = [d for d in differences(ei_dump, xml_dump) if not excluded(d[0])]
    assert diffs == [], "\n".join(f"{p}: EI {a!r} != XML {b!r}" for p, a, b in diffs)
    assert leaves(xml_dump) >= 25  # a real message was compared, not two empty shells
    assert ei.bericht.clients[0].bsn == "123456782"

    # Same canonical content -> the same zakLk01, byte for byte but the referentienummer (a new UUID4 each).
    assert [masked(o.xml) for o in ei.outputs] == [masked(o.xml) for o in xml.outputs]


def test_the_comparison_catches_a_changed_value(converter: Converter, ei_dir: Path, reference_dir: Path) -> None:
    """Proof that the twin test can fail: one digit of the toegewezen Volume changed in the EI file."""
    lines = (ei_dir / "CasusA-02-WMO301_toewijzing.ei").read_text("ascii").splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith("15"))
    assert lines[i][106:114] == "00000006"  # Volume, positions 107-114
    lines[i] = overwrite(lines[i], 107, "00000007")
    ei = converter.convert(("\n".join(lines) + "\n").encode(), "changed.ei")
    xml = converter.convert((reference_dir / "samples" / "iwmo20-xml" / "CasusA-02-WMO301_toewijzing.xml")
                            .read_bytes(), "twin.xml")
    diffs = differences(ei.bericht.model_dump(mode="json"), xml.bericht.model_dump(mode="json"))
    assert diffs == [("clients.0.producten.0.omvang.volume", 7, 6)]


def test_excluded_fields_really_have_no_ei_source(registry: Registry) -> None:
    """EI_CANNOT_CARRY stays honest: once an EI dialect maps such a field, it must be compared again."""
    ei_targets = set().union(*(targets(registry.get(f"iwmo20-ei-wmo{f}").rules) for f in ("301", "305", "307", "315")))
    xml_targets = targets(registry.get("iwmo20-wmo301").rules)
    for pattern in EI_CANNOT_CARRY:
        assert not fnmatch.filter(ei_targets, pattern), f"{pattern} is mapped by an EI dialect: compare it"
        assert fnmatch.filter(xml_targets, pattern), f"{pattern} is not a field the 2.0 XML fills"


# -- the voorbeeld files (no XML twin) -------------------------------------------------------------


def test_voorbeeld_301_toewijzing(converter: Converter, ei_dir: Path) -> None:
    conversion = convert_sample(converter, ei_dir / "WMO301_voorbeeld.txt")
    b = conversion.bericht
    assert (conversion.mapping.name, b.soort, b.afzender, b.ontvanger) == ("iwmo20-ei-wmo301", "toewijzing", "0384",
                                                                             "42420111")
    client = b.clients[0]
    assert client.naam.partnernaam is not None and client.naam.partnernaam.naam == "Berg"
    assert (client.naam.naamgebruik, client.leefeenheid, client.communicatietaal) == ("3", "9", "Zweeds")
    assert client.extra == {"ei_onbekend59": "2"}  # position 59: meaning unknown, carried, not dropped
    assert client.relaties[0].nummer == "00000000001234567890"
    adres = client.relaties[0].contacten[0].adres
    assert adres is not None and (adres.huisnummer, adres.huisletter, adres.huisnummertoevoeging) == (4, "A", "bis")
    assert client.beschikking is not None and client.beschikking.grondslagen == ["04"]
    product = client.producten[0]
    assert (product.code, str(product.toewijzingstijd), product.omvang and product.omvang.volume) == (
        "01A00", "12:00:00", 6)
    assert b'naam="vendor.ei_onbekend59">2<' in conversion.outputs[0].xml


def test_voorbeeld_305_start(converter: Converter, ei_dir: Path) -> None:
    conversion = convert_sample(converter, ei_dir / "WMO305_voorbeeld.txt")
    b = conversion.bericht
    assert (conversion.mapping.name, b.soort, b.afzender, b.ontvanger) == ("iwmo20-ei-wmo305", "start", "42420111",
                                                                             "0384")
    product = b.clients[0].producten[0]
    assert (product.beschikkingnummer, str(product.begindatum), product.status_aanlevering) == (
        "112233446", "2015-01-01", "1")


def test_voorbeeld_307_stop(converter: Converter, ei_dir: Path) -> None:
    """Mapping only: the example stops a toewijzing of 2014-07-15 that no example 301 creates."""
    path = ei_dir / "WMO307_voorbeeld.txt"
    _source, mapping, mapped = converter.to_model(path.read_bytes(), path.name)
    assert mapped.unmapped == []
    product = mapped.bericht.clients[0].producten[0]
    assert (mapping.name, mapped.bericht.soort) == ("iwmo20-ei-wmo307", "stop")
    assert (product.reden_beeindiging, str(product.einddatum), str(product.ingangsdatum)) == (
        "02", "2015-08-31", "2014-07-15")
    assert product.omvang is None


def test_voorbeeld_315_verzoek(converter: Converter, ei_dir: Path) -> None:
    conversion = convert_sample(converter, ei_dir / "WMO315_voorbeeld.txt")
    product = conversion.bericht.clients[0].producten[0]
    assert (conversion.mapping.name, conversion.bericht.soort) == ("iwmo20-ei-wmo315", "verzoek")
    assert product.verwijzer is not None and (product.verwijzer.type, product.verwijzer.naam) == ("02", "Huisarts X")
    assert product.beschikkingnummer is None  # all zeros in the file: no beschikking yet


# -- shapes the samples do not show ---------------------------------------------------------------


def test_two_clients_give_two_zaken(converter: Converter, ei_dir: Path) -> None:
    """A 305 with a second 02+07 pair: each client keeps its own product line and gets its own zakLk01."""
    voorloop, client, product, _ = (ei_dir / "CasusB-02-WMO305_start.ei").read_text("ascii").splitlines()
    second = overwrite(client, 15, "111222333")  # another BSN that passes the 11-proef
    second = overwrite(second, 24, "0000111222333")
    second_product = overwrite(overwrite(product, 15, "0000111222333"), 59, "01A02")
    records = [client, product, second, second_product]
    records = [overwrite(line, 3, f"{n:012d}") for n, line in enumerate(records, 1)]
    sluit = overwrite(_, 3, "000002000002" + "0000004")
    data = ("\n".join([voorloop, *records, sluit]) + "\n").encode()

    _source, _mapping, mapped = converter.to_model(data, "two.ei")  # a start: mapping only (no toewijzing zaak)
    assert mapped.unmapped == []
    clients = mapped.bericht.clients
    assert [c.bsn for c in clients] == ["123456782", "111222333"]
    assert [[p.code for p in c.producten] for c in clients] == [["01A01"], ["01A02"]]


def test_telefoon_slots_keep_their_landnummer(converter: Converter, ei_dir: Path) -> None:
    """Telefoon02 with a Landnummer while Telefoon01 has none: the pair must not shift onto number 1."""
    lines = (ei_dir / "WMO301_voorbeeld.txt").read_text("ascii").splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith("04") and not line[38:58].strip())
    own = overwrite(lines[i], 166, "0201234567     " + "    ")  # Telefoonnummer01, Landnummer01 blank
    lines[i] = overwrite(own, 185, "0612345678     " + "0031")  # Telefoonnummer02, Landnummer02
    conversion = converter.convert(("\n".join(lines)).encode(), "telefoon.txt")
    telefoon = [t.model_dump() for t in conversion.bericht.clients[0].contacten[0].telefoon]
    assert telefoon == [{"nummer": "0201234567", "landnummer": None}, {"nummer": "0612345678", "landnummer": "0031"}]
    assert conversion.unmapped == []


def test_bad_ei_is_an_input_error_with_line_and_field(converter: Converter, ei_dir: Path) -> None:
    lines = (ei_dir / "CasusB-04-WMO307_stop.ei").read_text("ascii").splitlines()
    lines[1] = overwrite(lines[1], 48, "19850231")  # Geboortedatum, positions 48-55
    with pytest.raises(InputError) as caught:
        converter.convert(("\n".join(lines) + "\n").encode(), "bad.ei")
    info = describe(caught.value, "bad.ei")
    assert (info.code, info.line, info.field, info.source) == ("StUF055", 2, "Geboortedatum", "bad.ei")
    assert "the day does not exist in its month" in info.message
    assert "19850231" not in info.message  # a birth date: what is wrong with it, never the date (privacy)


# -- ingest: what goes to the EI parser -----------------------------------------------------------


def test_read_sends_ei_to_the_ei_parser(ei_dir: Path) -> None:
    data = (ei_dir / "CasusB-04-WMO307_stop.ei").read_bytes()
    for variant in (data, BOM + data, data.replace(b"\n", b"\r\n")):
        source = read(variant, "stop.ei")
        assert (source.format, source.root.tag, source.root.get("berichtcode")) == ("ei", "EI", "420")
    with pytest.raises(InputError) as caught:
        read(data, "stop.ei", max_bytes=len(data) - 1)
    assert caught.value.code == "StUF058"


def test_a_damaged_flat_file_gets_the_ei_error_not_an_xml_one(ei_dir: Path) -> None:
    lines = (ei_dir / "CasusB-04-WMO307_stop.ei").read_text("ascii").splitlines()
    cases = {
        "without voorloop": ("\n".join(lines[1:]) + "\n", 1, "missing 01 voorloop"),
        "short voorloop": ("\n".join([lines[0][:-1], *lines[1:]]) + "\n", 1, "length"),
        "unknown berichtcode": ("\n".join([overwrite(lines[0], 3, "999"), *lines[1:]]) + "\n", 1, "BerichtCode"),
    }
    for what, (text, line, needle) in cases.items():
        with pytest.raises(InputError) as caught:
            read(text.encode(), "x.ei")
        assert caught.value.line == line and needle in caught.value.message, what
        assert "EI flat file" in caught.value.message and "XML" not in caught.value.message, what


def test_xml_is_not_mistaken_for_ei(reference_dir: Path) -> None:
    data = (reference_dir / "samples" / "iwmo20-xml" / "CasusB-04-WMO307_stop.xml").read_bytes()
    for variant in (data, BOM + data):
        assert read(variant, "stop.xml").format == "xml"
    with pytest.raises(InputError) as caught:
        read(b"hello", "x")
    assert "not well-formed XML" in caught.value.message


def test_ei_dialects_only_match_ei_trees(registry: Registry, ei_dir: Path, reference_dir: Path) -> None:
    xml = read((reference_dir / "samples" / "iwmo20-xml" / "CasusA-02-WMO301_toewijzing.xml").read_bytes())
    assert registry.match(xml.root, xml.format).name == "iwmo20-wmo301"
    for case in CASES:
        ei = read((ei_dir / f"{case}.ei").read_bytes())
        assert registry.match(ei.root, ei.format).name == f"iwmo20-ei-wmo{family(case)}"
    with pytest.raises(ConversionError, match="unknown dialect"):
        registry.match(ei.root, "xml")  # an EI tree claimed to be XML: the EI dialects stay out of it


def test_conversion_is_deterministic_and_valid(ei_dir: Path, reference_dir: Path) -> None:
    """Converting the same EI file with two ledgers gives the same zaken (but new referentienummers), valid
    against the official StUF-ZKN schema; converting it again with the same ledger sends nothing."""
    base = Converter()
    path = ei_dir / "CasusE-01-WMO305_correctie.ei"
    one, two = fresh(base), fresh(base)
    prime(one, path)
    prime(two, path)
    first, again = one.convert(path.read_bytes(), "e.ei").outputs, two.convert(path.read_bytes(), "e.ei").outputs
    assert [masked(o.xml) for o in first] == [masked(o.xml) for o in again] and len(first) == 2
    assert one.convert(path.read_bytes(), "e.ei").outputs == []  # the ledger already holds both statuses
    check(first[0].xml, "zkn")  # raises OutputInvalid listing the schema errors
