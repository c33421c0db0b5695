"""A retry of a GGk envelope whose delivery was renewed (or refused) while the attempt was on the wire.

Why: the sidecar sends a Di01, the chain takes it and is slow to answer; meanwhile the chain refuses it in a Fo01
(the delivery a dead letter) and an operator replays it (a new envelope: a new UUID, the delivery pending again).
Then the old attempt fails. Its retry bookkeeping (``outbox.mark_retry``) checked only that the delivery was
pending, so it landed on the new envelope: the old attempt's count and next attempt time, and its reason over the
replay's note; and the forwarder's copy of the old envelope went on to send the new envelope's bytes, whose Bv03
it could not write (another referentienummer), so the new envelope went to the chain a second time. Real parts: an
``overstap serve`` process on a ggk route and the strict chain stand-in on 127.0.0.1. The chain holds its answer
until the test lets go and then drops the connection: the attempt's own timeout (2 s) was the window for the Fo01
and the replay, a race the test thread lost on a loaded machine.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ggk_chain_standin import BV, HELD
from proxy_helpers import sample, soap11, variant, wait_for
from test_ggk_exchange_property import ADMIN, Sidecar, serving
from test_ggk_fo01 import ACTION, fo01

from gateway.deliver import outbox

TIMEOUT = 60.0  # the sidecar's downstream timeout: longer than any test holds an attempt
RETRY_DELAY = 0.5  # the old envelope's retry comes at most this long after its attempt failed


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    retry = {"max_attempts": 8, "base_delay": RETRY_DELAY, "max_delay": RETRY_DELAY}
    with serving(tmp_path_factory.mktemp("ggk-retry-renewed"), TIMEOUT, retry=retry) as shared:
        yield shared


def refused_while_waiting(sidecar: Sidecar, number: int) -> tuple[str, int]:
    """Send a message whose envelope the chain takes and holds its answer to; while the sidecar waits, the chain
    refuses it in a Fo01. (the old referentienummer, the delivery id)."""
    before = len(sidecar.chain.offers)
    sidecar.chain.let_go.clear()
    sidecar.chain.plan.append(HELD)
    answer = httpx.post(sidecar.url + "/soap", content=variant(sample(), number), timeout=30)
    assert answer.status_code == 200, answer.text
    assert wait_for(lambda: len(sidecar.chain.offers) > before, timeout=10), "the envelope never reached the chain"
    old = sidecar.chain.offers[-1].ref
    _ref, body = fo01(old)
    refused = httpx.post(sidecar.url + "/soap", content=soap11(body), timeout=30,
                         headers={"SOAPAction": ACTION, "Content-Type": "text/xml; charset=utf-8"})
    delivery_id = int(refused.headers["x-overstap-delivery"])  # the Fo01 made that delivery a dead letter
    sidecar.chain.refused_later[old] = "IB001"
    return old, delivery_id


def fail_the_attempt(sidecar: Sidecar, delivery_id: int) -> None:
    """The chain drops the held attempt's connection; wait until the sidecar logged it failed, then as long as its
    retry can take (a wrong second send, or a wrong write, would have happened by then)."""
    log = sidecar.tmp / "gateway.log"
    sidecar.chain.let_go.set()
    failed = re.compile(rf"delivery {delivery_id} \(default/new\) attempt \d+ failed")
    assert wait_for(lambda: failed.search(log.read_text()) is not None, timeout=30), "the attempt never failed"
    time.sleep(4 * RETRY_DELAY)


def test_a_retry_of_the_old_envelope_leaves_the_replayed_one_alone(sidecar: Sidecar) -> None:
    old, delivery_id = refused_while_waiting(sidecar, 9101)
    replayed = httpx.post(sidecar.url + "/admin/replay", json={"ids": [delivery_id]}, headers=ADMIN, timeout=30)
    (result,) = replayed.json()["results"]
    assert result["ok"] and result["note"].startswith("queued again in a new envelope "), result
    assert [o.answer for o in sidecar.chain.offers if o.ref == old] == [HELD]  # still on the wire: held by the chain
    new = result["note"].split()[6]
    fail_the_attempt(sidecar, delivery_id)
    sidecar.settle()
    offers = [o for o in sidecar.chain.offers if o.ref == new]
    assert [(o.answer, o.repeat) for o in offers] == [(BV, False)], "the new envelope went to the chain again"
    row = _row(sidecar.data, delivery_id)
    assert (row["status"], row["referentienummer"], row["attempts"], row["reply_code"]) == \
        (outbox.DELIVERED, new, 1, "Bv03"), dict(row)
    assert old != new and sidecar.chain.answer_for(new) == BV


def test_a_retry_of_an_envelope_refused_in_a_fo01_leaves_the_dead_letter(sidecar: Sidecar) -> None:
    _old, delivery_id = refused_while_waiting(sidecar, 9102)
    fail_the_attempt(sidecar, delivery_id)  # the attempt failed, its retry found the delivery dead
    row = _row(sidecar.data, delivery_id)
    assert (row["status"], row["reply_code"]) == (outbox.DEAD, "Fo01 IB001"), dict(row)
    assert "IB001" in str(row["reason"]), row["reason"]


def _row(data: Path, delivery_id: int) -> dict[str, object]:
    conn = outbox.connect_read_only(data / outbox.DB_NAME)
    try:
        return dict(outbox.delivery(conn, delivery_id))
    finally:
        conn.close()
