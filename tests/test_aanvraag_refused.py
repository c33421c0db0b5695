"""An aanvraagzaak the gemeente refuses is closed by the 319 antwoordbericht, as the reference receiver holds it.

A 319 names the verzoek it answers by ReferentieAanbieder alone (no client, no BSN): a 315 line, or every asking
line of a 317. VerzoekAntwoord 1 (WJ760: verzoek afgewezen) closes each open aanvraagzaak with einddatum (the
319's Dagtekening), resultaat "Afgewezen" plus the RedenAfwijzingVerzoek (WJ759) and the eindstatus; 2 (aanvraag
in onderzoek) changes nothing. Expected values are written by hand from the fixtures (tests/fixtures/iwmo32,
tests/fixtures/ijw32).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_chains import AFGEHANDELD, Chain, dates, reden, statuses
from test_zkn_prepared import _render_all, counted_uuids  # noqa: F401 (a fixture)

from gateway.mapping import ConversionError

VERZOEK, SPECIFIEK = "iwmo32/WMO315_verzoek.xml", "iwmo32/WMO301_toewijzing_specifiek.xml"
VOW, ANTWOORD = "iwmo32/WMO317_verzoek_wijziging.xml", "iwmo32/WMO319_verzoek_antwoord.xml"
JW_VOW, JW_ANTWOORD = "ijw32/JW317_verzoek_wijziging.xml", "ijw32/JW319_verzoek_antwoord.xml"


def _accepted(chain: Chain) -> None:
    assert [a.fout for _, _, a in chain.delivered if not a.accepted] == []


def test_a_refused_315_line_is_closed_with_its_reden(reference_dir: Path) -> None:
    chain = Chain(reference_dir).feed_all([VERZOEK, ANTWOORD])
    _accepted(chain)
    refused = chain.one("ReferentieAanbieder", "VZ-2023-0002", "WMOAANV")
    assert dates(refused)[3] == "20230224"  # the 319's Dagtekening
    assert reden(refused) == "Afgewezen: geen contract (3)"
    assert statuses(refused) == [(AFGEHANDELD, "20230224000000000")]
    sent = [(output.zaak, output.operation) for name, output, _ in chain.delivered if name == ANTWOORD]
    assert sent == [(refused["identificatie"], "updateZaak"), (refused["identificatie"], "actualiseerZaakstatus")]
    other = chain.one("ReferentieAanbieder", "VZ-2023-0001", "WMOAANV")  # the 315's other line is not refused
    assert dates(other)[3] is None and statuses(other) == []


def test_a_refusal_without_reden_says_afgewezen(reference_dir: Path) -> None:
    chain = Chain(reference_dir).feed_all([VERZOEK])
    bare = chain.source(ANTWOORD).replace(b"<wmo319:RedenAfwijzingVerzoek>3</wmo319:RedenAfwijzingVerzoek>", b"")
    chain.feed(ANTWOORD, bare)
    _accepted(chain)
    assert reden(chain.one("ReferentieAanbieder", "VZ-2023-0002", "WMOAANV")) == "Afgewezen"


def _refusing_the_317(chain: Chain) -> bytes:
    return (chain.source(ANTWOORD).replace(b"VZ-2023-0002", b"VOW-2023-0001")
            .replace(b"2023-02-24", b"2023-05-22").replace(b">3<", b">4<"))


def test_a_refused_317_closes_every_asking_line(reference_dir: Path) -> None:
    chain = Chain(reference_dir).feed_all([VERZOEK, SPECIFIEK, VOW])
    chain.feed("319", _refusing_the_317(chain))
    _accepted(chain)
    vow = {z["startdatum"]: z for z in chain.zaken("ReferentieAanbieder", "VOW-2023-0001", "WMOAANV")}
    assert sorted(vow) == ["20230601", "20230615"]  # te wijzigen 320001, nieuw 07A03 (ongewijzigd asks nothing)
    for zaak in vow.values():
        assert dates(zaak)[3] == "20230522"
        assert reden(zaak) == "Afgewezen: past niet binnen contract (4)"
        assert statuses(zaak) == [(AFGEHANDELD, "20230522000000000")]
    assert [o.operation for n, o, _ in chain.delivered if n == "319"] == ["updateZaak", "actualiseerZaakstatus"] * 2
    assert dates(chain.one("ToewijzingNummer", "320001", "WMOTOEW"))[3] is None  # the toewijzing runs on


def test_the_verzoek_key_never_makes_a_corrected_line_another_lines_zaak(reference_dir: Path) -> None:
    """The aanbieder corrects its 317 and drops the line that changed 320001: the new-product line is now the
    first asking line. The ``verzoek:`` keys are where a 319 looks; were they also where a 317 line looks for
    its own zaak, the new-product line would update the aanvraagzaak of the dropped change line."""
    chain = Chain(reference_dir).feed_all([VERZOEK, SPECIFIEK, VOW])
    source = chain.source(VOW)
    change = source[source.index(b"<wmo317:TeWijzigenProducten>"):
                    source.index(b"</wmo317:TeWijzigenProducten>") + len(b"</wmo317:TeWijzigenProducten>")]
    chain.feed("corrected", source.replace(change, b""))
    _accepted(chain)
    vow = {z["startdatum"]: z for z in chain.zaken("ReferentieAanbieder", "VOW-2023-0001", "WMOAANV")}
    assert dates(vow["20230601"]) == ("20230601", "20230515", "20231231", None)  # the change line's, untouched


def test_a_refusal_after_a_corrected_317_closes_the_dropped_lines_aanvraag_too(reference_dir: Path) -> None:
    """The corrected 317 (same ReferentieAanbieder) makes its new-product line the first asking line; the change
    line it dropped still has its open aanvraagzaak. A 319 refusing VOW-2023-0001 closes both, not one."""
    chain = Chain(reference_dir).feed_all([VERZOEK, SPECIFIEK, VOW])
    source = chain.source(VOW)
    change = source[source.index(b"<wmo317:TeWijzigenProducten>"):
                    source.index(b"</wmo317:TeWijzigenProducten>") + len(b"</wmo317:TeWijzigenProducten>")]
    chain.feed("corrected", source.replace(change, b""))
    chain.feed("319", _refusing_the_317(chain))
    _accepted(chain)
    vow = {z["startdatum"]: z for z in chain.zaken("ReferentieAanbieder", "VOW-2023-0001", "WMOAANV")}
    assert sorted(vow) == ["20230601", "20230615"]
    for zaak in vow.values():
        assert reden(zaak) == "Afgewezen: past niet binnen contract (4)"
        assert statuses(zaak) == [(AFGEHANDELD, "20230522000000000")]


def test_in_onderzoek_leaves_the_aanvraag_open(reference_dir: Path) -> None:
    chain = Chain(reference_dir).feed_all([VERZOEK])
    onderzoek = (chain.source(ANTWOORD).replace(b"VerzoekAntwoord>1<", b"VerzoekAntwoord>2<")
                 .replace(b"<wmo319:RedenAfwijzingVerzoek>3</wmo319:RedenAfwijzingVerzoek>", b""))
    conversion = chain.converter.convert(onderzoek, "onderzoek")
    assert conversion.outputs == [] and conversion.warnings == []
    refused = chain.one("ReferentieAanbieder", "VZ-2023-0002", "WMOAANV")
    assert dates(refused)[3] is None and statuses(refused) == []
    assert f"aanvraagzaak {refused['identificatie']} stays open, the aanvraag is in onderzoek" in conversion.outcome
    chain.feed(ANTWOORD)  # and the final answer still closes it
    assert reden(chain.one("ReferentieAanbieder", "VZ-2023-0002", "WMOAANV")) == "Afgewezen: geen contract (3)"


def test_a_319_after_the_toewijzing_answered_it_sends_nothing(reference_dir: Path) -> None:
    chain = Chain(reference_dir).feed_all([VERZOEK, SPECIFIEK])
    late = chain.source(ANTWOORD).replace(b"VZ-2023-0002", b"VZ-2023-0001")
    conversion = chain.converter.convert(late, "late")
    aanvraag = chain.one("ReferentieAanbieder", "VZ-2023-0001", "WMOAANV")
    assert conversion.outputs == []
    assert [w.message for w in conversion.warnings] == [
        f"aanvraagzaak {aanvraag['identificatie']} was already closed by a message of 20230220101500; this refusal "
        "is not sent (TR359: no 319 after a toewijzing for its ReferentieAanbieder, TR365: one final answer per "
        "ReferentieAanbieder)"]
    assert reden(aanvraag) == "Toegewezen (zaak 0384T320001)"


def test_in_onderzoek_after_the_aanvraag_was_closed_never_says_it_stays_open(reference_dir: Path) -> None:
    chain = Chain(reference_dir).feed_all([VERZOEK, SPECIFIEK])
    late = (chain.source(ANTWOORD).replace(b"VZ-2023-0002", b"VZ-2023-0001").replace(b"VerzoekAntwoord>1<",
            b"VerzoekAntwoord>2<").replace(b"<wmo319:RedenAfwijzingVerzoek>3</wmo319:RedenAfwijzingVerzoek>", b""))
    conversion = chain.converter.convert(late, "late")
    aanvraag = chain.one("ReferentieAanbieder", "VZ-2023-0001", "WMOAANV")
    assert conversion.outputs == [] and "stays open" not in conversion.outcome
    assert [w.message for w in conversion.warnings] == [
        f"aanvraagzaak {aanvraag['identificatie']} was already closed by a message of 20230220101500; this answer "
        "(in onderzoek) changes nothing (TR359: no 319 after a toewijzing for its ReferentieAanbieder, TR365: none "
        "after its final answer)"]


def test_the_same_319_again_is_no_change_without_a_warning(reference_dir: Path) -> None:
    chain = Chain(reference_dir).feed_all([VERZOEK, ANTWOORD])
    again = chain.converter.convert(chain.source(ANTWOORD), "again")
    refused = chain.one("ReferentieAanbieder", "VZ-2023-0002", "WMOAANV")
    assert again.outputs == [] and again.warnings == []
    assert f"no change: aanvraagzaak {refused['identificatie']} already holds this refusal" in again.outcome


def test_a_second_refusal_sends_nothing(reference_dir: Path) -> None:
    chain = Chain(reference_dir).feed_all([VERZOEK, ANTWOORD])
    again = chain.converter.convert(chain.source(ANTWOORD).replace(b"2023-02-24", b"2023-02-27"), "again")
    assert again.outputs == [] and len(again.warnings) == 1 and "TR365" in again.warnings[0].message


def test_a_319_dated_before_the_aanvraag_leaves_it_open(reference_dir: Path) -> None:
    chain = Chain(reference_dir).feed_all([VERZOEK])
    early = chain.converter.convert(chain.source(ANTWOORD).replace(b"2023-02-24", b"2023-02-01"), "early")
    refused = chain.one("ReferentieAanbieder", "VZ-2023-0002", "WMOAANV")
    assert early.outputs == []
    assert [w.message for w in early.warnings] == [
        f"aanvraagzaak {refused['identificatie']} left open: the refusal is dated 20230201000000, before the "
        "aanvraag (20230210000000), so it does not answer it"]


def test_a_319_for_an_unknown_verzoek_is_refused(reference_dir: Path) -> None:
    chain = Chain(reference_dir).feed_all([VERZOEK])
    with pytest.raises(ConversionError, match=r"no aanvraagzaak is known for this verzoek-antwoord \(looked for "
                                          r"aanvraag:0384:VZ-2023-0009, verzoek:0384:VZ-2023-0009:0\)") as caught:
        chain.converter.convert(chain.source(ANTWOORD).replace(b"VZ-2023-0002", b"VZ-2023-0009"), "unknown")
    assert caught.value.code == "StUF064"


def test_another_aanbieders_aanvraag_is_not_refused(reference_dir: Path) -> None:
    chain = Chain(reference_dir).feed_all([VERZOEK])
    stranger = chain.source(ANTWOORD).replace(b">98026987<", b">98026999<")
    with pytest.raises(ConversionError) as caught:
        chain.converter.convert(stranger, "stranger")
    assert caught.value.code == "StUF064"
    assert statuses(chain.one("ReferentieAanbieder", "VZ-2023-0002", "WMOAANV")) == []


def test_a_refusal_for_another_aanbieder_says_so_not_that_the_verzoek_is_missing(reference_dir: Path) -> None:
    """The aanvraagzaak is known, but its aanbieder is not the 319's Ontvanger: converting the verzoek first (what
    an unknown one needs) would never help, so the refusal names what it found and why it did not answer it."""
    chain = Chain(reference_dir).feed_all([VERZOEK])
    stranger = chain.source(ANTWOORD).replace(b">98026987<", b">98026999<")
    with pytest.raises(ConversionError) as caught:
        chain.converter.convert(stranger, "stranger")
    assert caught.value.code == "StUF064"
    assert "must be converted first" not in str(caught.value)
    assert ("the aanvraagzaak found by aanvraag:0384:VZ-2023-0002 is for another aanbieder than this "
            "verzoek-antwoord's Ontvanger") in str(caught.value)


def test_jeugdwet_refusal_of_a_317(reference_dir: Path) -> None:
    chain = Chain(reference_dir).feed_all([JW_VOW, JW_ANTWOORD])
    _accepted(chain)
    vow = chain.zaken("ReferentieAanbieder", "JZ-VOW-2023-0001", "JWAANV")
    assert len(vow) == 2
    for zaak in vow:
        assert dates(zaak)[3] == "20230626"
        assert reden(zaak) == "Afgewezen: past niet in budget (2)"
        assert statuses(zaak) == [(AFGEHANDELD, "20230626000000000")]


def test_a_wmo_319_never_closes_a_jeugdwet_aanvraag(reference_dir: Path) -> None:
    chain = Chain(reference_dir).feed_all([JW_VOW])
    wmo = (chain.source(ANTWOORD).replace(b"VZ-2023-0002", b"JZ-VOW-2023-0001").replace(b">0384<", b">0344<")
           .replace(b">98026987<", b">98765432<").replace(b"2023-02-24", b"2023-06-26"))
    with pytest.raises(ConversionError, match=r"looked for aanvraag:0344:JZ-VOW-2023-0001"):
        chain.converter.convert(wmo, "wmo")


def test_the_batch_path_renders_what_convert_renders(reference_dir: Path,
                                                     counted_uuids: list[int]) -> None:  # noqa: F811
    """Units and facts of a 319 cross the worker's process boundary as JSON (``Prepared``)."""
    chain = Chain(reference_dir)
    messages = [(name, chain.source(name)) for name in (VERZOEK, SPECIFIEK, VOW, ANTWOORD, JW_VOW, JW_ANTWOORD)]
    messages.append(("319", _refusing_the_317(chain)))
    from_model, model_ledger = _render_all(messages, prepared=False)
    counted_uuids[0] = 0
    from_facts, facts_ledger = _render_all(messages, prepared=True)
    assert from_facts == from_model
    assert facts_ledger == model_ledger
    refusals = [item for item in from_model if item[0] in (ANTWOORD, JW_ANTWOORD, "319")]
    assert [len(item[1]) for item in refusals] == [2, 4, 4]


def test_convert_reverse_writes_the_319_back(tmp_path: Path) -> None:
    """A 319 names no client: the reverse writes the one message, not one per client (none)."""
    from click.testing import CliRunner

    from gateway.cli import main

    source = Path(__file__).parent / "fixtures" / ANTWOORD
    result = CliRunner().invoke(main, ["convert", "--reverse", "--mapping", "iwmo32-wmo319", str(source),
                                       "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (written,) = tmp_path.glob("*.xml")
    text = written.read_text()
    assert "<m:ReferentieAanbieder>VZ-2023-0002</m:ReferentieAanbieder>" in text
    assert "<m:RedenAfwijzingVerzoek>3</m:RedenAfwijzingVerzoek>" in text
