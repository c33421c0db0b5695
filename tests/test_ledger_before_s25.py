"""An operator upgrading from the release before session 25: its ``convert --state`` ledger
(tests/fixtures/ledger_before_s25, made by that release: tests/ledger_before_s25.py) opened by this release, which
converts the messages that follow. The reference receiver, loaded with what the old release delivered and then with
what this one delivers, must end where the whole chain converted by this release alone ends: the same zaken, the
same statuses, the same refusals (docs/canonical-spec.md 1: a line without a ToewijzingNummer goes by its
Begindatum; a 301 of a budget answers the 317 line that asked for it)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pg_helpers
import pytest
from clocks import StepClock
from earlier_releases import PG_LEDGER, SQLITE_LEDGER
from ledger_before_s25 import AFTER, BEFORE, FIXTURE
from pg_helpers import database_for
from test_chain_property import registry

from gateway.batch.ledgered import SqliteChunks
from gateway.deliver import outbox
from gateway.deliver.store import open_store
from gateway.ledger import Ledger, MemoryLedger
from gateway.ledger.keys_before_s25 import MARK
from gateway.ledger.sqlite import DB_NAME, SqliteLedger
from gateway.ledger.staged import ConnLedger
from gateway.ledger.transfer import import_ledger
from gateway.pgstore.chunked import ChunkedPgLedger
from gateway.pgstore.ledger import PostgresLedger
from gateway.pipeline import FAILURES, Converter, describe
from gateway.receiver import Receiver
from gateway.schema.run import upgrade

Messages = tuple[tuple[str, Callable[[], bytes]], ...]
OLD_REVISION = "0006"
"""The store's schema revision in the release before session 25 (f743108)."""
SHARED = ("product:0384:700000001:98026987:01:01A01:20160307", "product:0384:700000002:98026987:01:01A01:20160307")
"""The product keys two toewijzingen of the fixture share (client 1's, client 2's)."""
server = pg_helpers.server  # one PostgreSQL server for this module


def old_state(folder: Path) -> Path:
    """The old release's ledger as it left it, in a ``--state`` folder under ``folder``."""
    state = folder / "state"
    state.mkdir()
    conn = sqlite3.connect(state / DB_NAME)
    conn.executescript((FIXTURE / "ledger.sql").read_text(encoding="utf-8"))
    conn.close()
    return state


def old_deliveries(receiver: Receiver) -> None:
    """Give ``receiver`` every delivery the old release made, in order."""
    for delivery in json.loads((FIXTURE / "deliveries.json").read_text(encoding="utf-8")):
        assert receiver.receive(delivery["xml"].encode("utf-8"), delivery["soap_action"]).accepted, delivery["name"]


def feed(converter: Converter, receiver: Receiver, messages: Messages) -> dict[str, Any]:
    """Convert ``messages`` in order, the receiver getting every output; what each gave (operations and zaken, or
    the refusal's code and field)."""
    said: dict[str, Any] = {}
    for name, make in messages:
        try:
            outputs = converter.convert(make(), name).outputs
        except FAILURES as exc:
            info = describe(exc, name)
            said[name] = (info.code, info.field)
            continue
        for output in outputs:
            assert receiver.receive(output.xml, output.soap_action).accepted, name
        said[name] = [f"{o.operation} {o.zaak}" for o in outputs]
    return said


def old_rows() -> dict[str, list[tuple[Any, ...]]]:
    """The old ledger's rows by table (those a store holds too)."""
    conn = sqlite3.connect(":memory:")
    conn.executescript((FIXTURE / "ledger.sql").read_text(encoding="utf-8"))
    tables = {"chain_key": "key, zaak", "zaak_state": "zaak, state, updated_at", "zender_tijdstip": "zender, tijdstip"}
    return {table: conn.execute(f"SELECT {columns} FROM {table}").fetchall() for table, columns in tables.items()}


def into(execute: Callable[..., Any], mark: str = "?") -> None:
    """Write the old ledger's rows through ``execute`` (parameters as ``mark``)."""
    for table, rows in old_rows().items():
        for row in rows:
            execute(f"INSERT INTO {table} VALUES ({', '.join([mark] * len(row))})", row)


def upgraded(ledger: Ledger) -> tuple[dict[str, Any], Receiver]:
    """The old release's deliveries, then :data:`AFTER` converted by this release on ``ledger`` (the old one, as
    this release opened it)."""
    receiver = Receiver()
    old_deliveries(receiver)
    try:
        return feed(Converter(registry(), validate=True, ledger=ledger, clock=StepClock()), receiver, AFTER), receiver
    finally:
        ledger.close()


def whole_chain() -> tuple[dict[str, Any], Receiver]:
    """:data:`BEFORE` and :data:`AFTER` converted by this release alone."""
    receiver = Receiver()
    converter = Converter(registry(), validate=True, ledger=MemoryLedger(), clock=StepClock())
    feed(converter, receiver, BEFORE)
    return feed(converter, receiver, AFTER), receiver


