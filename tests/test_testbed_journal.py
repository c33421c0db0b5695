"""The testbed's journal keeps its promise: what it answered Bv03 survives a restart, and nothing else piles up.

Why: StUF 03.01 §4.4.3 says a Bv03 means "De ontvanger heeft zeker gesteld dat het bericht veilig is opgeslagen …
ook niet in geval van … systeemuitval"; the testbed applied a message in memory before writing it, so a failed
write left a zaak change a later (duplicate) Bv03 confirmed and a restart dropped. A replay that refused what was
accepted before dropped zaken silently; refused junk was kept in full forever. Real HTTP on 127.0.0.1, real SQLite
files, a real second SQLite connection holding the write lock, the real ``overstap testbed`` command.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from proxy_helpers import ServerThread, free_port, soap11, wait_for
from receiver_messages import CREEER, STATUS, ZAAK, creeer_object, gestart, lk01

from gateway.receiver import Receiver
from gateway.testbed import Journal, create_app
from gateway.testbed.journal import ReplayDifferences

INVALID = lk01("T", creeer_object().replace("<ZKN:identificatie>", "<ZKN:bogus>x</ZKN:bogus><ZKN:identificatie>", 1),
               "ref-invalid", "20260102100000000")
"""Schema-invalid (an element ZAK does not have), yet applied by a receiver that does not validate."""


def post(url: str, body: bytes, action: str | None = None) -> httpx.Response:
    headers = {"Content-Type": "text/xml; charset=utf-8", **({"SOAPAction": action} if action else {})}
    return httpx.post(url + "/soap", content=soap11(body), headers=headers, timeout=30)


def _created(url: str) -> None:
    assert post(url, lk01("T", creeer_object(), "ref-1", "20260102100000000"), CREEER).status_code == 200


def test_a_message_the_journal_cannot_write_changes_nothing_is_answered_stuf046_and_is_taken_when_offered_again(
        tmp_path: Path, reference_dir: Path) -> None:
    folder = tmp_path / "tb"
    receiver, journal = Receiver(), Journal(folder, timeout=0.2)
    server = ServerThread(create_app(receiver, journal)).start()
    other = sqlite3.connect(journal.path, isolation_level=None)
    try:
        _created(server.url)
        before = receiver.snapshot()
        other.execute("BEGIN IMMEDIATE")  # a backup, a sqlite3 shell, a full disk: the write fails
        status = gestart("ref-2", "20260110000000000")
        answer = post(server.url, status, STATUS)
        assert answer.status_code == 500 and b"<soap:Fault>" in answer.content
        assert b"<StUF:code>StUF046</StUF:code>" in answer.content
        assert b"<StUF:plek>server</StUF:plek>" in answer.content
        assert b"<StUF:crossRefnummer>ref-2</StUF:crossRefnummer>" in answer.content
        assert receiver.snapshot() == before, "a message that is not stored must change no zaak"
        other.execute("ROLLBACK")
        again = post(server.url, status, STATUS)
        assert again.status_code == 200 and b"<StUF:berichtcode>Bv03</StUF:berichtcode>" in again.content
        assert receiver.zaak(ZAAK)["laatsteStatus"]["statustype"] == "Levering gestart"
    finally:
        other.close()
        server.stop()
        journal.close()
    restarted = Receiver()
    assert Journal(folder).replay(restarted) == 2
    assert restarted.snapshot() == receiver.snapshot()


def test_a_message_written_ahead_but_never_answered_is_applied_on_replay(tmp_path: Path, reference_dir: Path) -> None:
    """Killed between the write and the answer: the message is stored, so the replay applies it (a resend is then
    the duplicate it is), and notes its answer."""
    journal = Journal(tmp_path / "tb")
    journal.begin(lk01("T", creeer_object(), "ref-1", "20260102100000000"), CREEER)
    again = Receiver()
    assert journal.replay(again) == 1 and again.zaak(ZAAK) is not None
    assert [(e.accepted, e.referentienummer) for e in journal.entries()] == [(True, "ref-1")]


def test_a_row_accepted_before_and_refused_on_replay_is_named_and_stops_the_start(
        tmp_path: Path, reference_dir: Path) -> None:
    folder = tmp_path / "tb"
    lenient = Receiver(validate=False)
    journal = Journal(folder)
    journal.record(INVALID, CREEER, lenient.receive(INVALID, CREEER))
    status = gestart("ref-2", "20260110000000000")
    journal.record(status, STATUS, lenient.receive(status, STATUS))
    with pytest.raises(ReplayDifferences) as raised:
        journal.replay(Receiver())
    said = raised.value.format_message()
    assert "journal row 1 (referentienummer ref-invalid): accepted before, now StUF055 [schema]" in said
    assert "journal row 2 (referentienummer ref-2): accepted before, now StUF064 [unknown-zaak]" in said
    assert "999993653" not in said and "Jansen" not in said, "never the body"
    assert journal.replay(Receiver(), accept_differences=True) == 0
    assert [d.id for d in journal.differences] == [1, 2]
    journal.close()

    port = free_port()
    started = subprocess.run(
        [sys.executable, "-c", "from gateway.cli import main; main()", "testbed", "--port", str(port), "--data-dir",
         str(folder)], capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert started.returncode == 1, started.stderr
    assert "journal row 1 (referentienummer ref-invalid): accepted before, now StUF055 [schema]" in started.stderr
    accepting = subprocess.Popen(  # told to, it starts anyway, without the zaken those rows built
        [sys.executable, "-c", "from gateway.cli import main; main()", "testbed", "--port", str(port), "--data-dir",
         str(folder), "--accept-replay-differences"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: _answers(f"http://127.0.0.1:{port}/api/zaken"), timeout=60)
        assert httpx.get(f"http://127.0.0.1:{port}/api/zaken", timeout=10).json() == {}
    finally:
        accepting.terminate()
        _, err = accepting.communicate(timeout=30)
    assert "journal row 2 (referentienummer ref-2): accepted before, now StUF064 [unknown-zaak]" in err


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_refused_junk_keeps_no_body_and_its_rows_stay_bounded(tmp_path: Path, reference_dir: Path) -> None:
    folder = tmp_path / "tb"
    receiver, journal = Receiver(), Journal(folder, unreadable_rows=3)
    server = ServerThread(create_app(receiver, journal)).start()
    junk = b"<junk>" + b"A" * (2 * 1024 * 1024) + b"</junk>"
    try:
        for _ in range(8):
            answer = httpx.post(server.url + "/soap", content=junk, timeout=30)
            assert answer.status_code == 500
        _created(server.url)
    finally:
        server.stop()
        journal.close()
    rows = sqlite3.connect(folder / "testbed.sqlite3").execute(
        "SELECT accepted, length(body), size, sha256 FROM bericht ORDER BY id").fetchall()
    assert [(a, kept) for a, kept, _, _ in rows[:-1]] == [(0, 0)] * 3, "only the newest 3 unreadable rows, no body"
    assert all(size == len(junk) and sha for _, _, size, sha in rows[:-1])
    assert rows[-1][0] == 1 and rows[-1][1] > 0, "an accepted body is kept: the replay needs it"
    assert sum(f.stat().st_size for f in folder.iterdir()) < 1024 * 1024, "freed pages are given back"


def test_a_refusal_is_recalled_on_replay_without_its_body(tmp_path: Path, reference_dir: Path) -> None:
    """Replay recognises a resend by digest, zender and referentienummer: a refused body need not be kept."""
    folder = tmp_path / "tb"
    receiver, journal = Receiver(), Journal(folder, refused_bodies=0)
    status = gestart("ref-1", "20260110000000000")
    journal.record(status, STATUS, receiver.receive(status, STATUS))  # StUF064: no zaak yet
    create = lk01("T", creeer_object(), "ref-2", "20260111000000000")
    journal.record(create, CREEER, receiver.receive(create, CREEER))
    assert sqlite3.connect(journal.path).execute("SELECT length(body) FROM bericht WHERE id = 1").fetchone() == (0,)
    again = Receiver()
    journal.replay(again)
    assert again.receive(status, STATUS).accepted, "the resend of a refused message is processed, not StUF019"
