"""Replays beside ``outbox import-ledger``: a quarantined replay that keeps losing to imports, and a dead creeerZaak
stored before an import of its zaak.

Why: a quarantined replay whose commit found the ledger's epoch moved five times in a row let ``LedgerMoved`` out
of ``POST /admin/replay`` as an HTTP 500 saying nothing; and a creeerZaak dead-lettered before an import was
replayed as stored after it, a second creeerZaak for a zaak the receiver holds from the batch run. Real sidecar
under uvicorn, real batch run and import (the CLI), real SQLite, the reference receiver (the testbed) over HTTP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pg_helpers
import pytest
from click.testing import CliRunner
from pg_helpers import database_for
from proxy_helpers import GatewayProcess, Receiver, ServerThread, Start, free_port, sample, soap11, wait_for
from test_ledger_import import _batch
from test_proxy_ledger import A02, operations

from gateway.cli import main
from gateway.deliver import outbox
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


def test_a_creeerzaak_dead_before_an_import_of_its_zaak_is_not_replayed_as_a_second_one(
        start: Start, tmp_path: Path) -> None:
    state, outputs = _batch(tmp_path, A02)
    receiver = CountingReceiver()
    for output in outputs:  # the receiver was loaded with the batch run's outputs
        assert receiver.receive(output, SOAP_ACTIONS[CREEER]).accepted
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


@pytest.fixture()
def database(server: str, request: pytest.FixtureRequest) -> str:
    return database_for(server, request, "ri")


def test_on_postgresql_the_import_marks_the_dead_creeerzaak_and_the_cli_replay_refuses_it(
        tmp_path: Path, database: str) -> None:
    state, outputs = _batch(tmp_path, A02)
    receiver = CountingReceiver()
    for output in outputs:
        assert receiver.receive(output, SOAP_ACTIONS[CREEER]).accepted
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
