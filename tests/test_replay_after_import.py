"""Replays beside ``outbox import-ledger``: a quarantined replay that keeps losing to imports, and a dead creeerZaak
stored before an import of its zaak.

Why: a quarantined replay whose commit found the ledger's epoch moved five times in a row let ``LedgerMoved`` out
of ``POST /admin/replay`` as an HTTP 500 saying nothing; and a creeerZaak dead-lettered before an import was
replayed as stored after it, a second creeerZaak for a zaak the receiver holds from the batch run. Real sidecar
under uvicorn, real batch run and import (the CLI), real SQLite, the reference receiver (the testbed) over HTTP.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pg_helpers
import pytest
from click.testing import CliRunner
from fastapi import Response
from pg_helpers import database_for
from proxy_helpers import GatewayProcess, Receiver, ServerThread, Start, free_port, sample, soap11, wait_for
from test_ledger_import import _batch
from test_proxy_ledger import A02, operations

from gateway.cli import main
from gateway.deliver import imported, outbox
from gateway.ledger import epoch
from gateway.pgstore.conn import PgConnection
from gateway.proxy.ledgered import LEDGER_IMPORTING, MAX_RENDERS
from gateway.receiver import Receiver as ReferenceReceiver
from gateway.testbed.app import create_app as reference_app
from gateway.zaken.plan import CREEER, SOAP_ACTIONS

KEY = {"X-Admin-Key": "geheim"}
server = pg_helpers.server


def _move_epoch(db: Path) -> None:
    """What ``outbox import-ledger`` does to the epoch, in a transaction of its own on the sidecar's outbox."""
    conn = outbox.connect(db)
    with outbox.transaction(conn):
        epoch.move(conn)
    conn.close()


def test_a_quarantined_replay_losing_to_imports_time_after_time_is_answered_503_and_stays_quarantined(
        start: Start) -> None:
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        server, gw = start({"default": {"downstream": ds.url}}, {}, admin_key="geheim")
        assert gw.stage is not None and gw.db_path is not None
        db = gw.db_path
        conn = outbox.connect(db)
        with outbox.transaction(conn):  # as if the mapping was broken when it came in
            qid = outbox.quarantine(conn, outbox.NewMessage("default", "translate", sample(A02), reason="broken"))
        stage, submit = gw.stage, gw.stage._submit
        moves: list[int] = []

        def import_in_between(*args: Any) -> Any:  # an import commits between each render and its commit
            _move_epoch(db)
            moves.append(1)
            return submit(*args)

        stage._submit = import_in_between  # type: ignore[method-assign]
        answer = httpx.post(server.url + "/admin/replay", json={"ids": [qid], "quarantined": True}, headers=KEY,
                            timeout=60)
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "5"
        said = answer.json()
        assert "being imported" in said["error"] and "retry" in said["error"]
        assert said["results"] == [{"id": qid, "ok": False, "note": LEDGER_IMPORTING}]
        assert len(moves) == MAX_RENDERS
        # nothing half done: still quarantined, no message stored, nothing sent
        assert [tuple(r) for r in conn.execute("SELECT status FROM message")] == [(outbox.QUARANTINED,)]
        assert conn.execute("SELECT count(*) FROM delivery").fetchone()[0] == 0
        stage._submit = submit  # type: ignore[method-assign]
        again = httpx.post(server.url + "/admin/replay", json={"ids": [qid], "quarantined": True}, headers=KEY,
                           timeout=60)
        assert again.status_code == 200 and again.json()["results"][0]["ok"], again.text
        assert wait_for(lambda: len(rec.received) == 1)
        assert list(operations(rec).values()) == [["creeerZaak"]]
        conn.close()


class CountingReceiver(ReferenceReceiver):
    """The reference receiver, counting the creeerZaak it is offered (accepted or not)."""

    def __init__(self) -> None:
        super().__init__()
        self.creeer = 0

    def receive(self, data: bytes, soap_action: str | None = None) -> Any:
        self.creeer += "creeerZaak" in (soap_action or "")
        return super().receive(data, soap_action)


