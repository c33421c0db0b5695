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
import shutil
from pathlib import Path
from typing import Any

import httpx
import pg_helpers
import pytest
from click.testing import CliRunner
from pg_helpers import database_for
from proxy_helpers import ServerThread, Start, sample, wait_for

from gateway.cli import main
from gateway.deliver import outbox, superseded
from gateway.deliver.reconvert import ReconvertRefused, involved, reconvert
from gateway.deliver.replay import accept_converted
from gateway.ledger.staged import ConnLedger
from gateway.mapping import Registry
from gateway.mapping.registry import builtin_dir
from gateway.pgstore.conn import PgConnection
from gateway.pipeline import Converter
from gateway.receiver import Receiver
from gateway.receiver.apply import refuse
from gateway.receiver.zaak import EXTRA
from gateway.testbed.app import create_app as reference_app

B01, B02, B04 = "CasusB-01-WMO301_toewijzing.xml", "CasusB-02-WMO305_start.xml", "CasusB-04-WMO307_stop.xml"
server = pg_helpers.server


class StrictReceiver(Receiver):
    """The reference receiver with one rule more, as a zaaksysteem that checks its zaken's product may have: a
    product.code extraElement is an iWmo productcode of five positions (StUF055 otherwise)."""

    def _apply(self, inbound: Any) -> Any:
        zaak, operation = super()._apply(inbound)
        code = (zaak.attributes.get(EXTRA) or {}).get("product.code")
        if isinstance(code, str) and len(code) != 5:
            raise refuse("productcode", "extraElement product.code", "a productcode has five positions", "StUF055")
        return zaak, operation


def broken_registry(tmp_path: Path) -> Registry:
    """The dialects with a mapping fault: iWmo 2.0 WMO301's toegewezen product reads its Categorie as its Code, so
    the zaak's product.code is "01" where the source says "01A01"."""
    dialects = tmp_path / "dialects"
    shutil.copytree(builtin_dir(), dialects)
    mapping = dialects / "iwmo20" / "wmo301.yaml"
    text = mapping.read_text()
    right = "          code: m:Product/i:Code\n          aanbieder: m:Aanbieder\n"
    assert text.count(right) == 1
    mapping.write_text(text.replace(right, "          code: m:Product/i:Categorie\n          aanbieder: m:Aanbieder\n"))
    return Registry([dialects])


def _rows(conn: Any, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(sql, args)]


def test_a_creeerzaak_refused_for_a_mapping_fault_goes_again_converted_with_the_fixed_mapping(
        start: Start, tmp_path: Path) -> None:
    _refused_then_converted_anew(start, tmp_path)


def test_on_postgresql_the_reconversion_runs_beside_the_replicas(
        start: Start, tmp_path: Path, server: str, request: pytest.FixtureRequest) -> None:
    _refused_then_converted_anew(start, tmp_path, database_for(server, request, "reconvert"))


