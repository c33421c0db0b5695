"""The console after its security review: each test is one finding of that review, reproduced in process (a real
outbox in a temporary data_dir, the console mounted as the sidecar mounts it, Starlette's TestClient), so a test
can change rows between a preview and its confirmation, restart with other settings or pick the peer's address.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from console_helpers import ADMIN_KEY, BSN, Local, csrf_of, hidden_fields, local_console

from gateway.console.auth import Signer, new_session
from gateway.console.settings import hash_password
from gateway.deliver import outbox

PURGED = re.compile(r"Purged (\d+) delivery\(ies\) and (\d+) message\(s\)")


def test_yes_purge_removes_only_what_its_preview_counted(tmp_path: Path) -> None:
    """A pending delivery that goes dead between the preview and "Yes, purge" is a dead letter nobody saw: the
    purge keeps the preview's cut-off, so it stays, with its message (review F1)."""
    local = local_console(tmp_path)
    otto = local.login("otto")
    preview = otto.get("/console/purge", params={"days": "0", "dead": "1"})
    assert re.search(r"remove <strong>2</strong> delivery\(ies\).*?<strong>2</strong> message", preview.text, re.S)
    time.sleep(0.01)
    local.sql("UPDATE delivery SET status = 'dead', updated_at = ? WHERE id = 4", time.time())
    done = otto.post("/console/purge", data=hidden_fields(preview.text))
    assert done.status_code == 200 and PURGED.search(done.text).groups() == ("2", "2"), done.text
    assert local.sql("SELECT id FROM delivery ORDER BY id") == [(4,)]  # the new dead letter stays
    assert local.sql("SELECT id FROM message ORDER BY id") == [(3,), (4,)]
    audit = (tmp_path / "console-audit.jsonl").read_text().splitlines()[-1]
    assert '"cut_off": "' in audit and '"deliveries": 2' in audit


def test_a_purge_that_would_remove_more_than_previewed_removes_nothing(tmp_path: Path) -> None:
    """Should the outbox change so that the preview's cut-off now covers more than it counted, the purge is
    rolled back and says so (here the counts are forged lower; a converted quarantined message would do it)."""
    local = local_console(tmp_path)
    otto = local.login("otto")
    fields = hidden_fields(otto.get("/console/purge", params={"days": "0", "dead": "1"}).text)
    refused = otto.post("/console/purge", data={**fields, "deliveries": "0"})
    assert refused.status_code == 409 and "Nothing was removed" in refused.text
    assert len(local.sql("SELECT id FROM delivery")) == 3 and len(local.sql("SELECT id FROM message")) == 4


def test_a_cut_off_later_than_the_days_asked_is_refused(tmp_path: Path) -> None:
    """The carried cut-off is the operator's own form: one later than ``days`` ago now would purge younger rows."""
    local = local_console(tmp_path)
    otto = local.login("otto")
    preview = otto.get("/console/purge", params={"days": "1", "dead": "1"})
    fields = hidden_fields(preview.text)
    assert fields["deliveries"] == "0" and float(fields["before"]) < time.time() - 86000
    for forged in (repr(time.time()), "nan", "1e12", "-1", "١٢٣"):
        refused = otto.post("/console/purge", data={**fields, "before": forged, "deliveries": "9", "messages": "9"})
        assert refused.status_code == 400, forged
    assert len(local.sql("SELECT id FROM delivery")) == 3 and len(local.sql("SELECT id FROM message")) == 4
    assert otto.post("/console/purge", data={k: v for k, v in fields.items() if k != "before"}).status_code == 400


