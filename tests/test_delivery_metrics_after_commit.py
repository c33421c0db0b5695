"""A delivery attempt's outcome is counted on /metrics only once its write is committed (session 24).

Why: the forwarder counted delivered/dead inside the write job, before the group committer's COMMIT; a COMMIT that
then failed stored nothing (the delivery stays pending, is sent again later and counted again) but left the attempt
counted. Here the COMMIT really fails: a trigger adds a row that breaks a deferred foreign key when a delivery is
marked delivered, which SQLite and PostgreSQL check only at COMMIT. Real sidecars on 127.0.0.1, a real downstream,
a real SQLite outbox and a real PostgreSQL store.
"""

from __future__ import annotations

import time

import httpx
import pg_helpers
import psycopg
import pytest
from proxy_helpers import Receiver, ServerThread, Start, metric, sample, soap11, variant, wait_for
from test_proxy_refusal import sql, table

A02 = "CasusA-02-WMO301_toewijzing.xml"
SQLITE_FAILING_COMMIT = """
CREATE TABLE t_parent (id INTEGER PRIMARY KEY);
CREATE TABLE t_child (parent INTEGER REFERENCES t_parent (id) DEFERRABLE INITIALLY DEFERRED);
CREATE TRIGGER t_commit_fails AFTER UPDATE OF status ON delivery WHEN NEW.status = 'delivered'
BEGIN INSERT INTO t_child VALUES (42); END;
"""
POSTGRES_FAILING_COMMIT = """
CREATE TABLE t_parent (id integer PRIMARY KEY);
CREATE TABLE t_child (parent integer REFERENCES t_parent (id) DEFERRABLE INITIALLY DEFERRED);
CREATE FUNCTION t_orphan() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO t_child VALUES (42); RETURN NEW; END $$;
CREATE TRIGGER t_commit_fails AFTER UPDATE OF status ON delivery FOR EACH ROW WHEN (NEW.status = 'delivered')
EXECUTE FUNCTION t_orphan();
"""


def delivered(url: str) -> float:
    return metric(url, "overstap_delivered_total", route="default")


def commit_failed(caplog: pytest.LogCaptureFixture) -> bool:
    return any(r.getMessage().startswith("outbox commit failed: ") for r in caplog.records)


def post_and_see_sent(url: str, rec: Receiver, n: int) -> None:
    answer = httpx.post(url + "/soap", content=soap11(variant(sample(A02), n)), timeout=30)
    assert answer.status_code == 200 and b"Bv03Bericht" in answer.content
    assert wait_for(lambda: len(set(rec.refs())) == n + 1)  # sent (a replica sends a still pending one again)


def test_an_attempt_whose_commit_fails_is_not_counted_delivered(start: Start, caplog: pytest.LogCaptureFixture) \
        -> None:
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        server, gw = start({"default": {"downstream": ds.url}}, {})
        sql(gw, SQLITE_FAILING_COMMIT)
        post_and_see_sent(server.url, rec, 0)
        assert wait_for(lambda: commit_failed(caplog))  # the COMMIT of "delivered" failed
        time.sleep(0.3)
        assert [d["status"] for d in table(gw, "delivery")] == ["pending"]  # nothing of it stored
        assert delivered(server.url) == 0
        sql(gw, "DROP TRIGGER t_commit_fails;")
        post_and_see_sent(server.url, rec, 1)  # a commit that succeeds is counted, once
        assert wait_for(lambda: delivered(server.url) == 2)  # the first, taken up again (session 27), too
        assert [d["status"] for d in table(gw, "delivery")] == ["delivered", "delivered"]


server = pg_helpers.server  # one PostgreSQL server for this module


def test_on_a_shared_postgresql_store_too(start: Start, server: str, request: pytest.FixtureRequest,
                                         caplog: pytest.LogCaptureFixture) -> None:
    """The replicas' forwarder (gateway/deliver/claiming.py) writes the outcome through its own path."""
    store = pg_helpers.database_for(server, request, "mcommit")
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        gw_server, _ = start({"default": {"downstream": ds.url}}, {}, store=store)
        with psycopg.connect(store, autocommit=True) as conn:
            conn.execute(POSTGRES_FAILING_COMMIT)
        post_and_see_sent(gw_server.url, rec, 0)
        assert wait_for(lambda: commit_failed(caplog))
        time.sleep(0.3)
        with psycopg.connect(store) as conn:
            assert conn.execute("SELECT status FROM delivery").fetchall() == [("pending",)]
        assert delivered(gw_server.url) == 0
        with psycopg.connect(store, autocommit=True) as conn:
            conn.execute("DROP TRIGGER t_commit_fails ON delivery")
        post_and_see_sent(gw_server.url, rec, 1)  # the first, still pending, goes again: both counted once
        assert wait_for(lambda: delivered(gw_server.url) == 2)
        with psycopg.connect(store) as conn:
            assert conn.execute("SELECT status FROM delivery").fetchall() == [("delivered",)] * 2


SQLITE_FAILING_RETRY = """
CREATE TABLE t_parent (id INTEGER PRIMARY KEY);
CREATE TABLE t_child (parent INTEGER REFERENCES t_parent (id) DEFERRABLE INITIALLY DEFERRED);
CREATE TRIGGER t_commit_fails AFTER UPDATE OF next_at ON delivery WHEN NEW.status = 'pending'
BEGIN INSERT INTO t_child VALUES (42); END;
"""


def test_a_retry_is_counted_once_its_write_is_committed(start: Start, caplog: pytest.LogCaptureFixture) -> None:
    """Session 25: ``overstap_retried_total`` was counted when the retry was scheduled, before the COMMIT of its
    attempts and next_at; now it is counted as delivered and dead are, after COMMIT, and not when it fails."""
    rec = Receiver(behaviour="500")
    with ServerThread(rec.app()) as ds:
        server, gw = start({"default": {"downstream": ds.url}}, {})
        sql(gw, SQLITE_FAILING_RETRY)
        answer = httpx.post(server.url + "/soap", content=soap11(sample(A02)), timeout=30)
        assert answer.status_code == 200
        assert wait_for(lambda: rec.calls >= 3 and commit_failed(caplog))  # attempts failed, retried
        assert metric(server.url, "overstap_retried_total", route="default") == 0  # none of it stored
        assert [d["attempts"] for d in table(gw, "delivery")] == [0]
        sql(gw, "DROP TRIGGER t_commit_fails;")
        assert wait_for(lambda: metric(server.url, "overstap_retried_total", route="default") >= 1)
        assert wait_for(lambda: int(table(gw, "delivery")[0]["attempts"]) >= 1)  # type: ignore[call-overload]
