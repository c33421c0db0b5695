"""Never acknowledge what is not stored, and the branches the happy path never takes (issue 18; issue 11 item 6).

Why: "nothing lost" rests on the failure branches — a store that fails, a COMMIT that fails, a
quarantine that cannot be written, a downstream that is slow or refuses while the sender waits.
Faults are injected through real seams: SQLite triggers and a deferred foreign key in the real outbox
file make the real writes and the real COMMIT fail; real downstreams are slow or refuse.
"""

from __future__ import annotations

import logging
import sqlite3

import httpx
import pytest
from proxy_helpers import FO03, Receiver, ServerThread, Start, metric, sample, soap11, variant, wait_for

from gateway.deliver import outbox
from gateway.deliver.replay import DELIVERED_REFUSED
from gateway.proxy.admin import MAX_REPLAY_BODY
from gateway.proxy.service import Gateway

A02, A01 = "CasusA-02-WMO301_toewijzing.xml", "CasusA-01-WMO315_verzoek.xml"


def sql(gw: Gateway, statement: str) -> None:
    """Change the running gateway's outbox from another connection (as an operator or a full disk would)."""
    conn = sqlite3.connect(gw.db_path, isolation_level=None)
    try:
        conn.executescript(statement)
    finally:
        conn.close()


def table(gw: Gateway, name: str) -> list[dict[str, object]]:
    conn = outbox.connect(gw.db_path)
    try:
        return [dict(r) for r in conn.execute(f"SELECT * FROM {name} ORDER BY id")]
    finally:
        conn.close()


def is_fo03(response: httpx.Response, code: str) -> bool:
    return b"Fo03Bericht" in response.content and f"<StUF:code>{code}</StUF:code>".encode() in response.content \
        and b"Bv03Bericht" not in response.content


def test_a_store_that_fails_gets_503_stuf046_and_no_bv03(start: Start) -> None:
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        gw_server, gw = start({"default": {"downstream": ds.url}}, {}, fault_status="http")  # its 503 + Retry-After
        sql(gw, "CREATE TRIGGER full_disk BEFORE INSERT ON delivery BEGIN SELECT RAISE(ABORT, 'disk full'); END;")
        refused = httpx.post(gw_server.url + "/soap", content=sample(A02))
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
        assert is_fo03(refused, "StUF046")
        assert table(gw, "message") == [] and table(gw, "delivery") == []  # the message row went with it
        assert metric(gw_server.url, "overstap_rejected_total", route="default", reason="store_failed") == 1
        assert metric(gw_server.url, "overstap_acknowledged_total") == 0
        sql(gw, "DROP TRIGGER full_disk;")
        again = httpx.post(gw_server.url + "/soap", content=sample(A02))  # the sender offers it again
        assert again.status_code == 200 and b"Bv03Bericht" in again.content
        assert wait_for(lambda: len(rec.received) == 1)


def test_a_commit_that_fails_gets_503_and_no_bv03(start: Start) -> None:
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        gw_server, gw = start({"default": {"downstream": ds.url}}, {})
        # A deferred foreign key is checked at COMMIT: every write succeeds, the COMMIT itself fails.
        sql(gw, "CREATE TABLE trap (m INTEGER REFERENCES message(id) DEFERRABLE INITIALLY DEFERRED);"
                "CREATE TRIGGER commit_fails AFTER INSERT ON message BEGIN INSERT INTO trap VALUES (-1); END;")
        refused = httpx.post(gw_server.url + "/soap", content=sample(A02))
        assert refused.status_code == 500 and is_fo03(refused, "StUF046")  # a Fault: 500 by default
        assert refused.headers["retry-after"] == "5"
        assert isinstance(gw.committer.failed, sqlite3.IntegrityError)
        assert table(gw, "message") == [] and table(gw, "delivery") == []
        ready = httpx.get(gw_server.url + "/readyz")
        assert ready.status_code == 200  # the readiness write inserts no message: the outbox itself is fine
        sql(gw, "DROP TRIGGER commit_fails; DROP TABLE trap;")
        again = httpx.post(gw_server.url + "/soap", content=sample(A02))
        assert again.status_code == 200 and gw.committer.failed is None
        assert wait_for(lambda: len(rec.received) == 1)
        assert rec.refs() == again.headers["x-overstap-referentienummers"].split(",")


