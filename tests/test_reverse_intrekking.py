"""An intrekking's zaak reads back with its end (the review of session 21's way back).

A 301 that withdraws a toewijzing (2.0 RedenIntrekking) ends its zaak: at once when its Einddatum is not after its
Dagtekening (a zaak the receiver never had is created, then ended by an updateZaak and the eindstatus), else as the
zaak's einddatumGepland. The way back reads the creeerZaak only; it carried no end date in the first case, so the
toewijzing came back open-ended with a RedenIntrekking (docs/canonical-spec.md 3 and 9).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from lxml import etree
from shared_registry import shared_registry

from gateway.pipeline import Converter
from gateway.render.schemas import check

SAMPLE = "samples/iwmo20-xml/CasusA-04-WMO301_intrekking.xml"  # Dagtekening 2016-11-08, RedenIntrekking 4
ZKN = "{http://www.egem.nl/StUF/sector/zkn/0310}"
STUF = "{http://www.egem.nl/StUF/StUF0301}"
M21 = "{http://www.istandaarden.nl/iwmo/2_1/wmo301/schema/2_1}"
M20 = "{http://www.istandaarden.nl/iwmo/2_0/wmo301/schema/2_0}"
VARIANTS = {  # Einddatum: (the operations of a zaak the receiver never had, einddatumGepland, einddatum at the end)
    "2016-11-07": (["creeerZaak", "updateZaak", "actualiseerZaakstatus"], "20161107"),  # ends at once
    "2016-12-31": (["creeerZaak"], "20161231"),  # an end still to come: the zaak stays open
}


def _intrekking(reference_dir: Path, einddatum: str) -> bytes:
    data = (reference_dir / SAMPLE).read_bytes()
    return data.replace(b"<wmo301:Einddatum>2016-11-07</wmo301:Einddatum>",
                        f"<wmo301:Einddatum>{einddatum}</wmo301:Einddatum>".encode())


@pytest.mark.parametrize("einddatum", list(VARIANTS))
def test_the_creeer_zaak_of_an_intrekking_reads_back_with_its_einddatum(reference_dir: Path, einddatum: str) -> None:
    operations, gepland = VARIANTS[einddatum]
    converter = Converter(shared_registry(), validate=True)
    conversion = converter.convert(_intrekking(reference_dir, einddatum), "a04.xml")
    assert [o.operation for o in conversion.outputs] == operations
    zaak = etree.fromstring(conversion.outputs[0].xml).find(f"{ZKN}object")
    assert zaak is not None
    assert (zaak.findtext(f"{ZKN}einddatumGepland"), zaak.findtext(f"{ZKN}einddatum")) == (gepland, None)
    extra = {e.get("naam"): e.text for e in zaak.iter(f"{STUF}extraElement")}
    assert extra["toewijzing.reden_intrekking"] == "4"
    if len(operations) > 1:  # the update that ends it sets the same date as einddatum
        ended = etree.fromstring(conversion.outputs[1].xml).findall(f"{ZKN}object")[1]
        assert ended.findtext(f"{ZKN}einddatum") == gepland
    end = dt.date.fromisoformat(einddatum)

    (v21,) = converter.reverse(conversion.outputs[0].xml, "iwmo21-wmo301", "zaak.xml")  # validates (WMO301.xsd)
    check(v21.xml, "iwmo21-301")
    (line,) = etree.fromstring(v21.xml).iter(f"{M21}ToegewezenProduct")
    assert (line.findtext(f"{M21}Einddatum"), line.findtext(f"{M21}RedenWijziging")) == (einddatum, "09")
    assert ("clients.0.producten.0.reden_intrekking: 2.0 RedenIntrekking written as the closest iWmo 2.1 "
            "RedenWijziging") in v21.normalised
    back = converter.to_model(v21.xml, "v21.xml")[2].bericht.clients[0].producten[0]
    assert (back.einddatum, back.reden_wijziging) == (end, "09")

    (v20,) = converter.reverse(conversion.outputs[0].xml, "iwmo20-wmo301", "zaak.xml")
    (line,) = etree.fromstring(v20.xml).iter(f"{M20}ToegewezenProduct")
    assert (line.findtext(f"{M20}Einddatum"), line.findtext(f"{M20}RedenIntrekking")) == (einddatum, "4")

    (ei,) = converter.reverse(conversion.outputs[0].xml, "iwmo20-ei-wmo301", "zaak.xml")  # read back by the parser
    (record,) = [r for r in ei.xml.decode("latin-1").split("\n") if r.startswith("15")]
    assert (record[97:105], record[105]) == (einddatum.replace("-", ""), "4")  # Einddatum 98-105, RedenIntrekking 106
    back = converter.to_model(ei.xml, "a04.ei")[2].bericht.clients[0].producten[0]
    assert (back.einddatum, back.reden_intrekking) == (end, "4")
