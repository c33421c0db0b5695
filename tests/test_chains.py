"""Chains end to end: the v2 renderer's zakLk01 fed to the reference receiver, which must accept every one
and end with the zaak state the source messages describe (issue 10, "Done when").

Expected values are written by hand from the sample and fixture files (dates, numbers, codes, reden codes);
the statustype names and zaaktype codes are the demo catalogue's. Zaken are found by their kenmerk, not by
an identificatie copied from the output.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from clocks import StepClock
from lxml import etree
from shared_registry import shared_registry

from gateway.ledger import MemoryLedger
from gateway.mapping import ConversionError
from gateway.pipeline import Converter
from gateway.receiver import Answer, Receiver

FIXTURES = Path(__file__).parent / "fixtures"
ZKN, STUF = "http://www.egem.nl/StUF/sector/zkn/0310", "http://www.egem.nl/StUF/StUF0301"
POSITIONAL = re.compile(r"(^|\.)\d+(\.|$)")
GESTART, GESTOPT, INGETROKKEN, AFGEHANDELD = ("Levering gestart", "Levering gestopt", "Start levering ingetrokken",
                                              "Afgehandeld")


@dataclass
class Chain:
    """One Converter with one ledger, and one receiver that gets every output, in order."""

    reference_dir: Path
    converter: Converter = field(init=False)
    receiver: Receiver = field(default_factory=Receiver)
    delivered: list[tuple[str, Any, Answer]] = field(default_factory=list)
    quiet: list[str] = field(default_factory=list)  # sources that gave no output (retour, no change)

    def __post_init__(self) -> None:
        self.converter = Converter(shared_registry(), validate=True, ledger=MemoryLedger(), clock=StepClock())

    def source(self, name: str) -> bytes:
        if name.startswith("20:"):
            return (self.reference_dir / "samples" / "iwmo20-xml" / name[3:]).read_bytes()
        return (FIXTURES / name).read_bytes()

    def feed(self, name: str, data: bytes | None = None) -> list[Answer]:
        conversion = self.converter.convert(data if data is not None else self.source(name), name)
        if not conversion.outputs:
            self.quiet.append(name)
        answers = []
        for output in conversion.outputs:
            answer = self.receiver.receive(output.xml, output.soap_action)
            self.delivered.append((name, output, answer))
            answers.append(answer)
        return answers

    def feed_all(self, names: list[str]) -> Chain:
        for name in names:
            self.feed(name)
        return self

    def zaken(self, bron: str, kenmerk: str, zaaktype: str | None = None) -> list[dict[str, Any]]:
        """The zaken that carry kenmerk ``kenmerk`` from ``bron`` (and have ``zaaktype`` when given)."""
        return [z for z in self.receiver.snapshot().values()
                if {"kenmerk": kenmerk, "bron": bron} in z["kenmerken"] and zaaktype in (None, z["zaaktype"])]

    def one(self, bron: str, kenmerk: str, zaaktype: str, gemeente: str | None = None) -> dict[str, Any]:
        found = [z for z in self.zaken(bron, kenmerk, zaaktype)
                 if gemeente is None or z["identificatie"].startswith(gemeente)]
        assert len(found) == 1, f"{len(found)} zaken of type {zaaktype} with {bron} {kenmerk}"
        return found[0]


def statuses(zaak: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["statustype"], s["datumStatusGezet"]) for s in zaak["statussen"]]


def dates(zaak: dict[str, Any]) -> tuple[str | None, ...]:
    return (zaak["startdatum"], zaak["registratiedatum"], zaak["einddatumGepland"], zaak["einddatum"])


def reden(zaak: dict[str, Any]) -> str:
    return (zaak["resultaat"] or {}).get("omschrijving", "")


def kenmerken(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"kenmerk": kenmerk, "bron": bron} for bron, kenmerk in pairs]


# The public iWmo 2.0 samples, in the order they happen. Gemeente 0385's 301 (cases E and F) is not among
# the samples: the B-01 toewijzing sent by 0385 stands in for it, then F (2016-03-14) before E (2016-03-21).
SAMPLES_20 = ["20:CasusA-01-WMO315_verzoek.xml", "20:CasusA-02-WMO301_toewijzing.xml",
              "20:CasusA-04-WMO301_intrekking.xml", "20:CasusB-01-WMO301_toewijzing.xml",
              "20:CasusB-02-WMO305_start.xml", "20:CasusB-04-WMO307_stop.xml",
              "20:CasusC-01-WMO301_intrekking.xml", "20:CasusC-02-WMO301_herindicatie.xml"]
SAMPLES_0385 = ["20:CasusF-01-WMO305_verwijderen.xml", "20:CasusF-02-WMO305_nieuweaanlevering.xml",
                "20:CasusE-01-WMO305_correctie.xml"]
IWMO21 = ["iwmo21/CasusA-01-WMO315_verzoek.xml", "iwmo21/families/CasusA-01-WMO316_retour.xml",
          "iwmo21/CasusA-02-WMO301_toewijzing.xml", "iwmo21/families/CasusA-02-WMO302_retour_akkoord.xml",
          "iwmo21/CasusA-04-WMO301_intrekking.xml", "iwmo21/CasusB-01-WMO301_toewijzing.xml",
          "iwmo21/families/CasusB-01-WMO302_retour_afgekeurd.xml", "iwmo21/families/CasusB-02-WMO305_start.xml",
          "iwmo21/families/CasusB-04-WMO307_stop.xml", "iwmo21/CasusC-01-WMO301_intrekking.xml",
          "iwmo21/CasusC-02-WMO301_herindicatie.xml", "iwmo21/Multi-WMO301_twee_clienten.xml",
          "iwmo21/Full-WMO315_alle_elementen.xml", "iwmo21/families/Full-WMO302_alle_elementen.xml"]
IWMO21_FULL_301 = "iwmo21/Full-WMO301_alle_elementen.xml"
IWMO32 = ["iwmo32/WMO315_verzoek.xml", "iwmo32/WMO301_toewijzing_specifiek.xml", "iwmo32/WMO301_toewijzing_budget.xml",
          "iwmo32/WMO305_start.xml", "iwmo32/WMO305_correctie.xml", "iwmo32/WMO301_wijziging_verkorting.xml",
          "iwmo32/WMO307_stop.xml", "iwmo32/WMO317_verzoek_wijziging.xml"]
IJW21 = ["ijw21/JW315_verzoek.xml", "ijw21/JW316_retour.xml", "ijw21/JW301_toewijzing.xml", "ijw21/JW302_retour.xml",
         "ijw21/JW305_start.xml", "ijw21/JW307_stop.xml"]
IJW32 = ["ijw32/JW315_verzoek.xml", "ijw32/JW301_toewijzing.xml", "ijw32/JW305_start.xml", "ijw32/JW307_stop.xml",
         "ijw32/JW317_verzoek_wijziging.xml"]


def samples_20(chain: Chain) -> Chain:
    """The 2.0 samples plus: a second 301 for an existing toewijzing (unchanged, then shortened) and a start
    sent before its toewijzing, refused by the converter, and sent again once the toewijzing is there."""
    a02 = "20:CasusA-02-WMO301_toewijzing.xml"
    chain.feed_all(SAMPLES_20[:2])
    chain.feed(a02)  # the same 301 again: nothing changed, nothing sent
    chain.feed_all(SAMPLES_20[2:3])
    with pytest.raises(ConversionError, match="no zaak is known"):
        chain.feed("20:CasusB-02-WMO305_start.xml")
    b01 = chain.source("20:CasusB-01-WMO301_toewijzing.xml")
    chain.feed("20:CasusB-01-WMO301_toewijzing.xml", b01)
    chain.feed("B-01 shortened", b01.replace(b"2016-12-31", b"2016-09-30"))  # a second 301: W
    chain.feed_all(SAMPLES_20[4:])  # the start again (the fix), the stop, case C
    chain.feed("B-01 of 0385", b01.replace(b">0384<", b">0385<"))
    return chain.feed_all(SAMPLES_0385)


@pytest.fixture(scope="module")
def reference(request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue("reference_dir")


FAMILIES = {"chain21": IWMO21, "chain32": IWMO32, "chain_jw21": IJW21, "chain_jw32": IJW32}


@pytest.fixture(scope="module")
def chains(reference: Path) -> Callable[[str], Chain]:
    """Each family's chain, converted and received once per module and shared by its tests."""
    built: dict[str, Chain] = {}

    def get(name: str) -> Chain:
        if name not in built:
            built[name] = samples_20(Chain(reference)) if name == "chain20" else Chain(reference).feed_all(
                FAMILIES[name])
        return built[name]

    return get


