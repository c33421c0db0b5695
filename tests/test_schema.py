"""The store's schema under Alembic, on SQLite: new outboxes, outboxes of earlier releases, ``overstap store``.

Why: an outbox outlives releases. Whatever an earlier release left in a data dir — the first schema, the
identity columns added ad hoc, the ledger tables or not — must reach the current schema with every row
(pending deliveries, dead letters, quarantine, zaken), and the sidecar must carry on with it. Opening a store
at head must stay cheap: the sidecar, the console and the CLI open it often.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from earlier_releases import FIRST_OUTBOX, LAST_OUTBOX, SINCE_MIGRATIONS, SQLITE_LEDGER
from proxy_helpers import ROOT, Receiver, ServerThread, wait_for

from gateway import schema
from gateway.cli import main
from gateway.deliver import forwarder_reads, outbox
from gateway.ledger.staged import ConnLedger

MESSAGES = [  # id, status, body: an accepted message with three deliveries, and a quarantined one
    (1, "accepted", b"<bericht>een</bericht>"),
    (2, "quarantined", b"<kapot"),
]
DELIVERIES = [  # id, message, status, referentienummer, attempts
    (1, 1, "pending", "REF-PENDING", 2),
    (2, 1, "delivered", "REF-DELIVERED", 1),
    (3, 1, "dead", "REF-DEAD", 5),
]
LEDGER = {
    "chain_key": [("toewijzing:0384:1234", "0384Z1")],
    "zaak_state": [("0384Z1", json.dumps({"startdatum": "20160307"}), "2026-12-01T10:00:00+00:00")],
    "zender_tijdstip": [("0384/OVERSTAP", "20261201100000000")],
    "remembered": [("di01", "wmo:0384:abc", "uuid-1")],
}


def earlier_outbox(folder: Path, *, columns: bool, ledger: bool) -> Path:
    """An outbox as an earlier release left it: its DDL, a few rows of every kind, generation 7."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / outbox.DB_NAME
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript((LAST_OUTBOX if columns else FIRST_OUTBOX) + (SQLITE_LEDGER if ledger else ""))
    for message_id, status, body in MESSAGES:
        conn.execute("INSERT INTO message (id, received_at, last_received_at, route, mode, status, body_sha256,"
                     " source_ref, original, reason) VALUES (?, 1.5e9, 1.5e9, 'default', 'translate', ?, ?, ?, ?, ?)",
                     (message_id, status, outbox.sha256(body), f"SRC-{message_id}", body,
                      "not well-formed" if status == "quarantined" else None))
    if columns:
        conn.execute("UPDATE message SET source_key = '0384|SRC-1|', content_sha256 = 'c1' WHERE id = 1")
    for delivery_id, message_id, status, ref, attempts in DELIVERIES:
        conn.execute("INSERT INTO delivery (id, message_id, route, target, referentienummer, order_key, zaak, payload,"
                     " content_type, status, attempts, created_at, next_at, updated_at) VALUES (?, ?, 'default',"
                     " 'new', ?, 'zaak-1', '0384Z1', ?, 'text/xml', ?, ?, 1.5e9, 0, 1.5e9)",
                     (delivery_id, message_id, ref, f"<payload>{ref}</payload>".encode(), status, attempts))
    for table, rows in (LEDGER.items() if ledger else ()):
        for row in rows:
            conn.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(row))})", row)
    conn.execute("UPDATE meta SET value = 7 WHERE key = 'generation'")
    conn.close()
    return path


def shape(path: Path) -> dict[str, Any]:
    """Tables with their columns (name, type, not null, default, pk) and indexes (name, unique, columns)."""
    conn = sqlite3.connect(path)
    found: dict[str, Any] = {}
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name != ?"
                                 " ORDER BY name", (schema.VERSION_TABLE,)):
        columns = [tuple(r[1:]) for r in conn.execute(f"PRAGMA table_info({table})")]
        indexes = sorted((r[1], r[2], tuple(c[2] for c in conn.execute(f"PRAGMA index_info({r[1]})")))
                         for r in conn.execute(f"PRAGMA index_list({table})"))
        found[table] = (columns, indexes)
    conn.close()
    return found


def rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name != ?",
                                         (schema.VERSION_TABLE,))]
    found = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}
    conn.close()
    return found


def version(path: Path) -> str | None:
    conn = sqlite3.connect(path)
    try:
        return schema.recorded(conn)
    finally:
        conn.close()


def reference(tmp_path: Path) -> Path:
    """An empty outbox as the last release before migrations made it (with the sidecar's ledger tables), plus
    what the revisions since add."""
    path = tmp_path / "reference.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(LAST_OUTBOX + SQLITE_LEDGER + SINCE_MIGRATIONS)
    conn.close()
    return path


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_the_versions_folder_holds_the_revisions_the_package_lists() -> None:
    from alembic.script import ScriptDirectory

    from gateway.schema.run import HERE

    walked = [r.revision for r in ScriptDirectory(str(HERE)).walk_revisions()]
    assert list(reversed(walked)) == list(schema.REVISIONS) and walked[0] == schema.HEAD