def test_a_changed_account_ends_its_sessions(tmp_path: Path) -> None:
    """Review F2: with the same secret, a restart keeps live sessions; but one whose user was removed, given another
    role or another password hash, or whose admin key or ``admin_role`` changed goes to the login page, its row
    deleted and audited; an unchanged account's session lives on."""
    words = {"vera": "kijken-mag", "otto": "herstellen-mag", "ria": "ria-pass", "sam": "sam-pass"}
    hashes = {name: hash_password(word, iterations=1000) for name, word in words.items()}

    def users(**roles: str) -> dict[str, object]:
        return {"users": {name: {"password": hashes[name], "role": role} for name, role in roles.items()}}

    first = local_console(tmp_path, users(vera="viewer", otto="operator", ria="operator", sam="viewer"))
    cookies = {name: first.login(name, word).cookies["overstap_console"] for name, word in words.items()}
    cookies["admin"] = first.login("admin", ADMIN_KEY).cookies["overstap_console"]
    hashes["ria"] = hash_password(words["ria"], iterations=1000)  # a new password (here: the same, hashed anew)
    second = local_console(tmp_path, {**users(vera="viewer", ria="operator", sam="operator"), "admin_role": "viewer"},
                           db=first.db)  # otto removed, sam an operator now, the admin key's role viewer
    seen = {name: second.client().get("/console/messages", headers={"cookie": f"overstap_console={cookie}"})
            for name, cookie in cookies.items()}
    assert {name: r.status_code for name, r in seen.items()} == {"vera": 200, "otto": 303, "ria": 303, "sam": 303,
                                                                 "admin": 303}
    assert seen["otto"].headers["location"] == "/console/login"
    assert second.sql("SELECT user FROM console_session") == [("vera",)]
    audit = (tmp_path / "console-audit.jsonl").read_text()
    assert audit.count('"session_revoked"') == 4
    admin = second.login("admin", ADMIN_KEY).cookies["overstap_console"]
    third = local_console(tmp_path, {**users(vera="viewer"), "admin_role": "viewer"}, admin_key="a-new-key",
                          db=first.db)  # the admin key rotated, its role as before
    again = {name: third.client().get("/console/health", headers={"cookie": f"overstap_console={cookie}"})
             for name, cookie in (("vera", cookies["vera"]), ("admin", admin))}
    assert {name: r.status_code for name, r in again.items()} == {"vera": 200, "admin": 303}


def test_sessions_of_a_table_from_before_fingerprints_end_once(tmp_path: Path) -> None:
    """An outbox whose ``console_session`` predates the fingerprint column gets it at start; its old rows match no
    account any more (everyone logs in once), and logging in works."""
    db = outbox.open_db(tmp_path / "old")
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE console_session (nonce_sha256 TEXT PRIMARY KEY, user TEXT NOT NULL, "
                     "role TEXT NOT NULL, created REAL NOT NULL, expires REAL NOT NULL)")
        session = new_session("vera", "viewer", 60)
        conn.execute("INSERT INTO console_session VALUES (?, 'vera', 'viewer', ?, ?)",
                     (hashlib.sha256(session.nonce.encode()).hexdigest(), time.time(), session.expires))
    local = local_console(tmp_path, db=db)
    cookie = Signer("test-secret").dump(session)  # console_config()'s secret
    old = local.client().get("/console/messages", headers={"cookie": f"overstap_console={cookie}"})
    assert old.status_code == 303
    assert local.login("vera").get("/console/messages").status_code == 200


def test_a_non_ascii_cookie_or_token_is_refused_not_a_crash(tmp_path: Path) -> None:
    """Review F3: ``hmac.compare_digest`` raises on a str that is not ASCII; one byte from anyone, logged in or not,
    made a 500. A forged cookie now goes to the login page, a bad token gets 403."""
    local = local_console(tmp_path)
    anonymous = local.client()
    forged = anonymous.get("/console/messages", headers={"cookie": b"overstap_console=a.\xc3\xa9"})
    assert forged.status_code == 303 and forged.headers["location"] == "/console/login"
    anonymous.get("/console/login")
    assert anonymous.post("/console/login", data={"csrf": "é", "user": "otto", "password": "x"}).status_code == 403
    otto = local.login("otto")
    assert otto.post("/console/clients", data={"csrf": "é", "bsn": BSN}).status_code == 403
    assert otto.post("/console/purge", data={"csrf": "\u2603" * 64, "confirm": "yes"}).status_code == 403


