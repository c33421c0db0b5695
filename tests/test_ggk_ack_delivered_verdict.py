"""On a route with ``ack: delivered`` the sender hears the chain's verdict only once the outbox holds it.

Why: the forwarder answered a waiting sender as soon as the chain's answer came in, before the delivered/dead
status was committed: another connection reading the outbox on the sender's answer (an operator's ``outbox
list``, the console, the sender's own check) found the delivery still pending, and a crash in that window left the
sender told Bv03 or Fo03 of a delivery the sidecar then sends again. The same rule as an ``ack: durable`` Bv03 only
after COMMIT (tests/test_fault_soak.py, ``soak-answers-before-commit``). The GGk exchange property with concurrent
senders (tests/test_ggk_exchange_concurrent.py) found it: a sender's Fo03 for an envelope the chain never answered
read beside a delivery still pending.
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
from ggk_chain_standin import BV, DOWN, StrictChain
from proxy_helpers import sample, variant, wait_for
from test_ggk_exchange_property import serving

from gateway.deliver import outbox

ROUTES = {"default": {"downstream": "isd", "profile": "ggk", "ack": "delivered", "ack_timeout": 30}}


def test_the_sender_hears_the_chain_verdict_once_the_outbox_holds_it(tmp_path: Path) -> None:
    """Eight messages the chain refuses at once (Fo03 StUF055), each offered again the moment its sender heard the
    Fo03: the outbox held the dead letter when the Fo03 was answered, and the delivered re-offer in its new
    envelope when the Bv03 was (read at once, from another connection)."""
    with serving(tmp_path, routes=ROUTES) as sidecar:
        chain: StrictChain = sidecar.chain
        for n in range(8):
            body = variant(sample(), 900 + n)
            chain.plan.extend(["Fo03 StUF055", BV])
            first = httpx.post(sidecar.url + "/soap", content=body, timeout=60)
            held = sidecar.rows()[first.headers["x-overstap-message"]]
            again = httpx.post(sidecar.url + "/soap", content=body, timeout=60)
            row = sidecar.rows()[first.headers["x-overstap-message"]]
            assert first.status_code == 500 and b"<StUF:code>StUF055</StUF:code>" in first.content, first.text
            assert (held["status"], held["reply_code"]) == (outbox.DEAD, "Fo03 StUF055"), dict(held)
            assert again.status_code == 200 and b"Bv03Bericht" in again.content, again.text
            assert again.headers.get("x-overstap-duplicate") == "true"
            mine = [o for o in chain.offers if o.identificatie == f"t{900 + n:011d}"]
            assert [o.answer for o in mine] == ["Fo03 StUF055", BV], mine
            assert (row["status"], row["referentienummer"]) == (outbox.DELIVERED, mine[1].ref), dict(row)
        assert not chain.plan


def test_an_envelope_overtaken_and_renewed_is_answered_by_its_new_envelope(tmp_path: Path) -> None:
    """Message A on the ``ack: delivered`` route meets a chain that answers HTTP 503 (not stored); meanwhile message B
    of the same zender, stamped later, is taken. When the chain is back A's envelope is older than B's: StUF019, and
    the sidecar renews it at once (docs/ggk-profile.md 5.2), which the chain takes. A's sender hears that Bv03, not
    the StUF019 of an envelope the sidecar already replaced (before session 26: a Fo03 StUF019 for a message then
    delivered)."""
    routes = {**ROUTES, "durable": {"downstream": "isd", "profile": "ggk"}}
    retry = {"max_attempts": 200, "base_delay": 0.05, "max_delay": 0.1}
    with serving(tmp_path, routes=routes, retry=retry) as sidecar:
        chain: StrictChain = sidecar.chain
        chain.plan.append(DOWN)
        answers: list[httpx.Response] = []
        sender = threading.Thread(target=lambda: answers.append(httpx.post(
            sidecar.url + "/soap", content=variant(sample(), 950), timeout=60)))
        sender.start()
        assert wait_for(lambda: len(chain.offers) >= 1)
        later = httpx.post(sidecar.url + "/soap/durable", content=variant(sample(), 951), timeout=60)
        assert later.status_code == 200
        assert wait_for(lambda: any(o.identificatie == "t00000000951" and o.answer == BV for o in chain.offers))
        chain.recover()
        sender.join(60)
        (answer,) = answers

        def mine() -> list[str]:
            return [o.answer for o in chain.offers if o.identificatie == "t00000000950" and o.answer != DOWN]

        assert wait_for(lambda: len(mine()) == 2), mine()
        sidecar.settle()
        row = sidecar.rows()[answer.headers["x-overstap-message"]]
        assert mine() == ["Fo03 StUF019", BV], mine()
        assert answer.status_code == 200 and b"Bv03Bericht" in answer.content, answer.text
        assert row["status"] == outbox.DELIVERED, dict(row)
