"""The store on a real PostgreSQL server (issue 16): its schema, the operator's commands, the copy from SQLite.

Why: replicas share one database, so its schema must come from the same revisions as SQLite's, a store
made before migrations must keep its rows, two replicas starting together must not both run DDL, and an
operator must reach the shared outbox with the same ``overstap outbox`` commands as the SQLite one.
Moving to replicas (``overstap store copy``) must not lose or change anything the SQLite outbox holds — a
pending delivery still goes, a dead letter and a quarantined message can still be replayed — and the
receiver holds the zaken the ledger knows, so the sidecar on PostgreSQL must continue them (updateZaak on
the same zaak), never create them again. Real sidecars (SQLite, then PostgreSQL), receiver and server.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pg_helpers
import psycopg
import pytest
from click.testing import CliRunner
from earlier_releases import PG_LEDGER, PG_OUTBOX, PG_SINCE_MIGRATIONS
from pg_helpers import database_for, fresh_database
from proxy_helpers import Receiver, ServerThread, overstap_command, sample, soap11, wait_for
from test_proxy_ledger import B01, B02, B04, operations, post, start

from gateway import schema
from gateway.cli import main
from gateway.deliver import forwarder_reads, outbox
from gateway.deliver.copy_store import TABLES
from gateway.deliver.store import open_store
from gateway.mapping import Registry
from gateway.pgstore.conn import WRITE_LOCK, PgConnection, describe_url
from gateway.pgstore.ledger import PostgresLedger

A02 = "CasusA-02-WMO301_toewijzing.xml"


server = pg_helpers.server  # one PostgreSQL server for this module


@pytest.fixture()
def database(server: str, request: pytest.FixtureRequest) -> str:
    return database_for(server, request, "s")


def pg_shape(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Columns (type, null, default, identity), indexes and constraints, outside the version table."""
    with psycopg.connect(url) as conn:
        skip = (schema.VERSION_TABLE,)
        return {
            "columns": conn.execute(
                "SELECT table_name, column_name, data_type, is_nullable, column_default, is_identity,"
                " identity_generation FROM information_schema.columns WHERE table_schema = 'public'"
                " AND table_name != %s ORDER BY table_name, ordinal_position", skip).fetchall(),
            "indexes": conn.execute("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname ="
                                    " 'public' AND tablename != %s ORDER BY 1, 2", skip).fetchall(),
            "constraints": conn.execute(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text != %s ORDER BY 1, 2",
                skip).fetchall(),
        }


def recorded(url: str) -> str | None:
    conn = PgConnection(url)
    try:
        return schema.recorded(conn)
    finally:
        conn.close()


def cli(*args: str, **env: str) -> tuple[int, str]:
    result = CliRunner(env=env or None).invoke(main, list(args))
    return result.exit_code, result.output


def test_an_empty_database_gets_the_earlier_schema_and_the_revisions_since(server: str, database: str) -> None:
    earlier = fresh_database(server, "earlier_release")
    with psycopg.connect(earlier, autocommit=True) as conn:
        conn.execute(PG_OUTBOX + PG_LEDGER + PG_SINCE_MIGRATIONS)
    open_store(".", database)
    assert recorded(database) == schema.HEAD
    assert pg_shape(database) == pg_shape(earlier)
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT key, value FROM meta").fetchall() == [("generation", 0)]


def test_a_store_made_before_migrations_is_versioned_and_keeps_its_rows(database: str) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(PG_OUTBOX + PG_LEDGER)
        conn.execute("INSERT INTO message (received_at, last_received_at, route, mode, status, body_sha256, original,"
                     " source_key) VALUES (1.5e9, 1.5e9, 'default', 'translate', 'accepted', 'h1', '\\x3c612f3e',"
                     " '0384|S1|')")
        conn.execute("INSERT INTO zaak_state (zaak, state) VALUES ('0384Z1', '{\"startdatum\": \"20160307\"}')")
        conn.execute("UPDATE meta SET value = 4")
        before = [conn.execute(f"SELECT * FROM {t}").fetchall() for t in ("message", "zaak_state", "meta")]
    open_store(".", database)
    assert recorded(database) == schema.HEAD
    with psycopg.connect(database) as conn:
        after = [conn.execute(f"SELECT * FROM {t}").fetchall() for t in ("message", "zaak_state", "meta")]
    assert after == [[(*r, None) for r in before[0]], *before[1:]]  # 0005's message.unmapped: last, empty