CHAINS = ["chain20", "chain21", "chain32", "chain_jw21", "chain_jw32"]


# ---------------------------------------------------------------- every chain: accepted, well-formed W


@pytest.mark.parametrize("name", CHAINS)
def test_the_receiver_accepts_every_message_of_the_chain(name: str, chains: Callable[[str], Chain]) -> None:
    chain = chains(name)
    assert chain.delivered
    refused = [(source, output.operation, str(answer.fout)) for source, output, answer in chain.delivered
               if not answer.accepted]
    assert refused == []
    assert [answer.operation for _, output, answer in chain.delivered] == [
        output.operation for _, output, _ in chain.delivered]  # the receiver saw the operation the renderer meant


def _elements(obj: etree._Element) -> list[str]:
    names = []
    for child in obj:
        if not isinstance(child.tag, str):
            continue
        names.append(etree.QName(child).localname)
        names += [f"extraElement {e.get('naam')}" for e in child.iter(f"{{{STUF}}}extraElement")]
    return names


@pytest.mark.parametrize("name", CHAINS)
def test_in_every_w_oud_and_nieuw_hold_the_same_elements(name: str, chains: Callable[[str], Chain]) -> None:
    chain = chains(name)
    pairs = 0
    for source, output, _ in chain.delivered:
        root = etree.fromstring(output.xml)
        objects = root.findall(f"{{{ZKN}}}object")
        if root.findtext(f"{{{ZKN}}}parameters/{{{STUF}}}mutatiesoort") == "W":
            pairs += 1
            assert _elements(objects[0]) == _elements(objects[1]), (source, output.operation)
    assert pairs > 0


