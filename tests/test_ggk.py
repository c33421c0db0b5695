"""The StUF-GGk profile: Di01 envelopes around a payload written by the built-in dialect mapping files, and GGk
envelopes as input.

Why these tests: they are the GGk part of issue 4. Every public 2.0 sample and every iWmo 2.1 fixture must
become a Di01 valid against the official GGk schema whose decoded payload is valid iWmo 2.1 and says what the
source said (real values, and nothing lost without being listed as dropped or normalised); the 3.2 and iJw
fixtures must travel in their own version and come back as the same canonical message; an envelope we produce
must convert back to the very same zakLk01; the official example envelopes must be read, and the malformed
one must give one clear line.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from clocks import StepClock
from lxml import etree
from shared_registry import shared_registry

from gateway.cli import main
from gateway.ingest import InputError, read
from gateway.ingest import ggk as ggk_ingest
from gateway.ledger import MemoryLedger
from gateway.mapping import ConversionError
from gateway.model import Bericht
from gateway.model.codes import BERICHTNUMMERS
from gateway.model.versions import REDEN_INTREKKING_TO_WIJZIGING
from gateway.pipeline import Conversion, Converter, Output, describe, ggk_stamp
from gateway.render import RenderError, RenderSettings
from gateway.render import ggk as ggk_render
from gateway.render.ggk import GgkRendered
from gateway.render.schemas import OutputInvalid, errors_of

FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"
FIXTURES_21 = FIXTURES_DIR / "iwmo21"
NS = {
    "GGK": "http://www.stufstandaarden.nl/sectormodel/ggk/0210",
    "StUF": "http://www.egem.nl/StUF/StUF0301",
    "xmime": "http://www.w3.org/2005/05/xmlmime",
    "m301": "http://www.istandaarden.nl/iwmo/2_1/wmo301/schema/2_1",
    "m315": "http://www.istandaarden.nl/iwmo/2_1/wmo315/schema/2_1",
    "i": "http://www.istandaarden.nl/iwmo/2_1/basisschema/schema/2_1",
}
SAMPLES_20 = ["CasusA-01-WMO315_verzoek.xml", "CasusA-02-WMO301_toewijzing.xml", "CasusA-04-WMO301_intrekking.xml",
              "CasusB-01-WMO301_toewijzing.xml", "CasusB-02-WMO305_start.xml", "CasusB-04-WMO307_stop.xml",
              "CasusC-01-WMO301_intrekking.xml", "CasusC-02-WMO301_herindicatie.xml",
              "CasusE-01-WMO305_correctie.xml", "CasusF-01-WMO305_verwijderen.xml",
              "CasusF-02-WMO305_nieuweaanlevering.xml"]
"""Every public iWmo 2.0 sample: WMO301, WMO315, WMO305 and WMO307."""
FIXTURES = sorted(p.name for p in FIXTURES_21.glob("*.xml")) + sorted(
    f"families/{p.name}" for p in (FIXTURES_21 / "families").glob("*.xml"))
"""Every iWmo 2.1 fixture: 301, 315, and the 302, 305, 307 and 316 families."""
OWN_VERSION = sorted(f"{d}/{p.name}" for d in ("iwmo32", "ijw21", "ijw32")
                     for p in (FIXTURES_DIR / d).glob("*.xml"))
"""The iWmo 3.2 and iJw fixtures, which travel in their own version (no XSD to validate them against)."""
HEEN = {FIXTURES_21 / "families" / retour: FIXTURES_21 / heen for retour, heen in (
    ("CasusA-01-WMO316_retour.xml", "CasusA-01-WMO315_verzoek.xml"),
    ("CasusA-02-WMO302_retour_akkoord.xml", "CasusA-02-WMO301_toewijzing.xml"),
    ("CasusB-01-WMO302_retour_afgekeurd.xml", "CasusB-01-WMO301_toewijzing.xml"),
    ("Full-WMO302_alle_elementen.xml", "Full-WMO301_alle_elementen.xml"))} | {
    FIXTURES_DIR / "ijw21" / "JW302_retour.xml": FIXTURES_DIR / "ijw21" / "JW301_toewijzing.xml",
    FIXTURES_DIR / "ijw21" / "JW316_retour.xml": FIXTURES_DIR / "ijw21" / "JW315_verzoek.xml"}
"""Each retour fixture and the heenbericht it answers; :func:`heen_of` gives it the retour's header."""
OFFICIAL_DI01 = "ggk/ggk0310_21/ggkberichten/ggk_Di01.xml"
OFFICIAL_DU01 = "ggk/ggk0310_21/ggkberichten/ggk_Du01.xml"
EXAMPLE_DI01 = "ggk/voorbeeldberichten/envelopHeenbericht-ggk_Di01_v21.xml"
EXAMPLE_DU01_BROKEN = "ggk/voorbeeldberichten/envelopRetourbericht-ggk_Du01-v21.xml"
EXAMPLE_PAYLOAD = b"SGllciBzdGFhdCBoZXQgaGVlbmJlcmljaHQ="  # the base64 text in the official Di01 examples

# What each case says, as read from its 2.0 sample: BSN, product code, volume/eenheid/frequentie,
# toewijzing Ingangsdatum and Einddatum, RedenWijziging (2.0 RedenIntrekking normalised: 4 -> 09, 3 -> 05).
EXPECTED = {
    "CasusA-01-WMO315_verzoek.xml": ("123456782", "07A03", ("6", "04", "2"), "2016-02-15", None, None),
    "CasusA-02-WMO301_toewijzing.xml": ("123456782", "07A03", ("6", "04", "2"), "2016-02-15", "2016-12-31", None),
    "CasusA-04-WMO301_intrekking.xml": ("123456782", "07A03", ("6", "04", "2"), "2016-02-15", "2016-11-07", "09"),
    "CasusB-01-WMO301_toewijzing.xml": ("123456782", "01A01", ("22500", "83", "4"), "2016-03-07", "2016-12-31",
                                        None),
    "CasusC-01-WMO301_intrekking.xml": ("123456782", "07A03", ("6", "04", "2"), "2016-02-15", "2016-10-09", "05"),
    "CasusC-02-WMO301_herindicatie.xml": ("123456782", "07A03", ("12", "04", "2"), "2016-10-10", "2016-12-31",
                                          None),
}


@pytest.fixture(scope="module")
def ggk_converter(reference_dir: Path) -> Converter:
    return Converter(shared_registry(), profile="ggk", validate=True)


@pytest.fixture(scope="module")
def zkn_converter(reference_dir: Path) -> Converter:
    return Converter(shared_registry(), validate=True)



@pytest.fixture(scope="module")
def own_version_converter() -> Converter:
    """Profile ggk with the payload in the message's own version; iJw does that by default, iWmo is told so."""
    return Converter(shared_registry(), profile="ggk", settings=RenderSettings(ggk_versie="source"))


CLOCK_START = dt.datetime(2026, 3, 1, 9, 30, 0, 123000)
"""The injected clock's start (``StepClock``: one second per reading), so tijdstipBericht is predictable."""


def heen_of(retour: Path) -> bytes:
    """The heenbericht of a retour fixture with the header the retour echoes (Afzender, Ontvanger,
    BerichtIdentificatie); the iJw JW302 fixture answers a 301 other than the JW301 fixture."""
    data, echoed = HEEN[retour].read_bytes(), retour.read_bytes()
    for tag in (b"Afzender", b"Ontvanger", b"Identificatie", b"Dagtekening"):
        found = re.search(rb":" + tag + rb">([^<]*)<", echoed)
        assert found is not None, tag
        data = re.sub(rb"(:" + tag + rb">)[^<]*", rb"\g<1>" + found.group(1), data, count=1)
    return data


def converted(converter: Converter, path: Path) -> tuple[Conversion, str | None]:
    """``path`` converted; a retour after its heenbericht, in the same ledger: (result, the heen Di01's UUID)."""
    ref = converter.convert(heen_of(path), "heen.xml").outputs[0].referentienummer if path in HEEN else None
    return converter.convert(path.read_bytes(), str(path)), ref


FIXED_CLOCK = dt.datetime(2026, 1, 5, 10, 0, 0)
_UUID = re.compile(rb"<StUF:referentienummer>[0-9a-f-]{36}</StUF:referentienummer>")


def zkn_outputs(data: bytes, name: str) -> list[bytes] | str:
    """Profile zkn v2 outputs of one message in a fresh ledger at a fixed moment, with the (random) UUID
    referentienummers masked; or the refusal's code when the message alone names no zaak (a lone 305/307)."""
    try:
        outputs = Converter(shared_registry(), validate=True, clock=lambda: FIXED_CLOCK).convert(data, name).outputs
    except ConversionError as exc:
        return exc.code
    return [_UUID.sub(b"<StUF:referentienummer>*</StUF:referentienummer>", o.xml) for o in outputs]