def test_a_database_with_only_the_ledger_of_convert_gets_the_outbox_beside_it(database: str) -> None:
    ledger = PostgresLedger(database)  # convert --state postgresql://… made the ledger tables
    with ledger.transaction() as tx:
        tx.bind("toewijzing:0384:1234", "0384Z1")
    ledger.close()
    conn = open_store(".", database).connect()
    assert conn.execute("SELECT zaak FROM chain_key").fetchall() == [("0384Z1",)]
    assert forwarder_reads.pending(conn) == [] and forwarder_reads.generation(conn) == 0
    conn.close()


def test_store_migrate_twice_is_a_no_op(database: str) -> None:
    where = describe_url(database)
    assert cli("store", "current", "--store", database) == (
        0, f"{where}: no revision recorded (new, or made before migrations; head is {schema.HEAD})\n")
    code, said = cli("store", "migrate", "--sql", "--store", database)
    assert code == 0 and said.startswith(f"BEGIN;\n\nSELECT pg_advisory_xact_lock({WRITE_LOCK});"), said
    assert "CREATE TABLE IF NOT EXISTS delivery (" in said and recorded(database) is None
    assert cli("store", "migrate", OVERSTAP_STORE=database) == (0, f"{where}: migrated from empty to {schema.HEAD}\n")
    first = pg_shape(database)
    assert cli("store", "migrate", "--store", database) == (0, f"{where}: already at {schema.HEAD}, nothing to do\n")
    assert pg_shape(database) == first
    assert cli("store", "current", "--store", database) == (0, f"{where}: {schema.HEAD} (head)\n")