@pytest.mark.parametrize("name", CHAINS)
def test_no_extra_element_name_has_a_positional_index(name: str, chains: Callable[[str], Chain]) -> None:
    chain = chains(name)
    names = {e.get("naam") for _, output, _ in chain.delivered
             for e in etree.fromstring(output.xml).iter(f"{{{STUF}}}extraElement")}
    assert names
    assert sorted(n for n in names if POSITIONAL.search(n or "")) == []


# ---------------------------------------------------------------- 2.0 samples, state by hand


def test_20_case_a_aanvraag_and_toewijzing_ended_by_intrekking(chains: Callable[[str], Chain]) -> None:
    chain20 = chains("chain20")
    aanvraag = chain20.one("BeschikkingNummer", "425386123", "WMOAANV")  # 315 of 2016-02-18
    assert dates(aanvraag) == ("20160215", "20160218", None, "20160220")  # answered by the 301 of 2016-02-20
    assert aanvraag["initiator"] == {"soort": "natuurlijkPersoon", "identificatie": "inp.bsn=*******82"}
    zaak = chain20.one("BeschikkingNummer", "425386123", "WMOTOEW", gemeente="0384")
    assert reden(aanvraag) == f"Toegewezen (zaak {zaak['identificatie']})"
    assert statuses(aanvraag) == [(AFGEHANDELD, "20160220000000000")]
    assert dates(zaak) == ("20160215", "20160220", "20161231", "20161107")  # A-02, ended by A-04
    assert zaak["kenmerken"] == kenmerken(("BeschikkingNummer", "425386123"))
    assert "RedenIntrekking 4" in reden(zaak)
    assert statuses(zaak) == [(AFGEHANDELD, "20161107000000000")]
    assert zaak["heeftBetrekkingOpAndere"] == [aanvraag["identificatie"]]
    assert zaak["extraElementen"]["product.code"] == "07A03"
    assert len(zaak["berichten"]) == 3  # creeerZaak, updateZaak, actualiseerZaakstatus: not the repeated A-02


