"""A second retour to one 301 is refused on every route of the zaak ledger, not only on the route of the first.

Why: a 302 echoes its 301's Afzender, Identificatie and Dagtekening, so its identity in the outbox is its
heenbericht's, and the duplicate check was per route. The GGk exchange property's author found that a second 302
to one 301 (another IdentificatieRetour) on another retour route sharing the ledger was accepted: the chain got
two Du01s answering one Di01. GGk spec 2.2 has one Du01 "als bijbehorend retourbericht" of a Di01, and the
ISD-keten takes one retour per heenbericht (foutcodes CC11); routes sharing a ledger are one sidecar's view of one
chain (docs/ggk-profile.md 2.1). Still accepted: the same 302 re-sent on the other route (a duplicate, answered
from what it became) and a retour to a changed 301 (a new Identificatie, so a new Di01).
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pg_helpers
import pytest
from ggk_chain_standin import BV, StrictChain
from pg_helpers import database_for
from proxy_helpers import Start, sample, variant, wait_for
from test_ggk_exchange_concurrent import retour_body
from test_ggk_exchange_property import ZENDERS, Message

server = pg_helpers.server
ROUTES = {"default": {"downstream": "isd", "profile": "ggk"},
          "retour": {"downstream": "isd", "profile": "ggk"},
          "retour-b": {"downstream": "isd", "profile": "ggk"}}
_CODE = re.compile(rb"<StUF:code>([^<]+)</StUF:code>")


def _heen(url: str, chain: StrictChain, n: int) -> Message:
    """A 301 the chain took (Bv03), as the retour helper wants it."""
    answer = httpx.post(url + "/soap", content=variant(sample(), n), timeout=30)
    assert answer.status_code == 200, answer.text
    identificatie = f"t{n:011d}"
    assert wait_for(lambda: any(o.identificatie == identificatie and o.answer == BV for o in chain.offers))
    return Message(b"", identificatie, answer.headers["x-overstap-message"], BV)


def _di01(chain: StrictChain, heen: Message) -> str:
    return next(o.ref for o in chain.offers if o.berichtcode == "Di01" and o.identificatie == heen.identificatie)


def _retour(url: str, route: str, heen: Message, retour_id: str) -> httpx.Response:
    return httpx.post(f"{url}/soap/{route}", content=retour_body(heen, ZENDERS[0], 0, retour_id), timeout=30)


def exchange(url: str, chain: StrictChain) -> None:
    """The 301, its 302 on route ``retour``, a second 302 to it and the first again on ``retour-b``, a changed 301
    and its 302 on ``retour-b``: what the senders heard and the Du01s the chain got."""
    first = _heen(url, chain, 7101)
    taken = _retour(url, "retour", first, "r7101a")
    assert taken.status_code == 200 and b"Bv03Bericht" in taken.content, taken.text
    assert wait_for(lambda: any(o.retour == "r7101a" for o in chain.offers))

    second = _retour(url, "retour-b", first, "r7101b")
    assert second.status_code == 500 and _CODE.findall(second.content) == [b"StUF016"], second.text
    assert "x-overstap-message" not in second.headers

    again = _retour(url, "retour-b", first, "r7101a")
    assert again.status_code == 200 and again.headers.get("x-overstap-duplicate") == "true", again.text
    assert again.headers["x-overstap-message"] == taken.headers["x-overstap-message"]

    changed = _heen(url, chain, 7102)  # a changed toewijzing: a new 301, a new Identificatie, a new Di01
    later = _retour(url, "retour-b", changed, "r7102a")
    assert later.status_code == 200 and "x-overstap-duplicate" not in later.headers, later.text
    assert wait_for(lambda: any(o.retour == "r7102a" for o in chain.offers))

    du01s = [(o.retour, o.cross, o.answer) for o in chain.offers if o.berichtcode == "Du01" and o.retour[:3] == "r71"]
    assert du01s == [("r7101a", _di01(chain, first), BV), ("r7102a", _di01(chain, changed), BV)], du01s


def _downstreams(chain: StrictChain) -> dict[str, Any]:
    return {"isd": {"url": chain.url, "timeout": 5.0, "retry": {"max_attempts": 3, "base_delay": 0.05,
                                                                "max_delay": 0.1}}}


def test_a_second_retour_on_another_route_is_refused_on_sqlite(start: Start) -> None:
    with StrictChain() as chain:
        sidecar, _ = start(ROUTES, _downstreams(chain))
        exchange(sidecar.url, chain)


def test_a_second_retour_on_another_replicas_route_is_refused_on_postgresql(
        start: Start, server: str, request: pytest.FixtureRequest) -> None:
    """Two replicas on one PostgreSQL store: the first 302 through one, every later post through the other."""
    database = database_for(server, request, "ggk_retour")
    with StrictChain() as chain:
        one, _ = start(ROUTES, _downstreams(chain), store=database)
        two, _ = start(ROUTES, _downstreams(chain), store=database)
        first = _heen(one.url, chain, 7201)
        assert _retour(one.url, "retour", first, "r7201a").status_code == 200
        second = _retour(two.url, "retour-b", first, "r7201b")
        assert second.status_code == 500 and _CODE.findall(second.content) == [b"StUF016"], second.text
        assert wait_for(lambda: any(o.retour == "r7201a" for o in chain.offers))
        exchange(two.url, chain)
        assert [o.retour for o in chain.offers if o.berichtcode == "Du01" and o.retour.startswith("r72")] == \
            ["r7201a"]
