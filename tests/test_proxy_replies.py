"""StUF replies and the rules around them, without servers: Bv03/Fo03 against the official StUF 03.01 schema,
how a downstream's answer is classified, the retry policy, and the sidecar's configuration file.

Why: the replies are what a vendor's system parses (a wrong element order breaks it), and the
classification decides between delivered, retry and dead letter — the heart of never losing a message.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from lxml import etree
from proxy_helpers import BV03, FO03, samples_dir

from gateway.deliver.downstream import RetryPolicy
from gateway.deliver.forwarder import DEAD, DELIVERED, RETRY, classify
from gateway.deliver.plan import original_referentienummer, plan, root_of
from gateway.deliver.replies import read_reply
from gateway.pipeline import Converter
from gateway.proxy.config import ConfigError
from gateway.proxy.config_file import from_dict, load, substitute
from gateway.render import stuf
from gateway.render.schemas import check, errors_of

ZENDER = stuf.Party("OVERSTAP", "98025566")
ONTVANGER = stuf.Party("ONBEKEND", "0384")


@pytest.fixture(scope="module", autouse=True)
def _schemas() -> None:
    samples_dir()  # skips the module when the reference folder (with the StUF schemas) is absent


def test_bv03_validates_against_stuf0301() -> None:
    xml = stuf.bv03(ZENDER, ONTVANGER, "1d8d1f0852bf", moment="20240102030405006")
    check(xml, "stuf")
    root = etree.fromstring(xml)
    assert root.tag == f"{{{stuf.STUF_NS}}}Bv03Bericht"
    assert root.findtext(f".//{{{stuf.STUF_NS}}}crossRefnummer") == "1d8d1f0852bf"
    assert root.findtext(f".//{{{stuf.STUF_NS}}}tijdstipBericht") == "20240102030405006"


def test_fo03_validates_even_with_long_and_awkward_text() -> None:
    fout = stuf.Fout("StUF055", "client", "clients.0.bsn <- m:Bsn: 'x<&>' " * 30, "line 3: " + "d" * 2000)
    xml = stuf.fo03(ZENDER, stuf.Party("AB"), "r" * 60, fout)
    check(xml, "stuf")  # omschrijving <= 200, details <= 1000, crossRef <= 40, applicatie >= 3
    root = etree.fromstring(xml)
    assert root.findtext(f".//{{{stuf.STUF_NS}}}code") == "StUF055"
    assert root.findtext(f".//{{{stuf.STUF_NS}}}plek") == "client"
    assert root.findtext(f".//{{{stuf.STUF_NS}}}omschrijving").startswith("clients.0.bsn <- m:Bsn: 'x<&>'")


@pytest.mark.parametrize("version", ["soap11", "soap12"])
def test_fault_carries_the_fo03_as_detail(version: stuf.SoapVersion) -> None:
    fout = stuf.Fout("StUF058", "server", "could not store")
    xml = stuf.fault(stuf.fo03(ZENDER, ONTVANGER, "x", fout), fout, version)
    root = etree.fromstring(xml)
    ns = stuf.SOAP_NS[version]
    assert root.tag == f"{{{ns}}}Envelope"
    fault = root.find(f"{{{ns}}}Body/{{{ns}}}Fault")
    assert fault is not None
    if version == "soap11":
        assert fault.findtext("faultcode") == "soap:Server"
        detail = fault.find("detail")
    else:
        assert fault.findtext(f"{{{ns}}}Code/{{{ns}}}Value") == "soap:Receiver"
        detail = fault.find(f"{{{ns}}}Detail")
    fo = detail[0]
    assert errors_of(fo, "stuf") == []
    assert read_reply(xml).code == "StUF058"


def test_read_reply_recognises_bv_fo_fault_and_junk() -> None:
    assert read_reply(BV03.format(ref="R1").encode()).kind == "bv"
    fo = read_reply(FO03.format(ref="R1", code="StUF055", omschrijving="zaaktype 123456782 onbekend").encode())
    assert (fo.kind, fo.berichtcode, fo.code, fo.plek) == ("fo", "Fo03", "StUF055", "client")
    assert "*******82" in fo.reason() and "123456782" not in fo.reason()  # BSN-like numbers are masked
    fault = read_reply(b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>'
                       b"<faultcode>s:Server</faultcode><faultstring>boom</faultstring></s:Fault></s:Body>"
                       b"</s:Envelope>")
    assert (fault.kind, fault.omschrijving) == ("fault", "boom")
    assert read_reply(b"").kind == "other"
    assert read_reply(b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>").kind == "other"  # parsed safely, not expanded


@pytest.mark.parametrize(("status", "body", "expect_bv", "result"), [
    (200, BV03.format(ref="R"), True, DELIVERED),
    (202, "", False, DELIVERED),
    (200, "<ok/>", True, DEAD),  # a StUF receiver must answer Bv03; anything else is not an acceptance
    (500, FO03.format(ref="R", code="StUF055", omschrijving="x"), True, DEAD),
    (500, FO03.format(ref="R", code="StUF046", omschrijving="opslaan niet mogelijk"), True, RETRY),
    (200, FO03.format(ref="R", code="StUF055", omschrijving="x"), True, DEAD),
    (400, "bad request", True, DEAD),
    (404, "", True, DEAD),
    (429, "", True, RETRY),
    (503, "", True, RETRY),
    (500, "<html>oops</html>", True, RETRY),
])
def test_classify(status: int, body: str, expect_bv: bool, result: str) -> None:
    assert classify(status, body.encode(), "text/xml", expect_bv).result == result


def test_retry_policy_grows_exponentially_with_jitter_and_a_cap() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=30.0, jitter=0.5)
    rng = random.Random(7)
    delays = [policy.delay(n, rng) for n in range(1, 9)]
    for n, d in enumerate(delays, 1):
        raw = min(30.0, 2 ** (n - 1))
        assert raw * 0.5 <= d <= raw
    assert len({round(d, 6) for d in delays}) == len(delays)
    assert RetryPolicy(jitter=0.0, base_delay=2.0).delay(3) == 8.0


def test_plan_per_mode_and_stable_references() -> None:
    original = (samples_dir() / "CasusA-02-WMO301_toewijzing.xml").read_bytes()
    conversion = Converter().convert(original)
    out = conversion.outputs[0]
    translate = plan("translate", conversion.outputs, original)
    assert [(d.target, d.referentienummer, d.order_key) for d in translate] == [("new", out.referentienummer,
                                                                                 out.zaak)]
    assert translate[0].soap_action == "http://www.egem.nl/StUF/sector/zkn/0310/creeerZaak_Lk01"  # ZDS, per operation
    assert root_of(translate[0].payload) == (stuf.SOAP11_NS, "Envelope")
    passthrough = plan("passthrough", conversion.outputs, original, "text/xml", '"urn:x"')
    assert passthrough[0].payload is original and passthrough[0].soap_action == "urn:x"
    assert passthrough[0].order_key == out.zaak  # the original stays in order with its zaak
    shadow = plan("shadow", conversion.outputs, original)
    assert [d.target for d in shadow] == ["new", "legacy"]
    assert original_referentienummer(conversion.outputs, original) == original_referentienummer(
        Converter().convert(original).outputs, original)
    assert plan("shadow", None, b"<junk/>")[0].order_key == original_referentienummer(None, b"<junk/>")


def test_config_file_with_environment_and_checks(tmp_path: Path) -> None:
    file = tmp_path / "overstap.yaml"
    file.write_text(
        "listen: {host: 0.0.0.0, port: 9000}\n"
        "data_dir: ./outbox\n"
        "admin_key: ${ADMIN}\n"
        "downstreams:\n"
        "  zs: {url: '${ZS_URL:-http://zs:8080/soap}', timeout: 5, concurrency: 4, headers: {X-Token: '${TOKEN}'}}\n"
        "  old: http://legacy/in\n"
        "retry: {max_attempts: 3, base_delay: 0.5}\n"
        "routes:\n"
        "  default: {downstream: zs}\n"
        "  vendor-x:\n"
        "    mode: shadow\n"
        "    downstream: zs\n"
        "    legacy_downstream: old\n"
        "    ack: delivered\n"
        "    api_keys: ['${KEY}']\n"
        "  inline: {mode: passthrough, legacy_downstream: 'http://other/in'}\n")
    cfg = load(file, {"ADMIN": "a-secret", "TOKEN": "t", "KEY": "k1"})
    assert (cfg.host, cfg.port, cfg.admin_key) == ("0.0.0.0", 9000, "a-secret")
    assert cfg.data_dir == tmp_path / "outbox"
    assert cfg.downstreams["zs"].url == "http://zs:8080/soap"
    assert cfg.downstreams["zs"].headers == {"X-Token": "t"}
    assert cfg.downstreams["zs"].retry.max_attempts == 3
    assert cfg.downstreams["zs"].expect_bv and not cfg.downstreams["old"].expect_bv
    assert cfg.routes["vendor-x"].api_keys == ["k1"] and cfg.routes["vendor-x"].ack == "delivered"
    assert cfg.targets()[("vendor-x", "legacy")].url == "http://legacy/in"
    assert cfg.targets()[("inline", "legacy")].url == "http://other/in"
    assert cfg.routes["vendor-x"].path == "/soap/vendor-x"
    with pytest.raises(ConfigError, match=r"admin_key: environment variable ADMIN is not set"):
        load(file, {"TOKEN": "t", "KEY": "k"})
    assert substitute({"a": ["$${literal}", "${X:-d}"]}, {}) == {"a": ["${literal}", "d"]}


@pytest.mark.parametrize(("doc", "message"), [
    ({"routes": {"default": {"mode": "fast"}}}, r"routes.default.mode: 'fast' is not one of"),
    ({"routes": {"default": {}}}, r"routes.default: mode translate needs a downstream"),
    ({"routes": {"default": {"downstream": "nope"}}}, r"'nope' is not defined under downstreams"),
    ({"routes": {"default": {"downstream": "http://x", "colour": 1}}}, r"unknown key\(s\) colour"),
    ({"routes": {"default": {"mode": "shadow", "downstream": "http://x"}}}, r"needs a legacy_downstream"),
    ({"downstreams": {"a": "ftp://x"}, "routes": {"default": {"downstream": "a"}}}, r"not an http\(s\) URL"),
    ({"routes": {}}, r"no routes"),
    ({"min_body_rates": 1, "routes": {"default": {"downstream": "http://x"}}}, r"unknown key\(s\) min_body_rates"),
    ({"max_body_buffer_bytes": 10_000_000, "routes": {"default": {"downstream": "http://x"}}},
     r"max_body_buffer_bytes: at least 26214400 \(max_body_bytes, or a GGk envelope's 25 MB\)"),
    ({"max_body_bytes": 40_000_000, "max_body_buffer_bytes": 30_000_000,
      "routes": {"default": {"downstream": "http://x"}}}, r"max_body_buffer_bytes: at least 40000000"),
    ({"body_rate_window": 0, "routes": {"default": {"downstream": "http://x"}}}, r"body_rate_window: seconds"),
    ({"min_body_rate": -1, "routes": {"default": {"downstream": "http://x"}}}, r"min_body_rate \(bytes a second\)"),
])
def test_config_mistakes_name_their_place(doc: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_dict(doc)
