"""An aanvraagzaak is closed by the toewijzing that answers it, as the reference receiver holds it afterwards.

A 315 line (and a 317 line) becomes an aanvraagzaak; the 301 line that names its ReferentieAanbieder answers it.
Without an end the receiver keeps every answered aanvraag lopend for ever; ZDS 1.2 4.1.3 closes a zaak at its
eindstatus. Expected values are written by hand from the iWmo 3.2 fixtures (tests/fixtures/iwmo32).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from test_chains import AFGEHANDELD, Chain, dates, reden, statuses

from gateway.render import RenderError

VERZOEK, SPECIFIEK = "iwmo32/WMO315_verzoek.xml", "iwmo32/WMO301_toewijzing_specifiek.xml"
WIJZIGING, VOW = "iwmo32/WMO301_wijziging_verkorting.xml", "iwmo32/WMO317_verzoek_wijziging.xml"


def test_the_301_closes_the_aanvraag_after_creating_its_toewijzing(reference_dir: Path) -> None:
    chain = Chain(reference_dir).feed_all([VERZOEK, SPECIFIEK])
    assert [a.fout for _, _, a in chain.delivered if not a.accepted] == []
    aanvraag = chain.one("ReferentieAanbieder", "VZ-2023-0001", "WMOAANV")
    zaak = chain.one("ToewijzingNummer", "320001", "WMOTOEW")
    assert dates(aanvraag) == ("20230301", "20230210", "20231231", "20230220")  # the 301's Toewijzingsdatum
    assert reden(aanvraag) == "Toegewezen (zaak 0384T320001)"
    assert statuses(aanvraag) == [(AFGEHANDELD, "20230220000000000")]
    assert dates(zaak)[3] is None and statuses(zaak) == []  # the toewijzing itself runs on
    sent = [(output.zaak, output.operation) for name, output, _ in chain.delivered if name == SPECIFIEK]
    assert sent == [(zaak["identificatie"], "creeerZaak"), (aanvraag["identificatie"], "updateZaak"),
                    (aanvraag["identificatie"], "actualiseerZaakstatus")]
    assert zaak["heeftBetrekkingOpAndere"] == [aanvraag["identificatie"]]


def test_a_later_301_of_the_same_chain_does_not_close_it_again(reference_dir: Path) -> None:
    chain = Chain(reference_dir).feed_all([VERZOEK, SPECIFIEK])
    chain.feed(WIJZIGING)  # names ReferentieAanbieder VZ-2023-0001 as well
    sent = [(output.zaak, output.operation) for name, output, _ in chain.delivered if name == WIJZIGING]
    zaak = chain.one("ToewijzingNummer", "320001", "WMOTOEW")
    assert sent == [(zaak["identificatie"], "updateZaak")]
    assert statuses(chain.one("ReferentieAanbieder", "VZ-2023-0001", "WMOAANV")) == [(AFGEHANDELD,
                                                                                       "20230220000000000")]


def test_the_301_that_changes_a_toewijzing_closes_the_317_line_that_asked_for_it(reference_dir: Path) -> None:
    chain = Chain(reference_dir).feed_all([VERZOEK, SPECIFIEK, VOW])
    answer = chain.source(WIJZIGING).replace(b"VZ-2023-0001", b"VOW-2023-0001")
    chain.feed(WIJZIGING, answer)
    assert [a.fout for _, _, a in chain.delivered if not a.accepted] == []
    vow = {z["startdatum"]: z for z in chain.zaken("ReferentieAanbieder", "VOW-2023-0001", "WMOAANV")}
    assert dates(vow["20230601"]) == ("20230601", "20230515", "20231231", "20230612")  # te wijzigen 320001
    assert reden(vow["20230601"]) == "Toegewezen (zaak 0384T320001)"
    assert statuses(vow["20230601"]) == [(AFGEHANDELD, "20230612000000000")]
    assert dates(vow["20230615"])[3] is None and statuses(vow["20230615"]) == []  # the new product: unanswered


def _granting_the_new_product(chain: Chain, toewijzingnummer: bytes = b"320003", categorie: bytes = b"07",
                              code: bytes = b"07A03") -> bytes:
    """The 301 a gemeente sends for the 317's NieuwProduct (07A03 from 2023-06-15): a ToewijzingNummer of its
    own, the 317's ReferentieAanbieder."""
    return (chain.source(SPECIFIEK).replace(b">320001<", b">" + toewijzingnummer + b"<")
            .replace(b"VZ-2023-0001", b"VOW-2023-0001").replace(b"ovs32twz0001", b"ovs32twz0009")
            .replace(b"<iwmo:Categorie>02<", b"<iwmo:Categorie>" + categorie + b"<")
            .replace(b">02A01<", b">" + code + b"<").replace(b"2023-02-20", b"2023-06-10")
            .replace(b"2023-03-01", b"2023-06-15"))