def test_two_processes_migrating_one_database_take_turns(database: str) -> None:
    """The test holds the store's write lock until both processes wait for it, then lets go: one migrates,
    the other finds the store at head. Without the lock they would both run the DDL."""
    gate = psycopg.connect(database, autocommit=True)
    gate.execute("SELECT pg_advisory_lock(%s)", (WRITE_LOCK,))
    procs = [subprocess.Popen([*overstap_command(), "store", "migrate", "--store", database], text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    try:
        waiting = wait_for(lambda: gate.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                                                " AND NOT granted").fetchone()[0] == 2, timeout=60)
    finally:
        gate.execute("SELECT pg_advisory_unlock(%s)", (WRITE_LOCK,))
        gate.close()
    said = [p.communicate(timeout=60) for p in procs]
    assert waiting, said
    assert [p.returncode for p in procs] == [0, 0], said
    where = describe_url(database)
    assert sorted(out for out, _ in said) == [f"{where}: already at {schema.HEAD}, nothing to do\n",
                                              f"{where}: migrated from empty to {schema.HEAD}\n"]
    assert recorded(database) == schema.HEAD


def test_the_outbox_commands_work_on_a_postgresql_store(database: str, tmp_path: Path) -> None:
    conn = open_store(".", database).connect()
    with outbox.transaction(conn):
        accepted = outbox.accept(conn, outbox.NewMessage("default", "translate", b"<a/>", source_ref="SRC-1"), [
            outbox.NewDelivery("new", "REF-1", "zaak-1", b"<p>1</p>", "text/xml"),
            outbox.NewDelivery("new", "REF-2", "zaak-1", b"<p>2</p>", "text/xml")])
        first, second = (q.id for q in accepted.queued)
        outbox.mark_dead(conn, second, 3, 500, "StUF055", "zaaktype onbekend")
        quarantined = outbox.quarantine(conn, outbox.NewMessage("default", "translate", soap11(sample(B01)),
                                                                 fault_code="StUF055", reason="mapping missing"))
    code, said = cli("outbox", "list", "--store", database)
    lines = said.splitlines()
    assert code == 0 and lines[-1] == "1 pending, 0 delivered, 1 dead, 1 quarantined", said
    assert [line.split()[:3] for line in lines[:-1]] == [[str(second), "dead", "default/new"],
                                                         [str(first), "pending", "default/new"]]
    assert "zaaktype onbekend" in lines[0] and "REF-2" in lines[0]
    config = tmp_path / "overstap.yaml"  # the sidecar's config names the store
    config.write_text(f"store: {database}\ndownstreams: {{zs: 'http://127.0.0.1:9/zs'}}\n"
                      "routes:\n  default: {downstream: zs}\n")
    assert cli("outbox", "list", "--config", str(config)) == (code, said)
    code_shadow, said_shadow = cli("shadow", "report", "--store", database)
    assert code_shadow == 0 and said_shadow.startswith("0 shadow message(s): 0 both accepted"), said_shadow
    code, said = cli("outbox", "list", "--quarantine", OVERSTAP_STORE=database)
    assert code == 0 and said.startswith(f"Q{quarantined}") and said.endswith("1 quarantined message(s)\n"), said
    code, said = cli("outbox", "show", str(second), "--store", database)
    assert code == 0 and "status            dead" in said and "<p>2</p>" not in said, said  # no payload unasked
    generation = forwarder_reads.generation(conn)
    assert cli("outbox", "replay", str(second), "--store", database) == (
        0, f"ok   {second}: queued again as stored\n1 replayed, 0 not\n")
    assert outbox.delivery(conn, second)["status"] == "pending" and forwarder_reads.generation(conn) == generation + 1
    code, said = cli("outbox", "replay", "--quarantined", str(quarantined), "--store", database)
    assert code == 0 and f"ok   Q{quarantined}: converted; now message" in said, said
    assert conn.execute("SELECT count(*) FROM zaak_state").fetchone()[0] == 1  # rendered against the PG ledger
    assert cli("outbox", "purge", "--older-than", "0s", "--store", database) == (
        0, "purged 0 delivery(ies) and 0 message(s) older than 0s\n")
    code, said = cli("outbox", "import-ledger", "--state", ".", "--store", database)
    assert code == 2 and "no zaak ledger at ledger.sqlite" in said, said  # on PostgreSQL too: test_store_beside_sidecar
    conn.close()


@pytest.fixture(scope="module")
def registry() -> Registry:
    sample(B01)  # skips without the reference samples
    return Registry()


def sqlite_sidecar_with_every_kind_of_row(tmp_path: Path, registry: Registry, rec: Receiver, url: str) -> Path:
    """B01 delivered (a zaak in the ledger), A02 refused by the receiver (dead), B02 still pending (the
    receiver is down), garbage quarantined; then the sidecar stops, as the upgrade path says."""
    server, gw = start(tmp_path, registry, url)
    conn = outbox.connect(gw.db_path)
    try:
        post(server, B01)
        assert wait_for(lambda: len(rec.received) == 1)
        rec.behaviour = "fo"
        post(server, A02)
        assert wait_for(lambda: outbox.counts(conn).get(("default", "new", "dead")) == 1)
        rec.behaviour = "500"
        calls = rec.calls
        post(server, B02)
        assert wait_for(lambda: rec.calls > calls + 1)
        refused = httpx.post(server.url + "/soap", content=b"<kapot", headers={"Content-Type": "text/xml"})
        assert refused.status_code >= 400
    finally:
        server.stop()
    assert sorted(outbox.counts(conn).items()) == [(("default", "new", "dead"), 1),
                                                   (("default", "new", "delivered"), 1),
                                                   (("default", "new", "pending"), 1)]
    assert outbox.quarantine_counts(conn) == {"default": 1}
    conn.close()
    rec.behaviour = "bv"
    return tmp_path / "data"


def table(conn: Any, name: str, columns: list[str]) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(f"SELECT {', '.join(columns)} FROM {name} ORDER BY 1, 2").fetchall()]


