"""A StUF019 dead letter's renewal survives the process that owed it, and is paid once (session 27).

Why: the forwarder writes the dead letter of an envelope the chain answered Fo03 StUF019 and renews it in a new
envelope once that is committed (gateway/proxy/replaying.renew_stale). A process killed between the two left a dead
letter for the operator although the sidecar knew what to do with it. The debt is now written in the dead letter's
own transaction (``delivery.renewal_owed``, schema 0009) and paid by the write that queues the new envelope; the next
start pays what a killed process left, and an operator's replay pays it too (a renewal after that sends nothing).
Real parts: ``overstap serve`` processes (one SIGKILLed while its renewal is held by a test-only patch, as
tests/test_proxy_process.py does), an in-thread sidecar, the strict GGk chain stand-in on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from ggk_chain_standin import BV, DOWN, StrictChain
from proxy_helpers import ROOT, GatewayProcess, Start, free_port, sample, samples_dir, variant, wait_for

from gateway.deliver import outbox

ADMIN = {"X-Admin-Key": "geheim"}
RETRY = {"max_attempts": 2, "base_delay": 0.05, "max_delay": 0.1}
Row = Callable[[str], Mapping[str, Any]]
"""message id -> its delivery to the chain (id, status, referentienummer, reply_code, reason, renewal_owed)."""

HELD_RENEWAL = """
import asyncio
from gateway.proxy import service

async def held(gw, delivery_id):  # the process is killed here: after the dead letter's COMMIT, before its renewal
    print(f"renewal of delivery {delivery_id} held", flush=True)
    await asyncio.Event().wait()
    return False

service.renew_stale = held
from gateway.cli import main
main()
"""


def owed_stuf019(url: str, row: Row, chain: StrictChain, number: int) -> tuple[int, str, str]:
    """A dead letter the chain answered StUF019 while its zender had sent a later envelope: a Di01 the chain was down
    for (503, a dead letter after two attempts), a later Di01 of its zender delivered, then the first replayed as
    stored. (delivery id, message id, the old referentienummer); the renewal is the sidecar's from here."""
    chain.plan.extend([DOWN, BV])
    first = httpx.post(url + "/soap", content=variant(sample(), number), timeout=30)
    assert first.status_code == 200, first.text
    mid = first.headers["x-overstap-message"]
    assert wait_for(lambda: row(mid)["status"] == outbox.DEAD), dict(row(mid))
    later = httpx.post(url + "/soap", content=variant(sample(), number + 1).replace(b"123456782", b"111222333"),
                       timeout=30)  # another client: another key, a later envelope of the zender
    assert later.status_code == 200, later.text
    assert wait_for(lambda: row(later.headers["x-overstap-message"])["status"] == outbox.DELIVERED)
    chain.recover()
    delivery_id, old = int(row(mid)["id"]), str(row(mid)["referentienummer"])
    replayed = httpx.post(url + "/admin/replay", json={"ids": [delivery_id]}, headers=ADMIN, timeout=30)
    (result,) = replayed.json()["results"]
    assert result["ok"] and result["note"].startswith("queued again as stored"), result
    assert wait_for(lambda: row(mid)["reply_code"] == "Fo03 StUF019" or row(mid)["referentienummer"] != old)
    return delivery_id, mid, old


def sqlite_rows(data: Path) -> Row:
    def row(message_id: str) -> Mapping[str, Any]:
        conn = sqlite3.connect(f"file:{data / outbox.DB_NAME}?mode=ro", uri=True, timeout=10)
        conn.row_factory = sqlite3.Row
        try:
            found = conn.execute("SELECT * FROM delivery WHERE message_id = ? AND target = 'new'",
                                 (int(message_id),)).fetchone()
            return dict(found)
        finally:
            conn.close()
    return row


def _config(tmp_path: Path, chain: StrictChain) -> Path:
    config = tmp_path / "serve.yaml"
    config.write_text(json.dumps({
        "data_dir": str(tmp_path / "data"), "convert_processes": 0, "admin_key": "geheim", "poll_interval": 0.1,
        "downstreams": {"isd": {"url": chain.url, "timeout": 2.0, "retry": RETRY}},
        "routes": {"default": {"downstream": "isd", "profile": "ggk"}}}))
    return config


