"""Property: every zaak a canonical 301 creates (profile zkn v2: one creeerZaak per toewijzing) reads back to the
client and the product line it came from, and every rendering validates against the official StUF-ZKN schema
(when the reference is present). The way back is lossy by design (docs/canonical-spec.md 9): the header is
rebuilt from the zaak, so the property compares what a zaak holds."""

from __future__ import annotations

import datetime as dt
from typing import get_args

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from gateway.ingest import read
from gateway.ingest.zkn_v2 import read_zkn_v2
from gateway.ledger import MemoryLedger
from gateway.model import Bericht, codes
from gateway.reference import available
from gateway.render import RenderSettings
from gateway.render.schemas import check
from gateway.render.zkn import RenderError, render

WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2)
TEXT = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéëï&<>\"' -", min_size=1, max_size=24).map(
    str.strip).filter(bool)
PREFIX = TEXT.map(lambda t: t[:10].strip()).filter(bool)  # CDT_Achternaam Voorvoegsel: max 10
DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=9)
DATES = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31))


@st.composite
def bsns(draw: st.DrawFn) -> str:
    head = draw(st.lists(st.integers(0, 9), min_size=8, max_size=8))
    check_digit = sum(d * w for d, w in zip(head, WEIGHTS, strict=True)) % 11
    if check_digit == 10 or (check_digit == 0 and not any(head)):
        head[-1] = (head[-1] + 1) % 10
        check_digit = sum(d * w for d, w in zip(head, WEIGHTS, strict=True)) % 11
    from hypothesis import assume

    assume(check_digit != 10 and any(head))
    return "".join(map(str, head)) + str(check_digit)


def codes_of(literal: object) -> st.SearchStrategy[str]:
    return st.sampled_from(get_args(literal))


@st.composite
def periods(draw: st.DrawFn) -> tuple[dt.date, dt.date | None]:
    start = draw(DATES)
    end = draw(st.none() | st.dates(min_value=start, max_value=dt.date(2099, 12, 31)))
    return start, end


@st.composite
def products(draw: st.DrawFn) -> dict:
    start, end = draw(periods())
    out: dict = {
        "categorie": draw(st.sampled_from(sorted(codes.PRODUCTCATEGORIE_WMO))),
        "code": draw(st.none() | st.from_regex(r"\A[0-9]{2}[A-Z][0-9]{2}\Z")),
        "ingangsdatum": start, "einddatum": end,
        "aanbieder": draw(st.from_regex(r"\A[0-9]{8}\Z")),
        "toewijzingnummer": draw(st.none() | st.from_regex(r"\A[1-9][0-9]{0,8}\Z")),
        "toewijzingsdatum": draw(st.none() | DATES),
        "toewijzingstijd": draw(st.none() | st.times().map(lambda t: t.replace(microsecond=0))),
        "reden_wijziging": draw(st.none() | codes_of(codes.RedenWijziging)),
        "commentaar": draw(st.none() | TEXT),
        "leveringsvorm": "ZIN",
    }
    if draw(st.booleans()):
        out["omvang"] = {"volume": draw(st.integers(0, 99999999)), "eenheid": draw(codes_of(codes.Eenheid)),
                         "frequentie": draw(codes_of(codes.Frequentie))}
    if draw(st.booleans()):
        out["extra"] = {draw(st.from_regex(r"\A[a-z]{1,10}\Z")): draw(TEXT)}
    return out


@st.composite
def berichten(draw: st.DrawFn) -> Bericht:
    start, end = draw(periods())
    lines = draw(st.lists(products(), min_size=1, max_size=3))
    beschikt = [{"categorie": "07", "ingangsdatum": start}]
    if draw(st.booleans()):  # the beschikt product of the first line's categorie and code, read back with it
        granted = draw(periods())
        beschikt.append({"categorie": lines[0]["categorie"], "code": lines[0]["code"], "ingangsdatum": granted[0],
                         "einddatum": granted[1], "omvang": draw(st.none() | st.fixed_dictionaries({
                             "volume": st.integers(0, 99999999), "eenheid": codes_of(codes.Eenheid),
                             "frequentie": codes_of(codes.Frequentie)}))})
    client = {
        "bsn": draw(bsns()),
        "geboortedatum": draw(DATES),
        "geboortedatum_gebruik": draw(st.none() | codes_of(codes.DatumGebruik)),
        "geslacht": draw(codes_of(codes.Geslacht)),
        "naam": {"geslachtsnaam": {"naam": draw(TEXT), "voorvoegsel": draw(st.none() | PREFIX)},
                 "voorletters": draw(st.none() | st.from_regex(r"\A[A-Z]{1,6}\Z")),
                 "voornamen": draw(st.none() | TEXT), "naamgebruik": draw(st.none() | codes_of(codes.NaamGebruik))},
        "relaties": [{"nummer": draw(DIGITS), "soort": draw(codes_of(codes.SoortRelatie)),
                      "naam": {"geslachtsnaam": {"naam": draw(TEXT)},
                               "naamgebruik": draw(st.none() | codes_of(codes.NaamGebruik))},
                      "contacten": [{"soort": "01", "emailadres": draw(TEXT)}]}
                     for _ in range(draw(st.integers(0, 2)))],
        "contacten": [{"soort": draw(codes_of(codes.SoortAdres)),
                       "adres": {"huisnummer": draw(st.integers(0, 99999)), "postcode": "1234AB",
                                 "straatnaam": draw(TEXT), "plaatsnaam": draw(TEXT), "landcode": "NL"},
                       "telefoon": [{"nummer": draw(st.from_regex(r"\A[0-9]{10}\Z")), "landnummer": "0031"}]}
                      for _ in range(draw(st.integers(0, 2)))],
        "beschikking": {"nummer": draw(DIGITS), "afgiftedatum": start, "ingangsdatum": start, "einddatum": end,
                        "grondslagen": draw(st.lists(codes_of(codes.Grondslag), max_size=2)),
                        "producten": beschikt},
        "producten": lines,
    }
    return Bericht.model_validate({
        "wet": "wmo", "soort": "toewijzing", "berichtcode": "414", "versie": "2.1",
        "afzender": draw(st.from_regex(r"\A[0-9]{4}\Z")), "ontvanger": draw(st.from_regex(r"\A[0-9]{8}\Z")),
        "identificatie": draw(st.from_regex(r"\A[0-9a-z]{12}\Z")), "dagtekening": draw(DATES),
        "clients": [client],
    })


