"""An id named more than once in one ``POST /admin/replay`` is replayed once (red-team review, session 24).

Why: a quarantined message was converted again for each copy of its id, so a list with one id 100,000 times (a
script that appended) held a conversion thread for as many conversions: 5 copies of a 24 MB GGk envelope took
5.3 s, 100,000 would take some 30 hours. Delivery ids named twice were harmless (the second is "already
pending") but answered twice.
"""

from __future__ import annotations

import httpx
from proxy_helpers import Receiver, ServerThread, Start
from test_proxy_refusal import table

from gateway.deliver import outbox


def test_an_id_named_many_times_is_converted_once_and_answered_once(start: Start) -> None:
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        gw_server, gw = start({"default": {"downstream": ds.url}}, {}, admin_key="geheim")
        conn = outbox.connect(gw.db_path)
        with outbox.transaction(conn):  # junk that will not convert however often it is tried
            qid = outbox.quarantine(conn, outbox.NewMessage("default", "translate", b"<geen/>", reason="junk"))
            other = outbox.quarantine(conn, outbox.NewMessage("default", "translate", b"<ook-niet/>", reason="junk"))
        conn.close()
        converted: list[object] = []
        assert gw.stage is not None  # the ledger's ordered step (the default) converts a quarantined message again
        real_map = gw.stage.map

        async def counting_map(*args: object) -> object:
            converted.append(args)
            return await real_map(*args)

        gw.stage.map = counting_map  # type: ignore[method-assign]
        answer = httpx.post(gw_server.url + "/admin/replay", json={"ids": [qid] * 500 + [other, qid],
                                                                   "quarantined": True},
                            headers={"X-Admin-Key": "geheim"}, timeout=120)
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        assert [(r["id"], r["ok"]) for r in results] == [(qid, False), (other, False)]
        assert all(r["note"].startswith("still does not convert: ") for r in results)
        assert len(converted) == 2
        assert [m["status"] for m in table(gw, "message")] == ["quarantined", "quarantined"]
