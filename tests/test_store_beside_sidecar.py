"""``overstap outbox`` commands that write the zaak ledger while a real ``overstap serve`` uses the same store.

Why: on SQLite the sidecar renders each message against the ledger ahead of its commit, so ``outbox replay
--quarantined`` run beside it rendered a zaak from the state the sidecar was replacing (measured: two creeerZaak
for one zaak in 3 of 6 tries); it is now refused while a sidecar serves the data dir, pointing to
``POST /admin/replay``, and allowed again once the sidecar is gone, also after a SIGKILL. On PostgreSQL every replica
renders inside the store's write lock, so the same commands take their turn there: ``import-ledger`` (refused
outright before, so a sidecar on PostgreSQL created the batch run's zaken again) imports under that lock, and a
zaak the sidecar moved on since is a named conflict, never overwritten. Real sidecar processes, receiver, SQLite
and PostgreSQL.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pg_helpers
import pytest
from click.testing import CliRunner
from pg_helpers import database_for
from proxy_helpers import GatewayProcess, Receiver, ServerThread, free_port, sample, soap11, variant, wait_for
from test_ledger_import import _batch
from test_proxy_ledger import operations

from gateway.cli import main
from gateway.deliver import outbox
from gateway.ledger.sqlite import DB_NAME
from gateway.pgstore.conn import PgConnection

A02, A04 = "CasusA-02-WMO301_toewijzing.xml", "CasusA-04-WMO301_intrekking.xml"
pytestmark = pytest.mark.slow

server = pg_helpers.server


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output  # stdout and stderr, in order


def _quarantine(conn: object, body: bytes) -> int:
    """A message stored as refused (as if its mapping had been broken): it converts now."""
    with outbox.transaction(conn):  # type: ignore[arg-type]
        return outbox.quarantine(conn, outbox.NewMessage("default", "translate", body,  # type: ignore[arg-type]
                                                         fault_code="StUF055", reason="mapping missing"))


def test_replay_quarantined_is_refused_while_a_sidecar_serves_the_sqlite_outbox(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        config = tmp_path / "overstap.yaml"
        config.write_text(f"data_dir: {data}\nadmin_key: geheim\ndownstreams: {{zs: '{ds.url}/zs'}}\n"
                          "routes:\n  default: {downstream: zs}\n", encoding="utf-8")
        gw = GatewayProcess(["--config", str(config), "--log-level", "warning"], free_port(),
                            tmp_path / "gateway.log").start()
        try:
            conn = outbox.connect(data / outbox.DB_NAME)
            first, second = _quarantine(conn, variant(sample(A02), 1)), _quarantine(conn, variant(sample(A02), 2, 9))
            code, said = _cli("outbox", "replay", "--quarantined", str(first), "--data-dir", str(data))
            assert (code, said) == (1, f"refused: a sidecar is serving {data} (outbox.sqlite3.serving is held): it "
                                       "renders each message against the zaak ledger ahead of storing it, so a replay "
                                       "beside it would render the same zaken from a state it has moved on from; "
                                       "replay them through the sidecar: POST /admin/replay {\"ids\": ["
                                       f"{first}], \"quarantined\": true}} (docs/deploy-sidecar.md, Replay). "
                                       "Nothing was replayed.\n")
            assert outbox.quarantine_counts(conn) == {"default": 2}
            assert conn.execute("SELECT count(*) FROM zaak_state").fetchone()[0] == 0  # nothing rendered
            code, said = _cli("outbox", "replay", "--data-dir", str(data), "--all-dead")  # as stored: no render
            assert (code, said) == (0, "0 replayed, 0 not\n")
            answer = httpx.post(gw.url + "/admin/replay", json={"ids": [first], "quarantined": True},
                                headers={"X-Admin-Key": "geheim"}, timeout=30).json()
            assert [r["ok"] for r in answer["results"]] == [True], answer
            assert wait_for(lambda: len(rec.received) == 1)
        finally:
            gw.kill()  # SIGKILL: the kernel drops the sidecar's lock with it, nothing stale is left
    code, said = _cli("outbox", "replay", "--quarantined", str(second), "--data-dir", str(data))
    assert code == 0 and said.startswith(f"ok   Q{second}: converted; now message"), said
    assert outbox.quarantine_counts(conn) == {}
    assert operations(rec) == {next(iter(operations(rec))): ["creeerZaak"]}


@pytest.fixture()
def database(server: str, request: pytest.FixtureRequest) -> str:
    return database_for(server, request, "b")


def test_import_ledger_into_a_postgresql_store_a_sidecar_serves(tmp_path: Path, database: str) -> None:
    state, _ = _batch(tmp_path, A02)
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        gw = GatewayProcess(["--store", database, "--data-dir", str(tmp_path / "data"), "--downstream",
                             ds.url + "/zs", "--log-level", "warning"], free_port(), tmp_path / "gateway.log").start()
        try:
            code, said = _cli("outbox", "import-ledger", "--state", str(state), "--store", database)
            assert (code, said) == (0, "imported 1 chain_key, 1 zaak_state, 1 zender_tijdstip; 0 already held "
                                       "alike, 0 replaced\n")
            response = httpx.post(gw.url + "/soap", content=soap11(sample(A04)), timeout=30)
            assert response.status_code == 200, response.text
            assert wait_for(lambda: len(rec.received) == 2)
            (zaak, done), = operations(rec).items()
            assert done == ["updateZaak", "actualiseerZaakstatus"]  # the batch run's zaak, not created again
            conn = PgConnection(database)
            held = conn.execute("SELECT state::text FROM zaak_state WHERE zaak = ?", (zaak,)).fetchone()[0]
            tijdstip = conn.execute("SELECT tijdstip FROM zender_tijdstip").fetchall()
            code, said = _cli("outbox", "import-ledger", "--state", str(state), "--store", database)
            assert (code, said) == (1, f"refused: 1 entry differ between the two ledgers: zaak_state {zaak}. "
                                       "Nothing was imported.\n")  # the sidecar moved the zaak on: never overwritten
            assert conn.execute("SELECT state::text FROM zaak_state WHERE zaak = ?", (zaak,)).fetchone()[0] == held
            src = sqlite3.connect(state / DB_NAME)
            src.execute("UPDATE zaak_state SET state = ?", (held,))  # the batch run agrees now: only tijdstip is older
            src.commit()
            src.close()
            code, said = _cli("outbox", "import-ledger", "--state", str(state), "--store", database)
            assert (code, said) == (0, "imported nothing new; 3 already held alike, 0 replaced\n")
            assert conn.execute("SELECT tijdstip FROM zender_tijdstip").fetchall() == tijdstip  # never back
            quarantined = _quarantine(conn, variant(sample(A02), 3, 5))  # beside replicas: it takes its turn
            code, said = _cli("outbox", "replay", "--quarantined", str(quarantined), "--store", database)
            assert code == 0 and said.startswith(f"ok   Q{quarantined}: converted"), said
            assert wait_for(lambda: len(rec.received) == 3)
        finally:
            gw.terminate()


def test_replay_quarantined_on_postgresql_continues_the_counter_a_batch_shard_moved_meanwhile(
        tmp_path: Path, database: str) -> None:
    """A batch shard on the store's database takes tijdstipBericht from the zender's row in one atomic upsert, without
    the store's write lock (gateway/pgstore/chunked.py). The CLI replay read the row, then wrote "last + 1 ms" over
    it: a shard's value committed in between was set back, and the replay's message carried a tijdstipBericht
    before the shard's. Here the "shard" holds the row's update open while the replay renders."""
    import subprocess

    from proxy_helpers import overstap_command

    from gateway.deliver.store import open_store

    conn = open_store(tmp_path, database).connect()
    first = _quarantine(conn, variant(sample(A02), 1, 1))
    assert _cli("outbox", "replay", "--quarantined", str(first), "--store", database)[0] == 0
    (zender, before), = conn.execute("SELECT zender, tijdstip FROM zender_tijdstip").fetchall()
    second = _quarantine(conn, variant(sample(A02), 2, 2))
    later = "29990101000000000"  # what the shard takes: far past the clock, so the replay must continue after it
    # Not the sidecar's writer bound (idle in a transaction 15 s: the server ends the session): on a loaded host the
    # replay took 15-30 s to reach the counter, the held update was gone and the replay never waited for it.
    unbounded = "options=-c%20idle_in_transaction_session_timeout%3D0"
    shard = PgConnection(f"{database}{'&' if '?' in database else '?'}{unbounded}")
    shard.execute("BEGIN")
    shard.execute("UPDATE zender_tijdstip SET tijdstip = ? WHERE zender = ?", (later, zender))
    replay = subprocess.Popen([*overstap_command(), "outbox", "replay", "--quarantined", str(second), "--store",
                               database], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # the replay waits for the shard's row (a lock not granted), then the shard commits
    assert wait_for(lambda: conn.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0] > 0, 90), (
        f"the replay never waited for the shard's row (exit {replay.poll()})")
    shard.execute("COMMIT")
    said = replay.communicate(timeout=60)[0].decode()
    assert replay.returncode == 0, said
    payload = bytes(conn.execute("SELECT payload FROM delivery ORDER BY id DESC LIMIT 1").fetchone()[0])
    sent = payload.split(b"tijdstipBericht>", 1)[1][:17].decode()
    assert before < later < sent == "29990101000000001"
    assert conn.execute("SELECT tijdstip FROM zender_tijdstip WHERE zender = ?", (zender,)).fetchone()[0] == sent