def test_an_unexpected_error_answers_a_plain_500_with_the_headers_and_logs_no_data(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Any exception no handler expected: a 500 page still with CSP, no-store and no framing, and in the log a
    reference, the exception's type and the route's template; never its message (here a BSN and a name)."""
    def metrics() -> bytes:
        raise RuntimeError(f"client {BSN} Jansen")

    caplog.set_level(logging.INFO)
    otto = local_console(tmp_path, metrics=metrics).login("otto")
    r = otto.get("/console/health")
    assert r.status_code == 500
    assert r.headers["cache-control"] == "no-store" and r.headers["x-frame-options"] == "DENY"
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    assert BSN not in r.text and "Jansen" not in r.text and "RuntimeError" not in r.text
    record = next(rec for rec in caplog.records if rec.getMessage() == "console page failed")
    assert (record.error_type, record.route, record.method) == ("RuntimeError", "/health", "GET")
    assert record.reference in r.text
    logged = " ".join(f"{rec.getMessage()} {vars(rec)}" for rec in caplog.records)
    assert BSN not in logged and "Jansen" not in logged


@pytest.mark.parametrize(("query", "named"), [
    ({"from": "2026-02-30"}, "from: expected a date as YYYY-MM-DD that exists"),
    ({"from": "2024-13-01"}, "from: expected a date as YYYY-MM-DD that exists"),
    ({"to": "2026-01-01\n"}, "to: expected a date as YYYY-MM-DD"),
    ({"from": "٢٠٢٤-01-01"}, "from: expected a date"),
    ({"before": "²"}, "before: expected a message id"),
    ({"before": "٢"}, "before: expected a message id"),
    ({"before": "9" * 5000}, "before: expected a message id"),
    ({"before": "9" * 19}, "before: expected a message id"),
    ({"status": "quarantine"}, "status: expected one of accepted, quarantined, pending, delivered, dead"),
    ({"status": "<b>dead</b>"}, "status: expected one of accepted, quarantined, pending, delivered, dead"),
], ids=["30-february", "month-13", "newline", "arabic-indic", "superscript", "arabic-indic-id", "5000-digits",
        "past-2**63", "status-typo", "status-markup"])
def test_a_bad_filter_is_a_400_naming_the_parameter(tmp_path: Path, query: dict[str, str], named: str) -> None:
    """Review F4: a value a regex with ``$`` or ``isdigit`` let through reached ``strptime``, ``int`` or SQLite."""
    otto = local_console(tmp_path).login("otto")
    r = otto.get("/console/messages", params=query)
    assert r.status_code == 400 and named in r.text and "Bad request" in r.text, r.text
    assert otto.get("/console/messages", params={"from": "2024-02-29", "before": str(2**63 - 1),
                                                  "status": "dead"}).status_code == 200


def test_an_id_past_the_largest_row_id_is_a_404_and_bad_numbers_elsewhere_a_400(tmp_path: Path) -> None:
    """Ids past 2**63 − 1 overflowed SQLite's binding; ``days=²`` and a BSN with ``²`` reached ``int``. A refused
    BSN is not echoed."""
    otto = local_console(tmp_path).login("otto")
    big = "9" * 20
    for path in (f"/console/messages/{big}", f"/console/zaken/{big}", f"/console/deliveries/{big}/replay",
                 f"/console/messages/{big}/retry"):
        r = otto.get(path)
        assert r.status_code == 404 and "Not found" in r.text, path
    assert otto.post(f"/console/deliveries/{big}/replay", data={"confirm": "yes"}).status_code == 404
    assert otto.get(f"/console/messages/{2**63 - 1}").status_code == 404  # the largest: looked up, not there
    for days in ("²", "٣", "9" * 5000):
        assert otto.get("/console/purge", params={"days": days}).status_code == 400
    token = hidden_fields(otto.get("/console/clients").text)["csrf"]
    for bsn in ("12345678²", "١٢٣٤٥٦٧٨٢"):
        r = otto.post("/console/clients", data={"csrf": token, "bsn": bsn})
        assert r.status_code == 400 and "not a valid BSN" in r.text and bsn not in r.text
    assert local_console(tmp_path / "anonymous").client().get(f"/console/zaken/{big}").status_code == 303


def test_masking_still_takes_a_bsn_in_any_digits() -> None:
    """A search takes ASCII digits only; what is shown is masked as before, whatever digits spell the number."""
    from gateway.console.privacy import bsn_like, mask_text, valid_bsn

    arabic = "".join(chr(0x660 + int(d)) for d in BSN)
    assert valid_bsn(BSN) and not valid_bsn(arabic) and bsn_like(arabic) and not bsn_like("12345678²")
    assert mask_text(f"client {arabic}") == f"client *******{arabic[-2:]}"


def cookie_flags(response: httpx.Response) -> dict[str, bool]:
    """Each cookie the answer sets (or deletes), and whether it is ``Secure``."""
    return {line.split("=", 1)[0]: "; secure" in line.lower() for line in response.headers.get_list("set-cookie")}


def log_in(local: Local, **client: str) -> tuple[httpx.Response, httpx.Response]:
    """The login page and the login, the ``pre`` cookie sent by hand (a client keeps a Secure one for https only)."""
    c = local.client(**client)
    page = c.get("/console/login")
    pre = page.cookies["overstap_console_pre"]
    done = c.post("/console/login", data={"csrf": csrf_of(page.text), "user": "otto", "password": "herstellen-mag"},
                  headers={"cookie": f"overstap_console_pre={pre}"})
    assert done.status_code == 303, done.text
    return page, done


@pytest.mark.parametrize(("setting", "client", "secure"), [
    ("auto", {"peer": "127.0.0.1"}, False),  # make run: plain http on this host
    ("auto", {"peer": "::1"}, False),
    ("auto", {"peer": "::ffff:127.0.0.1"}, False),
    ("auto", {"peer": "10.1.2.3"}, True),  # a TLS proxy on another host, X-Forwarded-Proto not trusted
    ("auto", {"peer": "127.0.0.2"}, True),  # loopback, but uvicorn trusts X-Forwarded-Proto from 127.0.0.1 only
    ("auto", {"peer": "127.0.0.1", "base_url": "https://console.example"}, True),  # TLS here, or a trusted proxy
    ("always", {"peer": "127.0.0.1"}, True),
    ("never", {"peer": "10.1.2.3", "base_url": "https://console.example"}, False),
], ids=["auto-loopback", "auto-ipv6-loopback", "auto-mapped-loopback", "auto-remote-http", "auto-other-loopback",
        "auto-https", "always", "never"])
def test_both_cookies_are_secure_unless_plain_http_from_this_host(tmp_path: Path, setting: str,
                                                                  client: dict[str, str], secure: bool) -> None:
    """Review F5: the cookie was Secure only when uvicorn saw https, and behind a TLS proxy on another host it does
    not (it trusts X-Forwarded-Proto from 127.0.0.1 only); the pre-login cookie never was."""
    local = local_console(tmp_path, {"secure_cookies": setting})
    page, done = log_in(local, **client)
    assert cookie_flags(page) == {"overstap_console_pre": secure}
    assert cookie_flags(done) == {"overstap_console": secure, "overstap_console_pre": secure}
    assert ("marks its cookies <code>Secure</code>" in page.text) == (secure and "https" not in client.get(
        "base_url", "http"))
    c, sent = local.client(**client), {"cookie": f"overstap_console={done.cookies['overstap_console']}"}
    out = c.post("/console/logout", data={"csrf": csrf_of(c.get("/console/messages", headers=sent).text)},
                 headers=sent)
    assert out.status_code == 303 and cookie_flags(out) == {"overstap_console": secure}


def test_a_downstreams_reason_on_the_zaak_timeline_shows_no_bsn(tmp_path: Path) -> None:
    """Review s18: the zaak timeline showed a delivery's reason as stored, and a receiver's Fo03 text may name the
    client's BSN in groups or without its leading zero (the store masks only nine digits in a row). The shadow page
    masked such reasons; the timeline, which masks the client's BSN beside it, did not."""
    local = local_console(tmp_path)
    local.sql("UPDATE delivery SET reason = ? WHERE id = 1",
              "HTTP 500: Fo03 StUF055 (client): client 123.456.782 onbekend; zie ook 012345672")
    page = local.login("vera").get("/console/zaken/1")
    assert page.status_code == 200 and "Fo03 StUF055 (client): client" in page.text
    assert "123.456.782" not in page.text and "012345672" not in page.text and "***.***.*82" in page.text


def test_a_form_over_the_limit_is_a_413_saying_so_and_does_nothing(tmp_path: Path) -> None:
    """Past 16 KiB a form is not read further; it was answered as a wrong CSRF token (403), which sent an operator
    looking for a session fault. Now 413, naming the limit, on a page with a session and on the login form."""
    local = local_console(tmp_path)
    otto = local.login("otto")
    token = hidden_fields(otto.get("/console/clients").text)["csrf"]
    padding = "x" * (17 * 1024)
    r = otto.post("/console/purge", data={"csrf": token, "confirm": "yes", "days": "0", "pad": padding})
    assert r.status_code == 413 and "larger than 16 KiB" in r.text and "nothing was done" in r.text, r.text
    anonymous = local_console(tmp_path / "anonymous").client()
    r = anonymous.post("/console/login", data={"user": "otto", "password": padding})
    assert r.status_code == 413 and "larger than 16 KiB" in r.text
    assert otto.post("/console/purge", data={"csrf": token, "pad": "x" * 100}).status_code == 400  # under: read
