"""``overstap outbox import-ledger`` and ``overstap store current`` on what an operator may really hand them.

Why: the import moves every zaak a batch run created into the sidecar's store, so a refusal must come before
anything changes, in one line, with the CLI's exit codes (2: wrong input, 1: failed): a junk file, another
program's database or a ledger of another shape in ``--state``; a junk store or one a newer release migrated;
and a batch still writing the ledger while it is read must not leave a zaak behind without its chain keys
(the sidecar would create it again). Real batch ledgers of the public samples, real stores, the real CLI.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from proxy_helpers import samples_dir
from test_ledger_import import _batch
from test_proxy_ledger import A02

from gateway import schema
from gateway.cli import main
from gateway.deliver import outbox
from gateway.ledger import transfer
from gateway.ledger.sqlite import DB_NAME

FOREIGN = "CREATE TABLE foo (x TEXT)"
NEWER = ("CREATE TABLE chain_key (key TEXT PRIMARY KEY, zaak TEXT NOT NULL, gemeente TEXT);"
         "CREATE TABLE zaak_state (zaak TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at TEXT NOT NULL);"
         "CREATE TABLE zender_tijdstip (zender TEXT PRIMARY KEY, tijdstip TEXT NOT NULL);"
         "CREATE TABLE remembered (kind TEXT, key TEXT, value TEXT, PRIMARY KEY (kind, key));")
BAD_TIJDSTIP = NEWER.replace(", gemeente TEXT", "") + "INSERT INTO zender_tijdstip VALUES ('0384|OVERSTAP|', '9');"


def _cli(*args: str) -> tuple[int, str]:
    """Exit code and what was printed (stdout and stderr, in order)."""
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def _import(tmp_path: Path, state: Path | str) -> tuple[int, str]:
    return _cli("outbox", "import-ledger", "--state", str(state), "--data-dir", str(tmp_path / "data"))


def _state_with(tmp_path: Path, content: bytes | str) -> Path:
    """A ``--state`` folder whose ledger.sqlite is ``content``: raw bytes, or SQL run into a new database."""
    state = tmp_path / "state"
    state.mkdir()
    if isinstance(content, bytes):
        (state / DB_NAME).write_bytes(content)
    else:
        conn = sqlite3.connect(state / DB_NAME)
        conn.executescript(content)
        conn.close()
    return state


@pytest.mark.parametrize(("content", "said"), [
    (b"\x00junk" * 800, "cannot read the zaak ledger {path}: SQLite says file is not a database"),
    (b"", "{path} is not a zaak ledger: it has no table chain_key"),
    (FOREIGN, "{path} is not a zaak ledger: it has no table chain_key"),
    (NEWER, "{path}: table chain_key has columns (key, zaak, gemeente), not (key, zaak): a ledger of another "
            "release, which this one cannot carry whole"),
    (BAD_TIJDSTIP, "{path}: a tijdstipBericht in zender_tijdstip is not yyyymmddhhmmssfff"),
], ids=["junk", "empty", "foreign", "newer", "bad-tijdstip"])
def test_a_state_ledger_that_cannot_be_carried_is_refused_in_one_line_before_the_store_is_touched(
        tmp_path: Path, content: bytes | str, said: str) -> None:
    state = _state_with(tmp_path, content)
    code, output = _import(tmp_path, state)
    assert (code, output) == (2, f"error: {said.format(path=state / DB_NAME)}\n")
    assert not (tmp_path / "data").exists()  # no outbox made in a data dir for an import that never happens


def test_a_store_that_is_junk_or_of_a_newer_release_is_refused_in_one_line_and_left_as_it_was(tmp_path: Path) -> None:
    samples_dir()
    state, _ = _batch(tmp_path, A02)
    store = tmp_path / "data" / outbox.DB_NAME
    store.parent.mkdir()
    store.write_bytes(b"\x01not an outbox" * 400)
    code, output = _import(tmp_path, state)
    assert (code, output) == (2, f"error: {store}: not an outbox: SQLite says file is not a database\n")
    assert store.read_bytes() == b"\x01not an outbox" * 400
    store.unlink()
    conn = outbox.connect(outbox.open_db(store.parent))
    with outbox.transaction(conn):
        conn.execute(f"UPDATE {schema.VERSION_TABLE} SET version_num = '0099'")
    code, output = _import(tmp_path, state)
    assert code == 2 and output == (f"error: the store is at schema revision 0099, which this release does not know "
                                    f"(it knows up to {schema.HEAD}): a newer release migrated it; run that release\n")
    assert conn.execute("SELECT count(*) FROM chain_key").fetchone()[0] == 0


def test_store_current_says_a_store_of_a_newer_release_is_ahead_not_behind(tmp_path: Path) -> None:
    """``migrate`` refuses such a store: telling the operator it is behind and to run ``migrate`` sent them
    in a circle."""
    store = outbox.open_db(tmp_path / "data")
    with sqlite3.connect(store) as conn:
        conn.execute(f"UPDATE {schema.VERSION_TABLE} SET version_num = '0099'")
    assert _cli("store", "current", "--data-dir", str(store.parent)) == (
        0, f"{store}: 0099 (newer than this release, which knows up to {schema.HEAD}: a newer release migrated it; "
           "run that release)\n")
    code, said = _cli("store", "migrate", "--data-dir", str(store.parent))
    assert code == 2 and "a newer release migrated it" in said


@pytest.mark.parametrize("command", [["store", "migrate"], ["store", "current"], ["outbox", "import-ledger"]])
@pytest.mark.parametrize("below", ["", "sub"], ids=["file", "below-a-file"])
def test_a_data_dir_that_is_a_file_is_a_usage_error_in_one_line(tmp_path: Path, command: list[str],
                                                                below: str) -> None:
    """``store migrate`` and ``import-ledger`` made the folder and ended in a traceback; ``current`` called it new."""
    (tmp_path / "state").mkdir()
    (tmp_path / "afile").write_text("x")
    folder = tmp_path / "afile" / below if below else tmp_path / "afile"
    more = ["--state", str(tmp_path / "state")] if command[1] == "import-ledger" else []
    assert _cli(*command, "--data-dir", str(folder), *more) == (
        2, f"error: the data dir {folder} is not a folder: {tmp_path / 'afile'} is a file\n")


def test_a_postgresql_state_is_refused_without_its_password(tmp_path: Path) -> None:
    """``batch --state postgresql://user:password@…`` is how sharded runs share a ledger; the same value handed to
    import-ledger was quoted whole in click's "Directory … does not exist"."""
    code, output = _import(tmp_path, "postgresql://overstap:s3cret-pw@127.0.0.1:1/ledger")
    assert code == 2 and "s3cret" not in output, output
    assert output.endswith("Invalid value for '--state': postgresql://127.0.0.1:1/ledger is a PostgreSQL ledger: "
                           "import-ledger reads a batch run's --state folder; a sidecar continues a PostgreSQL ledger "
                           "with that database as its store (docs/postgresql.md)\n")
    assert not (tmp_path / "data").exists()