def test_a_quarantine_that_cannot_be_written_still_refuses(start: Start) -> None:
    gw_server, gw = start({"default": {"downstream": "zs"}}, {"zs": "http://127.0.0.1:9/zs"},
                          require_downstream_ready=False)
    sql(gw, "CREATE TRIGGER no_room BEFORE INSERT ON message WHEN NEW.status = 'quarantined' "
            "BEGIN SELECT RAISE(ABORT, 'disk full'); END;")
    refused = httpx.post(gw_server.url + "/soap", content=b"<Bericht><kapot></Bericht>")
    assert refused.status_code == 500 and (is_fo03(refused, "StUF055") or is_fo03(refused, "StUF058"))
    assert "x-overstap-quarantine" not in refused.headers
    assert table(gw, "message") == []
    sql(gw, "DROP TRIGGER no_room;")
    kept = httpx.post(gw_server.url + "/soap", content=b"<Bericht><kapot></Bericht>")
    assert kept.status_code == 500 and kept.headers["x-overstap-quarantine"] == str(table(gw, "message")[0]["id"])


def test_a_body_with_two_messages_is_refused_whole_and_nothing_is_queued(start: Start) -> None:
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        gw_server, gw = start({"default": {"downstream": ds.url}}, {})
        first, second = (soap11(variant(sample(A02), n)) for n in (1, 2))
        inner = second.split(b"<soap:Body>", 1)[1].split(b"</soap:Body>", 1)[0]
        two = first.replace(b"</soap:Body>", inner + b"</soap:Body>")
        refused = httpx.post(gw_server.url + "/soap", content=two)
        assert refused.status_code == 500 and b"Fo03Bericht" in refused.content
        assert b"Bv03Bericht" not in refused.content
        assert table(gw, "delivery") == []  # nothing partial: not the first message alone
        assert [m["status"] for m in table(gw, "message")] == ["quarantined"]  # kept whole, with the reason
        two_bodies = first.replace(b"</soap:Envelope>", b"<soap:Body>" + inner + b"</soap:Body></soap:Envelope>")
        assert httpx.post(gw_server.url + "/soap", content=two_bodies).status_code == 500
        assert table(gw, "delivery") == [] and rec.received == []


# -- ack: delivered -------------------------------------------------------------------------------------


def test_ack_delivered_times_out_with_504_and_delivery_goes_on(start: Start) -> None:
    rec = Receiver(delay=1.5)
    with ServerThread(rec.app()) as ds:
        gw_server, _gw = start({"default": {"downstream": ds.url, "ack": "delivered", "ack_timeout": 0.3}}, {},
                               fault_status="http")  # its 504
        late = httpx.post(gw_server.url + "/soap", content=sample(A02))
        assert late.status_code == 504 and is_fo03(late, "StUF058")
        assert f"stored as message {late.headers['x-overstap-message']}".encode() in late.content
        assert metric(gw_server.url, "overstap_rejected_total", route="default", reason="ack_timeout") == 1
        (ref,) = late.headers["x-overstap-referentienummers"].split(",")
        assert wait_for(lambda: rec.refs() == [ref])  # stored means it goes on
        rec.delay = 0
        resent = httpx.post(gw_server.url + "/soap", content=sample(A02))
        # a re-send: acknowledged with the reference stored the first time, nothing new to deliver
        assert resent.status_code == 200 and resent.headers["x-overstap-referentienummers"] == ref
        assert rec.refs() == [ref]


def test_ack_delivered_relays_the_legacy_partners_refusal_as_is(start: Start) -> None:
    legacy = Receiver(behaviour="fo", fo_omschrijving="onbekende client")
    with ServerThread(legacy.app()) as old:
        gw_server, gw = start({"default": {"mode": "passthrough", "legacy_downstream": "old", "ack": "delivered"}},
                              {"old": {"url": old.url, "expect_bv": False}})
        refused = httpx.post(gw_server.url + "/soap", content=sample(A01))
        (ref,) = refused.headers["x-overstap-referentienummers"].split(",")
        assert refused.status_code == 500
        assert refused.content == FO03.format(ref=ref, code="StUF055", omschrijving="onbekende client").encode()
        assert wait_for(lambda: [(r["status"], r["reply_code"]) for r in table(gw, "delivery")]
                        == [("dead", "Fo03 StUF055")])


def test_a_downstream_timeout_is_retried_and_then_delivered(start: Start) -> None:
    rec = Receiver(delay=2.0, delay_calls=1)  # the first attempt outlasts the timeout, the retry is answered
    with ServerThread(rec.app()) as ds:
        gw_server, gw = start({"default": {"downstream": "zs"}}, {"zs": {"url": ds.url, "timeout": 0.5}})
        (ref,) = httpx.post(gw_server.url + "/soap", content=sample(A02)).headers[
            "x-overstap-referentienummers"].split(",")
        assert wait_for(lambda: [r["status"] for r in table(gw, "delivery")] == ["delivered"])
        (row,) = table(gw, "delivery")
        assert row["attempts"] == 2 and rec.refs() == [ref]
        assert metric(gw_server.url, "overstap_retried_total", route="default", target="new") == 1