def chain_outputs(reference_dir: Path, data: bytes, name: str) -> list[Output]:
    """``data`` converted to zkn after the 2.0 sample toewijzing it continues (CasusB-01 for the 305/307 and
    E/F corrections), in a fresh ledger, so a start or stop has its zaak."""
    converter = Converter(shared_registry(), validate=True, clock=lambda: FIXED_CLOCK)
    if "WMO305" in name or "WMO307" in name:
        converter.convert((reference_dir / "samples" / "iwmo20-xml" / "CasusB-01-WMO301_toewijzing.xml").read_bytes(),
                          "CasusB-01")
    try:
        return converter.convert(data, name).outputs
    except ConversionError as exc:
        return [Output("refused", b"", "", exc.code, "zkn", (), exc.code)]


def render_ggk(converter: Converter, bericht: Bericht, settings: RenderSettings,
               retour: Path | None = None) -> list[GgkRendered]:
    """Converter.render_ggk in a transaction of the converter's ledger (after the heenbericht, for a retour)."""
    if retour is not None and retour in HEEN:
        converter.convert(heen_of(retour), "heen.xml")
    with converter.ledger.transaction() as tx:
        return converter.render_ggk(bericht, settings, tx, converter.clock())


def source_path(reference_dir: Path, name: str, version: str) -> Path:
    return reference_dir / "samples" / "iwmo20-xml" / name if version == "2.0" else FIXTURES_21 / name


CASES = [("2.0", n) for n in SAMPLES_20] + [("2.1", n) for n in FIXTURES]


class Envelope:
    """A Di01 read back with lxml: stuurgegevens, parameters and the decoded payload."""

    def __init__(self, xml: bytes) -> None:
        self.xml = xml
        self.root = etree.fromstring(xml)
        self.bericht = self.root.find("GGK:parameters/GGK:bericht", NS)
        self.payload = base64.b64decode(self.bericht.text)
        self.payload_root = etree.fromstring(self.payload)

    def stuur(self, path: str) -> str | None:
        found = self.root.find("GGK:stuurgegevens/" + "/".join(f"StUF:{p}" for p in path.split(".")), NS)
        return None if found is None else found.text

    def parameter(self, name: str) -> str | None:
        found = self.root.find(f"GGK:parameters/GGK:{name}", NS)
        return None if found is None else found.text

    def values(self, tag: str) -> list[str]:
        """Texts of every payload element with local name ``tag`` (message or basisschema namespace)."""
        return [e.text for e in self.payload_root.iter() if isinstance(e.tag, str) and etree.QName(e).localname == tag]


def leaves(data: Any, prefix: str = "") -> dict[str, Any]:
    """Every filled canonical field by the path ``dropped`` and ``normalised`` name (``clients.0.bsn``)."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(leaves(value, f"{prefix}{key}."))
        return out
    if isinstance(data, list) and data and isinstance(data[0], dict):
        out = {}
        for i, item in enumerate(data):
            out.update(leaves(item, f"{prefix}{i}."))
        return out
    return {prefix[:-1]: data} if data not in (None, [], {}) else {}


def covered(path: str, prefixes: list[str]) -> bool:
    return any(path == p or path.startswith(p + ".") for p in prefixes)


def family(bericht: Bericht) -> str:
    return BERICHTNUMMERS[bericht.soort]


# --- every sample and fixture -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("version", "name"), CASES, ids=[f"{v}-{n}" for v, n in CASES])
def test_converts_to_a_valid_di01_with_a_valid_iwmo21_payload(ggk_converter: Converter, reference_dir: Path,
                                                              version: str, name: str) -> None:
    path = source_path(reference_dir, name, version)
    result, heen_ref = converted(ggk_converter, path)
    assert len(result.outputs) == 1, "one envelope per source message, whatever the number of clients"
    out = result.outputs[0]
    assert out.profile == "ggk"
    env = Envelope(out.xml)
    assert errors_of(env.root, "ggk") == []
    nr = family(result.bericht)
    assert errors_of(env.payload_root, f"iwmo21-{nr}") == []
    assert etree.QName(env.payload_root).namespace == f"http://www.istandaarden.nl/iwmo/2_1/wmo{nr}/schema/2_1"
    retour = nr in ("302", "316")
    assert etree.QName(env.root).localname == ("envelopRetourbericht-ggk_Du01" if retour
                                               else "envelopHeenbericht-ggk_Di01")
    assert env.stuur("berichtcode") == ("Du01" if retour else "Di01")
    assert env.stuur("functie") == f"WMO{nr}"
    # a retour echoes its heenbericht's header, but travels the other way (GGk 3.3)
    sender, receiver = (result.bericht.ontvanger, result.bericht.afzender) if retour else (
        result.bericht.afzender, result.bericht.ontvanger)
    assert (env.stuur("zender.organisatie"), env.stuur("ontvanger.organisatie")) == (sender, receiver)
    assert env.stuur("crossRefnummer") == heen_ref and (heen_ref is not None) == retour
    gemeente = result.bericht.afzender if nr in ("301", "302") else result.bericht.ontvanger
    assert env.stuur("zender.administratie") == f"gemeente {gemeente}"
    assert env.stuur("ontvanger.administratie") is None, "spec 3.2: bij voorkeur leeg laten"
    assert env.stuur("ontvanger.applicatie") == "GGk"
    assert uuid.UUID(env.stuur("referentienummer")).version == 4
    assert out.referentienummer == env.stuur("referentienummer")
    assert (env.parameter("functieVersie"), env.parameter("functieSubversie")) == ("0002", "0001")
    assert re.fullmatch(r"[0-9]{4}", env.parameter("applicatieVersie"))
    assert env.bericht.get(f"{{{NS['xmime']}}}contentType") == "application/xml"
    assert env.bericht.get(f"{{{NS['StUF']}}}bestandsnaam") is None, "spec 2.7: no bestandsnaam for an XML payload"
    assert b"\r\n\t<GGK:stuurgegevens>\r\n" in out.xml, "spec 2.2: envelope lines end in CRLF"
    assert env.payload.startswith(b"<?xml") and not env.payload.startswith(b"\xef\xbb\xbf")
    assert env.values("BerichtVersie") == ["2"] and env.values("BerichtSubversie") == ["1"]
    assert env.values("BerichtCode") == [result.bericht.berichtcode]
    assert env.values("Identificatie")[0] == result.bericht.identificatie
    if version == "2.1":
        assert out.dropped == (), "a 2.1 source loses nothing in a 2.1 payload"


@pytest.mark.parametrize(("version", "name"), [(v, n) for v, n in CASES if n in EXPECTED],
                         ids=[f"{v}-{n}" for v, n in CASES if n in EXPECTED])
def test_payload_carries_the_values_of_the_source(ggk_converter: Converter, reference_dir: Path, version: str,
                                                  name: str) -> None:
    """The 2.0 sample and its 2.1 twin give a payload with the same BSN, product, omvang, dates and reden."""
    bsn, code, (volume, eenheid, frequentie), ingang, einde, reden = EXPECTED[name]
    path = source_path(reference_dir, name, version)
    env = Envelope(ggk_converter.convert(path.read_bytes(), str(path)).outputs[0].xml)
    assert env.values("Bsn") == [bsn]
    assert env.values("Code")[-1] == code
    assert env.values("Volume")[-1] == volume
    assert env.values("Eenheid")[-1] == eenheid
    assert env.values("Frequentie")[-1] == frequentie
    if "315" in name:
        assert env.values("ToewijzingIngangsdatum") == [ingang]
        assert env.values("Verwijzer") and env.values("Naam")[-1] == "Diemen"
        # 2.0 has no ReferentieAanbieder; 2.1 requires one: derived from BerichtIdentificatie-client-product
        assert env.values("ReferentieAanbieder") == (["77edaa56cd81-1-1"] if version == "2.0" else ["VZ-2016-0001"])
    else:
        product = env.payload_root.find("m301:Clienten/m301:Client/m301:Beschikking/m301:ToegewezenProducten/"
                                        "m301:ToegewezenProduct", NS)
        assert product.findtext("m301:Ingangsdatum", namespaces=NS) == ingang
        assert product.findtext("m301:Einddatum", namespaces=NS) == einde
        assert product.findtext("m301:RedenWijziging", namespaces=NS) == reden
        assert product.findtext("m301:Aanbieder", namespaces=NS) == env.stuur("ontvanger.organisatie")


@pytest.mark.parametrize("name", ["CasusB-02-WMO305_start.xml", "CasusE-01-WMO305_correctie.xml",
                                  "CasusF-01-WMO305_verwijderen.xml", "CasusB-04-WMO307_stop.xml"])
def test_a_2_0_start_or_stop_payload_carries_its_lines(ggk_converter: Converter, zkn_converter: Converter,
                                                       reference_dir: Path, name: str) -> None:
    """305/307: every line with its Begindatum and StatusAanlevering, the stop's RedenBeeindiging and Einddatum."""
    data = (reference_dir / "samples" / "iwmo20-xml" / name).read_bytes()
    original = zkn_converter.to_model(data, name)[2].bericht
    env = Envelope(ggk_converter.convert(data, name).outputs[0].xml)
    lines = original.clients[0].producten
    line = "StartProduct" if original.soort == "start" else "StopProduct"
    found = [e for e in env.payload_root.iter() if isinstance(e.tag, str) and etree.QName(e).localname == line]
    assert len(found) == len(lines)
    for element, product in zip(found, lines, strict=True):
        texts = {etree.QName(c).localname: c.text for c in element}
        assert texts["Begindatum"] == product.begindatum.isoformat()
        assert texts["StatusAanlevering"] == product.status_aanlevering
        assert texts["Aanbieder"] == original.afzender
        if original.soort == "stop":
            assert (texts["RedenBeeindiging"], texts["Einddatum"]) == (product.reden_beeindiging,
                                                                       product.einddatum.isoformat())
    assert env.payload_root.findtext(".//{*}Client/{*}StatusAanlevering") == original.clients[0].status_aanlevering