def same_value(column: str, here: Any, there: Any) -> bool:
    """SQLite keeps zaak states and ledger timestamps as text; PostgreSQL as jsonb and timestamptz."""
    if column == "state":
        return bool(json.loads(here) == there)  # psycopg reads jsonb as Python values
    if isinstance(there, dt.datetime):
        return dt.datetime.fromisoformat(here) == there
    return bool(here == there)


def assert_same_rows(source: Path, url: str) -> None:
    lite = sqlite3.connect(source / outbox.DB_NAME)
    with psycopg.connect(url) as pg:
        for name in (*TABLES, "meta"):
            columns = [r[1] for r in lite.execute(f"PRAGMA table_info({name})")]
            here, there = table(lite, name, columns), table(pg, name, columns)
            assert len(here) == len(there), name
            for row_here, row_there in zip(here, there, strict=True):
                wrong = [c for c, a, b in zip(columns, row_here, row_there, strict=True) if not same_value(c, a, b)]
                assert wrong == [], f"{name} {row_here[0]}: {wrong}"
    lite.close()


def copy(source: Path, url: str, *more: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["store", "copy", "--from-data-dir", str(source), "--to", url, *more])
    return result.exit_code, result.output


def test_a_copied_store_carries_on_where_the_sqlite_sidecar_stopped(tmp_path: Path, registry: Registry,
                                                                     database: str) -> None:
    rec = Receiver()
    down = ServerThread(rec.app()).start()
    try:
        source = sqlite_sidecar_with_every_kind_of_row(tmp_path / "lite", registry, rec, down.url + "/zs")
        code, said = copy(source, database)
        assert code == 0, said
        assert said.startswith("copied 4 message, 3 delivery, ") and said.endswith(f"{describe_url(database)}\n")
        assert_same_rows(source, database)
        with psycopg.connect(database) as pg:  # the next ids come after the copied ones
            pg.execute("INSERT INTO message (received_at, last_received_at, route, mode, status, body_sha256,"
                       " original) VALUES (0, 0, 'x', 'x', 'x', 'x', '')")
            assert pg.execute("SELECT max(id) FROM message").fetchone()[0] == 5
            pg.rollback()
        server, _ = start(tmp_path / "pg", registry, down.url + "/zs", store=database)
        try:
            assert wait_for(lambda: len(rec.received) == 2)  # B02's pending delivery, as stored
            post(server, B04)
            assert wait_for(lambda: len(rec.received) == 5)
        finally:
            server.stop()
    finally:
        down.stop()
    zaken = {zaak: ops for zaak, ops in operations(rec).items() if zaak.startswith("0384B")}
    assert list(zaken.values()) == [["creeerZaak", "actualiseerZaakstatus", "actualiseerZaakstatus", "updateZaak",
                                     "actualiseerZaakstatus"]]  # one zaak, continued: no second creeerZaak


def test_a_store_that_holds_rows_is_refused_unless_replaced(tmp_path: Path, database: str) -> None:
    source = tmp_path / "data"
    conn = outbox.connect(outbox.open_db(source))
    with outbox.transaction(conn):
        outbox.quarantine(conn, outbox.NewMessage("default", "translate", b"<kapot", reason="not XML"))
        outbox.bump_generation(conn)
    conn.close()
    assert copy(source, database)[0] == 0
    code, said = copy(source, database)
    assert code == 1 and said.startswith("refused: the target store is not empty (1 message)"), said
    with psycopg.connect(database) as pg:  # a refusal changes nothing
        assert pg.execute("SELECT count(*) FROM message").fetchone()[0] == 1
    code, said = copy(source, database, "--replace")
    assert code == 0 and said.startswith("copied 1 message, 0 delivery"), said
    assert_same_rows(source, database)
    code, said = copy(source, "sqlite:///elsewhere")
    assert code == 2 and "store must be a postgresql:// URL" in said
