"""``refuse: REASON`` at the sidecar: a message its route's mapping recognises and refuses on purpose is
answered with a Fo03 naming the reason (422, like any content refusal), kept in quarantine with that
reason, and counted in /metrics under a label of its own, apart from invalid messages (issue 12).

Why: operations must tell "the vendor sent a declaratie, which does not belong here" from "the vendor's
toewijzing is broken"; the first is a known, expected outcome, the second needs fixing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree
from proxy_helpers import Receiver, ServerThread, metric

from gateway.deliver import outbox
from gateway.mapping import Registry
from gateway.proxy.app import create_app
from gateway.proxy.config_file import from_dict
from gateway.proxy.converting import mapping_files
from gateway.proxy.service import Gateway
from gateway.render.schemas import errors_of

ROOT = Path(__file__).resolve().parents[1]
REGIE = ROOT / "mappings/examples/regie-attributes"
DECLARATIE = (REGIE / "fixtures/declaratie.xml").read_bytes()
REASON = "303 declaraties go to the gemeente's declaratieportaal, not through Overstap"
STUF = "{http://www.egem.nl/StUF/StUF0301}"


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Gateway]]:
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        cfg = from_dict({"data_dir": str(tmp_path_factory.mktemp("refuse")), "watch_mappings": False,
                         "convert_processes": 0, "downstreams": {"zs": ds.url}, "fault_status": "http",
                         "routes": {"regie": {"downstream": "zs",  # the example mappings, opted in by the route
                                              "mappings": [str(REGIE / "mapping.yaml"),
                                                           str(REGIE / "declaratie.yaml")]}}})
        gw = Gateway(cfg, Registry(files=mapping_files(cfg)))
        with ServerThread(create_app(cfg, gw)) as server:
            yield server.url, gw


def test_a_refused_message_gets_a_fo03_with_the_reason_is_kept_and_counted(sidecar: tuple[str, Gateway]) -> None:
    url, gw = sidecar
    invalid = metric(url, "overstap_rejected_total", route="regie", reason="invalid")
    response = httpx.post(url + "/soap/regie", content=DECLARATIE)
    assert response.status_code == 422
    fo = next(el for el in etree.fromstring(response.content).iter() if el.tag == f"{STUF}Fo03Bericht")
    assert errors_of(fo, "stuf") == []
    assert fo.findtext(f"{STUF}body/{STUF}code") == "StUF055"
    assert fo.findtext(f"{STUF}body/{STUF}plek") == "client"
    assert fo.findtext(f"{STUF}body/{STUF}omschrijving") == (
        f"refuse: refused by mapping 'example-regie-declaratie': {REASON}")
    assert b"12345672" not in response.content  # the message's BSN travels nowhere

    kept = outbox.message(outbox.connect(gw.db_path), int(response.headers["x-overstap-quarantine"]))
    assert kept["status"] == "quarantined" and bytes(kept["original"]) == DECLARATIE
    assert (kept["fault_code"], kept["fault_field"]) == ("StUF055", "refuse")
    assert kept["reason"] == f"refused by mapping 'example-regie-declaratie': {REASON}"

    assert metric(url, "overstap_rejected_total", route="regie", reason="refused") == 1
    assert metric(url, "overstap_rejected_total", route="regie", reason="invalid") == invalid


def test_a_broken_message_on_the_same_route_is_counted_as_invalid_not_refused(sidecar: tuple[str, Gateway]) -> None:
    url, _ = sidecar
    refused = metric(url, "overstap_rejected_total", route="regie", reason="refused")
    invalid = metric(url, "overstap_rejected_total", route="regie", reason="invalid")
    broken = DECLARATIE.replace(b'berichtsoort="declaratie"', b'berichtsoort="toewijzing"').replace(
        b'ingang="01-04-2024"', b'ingang="31-04-2024"', 1)
    response = httpx.post(url + "/soap/regie", content=broken)
    assert response.status_code == 422
    assert metric(url, "overstap_rejected_total", route="regie", reason="invalid") == invalid + 1
    assert metric(url, "overstap_rejected_total", route="regie", reason="refused") == refused