def test_20_the_same_301_again_sends_nothing(chains: Callable[[str], Chain]) -> None:
    chain20 = chains("chain20")
    assert "20:CasusA-02-WMO301_toewijzing.xml" in chain20.quiet


def test_20_case_b_is_one_zaak_started_shortened_and_stopped(chains: Callable[[str], Chain]) -> None:
    chain20 = chains("chain20")
    zaak = chain20.one("BeschikkingNummer", "658721123", "WMOTOEW", gemeente="0384")  # exactly one zaak
    assert dates(zaak) == ("20160307", "20160307", "20160930", "20161002")  # einddatumGepland from the second 301
    assert "RedenBeeindiging 02" in reden(zaak)
    assert statuses(zaak) == [(GESTART, "20160310000000000"), (GESTOPT, "20161002000000000"),
                              (AFGEHANDELD, "20161002000000001")]  # the stop's day: a millisecond later
    assert zaak["betrokkenen"][-1]["identificatie"] == "ann.identificatie=00000000098026987"
    sources = [source for source, output, _ in chain20.delivered if output.zaak == zaak["identificatie"]]
    assert sources == ["20:CasusB-01-WMO301_toewijzing.xml", "B-01 shortened", "20:CasusB-02-WMO305_start.xml",
                       "20:CasusB-04-WMO307_stop.xml", "20:CasusB-04-WMO307_stop.xml", "20:CasusB-04-WMO307_stop.xml"]


def test_20_a_resent_delivery_is_applied_once(chains: Callable[[str], Chain]) -> None:
    chain20 = chains("chain20")
    start = next(output for source, output, _ in chain20.delivered if source == "20:CasusB-02-WMO305_start.xml")
    answer = chain20.receiver.receive(start.xml, start.soap_action)
    assert (answer.accepted, answer.duplicate) == (True, True)
    assert statuses(chain20.receiver.zaak(start.zaak)).count((GESTART, "20160310000000000")) == 1


def test_20_case_c_intrekking_then_herindicatie_gives_two_zaken_of_0392(chains: Callable[[str], Chain]) -> None:
    chain20 = chains("chain20")
    zaken = sorted(chain20.zaken("BeschikkingNummer", "425386123", "WMOTOEW"), key=lambda z: z["startdatum"])
    ingetrokken, nieuw = [z for z in zaken if z["identificatie"].startswith("0392")]
    # created as it ran, einddatumGepland the line's Einddatum (what its creeerZaak reads back with), then ended
    assert dates(ingetrokken) == ("20160215", "20161010", "20161009", "20161009")
    assert "RedenIntrekking 3" in reden(ingetrokken)
    assert statuses(ingetrokken) == [(AFGEHANDELD, "20161009000000000")]
    assert dates(nieuw) == ("20161010", "20161010", "20161231", None)
    assert statuses(nieuw) == [] and nieuw["resultaat"] is None