@pytest.mark.parametrize(("version", "name"), CASES, ids=[f"{v}-{n}" for v, n in CASES])
def test_nothing_is_lost_without_being_listed(zkn_converter: Converter, ggk_converter: Converter,
                                              reference_dir: Path, version: str, name: str) -> None:
    """source -> canonical -> 2.1 payload -> canonical keeps every field, except those listed as dropped
    or normalised; and a normalised field carries the documented value."""
    path = source_path(reference_dir, name, version)
    _, _, result = zkn_converter.to_model(path.read_bytes(), str(path))
    original = result.bericht
    rendered = render_ggk(ggk_converter, original, RenderSettings(), path)[0]
    _, mapping, back_result = zkn_converter.to_model(rendered.payload, "payload.xml")
    assert mapping.name == f"iwmo21-wmo{family(original)}"
    assert back_result.unmapped == []
    before, after = leaves(original.model_dump()), leaves(back_result.bericht.model_dump())
    dropped = [d.split(": ", 1)[0] for d in rendered.dropped]
    normalised = [n.split(": ", 1)[0] for n in rendered.normalised]
    for field, value in before.items():
        if covered(field, dropped):
            assert after.get(field) != value or field.endswith("naamgebruik"), field
        elif not covered(field, normalised):
            assert after.get(field) == value, f"{field}: {value!r} came back as {after.get(field)!r}"
    twins = {"reden_wijziging": "reden_intrekking", "naam.naamgebruik": "naam.geslachtsnaam.naamcode"}
    for field in sorted(f for f in after if f not in before):  # what 2.1 added comes from a documented normalisation
        twin = next((field.replace(a, b) for a, b in twins.items() if field.endswith(a)), field)
        assert covered(field, normalised) or covered(twin, normalised), f"{field} appeared from nowhere"
    if version == "2.1":
        assert back_result.bericht == original
        assert rendered.dropped == () and rendered.normalised == ()
        return
    assert "tekenset: not representable in iwmo21-wmo" + family(original) in rendered.dropped
    assert f"clients.0.clientnummer: not representable in iwmo21-wmo{family(original)}" in rendered.dropped
    assert "versie: written as iWmo 2.1" in rendered.normalised
    for ci, client in enumerate(original.clients):
        for pi, product in enumerate(client.producten):
            if product.reden_intrekking:
                new_code = REDEN_INTREKKING_TO_WIJZIGING[product.reden_intrekking]
                assert after[f"clients.{ci}.producten.{pi}.reden_wijziging"] == new_code


# --- 3.2 and iJw: the payload in the message's own version --------------------------------------------------------

@pytest.mark.parametrize("name", OWN_VERSION)
def test_3_2_and_ijw_fixtures_travel_in_their_own_version_and_come_back_the_same(
        own_version_converter: Converter, name: str) -> None:
    result, _ = converted(own_version_converter, FIXTURES_DIR / name)
    original = result.bericht
    (out,) = result.outputs
    assert out.dropped == ()
    env = Envelope(out.xml)
    prefix = "WMO" if original.wet == "wmo" else "JW"
    major, minor = original.versie.split(".")
    assert env.stuur("functie") == f"{prefix}{family(original)}"
    assert (env.parameter("functieVersie"), env.parameter("functieSubversie")) == (f"{int(major):04d}",
                                                                                  f"{int(minor):04d}")
    assert env.bericht.get(f"{{{NS['StUF']}}}bestandsnaam") is None
    # the model: a lone 305 has no zaak
    _, back_mapping, back = Converter(shared_registry()).to_model(env.payload, "payload.xml")
    assert back_mapping.name == result.mapping.name
    assert back.unmapped == []
    assert back.bericht == original


def test_our_3_2_envelope_converts_to_the_same_zaklk01(reference_dir: Path) -> None:
    """With validation on (GGk envelope and zakLk01 XSDs; no 3.2 XSD exists to check the payload itself)."""
    ggk_32 = Converter(shared_registry(), profile="ggk", validate=True, settings=RenderSettings(ggk_versie="3.2"))
    zkn = Converter(shared_registry(), validate=True)
    for name in ("iwmo32/WMO301_toewijzing_specifiek.xml", "iwmo32/WMO317_verzoek_wijziging.xml",
                 "ijw32/JW307_stop.xml"):  # a lone 307 has no zaak: both sides are refused alike
        data = (FIXTURES_DIR / name).read_bytes()
        envelope = ggk_32.convert(data, name).outputs[0].xml
        direct, wrapped = (zkn_outputs(data, name), zkn_outputs(envelope, "envelope.xml"))
        assert zkn.to_model(envelope, "envelope.xml")[0].envelopes == ["ggk-Di01"]
        assert wrapped == direct


def test_default_payload_is_the_newest_release(reference_dir: Path) -> None:
    """Default ``newest``: a 3.2 message (iWmo or iJw) goes as 3.2 (a 3.2 301 is no longer refused); a 2.x
    message as 2.1, the newest release whose header it can fill (3.x requires XsdVersie)."""
    converter = Converter(shared_registry(), profile="ggk", validate=True)
    for name, functie, dialect in (("iwmo32/WMO301_toewijzing_specifiek.xml", "WMO301", "iwmo32-wmo301"),
                                   ("ijw32/JW315_verzoek.xml", "JW315", "ijw32-jw315"),
                                   ("iwmo32/WMO317_verzoek_wijziging.xml", "WMO317", "iwmo32-wmo317")):
        out = converter.convert((FIXTURES_DIR / name).read_bytes(), name).outputs[0]
        env = Envelope(out.xml)
        assert (env.stuur("functie"), env.parameter("functieVersie"), env.parameter("functieSubversie")) == (
            functie, "0003", "0002")
        assert out.dropped == ()
        assert Converter(shared_registry()).to_model(env.payload, "payload.xml")[1].name == dialect
    jw21 = Envelope(converter.convert((FIXTURES_DIR / "ijw21" / "JW301_toewijzing.xml").read_bytes(),
                                      "jw21").outputs[0].xml)
    assert jw21.parameter("functieVersie") == "0002"
    assert etree.QName(jw21.payload_root).namespace.startswith("http://www.istandaarden.nl/ijw/2_1/")
    wmo20 = (reference_dir / "samples" / "iwmo20-xml" / "CasusA-01-WMO315_verzoek.xml").read_bytes()
    b20 = converter.to_model(wmo20, "wmo20")[2].bericht
    assert converter.payload_dialect(b20, RenderSettings()).name == "iwmo21-wmo315"
    wmo32 = converter.to_model((FIXTURES_DIR / "iwmo32" / "WMO315_verzoek.xml").read_bytes(), "wmo32")[2].bericht
    assert converter.payload_dialect(wmo32, RenderSettings()).name == "iwmo32-wmo315"
    assert converter.payload_dialect(wmo32, RenderSettings(ggk_versie="2.1")).name == "iwmo21-wmo315"


# --- round trip: our envelope converts back to the same zakLk01 ---------------------------------------------------

@pytest.mark.parametrize("name", FIXTURES)
def test_our_envelope_converts_to_the_same_zaklk01_as_the_original(ggk_converter: Converter,
                                                                   zkn_converter: Converter, name: str) -> None:
    data = (FIXTURES_21 / name).read_bytes()
    result, heen_ref = converted(ggk_converter, FIXTURES_21 / name)
    envelope = result.outputs[0].xml
    source, _, wrapped = zkn_converter.to_model(envelope, "envelope.xml")
    direct = zkn_converter.to_model(data, name)[2]
    assert source.envelopes == ["ggk-Du01" if heen_ref else "ggk-Di01"]
    assert source.envelope_info.get("crossRefnummer") == heen_ref
    assert source.envelope_info["functie"] == f"WMO{family(direct.bericht)}"
    assert wrapped.bericht == direct.bericht
    assert zkn_outputs(envelope, "envelope.xml") == zkn_outputs(data, name)


