"""A GGk envelope the chain refused never goes to it again under the same UUID; a Fo01 is never overwritten.

Why: StUF 03.01 4.4 has an end node keep every asynchronous message it was offered under its referentienummer:
the same message offered again gets the same Bv03 or Fo03 again and is not stored, a different one gets Fo03
StUF016 (the ISD-keten: IB216, CC08). So a Di01 the chain refused, at once (a Fo03) or later (a Fo01), can only
succeed in a new envelope: a new UUID and the zender's next tijdstipBericht (gateway/deliver/restamp.py), whether
an operator replays it or the sender offers the message again. And a Fo01 that comes while the attempt that
carried the Di01 still waits for the chain's answer must not be undone by that answer. Each test runs ``overstap
serve`` as a real process and a downstream on 127.0.0.1 that plays the chain as 4.4 describes it.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from pathlib import Path

import httpx
import pg_helpers
import pytest
from fastapi import FastAPI, Request, Response
from pg_helpers import database_for
from proxy_helpers import (
    BV03,
    FO03,
    GatewayProcess,
    Receiver,
    ServerThread,
    free_port,
    metric,
    sample,
    variant,
    wait_for,
)
from test_ggk_fo01 import deliveries, di01_ref, refuse, same_but_stamps, serve

from gateway.deliver import outbox

ADMIN = {"X-Admin-Key": "geheim"}
server = pg_helpers.server  # one PostgreSQL server for this module, started only by the test that asks for it


def serve_once(tmp_path: Path, downstream: str) -> GatewayProcess:
    """A ggk sidecar whose chain gets one attempt per delivery (max_attempts 1), with an admin key."""
    config = tmp_path / "serve.yaml"
    config.write_text(json.dumps({
        "data_dir": str(tmp_path / "data"), "convert_processes": 0, "admin_key": "geheim",
        "downstreams": {"isd": {"url": downstream, "retry": {"max_attempts": 1, "base_delay": 0.01}}},
        "routes": {"default": {"downstream": "isd", "profile": "ggk"}}}))
    return GatewayProcess(["--config", str(config), "--log-level", "info"], free_port(),
                          tmp_path / "gateway.log").start()


def stored(data: Path, delivery_id: int) -> sqlite3.Row:
    """The delivery's row as the outbox file holds it (status, reply_code, payload, referentienummer)."""
    conn = sqlite3.connect(f"file:{data / outbox.DB_NAME}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute("SELECT * FROM delivery WHERE id = ?", (delivery_id,)).fetchone()
        assert row is not None
        return row
    finally:
        conn.close()


def dead_one(data: Path, known: set[int]) -> dict[str, object]:
    """Wait for a dead letter other than ``known``; as ``outbox list --json`` shows it."""
    found: list[dict[str, object]] = []

    def dead() -> bool:
        found[:] = [d for d in deliveries(data).values() if d["status"] == outbox.DEAD and d["id"] not in known]
        return len(found) == 1

    assert wait_for(dead, timeout=30)
    return found[0]


def test_a_di01_the_chain_refused_at_once_is_replayed_in_a_new_envelope(tmp_path: Path) -> None:
    """The chain answers the first Di01 with a Fo03 at once and the second with HTTP 500 (no StUF: it may or may
    not hold it). Both are dead letters; the first's reply code is the Fo03's. The chain then keeps answering the
    first UUID with its Fo03 (4.4). An admin replay of both: the first reaches the chain in a new envelope (new
    UUID, byte for byte the rest) and is delivered; the second goes in its own envelope, the same UUID."""
    chain = Receiver(behaviour="fo", fo_code="StUF055", fo_omschrijving="envelop niet conform schema")
    data = tmp_path / "data"
    with ServerThread(chain.app()) as ds:
        gw = serve_once(tmp_path, ds.url + "/isd")
        try:
            assert httpx.post(gw.url + "/soap", content=variant(sample(), 1), timeout=30).status_code == 200
            refused = dead_one(data, set())
            chain.behaviour = "500"
            assert httpx.post(gw.url + "/soap", content=variant(sample(), 2), timeout=30).status_code == 200
            failed = dead_one(data, {int(str(refused["id"]))})
            first, second = stored(data, int(str(refused["id"]))), stored(data, int(str(failed["id"])))
            assert (first["status"], first["http_status"], first["reply_code"]) == (outbox.DEAD, 500, "Fo03 StUF055")
            assert (second["status"], second["http_status"], second["reply_code"]) == (outbox.DEAD, 500, None)
            old_ref, old_payload = str(first["referentienummer"]), bytes(first["payload"])
            chain.behaviour, chain.fo_refs = "bv", {old_ref}  # 4.4: the same UUID, the same Fo03
            answer = httpx.post(gw.url + "/admin/replay", json={"ids": [first["id"], second["id"]]}, headers=ADMIN,
                                timeout=60)
            assert answer.status_code == 200, answer.text
            notes = {r["id"]: r["note"] for r in answer.json()["results"]}
            assert notes[first["id"]].startswith("queued again in a new envelope ") and old_ref in notes[first["id"]]
            assert notes[second["id"]] == "queued again as stored"
            assert wait_for(lambda: len(chain.received) == 2, timeout=30)
        finally:
            gw.terminate()
    by_ref = {r.referentienummer: r.body for r in chain.received}
    renewed = next(ref for ref in by_ref if ref != second["referentienummer"])
    assert second["referentienummer"] in by_ref and renewed != old_ref
    assert di01_ref(by_ref[renewed]) == renewed and same_but_stamps(old_payload, by_ref[renewed])
    listed = deliveries(data)
    assert listed[renewed]["status"] == outbox.DELIVERED and listed[renewed]["id"] == first["id"]
    assert listed[second["referentienummer"]]["status"] == outbox.DELIVERED
    assert old_ref not in listed


def test_the_sender_offering_a_refused_message_again_sends_it_in_a_new_envelope(tmp_path: Path) -> None:
    """Two 301s: the chain refuses the first later in a Fo01, the second at once in a Fo03, and from then on answers
    both UUIDs with their Fo03 (4.4). The vendor offers both messages again: each is a re-send to the sidecar
    (Bv03, ``X-Overstap-Duplicate``, nothing planned anew), and each Di01 reaches the chain in a new envelope,
    byte for byte the rest; the dead letters are delivered under the new UUIDs, the old ones never sent again."""
    chain = Receiver()
    data = tmp_path / "data"
    first_message, second_message = variant(sample(), 1), variant(sample(), 2)
    with ServerThread(chain.app()) as ds:
        gw = serve(tmp_path, ds.url + "/isd")
        try:
            assert httpx.post(gw.url + "/soap", content=first_message, timeout=30).status_code == 200
            assert wait_for(lambda: len(chain.received) == 1)
            late = di01_ref(chain.received[0].body)
            late_id = int(refuse(gw, late).headers["x-overstap-delivery"])
            chain.behaviour = "fo"
            assert httpx.post(gw.url + "/soap", content=second_message, timeout=30).status_code == 200
            at_once = dead_one(data, {late_id})
            at_once_ref, at_once_payload = str(at_once["referentienummer"]), bytes(stored(data, int(str(
                at_once["id"])))["payload"])
            assert stored(data, int(str(at_once["id"])))["reply_code"] == "Fo03 StUF055"
            chain.behaviour, chain.fo_refs = "bv", {late, at_once_ref}  # 4.4: the same UUID, the same Fo03
            for message in (first_message, second_message):
                again = httpx.post(gw.url + "/soap", content=message, timeout=30)
                assert again.status_code == 200 and again.headers["x-overstap-duplicate"] == "true", again.text
                assert b"Bv03Bericht" in again.content
            assert wait_for(lambda: len(chain.received) == 3, timeout=30)
            renewed = {r.referentienummer: r.body for r in chain.received[1:]}
            assert wait_for(lambda: all(deliveries(data).get(ref, {}).get("status") == outbox.DELIVERED
                                        for ref in renewed), timeout=30)
        finally:
            gw.terminate()
    assert late not in renewed and at_once_ref not in renewed
    listed = deliveries(data)
    by_id = {int(str(listed[ref]["id"])): body for ref, body in renewed.items()}
    assert set(by_id) == {late_id, at_once["id"]}
    assert same_but_stamps(chain.received[0].body, by_id[late_id])
    assert same_but_stamps(at_once_payload, by_id[int(str(at_once["id"]))])
    assert late not in listed and at_once_ref not in listed
    log = (tmp_path / "gateway.log").read_text()
    assert f"delivery {late_id} queued again in a new envelope" in log


class HeldChain:
    """A chain that takes the one Di01 and holds its answer (a Bv03, or a Fo03 at once) until the test lets go."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.arrived = threading.Event()
        self.go = threading.Event()
        self.bodies: list[bytes] = []

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/{path:path}")
        async def take(path: str, request: Request) -> Response:
            body = await request.body()
            ref = di01_ref(body)
            self.bodies.append(body)
            self.arrived.set()
            while not self.go.is_set():
                await asyncio.sleep(0.02)
            if self.answer == "fo":
                fo = FO03.format(ref=ref, code="StUF055", omschrijving="envelop niet conform schema")
                return Response(fo.encode(), status_code=500, media_type="text/xml")
            return Response(BV03.format(ref=ref).encode(), media_type="text/xml")

        return app


@pytest.mark.parametrize("answer", ["bv", "fo"])
def test_a_fo01_stored_while_its_di01_is_on_the_wire_is_not_overwritten_by_the_attempt(tmp_path: Path,
                                                                                      answer: str) -> None:
    """The chain holds its answer to the Di01 until its Fo01 about that Di01 has been stored (the sidecar answered
    it with a Bv03); then it answers the attempt with a Bv03 (or a Fo03). The attempt's outcome, settled after the
    Fo01, finds the delivery no longer pending and leaves it: still dead with the Fo01's code and reason; /metrics
    counts the attempt as settled meanwhile, not as delivered or as a second dead letter."""
    chain = HeldChain(answer)
    data = tmp_path / "data"
    with ServerThread(chain.app()) as ds:
        gw = serve(tmp_path, ds.url + "/isd")
        try:
            assert httpx.post(gw.url + "/soap", content=sample(), timeout=30).status_code == 200
            assert chain.arrived.wait(30)
            sent = di01_ref(chain.bodies[0])
            delivery_id = int(refuse(gw, sent).headers["x-overstap-delivery"])
            assert deliveries(data)[sent]["status"] == outbox.DEAD
            chain.go.set()
            log = tmp_path / "gateway.log"
            settled = f"delivery {delivery_id} (default/new {sent}) was settled meanwhile"
            assert wait_for(lambda: settled in log.read_text(), timeout=30)
            found = "delivered" if answer == "bv" else "dead"
            assert wait_for(lambda: metric(gw.url, "overstap_settled_meanwhile_total", route="default", target="new",
                                           outcome=found) == 1, timeout=10)
            # /metrics counts what the outbox holds: the Fo01's dead letter, once; the attempt's answer not at all
            assert metric(gw.url, "overstap_delivered_total") == 0
            assert metric(gw.url, "overstap_dead_lettered_total", route="default", target="new") == 1
            assert metric(gw.url, "overstap_settled_meanwhile_total") == 1
        finally:
            gw.terminate()
    row = stored(data, delivery_id)
    assert (row["status"], row["reply_code"]) == (outbox.DEAD, "Fo01 IB001")
    assert str(row["reason"]).startswith("refused by the chain: Fo01 IB001 client: Client met BSN *******82")
    assert len(chain.bodies) == 1


def test_on_ack_delivered_the_re_offer_is_answered_once_the_new_envelope_is_delivered(tmp_path: Path) -> None:
    """``ack: delivered``: the chain refuses the Di01 at once (the sender gets its code in our Fo03); offered again,
    the message is answered only after the Di01 went in a new envelope and the chain took it."""
    chain = Receiver(behaviour="fo", fo_code="StUF055", fo_omschrijving="envelop niet conform schema")
    data = tmp_path / "data"
    with ServerThread(chain.app()) as ds:
        config = tmp_path / "serve.yaml"
        config.write_text(json.dumps({
            "data_dir": str(data), "convert_processes": 0,
            "downstreams": {"isd": ds.url + "/isd"},
            "routes": {"default": {"downstream": "isd", "profile": "ggk", "ack": "delivered"}}}))
        gw = GatewayProcess(["--config", str(config), "--log-level", "info"], free_port(),
                            tmp_path / "gateway.log").start()
        try:
            refused = httpx.post(gw.url + "/soap", content=sample(), timeout=30)
            assert refused.status_code == 500 and b"refused downstream: Fo03 StUF055" in refused.content, refused.text
            (old,) = deliveries(data)
            chain.behaviour, chain.fo_refs = "bv", {old}
            again = httpx.post(gw.url + "/soap", content=sample(), timeout=30)
            assert again.status_code == 200 and b"Bv03Bericht" in again.content, again.text
            assert again.headers["x-overstap-duplicate"] == "true"
            assert len(chain.received) == 1  # delivered before the answer, not after it
        finally:
            gw.terminate()
    (renewed,) = deliveries(data)
    assert renewed != old and chain.received[0].referentienummer == renewed
    assert deliveries(data)[renewed]["status"] == outbox.DELIVERED


def test_a_re_offer_on_a_postgresql_store_goes_in_a_new_envelope(server: str, request: pytest.FixtureRequest,
                                                                 tmp_path: Path) -> None:
    """Replicas share a PostgreSQL store (the re-send is recognised inside the write job, the new envelope stamped
    from the store's counter): the re-offer of a Di01 the chain refused in a Fo01 reaches it in a new envelope."""
    url = database_for(server, request, "reoffer")
    chain = Receiver()
    with ServerThread(chain.app()) as ds:
        gw = serve(tmp_path, ds.url + "/isd", "--store", url)
        try:
            assert httpx.post(gw.url + "/soap", content=sample(), timeout=30).status_code == 200
            assert wait_for(lambda: len(chain.received) == 1)
            first = di01_ref(chain.received[0].body)
            delivery_id = int(refuse(gw, first).headers["x-overstap-delivery"])
            chain.fo_refs = {first}
            again = httpx.post(gw.url + "/soap", content=sample(), timeout=30)
            assert again.status_code == 200 and again.headers["x-overstap-duplicate"] == "true", again.text
            assert wait_for(lambda: len(chain.received) == 2, timeout=30)
            renewed = di01_ref(chain.received[1].body)
            assert wait_for(lambda: deliveries(url).get(renewed, {}).get("status") == outbox.DELIVERED, timeout=30)
        finally:
            gw.terminate()
    assert renewed != first and same_but_stamps(chain.received[0].body, chain.received[1].body)
    assert deliveries(url)[renewed]["id"] == delivery_id and first not in deliveries(url)


def test_a_replay_queued_while_the_refused_attempt_is_on_the_wire_is_sent_in_its_new_envelope(tmp_path: Path) -> None:
    """The Fo01 comes while the Di01's attempt waits for the chain, and the operator replays the dead letter at once
    (a new envelope, pending). The old attempt's late Bv03 must not mark the new envelope delivered: it is sent,
    under its new UUID, and delivered."""
    chain = HeldChain("bv")
    data = tmp_path / "data"
    with ServerThread(chain.app()) as ds:
        gw = GatewayProcess(["--data-dir", str(data), "--downstream", ds.url + "/isd", "--profile", "ggk",
                             "--convert-processes", "0", "--admin-key", "geheim", "--log-level", "info"], free_port(),
                            tmp_path / "gateway.log").start()
        try:
            assert httpx.post(gw.url + "/soap", content=sample(), timeout=30).status_code == 200
            assert chain.arrived.wait(30)
            sent = di01_ref(chain.bodies[0])
            delivery_id = int(refuse(gw, sent).headers["x-overstap-delivery"])
            answer = httpx.post(gw.url + "/admin/replay", json={"ids": [delivery_id]}, headers=ADMIN, timeout=60)
            assert answer.status_code == 200 and "new envelope" in answer.text, answer.text
            (renewed,) = deliveries(data)
            assert renewed != sent and deliveries(data)[renewed]["status"] == outbox.PENDING
            chain.go.set()
            assert wait_for(lambda: len(chain.bodies) == 2, timeout=30)
            assert wait_for(lambda: deliveries(data)[renewed]["status"] == outbox.DELIVERED, timeout=30)
        finally:
            gw.terminate()
    assert di01_ref(chain.bodies[1]) == renewed and same_but_stamps(chain.bodies[0], chain.bodies[1])


def test_a_re_offer_whose_new_envelope_cannot_be_queued_is_not_acknowledged(tmp_path: Path) -> None:
    """The chain refuses the Di01 at once (a Fo03). The sender offers the message again while the outbox refuses the
    replay's write to that dead letter (a trigger that raises on its UPDATE, as a full disk would): the re-offer
    would be acknowledged with the Di01 queued nowhere. It gets a StUF046 and Retry-After (not all of what it sent
    is durable), the log names ids and the error class only, the dead letter stays as it was; offered again once
    the outbox writes, the Di01 goes in a new envelope and is delivered."""
    chain = Receiver(behaviour="fo", fo_code="StUF055", fo_omschrijving="envelop niet conform schema")
    data = tmp_path / "data"
    with ServerThread(chain.app()) as ds:
        gw = serve_once(tmp_path, ds.url + "/isd")
        try:
            assert httpx.post(gw.url + "/soap", content=sample(), timeout=30).status_code == 200
            refused = dead_one(data, set())
            delivery_id, old_ref = int(str(refused["id"])), str(refused["referentienummer"])
            before = stored(data, delivery_id)
            chain.behaviour, chain.fo_refs = "bv", {old_ref}  # 4.4: the same UUID, the same Fo03
            outbox_file = sqlite3.connect(data / outbox.DB_NAME, timeout=10)
            outbox_file.execute(f"CREATE TRIGGER full_disk BEFORE UPDATE ON delivery WHEN OLD.id = {delivery_id} "
                                "BEGIN SELECT RAISE(ABORT, 'disk full'); END;")
            again = httpx.post(gw.url + "/soap", content=sample(), timeout=30)
            assert again.status_code == 500 and again.headers["retry-after"] == "5", again.text
            assert b"StUF046" in again.content and b"Bv03Bericht" not in again.content
            assert f"stored as message {again.headers['x-overstap-message']}".encode() in again.content
            assert metric(gw.url, "overstap_rejected_total", route="default", reason="store_failed") == 1
            assert tuple(stored(data, delivery_id)) == tuple(before)  # the dead letter, untouched
            assert chain.calls == 1  # the refused Di01 only
            outbox_file.execute("DROP TRIGGER full_disk")
            outbox_file.close()
            offered = httpx.post(gw.url + "/soap", content=sample(), timeout=30)
            assert offered.status_code == 200 and b"Bv03Bericht" in offered.content, offered.text
            assert wait_for(lambda: len(chain.received) == 1, timeout=30)
            renewed = chain.received[0].referentienummer
            assert wait_for(lambda: deliveries(data).get(renewed, {}).get("status") == outbox.DELIVERED, timeout=30)
        finally:
            gw.terminate()
    assert renewed != old_ref and deliveries(data)[renewed]["id"] == delivery_id
    log = (tmp_path / "gateway.log").read_text()
    failed = [line for line in log.splitlines() if "not sent again" in line]
    assert len(failed) == 1 and f"[{delivery_id}]" in failed[0] and "IntegrityError" in failed[0], failed
    assert "123456782" not in log and "disk full" not in log and "<" not in failed[0]