def _held_sidecar(config: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``overstap serve`` whose StUF019 renewals never happen (HELD_RENEWAL), healthy."""
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-c", HELD_RENEWAL, "serve", "--port", str(port), "--config",
                                 str(config), "--log-level", "info"], stdout=out, stderr=out, cwd=ROOT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)

    def healthy() -> bool:
        assert proc.poll() is None, log.read_text()[-2000:]
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    if not wait_for(healthy, timeout=90):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        pytest.fail(f"the sidecar did not come up: {log.read_text()[-2000:]}")
    return proc


@pytest.mark.slow
def test_a_sidecar_killed_before_its_renewal_renews_the_envelope_once_when_started_again(tmp_path: Path) -> None:
    """Killed (SIGKILL) after the StUF019 dead letter's COMMIT, its renewal held: the dead letter keeps the debt;
    started again on the same data folder, the sidecar renews it at start, and the new envelope is delivered once."""
    samples_dir()
    row = sqlite_rows(tmp_path / "data")
    log = tmp_path / "gateway.log"
    with StrictChain() as chain:
        config, port = _config(tmp_path, chain), free_port()
        proc = _held_sidecar(config, port, log)
        try:
            delivery_id, mid, old = owed_stuf019(f"http://127.0.0.1:{port}", row, chain, 9401)
            assert wait_for(lambda: f"renewal of delivery {delivery_id} held" in log.read_text()), log.read_text()
            dead = row(mid)
            assert (dead["status"], dead["referentienummer"], dead["reply_code"], dead["renewal_owed"]) == \
                (outbox.DEAD, old, "Fo03 StUF019", 1), dead
        finally:
            os.killpg(proc.pid, signal.SIGKILL)  # no shutdown, no flush
            proc.wait()
        gw = GatewayProcess(["--config", str(config), "--log-level", "info"], port, log).start()
        began = time.monotonic()
        try:
            assert wait_for(lambda: row(mid)["status"] == outbox.DELIVERED, timeout=30), dict(row(mid))
            print(f"\nrenewed envelope delivered {time.monotonic() - began:.2f} s after the restart was healthy")
            done = row(mid)
            text = log.read_text()
        finally:
            gw.terminate()
    assert done["referentienummer"] != old and (done["reply_code"], done["renewal_owed"]) == ("Bv03", 0), done
    assert "1 dead letter(s) owed a renewal after StUF019 taken up" in text
    assert f"queued again in a new envelope {done['referentienummer']} (was {old})" in text
    offers = [(o.ref, o.answer) for o in chain.offers if o.ref in (old, done["referentienummer"])]
    assert offers == [(old, DOWN), (old, DOWN), (old, "Fo03 StUF019"), (done["referentienummer"], BV)]
    conn = sqlite3.connect(f"file:{tmp_path / 'data' / outbox.DB_NAME}?mode=ro", uri=True)
    try:
        assert conn.execute("SELECT key, value FROM remembered WHERE kind = 'ggk-replaced'").fetchall() == \
            [(old, done["referentienummer"])]
    finally:
        conn.close()


def test_an_operators_replay_pays_the_renewal_and_a_late_renewal_sends_nothing(start: Start, tmp_path: Path) -> None:
    """The renewal held after the StUF019 dead letter's COMMIT; the operator replays it meanwhile (a new envelope,
    which the chain refuses StUF055 on its merits: a dead letter again). The renewal, let go, finds nothing owed:
    no third envelope, the operator's dead letter stays as the chain answered it."""
    with StrictChain() as chain:
        server, gw = start({"default": {"downstream": "isd", "profile": "ggk"}},
                           {"isd": {"url": chain.url, "timeout": 2.0, "retry": RETRY}}, admin_key="geheim")
        entered, release, said = threading.Event(), threading.Event(), []
        real = gw.forwarder.renew
        assert real is not None

        async def held(delivery_id: int) -> bool:
            entered.set()
            await asyncio.to_thread(release.wait, 30)
            said.append(await real(delivery_id))
            return said[-1]

        gw.forwarder.renew = held
        row = sqlite_rows(tmp_path / "data")
        delivery_id, mid, old = owed_stuf019(server.url, row, chain, 9501)
        assert entered.wait(20) and row(mid)["renewal_owed"] == 1
        chain.plan.append("Fo03 StUF055")
        replayed = httpx.post(server.url + "/admin/replay", json={"ids": [delivery_id]}, headers=ADMIN, timeout=30)
        (result,) = replayed.json()["results"]
        assert result["ok"] and "in a new envelope" in result["note"], result
        assert wait_for(lambda: row(mid)["reply_code"] == "Fo03 StUF055"), dict(row(mid))
        replaced = row(mid)["referentienummer"]
        release.set()
        assert wait_for(lambda: bool(said)) and said == [False]
        after = row(mid)
        assert (after["status"], after["referentienummer"], after["renewal_owed"]) == (outbox.DEAD, replaced, 0)
        assert wait_for(lambda: gw.forwarder.depth().get(("default", "new"), 0) == 0)
        mine = [(o.ref, o.answer) for o in chain.offers if o.identificatie == chain.offers[0].identificatie]
        assert mine == [(old, DOWN), (old, DOWN), (old, "Fo03 StUF019"), (replaced, "Fo03 StUF055")]


def test_a_renewal_this_sidecar_cannot_make_is_left_to_the_operator_once(start: Start, tmp_path: Path) -> None:
    """The debt a stopped sidecar left, met by one whose configuration no longer has the route: refused once (the
    log says why), the debt dropped, so the poll does not ask again every second; the dead letter is the
    operator's, as any refused replay's."""
    with StrictChain() as chain:
        downstreams = {"isd": {"url": chain.url, "timeout": 2.0, "retry": RETRY}}
        first, gw = start({"default": {"downstream": "isd", "profile": "ggk"}}, downstreams, admin_key="geheim")

        async def never(delivery_id: int) -> bool:  # as if killed right after the dead letter's COMMIT
            return False

        gw.forwarder.renew = never
        row = sqlite_rows(tmp_path / "data")
        _, mid, old = owed_stuf019(first.url, row, chain, 9801)
        assert wait_for(lambda: row(mid)["renewal_owed"] == 1)
        first.stop()
        _, other = start({"other": {"downstream": "isd", "profile": "ggk"}}, downstreams, admin_key="geheim")
        assert wait_for(lambda: row(mid)["renewal_owed"] == 0), dict(row(mid))
        left = row(mid)
        assert (left["status"], left["referentienummer"], left["reply_code"]) == (outbox.DEAD, old, "Fo03 StUF019")
        assert wait_for(lambda: other.forwarder._renewing == set())  # its task's end follows the row's COMMIT
        assert [o.answer for o in chain.offers if o.ref == old] == [DOWN, DOWN, "Fo03 StUF019"]
