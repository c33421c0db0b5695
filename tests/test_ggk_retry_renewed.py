"""A retry of a GGk envelope whose delivery was renewed (or refused) while the attempt was on the wire.

Why: the sidecar sends a Di01, the chain takes it and is slow to answer; meanwhile the chain refuses it in a Fo01
(the delivery a dead letter) and an operator replays it (a new envelope: a new UUID, the delivery pending again).
Then the old attempt times out. Its retry bookkeeping (``outbox.mark_retry``) checked only that the delivery was
pending, so it landed on the new envelope: the old attempt's count and next attempt time, and its reason over the
replay's note; and the forwarder's copy of the old envelope went on to send the new envelope's bytes, whose Bv03
it could not write (another referentienummer), so the new envelope went to the chain a second time. Real parts: an
``overstap serve`` process on a ggk route and the strict chain stand-in on 127.0.0.1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ggk_chain_standin import BV, SLOW
from proxy_helpers import sample, soap11, variant, wait_for
from test_ggk_exchange_property import ADMIN, Sidecar, serving
from test_ggk_fo01 import ACTION, fo01

from gateway.deliver import outbox

TIMEOUT = 2.0  # the sidecar's downstream timeout: the window for the Fo01 and the replay while the attempt waits
RETRY_DELAY = 0.5  # the old envelope's retry comes this long after its timeout


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    retry = {"max_attempts": 8, "base_delay": RETRY_DELAY, "max_delay": RETRY_DELAY}
    with serving(tmp_path_factory.mktemp("ggk-retry-renewed"), TIMEOUT, retry=retry) as shared:
        yield shared


def refused_while_waiting(sidecar: Sidecar, number: int) -> tuple[str, int, float]:
    """Send a message whose envelope the chain takes and answers late; while the sidecar waits, the chain refuses
    it in a Fo01. (the old referentienummer, the delivery id, when the attempt went out)."""
    before = len(sidecar.chain.offers)
    sidecar.chain.plan.append(SLOW)
    answer = httpx.post(sidecar.url + "/soap", content=variant(sample(), number), timeout=30)
    assert answer.status_code == 200, answer.text
    assert wait_for(lambda: len(sidecar.chain.offers) > before, timeout=10), "the envelope never reached the chain"
    sent = time.monotonic()
    old = sidecar.chain.offers[-1].ref
    _ref, body = fo01(old)
    refused = httpx.post(sidecar.url + "/soap", content=soap11(body), timeout=30,
                         headers={"SOAPAction": ACTION, "Content-Type": "text/xml; charset=utf-8"})
    delivery_id = int(refused.headers["x-overstap-delivery"])  # the Fo01 made that delivery a dead letter
    sidecar.chain.refused_later[old] = "IB001"
    return old, delivery_id, sent


def test_a_retry_of_the_old_envelope_leaves_the_replayed_one_alone(sidecar: Sidecar) -> None:
    old, delivery_id, sent = refused_while_waiting(sidecar, 9101)
    replayed = httpx.post(sidecar.url + "/admin/replay", json={"ids": [delivery_id]}, headers=ADMIN, timeout=30)
    (result,) = replayed.json()["results"]
    assert result["ok"] and result["note"].startswith("queued again in a new envelope "), result
    assert time.monotonic() - sent < TIMEOUT, "the Fo01 and the replay came after the attempt's timeout: too slow"
    new = result["note"].split()[6]
    sidecar.settle()
    time.sleep(TIMEOUT)  # any second send of the new envelope (the old copy's retry) would come in this time
    offers = [o for o in sidecar.chain.offers if o.ref == new]
    assert [(o.answer, o.repeat) for o in offers] == [(BV, False)], "the new envelope went to the chain again"
    row = _row(sidecar.data, delivery_id)
    assert (row["status"], row["referentienummer"], row["attempts"], row["reply_code"]) == \
        (outbox.DELIVERED, new, 1, "Bv03"), dict(row)
    assert old != new and sidecar.chain.answer_for(new) == BV


def test_a_retry_of_an_envelope_refused_in_a_fo01_leaves_the_dead_letter(sidecar: Sidecar) -> None:
    _old, delivery_id, _sent = refused_while_waiting(sidecar, 9102)
    time.sleep(TIMEOUT + 2 * RETRY_DELAY)  # the attempt timed out, its retry found the delivery dead
    row = _row(sidecar.data, delivery_id)
    assert (row["status"], row["reply_code"]) == (outbox.DEAD, "Fo01 IB001"), dict(row)
    assert "IB001" in str(row["reason"]), row["reason"]


def _row(data: Path, delivery_id: int) -> dict[str, object]:
    conn = outbox.connect_read_only(data / outbox.DB_NAME)
    try:
        return dict(outbox.delivery(conn, delivery_id))
    finally:
        conn.close()
