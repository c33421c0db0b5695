"""isGezetDoor on every status (ZDS 1.2 4.1.3: the medewerker or organisatorische eenheid that set it is
verplicht): the configured OEH, with verwerkingssoort I, as the reference receiver records it."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from receiver_run import Run

from gateway.proxy.config import ConfigError
from gateway.proxy.render_config import render_settings
from gateway.receiver import Receiver
from gateway.render import RenderSettings
from gateway.render.settings import Eenheid

ZKN, STUF = "http://www.egem.nl/StUF/sector/zkn/0310", "http://www.egem.nl/StUF/StUF0301"
B01, B02 = "CasusB-01-WMO301_toewijzing.xml", "CasusB-02-WMO305_start.xml"


def started(reference_dir: Path, settings: RenderSettings) -> tuple[bytes, Receiver, str]:
    """B-01 then its start, through one converter, into a receiver: the status XML, the receiver, the zaak."""
    run = Run(reference_dir, settings)
    run.feed(B01)
    (status,) = run.feed(B02).outputs
    return status.xml, run.receiver, status.zaak or ""


def test_a_status_is_set_by_the_configured_organisatorische_eenheid(reference_dir: Path) -> None:
    settings = render_settings({"gezet_door": {"identificatie": "OEH-WMO", "naam": "Team Wmo"}},
                               RenderSettings(), "render")
    xml, receiver, zaak = started(reference_dir, settings)
    door = etree.fromstring(xml).findall(f"{{{ZKN}}}object")[1].find(f"{{{ZKN}}}heeft/{{{ZKN}}}isGezetDoor")
    assert door.get(f"{{{STUF}}}verwerkingssoort") == "I"
    eenheid = door.find(f"{{{ZKN}}}gerelateerde/{{{ZKN}}}organisatorischeEenheid")
    assert (eenheid.get(f"{{{STUF}}}verwerkingssoort"), eenheid.findtext(f"{{{ZKN}}}identificatie"),
            eenheid.findtext(f"{{{ZKN}}}naam")) == ("I", "OEH-WMO", "Team Wmo")
    (status,) = receiver.zaak(zaak)["statussen"]  # type: ignore[index]
    assert (status["statustype"], status["gezetDoor"]) == ("Levering gestart", "identificatie=OEH-WMO")


def test_the_demo_default_and_none(reference_dir: Path) -> None:
    _, receiver, zaak = started(reference_dir, RenderSettings())
    assert receiver.zaak(zaak)["statussen"][0]["gezetDoor"] == "identificatie=OVERSTAP"  # type: ignore[index]
    xml, receiver, zaak = started(reference_dir, render_settings({"gezet_door": None}, RenderSettings(), "render"))
    assert b"isGezetDoor" not in xml
    assert receiver.zaak(zaak)["statussen"][0]["gezetDoor"] is None  # type: ignore[index]


def test_the_serve_config_checks_gezet_door() -> None:
    assert render_settings({"gezet_door": {"identificatie": "X1"}}, RenderSettings(), "render").gezet_door == (
        Eenheid("X1", None))
    with pytest.raises(ConfigError, match=r"render\.gezet_door: expected identificatie \(max 24"):
        render_settings({"gezet_door": {"identificatie": "X" * 25}}, RenderSettings(), "render")
