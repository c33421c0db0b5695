"""A StUF019 the chain answers to a fresh envelope is a dead letter, sent once: the renewal after StUF019 is for an
envelope older than its zender's later ones only.

Why: the forwarder puts a dead letter the chain answered Fo03 StUF019 in a new envelope at once when the zender
sent later envelopes since (``restamp.stale``, ``replaying.renew_stale``: a replay as stored of an envelope the chain
never answered). A fresh envelope carries the counter's latest tijdstipBericht; when the chain still finds it not
later (another system sent under that zender, a clock ahead), a new envelope would get StUF019 again, and again:
the rule must not loop. Real parts: an ``overstap serve`` process on a ggk route and the strict chain stand-in.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from proxy_helpers import sample, variant
from test_ggk_exchange_property import Sidecar, serving

from gateway.deliver import outbox


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    with serving(tmp_path_factory.mktemp("ggk-stale-tijdstip")) as shared:
        yield shared


def test_a_fresh_envelope_the_chain_finds_too_early_is_a_dead_letter_sent_once(sidecar: Sidecar) -> None:
    for number in (9201, 9202):  # the first delivered: its zender as the chain keys it
        if number == 9202:
            sidecar.chain._last[sidecar.chain.offers[0].zender] = "99991231235959999"  # it saw a later one since
        answer = httpx.post(sidecar.url + "/soap", content=variant(sample(), number), timeout=30)
        assert answer.status_code == 200, answer.text
        sidecar.settle()
    time.sleep(1.0)  # a renewal comes just after the dead letter is written: give a wrong one the time to show
    sidecar.settle()
    first, second = sorted(sidecar.rows().values(), key=lambda r: int(r["id"]))
    assert (first["status"], second["status"], second["reply_code"], second["attempts"]) == \
        (outbox.DELIVERED, outbox.DEAD, "Fo03 StUF019", 1), dict(second)
    assert [(o.ref, o.answer) for o in sidecar.chain.offers] == [(first["referentienummer"], "Bv03"),
                                                                 (second["referentienummer"], "Fo03 StUF019")]
