"""The GGk envelope as the pipeline writes it since issue 13's tenth session: the facts both the envelope and its
file name need (retour or not, zender and ontvanger, functie) are worked out once in ``render``, the payload is
base64 by ``binascii`` on one line, and the envelope's referentienummer is drawn from the zkn render's buffer of
``os.urandom`` instead of a ``uuid.uuid4()`` each. Why these tests: each of those could drift from what
``envelope`` (the reference the guard's tests run) and spec 2.4 (a random UUID version 4) say."""

from __future__ import annotations

import base64
import datetime as dt
import re
import uuid
from pathlib import Path

import pytest
from shared_registry import shared_registry

from gateway.ledger import MemoryLedger
from gateway.model import Bericht
from gateway.pipeline import Converter
from gateway.render import RenderSettings, ggk
from gateway.render.settings import Systeem

ROOT = Path(__file__).resolve().parents[1]
TOEWIJZING = ROOT / "tests/fixtures/iwmo21/CasusA-02-WMO301_toewijzing.xml"
VERZOEK = ROOT / "tests/fixtures/iwmo21/CasusA-01-WMO315_verzoek.xml"
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
STAMP = ggk.Stamp("e5a7d7b2-3f5c-4b8e-9c1d-0a1b2c3d4e5f", "20260101120000000", "0a1b2c3d-3f5c-4b8e-9c1d-e5a7d7b23f5c")


@pytest.fixture(scope="module")
def berichten(reference_dir: Path) -> list[Bericht]:
    """A 301 and a 315 heenbericht and the retour of each (their parties swap, their file names use the
    retour's own identification)."""
    out = []
    for path in (TOEWIJZING, VERZOEK):
        heen = Converter(shared_registry()).convert(path.read_bytes()).bericht
        out += [heen, heen.model_copy(update={"soort": f"{heen.soort}-retour", "identificatie_retour": "R-1/2",
                                              "dagtekening_retour": heen.dagtekening})]
    return out


SETTINGS = [RenderSettings(), RenderSettings(zender=Systeem(organisatie="ZZ", applicatie="Zapp")),
            RenderSettings(ontvanger=Systeem(organisatie="OO")),
            RenderSettings().merged({"zender": {"administratie": "ISD {gemeente}"}})]


@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize("guard", [False, True])
def test_render_writes_the_envelope_that_envelope_writes(berichten: list[Bericht], settings: RenderSettings,
                                                         guard: bool) -> None:
    """``render`` hands the envelope the facts it worked out for the file name; the bytes must be those of the
    public ``envelope``, which works them out itself, for a heenbericht and a retour alike."""
    payload = b"<a>\xc3\xa9</a>" * 40
    for bericht in berichten:
        nummer = {"toewijzing": "301", "verzoek": "315"}[bericht.soort.removesuffix("-retour")]
        stamp = STAMP if ggk.is_retour(bericht) else ggk.Stamp(STAMP.referentienummer, STAMP.tijdstip)
        (out,) = ggk.render(bericht, payload, nummer, "2.1", settings, stamp, guard=guard)
        assert out.xml == ggk.envelope(bericht, payload, nummer, "2.1", settings, stamp, guard=guard)
        zender = ggk.parties(bericht, settings)[0]
        ident = bericht.identificatie_retour if ggk.is_retour(bericht) else bericht.identificatie
        assert out.name == re.sub(r"[^0-9A-Za-z._-]", "_", f"{zender}-{ggk.functie(bericht.wet, nummer)}-{ident}-ggk")
        assert out.referentienummer == stamp.referentienummer and out.cross_ref == stamp.cross_ref


def test_the_payload_is_base64_on_one_line(berichten: list[Bericht]) -> None:
    """GGk 2.2: the payload is the base64 of its bytes as the element's text, with no line breaks in it."""
    for size in (0, 1, 2, 3, 57, 58, 76, 77, 1000):
        payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
        xml = ggk.envelope(berichten[0], payload, "301", "2.1", RenderSettings(), STAMP)
        text = re.search(rb'<GGK:bericht xmime:contentType="application/xml">([^<]*)</GGK:bericht>', xml)
        assert text is not None and text.group(1) == base64.b64encode(payload)


def test_envelope_references_are_uuid4_text_and_never_repeat(reference_dir: Path) -> None:
    """Spec 2.4: each envelope a new UUID version 4, across the buffer's refills (64 ids a buffer)."""
    converter = Converter(shared_registry(), profile="ggk", ledger=MemoryLedger())
    data = TOEWIJZING.read_bytes()
    refs = [converter.convert(data, "a").outputs[0].referentienummer for _ in range(300)]
    assert len(set(refs)) == len(refs) and all(UUID4.fullmatch(r) for r in refs)


def test_a_replaced_uuid4_decides_the_envelope_reference(reference_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests and identity runs replace ``uuid.uuid4`` with counted ids: the envelope must carry those."""
    counted = iter(range(1, 100))
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=next(counted), version=4))
    converter = Converter(shared_registry(), profile="ggk", ledger=MemoryLedger())
    refs = [converter.convert(TOEWIJZING.read_bytes(), "a").outputs[0].referentienummer for _ in range(3)]
    assert refs == [str(uuid.UUID(int=i, version=4)) for i in (1, 2, 3)]


FIXTURES = sorted([*(ROOT / "tests/fixtures").glob("*/*.xml"), *(ROOT / "tests/fixtures").glob("*/families/*.xml")])


def test_convert_gives_the_envelope_render_ggk_gives(reference_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``convert`` writes a GGk envelope straight into its Output (no GgkRendered in between); it must be what
    ``render_ggk`` renders: name, bytes, reference and what was dropped, for every fixture and 2.0 sample (retours
    after their heenbericht, in one ledger each), or the same refusal."""
    def run(through_render: bool) -> list[object]:
        counted = iter(range(1, 10_000))
        monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=next(counted), version=4))
        converter = Converter(shared_registry(), profile="ggk", ledger=MemoryLedger(),
                              clock=lambda: dt.datetime(2026, 12, 5, 6, 0))
        out: list[object] = []
        for path in [*FIXTURES, *sorted((reference_dir / "samples/iwmo20-xml").glob("*.xml"))]:
            try:
                if through_render:
                    _, mapping, result = converter.to_model(path.read_bytes(), path.name)
                    with converter.ledger.transaction() as tx:
                        (r,) = converter.render_ggk(result.bericht, converter.settings_for(mapping), tx,
                                                    converter.clock())
                    out.append((r.name, r.xml, r.referentienummer, r.dropped))
                else:
                    (o,) = converter.convert(path.read_bytes(), path.name).outputs
                    out.append((o.name, o.xml, o.referentienummer, o.dropped))
            except Exception as exc:  # the refusal itself is compared
                out.append(f"{type(exc).__name__}: {exc}")
        return out

    converted, rendered = run(False), run(True)
    assert converted == rendered
    assert sum(isinstance(o, tuple) and bool(o[3]) for o in converted) >= 8
