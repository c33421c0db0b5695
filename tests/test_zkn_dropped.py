"""``overstap convert --profile zkn`` names each field it does not carry: a ``dropped:`` line, path and reason.

Why: "nothing silently dropped". Profile ggk names what its payload version cannot hold; profile zkn drops fields
by design (docs/canonical-spec.md 5 and 6: a relative's naamcode and naamgebruik, a LandCode, a second address),
and until session 21 only the spec and ``explain`` said so, never the run that dropped them. These tests convert
real messages and check the lines exactly, that a message without such a field gets none, and that a line never
quotes a value (a BSN, a name, an address: the terminal and CI logs are no place for them).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree
from shared_registry import shared_registry

from gateway.cli import main
from gateway.ledger import MemoryLedger
from gateway.pipeline import Converter
from gateway.render.zkn import stuf_places
from gateway.render.zkn_dropped import zkn_dropped
from gateway.render.zkn_places import not_carried

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXAMPLES = Path(__file__).resolve().parents[1] / "mappings" / "examples"
NONE = "not carried in profile zkn: "
ROL = "has no place in a ROL (ZDS 1.2 4.1.4.2)"
NO_PLACE = NONE + "no place in the zaak messages (docs/canonical-spec.md 6)"

CASUS_A02 = {
    "clients.0.naam.geslachtsnaam.naamcode": NONE + "the naamgebruik says which name is used",
    "clients.0.relaties.0.nummer": NONE + "a number local to the message",
    "clients.0.relaties.0.naam.geslachtsnaam.naamcode": NONE + f"a relative's naamcode (nor its naamgebruik) {ROL}",
    "clients.0.relaties.0.naam.naamgebruik": NONE + f"a relative's naamgebruik {ROL}",
    "clients.0.relaties.0.contacten.0.adres.landcode": NO_PLACE,
    "clients.0.contacten.0.adres.landcode": NO_PLACE,
}
"""The public CasusA-02 (iWmo 2.0): its client's and its partner's name codes, the partner's relation number and
both LandCodes."""
CASUS_A02_VALUES = ("123456782", "425386123", "Gaastra", "Mistral", "Eekholt", "Diemen", "1234AB", "DHR",
                    "email.nl", "0201234567")


def _convert(*args: str) -> str:
    done = CliRunner().invoke(main, ["convert", "--state", "none", *args])
    assert done.exit_code == 0, done.output
    return done.output


def _dropped(output: str) -> dict[str, str]:
    """The ``dropped:`` lines of a run: path -> reason (each path once)."""
    lines = [line.strip().removeprefix("dropped: ") for line in output.splitlines() if "dropped: " in line]
    found = dict(line.split(": ", 1) for line in lines)
    assert len(found) == len(lines), output
    return found


@pytest.mark.parametrize("sample", ["iwmo20-xml/CasusA-02-WMO301_toewijzing.xml",
                                    "iwmo-ei/CasusA-02-WMO301_toewijzing.ei"])
def test_a_public_sample_names_each_field_profile_zkn_does_not_carry(sample: str, reference_dir: Path,
                                                                     tmp_path: Path) -> None:
    """The XML sample and its EI twin: the same six lines, and not one value of the message in them."""
    output = _convert(str(reference_dir / "samples" / sample), "--out", str(tmp_path))
    assert _dropped(output) == CASUS_A02
    lines = "\n".join(line for line in output.splitlines() if "dropped: " in line)
    assert not re.search(r"\d{9}", lines)
    assert not [value for value in CASUS_A02_VALUES if value in lines]
    assert not [value for value in CASUS_A02_VALUES[2:] if value in output]  # nor anywhere else (names, address)


def test_the_ei_voorbeeld_names_its_partnernaamcode_and_a_relatives_telephone(reference_dir: Path,
                                                                              tmp_path: Path) -> None:
    """The EI voorbeeld fills PartnerNaamCode and a relative's telephone number; its Onbekend59 (an EI field of
    unknown meaning) is carried, as extraElement vendor.ei_onbekend59, so it is not named."""
    output = _convert(str(reference_dir / "samples" / "iwmo-ei" / "WMO301_voorbeeld.txt"), "--out", str(tmp_path))
    dropped = _dropped(output)
    assert dropped["clients.0.naam.partnernaam.naamcode"] == NO_PLACE
    telefoon = dropped["clients.0.relaties.0.contacten.0.telefoon.0.nummer"]
    assert telefoon == NONE + f"a relative's telephone number {ROL}"
    assert not [path for path in dropped if "onbekend" in path]
    (written,) = tmp_path.glob("*.xml")
    assert b'naam="vendor.ei_onbekend59">2<' in written.read_bytes()
    assert stuf_places("clients.0.extra.ei_onbekend59") == ['StUF:extraElement naam="vendor.ei_onbekend59"']


def test_a_second_address_and_telephone_are_named_and_absent_from_the_zaak(tmp_path: Path,
                                                                            reference_dir: Path) -> None:
    """The client of Full-WMO301 has a BRP address (01) and a place of stay (04), two telephone numbers; its relative
    a correspondence address (02). The zaak carries the 01 address and the first number: the rest is named, and
    really absent from the output."""
    fixture = FIXTURES / "iwmo21" / "Full-WMO301_alle_elementen.xml"
    output = _convert(str(fixture), "--out", str(tmp_path))
    dropped = _dropped(output)
    second = [path for path in dropped if path.startswith("clients.0.contacten.1.adres.")]
    assert sorted(second) == [f"clients.0.contacten.1.adres.{f}" for f in
                              ("huisnummer", "landcode", "plaatsnaam", "postcode", "straatnaam")]
    assert {dropped[p] for p in second} == {NONE + "a zaak carries a client's one verblijfsadres (01, else 03/04) "
                                                   "and one correspondentieadres (02); this address is neither"}
    assert dropped["clients.0.contacten.0.telefoon.1.nummer"] == NONE + "the zaak keeps the client's first " \
                                                                        "telephone number only"
    assert "clients.0.contacten.0.telefoon.0.nummer" not in dropped
    assert dropped["clients.0.relaties.0.contacten.0.adres.postcode"].startswith(NONE + "a relative's NPS carries")
    bericht = Converter(shared_registry(), ledger=MemoryLedger()).convert(fixture.read_bytes(), str(fixture)).bericht
    texts = {t for f in tmp_path.glob("*.xml") for t in etree.parse(str(f)).getroot().itertext()}
    client = bericht.clients[0]
    assert client.contacten[1].adres is not None and client.contacten[1].adres.postcode not in texts
    assert client.contacten[0].telefoon[1].nummer not in texts
    assert client.contacten[0].telefoon[0].nummer in texts  # the one carried is not named


def test_a_message_level_vendor_field_is_named(tmp_path: Path, examples_opted_in: None, reference_dir: Path) -> None:
    """A mapping's message-level ``extra.`` field (the sending application) has no place in a zaak."""
    output = _convert(str(EXAMPLES / "vendor-extensions" / "fixtures" / "toewijzing.xml"), "--out", str(tmp_path))
    assert _dropped(output) == {"extra.applicatie": NONE + "a fact of the source message, not of the zaak "
                                                           "(stuurgegevens are Overstap's own)"}