def _loaded(tmp_path: Path) -> tuple[Path, CountingReceiver]:
    """A batch run of A-02 (its --state folder) and the reference receiver loaded with its outputs."""
    state, outputs = _batch(tmp_path, A02)
    receiver = CountingReceiver()
    for output in outputs:
        assert receiver.receive(output, SOAP_ACTIONS[CREEER]).accepted
    return state, receiver


def test_a_creeerzaak_dead_before_an_import_of_its_zaak_is_not_replayed_as_a_second_one(
        start: Start, tmp_path: Path) -> None:
    state, receiver = _loaded(tmp_path)
    with ServerThread(reference_app(receiver)) as ds:
        server, gw = start({"default": {"downstream": ds.url + "/soap"}}, {}, admin_key="geheim")
        assert gw.db_path is not None
        # switched on before the import: its creeerZaak of the same zaak is refused, a dead letter
        assert httpx.post(server.url + "/soap", content=sample(A02), timeout=30).status_code == 200
        conn = outbox.connect(gw.db_path)

        def dead() -> list[tuple[int, str]]:
            return [tuple(r) for r in conn.execute("SELECT id, zaak FROM delivery WHERE status = 'dead'")]

        assert wait_for(lambda: len(dead()) == 1)
        (delivery, zaak), = dead()
        assert receiver.creeer == 2 and len(receiver) == 1
        result = CliRunner().invoke(main, ["outbox", "import-ledger", "--state", str(state), "--data-dir",
                                           str(gw.db_path.parent), "--replace"])
        assert result.exit_code == 0, result.output
        assert "1 creeerZaak delivery not delivered" in result.output
        answer = httpx.post(server.url + "/admin/replay", json={"ids": [delivery]}, headers=KEY, timeout=30)
        assert answer.status_code == 200, answer.text
        (said,) = answer.json()["results"]
        assert not said["ok"]
        assert f"delivery {delivery} is a creeerZaak for zaak {zaak}" in said["note"] and "force" in said["note"]
        # the CLI's replay shares the rule
        cli = CliRunner().invoke(main, ["outbox", "replay", str(delivery), "--data-dir", str(gw.db_path.parent)])
        assert cli.exit_code == 1 and f"creeerZaak for zaak {zaak}" in cli.output, cli.output
        # not sent again: the receiver holds one zaak, offered the creeerZaak of the batch run and the refused one
        assert [tuple(r) for r in conn.execute("SELECT status, replays FROM delivery")] == [("dead", 0)]
        assert receiver.creeer == 2 and len(receiver) == 1
        conn.close()


