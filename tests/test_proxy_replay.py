"""A large replay must not hold up acknowledgements nor a shutdown (issue 11, item 11).

Why: replay converts every message again, which is the slow part. Done inside the outbox writer
(or under its write lock) it delayed unrelated acknowledgements by seconds, and SIGTERM could not stop
the server. Here a replay of thousands of re-conversions runs while new messages are acknowledged; one
acknowledgement is answered while a conversion of the replay is held, so a replay converting inside the writer fails
every run (a bound in seconds did not tell: under CPU load an acknowledgement took 2.2 s beside a replay converting in
its own thread, as it should). A real ``overstap serve`` process is stopped with SIGTERM in the middle of a replay.
The replays name thousands of distinct quarantined messages, written straight into the outbox: an id named twice is
replayed once (session 24).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from proxy_helpers import (
    GatewayProcess,
    Receiver,
    ServerThread,
    Start,
    alive,
    descendants,
    free_port,
    sample,
    variant,
    wait_for,
)

from gateway.deliver import outbox

A02 = "CasusA-02-WMO301_toewijzing.xml"
QUARANTINED, REPEAT = 20, 100


def broken(n: int) -> bytes:
    """A message that parses and is recognised, then fails in the mapping (an impossible date): a full re-try."""
    return re.sub(rb"(<iwmo:Dagtekening>)[^<]*", rb"\g<1>2024-13-45", variant(sample(A02), n), count=1)


def quarantine_some(url: str, db_path: Path, more: int) -> list[int]:
    """``QUARANTINED`` broken messages refused by the sidecar, then ``more`` of them kept as it keeps them (one
    transaction, not thousands of requests): the ids of all."""
    ids = []
    for n in range(QUARANTINED):
        r = httpx.post(url + "/soap", content=broken(n), timeout=30)
        assert r.status_code == 500, r.text  # a SOAP 1.1 Fault (fault_status: soap, the default)
        ids.append(int(r.headers["x-overstap-quarantine"]))
    conn = outbox.connect(db_path)
    try:
        with outbox.transaction(conn):
            ids += [outbox.quarantine(conn, outbox.NewMessage("default", "translate", broken(n), reason="broken"))
                    for n in range(QUARANTINED, QUARANTINED + more)]
    finally:
        conn.close()
    assert len(set(ids)) == QUARANTINED + more
    return ids


def test_acknowledgements_flow_during_a_large_replay(start: Start, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        gw_server, gw = start({"default": {"downstream": ds.url}}, {}, admin_key="geheim")
        ids = quarantine_some(gw_server.url, gw.db_path, QUARANTINED * (REPEAT - 1))
        outcome: dict[str, object] = {}
        converting, go = threading.Event(), threading.Event()
        assert gw.stage is not None
        real_map = gw.stage.map

        async def held(pool: Any, route: str, match_route: str, body: bytes) -> Any:
            """The replay's first conversion (a broken message: acknowledgements are not) waits for the test."""
            if b"2024-13-45" in body and not converting.is_set():
                converting.set()
                deadline = time.monotonic() + 60
                while not go.is_set() and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
            return await real_map(pool, route, match_route, body)

        monkeypatch.setattr(gw.stage, "map", held)

        def replay() -> None:
            started = time.monotonic()
            r = httpx.post(gw_server.url + "/admin/replay", json={"ids": ids, "quarantined": True},
                           headers={"X-Admin-Key": "geheim"}, timeout=300)
            outcome["seconds"] = time.monotonic() - started
            outcome["results"] = r.json()["results"]

        worker = threading.Thread(target=replay)
        worker.start()
        try:
            assert converting.wait(30), "the replay never began converting"
            # A conversion of the replay is under way (held): an acknowledgement must not wait for it.
            ack = httpx.post(gw_server.url + "/soap", content=variant(sample(A02), 1000), timeout=30)
            assert ack.status_code == 200 and not go.is_set()
        finally:
            go.set()
        n = 1
        while worker.is_alive() and n < 200:
            n += 1
            assert httpx.post(gw_server.url + "/soap", content=variant(sample(A02), 1000 + n),
                              timeout=60).status_code == 200
        worker.join(300)
        results = outcome["results"]
        assert isinstance(results, list) and len(results) == QUARANTINED * REPEAT
        assert all(not r["ok"] and r["note"].startswith("still does not convert: ") for r in results)
        assert n >= 3, f"the replay took only {outcome['seconds']:.1f}s: too short to show anything"
        assert wait_for(lambda: len(rec.received) == n, timeout=60)


@pytest.mark.slow
def test_sigterm_stops_the_server_during_a_large_replay(tmp_path: Path) -> None:
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        config = tmp_path / "overstap.yaml"
        config.write_text(f"data_dir: data\nshutdown_grace: 2\nadmin_key: geheim\nconvert_processes: 1\n"
                          f"downstreams: {{zs: '{ds.url}'}}\nroutes:\n  default: {{downstream: zs}}\n")
        gw = GatewayProcess(["--config", str(config), "--log-level", "warning"], free_port(),
                            tmp_path / "gateway.log").start()
        children = descendants(gw.proc.pid) if gw.proc is not None else set()
        ids = quarantine_some(gw.url, tmp_path / "data" / "outbox.sqlite3", 4000)

        def replay() -> None:
            with contextlib.suppress(httpx.HTTPError):  # the server goes away mid-replay, as it should
                httpx.post(gw.url + "/admin/replay", json={"ids": ids, "quarantined": True},
                           headers={"X-Admin-Key": "geheim"}, timeout=300)

        worker = threading.Thread(target=replay, daemon=True)
        worker.start()
        assert not wait_for(lambda: not worker.is_alive(), timeout=1.0)  # under way (4,020 conversions)
        started = time.monotonic()
        gw.terminate(timeout=20)
        assert time.monotonic() - started < 2 + 8  # the shutdown grace, and a chunk to finish
        assert wait_for(lambda: not alive(children), timeout=10)
        worker.join(10)