@pytest.mark.parametrize("name", SAMPLES_20)
def test_a_2_0_sample_keeps_its_zaak_through_the_envelope(ggk_converter: Converter, reference_dir: Path,
                                                          name: str) -> None:
    """Through a 2.1 payload a 2.0 sample names the same zaak with the same operations, and the zaak's own
    facts (identificatie, dates, zaaktype, person) stay the same. Two differences by design of the
    normalisation: a 2.0 315 has no ReferentieAanbieder and its 2.1 payload carries a derived one, which then
    names the aanvraagzaak; 2.0 RedenIntrekking 3 (herindicatie) becomes 2.1 RedenWijziging 05 (verkorting),
    after which the toewijzing runs until its shortened Einddatum, so the zaak is not ended (CasusC-01).
    E-01, F-01 and F-02 correct starts of a toewijzing that is not among the samples: refused alike."""
    data = (reference_dir / "samples" / "iwmo20-xml" / name).read_bytes()
    envelope = ggk_converter.convert(data, name).outputs[0].xml
    direct, wrapped = chain_outputs(reference_dir, data, name), chain_outputs(reference_dir, envelope, name)
    ops_direct, ops_wrapped = ([(o.zaak, o.operation) for o in outs] for outs in (direct, wrapped))
    if name == "CasusA-01-WMO315_verzoek.xml":
        assert ops_direct == [("0384A-2F07A73023", "creeerZaak")]
        assert ops_wrapped == [("0384A77edaa56cd81-1-1", "creeerZaak")]
        return
    if name == "CasusC-01-WMO301_intrekking.xml":
        assert [op for _, op in ops_direct] == ["creeerZaak", "updateZaak", "actualiseerZaakstatus"]
        assert ops_wrapped == ops_direct[:1]
        direct, wrapped = direct[:1], wrapped[:1]
    else:
        assert ops_wrapped == ops_direct
    if direct[0].referentienummer == "":  # refused (StUF064)
        return
    zkn = {"Z": "http://www.egem.nl/StUF/sector/zkn/0310", "B": "http://www.egem.nl/StUF/sector/bg/0310"}
    for a, b in zip(direct, wrapped, strict=True):
        ra, rb = etree.fromstring(a.xml), etree.fromstring(b.xml)
        for xpath in ("Z:object/Z:identificatie", "Z:object/Z:startdatum", "Z:object/Z:einddatumGepland",
                      "Z:object/Z:einddatum", "Z:object/Z:isVan/Z:gerelateerde/Z:code", "//B:inp.bsn",
                      "//B:geslachtsnaam", "//B:geboortedatum"):
            if name.startswith("CasusC-01") and "einddatum" in xpath:
                continue  # planned to end on the shortened Einddatum instead of ended (the docstring)
            texts = [[e.text for e in r.xpath(xpath, namespaces=zkn)] for r in (ra, rb)]
            assert texts[0] == texts[1], xpath


def test_each_envelope_gets_a_random_uuid_and_its_creation_time(reference_dir: Path) -> None:
    """Spec 2.4: a UUID version 4, unique (CC08: unique within the sender's stream), so a re-converted message
    gets a new one; tijdstipBericht is the time the envelope is made (3.2), strictly increasing per zender
    (StUF019) even when the clock stands still or goes back. The rest of the envelope is the same."""
    moments = iter([dt.datetime(2026, 3, 1, 9, 30, 0, 123000)] * 2 + [dt.datetime(2026, 3, 1, 9, 29)])
    converter = Converter(shared_registry(), profile="ggk", validate=True, clock=lambda: next(moments))
    data = (FIXTURES_21 / "Multi-WMO301_twee_clienten.xml").read_bytes()
    outs = [Envelope(converter.convert(data, "a").outputs[0].xml) for _ in range(3)]
    refs = [env.stuur("referentienummer") for env in outs]
    assert len(set(refs)) == 3
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", r) for r in refs)
    assert [env.stuur("tijdstipBericht") for env in outs] == ["20260301093000123", "20260301093000124",
                                                             "20260301093000125"]
    assert outs[0].payload == outs[1].payload == outs[2].payload

    def without(env: Envelope) -> bytes:
        return re.sub(rb"<StUF:(referentienummer|tijdstipBericht)>[^<]*", b"", env.xml)

    assert without(outs[0]) == without(outs[1])


# --- retours: Du01 pointing at the Di01 of their heenbericht ---------------------------------------------------

RETOURS = [FIXTURES_21 / "families" / "CasusA-02-WMO302_retour_akkoord.xml",
           FIXTURES_21 / "families" / "CasusB-01-WMO302_retour_afgekeurd.xml",
           FIXTURES_21 / "families" / "CasusA-01-WMO316_retour.xml",
           FIXTURES_DIR / "ijw21" / "JW302_retour.xml", FIXTURES_DIR / "ijw21" / "JW316_retour.xml"]


@pytest.mark.parametrize("retour", RETOURS, ids=[p.name for p in RETOURS])
def test_a_retour_after_its_heenbericht_is_a_du01_pointing_at_its_di01(reference_dir: Path, retour: Path) -> None:
    """GGk 2.2: Di01 is the initial message, Du01 its retour; 3.3: crossRefnummer = "UUID van bijbehorende
    ggk0210-Di01", and the zender of the Du01 is who sends the retour (the heenbericht's Ontvanger)."""
    converter = Converter(shared_registry(), profile="ggk", validate=True, clock=StepClock(CLOCK_START))
    heen = converter.convert(heen_of(retour), "heen.xml")
    di01 = Envelope(heen.outputs[0].xml)
    other = converter.convert((FIXTURES_21 / "Multi-WMO301_twee_clienten.xml").read_bytes(), "other.xml")
    result = converter.convert(retour.read_bytes(), str(retour))
    du01 = Envelope(result.outputs[0].xml)
    assert etree.QName(du01.root).localname == "envelopRetourbericht-ggk_Du01"
    assert errors_of(du01.root, "ggk") == [] and errors_of(di01.root, "ggk") == []
    assert du01.stuur("berichtcode") == "Du01"
    assert du01.stuur("crossRefnummer") == di01.stuur("referentienummer") != other.outputs[0].referentienummer
    assert result.outputs[0].referentienummer == du01.stuur("referentienummer") != di01.stuur("referentienummer")
    assert uuid.UUID(du01.stuur("referentienummer")).version == 4
    # the retour goes back: its zender is the Di01's ontvanger and the other way round
    assert du01.stuur("zender.organisatie") == di01.stuur("ontvanger.organisatie") == result.bericht.ontvanger
    assert du01.stuur("ontvanger.organisatie") == di01.stuur("zender.organisatie") == result.bericht.afzender
    assert (du01.stuur("zender.applicatie"), du01.stuur("ontvanger.applicatie")) == ("OVERSTAP", "GGk")
    assert du01.stuur("zender.administratie") == di01.stuur("zender.administratie") == "gemeente 0384"
    assert du01.stuur("tijdstipBericht") > di01.stuur("tijdstipBericht")
    prefix = "WMO" if result.bericht.wet == "wmo" else "JW"
    assert du01.stuur("functie") == prefix + BERICHTNUMMERS[result.bericht.soort]
    assert (du01.payload == result.outputs[0].xml and False) or Converter(shared_registry()).convert(
        du01.payload, "payload.xml").bericht == result.bericht
    back = Converter(shared_registry()).convert(result.outputs[0].xml, "du01.xml")
    assert back.source.envelopes == ["ggk-Du01"]
    assert back.source.envelope_info["crossRefnummer"] == di01.stuur("referentienummer")


def test_a_retour_whose_di01_the_ledger_does_not_know_is_refused(reference_dir: Path) -> None:
    """No silent wrong crossRefnummer: the failure names the heenbericht (identifiers only) and the field."""
    converter = Converter(shared_registry(), profile="ggk")
    retour = FIXTURES_21 / "families" / "CasusA-02-WMO302_retour_akkoord.xml"
    converter.convert((FIXTURES_21 / "CasusB-01-WMO301_toewijzing.xml").read_bytes(), "another-301.xml")
    with pytest.raises(RenderError) as caught:
        converter.convert(retour.read_bytes(), str(retour))
    info = describe(caught.value, "x")
    assert info.field == "stuurgegevens.crossRefnummer"
    assert info.message.startswith("retour to heenbericht WMO301 1d8d1f0852bf of 2016-02-20 from 0384 to 98025566, "
                                   "whose Di01 this ledger does not know")
    assert "123456782" not in info.message
    # a Di01 that brought the heenbericht in counts too: its UUID is remembered when it is converted
    received = Converter(shared_registry(), profile="ggk", ledger=converter.ledger).convert(
        heen_of(retour), "301.xml").outputs[0].xml
    incoming = received.replace(re.search(rb"<StUF:referentienummer>([^<]+)", received).group(1),
                                b"0e09a81f-64a0-4793-b946-d6538fb3f37e")
    # profile zkn: only the ledger is shared
    Converter(shared_registry(), ledger=converter.ledger).convert(incoming, "di01.xml")
    du01 = Envelope(converter.convert(retour.read_bytes(), str(retour)).outputs[0].xml)
    assert du01.stuur("crossRefnummer") == "0e09a81f-64a0-4793-b946-d6538fb3f37e"