def test_a_ledger_a_batch_writes_during_the_import_is_read_as_one_snapshot(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch commits a new zaak (its chain key and its state) between the import's read of ``chain_key`` and
    its read of ``zaak_state``: the import carries either both or neither, never a zaak without its keys."""
    samples_dir()
    state, _ = _batch(tmp_path, A02)
    real = sqlite3.connect
    written: list[str] = []

    class BatchWritesMeanwhile(sqlite3.Connection):
        def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
            if "FROM zaak_state" in sql and not written:
                writer = real(state / DB_NAME, isolation_level=None)
                writer.execute("BEGIN IMMEDIATE")
                writer.execute("INSERT INTO chain_key VALUES ('toewijzing:0384:LAAT', '0384Z-LAAT')")
                writer.execute("INSERT INTO zaak_state VALUES ('0384Z-LAAT', '{}', '2026-12-06T10:00:00+00:00')")
                writer.execute("COMMIT")
                writer.close()
                written.append(sql)
            return super().execute(sql, *args)

    def connect(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        if str(database).startswith("file:") and str(database).endswith("mode=ro"):
            kwargs["factory"] = BatchWritesMeanwhile
        return real(database, *args, **kwargs)

    outbox.open_db(tmp_path / "data")  # the sidecar's outbox, made at its first start
    monkeypatch.setattr(transfer.sqlite3, "connect", connect)
    code, output = _import(tmp_path, state)
    assert code == 0 and written, output
    conn = outbox.connect(tmp_path / "data" / outbox.DB_NAME)
    keyless = conn.execute("SELECT zaak FROM zaak_state WHERE zaak NOT IN (SELECT zaak FROM chain_key)").fetchall()
    assert keyless == []
    assert conn.execute("SELECT count(*) FROM zaak_state WHERE zaak = '0384Z-LAAT'").fetchone()[0] == 0
    monkeypatch.setattr(transfer.sqlite3, "connect", real)
    code, output = _import(tmp_path, state)  # the next import carries what the batch wrote since
    assert code == 0 and output.startswith("imported 1 chain_key, 1 zaak_state;"), output


def test_the_ledger_of_a_batch_run_killed_before_its_journal_caught_up_is_refused_until_it_is_resumed(
        tmp_path: Path) -> None:
    """Such a ledger holds zaak states of outputs its OUT has not recorded, and keeps those outputs themselves
    (BSNs, names, deflated) in ``remembered``: imported, they sat in the sidecar's store, never read nor
    purged. Refused (exit 1) before the store is made; after ``--resume`` the same ledger imports whole."""
    import os
    import subprocess

    from batch_corpus import kill_when
    from proxy_helpers import sample, variant
    from test_batch_ledger import OVERSTAP, archive, remembered
    from test_proxy_ledger import B01

    from gateway.batch import BatchOptions, run

    samples_dir()
    history = archive(tmp_path / "history.zip", [(f"{k:03d}-{B01}", variant(sample(B01), k, zaak=k))
                                                 for k in range(40)])
    out, state = tmp_path / "out", tmp_path / "state"
    proc = subprocess.Popen([*OVERSTAP, "batch", str(history), "--out", str(out), "--workers", "0", "--chunk-size",
                             "1", "--commit-interval", "3600", "--state", str(state), "--quiet"],
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    kill_when(proc, lambda: remembered(state) >= 5)
    kept = remembered(state)
    code, output = _import(tmp_path, state)
    assert (code, output) == (1, f"refused: {state / DB_NAME}: the batch run that wrote it has not finished (it keeps "
                                 f"{kept} set(s) of outputs its OUT has not recorded yet): run it again with --resume, "
                                 "deliver its outputs, then import. Nothing was imported.\n")
    assert not (tmp_path / "data").exists()
    assert run(BatchOptions([history], out, workers=0, resume=True, progress="quiet", chunk_size=1,
                            commit_seconds=3600, state=str(state))).exit_code == 0
    outbox.open_db(tmp_path / "data")  # the sidecar's outbox, made at its first start
    code, output = _import(tmp_path, state)
    assert (code, output) == (0, "imported 40 chain_key, 40 zaak_state, 1 zender_tijdstip; 0 already held alike, "
                                 "0 replaced\n")
    conn = outbox.connect(tmp_path / "data" / outbox.DB_NAME)
    # nothing of the batch's kept outputs; only the import's own mark (the ledger's epoch, gateway/ledger/epoch.py)
    assert [row[0] for row in conn.execute("SELECT kind FROM remembered")] == ["ledger-epoch"]