# -- operations -----------------------------------------------------------------------------------------


def test_replay_says_why_it_could_not(start: Start) -> None:
    rec = Receiver(hold=None)
    with ServerThread(rec.app()) as ds:
        gw_server, gw = start({"default": {"downstream": ds.url}}, {}, admin_key="geheim")
        admin = {"X-Admin-Key": "geheim"}
        assert httpx.post(gw_server.url + "/soap", content=sample(A02)).status_code == 200
        assert httpx.post(gw_server.url + "/soap", content=b"<Bericht/>").status_code == 500
        assert wait_for(lambda: [r["status"] for r in table(gw, "delivery")] == ["delivered"])
        delivered = table(gw, "delivery")[0]["id"]
        quarantined = next(m["id"] for m in table(gw, "message") if m["status"] == "quarantined")
        sql(gw, "UPDATE delivery SET status = 'pending';")
        replay = httpx.post(gw_server.url + "/admin/replay", json={"ids": [delivered, 999]}, headers=admin).json()
        assert replay["results"] == [{"id": delivered, "ok": False, "note": "already pending"},
                                     {"id": 999, "ok": False, "note": "no such delivery"}]
        again = httpx.post(gw_server.url + "/admin/replay", json={"ids": [quarantined, 998], "quarantined": True},
                           headers=admin).json()["results"]
        assert [r["ok"] for r in again] == [False, False]
        assert again[0]["note"].startswith("still does not convert: ")
        assert again[1]["note"] == "no such quarantined message (on a configured route)"
        bad = httpx.post(gw_server.url + "/admin/replay", content=b"[1, 2]", headers=admin)
        assert bad.status_code == 400 and "expected JSON" in bad.json()["error"]


def test_an_admin_replay_is_logged_with_its_ids_and_outcome(start: Start, caplog: pytest.LogCaptureFixture) -> None:
    """A replay sends a message to a zaaksysteem again: the log records who asked for which ids and how many went
    (review of the operator paths, session 21), never a payload."""
    rec = Receiver(hold=None)
    with ServerThread(rec.app()) as ds, caplog.at_level(logging.INFO, logger="overstap.http"):
        gw_server, gw = start({"default": {"downstream": ds.url}}, {}, admin_key="geheim")
        assert httpx.post(gw_server.url + "/soap", content=sample(A02)).status_code == 200
        assert wait_for(lambda: [r["status"] for r in table(gw, "delivery")] == ["delivered"])
        delivered = table(gw, "delivery")[0]["id"]
        replay = httpx.post(gw_server.url + "/admin/replay", json={"ids": [delivered, 999], "force": True},
                            headers={"X-Admin-Key": "geheim"})
        assert [r["ok"] for r in replay.json()["results"]] == [True, False]
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("admin replay")]
    assert line == f"admin replay from 127.0.0.1: 2 delivery(ies) asked ({delivered}, 999) with force, 1 queued again"


def test_a_dead_letter_of_a_route_no_longer_configured_is_not_queued(start: Start) -> None:
    """Its route has no downstream now: queued, it would wait for ever while the answer said it went again."""
    gw_server, gw = start({"default": {"downstream": "http://127.0.0.1:9/zs"}}, {}, admin_key="geheim")
    conn = outbox.connect(gw.db_path)
    with outbox.transaction(conn):
        accepted = outbox.accept(conn, outbox.NewMessage("gone", "translate", b"<x/>"), [
            outbox.NewDelivery(outbox.NEW, "REF-GONE", "zaak-1", b"<x/>", "text/xml", None, "zaak-1")])
        outbox.mark_dead(conn, accepted.queued[0].id, 1, 500, "Fo03 StUF055", "refused")
    dead = accepted.queued[0].id
    replay = httpx.post(gw_server.url + "/admin/replay", json={"ids": [dead]}, headers={"X-Admin-Key": "geheim"})
    assert replay.json()["results"] == [{"id": dead, "ok": False, "note": "route 'gone' has no new downstream in "
                                         "this configuration: queued, it would wait for ever"}]
    assert outbox.delivery(conn, dead)["status"] == "dead"