@pytest.mark.parametrize(("heen", "soort", "code"), [
    ("families/CasusB-02-WMO305_start.xml", "start-retour", "419"),
    ("families/CasusB-04-WMO307_stop.xml", "stop-retour", "421"),
    ("CasusA-01-WMO315_verzoek.xml", "verzoek-retour", "445"),
    ("CasusA-02-WMO301_toewijzing.xml", "toewijzing-retour", "415"),
])
def test_every_retour_family_points_at_its_di01(zkn_converter: Converter, reference_dir: Path, heen: str, soort: str,
                                                code: str) -> None:
    """306 and 308 have no built-in dialect to write their payload yet (the heenbericht's payload stands in);
    their envelope follows the same rule: the ledger's stamp points at the 305/307's Di01, and the Du01 goes
    from the heenbericht's Ontvanger to its Afzender, valid against the GGk schema."""
    converter = Converter(shared_registry(), profile="ggk", clock=StepClock(CLOCK_START))
    data = (FIXTURES_21 / heen).read_bytes()
    di01 = Envelope(converter.convert(data, heen).outputs[0].xml)
    bericht = zkn_converter.to_model(data, heen)[2].bericht.model_copy(update={
        "soort": soort, "berichtcode": code, "identificatie_retour": "ovsretour001"})
    settings = RenderSettings()
    with converter.ledger.transaction() as tx:
        stamp = ggk_stamp(bericht, settings, tx, converter.clock())
    assert stamp.cross_ref == di01.stuur("referentienummer") != stamp.referentienummer
    nummer = BERICHTNUMMERS[soort]
    (out,) = ggk_render.render(bericht, di01.payload, nummer, "2.1", settings, stamp)
    du01 = Envelope(out.xml)
    assert errors_of(du01.root, "ggk") == []
    assert (du01.stuur("berichtcode"), du01.stuur("functie")) == ("Du01", f"WMO{nummer}")
    assert (du01.stuur("zender.organisatie"), du01.stuur("ontvanger.organisatie")) == (
        di01.stuur("ontvanger.organisatie"), di01.stuur("zender.organisatie"))
    assert du01.stuur("crossRefnummer") == di01.stuur("referentienummer")
    assert out.name == f"{bericht.ontvanger}-WMO{nummer}-ovsretour001-ggk"


def test_a_failed_retour_leaves_the_ledger_as_it_was(reference_dir: Path) -> None:
    """A retour refused after the ledger step (here: no built-in 306 dialect) leaves no tijdstip behind."""
    converter = Converter(shared_registry(), profile="ggk", clock=lambda: dt.datetime(2026, 3, 1, 12, 0))
    converter.convert((FIXTURES_21 / "families" / "CasusB-02-WMO305_start.xml").read_bytes(), "305")
    bericht = converter.to_model((FIXTURES_21 / "families" / "CasusB-02-WMO305_start.xml").read_bytes(),
                                 "305")[2].bericht.model_copy(update={"soort": "start-retour", "berichtcode": "419"})
    with pytest.raises(ConversionError, match="no built-in wmo 306 dialect"):
        converter.render(bericht, converter.registry.get("iwmo21-wmo305"))
    with converter.ledger.transaction() as tx:  # the Du01 would have gone from the gemeente: its clock is untouched
        assert tx.tijdstip(f"{bericht.ontvanger}/OVERSTAP", dt.datetime(2026, 3, 1, 12, 0)) == "20260301120000000"
        assert tx.tijdstip(f"{bericht.afzender}/OVERSTAP", dt.datetime(2026, 3, 1, 12, 0)) == "20260301120000001"


def test_zender_administratie_is_configurable(full_301: Bericht) -> None:
    """Spec 3.2: "Als samenwerkingsverband dan naam samenwerkingsverband, anders naam gemeente"; set per deployment
    or mapping file (``render: zender: administratie:``), at most 50 characters (StUF:Administratie)."""
    converter = Converter(shared_registry(), profile="ggk", validate=True)
    settings = RenderSettings().merged({"zender": {"administratie": "ISD Bollenstreek ({gemeente})"}})
    assert settings.zender.applicatie == "OVERSTAP"
    env = Envelope(render_ggk(converter, full_301, settings)[0].xml)
    assert env.stuur("zender.administratie") == f"ISD Bollenstreek ({full_301.afzender})"
    assert errors_of(env.root, "ggk") == []
    with pytest.raises(RenderError, match=r"must be 1\.\.50 characters") as caught:
        render_ggk(converter, full_301, RenderSettings().merged({"zender": {"administratie": "x" * 51}}))
    assert caught.value.field == "zender.administratie"


def test_the_default_ledger_commits_a_transaction_whole_or_not_at_all() -> None:
    """The in-memory ledger keeps only a transaction's own writes aside (so a conversion costs the same after a
    million messages) and still reads them back inside it, applies them on commit and drops them on failure."""
    ledger = MemoryLedger()
    with ledger.transaction() as tx:
        tx.remember("di01", "k", "u1")
        assert tx.recall("di01", "k") == "u1"
        assert tx.tijdstip("0384/OVERSTAP", dt.datetime(2026, 3, 1)) == "20260301000000000"
    with pytest.raises(RuntimeError), ledger.transaction() as tx:
        tx.remember("di01", "k", "u2")
        tx.remember("di01", "other", "u3")
        assert tx.tijdstip("0384/OVERSTAP", dt.datetime(2026, 3, 1)) == "20260301000000001"
        raise RuntimeError("conversion failed")
    with ledger.transaction() as tx:
        assert (tx.recall("di01", "k"), tx.recall("di01", "other")) == ("u1", None)
        assert tx.tijdstip("0384/OVERSTAP", dt.datetime(2026, 3, 1)) == "20260301000000001"


# --- incoming envelopes ---------------------------------------------------------------------------------------------

def test_soap_wrapped_envelope_converts(ggk_converter: Converter, zkn_converter: Converter) -> None:
    data = (FIXTURES_21 / "CasusB-01-WMO301_toewijzing.xml").read_bytes()
    body = ggk_converter.convert(data, "b").outputs[0].xml.split(b"?>", 1)[1]
    soap = (b'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope">'
            b"<soap:Header/><soap:Body>" + body + b"</soap:Body></soap:Envelope>")
    result = zkn_converter.convert(soap, "soap.xml")
    assert result.source.envelopes == ["soap12", "ggk-Di01"]
    assert result.mapping.name == "iwmo21-wmo301"
    assert result.bericht.clients[0].producten[0].code == "01A01"
    assert result.bericht == zkn_converter.to_model(data, "b")[2].bericht
    assert zkn_outputs(soap, "soap.xml") == zkn_outputs(data, "b")


def test_official_envelopes_are_schema_valid_and_their_payload_is_not_a_message(reference_dir: Path) -> None:
    """ggk_Di01.xml and the 2.1 example carry the text 'Hier staat het heenbericht' as payload, not XML."""
    for rel, line, filename in ((OFFICIAL_DI01, 31, "WMO301.txt"), (EXAMPLE_DI01, 30, "WMO301.txt"),
                                (OFFICIAL_DU01, 33, "WMO302.txt")):
        data = (reference_dir / rel).read_bytes()
        assert errors_of(etree.fromstring(data), "ggk") == []
        assert EXAMPLE_PAYLOAD in data or b"SGllciBzdGFhdCBoZXQgcmV0b3VyYmVyaWNodA==" in data
        with pytest.raises(InputError) as caught:
            read(data, rel)
        err = caught.value
        assert err.line == line
        assert err.field == "parameters.bericht"
        assert err.message.startswith(f"GGk payload {filename} cannot be read (line 1 of the decoded payload): "
                                      "not well-formed XML: Start tag expected")
        assert "Hier staat" not in str(err), "payload content is never echoed"


def test_a_payload_is_named_by_its_file_name_only_when_that_names_a_message_kind(reference_dir: Path) -> None:
    """Review s18: the error of an unreadable payload quoted the envelope's bestandsnaam, and a sender's file
    name may carry the client's name and BSN; such a name gives way to the functie (WMO301)."""
    data = (reference_dir / OFFICIAL_DI01).read_bytes().replace(b"WMO301.txt", b"Gaastra_D_123456782.xml")
    with pytest.raises(InputError) as caught:
        read(data, "in.xml")
    assert caught.value.message.startswith("GGk payload WMO301 cannot be read (line 1 of the decoded payload): ")
    assert "Gaastra" not in str(caught.value) and "123456782" not in str(caught.value)


def test_official_envelope_with_a_real_payload_converts(reference_dir: Path, zkn_converter: Converter) -> None:
    """The official Di01 (with administratie, gebruiker, referentienummerBericht) around a 2.1 WMO301."""
    official = (reference_dir / OFFICIAL_DI01).read_bytes()
    payload = (FIXTURES_21 / "CasusA-04-WMO301_intrekking.xml").read_bytes()
    data = official.replace(EXAMPLE_PAYLOAD, base64.encodebytes(payload))  # with line breaks, as MIME tools write
    result = zkn_converter.convert(data, "official.xml")
    assert result.source.envelopes == ["ggk-Di01"]
    info = result.source.envelope_info
    assert info["zender.organisatie"] == "0548" and info["ontvanger.organisatie"] == "CAK"
    assert (info["zender.administratie"], info["zender.gebruiker"]) == ("test", "gebruiker1")  # its Bv03 goes there
    assert info["referentienummer"] == "9c0f7b90-5c69-11e5-a837-0800200c9a66"
    assert info["referentienummerBericht"] == "123456789012"
    assert (info["functie"], info["bestandsnaam"], info["contentType"]) == ("WMO301", "WMO301.txt", "application/xml")
    assert result.bericht.clients[0].producten[0].reden_wijziging == "09"


def test_official_envelope_around_an_unknown_xml_payload_says_unknown_dialect(reference_dir: Path,
                                                                              zkn_converter: Converter) -> None:
    official = (reference_dir / OFFICIAL_DI01).read_bytes()
    data = official.replace(EXAMPLE_PAYLOAD, base64.b64encode(b'<Melding xmlns="urn:example:csv-export"/>'))
    with pytest.raises(ConversionError) as caught:
        zkn_converter.convert(data, "unknown.xml")
    assert "unknown dialect: no mapping recognises root element 'Melding' in namespace 'urn:example:csv-export'" in (
        str(caught.value))