def test_the_fixture_is_what_the_old_release_wrote() -> None:
    """The old ledger holds the product keys as that release bound them, to the toewijzing named last and no slot
    of those sharing them, and no new-product key for the budget line: what the upgrade meets."""
    conn = sqlite3.connect(":memory:")
    conn.executescript((FIXTURE / "ledger.sql").read_text(encoding="utf-8"))
    keys = dict(conn.execute("SELECT key, zaak FROM chain_key"))
    assert keys["product:0384:700000001:98026987:01:01A01:20160307"] == "0384T200001"
    assert keys["product:0384:700000002:98026987:01:01A01:20160307"] == "0384T200006"
    assert not [k for k in keys if "#" in k or k.startswith("aanvraag-nieuw:")]


def test_an_upgraded_state_folder_ends_where_the_whole_chain_does(tmp_path: Path, reference_dir: Path) -> None:
    ends_as_the_whole_chain(SqliteLedger(old_state(tmp_path)))


def ends_as_the_whole_chain(ledger: Ledger) -> None:
    """:func:`upgraded` on ``ledger`` gives what the whole chain gives, message by message and zaak by zaak."""
    said, receiver = upgraded(ledger)
    expected, whole = whole_chain()
    assert said == expected
    assert said["305 without number"] == ["actualiseerZaakstatus 0384T200002"]  # the period holding its Begindatum
    assert said["301 200003 without number"] == ("StUF058", "clients")  # two toewijzingen share its key
    request = json.loads((FIXTURE / "deliveries.json").read_text(encoding="utf-8"))[-1]["zaak"]
    assert said["301 of the budget"] == ["creeerZaak 0384T320004", f"updateZaak {request}",
                                         f"actualiseerZaakstatus {request}"]
    assert zaken(receiver) == zaken(whole)


def zaken(receiver: Receiver) -> dict[str, dict[str, Any]]:
    """Every zaak the receiver holds, its messages counted (their referentienummers are drawn anew each run)."""
    return {z: {**zaak, "berichten": len(zaak["berichten"])} for z, zaak in receiver.snapshot().items()}


def slots(rows: list[tuple[str, str]]) -> dict[str, str]:
    """The sharers' slots and the budget's new-product key among chain key rows."""
    return {key: zaak for key, zaak in rows if "#" in key or key.removeprefix("jw-").startswith("aanvraag-nieuw:")}


WRITTEN = {f"{SHARED[0]}#0": "0384T200001", f"{SHARED[0]}#1": "0384T200002", f"{SHARED[1]}#0": "0384T200003",
           f"{SHARED[1]}#1": "0384T200006"}
"""The slots the upgrade writes: each toewijzing sharing a key, in the order their zaken were registered."""


def test_an_upgraded_sqlite_store_ends_where_the_whole_chain_does(tmp_path: Path, reference_dir: Path) -> None:
    """The sidecar's store of that release (schema 0006, the ledger in the outbox) migrated by this one."""
    path = tmp_path / "data" / outbox.DB_NAME
    path.parent.mkdir()
    upgrade(path, to=OLD_REVISION)
    conn = outbox.connect(path)
    into(conn.execute)
    conn.close()
    assert outbox.open_db(path.parent) == path
    conn = outbox.connect(path)
    keys = slots(conn.execute("SELECT key, zaak FROM chain_key").fetchall())
    assert {k: v for k, v in keys.items() if "#" in k} == WRITTEN
    assert [v for k, v in keys.items() if k.startswith("aanvraag-nieuw:")] == [old_rows()["zaak_state"][-1][0]]
    ends_as_the_whole_chain(ConnLedger(conn, create=False))


def test_a_ledger_of_the_old_release_imported_into_a_store_gets_its_keys(tmp_path: Path, reference_dir: Path) -> None:
    """``outbox import-ledger`` of a ``--state`` folder no later release opened, into a store at head."""
    source = old_state(tmp_path) / DB_NAME
    conn = outbox.connect(outbox.open_db(tmp_path / "data"))
    with outbox.transaction(conn):
        import_ledger(source, conn)
    assert {k: v for k, v in slots(conn.execute("SELECT key, zaak FROM chain_key").fetchall()).items()
            if "#" in k} == WRITTEN
    ends_as_the_whole_chain(ConnLedger(conn, create=False))


def test_a_batch_state_folder_of_the_old_release_gets_its_keys(tmp_path: Path) -> None:
    chunks = SqliteChunks(str(old_state(tmp_path)))
    try:
        assert slots(chunks.conn.execute("SELECT key, zaak FROM chain_key").fetchall()).keys() >= WRITTEN.keys()
    finally:
        chunks.close()