def _refused_then_converted_anew(start: Start, tmp_path: Path, database: str | None = None) -> None:
    """B01 refused for a mapping fault, B02 quarantined for it, reconvert, the sidecar with the fixed mapping, B04:
    on the SQLite outbox (the sidecar stopped for it), or on the PostgreSQL ``database`` (beside the replica)."""
    receiver = StrictReceiver()
    store = {"store": database} if database else {}
    with ServerThread(reference_app(receiver)) as ds:
        routes = {"default": {"downstream": ds.url + "/soap"}}
        server, gw = start(routes, {}, reg=broken_registry(tmp_path), admin_key="geheim", **store)
        where = ["--store", database] if database else ["--data-dir", str(gw.db_path.parent)]  # type: ignore[union-attr]
        conn: Any = PgConnection(database) if database else outbox.connect(gw.db_path)  # type: ignore[arg-type]
        assert httpx.post(server.url + "/soap", content=sample(B01), timeout=30).status_code == 200
        assert wait_for(lambda: _rows(conn, "SELECT count(*) FROM delivery WHERE status = 'dead'")[0][0] == 1)
        ((creeer, zaak, old_ref, code, reason),) = _rows(
            conn, "SELECT id, zaak, referentienummer, reply_code, reason FROM delivery")
        assert code.startswith("Fo03") and "productcode" in reason
        assert len(receiver) == 0  # the receiver holds nothing of the zaak
        # the start of zorg names product 01A01, which the ledger's zaak (product "01") does not hold: quarantined
        assert httpx.post(server.url + "/soap", content=sample(B02), timeout=30).status_code == 500
        ((later, _),) = _rows(conn, "SELECT id, status FROM message WHERE status = 'quarantined'")
        if not database:  # beside the sidecar serving SQLite it is refused: it renders ahead of its commits
            beside = CliRunner().invoke(main, ["outbox", "reconvert", str(creeer), *where])
            assert beside.exit_code == 1 and "a sidecar is serving" in beside.output, beside.output
            server.stop()
        # the mapping fixed (the shipped dialects): convert anew
        result = CliRunner().invoke(main, ["outbox", "reconvert", str(creeer), *where])
        assert result.exit_code == 0, result.output
        assert "1 message(s) converted anew" in result.output
        (_, old_status), (_, _), (new_id, new_status) = _rows(conn, "SELECT id, status FROM message ORDER BY id")
        assert (old_status, new_status) == (f"superseded by {new_id}", "accepted")
        ((status, why),) = _rows(conn, "SELECT status, reason FROM delivery WHERE id = ?", creeer)
        assert status == "dead" and why.startswith(f"superseded by message {new_id} ") and "productcode" in why
        ((fresh, fresh_zaak, fresh_ref, fresh_status),) = _rows(
            conn, "SELECT id, zaak, referentienummer, status FROM delivery WHERE id > ?", creeer)
        assert fresh_status == "pending" and fresh_zaak != zaak  # its identificatie derives from the product code
        # the ledger holds the zaak as converted anew, nothing of the refused one
        assert _rows(conn, "SELECT count(*) FROM chain_key WHERE zaak = ?", zaak) == [(0,)]
        assert _rows(conn, "SELECT count(*) FROM zaak_state WHERE zaak = ?", zaak) == [(0,)]
        assert "01A01" in json.dumps(_rows(conn, "SELECT state FROM zaak_state WHERE zaak = ?", fresh_zaak)[0][0])
        assert fresh_ref != old_ref  # a new message: a new referentienummer (StUF 03.01 4.4.3)
        assert _tijdstip(conn, fresh) > _tijdstip(conn, creeer)  # and a later tijdstipBericht
        # the old dead letter is not replayed, even forced, and --all-dead passes it by
        replayed = CliRunner().invoke(main, ["outbox", "replay", str(creeer), "--force", *where])
        assert replayed.exit_code == 1 and f"superseded by message {new_id}" in replayed.output, replayed.output
        everything = CliRunner().invoke(main, ["outbox", "replay", "--all-dead", *where])
        assert "0 replayed, 0 not" in everything.output, everything.output
        # the start of zorg now converts onto the zaak converted anew
        again = CliRunner().invoke(main, ["outbox", "replay", "--quarantined", str(later), *where])
        assert again.exit_code == 0, again.output
        # the sidecar again, with the fixed mapping: the receiver takes the zaak as the source says it
        if database:
            server.stop()
        server, gw = start(routes, {}, admin_key="geheim", **store)
        assert wait_for(lambda: _rows(conn, "SELECT count(*) FROM delivery WHERE status = 'pending'")[0][0] == 0)
        assert _rows(conn, "SELECT status, count(*) FROM delivery GROUP BY status ORDER BY status") == [
            ("dead", 1), ("delivered", 2)]
        assert receiver.zaak(zaak) is None
        held = receiver.zaak(fresh_zaak)
        assert held is not None
        assert held["extraElementen"]["product.code"] == "01A01" and held["omschrijving"] == "Wmo toewijzing 01A01"
        statussen = len(held["statussen"])
        assert statussen >= 1  # the start of zorg applied on the zaak converted anew
        # and a later message of the zaak applies
        assert httpx.post(server.url + "/soap", content=sample(B04), timeout=30).status_code == 200
        assert wait_for(lambda: _rows(conn, "SELECT count(*) FROM delivery WHERE status = 'pending'")[0][0] == 0)
        assert _rows(conn, "SELECT count(*) FROM delivery WHERE status != 'delivered' AND id > ?", creeer) == [(0,)]
        assert len(receiver.zaak(fresh_zaak)["statussen"]) > statussen  # type: ignore[index]
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
        outbox.mark_dead(conn, again.queued[0], 1, 200, "Fo03 StUF055", "productcode")
    with outbox.transaction(conn):
        (done,) = reconvert(conn, [again.queued[0]], with_(fixed))
    assert _rows(conn, "SELECT id, status FROM message ORDER BY id") == [
        (1, f"superseded by {again.new}"), (again.new, f"superseded by {done.new}"), (done.new, "accepted")]
    assert [superseded.by(conn, d) for d in (first, again.queued[0], done.queued[0])] == [again.new, done.new, None]
    ((state,),) = _rows(conn, "SELECT state FROM zaak_state")
    assert '"01A01"' in state and _rows(conn, "SELECT DISTINCT zaak FROM chain_key") == _rows(
        conn, "SELECT zaak FROM delivery WHERE id = ?", done.queued[0])