def test_the_301_that_grants_a_new_product_closes_the_317_line_that_asked_for_it(reference_dir: Path) -> None:
    chain = Chain(reference_dir).feed_all([VERZOEK, SPECIFIEK, VOW])
    chain.feed("nieuw", _granting_the_new_product(chain))
    assert [a.fout for _, _, a in chain.delivered if not a.accepted] == []
    vow = {z["startdatum"]: z for z in chain.zaken("ReferentieAanbieder", "VOW-2023-0001", "WMOAANV")}
    zaak = chain.one("ToewijzingNummer", "320003", "WMOTOEW")
    assert dates(vow["20230615"]) == ("20230615", "20230515", "20231231", "20230610")
    assert reden(vow["20230615"]) == "Toegewezen (zaak 0384T320003)"
    assert statuses(vow["20230615"]) == [(AFGEHANDELD, "20230610000000000")]
    assert zaak["heeftBetrekkingOpAndere"] == [vow["20230615"]["identificatie"]]
    assert dates(vow["20230601"])[3] is None  # the change line (320001) is not answered by it


def test_two_new_product_lines_of_one_kind_stay_two_aanvraagzaken(reference_dir: Path) -> None:
    """The product key names a line only for the 301 that grants it; it never makes a second line of the same
    product the first one's zaak. The later line holds the key, so the one 301 answers that line."""
    chain = Chain(reference_dir).feed_all([VERZOEK, SPECIFIEK])
    line = chain.source(VOW).split(b"<wmo317:NieuweProducten>")[1].split(b"</wmo317:NieuweProducten>")[0]
    second = line.replace(b"2023-06-15", b"2023-07-01")
    chain.feed(VOW, chain.source(VOW).replace(line, line + second))
    vow = {z["startdatum"]: z for z in chain.zaken("ReferentieAanbieder", "VOW-2023-0001", "WMOAANV")}
    assert sorted(vow) == ["20230601", "20230615", "20230701"]
    chain.feed("nieuw", _granting_the_new_product(chain))
    vow = {z["startdatum"]: z for z in chain.zaken("ReferentieAanbieder", "VOW-2023-0001", "WMOAANV")}
    assert reden(vow["20230701"]) == "Toegewezen (zaak 0384T320003)"
    assert statuses(vow["20230615"]) == []


def test_changing_a_toewijzing_never_answers_a_request_for_a_new_product_of_its_kind(reference_dir: Path) -> None:
    """320001 changed by a 301 with the 317's ReferentieAanbieder: it answers the line that named 320001. Had
    320001 been of the new product's kind, that same 301 must still leave the request for the new product open,
    for the gemeente grants that with a toewijzing of its own."""
    chain = Chain(reference_dir).feed_all([VERZOEK, SPECIFIEK, VOW])
    change = _granting_the_new_product(chain, b"320001").replace(b"2023-06-15", b"2023-06-01")
    chain.feed("change", change)
    assert [a.fout for _, _, a in chain.delivered if not a.accepted] == []
    vow = {z["startdatum"]: z for z in chain.zaken("ReferentieAanbieder", "VOW-2023-0001", "WMOAANV")}
    assert reden(vow["20230601"]) == "Toegewezen (zaak 0384T320001)"
    assert dates(vow["20230615"])[3] is None and statuses(vow["20230615"]) == []
    chain.feed("nieuw", _granting_the_new_product(chain))  # and the toewijzing that grants it still closes it
    vow = {z["startdatum"]: z for z in chain.zaken("ReferentieAanbieder", "VOW-2023-0001", "WMOAANV")}
    assert reden(vow["20230615"]) == "Toegewezen (zaak 0384T320003)"


