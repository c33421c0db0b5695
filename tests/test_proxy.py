"""The sidecar end to end: the real gateway under uvicorn on 127.0.0.1 against real downstream servers.

Why: this is issue 5's contract — translate, passthrough and shadow deliver what they should; a
downstream that is down for a while gets everything once it is back, in order per zaak; a Fo ends
as a dead letter with its reason and a replay with the fixed mapping delivers it; a re-sent message
is acknowledged again but not delivered twice; mappings reload on change and a broken edit keeps
the old ones; logs are JSON without BSNs or payloads.
"""

from __future__ import annotations

import json
import logging
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from lxml import etree
from proxy_helpers import (
    BV03,
    FAST_RETRY,
    FIXTURES,
    SOAP11,
    SOAP12,
    Receiver,
    ServerThread,
    Start,
    free_port,
    metric,
    sample,
    soap11,
    soap12,
    variant,
    wait_for,
)

from gateway.cli import main
from gateway.deliver import outbox
from gateway.mapping import Registry, default_dirs
from gateway.proxy.app import create_app
from gateway.proxy.config_file import load
from gateway.proxy.healthcheck import check
from gateway.proxy.logs import JsonFormatter
from gateway.proxy.service import Gateway
from gateway.render.schemas import errors_of

STUF = "{http://www.egem.nl/StUF/StUF0301}"
ZKN = "{http://www.egem.nl/StUF/sector/zkn/0310}"
A01, A02, A04 = "CasusA-01-WMO315_verzoek.xml", "CasusA-02-WMO301_toewijzing.xml", "CasusA-04-WMO301_intrekking.xml"
B01 = "CasusB-01-WMO301_toewijzing.xml"
ZDS_ACTIONS = {f'"http://www.egem.nl/StUF/sector/zkn/0310/{op}_Lk01"' for op in ("creeerZaak", "updateZaak",
                                                                                   "actualiseerZaakstatus")}
UNKNOWN_DIALECT = b'<v:Bericht xmlns:v="urn:vendor:eigen"><v:Nummer>42</v:Nummer></v:Bericht>'




def stuf_reply(response: httpx.Response) -> etree._Element:
    """The Bv03Bericht/Fo03Bericht inside a reply envelope, checked against the StUF 03.01 schema."""
    root = etree.fromstring(response.content)
    found = [el for el in root.iter() if isinstance(el.tag, str) and el.tag.startswith(STUF)
             and el.tag.endswith("Bericht")]
    assert found, response.text
    assert errors_of(found[0], "stuf") == []
    return found[0]


def refs_of(response: httpx.Response) -> list[str]:
    return response.headers["x-overstap-referentienummers"].split(",")


def db(gw: Gateway) -> Any:
    return outbox.connect(gw.db_path)


def statuses(gw: Gateway) -> dict[str, str]:
    return {r["referentienummer"]: r["status"] for r in outbox.delivery_rows(db(gw), limit=None)}


