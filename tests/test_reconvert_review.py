"""Review of ``outbox reconvert`` / ``POST /admin/reconvert`` (session 25): what a careless operator or a busy
sidecar meets there, each on real parts (SQLite files, a real PostgreSQL server, a real sidecar under uvicorn).

Why a module of its own: tests/test_reconvert.py drives the intended use; these are the edges found in review.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pg_helpers
import pytest
from click.testing import CliRunner
from console_helpers import local_console
from pg_helpers import database_for
from proxy_helpers import ServerThread, sample, wait_for
from reconvert_helpers import StrictReceiver
from test_pg_renew_reconvert import refused_on_two_replicas
from test_reconvert import B01, B04, _rows

from gateway.cli import main
from gateway.deliver import imported, outbox
from gateway.deliver.plan import canonical_delivery
from gateway.deliver.reconvert import (
    MAX_MESSAGES,
    OF_ZAKEN,
    ReconvertRefused,
    _supersede,
    involved,
    messages_of,
    reconvert,
)
from gateway.deliver.replay import accept_converted
from gateway.deliver.store import open_store
from gateway.ledger.staged import ConnLedger
from gateway.mapping import Registry
from gateway.pipeline import Converter, Output
from gateway.testbed.app import create_app as reference_app

server = pg_helpers.server


def _dead(conn: Any, zaak: str, ref: str, body: bytes) -> int:
    """A translate route's message with one zaak delivery, refused by the receiver."""
    accepted = outbox.accept(conn, outbox.NewMessage("default", "translate", body), [
        outbox.NewDelivery(outbox.NEW, ref, zaak, b"<x/>", "text/xml", "creeerZaak", zaak)])
    outbox.mark_dead(conn, accepted.queued[0].id, 1, 200, "Fo03 StUF055", "refused")
    return accepted.queued[0].id


def test_a_zaaks_deliveries_are_read_through_an_index_not_by_reading_every_delivery(tmp_path: Path) -> None:
    """Through the sidecar the read runs under the render lock: beside 1,000,000 deliveries of 2 KB it took 1.2-3.3 s
    a read without schema 0007's index, 0.1 ms with it (docs/performance.md)."""
    conn = outbox.connect(outbox.open_db(tmp_path))
    with outbox.transaction(conn):
        first = _dead(conn, "Z1", "R1", b"<a/>")
        _dead(conn, "Z2", "R2", b"<b/>")
    plan = " ".join(str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + OF_ZAKEN.format(marks="?"), ("Z1",)))
    assert "USING INDEX delivery_zaak" in plan, plan
    assert sorted(involved(conn, [first])[0]) == [1]
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "console_delivery_zaak" not in names  # the console's own copy of it is gone: one index to keep up


def test_an_outbox_the_console_indexed_before_0007_keeps_one_index_of_the_zaak(tmp_path: Path) -> None:
    from gateway import schema
    from gateway.console.queries import ensure_indexes

    path = outbox.open_db(tmp_path)
    conn = sqlite3.connect(path)
    ensure_indexes(conn)
    conn.execute("CREATE INDEX console_delivery_zaak ON delivery(zaak)")  # as the console of before made it
    conn.execute("DROP INDEX delivery_zaak")
    conn.execute("DROP INDEX delivery_renewal_owed")  # and without what 0009 added: an outbox at 0006 throughout
    conn.execute("ALTER TABLE delivery DROP COLUMN renewal_owed")
    conn.execute(f"UPDATE {schema.VERSION_TABLE} SET version_num = '0006'")
    conn.commit()
    conn.close()
    conn = outbox.connect(outbox.open_db(tmp_path))
    indexes = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE "
                                          "'%ON delivery(zaak)%'")]
    assert indexes == ["delivery_zaak"]
    assert "renewal_owed" in {r[1] for r in conn.execute("PRAGMA table_info(delivery)")}  # 0009 ran after 0007