class Gate:
    """An ASGI app in front of the reference receiver that answers 503 while ``down``: the sidecar's forwarder keeps
    the delivery pending in its queue, retrying, until the gate opens."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.down = True
        self.turned_away = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.down:
            self.turned_away += 1
            await Response(b"<error>down</error>", status_code=503, media_type="text/xml")(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _held_back(start: Start, tmp_path: Path, database: str | None = None) -> None:
    """A creeerZaak pending (the receiver down) when the import marks it: held back at its next attempt, never
    offered to the receiver once it is back; replay refuses it, force sends it. On the SQLite outbox, or on the
    PostgreSQL ``database``."""
    state, receiver = _loaded(tmp_path)
    gate = Gate(reference_app(receiver))
    with ServerThread(gate) as ds:
        server, gw = start({"default": {"downstream": ds.url + "/soap"}}, {}, admin_key="geheim",
                           **({"store": database} if database else {}))
        where = ["--store", database] if database else ["--data-dir", str(gw.db_path.parent)]  # type: ignore[union-attr]
        assert httpx.post(server.url + "/soap", content=sample(A02), timeout=30).status_code == 200
        assert wait_for(lambda: gate.turned_away >= 2)  # the forwarder holds the row, retrying it
        conn: Any = PgConnection(database) if database else outbox.connect(gw.db_path)  # type: ignore[arg-type]
        (delivery, zaak), = [tuple(r) for r in conn.execute("SELECT id, zaak FROM delivery WHERE status = 'pending'")]
        result = CliRunner().invoke(main, ["outbox", "import-ledger", "--state", str(state), *where, "--replace"])
        assert result.exit_code == 0 and "1 creeerZaak delivery not delivered" in result.output, result.output
        # held back at its next attempt, the receiver still down: an attempt that checked the mark just before the
        # import committed is turned away by the gate, not taken (opened first, the gate let such a straggler
        # through when the test thread ran late); then the receiver is back and is offered nothing
        assert wait_for(lambda: conn.execute("SELECT status FROM delivery").fetchone()[0] == outbox.DEAD)
        gate.down = False
        reason = conn.execute("SELECT reason FROM delivery").fetchone()[0]
        assert reason == imported.not_sent(zaak) and f"zaak {zaak}" in reason and "import-ledger" in reason
        time.sleep(0.5)  # nothing more goes out
        # as the receiver sees it: one zaak, and never offered a second creeerZaak
        assert receiver.creeer == 1 and len(receiver) == 1
        shown = CliRunner().invoke(main, ["outbox", "show", str(delivery), *where])
        assert shown.exit_code == 0 and f"not sent: a creeerZaak for zaak {zaak}" in shown.output, shown.output
        listed = CliRunner().invoke(main, ["outbox", "list", *where])
        assert f"not sent: a creeerZaak for zaak {zaak}"[:60] in listed.output, listed.output
        answer = httpx.post(server.url + "/admin/replay", json={"ids": [delivery]}, headers=KEY, timeout=30)
        (said,) = answer.json()["results"]
        assert not said["ok"] and f"creeerZaak for zaak {zaak}" in said["note"], said
        assert receiver.creeer == 1
        # force sends it: the mark goes, so the forwarder does not hold it back again
        forced = httpx.post(server.url + "/admin/replay", json={"ids": [delivery], "force": True}, headers=KEY,
                            timeout=30)
        assert forced.json()["results"][0]["ok"], forced.text
        assert wait_for(lambda: receiver.creeer == 2), conn.execute("SELECT reason FROM delivery").fetchone()[0]
        conn.close()


def test_a_creeerzaak_pending_when_an_import_brings_in_its_zaak_is_held_back_not_sent(
        start: Start, tmp_path: Path) -> None:
    _held_back(start, tmp_path)


@pytest.fixture()
def database(server: str, request: pytest.FixtureRequest) -> str:
    return database_for(server, request, "ri")


def test_on_postgresql_the_import_marks_the_dead_creeerzaak_and_the_cli_replay_refuses_it(
        tmp_path: Path, database: str) -> None:
    state, receiver = _loaded(tmp_path)
    with ServerThread(reference_app(receiver)) as ds:
        gw = GatewayProcess(["--store", database, "--data-dir", str(tmp_path / "data"), "--downstream",
                             ds.url + "/soap", "--log-level", "warning"], free_port(), tmp_path / "gateway.log").start()
        try:
            assert httpx.post(gw.url + "/soap", content=soap11(sample(A02)), timeout=30).status_code == 200
            conn = PgConnection(database)

            def dead() -> list[tuple[int, str]]:
                return [tuple(r) for r in conn.execute("SELECT id, zaak FROM delivery WHERE status = 'dead'")]

            assert wait_for(lambda: len(dead()) == 1)
            (delivery, zaak), = dead()
            cli = CliRunner().invoke(main, ["outbox", "import-ledger", "--state", str(state), "--store", database,
                                            "--replace"])
            assert cli.exit_code == 0 and "1 creeerZaak delivery not delivered" in cli.output, cli.output
            replay = CliRunner().invoke(main, ["outbox", "replay", str(delivery), "--store", database])
            assert replay.exit_code == 1 and f"delivery {delivery} is a creeerZaak for zaak {zaak}" in replay.output
            assert [tuple(r) for r in conn.execute("SELECT status, replays FROM delivery")] == [("dead", 0)]
            assert receiver.creeer == 2 and len(receiver) == 1
            conn.close()
        finally:
            gw.terminate()


def test_on_postgresql_a_pending_creeerzaak_the_import_marks_is_held_back_by_the_replica_not_sent(
        start: Start, tmp_path: Path, database: str) -> None:
    _held_back(start, tmp_path, database)
