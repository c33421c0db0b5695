"""A received GGk Di01 is remembered alike by ``convert``, the sidecar and the batch.

Why: a retour (302) to a heenbericht (301) that came in through the ISD-keten must go out in a Du01 whose
crossRefnummer is the UUID of the Di01 it came in (GGk spec 3.3, docs/ggk-profile.md 2.1). ``convert`` passed
the envelope's facts to the render step; the sidecar and the batch map in a worker and render elsewhere, and
lost them on the way, so their Du01 was refused (or, had the ledger known an older Di01, pointed at that one).
Each shell is run for real: the sidecar under uvicorn on 127.0.0.1, the batch on a folder of files.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from lxml import etree
from proxy_helpers import Receiver, ServerThread, Start, soap11, wait_for
from shared_registry import shared_registry

from gateway.batch import BatchOptions, run
from gateway.pipeline import Converter

FAMILIES = Path(__file__).resolve().parent / "fixtures" / "iwmo21" / "families"
RETOUR = FAMILIES / "CasusA-02-WMO302_retour_akkoord.xml"
HEEN = FAMILIES.parent / "CasusA-02-WMO301_toewijzing.xml"
RECEIVED = "0e09a81f-64a0-4793-b946-d6538fb3f37e"
"""The referentienummer of the Di01 the 301 came in, written by hand (a UUIDv4 of no envelope Overstap made)."""
STUF = "{http://www.egem.nl/StUF/StUF0301}"
GGK = "{http://www.stufstandaarden.nl/sectormodel/ggk/0210}"


def heen() -> bytes:
    """The 301 with the header the 302 fixture echoes (Afzender, Ontvanger, Identificatie, Dagtekening)."""
    data, echoed = HEEN.read_bytes(), RETOUR.read_bytes()
    for tag in (b"Afzender", b"Ontvanger", b"Identificatie", b"Dagtekening"):
        found = re.search(rb":" + tag + rb">([^<]*)<", echoed)
        assert found is not None, tag
        data = re.sub(rb"(:" + tag + rb">)[^<]*", rb"\g<1>" + found.group(1), data, count=1)
    return data


def received_di01() -> bytes:
    """The 301 as it arrives from the ISD-keten: in a Di01 whose referentienummer is :data:`RECEIVED`."""
    made = Converter(shared_registry(), profile="ggk").convert(heen(), "301.xml").outputs[0].xml
    return re.sub(rb"(<StUF:referentienummer>)[^<]+", rb"\g<1>" + RECEIVED.encode(), made, count=1)


def cross_ref(du01: bytes) -> str | None:
    root = etree.fromstring(du01)
    envelope = root if root.tag.startswith(GGK) else next(e for e in root.iter() if str(e.tag).startswith(GGK))
    assert etree.QName(envelope).localname == "envelopRetourbericht-ggk_Du01"
    return envelope.findtext(f"{GGK}stuurgegevens/{STUF}crossRefnummer")


def test_convert_points_the_du01_at_the_received_di01() -> None:
    """The reference behaviour: one converter (one ledger), the Di01 received in profile zkn, the 302 in ggk."""
    zkn = Converter(shared_registry())
    zkn.convert(received_di01(), "di01.xml")
    du01 = Converter(shared_registry(), profile="ggk", ledger=zkn.ledger).convert(RETOUR.read_bytes(),
                                                                           "302.xml").outputs[0].xml
    assert cross_ref(du01) == RECEIVED


def test_sidecar_points_the_du01_at_the_received_di01(start: Start) -> None:
    """A Di01 posted to a zkn route, then the 302 to a ggk route of the same gateway (one zaak ledger)."""
    zaken, isd = Receiver(), Receiver()
    with ServerThread(zaken.app()) as zs, ServerThread(isd.app()) as ggk:
        server, _gw = start({"default": {"downstream": "zs"}, "isd": {"downstream": "isd", "profile": "ggk"}},
                            {"zs": zs.url, "isd": ggk.url})
        first = httpx.post(server.url + "/soap", content=soap11(received_di01()), timeout=30)
        assert first.status_code == 200, first.text
        answer = httpx.post(server.url + "/soap/isd", content=RETOUR.read_bytes(), timeout=30)
        assert answer.status_code == 200, answer.text
        assert wait_for(lambda: len(isd.received) == 1)
        assert cross_ref(isd.received[0].body) == RECEIVED


def test_batch_points_the_du01_at_the_received_di01(tmp_path: Path) -> None:
    """Two batch runs on one --state folder: the Di01 in profile zkn, then the 302 in profile ggk."""
    state = tmp_path / "state"
    (tmp_path / "in1").mkdir()
    (tmp_path / "in1" / "di01.xml").write_bytes(received_di01())
    (tmp_path / "in2").mkdir()
    (tmp_path / "in2" / "302.xml").write_bytes(RETOUR.read_bytes())
    first = run(BatchOptions([tmp_path / "in1"], tmp_path / "out1", workers=1, progress="quiet", state=str(state)))
    assert first.exit_code == 0
    second = run(BatchOptions([tmp_path / "in2"], tmp_path / "out2", profile="ggk", workers=1, progress="quiet",
                              state=str(state)))
    lines = [json.loads(line) for line in (tmp_path / "out2" / "report.jsonl").read_text().splitlines()]
    assert second.exit_code == 0, lines
    (output,) = lines[0]["outputs"]
    assert cross_ref((tmp_path / "out2" / output).read_bytes()) == RECEIVED


def test_in_profile_ggk_the_retour_answers_the_di01_overstap_sent() -> None:
    """Not a shell difference, for the record: in profile ggk the received 301 is sent on in a Di01 of Overstap's
    own, which the ledger then names (docs/ggk-profile.md 2.1); the shells share this step (Converter.render)."""
    converter = Converter(shared_registry(), profile="ggk")
    sent = converter.convert(received_di01(), "di01.xml").outputs[0]
    du01 = converter.convert(RETOUR.read_bytes(), "302.xml").outputs[0].xml
    assert cross_ref(du01) == sent.referentienummer != RECEIVED
