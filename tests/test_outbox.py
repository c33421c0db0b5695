"""The outbox on a real SQLite file: durable accept, de-duplication, dead letters, quarantine, replay and purge,
the group committer, and the ``overstap outbox`` commands an operator uses on it.

Why: the outbox is the promise behind every Bv03 — what it stores survives, a re-sent message is
not delivered twice, and nothing an operator does (replay, purge) loses a pending delivery.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import pytest
from click.testing import CliRunner
from proxy_helpers import samples_dir

from gateway.cli import main
from gateway.deliver import forwarder_reads, outbox
from gateway.deliver.committer import GroupCommitter
from gateway.deliver.plan import plan
from gateway.deliver.replay import DELIVERED_REFUSED, replay_deliveries
from gateway.pipeline import Converter


def _db(tmp_path: Path) -> sqlite3.Connection:
    return outbox.connect(outbox.open_db(tmp_path / "data"))


def _delivery(ref: str, key: str = "zaak-1", payload: bytes = b"<x/>") -> outbox.NewDelivery:
    return outbox.NewDelivery(outbox.NEW, ref, key, payload, "text/xml", "urn:action", key)


def test_database_is_wal_with_full_sync(tmp_path: Path) -> None:
    conn = _db(tmp_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: fsync on every commit


def test_accept_stores_original_and_deliveries_and_recognises_a_resend(tmp_path: Path) -> None:
    conn = _db(tmp_path)
    msg = outbox.NewMessage("default", "translate", b"<orig/>", source_ref="abc")
    with outbox.transaction(conn):
        first = outbox.accept(conn, msg, [_delivery("R1"), _delivery("R2", "zaak-2")])
    assert [q.referentienummer for q in first.queued] == ["R1", "R2"] and not first.duplicate
    with outbox.transaction(conn):
        again = outbox.accept(conn, outbox.NewMessage("default", "translate", b"<orig/>"),
                              [_delivery("R1"), _delivery("R2", "zaak-2")])
    assert again.duplicate and again.message_id == first.message_id and again.times_received == 2
    assert sorted(s for _i, s, _t, _r in again.known) == ["pending", "pending"]
    # the same references from a differently formatted body: a new message row, still no new delivery
    with outbox.transaction(conn):
        other = outbox.accept(conn, outbox.NewMessage("default", "translate", b"<orig />"), [_delivery("R1")])
    assert other.message_id != first.message_id and other.duplicate
    assert conn.execute("SELECT count(*) FROM delivery").fetchone()[0] == 2
    assert bytes(outbox.message(conn, first.message_id)["original"]) == b"<orig/>"


def test_a_dead_letter_offered_again_by_the_sender_is_revived(tmp_path: Path) -> None:
    conn = _db(tmp_path)
    msg = outbox.NewMessage("default", "translate", b"<orig/>")
    with outbox.transaction(conn):
        first = outbox.accept(conn, msg, [_delivery("R1", payload=b"<old/>")])
        outbox.mark_dead(conn, first.queued[0].id, 1, 500, "Fo03 StUF055", "refused")
    with outbox.transaction(conn):
        again = outbox.accept(conn, msg, [_delivery("R1", payload=b"<new/>")])
    assert [q.id for q in again.queued] == [first.queued[0].id]
    row = outbox.delivery(conn, first.queued[0].id)
    assert (row["status"], bytes(row["payload"]), row["attempts"]) == ("pending", b"<new/>", 0)
    assert row["reason"].startswith("offered again by the sender")


def _identified(body: bytes, content: str, key: str = "0384|abc|2016-02-20") -> outbox.NewMessage:
    return outbox.NewMessage("default", "translate", body, source_ref="abc", afzender="0384", source_key=key,
                             content_sha256=content)


def test_a_resend_in_other_bytes_is_answered_with_the_references_stored_the_first_time(tmp_path: Path) -> None:
    conn = _db(tmp_path)
    with outbox.transaction(conn):
        first = outbox.accept(conn, _identified(b"<orig/>", "c1"), [_delivery("R1"), _delivery("R2", "zaak-2")])
        outbox.mark_dead(conn, first.queued[1].id, 1, 500, "Fo03 StUF058", "receiver down")
    # v2 renders new referentienummers for every rendering: the re-send's plan must not be queued
    with outbox.transaction(conn):
        again = outbox.accept(conn, _identified(b"<soap><orig/></soap>", "c1"), [_delivery("N1"), _delivery("N2")])
    assert (again.repeat, again.message_id, again.times_received, again.refs) == (
        True, first.message_id, 2, ["R1", "R2"])
    assert [q.referentienummer for q in again.queued] == ["R2"]  # the dead letter is offered again
    assert [(i, s) for i, s, _t, _r in again.known] == [(first.queued[0].id, "pending")]
    assert [r["referentienummer"] for r in outbox.delivery_rows(conn)] == ["R2", "R1"]
    assert conn.execute("SELECT count(*) FROM message").fetchone()[0] == 1
    assert outbox.delivery(conn, first.queued[1].id)["status"] == "pending"


def test_the_same_bytes_again_without_an_identity_are_answered_from_what_was_stored(tmp_path: Path) -> None:
    conn = _db(tmp_path)
    msg = outbox.NewMessage("default", "shadow", b"<not-converted/>")
    with outbox.transaction(conn):
        first = outbox.accept(conn, msg, [_delivery("G1")])
        again = outbox.accept(conn, msg, [_delivery("G2")])  # e.g. GGk: a random UUID for every rendering
    assert (again.repeat, again.duplicate, again.refs, again.times_received) == (True, True, ["G1"], 2)
    assert first.refs == ["G1"] and conn.execute("SELECT count(*) FROM delivery").fetchone()[0] == 1


def test_an_identificatie_reused_for_other_content_is_a_conflict_and_stores_nothing(tmp_path: Path) -> None:
    conn = _db(tmp_path)
    with outbox.transaction(conn):
        outbox.accept(conn, _identified(b"<a/>", "c1"), [_delivery("R1")])
    with (pytest.raises(outbox.ReferenceConflict, match="referentienummer abc already belongs to a different"),
          outbox.transaction(conn)):
        outbox.accept(conn, _identified(b"<b/>", "c2"), [_delivery("R9")])
    assert [r["referentienummer"] for r in outbox.delivery_rows(conn)] == ["R1"]
    # another day (or another afzender) is another identity: accepted
    with outbox.transaction(conn):
        other = outbox.accept(conn, _identified(b"<b/>", "c2", "0384|abc|2016-02-21"), [_delivery("R9")])
    assert (other.repeat, other.refs) == (False, ["R9"])


def test_quarantine_keeps_reason_and_counts_repeats(tmp_path: Path) -> None:
    conn = _db(tmp_path)
    bad = outbox.NewMessage("default", "translate", b"<bad", fault_code="StUF055", fault_line=1,
                            reason="not well-formed XML")
    with outbox.transaction(conn):
        q1 = outbox.quarantine(conn, bad)
        q2 = outbox.quarantine(conn, bad)
    assert q1 == q2
    row = outbox.message(conn, q1)
    assert (row["status"], row["times_received"], row["reason"]) == ("quarantined", 2, "not well-formed XML")
    assert outbox.quarantine_counts(conn) == {"default": 1}


def test_purge_never_touches_pending(tmp_path: Path) -> None:
    conn = _db(tmp_path)
    with outbox.transaction(conn):
        acc = outbox.accept(conn, outbox.NewMessage("default", "translate", b"<a/>"),
                            [_delivery("R1"), _delivery("R2"), _delivery("R3")], now=time.time() - 86400 * 10)
        ids = [q.id for q in acc.queued]
        outbox.mark_delivered(conn, ids[0], 1, 200, "Bv03", now=time.time() - 86400 * 10)
        outbox.mark_dead(conn, ids[1], 3, 400, None, "bad", now=time.time() - 86400 * 10)
        removed, _ = outbox.purge(conn, before=time.time() - 86400, statuses=["delivered", "pending"])
    assert removed == 1
    assert [r["status"] for r in outbox.delivery_rows(conn)] == ["pending", "dead"]
    with outbox.transaction(conn):
        outbox.purge(conn, before=time.time(), statuses=["delivered", "dead"])
    assert [r["status"] for r in outbox.delivery_rows(conn)] == ["pending"]
    assert outbox.message(conn, acc.message_id) is not None  # still has a pending delivery


def test_group_committer_batches_and_isolates_failures(tmp_path: Path) -> None:
    path = outbox.open_db(tmp_path / "data")
    committer = GroupCommitter(lambda: outbox.connect(path))
    committer.start()

    def good(n: int):  # type: ignore[no-untyped-def]
        return lambda c: outbox.accept(c, outbox.NewMessage("r", "translate", f"<m{n}/>".encode()),
                                       [_delivery(f"R{n}", f"k{n}")]).message_id

    def bad(c: sqlite3.Connection) -> None:
        outbox.accept(c, outbox.NewMessage("r", "translate", b"<bad/>"), [_delivery("RB")])
        raise RuntimeError("this write fails after inserting")

    async def run() -> list[object]:
        jobs = [committer.write(good(n)) for n in range(200)] + [committer.write(bad)]
        return await asyncio.gather(*jobs, return_exceptions=True)

    try:
        results = asyncio.run(run())
    finally:
        committer.stop()
    assert all(isinstance(r, int) for r in results[:200])
    assert isinstance(results[200], RuntimeError)
    conn = outbox.connect(path)
    assert conn.execute("SELECT count(*) FROM delivery").fetchone()[0] == 200  # the failing write left nothing
    assert conn.execute("SELECT count(*) FROM delivery WHERE referentienummer = 'RB'").fetchone()[0] == 0
    assert committer.commits < 200  # many writes shared a commit


def test_committer_answers_only_after_commit(tmp_path: Path) -> None:
    """A second connection sees the row as soon as the writer answers: the answer follows the COMMIT."""
    path = outbox.open_db(tmp_path / "data")
    committer = GroupCommitter(lambda: outbox.connect(path))
    committer.start()
    seen: list[int] = []

    def check_visible() -> None:
        # a reader of its own: on a shared one another thread's statement still open keeps its read transaction
        # (WAL: its snapshot) open, and this query would see that older snapshot, not the committer's answer
        reader = outbox.connect(path)
        for n in range(50):
            mid = committer.submit(lambda c, n=n: outbox.accept(
                c, outbox.NewMessage("r", "translate", f"<v{n}/>".encode()), []).message_id).result(timeout=10)
            seen.append(reader.execute("SELECT count(*) FROM message WHERE id = ?", (mid,)).fetchone()[0])
        reader.close()

    threads = [threading.Thread(target=check_visible) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    committer.stop()
    assert seen == [1] * 200


def _accept(n: int) -> Callable[[sqlite3.Connection], int]:
    return lambda c: outbox.accept(c, outbox.NewMessage("r", "translate", f"<w{n}/>".encode()), []).message_id


def _noting_what_a_reader_sees(path: Path, seen: dict[int, int]) -> Callable[[Future[int] | asyncio.Future[int]], None]:
    """A done callback for a future of ``_accept``: notes whether another connection already sees its message."""

    def on_answer(future: Future[int] | asyncio.Future[int]) -> None:
        reader = outbox.connect(path)
        try:
            mid = future.result()
            seen[mid] = reader.execute("SELECT count(*) FROM message WHERE id = ?", (mid,)).fetchone()[0]
        finally:
            reader.close()

    return on_answer


def test_at_the_moment_of_each_answer_a_second_connection_sees_the_row(tmp_path: Path) -> None:
    """Read the outbox from another connection inside the future's callback, which runs as the writer answers.

    A committer that answers before its COMMIT fails here at once (the reader sees 0 rows), not by a hang.
    """
    path = outbox.open_db(tmp_path / "data")
    committer = GroupCommitter(lambda: outbox.connect(path))
    committer.start()
    seen: dict[int, int] = {}
    on_answer = _noting_what_a_reader_sees(path, seen)  # runs in the writer thread, at set_result

    gate = threading.Event()
    try:
        held = committer.submit(lambda c: gate.wait(10))  # the writer waits here until every callback is attached
        futures = [committer.submit(_accept(n)) for n in range(20)]
        for future in futures:
            future.add_done_callback(on_answer)
        gate.set()
        assert held.result(timeout=10) is True
        ids = [future.result(timeout=10) for future in futures]
    finally:
        gate.set()
        committer.stop(timeout=10)
    assert len(set(ids)) == 20
    assert seen == {mid: 1 for mid in ids}


def _failing_commits(tmp_path: Path) -> tuple[sqlite3.Connection, GroupCommitter]:
    """A started committer whose every COMMIT fails (a deferred foreign key), and a connection to look with."""
    path = outbox.open_db(tmp_path / "data")
    setup = outbox.connect(path)
    setup.executescript("CREATE TABLE trap (m INTEGER REFERENCES message(id) DEFERRABLE INITIALLY DEFERRED);"
                        "CREATE TRIGGER commit_fails AFTER INSERT ON message BEGIN INSERT INTO trap VALUES (-1); END;")
    committer = GroupCommitter(lambda: outbox.connect(path))
    committer.start()
    return setup, committer


def test_a_commit_that_fails_answers_every_waiter_with_the_error(tmp_path: Path) -> None:
    """A deferred foreign key is checked at COMMIT: each write succeeds, the COMMIT fails, no waiter gets a value."""
    setup, committer = _failing_commits(tmp_path)
    try:
        futures = [committer.submit(_accept(n)) for n in range(3)]
        errors = [future.exception(timeout=10) for future in futures]
    finally:
        committer.stop(timeout=10)
    assert [type(e) for e in errors] == [sqlite3.IntegrityError] * 3
    assert str(errors[0]) == "FOREIGN KEY constraint failed"
    assert isinstance(committer.failed, sqlite3.IntegrityError) and committer.commits == 0
    assert setup.execute("SELECT count(*) FROM message").fetchone()[0] == 0


def test_an_event_loops_writes_are_answered_after_the_commit_in_one_hand_over(tmp_path: Path) -> None:
    """``write``/``enqueue`` answer on the loop: each answer follows the COMMIT (a second connection sees the row
    in the future's callback), and the answers of one commit reach the loop in one ``call_soon_threadsafe``."""
    path = outbox.open_db(tmp_path / "data")
    committer = GroupCommitter(lambda: outbox.connect(path))
    committer.start()
    seen: dict[int, int] = {}
    hand_overs: list[int] = []
    on_answer = _noting_what_a_reader_sees(path, seen)  # runs on the loop, as the answer arrives

    async def run() -> list[int]:
        loop = asyncio.get_running_loop()
        threadsafe = loop.call_soon_threadsafe

        def counting(callback: Callable[..., object], *args: object) -> asyncio.Handle:
            hand_overs.append(len(args[0]) if args and isinstance(args[0], list) else 0)
            return threadsafe(callback, *args)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
        gate, holding = threading.Event(), threading.Event()

        def hold(_connection: object) -> bool:
            holding.set()
            return gate.wait(10)

        held = committer.submit(hold)  # the next 20 writes queue up behind it
        assert holding.wait(10)  # the committer is inside it: none of them can join its batch
        futures = [committer.enqueue(_accept(n)) for n in range(20)]
        for future in futures:
            future.add_done_callback(on_answer)
        gate.set()
        ids = await asyncio.gather(*futures)
        assert held.result(timeout=10) is True
        return ids

    try:
        ids = asyncio.run(run())
    finally:
        committer.stop(timeout=10)
    assert len(set(ids)) == 20
    assert seen == {mid: 1 for mid in ids}
    assert hand_overs == [20]


def test_a_commit_that_fails_answers_every_waiting_coroutine_with_the_error(tmp_path: Path) -> None:
    """The same on the event loop's path: the COMMIT fails, every ``write`` raises its error."""
    setup, committer = _failing_commits(tmp_path)

    async def run() -> list[object]:
        return await asyncio.gather(*(committer.write(_accept(n)) for n in range(3)), return_exceptions=True)

    try:
        errors = asyncio.run(run())
    finally:
        committer.stop(timeout=10)
    assert [type(e) for e in errors] == [sqlite3.IntegrityError] * 3
    assert setup.execute("SELECT count(*) FROM message").fetchone()[0] == 0


@pytest.fixture
def dead_letter_db(tmp_path: Path) -> tuple[Path, int, bytes]:
    """An outbox with one dead canonical delivery of the A-02 sample (the receiver refused it)."""
    original = (samples_dir() / "CasusA-02-WMO301_toewijzing.xml").read_bytes()
    conversion = Converter().convert(original)
    conn = _db(tmp_path)
    deliveries = plan("translate", conversion.outputs, original)
    with outbox.transaction(conn):
        acc = outbox.accept(conn, outbox.NewMessage("default", "translate", original, source_ref="1d8d1f0852bf"),
                            deliveries)
        outbox.mark_dead(conn, acc.queued[0].id, 2, 500, "Fo03 StUF055", "HTTP 500: Fo03 StUF055 (client): kapot")
    return tmp_path / "data", acc.queued[0].id, deliveries[0].payload


def test_replay_sends_the_stored_output_again(dead_letter_db: tuple[Path, int, bytes]) -> None:
    """A canonical output is rendered against the ledger once: a replay sends it as stored, same reference."""
    data, delivery_id, stored = dead_letter_db
    conn = outbox.connect(data / outbox.DB_NAME)
    before = forwarder_reads.generation(conn)
    ref = outbox.delivery(conn, delivery_id)["referentienummer"]
    with outbox.transaction(conn):
        (result,) = replay_deliveries(conn, [delivery_id])
    assert result.ok and result.note == "queued again as stored"
    row = outbox.delivery(conn, delivery_id)
    assert (row["status"], bytes(row["payload"]), row["replays"], row["referentienummer"]) == (
        "pending", stored, 1, ref)
    assert forwarder_reads.generation(conn) == before + 1  # a running forwarder notices
    with outbox.transaction(conn):
        (again,) = replay_deliveries(conn, [delivery_id])
    assert not again.ok and again.note == "already pending"


def test_a_delivered_delivery_is_replayed_only_on_force(dead_letter_db: tuple[Path, int, bytes]) -> None:
    """Review of the sidecar, finding 5: the one replay the CLI, /admin/replay and the console share refuses a
    delivery that went out (sent again, it may be applied twice or out of order) unless forced; the CLI says so."""
    data, delivery_id, stored = dead_letter_db
    conn = outbox.connect(data / outbox.DB_NAME)
    with outbox.transaction(conn):  # delivered, as it ends up (the forwarder marks only a pending delivery so)
        conn.execute("UPDATE delivery SET status = 'delivered' WHERE id = ?", (delivery_id,))
    with outbox.transaction(conn):
        (refused,) = replay_deliveries(conn, [delivery_id])
    assert (refused.ok, refused.note) == (False, DELIVERED_REFUSED)
    assert (outbox.delivery(conn, delivery_id)["status"], outbox.delivery(conn, delivery_id)["replays"]) == (
        "delivered", 0)
    runner = CliRunner()
    shown = runner.invoke(main, ["outbox", "replay", str(delivery_id), "--data-dir", str(data)])
    assert shown.exit_code == 1 and f"FAIL {delivery_id}: already delivered" in shown.output, shown.output
    assert outbox.delivery(conn, delivery_id)["status"] == "delivered"
    forced = runner.invoke(main, ["outbox", "replay", str(delivery_id), "--force", "--data-dir", str(data)])
    assert forced.exit_code == 0 and "sent again on force" in forced.output, forced.output
    row = outbox.delivery(conn, delivery_id)
    assert (row["status"], row["replays"], bytes(row["payload"])) == ("pending", 1, stored)


def test_an_id_sqlite_cannot_hold_is_no_delivery_not_a_crash(dead_letter_db: tuple[Path, int, bytes]) -> None:
    """Review of the sidecar, finding 4: sqlite3 raises OverflowError on an integer beyond 64 bits. The CLI refuses
    one as a usage error, and the replay every caller shares answers it as what it is: no such row."""
    data, _, _ = dead_letter_db
    conn = outbox.connect(data / outbox.DB_NAME)
    with outbox.transaction(conn):
        results = replay_deliveries(conn, [2**63, -(2**63) - 1])
    assert [(r.ok, r.note) for r in results] == [(False, "no such delivery")] * 2
    shown = CliRunner().invoke(main, ["outbox", "replay", str(10**30), "--data-dir", str(data)])
    assert shown.exit_code == 2 and "is not in the range" in shown.output, shown.output



    data, delivery_id, good_payload = dead_letter_db
    runner = CliRunner()
    listed = runner.invoke(main, ["outbox", "list", "--data-dir", str(data), "--status", "dead"])
    assert listed.exit_code == 0, listed.output
    assert f"{delivery_id:<7} dead" in listed.output and "kapot" in listed.output
    assert "0 pending, 0 delivered, 1 dead" in listed.output
    shown = runner.invoke(main, ["outbox", "show", str(delivery_id), "--data-dir", str(data)])
    assert "reply_code        Fo03 StUF055" in shown.output and "CasusA" not in shown.output
    assert "source_ref      1d8d1f0852bf" in shown.output
    replayed = runner.invoke(main, ["outbox", "replay", "--all-dead", "--data-dir", str(data)])
    assert replayed.exit_code == 0, replayed.output
    assert "1 replayed, 0 not" in replayed.output
    conn = outbox.connect(data / outbox.DB_NAME)
    assert bytes(outbox.delivery(conn, delivery_id)["payload"]) == good_payload
    with outbox.transaction(conn):
        outbox.mark_delivered(conn, delivery_id, 1, 200, "Bv03", now=time.time() - 3 * 86400)
        conn.execute("UPDATE message SET received_at = ?, last_received_at = ?", (time.time() - 3 * 86400,) * 2)
    purged = runner.invoke(main, ["outbox", "purge", "--data-dir", str(data), "--older-than", "2d"])
    assert "purged 1 delivery(ies) and 1 message(s)" in purged.output
    missing = runner.invoke(main, ["outbox", "list", "--data-dir", str(data / "nope")])
    assert missing.exit_code == 2 and "no outbox" in missing.output


def test_a_quarantined_message_is_replayed_once_it_converts(tmp_path: Path) -> None:
    """As if the mapping was broken when it came in: replay converts it now and queues it like an arrival."""
    original = (samples_dir() / "CasusA-02-WMO301_toewijzing.xml").read_bytes()
    conn = _db(tmp_path)
    with outbox.transaction(conn):
        qid = outbox.quarantine(conn, outbox.NewMessage("default", "shadow", original, fault_code="StUF055",
                                                        fault_field="clients.0.geslacht", reason="not in value map"))
    runner = CliRunner()
    listed = runner.invoke(main, ["outbox", "list", "--quarantine", "--data-dir", str(tmp_path / "data")])
    assert f"Q{qid}" in listed.output and "clients.0.geslacht: not in value map" in listed.output
    result = runner.invoke(main, ["outbox", "replay", "--quarantined", str(qid), "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    assert "2 delivery(ies) queued" in result.output  # shadow: the canonical zaak and the original
    assert outbox.message(conn, qid) is None
    rows = outbox.delivery_rows(conn)
    assert sorted(r["target"] for r in rows) == ["legacy", "new"] and {r["status"] for r in rows} == {"pending"}
    again = runner.invoke(main, ["outbox", "replay", "--quarantined", str(qid), "--data-dir", str(tmp_path / "data")])
    assert again.exit_code == 1 and "no such quarantined message" in again.output


def test_a_replayed_quarantined_message_is_queued_in_its_downstreams_order(tmp_path: Path) -> None:
    """A downstream with ``order: created`` takes every delivery in one queue (key ``*``), also a quarantined
    message converted by ``outbox replay --config``; the legacy partner keeps the per-zaak order."""
    original = (samples_dir() / "CasusA-02-WMO301_toewijzing.xml").read_bytes()
    conn = _db(tmp_path)
    with outbox.transaction(conn):
        qid = outbox.quarantine(conn, outbox.NewMessage("default", "shadow", original, fault_code="StUF055",
                                                        fault_field="clients.0.geslacht", reason="not in value map"))
    config = tmp_path / "serve.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\n"
                      "downstreams: {zs: {url: 'http://127.0.0.1:9/zs', order: created}, old: 'http://127.0.0.1:9/old'}\n"
                      "routes: {default: {mode: shadow, downstream: zs, legacy_downstream: old}}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["outbox", "replay", "--quarantined", str(qid), "--config", str(config)])
    assert result.exit_code == 0, result.output
    keys = {r["target"]: r["order_key"] for r in outbox.delivery_rows(conn)}
    assert keys["new"] == "*" and keys["legacy"] == "0384B425386123-56483ABD37"  # the zaak of the client's line


def test_a_dead_letter_of_a_route_the_config_no_longer_has_is_refused_not_queued(tmp_path: Path) -> None:
    """Queued for a route without a downstream, it waited for ever and the replay said "queued again" (review of
    the operator paths, session 21). With --config the replay knows the routes and refuses it; without, it cannot
    tell and queues it as before."""
    conn = _db(tmp_path)
    with outbox.transaction(conn):
        accepted = outbox.accept(conn, outbox.NewMessage("gone", "translate", b"<x/>"), [_delivery("REF-GONE")])
        outbox.mark_dead(conn, accepted.queued[0].id, 1, 500, "Fo03 StUF055", "refused")
    dead = accepted.queued[0].id
    config = tmp_path / "serve.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\ndownstreams: {{zs: 'http://127.0.0.1:9/zs'}}\n"
                      "routes: {default: {downstream: zs}}\n", encoding="utf-8")
    runner = CliRunner()
    refused = runner.invoke(main, ["outbox", "replay", str(dead), "--config", str(config)])
    assert refused.exit_code == 1
    assert f"FAIL {dead}: route 'gone' has no new downstream in this configuration" in refused.output
    assert outbox.delivery(conn, dead)["status"] == "dead"
    queued = runner.invoke(main, ["outbox", "replay", str(dead), "--data-dir", str(tmp_path / "data")])
    assert queued.exit_code == 0 and outbox.delivery(conn, dead)["status"] == "pending"
