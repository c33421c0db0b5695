"""A quarantined retour replayed keeps the one-retour-per-heenbericht rule, on PostgreSQL and through the CLI too.

Why: a 302 whose 301 the ledger does not know yet is quarantined (StUF055, no Di01 to point at); once the 301 is
there an operator replays it. Session 26 applied the rule (a second 302 to one 301 refused StUF016 on every route of
the zaak ledger) where the sidecar accepts a message, and in the sidecar's own replay; ``overstap outbox replay
--quarantined`` and ``outbox reconvert`` store what they convert through ``replay.accept_converted``, which checked
the retour on its own route only. So a 302 quarantined while another 302 to the same 301 was taken on another route
went to the chain on replay: two Du01s to one Di01 (GGk spec 2.2, CC11). Real PostgreSQL, two replicas, the strict
chain stand-in.
"""

from __future__ import annotations

from typing import Any

import httpx
import pg_helpers
import pytest
from click.testing import CliRunner
from ggk_chain_standin import BV, StrictChain
from pg_helpers import database_for
from proxy_helpers import Start, wait_for
from test_ggk_exchange_property import Message
from test_ggk_retour_routes import _CODE, ROUTES, _di01, _downstreams, _heen, _retour

from gateway.cli import main
from gateway.deliver import outbox
from gateway.pgstore.conn import PgConnection

server = pg_helpers.server
ADMIN = {"X-Admin-Key": "geheim"}


def _quarantined(url: str, route: str, identificatie: str, retour_id: str) -> int:
    """A 302 to a 301 the ledger does not know yet: refused StUF055 and kept in quarantine; its message id."""
    early = _retour(url, route, Message(b"", identificatie, "", BV), retour_id)
    assert early.status_code == 500 and _CODE.findall(early.content) == [b"StUF055"], early.text
    return int(early.headers["x-overstap-quarantine"])


def _du01s(chain: StrictChain, prefix: str) -> list[tuple[str, str, str]]:
    return [(o.retour, o.cross, o.answer) for o in chain.offers if o.berichtcode == "Du01" and o.retour[:5] == prefix]


def test_a_quarantined_retour_replayed_on_postgresql_is_one_retour(start: Start, server: str,
                                                                  request: pytest.FixtureRequest) -> None:
    """Replayed through the other replica once its 301 came: delivered once; a second 302 to that 301 refused
    StUF016 after it, on the other retour route and through either replica."""
    database = database_for(server, request, "ggk_retour_replay")
    with StrictChain() as chain:
        one, _ = start(ROUTES, _downstreams(chain), store=database, admin_key="geheim")
        two, _ = start(ROUTES, _downstreams(chain), store=database, admin_key="geheim")
        qid = _quarantined(one.url, "retour", "t00000007501", "r7501a")
        heen = _heen(one.url, chain, 7501)
        replayed = httpx.post(two.url + "/admin/replay", json={"ids": [qid], "quarantined": True}, headers=ADMIN,
                              timeout=60)
        assert replayed.status_code == 200 and '"ok":true' in replayed.text.replace(" ", ""), replayed.text
        assert wait_for(lambda: _du01s(chain, "r7501") == [("r7501a", _di01(chain, heen), BV)]), _du01s(chain, "r75")
        for url, route in ((one.url, "retour-b"), (two.url, "retour")):
            second = _retour(url, route, heen, "r7501b")
            assert second.status_code == 500 and _CODE.findall(second.content) == [b"StUF016"], second.text
        again = _retour(one.url, "retour-b", heen, "r7501a")  # the replayed 302 re-sent: answered as a duplicate
        assert again.status_code == 200 and again.headers.get("x-overstap-duplicate") == "true", again.text
        assert _du01s(chain, "r7501") == [("r7501a", _di01(chain, heen), BV)]


def _cli_replay(qid: int, *where: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["outbox", "replay", "--quarantined", str(qid), "--profile", "ggk", *where])
    return result.exit_code, result.output


def _taken_meanwhile(url: str, chain: StrictChain, n: int) -> tuple[int, Message]:
    """A 302 quarantined before its 301, then its 301, then another 302 to that 301 taken on the other route."""
    qid = _quarantined(url, "retour", f"t{n:011d}", f"r{n}a")
    heen = _heen(url, chain, n)
    taken = _retour(url, "retour-b", heen, f"r{n}b")
    assert taken.status_code == 200 and b"Bv03Bericht" in taken.content, taken.text
    assert wait_for(lambda: any(o.retour == f"r{n}b" for o in chain.offers))
    return qid, heen


def _nothing_queued(conn: Any, qid: int) -> None:
    """The replayed 302 still quarantined and no Du01 waiting to go (the other 302's was delivered): nothing more
    will reach the chain, told by the store rather than by waiting for what does not come."""
    assert conn.execute("SELECT status FROM message WHERE id = ?", (qid,)).fetchone()[0] == outbox.QUARANTINED
    def counts() -> list[tuple[Any, ...]]:
        return [tuple(r) for r in conn.execute("SELECT status, count(*) FROM delivery GROUP BY status")]

    assert wait_for(lambda: counts() == [(outbox.DELIVERED, 2)]), counts()  # the Di01 and the other 302's Du01


def test_a_quarantined_retour_whose_301_got_another_meanwhile_stays_quarantined_on_postgresql(
        start: Start, server: str, request: pytest.FixtureRequest) -> None:
    """``overstap outbox replay --quarantined`` beside the replicas (it takes its turn in the store's write lock)."""
    database = database_for(server, request, "ggk_retour_replay")
    with StrictChain() as chain:
        one, _ = start(ROUTES, _downstreams(chain), store=database)
        start(ROUTES, _downstreams(chain), store=database)
        qid, heen = _taken_meanwhile(one.url, chain, 7502)
        code, said = _cli_replay(qid, "--store", database)
        assert code == 1 and said.startswith(f"FAIL Q{qid}: still refused: referentienummer t00000007502"), said
        _nothing_queued(PgConnection(database), qid)
        assert _du01s(chain, "r7502") == [("r7502b", _di01(chain, heen), BV)]


def test_a_quarantined_retour_whose_301_got_another_meanwhile_stays_quarantined_on_sqlite(
        start: Start, tmp_path: Any) -> None:
    """The same with ``--data-dir`` once the sidecar is gone (beside it the CLI is refused: POST /admin/replay)."""
    with StrictChain() as chain:
        sidecar, _ = start(ROUTES, _downstreams(chain))
        qid, heen = _taken_meanwhile(sidecar.url, chain, 7503)
        sidecar.stop()
        code, said = _cli_replay(qid, "--data-dir", str(tmp_path / "data"))
        assert code == 1 and said.startswith(f"FAIL Q{qid}: still refused: referentienummer t00000007503"), said
        _nothing_queued(outbox.connect(tmp_path / "data" / outbox.DB_NAME), qid)
        assert _du01s(chain, "r7503") == [("r7503b", _di01(chain, heen), BV)]
