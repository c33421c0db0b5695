"""A status names its statustype by all its kerngegevens (zkn0310 ``STT-kerngegevensKennisgeving``: zkt.code,
zkt.omschrijving, volgnummer, code, omschrijving, ingangsdatumObject; StUF 03.01 5.2.4: kerngegevens "moeten altijd
worden opgenomen"): the catalogue's values, the ones it lacks as waardeOnbekend; the reference receiver refuses a
statustype without them or of another zaaktype. Values written by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from receiver_messages import STATUS, ZAAK, lk01, refused, status_objects
from receiver_run import Run

from gateway.proxy.config import ConfigError
from gateway.proxy.render_config import render_settings
from gateway.receiver import Receiver
from gateway.render import RenderSettings

ZKN, STUF = "http://www.egem.nl/StUF/sector/zkn/0310", "http://www.egem.nl/StUF/StUF0301"
NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
B01, B02 = "CasusB-01-WMO301_toewijzing.xml", "CasusB-02-WMO305_start.xml"


def _statustype(reference_dir: Path, settings: RenderSettings) -> tuple[list[tuple[str, str | None]], Run, str]:
    """B-01 then its start: the new status's STT children as (name, text or its noValue), the run, the zaak."""
    run = Run(reference_dir, settings)
    run.feed(B01)
    (status,) = run.feed(B02).outputs
    nieuw = etree.fromstring(status.xml).findall(f"{{{ZKN}}}object")[1]
    stt = nieuw.find(f"{{{ZKN}}}heeft/{{{ZKN}}}gerelateerde")
    assert stt is not None and stt.get(f"{{{STUF}}}entiteittype") == "STT"
    return [(etree.QName(c).localname, c.text if c.get(NIL) != "true" else c.get(f"{{{STUF}}}noValue"))
            for c in stt], run, status.zaak or ""


def test_the_demo_catalogue_names_the_statustype_and_leaves_what_it_lacks_unknown(reference_dir: Path) -> None:
    children, run, zaak = _statustype(reference_dir, RenderSettings())
    assert children == [("zkt.code", "WMOTOEW"), ("zkt.omschrijving", "Toewijzing Wmo-ondersteuning"),
                        ("volgnummer", "0001"), ("code", "waardeOnbekend"), ("omschrijving", "Levering gestart"),
                        ("ingangsdatumObject", "waardeOnbekend")]
    assert [s["statustype"] for s in run.receiver.zaak(zaak)["statussen"]] == ["Levering gestart"]  # type: ignore


def test_a_configured_statustype_code_and_ingangsdatum_are_sent(reference_dir: Path) -> None:
    settings = render_settings({"zaaktypen": {"wmo.toewijzing": {
        "code": "B1234", "omschrijving": "Toewijzing Wmo-maatwerkvoorziening", "ingangsdatum": "20240101",
        "statustypes": {"gestart": [1, "Levering gestart", "GESTART", "20240101"]}}}}, RenderSettings(), "render")
    children, run, zaak = _statustype(reference_dir, settings)
    assert children == [("zkt.code", "B1234"), ("zkt.omschrijving", "Toewijzing Wmo-maatwerkvoorziening"),
                        ("volgnummer", "0001"), ("code", "GESTART"), ("omschrijving", "Levering gestart"),
                        ("ingangsdatumObject", "20240101")]
    assert [s["statustype"] for s in run.receiver.zaak(zaak)["statussen"]] == ["Levering gestart"]  # type: ignore


@pytest.mark.parametrize(("value", "fault"), [
    ([1, "Levering gestart", "GESTART", "20240230"], "ingangsdatum is a date written yyyymmdd"),
    ([1, "Levering gestart", "CODE-OF-ELEVEN"], "a code 1-10"),
    ([0, "Levering gestart"], "a volgnummer is a whole number 1-9999"),
    ([1, "Levering gestart", "A", "20240101", "extra"], r"\[volgnummer, omschrijving, code, ingangsdatum\]"),
])
def test_a_statustype_the_ztc_could_not_hold_is_refused_at_start(value: list[object], fault: str) -> None:
    with pytest.raises(ConfigError, match=r"render\.zaaktypen\.wmo\.toewijzing\.statustypes\.gestart: .*" + fault):
        render_settings({"zaaktypen": {"wmo.toewijzing": {"code": "B1", "omschrijving": "Wmo",
                                                          "statustypes": {"gestart": value}}}},
                        RenderSettings(), "render")


@pytest.mark.parametrize("ingangsdatum", ["2024-01-01", "20240230", "2024010"])
def test_a_zaaktype_ingangsdatum_that_is_no_date_is_refused_at_start(ingangsdatum: str) -> None:
    """As a statustype's: checked when the configuration is read, not by every message's isVan at run time."""
    with pytest.raises(ConfigError, match=r"render\.zaaktypen\.wmo\.toewijzing\.ingangsdatum: a date written yyyymmdd"):
        render_settings({"zaaktypen": {"wmo.toewijzing": {"code": "B1", "omschrijving": "Wmo",
                                                          "ingangsdatum": ingangsdatum}}}, RenderSettings(), "render")


@pytest.mark.parametrize("without", ["zkt.omschrijving", "code", "ingangsdatumObject"])
def test_the_receiver_refuses_a_statustype_without_its_kerngegevens(created: Receiver, without: str) -> None:
    message = lk01("W", status_objects("0001", "Levering gestart", "20260110", without=without), "ref-2",
                   "20260110000000000")
    answer = created.receive(message, STATUS)
    refused(answer, "StUF055", "kerngegevens")
    assert answer.fout.element == f"heeft/gerelateerde/{without}"
    assert "STT-kerngegevensKennisgeving" in answer.fout.omschrijving
    assert created.zaak(ZAAK)["statussen"] == []  # type: ignore[index]


def test_the_receiver_refuses_a_statustype_of_another_zaaktype(created: Receiver) -> None:
    message = lk01("W", status_objects("0001", "Levering gestart", "20260110", zaaktype="JWTOEW"), "ref-2",
                   "20260110000000000")
    answer = created.receive(message, STATUS)
    refused(answer, "StUF058", "statustype-zaaktype")
    assert answer.fout.element == "heeft/gerelateerde/zkt.code"
    assert created.zaak(ZAAK)["statussen"] == []  # type: ignore[index]
    same = lk01("W", status_objects("0001", "Levering gestart", "20260110"), "ref-3", "20260110000000001")
    assert created.receive(same, STATUS).accepted