def test_a_sharer_a_later_release_left_without_a_slot_takes_the_next_one(tmp_path: Path) -> None:
    """A store the release of session 25 ran on before this one: a third toewijzing shared client 1's key, so the
    key's holder then (200001) and it took slots 0 and 1, and 200002, sharing it from before, none. It takes slot
    2; the slots written are kept."""
    state = old_state(tmp_path)
    conn = sqlite3.connect(state / DB_NAME)
    (held,) = conn.execute("SELECT state FROM zaak_state WHERE zaak = '0384T200002'").fetchone()
    third = json.loads(held)
    third.update(identificatie="0384T200007", registratiedatum="20160310")
    conn.execute("INSERT INTO zaak_state VALUES ('0384T200007', ?, '')", (json.dumps(third),))
    conn.executemany("INSERT OR REPLACE INTO chain_key VALUES (?, ?)", [
        (SHARED[0], "0384T200007"), (f"{SHARED[0]}#0", "0384T200001"), (f"{SHARED[0]}#1", "0384T200007")])
    conn.commit()
    conn.close()
    SqliteLedger(state).close()
    conn = sqlite3.connect(state / DB_NAME)
    keys = slots(conn.execute("SELECT key, zaak FROM chain_key WHERE key LIKE 'product:%'").fetchall())
    conn.close()
    assert keys == {f"{SHARED[0]}#0": "0384T200001", f"{SHARED[0]}#1": "0384T200007",
                    f"{SHARED[0]}#2": "0384T200002", f"{SHARED[1]}#0": "0384T200003", f"{SHARED[1]}#1": "0384T200006"}


@pytest.fixture()
def database(server: str, request: pytest.FixtureRequest) -> str:
    return database_for(server, request, "old")


def test_an_upgraded_postgresql_store_ends_where_the_whole_chain_does(database: str, reference_dir: Path) -> None:
    import psycopg

    upgrade(database, to=OLD_REVISION)
    with psycopg.connect(database, autocommit=True) as conn:
        into(conn.execute, "%s")
    open_store(".", database)  # what the sidecar does first: the migration to head
    with psycopg.connect(database, autocommit=True) as conn:
        keys = slots(conn.execute("SELECT key, zaak FROM chain_key").fetchall())
        assert conn.execute("SELECT count(*) FROM remembered").fetchone()[0] == 0  # written by 0008, not a ledger
    assert {k: v for k, v in keys.items() if "#" in k} == WRITTEN and len(keys) == len(WRITTEN) + 1
    ends_as_the_whole_chain(PostgresLedger(database))


def test_an_upgraded_postgresql_state_ends_where_the_whole_chain_does(database: str, reference_dir: Path) -> None:
    """``convert --state postgresql://…`` of that release: the ledger tables alone, no schema version."""
    import psycopg

    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(PG_LEDGER)
        into(conn.execute, "%s")
    ends_as_the_whole_chain(PostgresLedger(database))
    with psycopg.connect(database, autocommit=True) as conn:  # marked: the next open reads no state for it
        assert conn.execute("SELECT kind, key, value FROM remembered").fetchall() == [(*MARK, "1")]


def test_a_batch_postgresql_state_of_the_old_release_gets_its_keys(database: str) -> None:
    import psycopg

    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(PG_LEDGER)
        into(conn.execute, "%s")
    ChunkedPgLedger(database).close()
    with psycopg.connect(database, autocommit=True) as conn:
        assert {k: v for k, v in slots(conn.execute("SELECT key, zaak FROM chain_key").fetchall()).items()
                if "#" in k} == WRITTEN


def test_an_empty_postgresql_state_is_left_without_a_mark(database: str) -> None:
    """``store copy`` refuses a database that holds rows: a ledger opened and never written must hold none."""
    import psycopg

    PostgresLedger(database).close()
    with psycopg.connect(database, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM remembered").fetchone()[0] == 0


def test_jeugdwet_keys_of_the_old_release_get_theirs_too(tmp_path: Path) -> None:
    """Jeugdwet chain keys are the Wmo ones prefixed ``jw-`` (gateway/zaken/units.py): a shared ``jw-product:`` key
    gets its slots, a JW317 budget line its ``jw-aanvraag-nieuw:…:-:-`` key; states cut to what the statements
    read."""
    state = tmp_path / "state"
    state.mkdir()
    conn = sqlite3.connect(state / DB_NAME)
    conn.executescript(SQLITE_LEDGER)  # the ledger's tables as the old releases made them
    key = "jw-product:0384:700000009:98026987:45:45A01:20160307"
    rows = {"0384JT100002": {"kind": "toewijzing", "registratiedatum": "20160307", "keys": [key]},
            "0384JT100003": {"kind": "toewijzing", "registratiedatum": "20160308", "keys": [key]},
            "0384JA-1": {"kind": "aanvraag", "registratiedatum": "20230615",
                         "keys": ["jw-aanvraag:0384:VOW-J:nieuw1", "jw-verzoek:0384:VOW-J:0"]}}
    conn.executemany("INSERT INTO zaak_state VALUES (?, ?, '')", [(z, json.dumps(s)) for z, s in rows.items()])
    conn.execute("INSERT INTO chain_key VALUES (?, '0384JT100003')", (key,))
    conn.commit()
    conn.close()
    SqliteLedger(state).close()
    conn = sqlite3.connect(state / DB_NAME)
    assert slots(conn.execute("SELECT key, zaak FROM chain_key").fetchall()) == {
        f"{key}#0": "0384JT100002", f"{key}#1": "0384JT100003", "jw-aanvraag-nieuw:0384:VOW-J:-:-": "0384JA-1"}
    conn.close()