def test_a_new_outbox_has_the_last_release_schema_and_the_revisions_since(tmp_path: Path) -> None:
    path = outbox.open_db(tmp_path / "data")
    assert version(path) == schema.HEAD
    assert shape(path) == shape(reference(tmp_path))
    assert rows(path)["meta"] == [("generation", 0)]


@pytest.mark.parametrize(("columns", "ledger"), [(False, False), (False, True), (True, False), (True, True)],
                         ids=["first", "first+ledger", "columns", "columns+ledger"])
def test_an_outbox_of_an_earlier_release_reaches_head_with_every_row(tmp_path: Path, columns: bool,
                                                                     ledger: bool) -> None:
    path = earlier_outbox(tmp_path / "data", columns=columns, ledger=ledger)
    before = rows(path)
    assert version(path) is None
    assert outbox.open_db(tmp_path / "data") == path
    assert version(path) == schema.HEAD
    assert shape(path) == shape(reference(tmp_path))
    after = rows(path)
    added = (None,) if columns else (None, None, None)  # the identity columns, then unmapped: last, empty for old rows
    assert after["message"] == [(*r, *added) for r in before["message"]]
    assert after["delivery"] == [(*r, 0) for r in before["delivery"]]  # renewal_owed (0009): nothing owed
    for table in ("meta", *LEDGER):
        assert after[table] == before.get(table, []), table
    conn = outbox.connect(path)  # the sidecar's functions on the migrated file
    assert [(q.id, q.referentienummer, q.attempts) for q in forwarder_reads.pending(conn)] == [(1, "REF-PENDING", 2)]
    assert forwarder_reads.generation(conn) == 7
    with outbox.transaction(conn):
        again = outbox.accept(conn, outbox.NewMessage("default", "translate", MESSAGES[0][2]),
                              [outbox.NewDelivery("new", "REF-OTHER", "zaak-1", b"<x/>", "text/xml")])
        fresh = outbox.accept(conn, outbox.NewMessage("default", "translate", b"<nieuw/>", source_key="0384|N|",
                                                      content_sha256="n1"),
                              [outbox.NewDelivery("new", "REF-NEW", "zaak-2", b"<y/>", "text/xml")])
    assert again.repeat and again.refs == ["REF-PENDING", "REF-DELIVERED", "REF-DEAD"]  # a re-send of message 1
    assert outbox.repeated(conn, outbox.NewMessage("default", "translate", b"<ander/>", source_key="0384|N|",
                                                   content_sha256="n1")) == fresh.message_id
    held = ConnLedger(conn, create=False).direct
    assert held.zaak_for(["toewijzing:0384:1234"]) == ("0384Z1" if ledger else None)
    conn.close()


def test_a_sidecar_delivers_what_an_earlier_release_left_pending_and_renders_zaken(tmp_path: Path) -> None:
    from test_proxy_ledger import B01, operations, post, start

    from gateway.mapping import Registry

    earlier_outbox(tmp_path / "data", columns=False, ledger=False)
    rec = Receiver()
    down = ServerThread(rec.app()).start()
    server, _ = start(tmp_path, Registry(), down.url + "/zs")
    try:
        assert wait_for(lambda: "REF-PENDING" in rec.refs())
        post(server, B01)  # the ledger's tables came with the migration
        assert wait_for(lambda: len(rec.received) == 2)
    finally:
        server.stop()
        down.stop()
    assert [ops for ops in operations(rec).values() if ops != [""]] == [["creeerZaak"]]
    conn = outbox.connect(tmp_path / "data" / outbox.DB_NAME)
    assert outbox.delivery(conn, 1)["status"] == "delivered"
    assert outbox.delivery(conn, 3)["status"] == "dead"  # a dead letter stays one until replayed


def test_an_outbox_at_head_is_opened_without_alembic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.schema import run

    path = outbox.open_db(tmp_path / "data")
    calls: list[Any] = []
    monkeypatch.setattr(run, "upgrade", lambda *a, **k: calls.append(a))
    outbox.open_db(tmp_path / "data")
    assert calls == []
    with sqlite3.connect(path) as conn:
        conn.execute(f"UPDATE {schema.VERSION_TABLE} SET version_num = '0002'")
    outbox.open_db(tmp_path / "data")
    assert calls == [(path,)]


def ddl(path: Path) -> list[tuple[str, str, str, str | None]]:
    """Every table and index of an SQLite store with its DDL as the file keeps it, the version table included."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    finally:
        conn.close()


def test_a_new_outbox_is_made_without_alembic_as_alembic_makes_it(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Why: a new outbox is made from the revisions' own statements in one transaction (gateway/schema/fresh.py),
    ~0.45 s of CPU less at the first start of every sidecar and CLI on a new data folder; it must be the store
    Alembic makes, to the byte of each table's and index's DDL and the revision it records."""
    from gateway.deliver.store import SqliteStore, migrate
    from gateway.schema import run

    by_alembic = tmp_path / "alembic" / outbox.DB_NAME
    migrate(SqliteStore(by_alembic))
    calls: list[Any] = []
    monkeypatch.setattr(run, "upgrade", lambda *a, **k: calls.append(a))
    path = outbox.open_db(tmp_path / "data")
    assert calls == []
    assert version(path) == version(by_alembic) == schema.HEAD
    assert ddl(path) == ddl(by_alembic)
    assert len(ddl(path)) > 20 and rows(path)["meta"] == [("generation", 0)]