def test_20_cases_f_and_e_on_the_0385_toewijzing(chains: Callable[[str], Chain]) -> None:
    chain20 = chains("chain20")
    zaak = chain20.one("BeschikkingNummer", "658721123", "WMOTOEW", gemeente="0385")
    assert dates(zaak) == ("20160307", "20160307", "20161231", None)
    assert statuses(zaak) == [
        (INGETROKKEN, "20160310000000000"),  # F-01: the start of 2016-03-10 is withdrawn
        (GESTART, "20160310000000001"),  # F-02: and delivered again, a millisecond later the same day
        (INGETROKKEN, "20160310000000002"),  # E-01: withdrawn once more (StatusAanlevering 3) ...
        (GESTART, "20160321000000000"),  # ... and 2016-03-21 reported instead
    ]
    assert zaak["laatsteStatus"]["statustype"] == GESTART  # as the receiver works it out from datumStatusGezet


def test_20_samples_make_exactly_these_zaken(chains: Callable[[str], Chain]) -> None:
    chain20 = chains("chain20")
    kinds = sorted((z["identificatie"][:4], z["zaaktype"]) for z in chain20.receiver.snapshot().values())
    assert kinds == [("0384", "WMOAANV"), ("0384", "WMOTOEW"), ("0384", "WMOTOEW"), ("0385", "WMOTOEW"),
                     ("0392", "WMOTOEW"), ("0392", "WMOTOEW")]


# ---------------------------------------------------------------- 2.1 fixtures


def test_21_case_a_links_the_toewijzing_to_its_aanvraag_and_ends_it(chains: Callable[[str], Chain]) -> None:
    chain21 = chains("chain21")
    aanvraag = chain21.one("ReferentieAanbieder", "VZ-2016-0001", "WMOAANV")
    assert dates(aanvraag) == ("20160215", "20160218", None, "20160220")
    zaak = chain21.one("ToewijzingNummer", "100001", "WMOTOEW")
    assert reden(aanvraag) == "Toegewezen (zaak 0384T100001)"
    assert statuses(aanvraag) == [(AFGEHANDELD, "20160220000000000")]
    assert zaak["kenmerken"] == kenmerken(("BeschikkingNummer", "425386123"), ("ToewijzingNummer", "100001"))
    assert dates(zaak) == ("20160215", "20160220", "20161231", "20161107")
    assert "RedenWijziging 09" in reden(zaak)
    assert statuses(zaak) == [(AFGEHANDELD, "20161107000000000")]
    assert zaak["heeftBetrekkingOpAndere"] == [aanvraag["identificatie"]]


def test_21_case_b_is_one_zaak_and_retours_change_nothing(chains: Callable[[str], Chain]) -> None:
    chain21 = chains("chain21")
    (zaak,) = chain21.zaken("BeschikkingNummer", "658721123")
    assert dates(zaak) == ("20160307", "20160307", "20161231", "20161002")
    assert statuses(zaak) == [(GESTART, "20160310000000000"), (GESTOPT, "20161002000000000"),
                              (AFGEHANDELD, "20161002000000001")]  # the stop's day: a millisecond later
    assert sorted(chain21.quiet) == sorted(n for n in IWMO21 if "retour" in n or "WMO302" in n)


def test_21_case_c_verkorting_and_herindicatie(chains: Callable[[str], Chain]) -> None:
    chain21 = chains("chain21")
    verkort = chain21.one("ToewijzingNummer", "100003", "WMOTOEW", gemeente="0392")
    assert dates(verkort) == ("20160215", "20161010", "20161009", None)  # RedenWijziging 05: shortened, not ended
    nieuw = chain21.one("ToewijzingNummer", "100004", "WMOTOEW", gemeente="0392")
    assert dates(nieuw) == ("20161010", "20161010", "20161231", None)


def test_21_two_clients_give_one_zaak_per_toewijzing(chains: Callable[[str], Chain]) -> None:
    chain21 = chains("chain21")
    expected = {"100005": ("20170101", "20170105", "20171231"), "100006": ("20170101", "20170105", "20171231"),
                "100007": ("20170101", "20170105", None), "100008": ("20170109", "20170105", "20170630")}
    for nummer, (start, registratie, gepland) in expected.items():
        zaak = chain21.one("ToewijzingNummer", nummer, "WMOTOEW")
        assert dates(zaak) == (start, registratie, gepland, None), nummer


