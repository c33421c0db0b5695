"""``overstap outbox import-ledger`` into the SQLite outbox of a running ``overstap serve``, with messages in flight.

Why: the sidecar renders each message against the zaak ledger *ahead of* its commit. A message of a chain the
import carries that was rendered before the import's transaction and committed after it had been rendered as if the
zaak were new: the receiver got a second creeerZaak for the batch run's zaak (a dead letter there), and the
message's write set overwrote the imported state with the one made from nothing. The import now moves the
ledger's epoch in its transaction; the sidecar's commit of a message rendered before it fails and the message is
rendered again against the imported state. Real sidecar process, real receiver, real batch run, real SQLite.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest
from proxy_helpers import (
    GatewayProcess,
    Receiver,
    ServerThread,
    free_port,
    metric,
    sample,
    soap11,
    variant,
    wait_for,
)
from test_ledger_import import _batch
from test_proxy_ledger import A02, A04, operations

from gateway.deliver import outbox
from gateway.ledger.sqlite import DB_NAME
from gateway.ledger.transfer import import_ledger

pytestmark = pytest.mark.slow
WAITING = "overstap_outbox_writes_waiting"
"""Outbox writes queued or held on the write lock: here the messages' own, nothing else writes meanwhile."""


def _post(url: str, body: bytes, answers: list[httpx.Response]) -> None:
    answers.append(httpx.post(url + "/soap", content=soap11(body), timeout=60))


def _import_with_in_flight(tmp_path: Path, deliveries: int, *messages: bytes
                           ) -> tuple[str, str, Receiver, sqlite3.Connection]:
    """Batch-convert A-02, start a sidecar, let it render ``messages`` (in this order) while the import's
    transaction holds the write lock, import, and wait for the receiver to get ``deliveries``: (zaak, the imported
    state, the receiver, the outbox)."""
    state, _ = _batch(tmp_path, A02)
    src = sqlite3.connect(state / DB_NAME)
    (zaak, batch_state), = src.execute("SELECT zaak, state FROM zaak_state").fetchall()
    src.close()
    data = tmp_path / "data"
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        gw = GatewayProcess(["--data-dir", str(data), "--downstream", ds.url + "/zs", "--log-level", "warning"],
                            free_port(), tmp_path / "gateway.log").start()
        try:
            conn = outbox.connect(data / outbox.DB_NAME)
            conn.execute("BEGIN IMMEDIATE")  # the import's write lock: the sidecar renders, its commits wait
            answers: list[httpx.Response] = []
            senders = []
            for n, body in enumerate(messages, 1):
                senders.append(threading.Thread(target=_post, args=(gw.url, body, answers)))
                senders[-1].start()
                # mapped in a worker, rendered against the ledger without the batch run's zaak, and its write
                # waiting for the lock, before the next is sent: the order the receiver is asserted to get
                assert wait_for(lambda n=n: metric(gw.url, WAITING) == n, timeout=90), \
                    f"message {n} never came to wait for the outbox's lock ({WAITING} {metric(gw.url, WAITING)})"
            assert not answers  # not committed, so not acknowledged: in flight
            done = import_ledger(state / DB_NAME, conn)  # what `outbox import-ledger` does in its transaction
            conn.execute("COMMIT")
            assert done.copied == {"chain_key": 1, "zaak_state": 1, "zender_tijdstip": 1}
            for sender in senders:
                sender.join(60)
            assert [a.status_code for a in answers] == [200] * len(messages), [a.text for a in answers]
            wait_for(lambda: len(rec.received) >= deliveries)  # the test names what is missing
            time.sleep(0.5)  # nothing more arrives
        finally:
            gw.terminate()
    return zaak, batch_state, rec, conn


def _held(conn: sqlite3.Connection, zaak: str) -> dict[str, object]:
    return json.loads(conn.execute("SELECT state FROM zaak_state WHERE zaak = ?", (zaak,)).fetchone()[0])


def test_a_message_rendered_before_the_import_and_committed_after_it_continues_the_imported_zaak(
        tmp_path: Path) -> None:
    zaak, batch_state, rec, conn = _import_with_in_flight(tmp_path, 2, sample(A04))
    # the batch run's zaak continued (the intrekking ends it), never created again
    assert operations(rec) == {zaak: ["updateZaak", "actualiseerZaakstatus"]}
    held, imported = _held(conn, zaak), json.loads(batch_state)
    assert imported["attrs"]["einddatum"] is None and held["attrs"]["einddatum"] == "20161107"  # the intrekking's
    assert held["as_of"] > imported["as_of"]  # moved on from the imported state, not made from nothing


def test_two_messages_of_the_chain_in_flight_are_both_rendered_again_from_the_imported_zaak(tmp_path: Path) -> None:
    """The second was rendered against the first's write set in flight (a zaak made from nothing): after the
    import neither that write set nor the first's render may be what the receiver gets."""
    zaak, _, rec, conn = _import_with_in_flight(tmp_path, 3, variant(sample(A02), 7), sample(A04))
    assert operations(rec) == {zaak: ["updateZaak", "updateZaak", "actualiseerZaakstatus"]}  # in the order sent
    assert _held(conn, zaak)["attrs"]["einddatum"] == "20161107"
