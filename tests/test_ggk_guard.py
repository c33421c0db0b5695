"""The GGk envelope's value guard (gateway/render/ggk_guard.py) stands in for parsing each envelope back and
validating it. That holds when (1) every envelope shape the writer makes is valid whenever its values are, and
(2) the guard refuses exactly the values that make the envelope invalid. Both are proven here against lxml and
the official GGk XSD, over both shapes (Di01, Du01), every place's boundaries and generated awkward values."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree
from shared_registry import shared_registry

from gateway.model import Bericht
from gateway.model.codes import BERICHTNUMMERS
from gateway.pipeline import Converter
from gateway.render import RenderError, RenderSettings, ggk
from gateway.render.schemas import OutputInvalid, errors_of
from gateway.render.settings import Systeem

ROOT = Path(__file__).resolve().parents[1]
TOEWIJZING = ROOT / "tests/fixtures/iwmo21/CasusA-02-WMO301_toewijzing.xml"
AWKWARD = ["", " ", "a", "ab", "abc", "x" * 40, "x" * 41, "x" * 50, "x" * 51, "x" * 200, "x" * 201, "a&b", "a<b",
           "a>b", 'a"b', "a\rb", "a\r\nb", "a\tb", "a\nb", " a ", "\x01", "\x7f", "é€𝄞", "\ufffe", "12345678",
           "1234567", "12345678901234567", "123456789012345678", "2026010112000000", "２０２６０１０１", "0" * 8,
           "e5a7d7b2-3f5c-4b8e-9c1d-0a1b2c3d4e5f"]


@pytest.fixture(scope="module")
def berichten(reference_dir: Path) -> tuple[Bericht, Bericht]:
    """A heenbericht and a retour (its soort and the retour's own identification set), to write both shapes."""
    heen = Converter(shared_registry()).convert(TOEWIJZING.read_bytes()).bericht
    retour = heen.model_copy(update={"soort": "toewijzing-retour", "identificatie_retour": "R1",
                                     "dagtekening_retour": heen.dagtekening})
    return heen, retour


def _written(bericht: Bericht, settings: RenderSettings, stamp: ggk.Stamp, nummer: str = "301",
             payload: bytes = b"<a/>") -> tuple[str, bytes | None]:
    """What the guard says ("ok", "refused") and the envelope's bytes without the guard (None: the writer's own
    RenderError, which comes first either way)."""
    try:
        xml = ggk.envelope(bericht, payload, nummer, "2.1", settings, stamp)
    except RenderError:
        with pytest.raises(RenderError):
            ggk.envelope(bericht, payload, nummer, "2.1", settings, stamp, guard=True)
        return "render-error", None
    try:
        ggk.envelope(bericht, payload, nummer, "2.1", settings, stamp, guard=True)
    except OutputInvalid as exc:
        assert all(problem.endswith("(value guard)") for problem in exc.errors)
        return "refused", xml
    return "ok", xml


def _valid(xml: bytes) -> bool:
    try:
        return errors_of(etree.fromstring(xml), "ggk") == []
    except etree.XMLSyntaxError:
        return False


STAMP = ggk.Stamp("e5a7d7b2-3f5c-4b8e-9c1d-0a1b2c3d4e5f", "20260101120000000", "a" * 36)
PLACES = {
    "zender.organisatie": lambda s, v: (replace(s, zender=replace(s.zender, organisatie=v)), STAMP),
    "zender.applicatie": lambda s, v: (replace(s, zender=replace(s.zender, applicatie=v)), STAMP),
    "zender.administratie": lambda s, v: (replace(s, zender=replace(s.zender, administratie=v)), STAMP),
    "ontvanger.organisatie": lambda s, v: (replace(s, ontvanger=replace(s.ontvanger, organisatie=v)), STAMP),
    "referentienummer": lambda s, v: (s, replace(STAMP, referentienummer=v)),
    "tijdstip": lambda s, v: (s, replace(STAMP, tijdstip=v)),
    "cross_ref": lambda s, v: (s, replace(STAMP, cross_ref=v)),
}


@pytest.mark.parametrize("place", sorted(PLACES))
def test_the_guard_refuses_exactly_what_makes_the_envelope_invalid(berichten: tuple[Bericht, Bericht],
                                                                   place: str) -> None:
    rng = random.Random(place)
    values = AWKWARD + ["".join(rng.choice("aZ09 &<>\"'\r\n\t\x01é.-") for _ in range(rng.randint(0, 60)))
                        for _ in range(40)]
    seen = set()
    for bericht in berichten:
        for value in values:
            settings, stamp = PLACES[place](RenderSettings(), value)
            verdict, xml = _written(bericht, settings, stamp)
            if xml is not None and not (verdict == "refused" and "&" in value and _valid(xml)):
                assert (verdict == "ok") == _valid(xml), (place, ggk.is_retour(bericht), repr(value))
            # else a value written as it is with an entity reference in it: lxml reads another value back
            seen.add(verdict)
    assert "refused" in seen and "ok" in seen


def test_every_functie_and_version_the_writer_can_write_is_valid(berichten: tuple[Bericht, Bericht]) -> None:
    """The functie (WMO301 .. JW318, and a made-up number) and the four version numbers of every version string
    shape: the writer makes them; the guard checks them too."""
    rng = random.Random(7)
    versions = ["2.1", "3.2", "1", "", "x.y", "99999.123456", "2.1.3", "0.0"]
    for bericht in berichten:
        for nummer in [*sorted(set(BERICHTNUMMERS.values())), "1" * 27, "1" * 28]:
            for versie in versions:
                payload = bytes(rng.randrange(256) for _ in range(rng.randint(1, 300)))
                xml = ggk.envelope(bericht, payload, nummer, versie, RenderSettings(), STAMP)
                try:
                    ggk.envelope(bericht, payload, nummer, versie, RenderSettings(), STAMP, guard=True)
                    verdict = True
                except OutputInvalid:
                    verdict = False
                assert verdict == _valid(xml), (nummer, versie)
                assert verdict == (len(ggk.functie(bericht.wet, nummer)) <= 30)


def test_both_shapes_are_valid_at_every_boundary_of_their_values(berichten: tuple[Bericht, Bericht]) -> None:
    for bericht in berichten:
        for length in (1, 50):
            zender = Systeem(organisatie="o" * (length * 4), applicatie="a" * max(3, length),
                             administratie="d" * length)
            settings = RenderSettings(zender=zender, ontvanger=Systeem(organisatie="r" * 200))
            stamp = ggk.Stamp("n" * 40, "1" * (8 if length == 1 else 17), "c" * (length % 40 + 1))
            verdict, xml = _written(bericht, settings, stamp)
            assert verdict == "ok" and xml is not None and _valid(xml)


def test_a_converter_with_validation_on_guards_the_envelope_and_parses_only_the_payload(
        reference_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway import pipeline

    checked: list[str] = []
    check = pipeline.check
    monkeypatch.setattr(pipeline, "check", lambda xml, kind: (checked.append(kind), check(xml, kind))[1])
    converter = Converter(shared_registry(), profile="ggk", validate=True, settings=RenderSettings(
        zender=Systeem(organisatie="gemeente\x01")))
    assert "envelope's values" in converter.checking
    with pytest.raises(OutputInvalid, match="zender/StUF:organisatie: the schema expects only characters"):
        converter.convert(TOEWIJZING.read_bytes())
    assert checked == ["iwmo21-301"]
    full = Converter(shared_registry(), profile="ggk", validate="full",
                     settings=RenderSettings(zender=Systeem(organisatie="g\x01")))
    with pytest.raises(etree.XMLSyntaxError):  # parsed back: lxml refuses the control character
        full.convert(TOEWIJZING.read_bytes())