def test_21_full_301_after_its_315_is_accepted(reference: Path) -> None:
    chain = Chain(reference).feed_all(["iwmo21/Full-WMO315_alle_elementen.xml"])
    answers = chain.feed(IWMO21_FULL_301)
    assert [a.fout for a in answers if not a.accepted] == []
    kinds = [output.operation for name, output, _ in chain.delivered if name == IWMO21_FULL_301]
    assert kinds == ["creeerZaak", "updateZaak", "actualiseerZaakstatus"]  # the toewijzing, then its aanvraag closed


def test_21_a_beschikking_with_two_grondslagen_then_one_holds_each_in_turn(reference: Path) -> None:
    """beschikking.grondslag repeats (StUF 03.01 5.2.4: all its values in oud and in nieuw); the Full 301's
    beschikking 700100200 has Grondslag 01 and 03, its second 301 grondslag 05 alone."""
    chain = Chain(reference)
    full = chain.source(IWMO21_FULL_301)
    (created,) = chain.feed("Full 301", full)
    zaak = chain.receiver.zaak(created.zaak)
    assert zaak is not None and zaak["extraElementen"]["beschikking.grondslag"] == ["01", "03"]
    one = full.replace(b"<iwmo:Grondslag01>01</iwmo:Grondslag01>", b"").replace(
        b"<iwmo:Grondslag02>03</iwmo:Grondslag02>", b"<iwmo:Grondslag01>05</iwmo:Grondslag01>")
    (answer,) = chain.feed("Full 301, one grondslag", one)
    assert (answer.accepted, answer.operation) == (True, "updateZaak"), answer.fout
    zaak = chain.receiver.zaak(created.zaak)
    assert zaak is not None and zaak["extraElementen"]["beschikking.grondslag"] == "05"


# ---------------------------------------------------------------- 3.2 fixtures


def test_32_toewijzing_320001_started_corrected_shortened_and_stopped(chains: Callable[[str], Chain]) -> None:
    chain32 = chains("chain32")
    aanvraag = chain32.one("ReferentieAanbieder", "VZ-2023-0001", "WMOAANV")
    assert dates(aanvraag) == ("20230301", "20230210", "20231231", "20230220")  # answered by the 301 of 02-20
    assert statuses(aanvraag) == [(AFGEHANDELD, "20230220000000000")]
    zaak = chain32.one("ToewijzingNummer", "320001", "WMOTOEW")
    assert zaak["kenmerken"] == kenmerken(("ToewijzingNummer", "320001"), ("ReferentieAanbieder", "VZ-2023-0001"))
    assert dates(zaak) == ("20230301", "20230220", "20230630", "20230602")
    assert "RedenBeeindiging 22" in reden(zaak)
    assert statuses(zaak) == [(GESTART, "20230306000000000"), (INGETROKKEN, "20230306000000001"),
                              (GESTART, "20230308000000000"), (GESTOPT, "20230602000000000"),
                              (AFGEHANDELD, "20230602000000001")]
    assert aanvraag["identificatie"] in zaak["heeftBetrekkingOpAndere"]


def test_32_budget_and_aspecifieke_toewijzing_are_two_open_zaken(chains: Callable[[str], Chain]) -> None:
    chain32 = chains("chain32")
    assert dates(chain32.one("ToewijzingNummer", "320002", "WMOTOEW")) == ("20230301", "20230221", "20240229", None)
    assert dates(chain32.one("ToewijzingNummer", "320003", "WMOTOEW")) == ("20230301", "20230221", None, None)


