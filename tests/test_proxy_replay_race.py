"""Two operators replay the same quarantined message at once, through the ledger's ordered step (session 21).

Why: both read the message quarantined and both converted it. The first took it out of the quarantine and queued
its deliveries; the second was answered "converted; now message N with 0 delivery(ies) queued" as well, and its
store counted the message as received twice (``times_received`` 2, ``x2`` in ``overstap outbox list``), as if the
sender had sent it again. Nothing went out twice; the answer and the count were wrong. The race is made certain
here: the first replay's conversion waits until a second replay of the same id has finished.
"""

from __future__ import annotations

from typing import Any

import httpx
from proxy_helpers import Receiver, ServerThread, Start, sample, wait_for
from test_proxy_refusal import A02, table

from gateway.deliver import outbox


def test_the_second_of_two_replays_of_one_quarantined_message_says_it_is_no_longer_quarantined(
        start: Start) -> None:
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        gw_server, gw = start({"default": {"downstream": ds.url}}, {}, admin_key="geheim")
        assert gw.stage is not None and gw.db_path is not None  # the ledger's ordered step (the default)
        conn = outbox.connect(gw.db_path)
        with outbox.transaction(conn):  # as if the mapping was broken when it came in
            qid = outbox.quarantine(conn, outbox.NewMessage("default", "translate", sample(A02), reason="broken"))
        conn.close()
        stage, real_map = gw.stage, gw.stage.map
        inner: list[Any] = []

        async def racing_map(*args: Any) -> Any:
            mapped = await real_map(*args)
            if not inner:  # the first conversion: another operator's replay of the same id runs to its end now
                inner.append("started")
                inner.append(await type(stage).replay_quarantined(stage, gw, [qid]))
            return mapped

        stage.map = racing_map  # type: ignore[method-assign]
        answer = httpx.post(gw_server.url + "/admin/replay", json={"ids": [qid], "quarantined": True},
                            headers={"X-Admin-Key": "geheim"}, timeout=60)
        assert answer.status_code == 200, answer.text
        assert [(r.ok, r.note.split(";")[0]) for r in inner[1]] == [(True, "converted")]
        assert answer.json()["results"] == [{"id": qid, "ok": False, "note": "no longer quarantined"}]
        messages = table(gw, "message")
        assert [(m["status"], m["times_received"]) for m in messages] == [("accepted", 1)]
        assert wait_for(lambda: [r["status"] for r in table(gw, "delivery")] == ["delivered"])
        assert len(rec.refs()) == 1
