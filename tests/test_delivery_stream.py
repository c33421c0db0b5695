"""The delivery POST's own network stream (gateway/deliver/netstream.py) behaves as anyio's did for the forwarder:
an idle connection the downstream closed is replaced before the next delivery, not failed on, a large payload
arrives whole, and the stored reason of an unreachable downstream reads as before."""

from __future__ import annotations

import asyncio
import time

from proxy_helpers import Receiver, ServerThread, free_port

from gateway.deliver.downstream import Downstream
from gateway.deliver.forwarder import DELIVERED, RETRY, Forwarder, Lane, Outcome
from gateway.deliver.outbox import Queued


def _attempts(downstream: Downstream, payloads: list[bytes], pause: float = 0.0) -> list[tuple[Outcome, int]]:
    """Deliver the payloads one after the other through one lane client; (outcome, attempts) of each."""

    async def run() -> list[tuple[Outcome, int]]:
        lane = Lane(downstream)
        done = []
        try:
            for n, payload in enumerate(payloads):
                item = Queued(n + 1, "default", "zaken", "k", f"ref-{n + 1}", payload=payload, content_type="text/xml")
                outcome = await Forwarder(None, None, {})._attempt(lane, lane.clients[0], item)  # type: ignore[arg-type]
                done.append((outcome, item.attempts))
                await asyncio.sleep(pause)
        finally:
            await lane.close()
        return done

    return asyncio.run(run())


def test_an_idle_connection_the_downstream_closed_is_replaced_not_failed_on() -> None:
    """Why: a keep-alive connection the server closed while idle must be seen as gone before the next POST
    goes out on it; sending on it fails the delivery ('Server disconnected') and costs it an attempt."""
    receiver = Receiver()
    with ServerThread(receiver.app(), timeout_keep_alive=0.2) as server:  # uvicorn closes idle connections fast
        url = f"{server.url}/zaken"
        results = _attempts(Downstream("zaken", url), [b"<a>1</a>", b"<a>2</a>", b"<a>3</a>"], pause=0.6)
    assert [(o.result, n) for o, n in results] == [(DELIVERED, 1)] * 3
    assert receiver.refs() == ["ref-1", "ref-2", "ref-3"]


def test_a_payload_larger_than_what_is_held_back_arrives_whole() -> None:
    """Why: request bytes are held until the answer is read, except past a limit; both ways the body is whole."""
    receiver = Receiver()
    big = b"<a>" + b"x" * 3_000_000 + b"</a>"
    with ServerThread(receiver.app()) as server:
        results = _attempts(Downstream("zaken", f"{server.url}/zaken"), [big, b"<a>small</a>", big])
    assert [o.result for o, _ in results] == [DELIVERED] * 3
    assert [r.body for r in receiver.received] == [big, b"<a>small</a>", big]


def test_an_unreachable_downstream_reads_as_before() -> None:
    """Why: operators (and the docs) know this stored reason; it is the text anyio's backend gave. The log has our
    words only (the exception's text may quote a downstream's bytes)."""
    started = time.monotonic()
    ((outcome, _),) = _attempts(Downstream("zaken", f"http://127.0.0.1:{free_port()}/zaken"), [b"<a/>"])
    assert outcome.result == RETRY and outcome.transport_failure and time.monotonic() - started < 10
    assert outcome.stored == "connection error: ConnectError: All connection attempts failed"
    assert outcome.summary == "connection error: ConnectError"


def test_a_downstream_that_comes_up_after_a_failed_connect_is_delivered_to_on_the_same_client() -> None:
    """Why: a worker keeps its client for its life; a connection that failed to open must be replaced by a new
    one at the next attempt, or the lane stays down after the downstream is back."""
    receiver = Receiver()
    port = free_port()
    server = ServerThread(receiver.app(), port=port)

    async def run() -> list[str]:
        lane = Lane(Downstream("zaken", f"http://127.0.0.1:{port}/zaken"))
        results = []
        try:
            for n in (1, 2):
                if n == 2:
                    server.start()
                item = Queued(n, "default", "zaken", "k", f"ref-{n}", payload=b"<a/>", content_type="text/xml")
                results.append((await Forwarder(None, None, {})._attempt(lane, lane.clients[0], item)).result)  # type: ignore[arg-type]
        finally:
            await lane.close()
        return results

    try:
        assert asyncio.run(run()) == [RETRY, DELIVERED]
    finally:
        server.stop()
    assert receiver.refs() == ["ref-2"]