def test_replay_takes_a_list_of_integer_ids_and_says_what_else_is_wrong(start: Start) -> None:
    """Review of the sidecar, finding 4: ``[1e400]`` and ``[10**30]`` got a 500, and ``"12"`` was read character by
    character, so deliveries 1 and 2 went out again. Each such body is now a 400 that says what is expected, never
    echoing the value, and nothing is replayed."""
    rec = Receiver(behaviour="fo")
    with ServerThread(rec.app()) as ds:
        gw_server, gw = start({"default": {"downstream": ds.url}}, {}, admin_key="geheim")
        for n in (1, 2):
            assert httpx.post(gw_server.url + "/soap", content=variant(sample(A02), n)).status_code == 200
        assert wait_for(lambda: [r["status"] for r in table(gw, "delivery")] == ["dead", "dead"])
        admin = {"X-Admin-Key": "geheim"}
        top = 2**63 - 1
        for body, says in (
            (b'{"ids": [1e400]}', '"ids"[0] is a number with a fraction or exponent'),
            (b'{"ids": [1.0]}', '"ids"[0] is a number with a fraction or exponent'),
            (b'{"ids": [2, 1000000000000000000000000000000]}', '"ids"[1] is an integer beyond SQLite'),
            (b'{"ids": [%d]}' % (top + 1), '"ids"[0] is an integer beyond SQLite'),
            (b'{"ids": "12"}', '"ids" is a string, not a list of integers'),
            (b'{"ids": ["123456782"]}', '"ids"[0] is a string'),
            (b'{"ids": [true]}', '"ids"[0] is true/false'),
            (b'{"ids": [1], "quarantined": "no"}', '"quarantined" is a string, not true or false'),
            (b'{"ids": [1], "quarantine": true, "123456782": 1}', "unknown key(s) (not a name), 'quarantine'"),
            (b'{"ids": [' + b",".join([b"1"] * 100_001) + b"]}", '"ids" names 100,001 ids: at most 100,000'),
            (b"[" * 100_000, "not JSON"),
            (b"[1, 2]", "not a JSON object"),
        ):
            refused = httpx.post(gw_server.url + "/admin/replay", content=body, headers=admin)
            assert refused.status_code == 400, (body[:60], refused.text)
            error = refused.json()["error"]
            assert error.startswith(says), (body[:60], error)
            assert "123456782" not in error  # what stood where an id or a key belongs is never echoed
        huge = httpx.post(gw_server.url + "/admin/replay", content=b" " * (MAX_REPLAY_BODY + 1), headers=admin)
        assert huge.status_code == 413 and "replay in several requests" in huge.json()["error"]
        assert [(r["status"], r["replays"]) for r in table(gw, "delivery")] == [("dead", 0), ("dead", 0)]
        edges = httpx.post(gw_server.url + "/admin/replay", json={"ids": [top, -top - 1]}, headers=admin)
        assert edges.status_code == 200
        assert [r["note"] for r in edges.json()["results"]] == ["no such delivery"] * 2


def test_a_delivered_delivery_is_replayed_only_on_force(start: Start) -> None:
    """Review of the sidecar, finding 5: replaying a delivery that had gone out answered "queued again as stored" and
    sent it again; a creeerZaak after the zaak's status update had gone out is applied out of order by a receiver
    without de-duplication. Replay is for dead letters: a delivered one is refused, saying which and why, unless the
    operator passes force."""
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        gw_server, gw = start({"default": {"downstream": ds.url}}, {}, admin_key="geheim")
        assert httpx.post(gw_server.url + "/soap", content=sample(A02)).status_code == 200
        assert wait_for(lambda: [r["status"] for r in table(gw, "delivery")] == ["delivered"])
        delivered = int(table(gw, "delivery")[0]["id"])  # type: ignore[call-overload]
        admin = {"X-Admin-Key": "geheim"}
        refused = httpx.post(gw_server.url + "/admin/replay", json={"ids": [delivered]}, headers=admin)
        assert refused.status_code == 200
        assert refused.json()["results"] == [{"id": delivered, "ok": False, "note": DELIVERED_REFUSED}]
        assert [(r["status"], r["replays"]) for r in table(gw, "delivery")] == [("delivered", 0)]
        forced = httpx.post(gw_server.url + "/admin/replay", json={"ids": [delivered], "force": True}, headers=admin)
        again = "queued again as stored (it had been delivered: sent again on force)"
        assert forced.json()["results"] == [{"id": delivered, "ok": True, "note": again}]
        assert wait_for(lambda: len(rec.received) == 2)
        assert rec.refs()[0] == rec.refs()[1]  # the same output, under its own referentienummer


def test_admin_endpoints_without_an_admin_key_are_off(start: Start) -> None:
    gw_server, _gw = start({"default": {"downstream": "zs"}}, {"zs": "http://127.0.0.1:9/zs"},
                           require_downstream_ready=False)
    for method, path in (("POST", "/admin/reload"), ("GET", "/admin/outbox"), ("POST", "/admin/replay")):
        response = httpx.request(method, gw_server.url + path, headers={"X-Admin-Key": ""})
        assert response.status_code == 404, path
        assert response.json() == {"error": "admin endpoints are off: set admin_key (or --admin-key)"}