def test_processes_opening_one_new_folder_at_once_make_one_store(tmp_path: Path) -> None:
    """Four processes released together onto one new folder: each opens it (the one that makes the store holds
    the write lock; the others find it at head), and the store is the one Alembic makes."""
    import subprocess
    import sys

    go = tmp_path / "go"
    code = ("import pathlib, sys, time\nfrom gateway.deliver import outbox\n"
            "while not pathlib.Path(sys.argv[1]).exists(): time.sleep(0.01)\n"
            "print(outbox.open_db(sys.argv[2]))\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(go), str(tmp_path / "data")], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    go.touch()
    done = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err.decode()[-2000:] for _, err in done]
    from gateway.deliver.store import SqliteStore, migrate

    by_alembic = tmp_path / "alembic" / outbox.DB_NAME
    migrate(SqliteStore(by_alembic))
    assert ddl(tmp_path / "data" / outbox.DB_NAME) == ddl(by_alembic)


def test_store_migrate_twice_is_a_no_op_and_current_says_where_it_is(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    path = earlier_outbox(folder, columns=False, ledger=True)
    assert cli("store", "current", "--data-dir", str(folder)) == (0, (
        f"{path}: no revision recorded; made before migrations, its tables are at 0001 (`overstap store migrate` "
        f"records that and upgrades it to {schema.HEAD})\n"))
    code, said = cli("store", "migrate", "--data-dir", str(folder), "--sql")  # shows, changes nothing
    assert code == 0 and "ALTER TABLE message ADD COLUMN source_key TEXT;" in said, said
    assert said.startswith("-- made before migrations: the tables are at 0001") and version(path) is None
    assert cli("store", "migrate", "--data-dir", str(folder)) == (
        0, f"{path}: migrated from unversioned, tables at 0001 to {schema.HEAD}\n")
    first = (shape(path), rows(path))
    assert cli("store", "migrate", "--data-dir", str(folder)) == (
        0, f"{path}: already at {schema.HEAD}, nothing to do\n")
    assert (shape(path), rows(path)) == first
    assert cli("store", "current", "--data-dir", str(folder)) == (0, f"{path}: {schema.HEAD} (head)\n")
    assert cli("store", "migrate", "--data-dir", str(folder), "--sql") == (
        0, f"-- already at {schema.HEAD}: nothing to run\n")


def test_migrate_to_a_revision_then_on_and_never_back(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    path = earlier_outbox(folder, columns=False, ledger=False)
    assert cli("store", "migrate", "--data-dir", str(folder), "--to", "0002")[0] == 0
    assert version(path) == "0002" and "chain_key" not in rows(path)
    code, said = cli("store", "migrate", "--data-dir", str(folder), "--to", "0001")
    assert code == 2 and "downgrades are not offered" in said
    code, said = cli("store", "migrate", "--data-dir", str(folder), "--to", "0099")
    assert code == 2 and "no schema revision '0099'" in said
    assert cli("store", "migrate", "--data-dir", str(folder))[1] == f"{path}: migrated from 0002 to {schema.HEAD}\n"
    with sqlite3.connect(path) as conn:  # a newer release migrated it further
        conn.execute(f"UPDATE {schema.VERSION_TABLE} SET version_num = '0099'")
    with pytest.raises(schema.SchemaError, match="revision 0099, which this release does not know"):
        outbox.open_db(folder)
    code, said = cli("outbox", "list", "--data-dir", str(folder))
    assert code == 2 and "a newer release migrated it" in said


@pytest.fixture
def logged() -> Any:
    """The gateway's JSON log configured onto a buffer, and the root logger's set-up put back afterwards."""
    import io
    import logging

    from gateway.proxy import logs

    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("alembic").level)
    buffer = io.StringIO()
    logs.configure("info", buffer)
    try:
        yield buffer
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        logging.getLogger("alembic").setLevel(saved[2])


def test_a_new_store_logs_one_line_of_its_own_and_none_of_alembics(tmp_path: Path, logged: Any) -> None:
    outbox.open_db(tmp_path / "data")
    lines = [json.loads(line) for line in logged.getvalue().splitlines()]
    assert [(line["logger"], line["msg"]) for line in lines] == [
        ("overstap.schema", f"store schema at revision {schema.HEAD} (was new)")]


def test_an_outbox_from_before_migrations_logs_the_revision_it_was_stamped_with(tmp_path: Path, logged: Any) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    conn = sqlite3.connect(folder / outbox.DB_NAME)
    conn.executescript(FIRST_OUTBOX)
    conn.close()
    outbox.open_db(folder)
    messages = [json.loads(line)["msg"] for line in logged.getvalue().splitlines()]
    assert messages == [f"store schema at revision {schema.HEAD} "
                        "(was 0001: made before migrations, stamped by its tables)"]