def test_malformed_official_example_gives_one_clear_line(reference_dir: Path) -> None:
    data = (reference_dir / EXAMPLE_DU01_BROKEN).read_bytes()
    with pytest.raises(InputError) as caught:
        read(data, "envelopRetourbericht-ggk_Du01-v21.xml")
    err = caught.value
    assert (err.line, err.field, err.code) == (2, "GGK:envelopRetourbericht-ggk_Du01", "StUF055")
    assert str(err) == (
        "envelopRetourbericht-ggk_Du01-v21.xml:2 [GGK:envelopRetourbericht-ggk_Du01]: malformed StUF-GGk envelope "
        "(envelopRetourbericht-ggk_Du01): not well-formed XML: error parsing attribute name, line 2, column 36 "
        "near \"'\"")
    info = describe(err, "x")
    assert (info.code, info.line, info.field) == ("StUF055", 2, "GGK:envelopRetourbericht-ggk_Du01")


@pytest.fixture(scope="module")
def our_envelope(ggk_converter: Converter) -> bytes:
    return ggk_converter.convert((FIXTURES_21 / "CasusA-02-WMO301_toewijzing.xml").read_bytes(), "a").outputs[0].xml


BROKEN = [
    ("functie missing", lambda x: re.sub(rb"<StUF:functie>WMO301</StUF:functie>", b"", x),
     "stuurgegevens.functie", 3, "GGk Di01 envelope: stuurgegevens.functie is missing or empty"),
    ("zender organisatie empty", lambda x: x.replace(b"<StUF:organisatie>0384</StUF:organisatie>",
                                                     b"<StUF:organisatie> </StUF:organisatie>"),
     "stuurgegevens.zender.organisatie", 3, "GGk Di01 envelope: stuurgegevens.zender.organisatie is missing"),
    ("wrong berichtcode", lambda x: x.replace(b">Di01<", b">Du01<"),
     "stuurgegevens.berichtcode", 4, "GGk envelope envelopHeenbericht-ggk_Di01 carries berichtcode 'Du01'"),
    ("not base64", lambda x: re.sub(rb'(contentType="application/xml">)[^<]{8}', rb"\1****!!!!", x),
     "parameters.bericht", 23, "GGk parameters.bericht is not valid base64"),
    ("empty payload", lambda x: re.sub(rb'(contentType="application/xml">)[^<]+', rb"\1", x),
     "parameters.bericht", 23, "GGk Di01 envelope: parameters.bericht is empty"),
    ("csv payload", lambda x: x.replace(b'xmime:contentType="application/xml"', b'xmime:contentType="text/csv"'),
     "parameters.bericht.contentType", 23, "GGk payload has xmime:contentType 'text/csv'"),
    ("no parameters", lambda x: re.sub(rb"<GGK:parameters>.*</GGK:parameters>", b"", x, flags=re.S),
     "parameters", 2, "GGk Di01 envelope without parameters"),
    # a Du01 we write later carries a received Di01's referentienummer as its crossRefnummer (spec 2.4, IB009)
    ("referentienummer not a uuid", lambda x: re.sub(rb"<StUF:referentienummer>[^<]+<",
                                                     b"<StUF:referentienummer>123456782<", x),
     "stuurgegevens.referentienummer", 14, "GGk Di01 envelope: stuurgegevens.referentienummer must be a UUID (spec "
     "2.4: version 4, such as 0e09a81f-64a0-4793-b946-d6538fb3f37e), found 9 digits"),
    # what the XSD allows once, twice: the second would be passed over without a word
    ("two payloads", lambda x: x.replace(b"</GGK:parameters>", b'<GGK:bericht xmime:contentType="application/xml">'
                                                               b"QUJD</GGK:bericht></GGK:parameters>"),
     "parameters.bericht", 24, "GGk Di01 envelope: a second parameters.bericht; the GGk schema allows one"),
    ("two stuurgegevens", lambda x: x.replace(b"\t<GGK:parameters>", re.search(
        rb"<GGK:stuurgegevens>.*?</GGK:stuurgegevens>", x, re.S).group(0) + b"<GGK:parameters>"),  # type: ignore[union-attr]
     "stuurgegevens", 18, "GGk Di01 envelope: a second stuurgegevens"),
    ("unknown element", lambda x: x.replace(b"</GGK:parameters>", b"<GGK:extra>x</GGK:extra></GGK:parameters>"),
     "parameters.extra", 24, "GGk Di01 envelope: parameters holds an element 'extra' the GGk schema does not allow"),
    ("element in the payload", lambda x: x.replace(b"</GGK:bericht>", b"<x/></GGK:bericht>"),
     "parameters.bericht", 23, "GGk Di01 envelope: parameters.bericht holds an element; expected base64 text only"),
    ("payload in payload", lambda x: re.sub(rb'(contentType="application/xml">)[^<]+',
                                            lambda m: m.group(1) + base64.b64encode(x), x),
     "parameters.bericht", 23, "GGk envelope inside a GGk envelope"),
    # review of session 21: what the XSD and spec 3.2 say of a Di01, passed over before
    ("crossRefnummer in a Di01", lambda x: x.replace(b"\t\t<StUF:functie>", b"\t\t<StUF:crossRefnummer>0e09a81f-64a0-"
                                                     b"4793-b946-d6538fb3f37e</StUF:crossRefnummer><StUF:functie>"),
     "stuurgegevens.crossRefnummer", 16, "GGk Di01 envelope: stuurgegevens holds an element 'crossRefnummer' the "
     "GGk schema does not allow there"),
    ("applicatieVersie missing", lambda x: re.sub(rb"<GGK:applicatieVersie>\d+</GGK:applicatieVersie>", b"", x),
     "parameters.applicatieVersie", 18, "GGk Di01 envelope: parameters.applicatieVersie is missing or empty"),
    ("functieVersie not four digits", lambda x: re.sub(rb"<GGK:functieVersie>\d+<", b"<GGK:functieVersie>2.1<", x),
     "parameters.functieVersie", 21, "GGk Di01 envelope: parameters.functieVersie must be four digits (StUF "
     "Versienr, such as 0002), found '2.1'"),
    ("tijdstipBericht not a Tijdstip", lambda x: re.sub(rb"<StUF:tijdstipBericht>\d+<",
                                                        b"<StUF:tijdstipBericht>2024-01-01T12:00:00<", x),
     "stuurgegevens.tijdstipBericht", 15, "GGk Di01 envelope: stuurgegevens.tijdstipBericht must be a StUF Tijdstip "
     "(8 to 17 digits: yyyymmddhhmmssmmm), found 19 characters"),
]


