"""The operator console over HTTP (issue 15): a real gateway with the console on, a real downstream, the
public A and B chains posted. What an operator relies on: the list and its filters, the message page,
replaying a dead letter once the downstream is fixed; and what must never happen: a viewer replaying, a
POST without the CSRF token, a full BSN in a page, an address, a log line or the audit log.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from console_helpers import (
    ADMIN_KEY,
    BSN,
    CHAINS,
    Running,
    console_config,
    csrf_of,
    failing_chains,
    hidden_fields,
    login,
    start_with_chains,
    wait_settled,
)
from proxy_helpers import Receiver, ServerThread, Start, sample, soap11, wait_for

from gateway.mapping import Registry

HREF = re.compile(r'(?:href|action)="([^"]+)"')
PRE = re.compile(r"<pre[^>]*>.*?</pre>", re.S)


@pytest.fixture
def failing(start: Start) -> Iterator[Running]:
    with failing_chains(start) as running:
        yield running


def no_full_bsn(html: str, where: str) -> None:
    assert BSN not in html, f"full BSN on {where}"
    for link in HREF.findall(html):
        assert BSN not in link, f"full BSN in a link on {where}: {link}"


def test_list_filter_message_and_replay_of_a_dead_letter(failing: Running, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    otto = login(failing.gateway.url, "otto")
    listing = otto.get("/console/messages")
    assert listing.status_code == 200
    assert listing.headers["content-security-policy"].startswith("default-src 'none'")
    assert "script" not in listing.text.lower()
    no_full_bsn(listing.text, "the message list")
    assert "*******82" in listing.text  # the client, masked, via the zaak ledger
    assert listing.text.count('class="status-accepted"') == 6
    dead = otto.get("/console/messages", params={"status": "dead"})
    assert dead.text.count('class="status-accepted"') == 6  # every message has a dead letter
    assert otto.get("/console/messages", params={"status": "quarantined"}).text.count("status-accepted") == 0
    assert otto.get("/console/messages", params={"route": "nosuch"}).text.count("status-accepted") == 0
    assert otto.get("/console/messages", params={"from": "2000-01-01", "to": "2000-01-02"}).text.count(
        "status-accepted") == 0
    first = int(re.findall(r'href="/console/messages/(\d+)"', listing.text)[-1])  # the oldest: the 315

    page = otto.get(f"/console/messages/{first}")
    assert page.status_code == 200
    assert "WMO315" in page.text and "StUF055" in page.text  # what it was, and the downstream's Fo03 code
    assert "&lt;" in page.text  # payloads escaped, not markup
    assert "Mapping lineage" in page.text and "wmo315.yaml:" in page.text  # overstap explain, per field
    no_full_bsn(PRE.sub("", page.text), "the message page outside the payloads")
    replay_link = re.search(r'href="(/console/deliveries/(\d+)/replay)"', page.text)
    assert replay_link, "an operator sees Replay on a dead letter"
    delivery_id = int(replay_link.group(2))

    confirm = otto.get(replay_link.group(1))
    assert confirm.status_code == 200 and "Yes, replay" in confirm.text
    no_full_bsn(confirm.text, "the replay confirmation")
    missing = otto.post(replay_link.group(1), data={"confirm": "yes"})
    assert missing.status_code == 403  # no CSRF token: refused before anything happens
    wrong = otto.post(replay_link.group(1), data={"confirm": "yes", "csrf": "0" * 64})
    assert wrong.status_code == 403

    failing.receiver.behaviour = "bv"  # the downstream is fixed
    done = otto.post(replay_link.group(1), data={"confirm": "yes", "csrf": csrf_of(confirm.text)})
    assert done.status_code == 200 and "Queued again" in done.text, done.text
    status = re.search(r'<span class="pill (\w+)">\w+</span> after \d+ attempt\(s\), (\d+) replay', done.text)
    assert status and status.group(1) != "dead" and status.group(2) == "1", "the result shows the delivery now"
    assert wait_for(lambda: len(failing.receiver.received) == 1, timeout=30)
    assert wait_for(lambda: "delivered" in otto.get(f"/console/messages/{first}").text)
    after = otto.get(f"/console/messages/{first}").text
    assert f"/console/deliveries/{delivery_id}/replay" not in after  # delivered now: no button
    again = otto.post(replay_link.group(1), data={"confirm": "yes", "csrf": csrf_of(confirm.text)})
    assert again.status_code == 409 and len(failing.receiver.received) == 1  # a second click sends nothing

    audit = (tmp_path / "data" / "console-audit.jsonl").read_text().splitlines()  # the start fixture's data_dir
    entries = [json.loads(line) for line in audit]
    assert {"user": "otto", "action": "view_payload", "message_id": first}.items() <= entries[1].items()
    assert any(e["action"] == "replay" and e["delivery_id"] == delivery_id and e["ok"] for e in entries)
    assert BSN not in "\n".join(audit)
    assert not [r for r in caplog.records if BSN in r.getMessage()], "a log line carries the full BSN"


def test_a_viewer_looks_but_cannot_replay(failing: Running) -> None:
    vera = login(failing.gateway.url, "vera")
    listing = vera.get("/console/messages")
    first = int(re.findall(r'href="/console/messages/(\d+)"', listing.text)[-1])
    page = vera.get(f"/console/messages/{first}")
    assert page.status_code == 200 and "/replay" not in page.text
    otto = login(failing.gateway.url, "otto")
    link = re.search(r'href="(/console/deliveries/\d+/replay)"', otto.get(f"/console/messages/{first}").text)
    assert link
    assert vera.get(link.group(1)).status_code == 403
    token = csrf_of(page.text)  # vera's own valid token: the role still says no
    assert vera.post(link.group(1), data={"confirm": "yes", "csrf": token}).status_code == 403
    assert failing.receiver.received == []


def test_login_is_needed_and_checked(failing: Running) -> None:
    anonymous = httpx.Client(base_url=failing.gateway.url, timeout=30)
    for path in ("/console/messages", "/console/messages/1", "/console/health", "/console/clients"):
        r = anonymous.get(path)
        assert r.status_code == 303 and r.headers["location"].endswith("/console/login")
    page = anonymous.get("/console/login")
    refused = anonymous.post("/console/login", data={"csrf": csrf_of(page.text), "user": "otto", "password": "nee"})
    assert refused.status_code == 401
    no_token = anonymous.post("/console/login", data={"user": "otto", "password": "herstellen-mag"})
    assert no_token.status_code == 403
    huge = anonymous.post("/console/login", data={"csrf": csrf_of(page.text), "user": "otto", "x": "y" * 100_000,
                                                  "password": "herstellen-mag"})
    assert huge.status_code == 413 and "larger than 16 KiB" in huge.text  # not read past 16 KiB, not logged in
    admin = login(failing.gateway.url, "admin", ADMIN_KEY)  # the admin key logs in as operator
    assert "admin (operator)" in admin.get("/console/messages").text
    cookie = next(c for c in admin.cookies.jar if c.name == "overstap_console")
    assert cookie.has_nonstandard_attr("HttpOnly") or "httponly" in str(cookie._rest).lower()
    assert BSN not in cookie.value


def test_client_search_by_post_and_zaak_timeline(start: Start) -> None:
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        running = start_with_chains(start, rec, ds)
        wait_settled(running)
        otto = login(running.gateway.url, "otto")
        form = otto.get("/console/clients")
        assert form.status_code == 200
        found = otto.post("/console/clients", data={"bsn": BSN, "csrf": csrf_of(form.text)})
        assert found.status_code == 200
        assert BSN not in str(found.url) and BSN not in found.text
        keys = re.findall(r'href="/console/zaken/(\d+)"', found.text)
        assert len(keys) == 3  # the 315's aanvraagzaak, the A and the B toewijzing
        assert "*******82" in found.text
        assert otto.post("/console/clients", data={"bsn": BSN}).status_code == 403  # no CSRF token
        bad = otto.post("/console/clients", data={"bsn": "123456789", "csrf": csrf_of(form.text)})
        assert bad.status_code == 400  # fails the elfproef: not searched
        timelines = [otto.get(f"/console/zaken/{k}").text for k in keys]
        for html in timelines:
            no_full_bsn(html, "a zaak timeline")
        b = next(t for t in timelines if "WMO307" in t)
        order = [b.index(code) for code in ("WMO301", "WMO305", "WMO307")]
        assert order == sorted(order)  # toewijzing, start, stop: in the order they happened
        assert "creeerZaak" in b and "actualiseerZaakstatus" in b
        health = otto.get("/console/health")
        assert health.status_code == 200 and "delivered" in health.text
        assert re.search(r"Received in the last hour</dt><dd>6<", health.text)
        assert re.search(r'<td class="num">0.0 %</td>', health.text)  # every delivery accepted
        no_full_bsn(health.text, "the health page")


def test_a_quarantined_message_is_listed_and_converted_again_by_an_operator(start: Start) -> None:
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        running = start_with_chains(start, rec, ds)
        broken = re.sub(rb"(<iwmo:Dagtekening>)[^<]*", rb"\g<1>2024-13-45", soap11(sample(CHAINS[1])), count=1)
        r = httpx.post(running.gateway.url + "/soap", content=broken, timeout=30)
        assert r.status_code == 500  # a SOAP 1.1 Fault (fault_status: soap, the default)
        quarantined = int(r.headers["x-overstap-quarantine"])
        otto = login(running.gateway.url, "otto")
        listing = otto.get("/console/messages", params={"status": "quarantined"}).text
        assert re.findall(r'href="/console/messages/(\d+)"', listing) == [str(quarantined)]
        page = otto.get(f"/console/messages/{quarantined}").text
        assert "Convert again" in page and "2024-13-45" in page
        vera = login(running.gateway.url, "vera")
        assert "Convert again" not in vera.get(f"/console/messages/{quarantined}").text
        assert vera.get(f"/console/messages/{quarantined}/retry").status_code == 403
        confirm = otto.get(f"/console/messages/{quarantined}/retry")
        assert otto.post(f"/console/messages/{quarantined}/retry", data={"confirm": "yes"}).status_code == 403
        done = otto.post(f"/console/messages/{quarantined}/retry", data={"confirm": "yes",
                                                                          "csrf": csrf_of(confirm.text)})
        assert done.status_code == 200 and "Still refused" in done.text  # the same bytes: the same refusal


def test_a_shadow_message_shows_both_sides(start: Start) -> None:
    new, legacy = Receiver(behaviour="fo"), Receiver()
    with ServerThread(new.app()) as new_ds, ServerThread(legacy.app()) as legacy_ds:
        server, _gw = start({"default": {"mode": "shadow", "downstream": new_ds.url, "legacy_downstream":
                                         legacy_ds.url}}, {}, admin_key=ADMIN_KEY, console=console_config())
        r = httpx.post(server.url + "/soap", content=soap11(sample(CHAINS[1])), timeout=30)
        assert r.status_code == 200
        assert wait_for(lambda: len(legacy.received) == 1 and new.calls >= 1)
        otto = login(server.url, "otto")
        assert wait_for(lambda: "legacy only" in otto.get("/console/messages/1").text)
        page = otto.get("/console/messages/1").text
        assert "Shadow comparison" in page and "StUF055" in page


def test_the_console_is_off_unless_configured(start: Start, tmp_path: Path) -> None:
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        server, _gw = start({"default": {"downstream": ds.url}}, {}, admin_key=ADMIN_KEY)
        assert httpx.get(server.url + "/console/messages", timeout=10).status_code == 404
        assert httpx.get(server.url + "/console/login", timeout=10).status_code == 404


@pytest.mark.parametrize(("block", "error"), [
    ({"enabled": True, "colour": "blue"}, "console: unknown key(s) colour"),
    ({"enabled": True, "users": {"anna": {"password": "geheim", "role": "operator"}}}, "not a password"),
    ({"enabled": True, "users": {"anna": {"password": "pbkdf2_sha256$1$s$00", "role": "admin"}}}, "role"),
    *[({"enabled": True, "users": {"anna": {"password": bad, "role": "viewer"}}},
       "console.users.anna.password: expected pbkdf2_sha256$<iterations 1 to 10,000,000>$<salt>$<64 hex")
      for bad in ("pbkdf2_sha256$1$s$00", "pbkdf2_sha256$200000$s$" + "0" * 63,
                  "pbkdf2_sha256$0$s$" + "0" * 64, "pbkdf2_sha256$10000001$s$" + "0" * 64,
                  "pbkdf2_sha256$2000x0$s$" + "0" * 64, "pbkdf2_sha256$200000$a b$" + "0" * 64)],
    ({"enabled": True, "admin_role": "root"}, "admin_role"),
    ({"enabled": True, "secure_cookies": "sometimes"}, "console.secure_cookies: 'sometimes' is not one of auto"),
])
def test_a_wrong_console_block_stops_the_start(block: dict[str, object], error: str) -> None:
    from gateway.proxy.config import ConfigError
    from gateway.proxy.config_file import from_dict

    with pytest.raises(ConfigError, match=re.escape(error)):
        from_dict({"routes": {"default": {"downstream": "http://127.0.0.1:9"}}, "console": block})
    assert not from_dict({"routes": {"default": {"downstream": "http://127.0.0.1:9"}}}).console.enabled


def test_logout_ends_the_session_for_every_copy_of_its_cookie(failing: Running) -> None:
    otto = login(failing.gateway.url, "otto")
    page = otto.get("/console/messages")
    assert page.status_code == 200
    copied = httpx.Client(base_url=failing.gateway.url, timeout=30, cookies={
        "overstap_console": otto.cookies["overstap_console"]})
    assert copied.get("/console/health").status_code == 200  # a stolen copy works while the session lives
    assert otto.post("/console/logout", data={"csrf": csrf_of(page.text)}).status_code == 303
    for path in ("/console/messages", "/console/health", "/console/messages/1"):
        r = copied.get(path)
        assert r.status_code == 303 and r.headers["location"].endswith("/console/login"), path
    link = copied.post("/console/clients", data={"bsn": BSN, "csrf": csrf_of(page.text)})
    assert link.status_code == 303  # the old CSRF token does not revive it either
    again = login(failing.gateway.url, "otto")  # a new login is a new session
    assert again.get("/console/messages").status_code == 200
    assert copied.get("/console/messages").status_code == 303


@pytest.mark.parametrize("processes", [0, 1], ids=["threads", "worker-process"])
def test_health_shows_throughput_and_the_dialect_debt_of_known_deviations(start: Start, tmp_path: Path,
                                                                           processes: int) -> None:
    """A lenient copy of the iWmo 2.1 WMO301 mapping with its XSD: three messages each carry an element the schema
    does not know; the health page and /metrics count the same 3 under that rule, also when a worker process
    converted them (its own counts never reach the sidecar: the warnings come back with the result)."""
    source = Path(__file__).parents[1] / "dialects" / "iwmo21" / "wmo301.yaml"
    lenient = tmp_path / "lenient-wmo301.yaml"
    lenient.write_text(source.read_text(encoding="utf-8").replace(
        "name: iwmo21-wmo301\n", "name: lenient-wmo301\nstrictness: lenient\nsource_schema: iwmo21-xsd/WMO301.xsd\n",
        1).split("\ntests:")[0], encoding="utf-8")  # its tests read tests/fixtures: only a shipped dialect may
    reg = Registry(files=[lenient])
    assert not reg.errors, reg.errors
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        server, _gw = start({"default": {"downstream": ds.url, "mappings": [str(lenient)]}}, {}, reg=reg,
                            admin_key=ADMIN_KEY, console=console_config(), convert_processes=processes,
                            mappings=[str(lenient)])
        text = (Path(__file__).parent / "fixtures" / "iwmo21" / "CasusA-02-WMO301_toewijzing.xml").read_text()
        geslacht = "<wmo301:Geslacht>1</wmo301:Geslacht>"
        for n in range(3):
            body = text.replace(geslacht, geslacht + "<wmo301:Huisdier>kat</wmo301:Huisdier>", 1)
            body = body.replace("1d8d1f0852bf<", f"1d8d1f0852b{n}<", 1)  # three messages, not re-sends
            r = httpx.post(server.url + "/soap", content=soap11(body.encode()), timeout=30)
            assert r.status_code == 200, r.text
        metrics = httpx.get(server.url + "/metrics", timeout=10).text
        assert 'overstap_dialect_debt_total{mapping="lenient-wmo301",rule="source_schema:Huisdier"} 3.0' in metrics
        otto = login(server.url, "otto")
        health = otto.get("/console/health").text
        row = re.search(r"<td>lenient-wmo301</td><td class=\"path\">source_schema:Huisdier</td><td class=\"num\">(\d+)"
                        r"</td>\s*<td><meter class=\"bar\" min=\"0\" max=\"(\d+)\" value=\"(\d+)\"", health)
        assert row and row.groups() == ("3", "3", "3"), health
        hours = re.findall(r'<meter class="bar" min="0" max="(\d+)" value="(\d+)">', health.split("Backlog")[0])
        assert len(hours) == 24 and sum(int(v) for _, v in hours) == 3  # all three within the last hours
        assert hours[-1][1] in ("1", "2", "3") and {m for m, _ in hours} == {max(v for _, v in hours)}
        assert re.search(r"Received in the last hour</dt><dd>3<", health)


def test_the_message_page_marks_which_source_field_became_which_canonical_element(start: Start) -> None:
    """CasusB-01's Beschikkingnummer: its lineage row's number marks the source line and the ZKN:kenmerk line of
    the creeerZaak, each linked to the other through the row; only CSS anchors, no script."""
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        running = start_with_chains(start, rec, ds)
        otto = login(running.gateway.url, "otto")
        listing = otto.get("/console/messages").text
        ids = sorted(int(i) for i in re.findall(r'href="/console/messages/(\d+)"', listing))
        page = otto.get(f"/console/messages/{ids[CHAINS.index('CasusB-01-WMO301_toewijzing.xml')]}").text
        assert "<script" not in page.lower()
        row = re.search(r'<tr id="lin-(\d+)"><td><span class="mark">\d+</span> clients\.0\.beschikking\.nummer</td>\s*'
                        r'<td><a href="#src-(\d+)">\d+</a>', page)
        assert row, page
        n, src = row.groups()
        source_line = re.search(rf'<span id="src-{src}" class="hit">([^\n]*)\n', page)
        assert source_line and "Beschikkingnummer&gt;658721123" in source_line.group(1)
        assert f'<a class="mark" href="#lin-{n}">{n}</a>' in source_line.group(1)
        row_html = page.split(f'<tr id="lin-{n}">')[1].split("</tr>")[0]
        out = re.search(r'<a class="to" href="#out-(\d+)-(\d+)">', row_html)
        assert out, "the row links to the canonical line"
        canonical_line = re.search(rf'<span id="out-{out.group(1)}-{out.group(2)}" class="hit">([^\n]*)\n', page)
        assert canonical_line and "ZKN:kenmerk&gt;658721123&lt;" in canonical_line.group(1)
        assert f'<a class="mark" href="#lin-{n}">{n}</a>' in canonical_line.group(1)
        no_full_bsn(PRE.sub("", page), "the message page outside the payloads")


def test_an_operator_purges_after_a_preview_and_a_viewer_cannot(failing: Running, tmp_path: Path) -> None:
    """Every delivery of the chains is a dead letter: a purge of delivered ones removes nothing, one with dead
    letters removes them all and their messages. The preview (the purge rolled back) changes nothing."""
    vera = login(failing.gateway.url, "vera")
    assert "/console/purge" not in vera.get("/console/messages").text
    assert vera.get("/console/purge").status_code == 403
    assert vera.post("/console/purge", data={"days": "0", "dead": "1", "confirm": "yes",
                                             "csrf": csrf_of(vera.get("/console/messages").text)}).status_code == 403
    otto = login(failing.gateway.url, "otto")
    deliveries = sum(d["count"] for d in httpx.get(failing.gateway.url + "/admin/outbox", headers={
        "X-Admin-Key": ADMIN_KEY}, timeout=10).json()["deliveries"])
    assert deliveries >= 6
    delivered_only = otto.get("/console/purge", params={"days": "0"})
    assert re.search(r"remove <strong>0</strong> delivery\(ies\).*?<strong>0</strong> message", delivered_only.text,
                     re.S)
    preview = otto.get("/console/purge", params={"days": "0", "dead": "1"})
    assert preview.status_code == 200
    assert re.search(rf"remove <strong>{deliveries}</strong> delivery\(ies\) \(delivered, dead\).*?"
                     r"<strong>6</strong> message", preview.text, re.S), preview.text
    assert otto.get("/console/messages").text.count('class="status-accepted"') == 6  # the preview removed nothing
    assert otto.post("/console/purge", data={"days": "0", "dead": "1", "confirm": "yes"}).status_code == 403
    assert otto.get("/console/purge", params={"days": "x"}).status_code == 400
    done = otto.post("/console/purge", data=hidden_fields(preview.text))  # as "Yes, purge" sends it
    assert done.status_code == 200 and f"Purged {deliveries} delivery(ies) and 6 message(s)" in done.text
    assert otto.get("/console/messages").text.count('class="status-accepted"') == 0
    audit = [json.loads(line) for line in (tmp_path / "data" / "console-audit.jsonl").read_text().splitlines()]
    assert {"user": "otto", "action": "purge", "older_than_days": 0, "dead": True, "quarantined": False,
            "deliveries": deliveries, "messages": 6}.items() <= audit[-1].items()


def test_the_shadow_page_counts_same_and_different_and_links_the_differences(start: Start) -> None:
    new, legacy = Receiver(behaviour="fo"), Receiver()
    with ServerThread(new.app()) as new_ds, ServerThread(legacy.app()) as legacy_ds:
        server, _gw = start({"default": {"mode": "shadow", "downstream": new_ds.url, "legacy_downstream":
                                         legacy_ds.url}}, {}, admin_key=ADMIN_KEY, console=console_config())
        vera = login(server.url, "vera")  # looking is enough: a viewer sees it
        assert httpx.post(server.url + "/soap", content=soap11(sample(CHAINS[1])), timeout=30).status_code == 200
        assert wait_for(lambda: "legacy only" in vera.get("/console/messages/1").text)
        new.behaviour = "bv"  # the new system accepts from now on
        assert httpx.post(server.url + "/soap", content=soap11(sample(CHAINS[3])), timeout=30).status_code == 200
        assert wait_for(lambda: "both accepted" in vera.get("/console/messages/2").text)
        page = vera.get("/console/shadow").text
        assert re.search(r"Shadow messages compared</dt><dd>2<", page)
        assert '<span class="count-same">1</span>' in page and '<span class="count-different">1</span>' in page
        differing = re.findall(r'<td><a href="/console/messages/(\d+)">', page)
        assert differing == ["1"]  # only the refused one, linked
        assert "StUF055" in page and "legacy only" in page
        no_full_bsn(page, "the shadow page")
        assert "No differences." in vera.get("/console/shadow", params={"route": "nosuch"}).text


def test_a_bsn_in_free_text_is_masked_and_other_numbers_are_not() -> None:
    from gateway.console.privacy import mask_text

    assert mask_text(f"client {BSN} unknown, order 123456789") == "client *******82 unknown, order 123456789"
    assert mask_text(None) == ""
