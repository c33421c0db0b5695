"""A full quarantine is seen to have room again, and a body it keeps already is no new cost (session 24).

Why: /readyz showed the bound's in-memory figures without counting the store, so after an `outbox purge` (or the
console's) it said "full" until the next refused message made the sidecar count again; and past the cap the same
junk offered again was answered 503 "offer it again later", though it is kept already and counting it up in its
entry takes no room (the sender would offer it for ever). Real sidecars on 127.0.0.1 over a real SQLite outbox, the
real `overstap outbox purge` command, the console's real purge form.
"""

from __future__ import annotations

import re
import time

import httpx
from click.testing import CliRunner
from console_helpers import console_config, hidden_fields, login
from proxy_helpers import Start, metric, wait_for
from test_proxy_quarantine_bound import junk
from test_proxy_refusal import is_fo03, table

from gateway.cli import main
from gateway.proxy.quarantine_bound import FULL_RECOUNT_SECONDS

NOWHERE = {"default": {"downstream": "zs"}}, {"zs": "http://127.0.0.1:9/zs"}


def quarantine(url: str) -> dict[str, object]:
    ready = httpx.get(url + "/readyz", timeout=30)
    return dict(ready.json()["quarantine"])


def test_readyz_sees_an_outbox_purge_beside_the_sidecar_within_a_second_and_refusals_are_kept_again(
        start: Start) -> None:
    server, gw = start(*NOWHERE, require_downstream_ready=False, quarantine_max_messages=2, fault_status="http")
    assert [httpx.post(server.url + "/soap", content=junk(i)).status_code for i in range(3)] == [400, 400, 503]
    assert quarantine(server.url)["full"] is True
    purged = CliRunner().invoke(main, ["outbox", "purge", "--data-dir", str(gw.db_path.parent), "--older-than", "0s",
                                       "--quarantined"])
    assert purged.exit_code == 0 and "2 message(s)" in purged.output, purged.output
    began = time.monotonic()
    assert wait_for(lambda: quarantine(server.url)["full"] is False, timeout=FULL_RECOUNT_SECONDS + 3)
    # counted anew by /readyz itself, no refusal needed; +1 s was too little for the polls of a loaded host
    assert time.monotonic() - began < FULL_RECOUNT_SECONDS + 3
    assert quarantine(server.url) == {"messages": 0, "bytes": 0, "max_messages": 2, "max_bytes": 1024 ** 3,
                                      "full": False}
    again = httpx.post(server.url + "/soap", content=junk(2))  # the one refused as full, offered again: kept now
    assert again.status_code == 400 and again.headers["x-overstap-quarantine"]
    assert [m["original"] for m in table(gw, "message")] == [junk(2)]


def test_a_purge_from_the_console_is_seen_by_readyz_at_once(start: Start) -> None:
    """The console runs in the sidecar's process: its purge tells the bound, which counts the store at its next look
    (not only when its recount falls due)."""
    server, gw = start(*NOWHERE, require_downstream_ready=False, quarantine_max_messages=1, fault_status="http",
                       console=console_config())
    assert [httpx.post(server.url + "/soap", content=junk(i)).status_code for i in range(2)] == [400, 503]
    otto = login(server.url, "otto")
    preview = otto.get("/console/purge", params={"days": "0", "quarantined": "1"})
    assert preview.status_code == 200
    gw.quarantine.counted_at = time.monotonic() + 3600  # as if counted just now and the clock had not moved on
    done = otto.post("/console/purge", data=hidden_fields(preview.text))
    assert done.status_code == 200 and "1 message(s)" in done.text
    assert quarantine(server.url)["full"] is False and gw.quarantine.messages == 0


def test_past_the_cap_a_body_kept_already_is_answered_as_its_first_arrival_and_a_new_one_is_not_kept(
        start: Start) -> None:
    server, gw = start(*NOWHERE, require_downstream_ready=False, quarantine_max_messages=2, fault_status="http")
    first = [httpx.post(server.url + "/soap", content=junk(i)) for i in range(2)]
    assert [r.headers["x-overstap-quarantine"] for r in first] == ["1", "2"]
    new = httpx.post(server.url + "/soap", content=junk(2))
    assert new.status_code == 503 and is_fo03(new, "StUF046") and new.headers["retry-after"] == "60"
    again = httpx.post(server.url + "/soap", content=junk(0))  # full, but this one is kept already
    assert again.status_code == first[0].status_code == 400 and again.headers["x-overstap-quarantine"] == "1"
    code = re.search(rb"<StUF:code>(\w+)</StUF:code>", first[0].content)
    assert code and is_fo03(again, code.group(1).decode()) and code.group(1) != b"StUF046"
    kept = table(gw, "message")
    assert [(m["id"], m["times_received"]) for m in kept] == [(1, 2), (2, 1)]
    assert (gw.quarantine.messages, gw.quarantine.pending_messages) == (2, 0)
    assert metric(server.url, "overstap_rejected_total", route="default", reason="quarantine_full") == 1
    assert metric(server.url, "overstap_rejected_total", route="default", reason="malformed") == 3
