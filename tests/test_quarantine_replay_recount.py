"""A replay of quarantined messages shows in the quarantine bound's figures at once (/readyz, the console).

Failed before (session 24 review): a console purge made the bound count the store again at its next look, but a
replay (``POST /admin/replay {"quarantined": true}`` or the console's button) did not, so /readyz and the console's
health page showed the messages it had taken out of the quarantine for up to 30 s (``RECOUNT_SECONDS``; 1 s while
full), and a full quarantine refused new messages meanwhile. A real sidecar on 127.0.0.1 over a real SQLite outbox.
"""

from __future__ import annotations

import httpx
import pytest
from proxy_helpers import Receiver, ServerThread, Start, sample, variant, wait_for

from gateway.deliver import outbox


@pytest.mark.parametrize("ledger", ["outbox", "none"])  # the ledger's ordered step, or a conversion in a thread
def test_a_replay_out_of_the_quarantine_shows_in_readyz_at_once(start: Start, ledger: str) -> None:
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        server, gw = start({"default": {"downstream": ds.url}}, {}, admin_key="geheim", quarantine_max_messages=10,
                           ledger=ledger)
        conn = outbox.connect(gw.db_path)
        with outbox.transaction(conn):  # two messages that convert now (kept while a mapping refused them)
            ids = [outbox.quarantine(conn, outbox.NewMessage("default", "translate", variant(sample(), n),
                                                             reason="refused then")) for n in (1, 2)]
        conn.close()

        def bound() -> dict[str, object]:
            return httpx.get(server.url + "/readyz", timeout=30).json()["quarantine"]

        assert bound()["messages"] == 2  # the first look counts the store
        answer = httpx.post(server.url + "/admin/replay", json={"ids": ids[:1], "quarantined": True},
                            headers={"X-Admin-Key": "geheim"}, timeout=60)
        assert [r["ok"] for r in answer.json()["results"]] == [True], answer.text
        assert bound()["messages"] == 1  # at once, not within RECOUNT_SECONDS
        assert wait_for(lambda: len(rec.received) >= 1)  # a toewijzing may give a creeerZaak and a status: two
        answer = httpx.post(server.url + "/admin/replay", json={"ids": ids[1:], "quarantined": True},
                            headers={"X-Admin-Key": "geheim"}, timeout=60)
        assert [r["ok"] for r in answer.json()["results"]] == [True], answer.text
        assert bound()["messages"] == 0