NOW = dt.datetime(2026, 12, 4, 12, 0, 0)
CLIENT = ("bsn", "geslacht", "geboortedatum", "geboortedatum_gebruik")
LINE = ("categorie", "code", "omvang", "ingangsdatum", "toewijzingnummer", "aanbieder", "leveringsvorm",
        "reden_wijziging", "toewijzingsdatum")


def _persons(relaties: list) -> list:
    """Related persons as the way back keeps them: grouped by role (so compared sorted), renumbered, with their
    e-mail (the ROL's emailadres) but not their naamgebruik, which a zaak does not carry (ZDS 1.2 4.1.4.2: a ROL has
    no extraElement but emailadres; docs/canonical-spec.md 5)."""
    return sorted((r.soort, r.naam.geslachtsnaam.naam, [c.emailadres for c in r.contacten]) for r in relaties)


def _created(bericht: Bericht) -> list[Bericht]:
    try:
        with MemoryLedger().transaction() as tx:
            outputs = render(bericht, RenderSettings(), tx, NOW).outputs
    except RenderError as exc:
        # lines sharing a zaak where a later one would reopen the zaak an earlier one ended: refused by design
        # (StUF058, tests/test_chains.py and test_zaken_order.py), not a message this property is about
        if exc.code == "StUF058":
            reject()
        raise
    if available():
        for out in outputs:
            check(out.xml, "zkn")
    return [read_zkn_v2(read(o.xml).root, o.name, {"WMOTOEW": ("wmo", "toewijzing")})
            for o in outputs if o.operation == "creeerZaak"]


@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(berichten())
def test_every_created_zaak_reads_back_to_its_client_and_line(bericht: Bericht) -> None:
    created = _created(bericht)
    assert 1 <= len(created) <= len(bericht.clients[0].producten)  # lines with the same chain key share a zaak
    client = bericht.clients[0]
    for back in created:
        got = back.clients[0]
        assert [getattr(got, f) for f in CLIENT] == [getattr(client, f) for f in CLIENT]
        assert client.naam is not None and got.naam is not None
        assert (got.naam.geslachtsnaam.naam, got.naam.geslachtsnaam.voorvoegsel, got.naam.voorletters,
                got.naam.voornamen) == (client.naam.geslachtsnaam.naam, client.naam.geslachtsnaam.voorvoegsel,
                                        client.naam.voorletters, client.naam.voornamen)
        (line,) = got.producten
        assert any([getattr(line, f) for f in LINE] == [getattr(p, f) for f in LINE] for p in client.producten)
        assert back.afzender == bericht.afzender and back.dagtekening == bericht.dagtekening
        assert got.beschikking is not None and client.beschikking is not None
        assert (got.beschikking.nummer, got.beschikking.afgiftedatum, got.beschikking.ingangsdatum,
                got.beschikking.einddatum, got.beschikking.grondslagen) == (
            client.beschikking.nummer, client.beschikking.afgiftedatum, client.beschikking.ingangsdatum,
            client.beschikking.einddatum, client.beschikking.grondslagen)
        granted = [(b.categorie, b.code, b.ingangsdatum, b.einddatum, b.omvang) for b in client.beschikking.producten
                   if (b.categorie, b.code or None) == (line.categorie, line.code or None)][:1]
        assert [(b.categorie, b.code, b.ingangsdatum, b.einddatum, b.omvang)
                for b in got.beschikking.producten] == granted
        assert _persons(got.relaties) == _persons(client.relaties)
        assert [r.naam.naamgebruik for r in got.relaties] == [None] * len(got.relaties)


def test_zkn_output_of_a_public_sample_round_trips(reference_dir_or_skip: object = None) -> None:
    if not available():
        pytest.skip("reference dir absent: set OVERSTAP_REFERENCE_DIR")
    from gateway.pipeline import Converter
    from gateway.reference import reference_dir

    sample = reference_dir() / "samples" / "iwmo20-xml" / "CasusA-02-WMO301_toewijzing.xml"
    conversion = Converter().convert(sample.read_bytes(), sample.name)
    back = read_zkn_v2(read(conversion.outputs[0].xml).root, "zaak", {"WMOTOEW": ("wmo", "toewijzing")})
    original = conversion.bericht
    assert back.clients[0].producten[0].omvang == original.clients[0].producten[0].omvang
    assert back.clients[0].beschikking is not None and original.clients[0].beschikking is not None
    assert back.clients[0].beschikking.nummer == original.clients[0].beschikking.nummer == "425386123"
    assert (back.afzender, back.ontvanger, back.dagtekening) == ("0384", "98025566", original.dagtekening)