def test_many_zaken_at_once_on_postgresql(server: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """An operator naming every dead letter a week of a mapping fault left: 70,000 zaken are more parameters than
    PostgreSQL takes in one statement (65,535): asked 500 at a time (reconvert.ZAKEN_AT_ONCE)."""
    database = database_for(server, request, "reconvert_review")
    conn = open_store(tmp_path, database).connect()
    with outbox.transaction(conn):
        _dead(conn, "Z69999", "R1", b"<a/>")
        _dead(conn, "Y1", "R2", b"<b/>")
    zaken = [f"Z{i}" for i in range(70_000)]
    assert messages_of(conn, zaken) == {1}
    ((index,),) = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'delivery_zaak'").fetchall()
    assert "(zaak)" in index
    conn.close()


def test_the_cli_beside_two_replicas_a_message_of_the_zaak_arriving_at_once_goes_after_it(
        start: Any, tmp_path: Path, server: str, request: pytest.FixtureRequest) -> None:
    """The author's open question: the CLI's deliveries on PostgreSQL waited for a replica's poll (5 s here; since
    session 26 its COMMIT notifies the replicas, gateway/pgstore/notify.py), and B04 arrives at the other replica
    right after the reconvert. Its claiming forwarder reads the zaak's pending deliveries from the store before each
    send, oldest first, so the creeerZaak converted anew goes before B04; and B04, rendered in the store's write lock
    after the CLI's commit, is rendered on the zaak converted anew."""
    database = database_for(server, request, "reconvert_review")
    receiver = StrictReceiver()
    with ServerThread(reference_app(receiver)) as ds:
        _one, other, conn, creeer, zaak = refused_on_two_replicas(start, tmp_path, ds.url + "/soap", database,
                                                                  poll_interval=5)
        result = CliRunner().invoke(main, ["outbox", "reconvert", str(creeer), "--store", database])
        assert result.exit_code == 0, result.output
        assert httpx.post(other.url + "/soap", content=sample(B04), timeout=30).status_code == 200
        assert wait_for(lambda: _rows(conn, "SELECT count(*) FROM delivery WHERE status = 'pending'")[0][0] == 0,
                        timeout=60)
        assert _rows(conn, "SELECT id FROM delivery WHERE status != 'delivered' ORDER BY id") == [(1,), (2,)], _rows(
            conn, "SELECT id, status, reason FROM delivery ORDER BY id")
        held = receiver.zaak(zaak)
        assert held is not None and held["extraElementen"]["product.omvang.volume"] == "22500"
        assert len(held["statussen"]) >= 2  # the start and the stop of zorg, on the zaak converted anew
        ((state,),) = _rows(conn, "SELECT state FROM zaak_state WHERE zaak = ?", zaak)  # B04 rendered on it too
        assert (json.loads(state) if isinstance(state, str) else state)["extra"]["product.omvang.volume"] == "22500"
        conn.close()


def test_a_ggk_envelope_is_refused_not_taken_with_every_envelope_of_the_outbox(tmp_path: Path) -> None:
    """A GGk output has no zaak: its delivery's zaak is "" (gateway/deliver/plan.py), which the reconvert took for a
    zaak, so naming one dead Di01 took every GGk message of the outbox (all dead while the chain was down) to convert
    anew, each in a new envelope under a new UUID."""
    conn = outbox.connect(outbox.open_db(tmp_path))
    with outbox.transaction(conn):
        dead = []
        for n in (1, 2):
            output = Output(f"di01-{n}", b"<Di01/>", f"UUID{n}", "", "ggk")
            accepted = outbox.accept(conn, outbox.NewMessage("isd", "translate", b"<a%d/>" % n),
                                     [canonical_delivery(output)])
            outbox.mark_dead(conn, accepted.queued[0].id, 1, 500, "Fo03 StUF058", "chain down")
            dead.append(accepted.queued[0].id)
    assert _rows(conn, "SELECT zaak FROM delivery") == [("",), ("",)]
    with pytest.raises(ReconvertRefused, match=f"delivery {dead[0]} belongs to no zaak .a GGk envelope.: .*replay it"):
        involved(conn, [dead[0]])
    result = CliRunner().invoke(main, ["outbox", "reconvert", str(dead[0]), "--data-dir", str(tmp_path)])
    assert result.exit_code == 1 and "belongs to no zaak" in result.output, result.output
    assert _rows(conn, "SELECT status FROM message ORDER BY id") == [("accepted",), ("accepted",)]


def test_the_console_shows_a_superseded_message_by_what_replaced_it_and_offers_no_replay(tmp_path: Path) -> None:
    """Its dead letter showed a Replay… button that replay always refuses (it would go on top of the zaak converted
    anew), and the status 'superseded by 4' as text, no way to the message that replaced it."""
    local = local_console(tmp_path)
    conn = outbox.connect(local.db)
    with outbox.transaction(conn):
        conn.execute("UPDATE delivery SET payload = CAST(payload AS BLOB)")  # as the sidecar stores them
        _supersede(conn, 1, 4)  # as outbox reconvert leaves message 1, converted anew as message 4
    otto = local.login("otto")
    page = otto.get("/console/messages/1").text
    assert 'href="/console/deliveries/1/replay"' not in page
    assert 'converted anew as <a href="/console/messages/4">message 4</a>' in page
    assert 'class="status-superseded"' in page
    listed = otto.get("/console/messages").text
    assert '<tr class="status-superseded">' in listed
    with outbox.transaction(conn):  # a dead letter of a message not superseded keeps its button
        conn.execute("UPDATE message SET status = 'accepted' WHERE id = 1")
    assert 'href="/console/deliveries/1/replay"' in otto.get("/console/messages/1").text


def test_more_messages_than_one_transaction_should_hold_are_refused_before_anything_is_read(tmp_path: Path) -> None:
    """A careless operator names every dead letter: 100,000 ids pass the admin API's parser, and at 3.3 ms a
    message the reconvert held the render lock (on PostgreSQL the store's write lock) for 5 minutes while every
    arriving message waited. Refused beyond 200 messages, named or drawn in through their zaken."""
    conn = outbox.connect(outbox.open_db(tmp_path))
    with outbox.transaction(conn):
        many = [_dead(conn, f"Z{n}", f"R{n}", b"<a%d/>" % n) for n in range(MAX_MESSAGES + 1)]
        crowded = [_dead(conn, "BIG", f"S{n}", b"<b%d/>" % n) for n in range(MAX_MESSAGES + 1)]
    assert len(involved(conn, many[:MAX_MESSAGES])[0]) == MAX_MESSAGES
    with pytest.raises(ReconvertRefused, match=f"{MAX_MESSAGES + 1} deliveries named: .*at most {MAX_MESSAGES}"):
        involved(conn, many)
    with pytest.raises(ReconvertRefused, match=f"more than {MAX_MESSAGES} messages"):
        involved(conn, crowded[:1])
    result = CliRunner().invoke(main, ["outbox", "reconvert", *map(str, many), "--data-dir", str(tmp_path)])
    assert result.exit_code == 1 and f"at most {MAX_MESSAGES} messages" in result.output, result.output
    assert _rows(conn, "SELECT DISTINCT status FROM message") == [("accepted",)]


def test_the_admin_api_refuses_a_huge_list_with_409_and_keeps_serving(start: Any, tmp_path: Path) -> None:
    server, gw = start({"default": {"downstream": "http://127.0.0.1:9/soap"}}, {}, admin_key="geheim")
    conn = outbox.connect(gw.db_path)
    with outbox.transaction(conn):
        ids = [_dead(conn, f"Z{n}", f"R{n}", b"<a%d/>" % n) for n in range(MAX_MESSAGES + 1)]
    answer = httpx.post(server.url + "/admin/reconvert", json={"ids": ids}, headers={"X-Admin-Key": "geheim"},
                        timeout=60)
    assert answer.status_code == 409 and f"at most {MAX_MESSAGES} messages" in answer.json()["error"], answer.text
    assert _rows(conn, "SELECT DISTINCT status FROM message") == [("accepted",)]
    conn.close()


def _corrected() -> bytes:
    """B01 sent again corrected (another Berichtidentificatie, the toewijzing ending a month earlier): an updateZaak."""
    return sample(B01).replace(b"506b94c1386c", b"506b94c1386d").replace(b"2016-12-31", b"2016-11-30")


def _delivered_and_purged_then_corrected_dead(tmp_path: Path) -> tuple[Any, int, str, Any]:
    """The receiver holds the zaak of B01 (delivered, then purged from the outbox as operators do); B01 corrected, an
    updateZaak of it, refused. Returns the outbox, B02's dead letter, the zaak and a fixed converter."""
    conn = outbox.connect(outbox.open_db(tmp_path))
    fixed = Converter(Registry(), ledger=ConnLedger(conn, create=False), validate=False)

    def row(body: bytes) -> dict[str, Any]:
        return {"route": "default", "mode": "translate", "original": body, "content_type": None, "soap_action": None}

    with outbox.transaction(conn):
        (creeer,) = accept_converted(conn, row(sample(B01)), fixed.convert(sample(B01), "B01", route="default"),
                                     None).queued
        outbox.mark_delivered(conn, creeer.id, 1, 200, "Bv03")
    purged = CliRunner().invoke(main, ["outbox", "purge", "--older-than", "0s", "--data-dir", str(tmp_path)])
    assert purged.exit_code == 0 and _rows(conn, "SELECT count(*) FROM delivery")[0][0] == 0, purged.output
    with outbox.transaction(conn):
        later = accept_converted(conn, row(_corrected()), fixed.convert(_corrected(), "B01", route="default"),
                                 None).queued
        for q in later:
            outbox.mark_dead(conn, q.id, 1, 200, "Fo03 StUF055", "refused")
    ((zaak, action),) = _rows(conn, "SELECT DISTINCT zaak, soap_action FROM delivery")
    assert action.endswith("/updateZaak_Lk01")
    return conn, later[0].id, zaak, fixed


def test_a_zaak_the_receiver_got_outside_the_outbox_is_not_taken_back(tmp_path: Path) -> None:
    """Every delivery the outbox holds of the zaak is dead, yet the receiver holds it: its creeerZaak was delivered and
    purged (or came with a batch run's ledger, outbox import-ledger). Taken back, the ledger lost the zaak for good
    and the correction went again as a creeerZaak of a zaak the receiver holds. No creeerZaak of the zaak in the
    outbox: refused."""
    conn, dead, zaak, fixed = _delivered_and_purged_then_corrected_dead(tmp_path)
    before = _rows(conn, "SELECT zaak, state FROM zaak_state")
    with pytest.raises(ReconvertRefused, match=f"zaak {zaak} has no creeerZaak in the outbox"), \
            outbox.transaction(conn):
        reconvert(conn, [dead], lambda route, original: fixed.convert(original, "B01", route=route))
    assert _rows(conn, "SELECT zaak, state FROM zaak_state") == before
    assert _rows(conn, "SELECT DISTINCT status FROM message") == [("accepted",)]


def test_a_creeerzaak_an_import_marked_does_not_count_as_created_here(tmp_path: Path) -> None:
    """B01's creeerZaak refused, then outbox import-ledger brought a batch run's ledger holding its zaak (the receiver
    got it from the batch) and marked the dead letter: taking that zaak back would drop the imported state."""
    conn = outbox.connect(outbox.open_db(tmp_path))
    fixed = Converter(Registry(), ledger=ConnLedger(conn, create=False), validate=False)
    row = {"route": "default", "mode": "translate", "original": sample(B01), "content_type": None, "soap_action": None}
    with outbox.transaction(conn):
        (creeer,) = accept_converted(conn, row, fixed.convert(sample(B01), "B01", route="default"), None).queued
        outbox.mark_dead(conn, creeer.id, 1, 200, "Fo03 StUF055", "refused")
    assert len(involved(conn, [creeer.id])[0]) == 1  # created here: it may be taken back
    with outbox.transaction(conn):
        assert imported.mark(conn, lambda zaken: set(zaken)) == 1  # as outbox import-ledger marks it
    with pytest.raises(ReconvertRefused, match="has no creeerZaak in the outbox that these messages sent"):
        involved(conn, [creeer.id])