def test_translate_answers_bv03_and_delivers_zaklk01_over_soap(start: Start) -> None:
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        gw_server, _gw = start({"default": {"downstream": "zs"}}, {"zs": ds.url + "/zaken"}, admin_key="adm")
        url = gw_server.url
        bare = httpx.post(url + "/soap", content=sample(A02), headers={"Content-Type": "text/xml"})
        wrapped = httpx.post(url + "/soap", content=soap11(sample(A01)),
                             headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"urn:wmo315"'})
        multi = (FIXTURES / "iwmo21" / "Multi-WMO301_twee_clienten.xml").read_bytes()
        v12 = httpx.post(url + "/soap", content=soap12(multi),
                         headers={"Content-Type": "application/soap+xml; charset=utf-8"})
        assert [r.status_code for r in (bare, wrapped, v12)] == [200, 200, 200]
        bv = stuf_reply(bare)
        assert bv.tag == f"{STUF}Bv03Bericht"
        assert bv.findtext(f"{STUF}stuurgegevens/{STUF}crossRefnummer") == "1d8d1f0852bf"
        assert bv.findtext(f"{STUF}stuurgegevens/{STUF}zender/{STUF}organisatie") == "98025566"
        assert bv.findtext(f"{STUF}stuurgegevens/{STUF}ontvanger/{STUF}organisatie") == "0384"
        assert v12.headers["content-type"].startswith("application/soap+xml")
        assert etree.fromstring(v12.content).tag == f"{{{SOAP12}}}Envelope"
        assert stuf_reply(v12).findtext(f"{STUF}stuurgegevens/{STUF}crossRefnummer") == "ovs21multi01"
        expected = refs_of(bare) + refs_of(wrapped) + refs_of(v12)
        assert len(expected) == 6  # one zaak each; the 2.1 fixture two clients with two toewijzingen
        assert wait_for(lambda: len(rec.received) == 6)
        assert sorted(rec.refs()) == sorted(expected)
        for got in rec.received:
            assert got.path == "zaken" and got.soap_action in ZDS_ACTIONS
            assert got.content_type == "text/xml; charset=utf-8"
            envelope = etree.fromstring(got.body)
            assert envelope.tag == f"{{{SOAP11}}}Envelope"
            zaak = envelope[0][0]
            assert zaak.tag == f"{ZKN}zakLk01" and errors_of(zaak, "zkn") == []
            assert zaak.findtext(f"{ZKN}stuurgegevens/{STUF}referentienummer") == got.referentienummer
        assert metric(url, "overstap_received_total", route="default") == 3
        assert metric(url, "overstap_converted_total", route="default") == 3
        assert metric(url, "overstap_acknowledged_total", route="default") == 3
        assert wait_for(lambda: metric(url, "overstap_delivered_total", route="default", target="new") == 6)
        assert metric(url, "overstap_queue_depth", route="default", target="new") == 0
        assert metric(url, "overstap_conversion_seconds_count", route="default") == 3
        ready = httpx.get(url + "/readyz")
        assert ready.status_code == 200 and ready.json()["downstreams"] == {"zs": True}
        assert check({"OVERSTAP_HEALTH_URL": url + "/healthz"})
        assert not check({"OVERSTAP_HEALTH_URL": f"http://127.0.0.1:{free_port()}/healthz"})
        assert httpx.get(url + "/admin/outbox").status_code == 401
        admin = httpx.get(url + "/admin/outbox", headers={"X-Admin-Key": "adm"})
        assert admin.status_code == 200
        assert {"route": "default", "target": "new", "status": "delivered", "count": 6} in admin.json()["deliveries"]


def test_a_resent_message_is_acknowledged_again_but_delivered_once(start: Start) -> None:
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        gw_server, gw = start({"default": {"downstream": ds.url}}, {})
        first = httpx.post(gw_server.url + "/soap", content=sample(A02))
        assert wait_for(lambda: len(rec.received) == 1)
        again = httpx.post(gw_server.url + "/soap", content=sample(A02))
        rewrapped = httpx.post(gw_server.url + "/soap", content=soap11(sample(A02)))  # other bytes, same message
        assert [r.status_code for r in (first, again, rewrapped)] == [200, 200, 200]
        assert stuf_reply(again).tag == f"{STUF}Bv03Bericht"
        # a re-send (the same bytes, or the same message in another envelope) is answered with what the message
        # became the first time: its referentienummers, nothing new to deliver (v2 renders new ones every time)
        assert refs_of(again) == refs_of(rewrapped) == refs_of(first) and len(refs_of(first)[0]) == 36
        assert again.headers["x-overstap-duplicate"] == rewrapped.headers["x-overstap-duplicate"] == "true"
        wait_for(lambda: False, timeout=0.3)  # give a wrong second delivery the chance to happen
        assert rec.refs() == refs_of(first)
        rows = db(gw).execute("SELECT times_received FROM message").fetchall()
        assert [r[0] for r in rows] == [3]  # one message, received three times


def test_passthrough_forwards_the_original_unchanged_and_records_it(start: Start) -> None:
    legacy = Receiver()
    with ServerThread(legacy.app()) as old:
        gw_server, gw = start({"default": {"mode": "passthrough", "legacy_downstream": "old"},
                               "relay": {"mode": "passthrough", "legacy_downstream": "old", "ack": "delivered"}},
                              {"old": {"url": old.url + "/ontvang", "expect_bv": False}})
        sent = soap11(sample(B01))
        r1 = httpx.post(gw_server.url + "/soap", content=sent,
                        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"urn:legacy:wmo301"'})
        r2 = httpx.post(gw_server.url + "/soap", content=UNKNOWN_DIALECT, headers={"Content-Type": "text/xml"})
        assert (r1.status_code, r2.status_code) == (200, 200)
        assert wait_for(lambda: len(legacy.received) == 2)
        by_body = {r.body: r for r in legacy.received}
        assert set(by_body) == {sent, UNKNOWN_DIALECT}  # byte for byte
        assert by_body[sent].soap_action == '"urn:legacy:wmo301"'
        assert by_body[UNKNOWN_DIALECT].soap_action is None
        rows = {r["source_ref"]: r for r in outbox.message_rows(db(gw))}
        assert rows["506b94c1386c"]["mapping"] == "iwmo20-wmo301"  # what the vendor sends, learnt
        unknown = next(r for r in rows.values() if r["mapping"] is None)
        assert unknown["fault_field"] == "dialect" and "unknown dialect" in unknown["reason"]
        assert metric(gw_server.url, "overstap_unconverted_total", route="default", reason="unknown_dialect") == 1
        assert metric(gw_server.url, "overstap_rejected_total") == 0
        relayed = httpx.post(gw_server.url + "/soap/relay", content=sample(A01))  # ack: delivered
        (ref,) = refs_of(relayed)
        assert relayed.status_code == 200 and relayed.content == BV03.format(ref=ref).encode()  # the partner's own


def test_shadow_sends_both_ways_and_reports_where_they_differ(start: Start) -> None:
    legacy, new = Receiver(), Receiver(fo_when=b"658721123")  # the new system refuses B-01's beschikking
    with ServerThread(legacy.app()) as old, ServerThread(new.app()) as zs:
        gw_server, gw = start({"default": {"mode": "shadow", "downstream": "zs", "legacy_downstream": "old"}},
                              {"zs": zs.url, "old": {"url": old.url, "expect_bv": False}})
        for body in (sample(A02), sample(B01), UNKNOWN_DIALECT):
            assert httpx.post(gw_server.url + "/soap", content=body).status_code == 200
        assert wait_for(lambda: len(legacy.received) == 3 and len(new.received) == 1
                        and sorted(statuses(gw).values()) == ["dead"] + ["delivered"] * 4)
        # A-02 went to the new system: its one zaak, with the BeschikkingNummer as kenmerk
        assert new.received[0].body.count(b"<ZKN:kenmerk>425386123</ZKN:kenmerk>") == 1
        result = CliRunner().invoke(main, ["shadow", "report", "--data-dir", str(gw.config.data_dir), "--json"])
        assert result.exit_code == 0, result.output
        report = json.loads(result.output)
        assert report["summary"] == {"both accepted": 1, "legacy only": 2, "new only": 0, "both refused": 0,
                                     "no output": 0, "pending": 0, "unknown": 0}
        assert report["with unmapped input"] == 0
        lines = {m["source_ref"]: m for m in report["messages"]}
        assert lines["1d8d1f0852bf"]["verdict"] == "both accepted"
        b01 = lines["506b94c1386c"]
        assert b01["verdict"] == "legacy only"
        assert "Fo03 StUF055" in b01["differences"][0] and "zaaktype onbekend" in b01["differences"][0]
        unknown = lines[None]
        assert unknown["new"][0]["status"] == "not converted" and "unknown dialect" in unknown["differences"][0]
        text = CliRunner().invoke(main, ["shadow", "report", "--data-dir", str(gw.config.data_dir),
                                         "--differences"]).output
        assert "3 shadow message(s): 1 both accepted, 2 legacy only" in text and "1d8d1f0852bf" not in text
        assert "; 0 with unmapped input (values the new side never got)" in text


def test_a_downstream_down_for_a_while_gets_everything_in_order_once_back(start: Start) -> None:
    port = free_port()
    downstream = {"url": f"http://127.0.0.1:{port}/zs", "connect_timeout": 0.5, "circuit_threshold": 3,
                  "retry": {"max_attempts": 3, "base_delay": 0.05, "max_delay": 0.2}}  # an outage outlasts 3 tries
    gw_server, gw = start({"default": {"downstream": "zs"}}, {"zs": downstream})
    sent: dict[int, list[str]] = {}
    for n in range(20):
        zaak = n % 4
        response = httpx.post(gw_server.url + "/soap", content=variant(sample(A02), n, zaak))
        assert response.status_code == 200  # stored is enough for a Bv03, downstream or not
        sent.setdefault(zaak, []).extend(refs_of(response))
    assert wait_for(lambda: metric(gw_server.url, "overstap_retried_total", route="default", target="new") >= 15)
    assert metric(gw_server.url, "overstap_dead_lettered_total") == 0  # unreachable attempts are not counted
    ready = httpx.get(gw_server.url + "/readyz")
    assert ready.status_code == 503 and ready.json()["downstreams"] == {"zs": False}
    assert metric(gw_server.url, "overstap_queue_depth", route="default", target="new") == 20
    rec = Receiver()
    with ServerThread(rec.app(), port=port):
        assert wait_for(lambda: len(rec.received) == 20, timeout=30)
        received = rec.refs()
        assert sorted(received) == sorted(r for refs in sent.values() for r in refs)  # each exactly once
        for refs in sent.values():  # per zaak in the order they came in
            assert [r for r in received if r in refs] == refs
        assert wait_for(lambda: set(statuses(gw).values()) == {"delivered"})
        assert metric(gw_server.url, "overstap_dead_lettered_total") == 0
        assert wait_for(lambda: httpx.get(gw_server.url + "/readyz").status_code == 200, timeout=10)


def test_a_failing_message_holds_back_only_its_own_zaak(start: Start, registry: Registry) -> None:
    from gateway.pipeline import Converter

    first_message = variant(sample(A02), 1, 1)
    zaak = Converter(registry).convert(first_message).outputs[0].zaak
    assert zaak is not None
    rec = Receiver(fail_when=zaak.encode())  # a 500 for this zaak: it is retried, and holds back its zaak only
    with ServerThread(rec.app()) as ds:
        gw_server, _gw = start({"default": {"downstream": ds.url}}, {})
        first = httpx.post(gw_server.url + "/soap", content=first_message)
        (stuck,) = refs_of(first)
        behind = refs_of(httpx.post(gw_server.url + "/soap", content=variant(sample(A02), 2, 1)))[0]
        others = [refs_of(httpx.post(gw_server.url + "/soap", content=variant(sample(A02), 10 + n, 100 + n)))[0]
                  for n in range(5)]
        assert wait_for(lambda: set(others) <= set(rec.refs()))
        assert wait_for(lambda: metric(gw_server.url, "overstap_retried_total") >= 3)
        assert stuck not in rec.refs() and behind not in rec.refs()
        rec.fail_when = None
        assert wait_for(lambda: behind in rec.refs(), timeout=20)
        refs = rec.refs()
        assert refs.index(stuck) < refs.index(behind)


def test_ack_delivered_answers_with_the_downstreams_verdict(start: Start) -> None:
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        gw_server, _gw = start({"default": {"downstream": ds.url, "ack": "delivered", "ack_timeout": 10}}, {})
        ok = httpx.post(gw_server.url + "/soap", content=sample(A02))
        assert ok.status_code == 200 and stuf_reply(ok).tag == f"{STUF}Bv03Bericht"
        assert rec.refs() == refs_of(ok)  # delivered before the sender heard back
        rec.behaviour = "fo"
        refused = httpx.post(gw_server.url + "/soap", content=sample(B01))
        assert refused.status_code == 500  # a SOAP 1.1 Fault (fault_status: soap, the default)
        fo = stuf_reply(refused)
        assert fo.tag == f"{STUF}Fo03Bericht"
        assert fo.findtext(f"{STUF}body/{STUF}code") == "StUF055"
        assert fo.findtext(f"{STUF}body/{STUF}plek") == "client"
        omschrijving = fo.findtext(f"{STUF}body/{STUF}omschrijving") or ""
        assert omschrijving.startswith("refused downstream: Fo03 StUF055 (client)")  # its text stays in the outbox
        assert "zaaktype onbekend" not in omschrijving
        assert fo.findtext(f"{STUF}stuurgegevens/{STUF}crossRefnummer") == "506b94c1386c"


VENDOR_MAPPING = """overstap-mapping: 1
name: test-vendor-{name}
title: a vendor whose zaaktype needs fixing
extends: iwmo20-wmo301
match:
  namespace: http://www.istandaarden.nl/iwmo/2_0/wmo301/schema/2_0
  root: Bericht
  route: {route}
render:
  zaaktype: {{wmo.toewijzing: {zaaktype}}}
  omschrijving: "{omschrijving} {{client}}"
"""


def test_a_downstream_fo_is_a_dead_letter_until_replayed_as_stored(tmp_path: Path, registry: Registry) -> None:
    """The receiver refuses a zaaktype its catalogue lacks; once it has it, a replay sends the same output again
    (same referentienummer: rendered against the ledger once, never anew)."""
    rec = Receiver(fo_when=b"BADTYPE")
    mapping = tmp_path / "vendor.yaml"
    mapping.write_text(VENDOR_MAPPING.format(name="x", route="vendorx", zaaktype="BADTYPE", omschrijving="Toewijzing"))
    with ServerThread(rec.app()) as ds:
        config = tmp_path / "overstap.yaml"
        config.write_text(f"data_dir: data\npoll_interval: 0.1\nwatch_mappings: false\nconvert_processes: 0\n"
                          f"retry: {json.dumps(FAST_RETRY)}\n"
                          f"downstreams: {{zs: '{ds.url}/zs'}}\n"
                          "routes:\n  vendorx: {mapping: vendor.yaml, downstream: zs}\n")
        cfg = load(config)
        gw = Gateway(cfg, registry)
        with ServerThread(create_app(cfg, gw)) as gw_server:
            sent = httpx.post(gw_server.url + "/soap/vendorx", content=sample(A02))
            assert sent.status_code == 200
            (ref,) = refs_of(sent)
            assert wait_for(lambda: statuses(gw).get(ref) == "dead")
            row = outbox.delivery_rows(db(gw), status="dead")[0]
            assert row["reply_code"] == "Fo03 StUF055" and row["http_status"] == 500
            assert "zaaktype onbekend" in row["reason"] and row["attempts"] == 1
            assert metric(gw_server.url, "overstap_dead_lettered_total", route="vendorx", target="new") == 1
            listed = CliRunner().invoke(main, ["outbox", "list", "--config", str(config), "--status", "dead"])
            assert ref in listed.output and "zaaktype onbekend" in listed.output
            rec.fo_when = None  # the zaaksysteem's catalogue now has the zaaktype
            replayed = CliRunner().invoke(main, ["outbox", "replay", "--all-dead", "--config", str(config)])
            assert replayed.exit_code == 0, replayed.output
            assert "queued again as stored" in replayed.output
            assert wait_for(lambda: rec.refs() == [ref])  # the running gateway picked the replay up
            assert b"<ZKN:code>BADTYPE</ZKN:code>" in rec.received[0].body
            assert wait_for(lambda: statuses(gw)[ref] == "delivered")
            assert outbox.delivery_rows(db(gw))[0]["replays"] == 1


def test_mappings_reload_on_change_and_a_broken_edit_keeps_the_old_ones(tmp_path: Path, start: Start) -> None:
    folder = tmp_path / "maps"
    folder.mkdir()
    mapping = folder / "vendor.yaml"
    mapping.write_text(VENDOR_MAPPING.format(name="r", route="vendor", zaaktype="WMO301", omschrijving="Versie een"))
    reg = Registry(dirs=[*default_dirs(), folder])
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        gw_server, gw = start({"vendor": {"downstream": ds.url, "mapping": "test-vendor-r"}}, {}, reg=reg,
                              watch_mappings=True, watch_interval=0.1, convert_processes=1)  # a worker process
        assert gw.conversion.pool is not None
        url = gw_server.url + "/soap/vendor"
        posted = [httpx.post(url, content=variant(sample(A02), 1, 1))]
        mapping.write_text("overstap-mapping: 1\nname: test-vendor-r\nrules: [unclosed\n")
        assert wait_for(lambda: metric(gw_server.url, "overstap_mapping_reloads_total", result="failed") >= 1)
        posted.append(httpx.post(url, content=variant(sample(A02), 2, 2)))  # the old mapping still serves
        assert "last_reload_errors" in httpx.get(gw_server.url + "/readyz").json()
        mapping.write_text(VENDOR_MAPPING.format(name="r", route="vendor", zaaktype="WMO301",
                                                 omschrijving="Versie twee"))
        assert wait_for(lambda: metric(gw_server.url, "overstap_mapping_reloads_total", result="ok") >= 1)
        posted.append(httpx.post(url, content=variant(sample(A02), 3, 3)))
        assert [p.status_code for p in posted] == [200] * 3
        assert wait_for(lambda: len(rec.received) == 3)
        by_ref = {r.referentienummer: r.body for r in rec.received}  # three zaken: delivered in any order
        texts = [by_ref[ref] for p in posted for ref in refs_of(p)]
        assert b"Versie een 1" in texts[0] and b"Versie een 1" in texts[1] and b"Versie twee 1" in texts[2]


def test_logs_are_json_and_never_hold_a_bsn_or_the_payload(start: Start, caplog: pytest.LogCaptureFixture) -> None:
    rec = Receiver()
    with ServerThread(rec.app()) as ds, caplog.at_level(logging.DEBUG):
        gw_server, _gw = start({"default": {"downstream": ds.url}}, {})
        httpx.post(gw_server.url + "/soap", content=sample(A02))
        broken = sample(A02).replace(b"<wmo301:Geslacht>1</wmo301:Geslacht>", b"<wmo301:Geslacht>7</wmo301:Geslacht>")
        refused = httpx.post(gw_server.url + "/soap", content=broken)
        assert refused.status_code == 500 and b"Fo03Bericht" in refused.content
        assert wait_for(lambda: len(rec.received) == 1)
    formatter = JsonFormatter()
    lines = [formatter.format(r) for r in caplog.records if r.name.startswith("overstap")]
    records = {r["msg"]: r for r in map(json.loads, lines)}
    accepted = records["message 1 accepted on route default (translate): 1 delivery(ies) queued"]
    assert [accepted[k] for k in ("level", "message_id", "queued", "duplicate")] == ["info", 1, 1, False]
    refusal = records["message refused on route default: StUF055 clients.0.geslacht <- m:Geslacht"]
    assert [refusal[k] for k in ("level", "code", "line", "reason")] == ["warning", "StUF055", 25, "invalid"]
    for line in lines:
        assert "123456782" not in line and "Gaastra" not in line and "<wmo301:" not in line
    record = logging.makeLogRecord({"msg": "bsn %s in error", "args": ("123456782",), "name": "x"})
    assert json.loads(formatter.format(record))["msg"] == "bsn *******82 in error"


def test_ggk_in_and_out(start: Start) -> None:
    """A StUF-GGk Di01 envelope comes in (its referentienummer answered); a ggk route sends Di01 envelopes."""
    from gateway.pipeline import Converter

    envelope = Converter(profile="ggk").convert(sample(B01)).outputs[0]
    zaken, ggk = Receiver(), Receiver()
    with ServerThread(zaken.app()) as zs, ServerThread(ggk.app()) as isd:
        gw_server, _gw = start({"default": {"downstream": "zs"},
                                "isd": {"downstream": "isd", "profile": "ggk"}},
                               {"zs": zs.url, "isd": {"url": isd.url, "soap_action": "urn:isd:Di01"}})
        response = httpx.post(gw_server.url + "/soap", content=soap11(envelope.xml))
        assert response.status_code == 200
        bv = stuf_reply(response)
        assert bv.findtext(f"{STUF}stuurgegevens/{STUF}crossRefnummer") == envelope.referentienummer
        assert wait_for(lambda: len(zaken.received) == 1)
        assert b"<ZKN:zakLk01" in zaken.received[0].body and b"658721123" in zaken.received[0].body
        out = httpx.post(gw_server.url + "/soap/isd", content=sample(B01))
        assert out.status_code == 200
        assert wait_for(lambda: len(ggk.received) == 1)
        got = ggk.received[0]
        assert got.soap_action == '"urn:isd:Di01"'  # the downstream's own SOAPAction setting wins
        di01 = etree.fromstring(got.body)[0][0]
        assert etree.QName(di01).localname == "envelopHeenbericht-ggk_Di01" and errors_of(di01, "ggk") == []
        # offered again (in a SOAP envelope this time): a Di01 has a new random UUID for every rendering, so
        # only the outbox's memory of the message keeps it from being queued twice
        again = httpx.post(gw_server.url + "/soap/isd", content=soap11(sample(B01)))
        assert again.status_code == 200 and again.headers["x-overstap-duplicate"] == "true"
        assert refs_of(again) == refs_of(out) == [got.referentienummer]
        wait_for(lambda: False, timeout=0.3)  # give a wrong second delivery the chance to happen
        assert len(ggk.received) == 1


def test_admin_reload_and_replay(start: Start) -> None:
    rec = Receiver(behaviour="fo")
    with ServerThread(rec.app()) as ds:
        gw_server, gw = start({"default": {"downstream": ds.url}}, {}, admin_key="geheim")
        (ref,) = refs_of(httpx.post(gw_server.url + "/soap", content=sample(A02)))
        assert wait_for(lambda: statuses(gw).get(ref) == "dead")
        delivery_id = outbox.delivery_rows(db(gw))[0]["id"]
        admin = {"Authorization": "Bearer geheim"}
        assert httpx.post(gw_server.url + "/admin/replay", json={"ids": [delivery_id]}).status_code == 401
        rec.behaviour = "bv"
        replay = httpx.post(gw_server.url + "/admin/replay", json={"ids": [delivery_id]}, headers=admin)
        assert replay.status_code == 200 and replay.json()["results"][0]["ok"] is True
        assert wait_for(lambda: rec.refs() == [ref])
        reload = httpx.post(gw_server.url + "/admin/reload", headers={"X-Admin-Key": "geheim"}, timeout=60)
        assert reload.status_code == 200 and reload.json()["reloaded"] is True
        assert "iwmo20-wmo301" in reload.json()["mappings"]
        assert metric(gw_server.url, "overstap_rejected_total", route="admin", reason="auth") == 1


def test_a_conversion_worker_that_dies_is_replaced(start: Start) -> None:
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        gw_server, gw = start({"default": {"downstream": ds.url}}, {}, convert_processes=1)
        assert httpx.post(gw_server.url + "/soap", content=variant(sample(A02), 1, 1)).status_code == 200
        pool = gw.conversion.pool
        assert pool is not None
        killed = set(pool.pids())
        for pid in killed:  # as if the kernel's OOM killer took it
            os.kill(pid, signal.SIGKILL)
        after = httpx.post(gw_server.url + "/soap", content=variant(sample(A02), 2), timeout=60)
        assert after.status_code == 200 and stuf_reply(after).tag == f"{STUF}Bv03Bericht"
        assert pool.pids() and not killed & set(pool.pids())
        assert wait_for(lambda: len(rec.received) == 2)