def test_32_verzoek_om_wijziging_opens_aanvraag_zaken(chains: Callable[[str], Chain]) -> None:
    chain32 = chains("chain32")
    vow = chain32.zaken("ReferentieAanbieder", "VOW-2023-0001", "WMOAANV")
    assert sorted(dates(z) for z in vow) == [("20230601", "20230515", "20231231", None),
                                             ("20230615", "20230515", "20231231", None)]
    toewijzing = chain32.one("ToewijzingNummer", "320001", "WMOTOEW")
    (wijziging,) = [z for z in vow if z["startdatum"] == "20230601"]
    assert wijziging["heeftBetrekkingOpAndere"] == [toewijzing["identificatie"]]
    assert len(chain32.receiver) == 7  # 2 aanvragen (315), 3 toewijzingen, 2 verzoeken om wijziging (317)


# ---------------------------------------------------------------- iJw


def test_jw21_toewijzing_started_and_stopped(chains: Callable[[str], Chain]) -> None:
    chain_jw21 = chains("chain_jw21")
    zaak = chain_jw21.one("ToewijzingNummer", "100002", "JWTOEW")
    assert dates(zaak) == ("20160307", "20160307", "20161231", "20161002")
    assert statuses(zaak) == [(GESTART, "20160310000000000"), (GESTOPT, "20161002000000000"),
                              (AFGEHANDELD, "20161002000000001")]  # the stop's day: a millisecond later
    assert zaak["initiator"]["identificatie"] == "inp.bsn=*******67"
    assert zaak["extraElementen"]["product.code"] == "32A01"
    assert chain_jw21.one("ReferentieAanbieder", "VZ-2016-0001", "JWAANV")["startdatum"] == "20160215"
    assert len(chain_jw21.receiver) == 2


def test_jw32_toewijzingen_and_verzoek_om_wijziging(chains: Callable[[str], Chain]) -> None:
    chain_jw32 = chains("chain_jw32")
    zaak = chain_jw32.one("ToewijzingNummer", "450001", "JWTOEW")
    assert dates(zaak) == ("20230401", "20230327", "20230930", "20230818")
    assert "RedenBeeindiging 35" in reden(zaak)
    assert statuses(zaak) == [(GESTART, "20230403000000000"), (GESTOPT, "20230818000000000"),
                              (AFGEHANDELD, "20230818000000001")]
    assert chain_jw32.one("ReferentieAanbieder", "JZ-2023-0001", "JWAANV")["identificatie"] in (
        zaak["heeftBetrekkingOpAndere"])
    assert dates(chain_jw32.one("ToewijzingNummer", "450002", "JWTOEW")) == ("20230401", "20230327", None, None)
    assert len(chain_jw32.zaken("ReferentieAanbieder", "JZ-VOW-2023-0001", "JWAANV")) == 2
    assert len(chain_jw32.receiver) == 6


# ---------------------------------------------------------------- everything through one ledger


@pytest.fixture(scope="module")
def everything(reference: Path) -> Chain:
    """All chains through one Converter, one ledger and one receiver, one family after the other."""
    chain = samples_20(Chain(reference))
    return chain.feed_all(IWMO21 + IWMO32 + IJW21 + IJW32)


def test_one_ledger_for_every_chain_is_accepted_throughout(everything: Chain) -> None:
    assert [(s, str(a.fout)) for s, _, a in everything.delivered if not a.accepted] == []


def test_one_ledger_never_lets_a_jeugdwet_message_change_a_wmo_zaak(everything: Chain) -> None:
    touched = {(source.split("/")[0], output.zaak) for source, output, _ in everything.delivered}
    snapshot = everything.receiver.snapshot()
    mixed = sorted((family, zaak) for family, zaak in touched
                   if family.startswith("ijw") and not snapshot[zaak]["zaaktype"].startswith("JW"))
    assert mixed == []


def test_one_ledger_an_older_toewijzing_does_not_reopen_an_ended_zaak(everything: Chain) -> None:
    reopened = []
    for source, output, _ in everything.delivered:
        if output.operation != "updateZaak":
            continue
        nieuw = etree.fromstring(output.xml).findall(f"{{{ZKN}}}object")[1]
        einddatum = nieuw.find(f"{{{ZKN}}}einddatum")
        if einddatum is not None and einddatum.get(f"{{{STUF}}}noValue") == "geenWaarde":
            reopened.append(source)
    assert reopened == []