def test_a_corrected_317_that_asks_for_another_product_is_answered_by_that_product_only(reference_dir: Path
                                                                                         ) -> None:
    """The aanbieder corrects its 317 (same ReferentieAanbieder): the new line now asks for 07A04, not 07A03. A
    toewijzing of 07A03 no longer grants what the aanvraagzaak asks for, as it never would have had the 317
    asked for 07A04 from the start; the toewijzing of 07A04 does."""
    chain = Chain(reference_dir).feed_all([VERZOEK, SPECIFIEK, VOW])
    chain.feed("corrected", chain.source(VOW).replace(b">07A03<", b">07A04<"))
    chain.feed("other", _granting_the_new_product(chain))
    assert [a.fout for _, _, a in chain.delivered if not a.accepted] == []
    vow = {z["startdatum"]: z for z in chain.zaken("ReferentieAanbieder", "VOW-2023-0001", "WMOAANV")}
    assert sorted(vow) == ["20230601", "20230615"]
    assert dates(vow["20230615"])[3] is None and statuses(vow["20230615"]) == []
    assert chain.one("ToewijzingNummer", "320003", "WMOTOEW")["heeftBetrekkingOpAndere"] == []
    chain.feed("granted", _granting_the_new_product(chain, b"320004", code=b"07A04"))
    vow = {z["startdatum"]: z for z in chain.zaken("ReferentieAanbieder", "VOW-2023-0001", "WMOAANV")}
    assert reden(vow["20230615"]) == "Toegewezen (zaak 0384T320004)"


def test_a_change_of_a_toewijzing_the_ledger_never_saw_does_not_answer_a_request_for_a_new_product(
        reference_dir: Path) -> None:
    """320001 was converted before the gateway kept this ledger (or elsewhere): the 301 that changes it (a
    RedenWijziging) creates its zaak here, yet it changes a toewijzing, so it answers the 317 line that named
    320001 and never the request for a new product of its kind: the gemeente grants that with a toewijzing of
    its own, which must still find the request open."""
    chain = Chain(reference_dir).feed_all([VOW])
    change = (_granting_the_new_product(chain, b"320001").replace(b"2023-06-15", b"2023-06-01")
              .replace(b"</wmo301:Omvang>", b"</wmo301:Omvang><wmo301:RedenWijziging>05</wmo301:RedenWijziging>"))
    chain.feed("change", change)
    assert [a.fout for _, _, a in chain.delivered if not a.accepted] == []
    vow = {z["startdatum"]: z for z in chain.zaken("ReferentieAanbieder", "VOW-2023-0001", "WMOAANV")}
    assert reden(vow["20230601"]) == "Toegewezen (zaak 0384T320001)"
    assert dates(vow["20230615"])[3] is None and statuses(vow["20230615"]) == []
    chain.feed("nieuw", _granting_the_new_product(chain))
    vow = {z["startdatum"]: z for z in chain.zaken("ReferentieAanbieder", "VOW-2023-0001", "WMOAANV")}
    assert reden(vow["20230615"]) == "Toegewezen (zaak 0384T320003)"


def test_a_toewijzing_registered_before_the_aanvraag_leaves_it_open(reference_dir: Path) -> None:
    chain = Chain(reference_dir)
    chain.feed(VERZOEK, chain.source(VERZOEK).replace(b"2023-02-10", b"2023-02-25"))  # the 315's Dagtekening
    conversion = chain.converter.convert(chain.source(SPECIFIEK), SPECIFIEK)
    aanvraag = chain.one("ReferentieAanbieder", "VZ-2023-0001", "WMOAANV")
    assert [o.operation for o in conversion.outputs] == ["creeerZaak"]
    assert [w.message for w in conversion.warnings] == [
        f"aanvraagzaak {aanvraag['identificatie']} left open: the toewijzing of zaak 0384T320001 was registered at "
        "20230220101500, before the aanvraag (20230225000000), so it does not answer it"]


def test_a_changed_request_after_its_answer_is_refused(reference_dir: Path) -> None:
    chain = Chain(reference_dir).feed_all([VERZOEK, SPECIFIEK])
    again = chain.source(VERZOEK).replace(b"2023-02-10", b"2023-03-01").replace(b"2023-12-31", b"2023-11-30")
    with pytest.raises(RenderError, match=r"aanvraagzaak 0384AVZ-2023-0001 was answered and closed by a "
                                              r"toewijzing of 20230220101500; this later request changes it") as caught:
        chain.feed(VERZOEK, again)
    assert caught.value.code == "StUF058"


