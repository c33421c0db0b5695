"""The quarantine has a bound: past it a refused message is not kept but answered "offer it again later" (session 23).

Why: every refused body is kept with its reason, so without a bound anyone who can post junk grows the data folder
without limit. Past ``quarantine_max_messages`` / ``quarantine_max_bytes`` the sidecar answers StUF046 with 503 and
``Retry-After`` and stores nothing: the sender was never acknowledged and still holds the message. Real sidecar on
127.0.0.1, real SQLite outbox.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pg_helpers
import psycopg
import pytest
from proxy_helpers import SOAP11, Receiver, ServerThread, Start, metric, sample, soap11
from test_ggk_fo01 import fo01
from test_proxy_refusal import is_fo03, sql, table
from test_proxy_soap_front import MARKED, envelope

from gateway.proxy.quarantine_bound import FULL_RECOUNT_SECONDS

A02 = "CasusA-02-WMO301_toewijzing.xml"


def junk(n: int, size: int = 0) -> bytes:
    """A distinct body that does not parse (the sidecar refuses and quarantines it), padded to about ``size``."""
    return b"<Bericht><kapot n='%d'>" % n + b"x" * size + b"</Bericht>"


def test_past_the_message_cap_a_refused_message_is_not_kept_but_answered_503_stuf046(start: Start) -> None:
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        gw_server, gw = start({"default": {"downstream": ds.url}}, {}, fault_status="http",
                              quarantine_max_messages=2)
        kept = [httpx.post(gw_server.url + "/soap", content=junk(i)) for i in (0, 0, 1)]  # the same junk again:
        assert [r.status_code for r in kept] == [400, 400, 400]  # counted up in its entry, no new one
        assert [r.headers["x-overstap-quarantine"] for r in kept] == ["1", "1", "2"]
        assert [m["id"] for m in table(gw, "message")] == [1, 2] and gw.quarantine.messages == 2
        full = httpx.post(gw_server.url + "/soap", content=junk(2))
        assert full.status_code == 503 and full.headers["retry-after"] == "60" and is_fo03(full, "StUF046")
        assert "x-overstap-quarantine" not in full.headers and len(table(gw, "message")) == 2
        assert metric(gw_server.url, "overstap_rejected_total", route="default", reason="quarantine_full") == 1
        ready = httpx.get(gw_server.url + "/readyz")
        assert ready.status_code == 200  # full is shown, not unready: good messages still pass
        assert ready.json()["quarantine"] == {"messages": 2, "bytes": sum(len(junk(i)) for i in range(2)),
                                              "max_messages": 2, "max_bytes": 1024 ** 3, "full": True}
        good = httpx.post(gw_server.url + "/soap", content=sample(A02))
        assert good.status_code == 200 and b"Bv03Bericht" in good.content
        sql(gw, "DELETE FROM message WHERE status = 'quarantined' AND id = 1;")  # the operator purges one
        time.sleep(FULL_RECOUNT_SECONDS + 0.1)
        room = httpx.post(gw_server.url + "/soap", content=junk(2))  # the sender offers it again: kept now
        assert room.status_code == 400 and room.headers["x-overstap-quarantine"]
        assert sorted(m["status"] for m in table(gw, "message")) == ["accepted", "quarantined", "quarantined"]


def test_past_the_byte_cap_a_large_refused_body_is_not_kept_and_a_small_one_still_is(start: Start) -> None:
    gw_server, gw = start({"default": {"downstream": "zs"}}, {"zs": "http://127.0.0.1:9/zs"},
                          require_downstream_ready=False, quarantine_max_bytes=4096)
    first = httpx.post(gw_server.url + "/soap", content=junk(0, 3000))
    assert first.status_code == 500 and first.headers["x-overstap-quarantine"]
    large = httpx.post(gw_server.url + "/soap", content=junk(1, 3000))  # 3000 + 3000 > 4096
    assert large.status_code == 500 and is_fo03(large, "StUF046") and large.headers["retry-after"] == "60"
    assert "x-overstap-quarantine" not in large.headers
    small = httpx.post(gw_server.url + "/soap", content=junk(2))
    assert small.headers["x-overstap-quarantine"]
    assert [len(m["original"]) for m in table(gw, "message")] == [len(junk(0, 3000)), len(junk(2))]


def test_a_full_quarantine_answers_a_mustunderstand_refusal_503_too(start: Start) -> None:
    """The MustUnderstand refusal keeps its message in quarantine like every other: past the cap, not kept."""
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        gw_server, gw = start({"default": {"downstream": ds.url}}, {}, fault_status="http",
                              quarantine_max_messages=1)
        assert httpx.post(gw_server.url + "/soap", content=junk(0)).headers["x-overstap-quarantine"] == "1"
        body = envelope(sample(A02), SOAP11, header=MARKED.format(flag="1", target=""))
        full = httpx.post(gw_server.url + "/soap", content=body, timeout=30)
        assert full.status_code == 503 and is_fo03(full, "StUF046") and b"MustUnderstand" not in full.content
        assert len(table(gw, "message")) == 1 and rec.received == []


server = pg_helpers.server  # one PostgreSQL server for this module


def test_the_bound_holds_on_a_shared_postgresql_store(start: Start, server: str, request: pytest.FixtureRequest) \
        -> None:
    """The same refusal path and the same count of the store (length of a bytea, PostgreSQL's sum) on PostgreSQL."""
    store = pg_helpers.database_for(server, request, "qbound")
    gw_server, gw = start({"default": {"downstream": "zs"}}, {"zs": "http://127.0.0.1:9/zs"},
                          require_downstream_ready=False, quarantine_max_messages=1, store=store)
    assert httpx.post(gw_server.url + "/soap", content=junk(0)).headers["x-overstap-quarantine"]
    full = httpx.post(gw_server.url + "/soap", content=junk(1))
    assert full.status_code == 500 and is_fo03(full, "StUF046") and "x-overstap-quarantine" not in full.headers
    with psycopg.connect(store) as conn:
        assert conn.execute("SELECT count(*) FROM message WHERE status = 'quarantined'").fetchone() == (1,)
    gw.quarantine.counted_at = float("-inf")  # as if the counts were stale: counted from the store again
    assert httpx.post(gw_server.url + "/soap", content=junk(1)).status_code == 500
    assert gw.quarantine.state()["messages"] == 1 and gw.quarantine.state()["bytes"] == len(junk(0))


def test_a_chain_fo01_naming_nothing_sent_is_not_kept_past_the_cap(start: Start) -> None:
    """Such a Fo01 is quarantined (gateway/deliver/chain_faults.py): past the cap it is refused whole, nothing of it
    stored, and the chain offers it again; a kept one that comes again uses no more room."""
    gw_server, gw = start({"default": {"downstream": "isd", "profile": "ggk"}}, {"isd": "http://127.0.0.1:9/isd"},
                          require_downstream_ready=False, quarantine_max_messages=2, fault_status="http")
    _, first = fo01(str(uuid.uuid4()))
    for _ in range(2):  # the same Fo01 again: counted up in its entry
        kept = httpx.post(gw_server.url + "/soap", content=soap11(first))
        assert kept.status_code == 200 and kept.headers["x-overstap-quarantine"] == "1"
    assert gw.quarantine.messages == 1
    assert httpx.post(gw_server.url + "/soap", content=junk(0)).headers["x-overstap-quarantine"] == "2"
    full = httpx.post(gw_server.url + "/soap", content=soap11(fo01(str(uuid.uuid4()))[1]))
    assert full.status_code == 503 and is_fo03(full, "StUF046") and b"Bv03Bericht" not in full.content
    assert [m["id"] for m in table(gw, "message")] == [1, 2]
    assert metric(gw_server.url, "overstap_rejected_total", route="default", reason="quarantine_full") == 1
    assert metric(gw_server.url, "overstap_chain_faults_total", outcome="quarantined") == 2
    again = httpx.post(gw_server.url + "/soap", content=soap11(first))  # full, but kept already: no new cost
    assert again.status_code == 200 and again.headers["x-overstap-quarantine"] == "1"  # (session 24)
    assert [m["times_received"] for m in table(gw, "message")] == [3, 1]


def test_refusals_in_flight_at_once_do_not_together_pass_the_cap(start: Start) -> None:
    """Each refusal reserves its room before its write: 16 distinct junk bodies at once against a cap of 4 leave
    exactly 4 entries, and the rest are answered StUF046, not lost."""
    gw_server, gw = start({"default": {"downstream": "zs"}}, {"zs": "http://127.0.0.1:9/zs"},
                          require_downstream_ready=False, quarantine_max_messages=4, fault_status="http")
    httpx.get(gw_server.url + "/readyz")
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda i: httpx.post(gw_server.url + "/soap", content=junk(i, 20000), timeout=30),
                                range(16)))
    assert sorted(a.status_code for a in answers) == [400] * 4 + [503] * 12
    assert len(table(gw, "message")) == 4
    assert (gw.quarantine.messages, gw.quarantine.pending_messages) == (4, 0)