# ---------------------------------------------------------------- a relation replaced (StUF 03.01 5.2.6 item 7)


def test_another_client_for_the_same_toewijzing_replaces_the_initiator(reference: Path) -> None:
    chain = Chain(reference)
    a02 = chain.source("20:CasusA-02-WMO301_toewijzing.xml")
    (created,) = chain.feed("A-02", a02)
    (answer,) = chain.feed("A-02 for another client", a02.replace(b">123456782<", b">111222333<"))
    assert answer.accepted, answer.fout
    zaak = chain.receiver.zaak(created.zaak)
    assert zaak is not None
    assert zaak["initiator"] == {"soort": "natuurlijkPersoon", "identificatie": "inp.bsn=*******33",
                                 "extraElementen": {"emailadres": "*" * len("DHRGaastra@email.nl")}}  # masked
    assert len(zaak["berichten"]) == 2  # creeerZaak and the W; a second initiator would have been refused
    (_, output, _) = chain.delivered[-1]
    assert output.operation == "updateZaak"
    oud, nieuw = etree.fromstring(output.xml).findall(f"{{{ZKN}}}object")
    # oud names the held person (Tabel 5.5 "Vervangen relatie": K/Sleutel); nieuw adds the new one as a creeerZaak
    # would, with its ROL extraElement emailadres
    assert _elements(oud) == ["identificatie", "omschrijving", "isVan", "heeftAlsInitiator"]
    assert _elements(nieuw) == [*_elements(oud), "extraElement emailadres"]
    assert {o.get(f"{{{STUF}}}verwerkingssoort") for o in (oud, nieuw)} == {"I"}  # only a relation changed
    for obj, bsn, persoon in ((oud, "123456782", "I"), (nieuw, "111222333", "T")):
        relation = obj.find(f"{{{ZKN}}}heeftAlsInitiator")
        person = relation.find(f"{{{ZKN}}}gerelateerde/{{{ZKN}}}natuurlijkPersoon")
        assert relation.get(f"{{{STUF}}}verwerkingssoort") == "R"
        assert person.get(f"{{{STUF}}}verwerkingssoort") == persoon
        assert person.findtext("{http://www.egem.nl/StUF/sector/bg/0310}inp.bsn") == bsn
    assert chain.converter.convert(a02.replace(b">123456782<", b">111222333<"), "again").outputs == []


def test_the_replacing_w_validates_with_the_official_tool(reference: Path, tmp_path: Path) -> None:
    chain = Chain(reference)
    a02 = chain.source("20:CasusA-02-WMO301_toewijzing.xml")
    chain.feed("A-02", a02)
    chain.feed("A-02 for another client", a02.replace(b">123456782<", b">111222333<"))
    (tmp_path / "w.xml").write_bytes(chain.delivered[-1][1].xml)
    tool = reference.parent / "tools" / "stuf-validate"
    done = subprocess.run([sys.executable, str(tool), str(tmp_path / "w.xml")], capture_output=True, text=True,
                          check=False)
    assert "1 passed, 0 failed" in done.stdout, done.stdout + done.stderr


def test_another_aanbieder_for_the_same_toewijzingnummer_replaces_the_uitvoerende(reference: Path) -> None:
    chain = Chain(reference)
    specifiek = chain.source("iwmo32/WMO301_toewijzing_specifiek.xml")
    (created,) = chain.feed("320001", specifiek)
    (answer,) = chain.feed("320001 for another aanbieder", specifiek.replace(b">98026987<", b">12345678<"))
    assert answer.accepted, answer.fout
    zaak = chain.receiver.zaak(created.zaak)
    assert zaak is not None
    assert [b["identificatie"] for b in zaak["betrokkenen"] if b["rol"] == "heeftAlsUitvoerende"] == [
        "ann.identificatie=00000000012345678"]  # the AGB zero-padded to 17 (canonical-spec 5); one, not two
