"""isGezetDoor on every status (ZDS 1.2 4.1.3: the medewerker or organisatorische eenheid that set it is
verplicht): the configured OEH, with verwerkingssoort I, as the reference receiver records it."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from receiver_run import Run

from gateway.proxy.config import ConfigError
from gateway.proxy.config_file import load
from gateway.proxy.render_config import render_settings
from gateway.receiver import Receiver
from gateway.render import RenderSettings
from gateway.render.settings import Eenheid, Systeem
from gateway.render.writers import write
from gateway.zaken import STATUS, Operation

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


def test_the_demo_default_is_sent_when_none_is_configured(reference_dir: Path) -> None:
    _, receiver, zaak = started(reference_dir, RenderSettings())
    assert receiver.zaak(zaak)["statussen"][0]["gezetDoor"] == "identificatie=OVERSTAP"  # type: ignore[index]


@pytest.mark.parametrize("value", ["null", "''", "{}", "{naam: Team Wmo}"])
def test_a_serve_config_cannot_turn_gezet_door_off(tmp_path: Path, value: str) -> None:
    """ZDS 1.2 §4.1.3.2 marks the isGezetDoor identificatie verplicht: ``null`` once left it out of every status, and
    the receiver refuses such a status now; a config saying so is refused at start, naming the setting and why."""
    path = tmp_path / "overstap.yaml"
    path.write_text(f"data_dir: {tmp_path / 'data'}\ndownstreams: {{zs: http://127.0.0.1:9/zs}}\n"
                    f"render:\n  gezet_door: {value}\nroutes:\n  default: {{downstream: zs}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"render\.gezet_door: expected identificatie .*ZDS 1\.2 §4\.1\.3\.2.*"
                                          r"cannot be turned off with null"):
        load(path)


def test_settings_cannot_be_merged_without_gezet_door() -> None:
    """RenderSettings.merged is the other way overrides come in; it must not turn isGezetDoor off either."""
    for value in (None, "", {}, {"naam": "Team Wmo"}):
        with pytest.raises(ValueError, match=r"render\.gezet_door: every status names who set it"):
            RenderSettings().merged({"gezet_door": value})
    assert RenderSettings().merged({"gezet_door": {"identificatie": "OEH-WMO"}}).gezet_door == Eenheid("OEH-WMO", None)


def test_a_status_is_not_written_without_gezet_door() -> None:
    """The writer itself refuses, so no caller of its own can send a status ZDS 1.2 §4.1.3.2 calls incomplete."""
    op = Operation(STATUS, "0363T12345", status={"zaaktype": "WMOTOEW", "volgnummer": "1", "datum": "20160301",
                                                  "omschrijving": "Levering gestart", "toelichting": None})
    systeem = (Systeem(), "0363")
    with pytest.raises(ValueError, match=r"a status needs gezet_door: .*ZDS 1\.2 §4\.1\.3\.2"):
        write(op, systeem, systeem, "ref", "20260101000000000", None)
    assert b"<ZKN:isGezetDoor " in write(op, systeem, systeem, "ref", "20260101000000000", Eenheid())


def test_the_serve_config_checks_gezet_door() -> None:
    assert render_settings({"gezet_door": {"identificatie": "X1"}}, RenderSettings(), "render").gezet_door == (
        Eenheid("X1", None))
    with pytest.raises(ConfigError, match=r"render\.gezet_door: expected identificatie \(max 24"):
        render_settings({"gezet_door": {"identificatie": "X" * 25}}, RenderSettings(), "render")
