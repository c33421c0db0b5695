"""``overstap outbox`` opens the outbox that is there, and makes or changes no other database.

Why: ``outbox import-ledger --data-dir`` with a typo made a new outbox in that folder and imported into it, exit 0,
while the sidecar never got the ledger; and ``outbox list``/``show``/``import-ledger`` wrote Overstap's tables into
any SQLite file found at ``outbox.sqlite3``, a read command writing into another program's database. Real CLI runs,
a real ``overstap serve`` process, real SQLite files and a real PostgreSQL database.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import httpx
import pg_helpers
import pytest
from click.testing import CliRunner
from proxy_helpers import GatewayProcess, Receiver, ServerThread, free_port, sample, soap11, wait_for
from test_ledger_import import _batch
from test_proxy_ledger import A02

from gateway import schema
from gateway.cli import main
from gateway.deliver import outbox
from gateway.deliver.store import SqliteStore, migrate
from gateway.pgstore.conn import PgConnection

server = pg_helpers.server
COMMANDS = [["outbox", "list"], ["outbox", "show", "1"], ["shadow", "report"], ["outbox", "replay", "1"],
            ["outbox", "purge"], ["outbox", "import-ledger", "--state", "{state}"]]
"""Every command of ``overstap outbox`` (and the shadow report) that opens the outbox."""


def _cli(command: list[str], state: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [part.format(state=state) for part in command] + list(args))
    return result.exit_code, result.output


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A batch run's --state folder (a real ``overstap batch`` of A-02)."""
    return _batch(tmp_path_factory.mktemp("batch"), A02)[0]


def test_import_ledger_into_a_folder_with_no_outbox_is_refused_and_the_sidecar_then_gets_the_ledger(
        tmp_path: Path, state: Path) -> None:
    data, typo = tmp_path / "data", tmp_path / "dta"
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        gw = GatewayProcess(["--data-dir", str(data), "--downstream", ds.url + "/zs", "--log-level", "warning"],
                            free_port(), tmp_path / "gateway.log").start()
        try:
            code, said = _cli(["outbox", "import-ledger", "--state", str(state)], state, "--data-dir", str(typo))
            assert code == 2, said
            assert said == (f"error: no outbox in {typo} (expected {typo / outbox.DB_NAME}): point at the sidecar's "
                            "data folder with --data-dir (its data_dir; or --config with its config file), or at its "
                            "PostgreSQL store with --store; to make a new outbox there on purpose, run `overstap "
                            f"store migrate --data-dir {typo}`\n")
            assert not typo.exists()  # nothing made where the typo pointed
            conn = outbox.connect(data / outbox.DB_NAME)
            assert conn.execute("SELECT count(*) FROM zaak_state").fetchone()[0] == 0
            code, said = _cli(["outbox", "import-ledger", "--state", str(state)], state, "--data-dir", str(data))
            assert code == 0 and said.startswith("imported 1 chain_key, 1 zaak_state"), said
            assert conn.execute("SELECT count(*) FROM zaak_state").fetchone()[0] == 1
            conn.close()
            assert httpx.get(gw.url + "/healthz", timeout=10).status_code == 200
        finally:
            gw.terminate()


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: "-".join(c[:2]))
def test_every_outbox_command_refuses_a_folder_with_no_outbox_and_makes_none(
        tmp_path: Path, state: Path, command: list[str]) -> None:
    typo = tmp_path / "dta"
    code, said = _cli(command, state, "--data-dir", str(typo))
    assert code == 2 and said.startswith(f"error: no outbox in {typo} (expected {typo / outbox.DB_NAME}): "), said
    assert "--data-dir" in said and "--store" in said
    assert not typo.exists()


def _other_programs_database(folder: Path) -> Path:
    """An SQLite database that is no outbox, at the outbox's path."""
    folder.mkdir()
    path = folder / outbox.DB_NAME
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE recepten (id INTEGER PRIMARY KEY, naam TEXT)")
        conn.execute("INSERT INTO recepten (naam) VALUES ('stamppot')")
    conn.close()
    return path


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: "-".join(c[:2]))
def test_a_database_that_is_no_outbox_is_refused_in_one_line_and_left_as_it_was(
        tmp_path: Path, state: Path, command: list[str]) -> None:
    path = _other_programs_database(tmp_path / "data")
    before = _digest(path)
    code, said = _cli(command, state, "--data-dir", str(tmp_path / "data"))
    assert (code, said) == (2, f"error: {path}: not an Overstap outbox (it has no outbox tables: another program's "
                               "database?); nothing was changed\n")
    assert _digest(path) == before
    with sqlite3.connect(path) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["recepten"]
    conn.close()


@pytest.mark.parametrize("command", COMMANDS[:3], ids=lambda c: "-".join(c[:2]))
def test_the_read_commands_do_not_migrate_an_older_outbox(tmp_path: Path, state: Path, command: list[str]) -> None:
    store = SqliteStore(tmp_path / "data" / outbox.DB_NAME)
    older = schema.REVISIONS[-2]
    migrate(store, older)
    before = _digest(store.path)
    code, said = _cli(command, state, "--data-dir", str(tmp_path / "data"))
    assert (code, said) == (2, f"error: {store.path}: an outbox of an older release (schema revision {older}, this "
                               f"one reads {schema.HEAD}); run `overstap store migrate --data-dir {store.path.parent}` "
                               "first (or start the sidecar); nothing was changed\n")
    assert _digest(store.path) == before
    conn = outbox.connect(store.path)
    assert schema.recorded(conn) == older
    conn.close()


def test_the_read_commands_read_a_real_outbox_without_writing_it(tmp_path: Path, state: Path) -> None:
    """An outbox the sidecar made and wrote (a message, its delivery): listed and shown over a connection that
    cannot write, its bytes the same after."""
    rec = Receiver()
    data = tmp_path / "data"
    with ServerThread(rec.app()) as ds:
        gw = GatewayProcess(["--data-dir", str(data), "--downstream", ds.url + "/zs", "--log-level", "warning"],
                            free_port(), tmp_path / "gateway.log").start()
        try:
            assert httpx.post(gw.url + "/soap", content=soap11(sample(A02)), timeout=30).status_code == 200
            assert wait_for(lambda: len(rec.received) == 1)
        finally:
            gw.terminate()
    before = _digest(data / outbox.DB_NAME)
    code, said = _cli(["outbox", "list"], state, "--data-dir", str(data))
    assert code == 0 and said.splitlines()[-1] == "0 pending, 1 delivered, 0 dead, 0 quarantined", said
    code, said = _cli(["outbox", "show", "1"], state, "--data-dir", str(data))
    assert code == 0 and "status            delivered" in said, said
    assert _digest(data / outbox.DB_NAME) == before


@pytest.fixture()
def database(server: str, request: pytest.FixtureRequest) -> str:
    return pg_helpers.database_for(server, request, "oo")


def test_the_read_commands_make_no_tables_in_a_postgresql_database_without_an_outbox(database: str) -> None:
    for command in (["outbox", "list"], ["outbox", "show", "1"], ["shadow", "report"]):
        result = CliRunner().invoke(main, [*command, "--store", database])
        assert result.exit_code == 2, result.output
        assert "no Overstap store here (no schema revision recorded); run `overstap store migrate --store URL` " \
               "first" in result.output
    conn = PgConnection(database)
    assert conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
                        ).fetchone()[0] == 0
    conn.close()