def test_a_message_without_such_fields_prints_no_dropped_line(tmp_path: Path, reference_dir: Path) -> None:
    """An iWmo 2.1 verzoek: every value it holds has a place; its header (berichtcode, versie, ...) is replaced by
    Overstap's own stuurgegevens, which the spec says once rather than every message on every run."""
    output = _convert(str(FIXTURES / "iwmo21" / "CasusA-01-WMO315_verzoek.xml"), "--out", str(tmp_path))
    assert output.startswith("ok   ") and "dropped:" not in output


def test_one_message_of_three_outputs_names_each_field_once(reference_dir: Path, tmp_path: Path) -> None:
    """The lines are the message's, not each zaak message's: CasusA-04 writes three."""
    output = _convert(str(reference_dir / "samples" / "iwmo20-xml" / "CasusA-04-WMO301_intrekking.xml"),
                      "--out", str(tmp_path))
    assert len(list(tmp_path.glob("*.xml"))) == 3
    assert _dropped(output) == CASUS_A02


def test_profile_ggk_keeps_its_own_lines(reference_dir: Path, tmp_path: Path) -> None:
    """Profile ggk names what its payload version cannot hold, not what profile zkn would drop."""
    sample = reference_dir / "samples" / "iwmo20-xml" / "CasusA-02-WMO301_toewijzing.xml"
    output = _convert(str(sample), "--profile", "ggk", "--out", str(tmp_path))
    assert not [line for line in output.splitlines() if "not carried in profile zkn" in line]
    assert "dropped: clients.0.leefeenheid: not representable in" in output


def test_the_reason_is_the_places_table_shortened() -> None:
    """One table (gateway/render/zkn_places.py) for the spec, explain and convert."""
    assert not_carried("clients.0.naam.geslachtsnaam.naam") is None
    assert not_carried("clients.3.extra.wijkteam") is None
    assert not_carried("clients.0.beschikking.beperkingen.1.scores.0.score") == NONE + "medical detail (privacy)"
    for path in ("clients.0.relaties.0.naam.naamgebruik", "clients.0.contacten.0.adres.landcode", "extra.x"):
        reason = not_carried(path)
        assert reason is not None and len(reason) <= len(NONE) + 120


def test_the_list_comes_from_the_model_alone(reference_dir: Path) -> None:
    """zkn_dropped needs the canonical model only: what convert computes after the conversion, off the hot path."""
    sample = reference_dir / "samples" / "iwmo20-xml" / "CasusA-02-WMO301_toewijzing.xml"
    bericht = Converter(shared_registry(), ledger=MemoryLedger()).convert(sample.read_bytes(), str(sample)).bericht
    assert [line.split(": ", 1)[0] for line in zkn_dropped(bericht)] == list(CASUS_A02)


def test_a_commentaar_cut_to_fit_the_toelichting_is_named_with_what_was_lost(reference_dir: Path) -> None:
    """The zaak's toelichting joins the commentaren and holds 1000 characters: what did not fit was cut without a
    word until session 21. "Cliënt: " and 1200 characters are 1208: 208 are lost."""
    sample = reference_dir / "samples" / "iwmo20-xml" / "CasusA-02-WMO301_toewijzing.xml"
    bericht = Converter(shared_registry(), ledger=MemoryLedger()).convert(sample.read_bytes(), str(sample)).bericht
    client = bericht.clients[0].model_copy(update={"commentaar": "x" * 1200})
    lines = zkn_dropped(bericht.model_copy(update={"clients": [client]}))
    assert "clients.0.commentaar: cut: the zaak's toelichting, which joins the commentaren, holds 1000 characters " \
           "(zkn0310 Toelichting); 208 of this commentaar's did not fit" in lines
    fits = bericht.clients[0].model_copy(update={"commentaar": "x" * 992})  # 1000 with its label: it fits
    assert not [line for line in zkn_dropped(bericht.model_copy(update={"clients": [fits]})) if "cut:" in line]
