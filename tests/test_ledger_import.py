"""``overstap outbox import-ledger``: the sidecar continues the zaken an archive run created.

Why: a municipality converts a vendor's archive with ``overstap batch --state DIR`` and then switches the
sidecar on. The receiver already holds those zaken, so the sidecar's next message of a chain must be an
updateZaak on the same zaak, not a second creeerZaak, and its tijdstipBericht must not go back. Real batch
run, real SQLite ledgers, real sidecar under uvicorn, real receiver over HTTP.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import httpx
from click.testing import CliRunner
from lxml import etree
from proxy_helpers import Receiver, ServerThread, sample, samples_dir, soap11, wait_for
from test_proxy_ledger import A02, A04, ZKN, operations, start

from gateway.cli import main
from gateway.deliver import outbox
from gateway.ledger.sqlite import DB_NAME
from gateway.ledger.staged import create_tables
from gateway.mapping import Registry

STUF = "{http://www.egem.nl/StUF/StUF0301}"


def _batch(tmp_path: Path, *names: str) -> tuple[Path, list[bytes]]:
    """Run ``overstap batch --state`` over the samples; (state folder, the zakLk01 outputs)."""
    archive, state, out = tmp_path / "archive", tmp_path / "state", tmp_path / "out"
    archive.mkdir()
    for name in names:
        (archive / name).write_bytes(sample(name))
    result = CliRunner().invoke(main, ["batch", str(archive), "--out", str(out), "--workers", "0", "--quiet",
                                       "--state", str(state)], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    outputs = [p.read_bytes() for p in sorted(out.rglob("*.xml"))]
    return state, outputs


def _import(tmp_path: Path, state: Path, *more: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["outbox", "import-ledger", "--state", str(state), "--data-dir",
                                       str(tmp_path / "data"), *more])
    return result.exit_code, result.output + result.stderr


def test_the_sidecar_continues_a_zaak_the_batch_run_created(tmp_path: Path) -> None:
    samples_dir()
    state, outputs = _batch(tmp_path, A02)
    created = etree.fromstring(outputs[0])
    zaak = created.findtext(f".//{ZKN}object/{ZKN}identificatie")
    batch_tijdstip = created.findtext(f".//{STUF}tijdstipBericht")
    assert zaak and batch_tijdstip
    outbox.open_db(tmp_path / "data")  # the sidecar's outbox, made at its first start
    code, said = _import(tmp_path, state)
    assert code == 0, said
    assert "1 zaak_state" in said and "1 zender_tijdstip" in said
    rec = Receiver()
    with ServerThread(rec.app()) as down:
        server, _gw = start(tmp_path, Registry(), down.url + "/zs")
        try:
            response = httpx.post(server.url + "/soap", content=soap11(sample(A04)), timeout=30)
            assert response.status_code == 200, response.text  # A-04: the intrekking of A-02's toewijzing
            assert wait_for(lambda: len(rec.received) == 2)
        finally:
            server.stop()
    # the receiver holds the batch run's zaak: the intrekking ends it, it does not create another
    assert operations(rec) == {zaak: ["updateZaak", "actualiseerZaakstatus"]}
    first = etree.fromstring(rec.received[0].body)[0][0]
    assert first.findtext(f".//{STUF}tijdstipBericht") > batch_tijdstip  # never back


def test_a_ledger_that_disagrees_is_refused_naming_the_entries_and_nothing_is_imported(tmp_path: Path) -> None:
    samples_dir()
    state, _ = _batch(tmp_path, A02)
    conn = outbox.connect(outbox.open_db(tmp_path / "data"))
    create_tables(conn)  # the sidecar made them on its first start
    src = sqlite3.connect(state / DB_NAME)
    (key, zaak), = src.execute("SELECT key, zaak FROM chain_key LIMIT 1").fetchall()
    src.close()
    with outbox.transaction(conn):
        conn.execute("INSERT INTO chain_key (key, zaak) VALUES (?, ?)", (key, "0384Z999"))
    code, said = _import(tmp_path, state)
    assert code == 1, said
    assert f"refused: 1 entry differ between the two ledgers: chain_key {key}. Nothing was imported." in said
    assert conn.execute("SELECT count(*) FROM zaak_state").fetchone()[0] == 0
    code, said = _import(tmp_path, state, "--replace")
    assert code == 0 and "1 replaced" in said, said
    assert conn.execute("SELECT zaak FROM chain_key WHERE key = ?", (key,)).fetchone()[0] == zaak
    code, said = _import(tmp_path, state)  # again: everything is already held alike
    assert code == 0 and said.startswith("imported nothing new;"), said


def test_a_state_folder_without_a_ledger_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, said = _import(tmp_path, tmp_path / "empty")
    assert code == 2 and f"no zaak ledger at {tmp_path / 'empty' / DB_NAME}" in said


def test_a_zaak_state_held_in_the_older_json_spelling_is_the_same_state_not_a_conflict(tmp_path: Path) -> None:
    """Ledgers written before orjson hold ``json.dumps(state, sort_keys=True)`` text: the same state in
    other spacing and escapes. Importing over it is "nothing new"; a state that differs still conflicts."""
    samples_dir()
    state, _ = _batch(tmp_path, A02)
    conn = outbox.connect(outbox.open_db(tmp_path / "data"))
    create_tables(conn)
    src = sqlite3.connect(state / DB_NAME)
    rows = src.execute("SELECT zaak, state, updated_at FROM zaak_state").fetchall()
    src.close()
    assert rows and all(", " not in text for _z, text, _u in rows)  # the new spelling: compact
    with outbox.transaction(conn):
        for zaak, text, updated in rows:
            old = json.dumps(json.loads(text), sort_keys=True)
            assert old != text
            conn.execute("INSERT INTO zaak_state (zaak, state, updated_at) VALUES (?, ?, ?)", (zaak, old, updated))
    code, said = _import(tmp_path, state)
    assert code == 0 and f"; {len(rows)} already held alike, 0 replaced" in said and "zaak_state" not in said, said
    zaak, text, _updated = rows[0]
    changed = {**json.loads(text), "as_of": "19990101000000"}
    with outbox.transaction(conn):
        conn.execute("UPDATE zaak_state SET state = ? WHERE zaak = ?", (json.dumps(changed, sort_keys=True), zaak))
    code, said = _import(tmp_path, state)
    assert code == 1 and f"zaak_state {zaak}" in said, said
