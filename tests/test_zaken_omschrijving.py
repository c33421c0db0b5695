"""The zaak omschrijving: the default text (made without the table of template fields) is the default template's,
and a configured template still fills every field it may name (gateway/render/settings.py: ``omschrijving``)."""

from __future__ import annotations

from pathlib import Path

from clocks import StepClock
from lxml import etree
from shared_registry import shared_registry

from gateway.pipeline import Converter
from gateway.receiver import Receiver
from gateway.render import RenderSettings
from gateway.zaken import units
from gateway.zaken.state import omschrijving
from gateway.zaken.units import beschikkingnummer

FIXTURES = Path(__file__).parent / "fixtures"
EVERY = "{Wet}|{wet}|{kind}|{product}|{client}|{gemeente}|{aanbieder}|{beschikking}"


def _messages(reference_dir: Path) -> list[Path]:
    return [*sorted((reference_dir / "samples" / "iwmo20-xml").glob("*WMO30[1]*.xml")),
            *sorted((reference_dir / "samples" / "iwmo20-xml").glob("*WMO315*.xml")),
            *sorted(FIXTURES.glob("ijw*/JW301*.xml")), *sorted(FIXTURES.glob("iwmo*/WMO301*.xml"))]


def test_the_default_and_a_template_name_the_same_fields(reference_dir: Path) -> None:
    converter = Converter(shared_registry())
    seen = 0
    for path in _messages(reference_dir):
        bericht = converter.to_model(path.read_bytes(), path.name)[2].bericht
        for unit in units(bericht):
            client = bericht.clients[unit.client_index]
            product = client.producten[unit.line_index]
            wet = "Wmo" if bericht.wet == "wmo" else "Jeugdwet"
            label = product.code or (f"categorie {product.categorie}" if product.categorie else "budget")
            default = omschrijving(bericht, unit)
            assert default == omschrijving(bericht, unit, "") == omschrijving(bericht, unit, "{Wet} {kind} {product}")
            assert default == f"{wet} {unit.kind} {label}"[:80]
            assert omschrijving(bericht, unit, EVERY) == "|".join([
                wet, bericht.wet, unit.kind, label, str(unit.client_index + 1), unit.gemeente, unit.aanbieder,
                beschikkingnummer(client, product) or ""])[:80]
            assert omschrijving(bericht, unit, "x" * 90 + "{product}") == "x" * 80
            seen += 1
    assert seen >= 6


def test_a_zaak_without_an_omschrijving_is_named_by_the_empty_kerngegeven(reference_dir: Path) -> None:
    """A template that comes out empty ({beschikking} of a 3.2 toewijzing, which has no BeschikkingNummer) leaves
    the creeerZaak without an omschrijving; a later W still carries that kerngegeven (StUF 03.01 5.2.4), as the
    empty element with its noValue (3.4.1), and the reference receiver applies it."""
    converter = Converter(shared_registry(), validate=True, clock=StepClock(),
                          settings=RenderSettings(omschrijving="{beschikking}"))
    receiver, answers, updates = Receiver(), [], []
    for name in ("iwmo32/WMO301_toewijzing_specifiek.xml", "iwmo32/WMO301_wijziging_verkorting.xml"):
        for output in converter.convert((FIXTURES / name).read_bytes(), name).outputs:
            answers.append(receiver.receive(output.xml, output.soap_action))
            if output.operation == "updateZaak":
                updates.append(etree.fromstring(output.xml))
    assert [a.fout for a in answers if not a.accepted] == []
    zkn, stuf = "{http://www.egem.nl/StUF/sector/zkn/0310}", "{http://www.egem.nl/StUF/StUF0301}"
    objects = [o for update in updates for o in update.iter(f"{zkn}object")]
    assert len(objects) == 2
    assert [o.find(f"{zkn}omschrijving").get(f"{stuf}noValue") for o in objects] == ["geenWaarde"] * 2
    assert receiver.zaak("0384T320001")["omschrijving"] is None