@pytest.mark.parametrize(("case", "breaks", "field", "line", "message"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_envelopes_name_line_and_field(our_envelope: bytes, case: str, breaks: Callable[[bytes], bytes],
                                              field: str, line: int, message: str) -> None:
    data = breaks(our_envelope)
    assert data != our_envelope
    with pytest.raises(InputError) as caught:
        read(data, "broken.xml")
    err = caught.value
    assert (err.field, err.line) == (field, line), str(err)
    assert err.message.startswith(message), err.message


def test_a_payload_split_by_a_comment_is_read_whole(our_envelope: bytes, zkn_converter: Converter) -> None:
    """XML lets a comment or processing instruction stand inside the base64 text; the payload is all of it, not the
    part before the first one (which gave a cut-off payload, 'not well-formed' at its line 6)."""
    encoded = re.search(rb'contentType="application/xml">([^<]+)<', our_envelope).group(1)  # type: ignore[union-attr]
    whole = zkn_converter.convert(our_envelope, "whole.xml").bericht
    for inside in (b"<!-- folded by a mail gateway -->", b"<?pi here?>"):
        split = our_envelope.replace(encoded, encoded[:400] + inside + encoded[400:])
        assert zkn_converter.convert(split, "split.xml").bericht == whole


def test_a_du01_whose_crossrefnummer_is_no_uuid_is_refused(reference_dir: Path) -> None:
    data = (reference_dir / OFFICIAL_DU01).read_bytes()
    broken = data.replace(b"<StUF:crossRefnummer>9c0f7b90-5c69-11e5-a837-0800200c9a66<",
                          b"<StUF:crossRefnummer>REF-0001<")
    assert broken != data
    with pytest.raises(InputError) as caught:
        read(broken, "du01.xml")
    assert (caught.value.field, caught.value.line) == ("stuurgegevens.crossRefnummer", 23)
    assert caught.value.message == ("GGk Du01 envelope: stuurgegevens.crossRefnummer must be a UUID (spec 2.4: version "
                                    "4, such as 0e09a81f-64a0-4793-b946-d6538fb3f37e), found 8 characters in the form "
                                    "aaa-dddd")


def test_an_envelope_that_says_another_message_than_it_carries_is_refused(our_envelope: bytes,
                                                                          zkn_converter: Converter) -> None:
    """A heenbericht travels in a Di01, a retour in a Du01 (spec 2.2), and functie names the payload (2.6): an
    envelope routed as one message around another is refused (IB240), never converted as if it fitted."""
    with pytest.raises(ConversionError) as caught:
        zkn_converter.convert(our_envelope.replace(b">WMO301<", b">WMO305<"), "functie.xml")
    assert caught.value.field == "stuurgegevens.functie"
    assert caught.value.message == ("GGk envelope's stuurgegevens.functie says 'WMO305', but its payload is a WMO301 "
                                    "(GGk spec 2.6: the functie names the payload's message)")
    retour = (FIXTURES_21 / "families" / "CasusA-02-WMO302_retour_akkoord.xml").read_bytes()
    di01_around_a_retour = re.sub(rb'(contentType="application/xml">)[^<]+',
                                  lambda m: m.group(1) + base64.b64encode(retour), our_envelope)
    with pytest.raises(ConversionError) as caught:
        zkn_converter.convert(di01_around_a_retour, "retour.xml")
    assert caught.value.field == "stuurgegevens.berichtcode"
    assert caught.value.message == "GGk Di01 envelope around a WMO302: a retour travels in a Du01 (GGk spec 2.2)"


def test_payload_size_limit_is_checked_before_decoding(our_envelope: bytes) -> None:
    """Through read() the envelope limit already bounds the payload (base64 is 4/3 of it); unwrap checks anyway."""
    with pytest.raises(InputError) as caught:
        ggk_ingest.unwrap(etree.fromstring(our_envelope), "big.xml", max_bytes=1000)
    assert caught.value.code == "StUF058"
    assert caught.value.field == "parameters.bericht"
    assert "more than the limit of" in caught.value.message


def test_an_envelope_may_be_25_mb(zkn_converter: Converter) -> None:
    """Spec 3.2/3.3: "Maximum grootte van het ggk0210-Di01 bericht inclusief deze base64 inhoud is 25 MegaByte"
    (IB007, CC03). A 12 MB envelope (a base64 text node beyond libxml2's default 10,000,000 characters) converts
    under the general 10 MB limit; a larger one, or a plain message above 10 MB, is refused with StUF058."""
    source = (FIXTURES_21 / "CasusB-01-WMO301_toewijzing.xml").read_bytes()
    di01 = Converter(shared_registry(), profile="ggk").convert(source, "b").outputs[0].xml

    def wrapped(padding: int) -> bytes:
        encoded = base64.b64encode(source + b"\n" * padding)
        return re.sub(rb'(contentType="application/xml">)[^<]+', lambda m: m.group(1) + encoded, di01)

    big = wrapped(9_000_000)
    assert 12_000_000 < len(big) < ggk_ingest.MAX_ENVELOPE_BYTES
    result = zkn_converter.convert(big, "big.xml")
    assert result.source.envelopes == ["ggk-Di01"]
    assert result.bericht == zkn_converter.convert(source, "b").bericht
    with pytest.raises(InputError) as caught:
        read(wrapped(20_000_000), "huge.xml")
    assert caught.value.code == "StUF058"
    assert f"more than the limit of {25 * 1024 * 1024}" in caught.value.message
    with pytest.raises(InputError, match=f"more than the limit of {10 * 1024 * 1024}"):
        read(source + b"\n" * 11_000_000, "plain.xml")
    # the sidecar's reply to a failed big envelope still names the sender's referentienummer
    from gateway.proxy.converting import facts_of

    assert facts_of(big).source_ref == Envelope(di01).stuur("referentienummer")


GGK_DECL = f'xmlns:GGK="{ggk_ingest.GGK_NS}"'
SOAP_DECL = 'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"'


@pytest.mark.parametrize(("start", "root"), [
    (f'<?xml version="1.0"?>\n<!-- c --><?pi x?>\n<GGK:envelopHeenbericht-ggk_Di01 {GGK_DECL}>',
     "envelopHeenbericht-ggk_Di01"),
    (f'\ufeff<envelopRetourbericht-ggk_Du01 a="x>y" xmlns="{ggk_ingest.GGK_NS}"/>', "envelopRetourbericht-ggk_Du01"),
    (f'<soap:Envelope {SOAP_DECL} {GGK_DECL}><soap:Header><w:To xmlns:w="urn:w">x</w:To></soap:Header>\n'
     "<soap:Body><!-- c --><GGK:envelopHeenbericht-ggk_Di01>", "envelopHeenbericht-ggk_Di01"),
    (f'<soap:Envelope {SOAP_DECL}><soap:Header/><soap:Body><G:envelopRetourbericht-ggk_Du01 '
     f'xmlns:G="{ggk_ingest.GGK_NS}">', "envelopRetourbericht-ggk_Du01"),
    (f"<!-- <GGK:envelopHeenbericht-ggk_Di01 {GGK_DECL}> -->\n<a>x</a>", None),  # a mention in a comment
    (f"<a>&lt;GGK:envelopHeenbericht-ggk_Di01 {GGK_DECL}&gt;</a>", None),  # in text
    (f"<a><GGK:envelopHeenbericht-ggk_Di01 {GGK_DECL}/></a>", None),  # nested
    (f"<soap:Envelope {SOAP_DECL}><soap:Body><a/><GGK:envelopHeenbericht-ggk_Di01 {GGK_DECL}/>", None),  # second
    (f"<soap:Envelope {SOAP_DECL}><soap:Fault><GGK:envelopHeenbericht-ggk_Di01 {GGK_DECL}/>", None),  # no Body
    ('<GGK:envelopHeenbericht-ggk_Di01 xmlns:GGK="urn:another">', None),  # another namespace
    ("<GGK:envelopHeenbericht-ggk_Di01>", None),  # no namespace at all
    (f"<!DOCTYPE a><GGK:envelopHeenbericht-ggk_Di01 {GGK_DECL}>", None),
])
def test_an_envelope_is_known_by_its_root_element_not_by_a_mention(start: str, root: str | None) -> None:
    """Review of the sidecar, finding 1: the envelope's 25 MB went to any body that named an envelope in its first
    4 KB, a comment was enough. Only a root element (or a SOAP Body's first child) in the GGk namespace counts."""
    data = start.encode() + b"x" * 100
    assert ggk_ingest.envelope_root(data) == root
    assert ggk_ingest.limit_for(data, 2048) == (ggk_ingest.MAX_ENVELOPE_BYTES if root else 2048)
    assert ggk_ingest.head_limit(data, 2048) == (ggk_ingest.MAX_ENVELOPE_BYTES if root else 2048)


def test_a_body_still_arriving_is_judged_once_its_start_is_in() -> None:
    """Bytes that end inside the prolog or the first tags cannot tell: read on, but no further than SCAN_BYTES."""
    whole = f'<?xml version="1.0"?><!-- c --><GGK:envelopHeenbericht-ggk_Di01 {GGK_DECL}>'.encode()
    for cut in range(1, len(whole)):
        assert ggk_ingest.head_limit(whole[:cut], 2048) is None, whole[:cut]
    assert ggk_ingest.head_limit(whole, 2048) == ggk_ingest.MAX_ENVELOPE_BYTES
    endless = b"<!-- " + b"x" * ggk_ingest.SCAN_BYTES
    assert ggk_ingest.head_limit(endless[:ggk_ingest.SCAN_BYTES - 1], 2048) is None
    assert ggk_ingest.head_limit(endless, 2048) == 2048  # SCAN_BYTES in and still no envelope: the general limit


def test_payload_errors_point_into_the_payload(reference_dir: Path) -> None:
    official = (reference_dir / OFFICIAL_DI01).read_bytes()
    bad = b'<?xml version="1.0"?>\n<Bericht>\n<Header>\n</Bericht>\n'
    with pytest.raises(InputError) as caught:
        read(official.replace(EXAMPLE_PAYLOAD, base64.b64encode(bad)), "bad.xml")
    err = caught.value
    assert (err.line, err.field) == (31, "parameters.bericht")
    assert "(line 4 of the decoded payload): not well-formed XML" in err.message


# --- what the target version cannot hold or requires ---------------------------------------------------------------

@pytest.fixture(scope="module")
def full_301(zkn_converter: Converter) -> Bericht:
    return zkn_converter.to_model((FIXTURES_21 / "Full-WMO301_alle_elementen.xml").read_bytes(), "full")[2].bericht


def test_values_the_target_cannot_hold_are_listed_as_dropped_and_the_payload_stays_valid(
        ggk_converter: Converter, full_301: Bericht) -> None:
    b = full_301.model_copy(deep=True)
    b.clients[0].producten[0].omvang.eenheid = "84"  # 3.x stuks (inspanning)
    b.clients[0].producten[0].reden_wijziging = "14"  # 3.x administratieve correctie -> 2.1 01
    b.clients[0].clientnummer = "C-77"
    b.clients[0].producten[0].leveringsvorm = "PGB"
    (out,) = ggk_converter.render(b, ggk_converter.registry.get("iwmo21-wmo301"))
    env = Envelope(out.xml)
    assert errors_of(env.payload_root, "iwmo21-301") == []
    assert out.dropped == (
        "clients.0.producten.0.omvang: the Eenheid is not in the iWmo 2.1 list",
        "clients.0.clientnummer: not representable in iwmo21-wmo301",
        "clients.0.producten.0.leveringsvorm: not representable in iwmo21-wmo301",
    )
    product = env.payload_root.find(".//m301:ToegewezenProduct", NS)
    assert product.find("m301:Omvang", NS) is None
    assert product.findtext("m301:RedenWijziging", namespaces=NS) == "01"
    assert "C-77" not in env.payload.decode()


@pytest.mark.parametrize(("change", "error", "field", "message"), [
    (lambda b: setattr(b.clients[0], "beschikking", None), ConversionError, "clients.0.beschikking.nummer",
     "lacks what iwmo21-wmo301 requires"),
    (lambda b: setattr(b.clients[0].producten[0], "toewijzingstijd", None), OutputInvalid, "iwmo21-301",
     "Toewijzingstijd"),
    (lambda b: setattr(b, "identificatie", "X" * 13), OutputInvalid, "iwmo21-301", "Identificatie"),
    (lambda b: setattr(b, "afzender", "98025566"), OutputInvalid, "iwmo21-301", "Afzender"),
    (lambda b: setattr(b.clients[0].beschikking.beperkingen[0].scores[0], "vraag", "9999"), OutputInvalid,
     "iwmo21-301", "Vraag"),
])
def test_what_2_1_requires_and_the_message_lacks_is_a_clear_failure(
        ggk_converter: Converter, full_301: Bericht, change: Callable[[Bericht], None], error: type[Exception],
        field: str, message: str) -> None:
    """A required 2.1 element nothing can derive stops the message: the mapping file names the canonical field
    (ConversionError), or the 2.1 XSD names the element (OutputInvalid); both are bad-input failures (StUF055)."""
    b = full_301.model_copy(deep=True)
    change(b)
    with pytest.raises(error) as caught:
        ggk_converter.render(b, ggk_converter.registry.get("iwmo21-wmo301"))
    info = describe(caught.value, "x")
    assert info.code == "StUF055"
    assert info.field == field
    assert message in info.message


def test_ggk_versie_setting(ggk_converter: Converter, full_301: Bericht, reference_dir: Path) -> None:
    assert RenderSettings(ggk_versie="iwmo-2.1").ggk_target("wmo", "2.0") == "2.1"
    assert RenderSettings(ggk_versie="source").ggk_target("wmo", "2.0") == "2.0"
    assert RenderSettings().ggk_target("wmo", "3.2") == "newest"
    assert RenderSettings().ggk_target("jw", "2.1") == "newest"
    assert RenderSettings().merged({"ggk_versie": "3.2"}).ggk_versie == "3.2"
    with pytest.raises(ConversionError) as caught:
        render_ggk(ggk_converter, full_301, RenderSettings(ggk_versie="9.9"))
    assert caught.value.field == "ggk_versie"
    assert str(caught.value).endswith("no built-in wmo 301 dialect in version 9.9: there is one for 2.0, 2.1, 3.2")
    verzoek_wijziging = ggk_converter.to_model((FIXTURES_DIR / "iwmo32" / "WMO317_verzoek_wijziging.xml").read_bytes(),
                                               "317")[2].bericht
    with pytest.raises(ConversionError, match=r"no built-in wmo 317 dialect in version 2\.1: there is one for 3\.2"):
        render_ggk(ggk_converter, verzoek_wijziging, RenderSettings(ggk_versie="2.1"))
    assert len(render_ggk(ggk_converter, verzoek_wijziging, RenderSettings(ggk_versie="3.2"))) == 1
    # 2.1 -> 3.2 needs the 3.x XsdVersie, which no canonical 2.1 message has and Overstap cannot make up
    with pytest.raises(ConversionError, match="lacks what iwmo32-wmo301 requires: xsd_versie_basisschema"):
        render_ggk(ggk_converter, full_301, RenderSettings(ggk_versie="3.2"))


def test_a_2_0_payload_is_written_through_the_2_0_dialect(ggk_converter: Converter, full_301: Bericht) -> None:
    """ggk_versie 2.0: no XSD to validate, so the payload is checked by reading it back with the 2.0 dialect."""
    (out,) = render_ggk(ggk_converter, full_301, RenderSettings(ggk_versie="2.0"))
    env = Envelope(out.xml)
    assert env.payload == out.payload
    assert (env.parameter("functieVersie"), env.parameter("functieSubversie")) == ("0002", "0000")
    _, back_mapping, back = Converter(shared_registry()).to_model(out.payload, "payload.xml")
    assert back_mapping.name == "iwmo20-wmo301"
    assert back.bericht.clients[0].bsn == full_301.clients[0].bsn
    assert "clients.0.producten.0.toewijzingnummer: not representable in iwmo20-wmo301" in out.dropped


# --- CLI -----------------------------------------------------------------------------------------------------------

def test_cli_convert_ggk_lists_what_2_1_drops(reference_dir: Path, tmp_path: Path) -> None:
    sample = reference_dir / "samples" / "iwmo20-xml" / "CasusA-04-WMO301_intrekking.xml"
    result = CliRunner().invoke(main, ["convert", str(sample), "--profile", "ggk", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "iwmo20-wmo301 -> 0384-WMO301-bf6eee8248a7-ggk.xml" in result.output
    assert "     dropped: clients.0.leefeenheid: not representable in iwmo21-wmo301" in result.output
    written = (tmp_path / "0384-WMO301-bf6eee8248a7-ggk.xml").read_bytes()
    assert errors_of(etree.fromstring(written), "ggk") == []
    assert "123456782" not in result.output, "no BSN on the console"


def test_cli_convert_a_301_and_its_302_with_a_payload_version(tmp_path: Path, reference_dir: Path) -> None:
    """One ``convert`` run is one ledger: the 302 after its 301 becomes a Du01 pointing at the 301's Di01.
    ``--ggk-versie 2.1`` writes a 3.2 message as 2.1 where 2.1 can say it (the 2.1 XSD validates it)."""
    retour = FIXTURES_21 / "families" / "CasusA-02-WMO302_retour_akkoord.xml"
    result = CliRunner().invoke(main, ["convert", str(FIXTURES_21 / "CasusA-02-WMO301_toewijzing.xml"), str(retour),
                                       "--profile", "ggk", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    di01 = Envelope((tmp_path / "0384-WMO301-1d8d1f0852bf-ggk.xml").read_bytes())
    du01 = Envelope((tmp_path / "98025566-WMO302-ovs302a02001-ggk.xml").read_bytes())
    assert du01.stuur("crossRefnummer") == di01.stuur("referentienummer")
    alone = CliRunner().invoke(main, ["convert", str(retour), "--profile", "ggk", "--out", str(tmp_path / "x")])
    assert alone.exit_code == 1 and "whose Di01 this ledger does not know" in alone.output
    start = FIXTURES_DIR / "iwmo32" / "WMO305_start.xml"
    for flag, versie in (([], "0003"), (["--ggk-versie", "2.1"], "0002")):
        out = tmp_path / versie
        result = CliRunner().invoke(main, ["convert", str(start), "--profile", "ggk", "--out", str(out), *flag])
        assert result.exit_code == 0, result.output
        (written,) = out.glob("*.xml")
        assert Envelope(written.read_bytes()).parameter("functieVersie") == versie
    wrong = CliRunner().invoke(main, ["convert", str(start), "--ggk-versie", "2.1", "--out", str(tmp_path / "z")])
    assert wrong.exit_code != 0 and "--ggk-versie chooses the payload version of --profile ggk" in wrong.output


def test_serve_route_sets_the_payload_version(reference_dir: Path) -> None:
    from gateway.proxy.config import ConfigError
    from gateway.proxy.config_file import from_dict
    from gateway.proxy.converting import build_converters

    doc = {"downstreams": {"isd": "http://isd.example/ggk"}, "routes": {
        "isd": {"downstream": "isd", "profile": "ggk", "ggk_versie": "2.1"},
        "isd-new": {"downstream": "isd", "profile": "ggk"}}}
    converters = build_converters(from_dict(doc), shared_registry())
    bericht = converters["isd"].to_model((FIXTURES_DIR / "iwmo32" / "WMO315_verzoek.xml").read_bytes())[2].bericht
    assert converters["isd"].payload_dialect(bericht, converters["isd"].settings).name == "iwmo21-wmo315"
    assert converters["isd-new"].payload_dialect(bericht, converters["isd-new"].settings).name == "iwmo32-wmo315"
    doc["routes"]["isd-new"] = {"downstream": "isd", "ggk_versie": "2.1"}
    with pytest.raises(ConfigError, match=r"routes\.isd-new\.ggk_versie: only a route with profile ggk"):
        from_dict(doc)


def test_cli_convert_ggk_of_an_ijw_3_2_message(tmp_path: Path, reference_dir: Path) -> None:
    fixture = FIXTURES_DIR / "ijw32" / "JW301_toewijzing.xml"
    result = CliRunner().invoke(main, ["convert", str(fixture), "--profile", "ggk", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (written,) = tmp_path.glob("*-JW301-*-ggk.xml")
    env = Envelope(written.read_bytes())
    assert errors_of(env.root, "ggk") == []
    assert (env.stuur("functie"), env.parameter("functieVersie")) == ("JW301", "0003")
    assert "dropped:" not in result.output  # "dropped" alone may be in the checkout's path