def test_a_second_toewijzing_answering_the_same_request_leaves_the_closed_aanvraag_alone(reference_dir: Path
                                                                                         ) -> None:
    """One request granted as two toewijzingen (both name its ReferentieAanbieder): the first closes it; the
    second would change a closed zaak, which the receiver refuses."""
    chain = Chain(reference_dir).feed_all([VERZOEK, SPECIFIEK])
    second = chain.source(SPECIFIEK).replace(b">320001<", b">320009<").replace(b"2023-02-20", b"2023-02-21")
    chain.feed("second", second)
    assert [a.fout for _, _, a in chain.delivered if not a.accepted] == []
    assert [output.operation for name, output, _ in chain.delivered if name == "second"] == ["creeerZaak"]
    aanvraag = chain.one("ReferentieAanbieder", "VZ-2023-0001", "WMOAANV")
    assert reden(aanvraag) == "Toegewezen (zaak 0384T320001)"
    assert chain.one("ToewijzingNummer", "320009", "WMOTOEW")["heeftBetrekkingOpAndere"] == [
        aanvraag["identificatie"]]


@pytest.mark.parametrize(("what", "old", "new"), [("client", b">999900031<", b">999900043<"),
                                                  ("aanbieder", b">98026987<", b">98026999<")])
def test_a_toewijzing_for_another_client_or_aanbieder_neither_links_nor_answers(reference_dir: Path, what: str,
                                                                              old: bytes, new: bytes) -> None:
    """A ReferentieAanbieder is the aanbieder's own reference: another aanbieder may use the same one, and a
    mistyped one may name a stranger's aanvraag. Neither relates to it, and neither may close it."""
    chain = Chain(reference_dir).feed_all([VERZOEK])
    stranger = chain.source(SPECIFIEK).replace(old, new)
    assert stranger.count(new) >= 1
    conversion = chain.converter.convert(stranger, what)
    aanvraag = chain.one("ReferentieAanbieder", "VZ-2023-0001", "WMOAANV")
    assert [o.operation for o in conversion.outputs] == ["creeerZaak"]
    assert [w.message for w in conversion.warnings] == [
        f"aanvraagzaak {aanvraag['identificatie']} is named by this toewijzing's ReferentieAanbieder or product but "
        "is for another client or aanbieder: not linked, not answered"]
    assert b"heeftBetrekkingOpAndere" not in conversion.outputs[0].xml
    assert b"999900031" not in str(conversion.warnings).encode()


def _related(xml: bytes) -> list[tuple[str | None, str | None, str | None]]:
    """(identificatie, omschrijving, zaaktype code) of each zaak a creeerZaak's heeftBetrekkingOpAndere names."""
    zkn = "{http://www.egem.nl/StUF/sector/zkn/0310}"
    return [(g.findtext(f"{zkn}identificatie"), g.findtext(f"{zkn}omschrijving"),
             g.findtext(f"{zkn}isVan/{zkn}gerelateerde/{zkn}code"))
            for g in etree.fromstring(xml).iter(f"{zkn}gerelateerde") if g.getparent().tag.endswith("Andere")]


def test_a_creeer_zaak_names_its_related_zaak_by_the_kerngegevens_held(reference_dir: Path) -> None:
    """StUF 03.01 5.2.4: a gerelateerde carries its kerngegevens (zkn0310 ZAK-kerngegevens: identificatie,
    omschrijving, isVan), the toewijzing's link to its aanvraag and a 317 line's link to its toewijzing alike."""
    chain = Chain(reference_dir).feed_all([VERZOEK, SPECIFIEK, VOW])
    assert [a.fout for _, _, a in chain.delivered if not a.accepted] == []
    aanvraag = chain.one("ReferentieAanbieder", "VZ-2023-0001", "WMOAANV")
    zaak = chain.one("ToewijzingNummer", "320001", "WMOTOEW")
    toewijzing = [o for name, o, _ in chain.delivered if name == SPECIFIEK and o.operation == "creeerZaak"]
    assert _related(toewijzing[0].xml) == [(aanvraag["identificatie"], aanvraag["omschrijving"], "WMOAANV")]
    assert aanvraag["omschrijving"] == "Wmo aanvraag 02A01"
    vow = [o for name, o, _ in chain.delivered if name == VOW and o.operation == "creeerZaak"]
    assert [_related(o.xml) for o in vow] == [[("0384T320001", zaak["omschrijving"], "WMOTOEW")], []]
    assert zaak["omschrijving"] == "Wmo toewijzing 02A01"
