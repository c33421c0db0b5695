"""``overstap outbox reconvert``: a zkn message the receiver refused for a mapping fault, converted anew once the
mapping is fixed, with the zaak ledger taken back first.

Why: replay sends a dead letter as stored, right when the cause lay with the receiver; for a fault of ours StUF 03.01
4.4.3 wants a new message (new referentienummer and tijdstipBericht), and the ledger still held the zaak as the
refused creeerZaak left it, so every later message of that zaak became an updateZaak the receiver refused as well.
Real sidecar under uvicorn, the CLI on its real SQLite outbox, the testbed's reference receiver over HTTP (with one
rule more, as a zaaksysteem may have: an einddatumGepland before the startdatum is refused).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pg_helpers
import pytest
from click.testing import CliRunner
from pg_helpers import database_for
from proxy_helpers import ServerThread, Start, sample, wait_for
from reconvert_helpers import CODE_FAULT, StrictReceiver, broken_registry, fix_mapping

from gateway.cli import main
from gateway.deliver import outbox, superseded
from gateway.deliver.reconvert import ReconvertRefused, involved, reconvert
from gateway.deliver.replay import accept_converted
from gateway.ledger.staged import ConnLedger
from gateway.mapping import Registry
from gateway.pgstore.conn import PgConnection
from gateway.pipeline import Converter
from gateway.testbed.app import create_app as reference_app

B01, B02, B04 = "CasusB-01-WMO301_toewijzing.xml", "CasusB-02-WMO305_start.xml", "CasusB-04-WMO307_stop.xml"
server = pg_helpers.server


def _rows(conn: Any, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(sql, args)]


def test_a_creeerzaak_refused_for_a_mapping_fault_goes_again_converted_with_the_fixed_mapping(
        start: Start, tmp_path: Path) -> None:
    _refused_then_converted_anew(start, tmp_path)


def test_on_postgresql_the_reconversion_runs_beside_the_replicas(
        start: Start, tmp_path: Path, server: str, request: pytest.FixtureRequest) -> None:
    _refused_then_converted_anew(start, tmp_path, database_for(server, request, "reconvert"))


def _refused_then_converted_anew(start: Start, tmp_path: Path, database: str | None = None) -> None:
    """B01 refused for a mapping fault, B02 rendered on top of it and refused too, reconvert, the sidecar with the
    fixed mapping, B04: on the SQLite outbox (the sidecar stopped for it), or on the PostgreSQL ``database`` (beside
    the replica)."""
    receiver = StrictReceiver()
    store = {"store": database} if database else {}
    with ServerThread(reference_app(receiver)) as ds:
        routes = {"default": {"downstream": ds.url + "/soap"}}
        server, gw = start(routes, {}, reg=broken_registry(tmp_path), admin_key="geheim", **store)
        where = ["--store", database] if database else ["--data-dir", str(gw.db_path.parent)]  # type: ignore[union-attr]
        conn: Any = PgConnection(database) if database else outbox.connect(gw.db_path)  # type: ignore[arg-type]
        for name in (B01, B02):  # the toewijzing, then the start of zorg rendered on top of it
            assert httpx.post(server.url + "/soap", content=sample(name), timeout=30).status_code == 200
        assert wait_for(lambda: _rows(conn, "SELECT count(*) FROM delivery WHERE status = 'dead'")[0][0] == 2)
        (creeer, zaak, old_ref, code, reason), (later, later_zaak, _, later_code, _) = _rows(
            conn, "SELECT id, zaak, referentienummer, reply_code, reason FROM delivery ORDER BY id")
        assert code.startswith("Fo03") and "toegewezen volume" in reason
        assert later_zaak == zaak and later_code.startswith("Fo03")  # no such zaak at the receiver
        assert len(receiver) == 0  # the receiver holds nothing of the zaak
        if not database:  # beside the sidecar serving SQLite it is refused: it renders ahead of its commits
            beside = CliRunner().invoke(main, ["outbox", "reconvert", str(creeer), *where])
            assert beside.exit_code == 1 and "a sidecar is serving" in beside.output, beside.output
            assert "POST /admin/reconvert" in beside.output
            server.stop()
        # the mapping fixed (the shipped dialects): convert anew
        result = CliRunner().invoke(main, ["outbox", "reconvert", str(creeer), *where])
        assert result.exit_code == 0, result.output
        assert "2 message(s) converted anew" in result.output
        (_, first), (_, second), (third, new_status), (fourth, _) = _rows(
            conn, "SELECT id, status FROM message ORDER BY id")
        assert (first, second, new_status) == (f"superseded by {third}", f"superseded by {fourth}", "accepted")
        old = _rows(conn, "SELECT status, reason FROM delivery WHERE id IN (?, ?) ORDER BY id", creeer, later)
        assert old[0][0] == old[1][0] == "dead" and old[0][1].startswith(f"superseded by message {third} ")
        assert "toegewezen volume" in old[0][1] and old[1][1].startswith(f"superseded by message {fourth} ")
        fresh = _rows(conn, "SELECT id, zaak, referentienummer, status FROM delivery WHERE id > ? ORDER BY id", later)
        assert [z for _, z, _, _ in fresh] == [zaak, zaak]  # the same identificatie: the fault was not in it
        assert {st for *_, st in fresh} <= {"pending", "delivered"}  # the replica beside may have sent them already
        assert old_ref not in {r for _, _, r, _ in fresh}  # a new message: a new referentienummer (StUF 03.01 4.4.3)
        assert _tijdstip(conn, fresh[0][0]) > _tijdstip(conn, later)  # and a later tijdstipBericht
        # the ledger holds the zaak as converted anew, nothing of the refused one
        assert "22500" in json.dumps(_rows(conn, "SELECT state FROM zaak_state WHERE zaak = ?", zaak)[0][0])
        # the old dead letter is not replayed, even forced, and --all-dead passes it by
        replayed = CliRunner().invoke(main, ["outbox", "replay", str(creeer), "--force", *where])
        assert replayed.exit_code == 1 and f"superseded by message {third}" in replayed.output, replayed.output
        everything = CliRunner().invoke(main, ["outbox", "replay", "--all-dead", *where])
        assert "0 replayed, 0 not" in everything.output, everything.output
        # the sidecar again, with the fixed mapping: the receiver takes the zaak as the source says it
        if database:
            server.stop()
        server, gw = start(routes, {}, admin_key="geheim", **store)
        assert wait_for(lambda: _rows(conn, "SELECT count(*) FROM delivery WHERE status = 'pending'")[0][0] == 0)
        assert _rows(conn, "SELECT id FROM delivery WHERE status != 'delivered' ORDER BY id") == [(creeer,), (later,)]
        held = receiver.zaak(zaak)
        assert held is not None and held["extraElementen"]["product.omvang.volume"] == "22500"
        statussen = len(held["statussen"])
        assert statussen >= 1  # the start of zorg applied on the zaak converted anew
        # and a later message of the zaak applies
        assert httpx.post(server.url + "/soap", content=sample(B04), timeout=30).status_code == 200
        assert wait_for(lambda: _rows(conn, "SELECT count(*) FROM delivery WHERE status = 'pending'")[0][0] == 0)
        assert _rows(conn, "SELECT id FROM delivery WHERE status != 'delivered' ORDER BY id") == [(creeer,), (later,)]
        assert len(receiver.zaak(zaak)["statussen"]) > statussen  # type: ignore[index]
        conn.close()


def test_through_the_running_sidecar_after_its_mapping_reload(start: Start, tmp_path: Path) -> None:
    """POST /admin/reconvert: the sidecar keeps serving; the fix reaches it by a mapping reload."""
    _through_the_sidecar(start, tmp_path)


def test_through_a_replica_on_postgresql(start: Start, tmp_path: Path, server: str,
                                         request: pytest.FixtureRequest) -> None:
    _through_the_sidecar(start, tmp_path, database_for(server, request, "reconvert_admin"))


def _through_the_sidecar(start: Start, tmp_path: Path, database: str | None = None) -> None:
    receiver = StrictReceiver()
    with ServerThread(reference_app(receiver)) as ds:
        # a poll of the outbox every 5 s: the reconvert's deliveries are handed to the forwarder, not found later
        # (B04, stored right after, went first and was refused: no such zaak yet)
        server, gw = start({"default": {"downstream": ds.url + "/soap"}}, {}, reg=broken_registry(tmp_path),
                           admin_key="geheim", poll_interval=5, **({"store": database} if database else {}))
        assert gw.stage is not None
        conn: Any = PgConnection(database) if database else outbox.connect(gw.db_path)  # type: ignore[arg-type]
        # on SQLite B01's write set stays staged, as it is between its commit and its settle: after the reconvert
        # the next message of the zaak must not be rendered from it (the refused volume)
        ledger: Any = gw.stage.ledger
        lagging: list[Any] = []
        if not database:
            settle = ledger.settle
            ledger.settle = lambda writes: lagging.append(writes) if not lagging else settle(writes)
        assert httpx.post(server.url + "/soap", content=sample(B01), timeout=30).status_code == 200
        assert wait_for(lambda: _rows(conn, "SELECT count(*) FROM delivery WHERE status = 'dead'")[0][0] == 1)
        ((creeer, zaak),) = _rows(conn, "SELECT id, zaak FROM delivery")
        assert database or (lagging and lagging[0] in ledger.in_flight())
        assert httpx.post(server.url + "/soap", content=sample(B02), timeout=30).status_code == 200
        assert wait_for(lambda: _rows(conn, "SELECT count(*) FROM delivery WHERE status = 'dead'")[0][0] == 2)
        admin = {"X-Admin-Key": "geheim"}
        unkeyed = httpx.post(server.url + "/admin/reconvert", json={"ids": [creeer]}, timeout=30)
        assert unkeyed.status_code == 401
        bad = httpx.post(server.url + "/admin/reconvert", json={"ids": [creeer], "force": True}, headers=admin)
        assert bad.status_code == 400
        fix_mapping(tmp_path)
        assert httpx.post(server.url + "/admin/reload", headers=admin, timeout=60).json()["reloaded"]
        answer = httpx.post(server.url + "/admin/reconvert", json={"ids": [creeer]}, headers=admin, timeout=60)
        assert answer.status_code == 200, answer.text
        first, second = answer.json()["results"]
        assert (first["message"], second["message"]) == (1, 2) and len(first["queued"]) == len(second["queued"]) == 1
        again = httpx.post(server.url + "/admin/reconvert", json={"ids": [creeer]}, headers=admin, timeout=60)
        assert again.status_code == 409 and f"superseded by message {first['now']}" in again.json()["error"]
        assert httpx.post(server.url + "/soap", content=sample(B04), timeout=30).status_code == 200
        everything = "SELECT id, status, reason FROM delivery ORDER BY id"
        assert wait_for(lambda: _rows(conn, "SELECT count(*) FROM delivery WHERE status = 'pending'")[0][0] == 0)
        assert _rows(conn, "SELECT id FROM delivery WHERE status != 'delivered' ORDER BY id") == [(1,), (2,)], _rows(
            conn, everything)
        held = receiver.zaak(zaak)
        assert held is not None and held["extraElementen"]["product.omvang.volume"] == "22500"
        assert len(held["statussen"]) >= 2  # the start and the stop of zorg
        # and the ledger holds what the receiver holds: B04 was rendered from the zaak converted anew
        ((state,),) = _rows(conn, "SELECT state FROM zaak_state WHERE zaak = ?", zaak)
        state = json.loads(state) if isinstance(state, str) else state  # PostgreSQL's JSONB comes as a dict
        assert state["extra"]["product.omvang.volume"] == "22500", state
        conn.close()


def _tijdstip(conn: Any, delivery_id: int) -> str:
    payload = bytes(conn.execute("SELECT payload FROM delivery WHERE id = ?", (delivery_id,)).fetchone()[0])
    return payload.split(b"tijdstipBericht>")[1].split(b"<")[0].decode()


def _outbox(tmp_path: Path) -> Any:
    path = outbox.open_db(tmp_path)
    return outbox.connect(path)


def _stored(conn: Any, route_mode: str, zaak: str, ref: str, body: bytes) -> int:
    accepted = outbox.accept(conn, outbox.NewMessage("default", route_mode, body), [
        outbox.NewDelivery(outbox.NEW, ref, zaak, b"<x/>", "text/xml", "creeerZaak", zaak)])
    return accepted.queued[0].id


def test_a_zaak_with_a_delivery_delivered_is_refused_naming_it_and_nothing_changes(tmp_path: Path) -> None:
    conn = _outbox(tmp_path)
    with outbox.transaction(conn):
        first = _stored(conn, "translate", "Z1", "R1", b"<a/>")
        second = _stored(conn, "translate", "Z1", "R2", b"<b/>")
        outbox.mark_delivered(conn, first, 1, 200, "Bv03")
        outbox.mark_dead(conn, second, 1, 200, "Fo03 StUF055", "refused")
        conn.execute("INSERT INTO zaak_state (zaak, state, updated_at) VALUES ('Z1', '{}', 'x')")
    with pytest.raises(ReconvertRefused) as refused:
        involved(conn, [second])
    assert f"delivered: {first}" in str(refused.value) and "zaak Z1" in str(refused.value)
    result = CliRunner().invoke(main, ["outbox", "reconvert", str(second), "--data-dir", str(tmp_path)])
    assert result.exit_code == 1 and f"delivered: {first}" in result.output, result.output
    assert _rows(conn, "SELECT zaak FROM zaak_state") == [("Z1",)]
    assert _rows(conn, "SELECT status FROM message ORDER BY id") == [("accepted",), ("accepted",)]
    assert superseded.by(conn, second) is None


def test_a_pending_delivery_of_the_zaak_and_a_shadow_route_are_refused(tmp_path: Path) -> None:
    conn = _outbox(tmp_path)
    with outbox.transaction(conn):
        dead = _stored(conn, "translate", "Z1", "R1", b"<a/>")
        pending = _stored(conn, "translate", "Z1", "R2", b"<b/>")
        outbox.mark_dead(conn, dead, 1, 200, "Fo03 StUF055", "refused")
        shadow = _stored(conn, "shadow", "Z2", "R3", b"<c/>")
        outbox.mark_dead(conn, shadow, 1, 200, "Fo03 StUF055", "refused")
    with pytest.raises(ReconvertRefused, match=f"pending: {pending}"):
        involved(conn, [dead])
    with pytest.raises(ReconvertRefused, match="translate routes only"):
        involved(conn, [shadow])
    with pytest.raises(ReconvertRefused, match="is pending, not a dead letter"):
        involved(conn, [pending])


def test_every_message_rendered_onto_the_zaak_and_their_other_zaken_go_together(tmp_path: Path) -> None:
    conn = _outbox(tmp_path)
    with outbox.transaction(conn):
        first = _stored(conn, "translate", "Z1", "R1", b"<a/>")
        later = outbox.accept(conn, outbox.NewMessage("default", "translate", b"<b/>"), [
            outbox.NewDelivery(outbox.NEW, "R2", "Z1", b"<x/>", "text/xml", "updateZaak", "Z1"),
            outbox.NewDelivery(outbox.NEW, "R3", "Z2", b"<x/>", "text/xml", "creeerZaak", "Z2")]).queued
        other = _stored(conn, "translate", "Z2", "R4", b"<c/>")
        unrelated = _stored(conn, "translate", "Z3", "R5", b"<d/>")
        for delivery in (first, *(q.id for q in later), other):
            outbox.mark_dead(conn, delivery, 1, 200, "Fo03 StUF055", "refused")
    messages, zaken = involved(conn, [first])
    assert sorted(messages) == [1, 2, 3] and zaken == {"Z1", "Z2"}
    assert unrelated not in {d for m in messages for d in [r["id"] for r in outbox.deliveries_of(conn, m)]}


def test_a_message_converted_anew_twice_keeps_both_earlier_ones_superseded(tmp_path: Path) -> None:
    """The first fix was no fix (the receiver refused again): the second reconvert supersedes the first one's message,
    whose bytes are those of the original (the outbox keeps one row per route, status and bytes)."""
    conn = _outbox(tmp_path / "data")
    ledger = ConnLedger(conn, create=False)
    broken = Converter(broken_registry(tmp_path), ledger=ledger, validate=False)
    fixed = Converter(Registry(), ledger=ledger, validate=False)

    def with_(converter: Converter) -> Any:
        return lambda route, original: converter.convert(original, "B01", route=route)

    row = {"route": "default", "mode": "translate", "original": sample(B01), "content_type": None,
           "soap_action": None}
    with outbox.transaction(conn):
        first = accept_converted(conn, row, with_(broken)("default", sample(B01)), None).queued[0].id
        outbox.mark_dead(conn, first, 1, 200, "Fo03 StUF055", "productcode")
    with outbox.transaction(conn):
        (again,) = reconvert(conn, [first], with_(broken))
        outbox.mark_dead(conn, again.queued[0].id, 1, 200, "Fo03 StUF055", "productcode")
    with outbox.transaction(conn):
        (done,) = reconvert(conn, [again.queued[0].id], with_(fixed))
    assert _rows(conn, "SELECT id, status FROM message ORDER BY id") == [
        (1, f"superseded by {again.new}"), (again.new, f"superseded by {done.new}"), (done.new, "accepted")]
    marks = [superseded.by(conn, d) for d in (first, again.queued[0].id, done.queued[0].id)]
    assert marks == [again.new, done.new, None]
    ((state,),) = _rows(conn, "SELECT state FROM zaak_state")
    assert '"22500"' in state and _rows(conn, "SELECT DISTINCT zaak FROM chain_key") == _rows(
        conn, "SELECT zaak FROM delivery WHERE id = ?", done.queued[0].id)


def test_a_fix_that_derives_another_zaak_leaves_no_chain_key_on_the_refused_one(tmp_path: Path) -> None:
    """The refused zaak's identificatie came from the faulty product code: its chain keys go with its state, or a
    later message of the chain would be rendered as a creeerZaak of an identificatie no mapping of now derives."""
    conn = _outbox(tmp_path / "data")
    ledger = ConnLedger(conn, create=False)
    broken = Converter(broken_registry(tmp_path, CODE_FAULT), ledger=ledger, validate=False)
    fixed = Converter(Registry(), ledger=ledger, validate=False)
    row = {"route": "default", "mode": "translate", "original": sample(B01), "content_type": None,
           "soap_action": None}
    with outbox.transaction(conn):
        first = accept_converted(conn, row, broken.convert(sample(B01), "B01", route="default"), None).queued[0]
        outbox.mark_dead(conn, first.id, 1, 200, "Fo03 StUF055", "productcode")
    (old_zaak,) = _rows(conn, "SELECT zaak FROM delivery")[0]
    assert _rows(conn, "SELECT count(*) FROM chain_key WHERE zaak = ?", old_zaak)[0][0] > 0
    with outbox.transaction(conn):
        (done,) = reconvert(conn, [first.id], lambda route, original: fixed.convert(original, "B01", route=route))
    ((new_zaak,),) = _rows(conn, "SELECT zaak FROM delivery WHERE id = ?", done.queued[0].id)
    assert new_zaak != old_zaak
    assert _rows(conn, "SELECT DISTINCT zaak FROM chain_key") == [(new_zaak,)]
    assert _rows(conn, "SELECT zaak FROM zaak_state") == [(new_zaak,)]


def test_purge_takes_a_superseded_message_once_its_dead_letters_are_purged(tmp_path: Path) -> None:
    """A superseded message has nothing left to send: it goes with its dead letters, as an accepted one does."""
    conn = _outbox(tmp_path / "data")
    ledger = ConnLedger(conn, create=False)
    fixed = Converter(Registry(), ledger=ledger, validate=False)
    convert = lambda route, original: fixed.convert(original, "B01", route=route)  # noqa: E731
    row = {"route": "default", "mode": "translate", "original": sample(B01), "content_type": None,
           "soap_action": None}
    with outbox.transaction(conn):
        first = accept_converted(conn, row, convert("default", sample(B01)), None).queued[0].id
        outbox.mark_dead(conn, first, 1, 200, "Fo03 StUF055", "refused")
        reconvert(conn, [first], convert)
    result = CliRunner().invoke(main, ["outbox", "purge", "--dead", "--older-than", "0s", "--data-dir",
                                       str(tmp_path / "data")])
    assert result.exit_code == 0 and "purged 1 delivery(ies) and 1 message(s)" in result.output, result.output
    assert _rows(conn, "SELECT status FROM message") == [("accepted",)]
