"""``overstap serve --downstream-concurrency`` and ``--downstream-order``: how many deliveries the flag form keeps
in flight, and whether a retried one may be overtaken.

A zaaksysteem that refuses a tijdstipBericht not after the zender's last (StUF019; the testbed does) needs the
messages in the order they were made: one delivery at a time across zaken, and no later message sent while an
earlier one waits for its retry (``order: created``); ``make run`` asks for it. A real gateway process, a real
downstream on 127.0.0.1.
"""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from fastapi import FastAPI, Request, Response
from proxy_helpers import BV03, GatewayProcess, ServerThread, free_port, sample, samples_dir, variant, wait_for

from gateway.cli import main
from gateway.proxy.config import ConfigError
from gateway.proxy.config_file import load

pytestmark = pytest.mark.slow
_REF = re.compile(rb"<StUF:referentienummer>([^<]+)</StUF:referentienummer>")
_TIJDSTIP = re.compile(rb"<StUF:tijdstipBericht>([^<]+)</StUF:tijdstipBericht>")


class Counting:
    """A downstream that answers Bv03 after a pause and keeps the most requests it held at once, and the
    tijdstipBericht of each message in the order it got them. With ``overlap``, the first request is held until a
    second one is in (at most 20 s): whether deliveries overlap is then the gateway's doing, not the scheduler's (a
    loaded machine committed the six messages further apart than the 0.15 s pause, and saw one at a time)."""

    def __init__(self, overlap: bool = False) -> None:
        self.lock = threading.Lock()
        self.now = self.most = 0
        self.tijdstippen: list[bytes] = []
        self.overlap = overlap

    def app(self) -> FastAPI:
        import asyncio

        app = FastAPI()

        @app.post("/zs")
        async def take(request: Request) -> Response:
            body = await request.body()
            with self.lock:
                self.now += 1
                self.most = max(self.most, self.now)
                self.tijdstippen.append(_TIJDSTIP.search(body).group(1))  # type: ignore[union-attr]
                first = len(self.tijdstippen) == 1
            await asyncio.sleep(0.15)
            if self.overlap and first:  # wait for a second request to come in beside it
                deadline = time.monotonic() + 20
                while self.most < 2 and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
            with self.lock:
                self.now -= 1
            ref = _REF.search(body).group(1).decode()  # type: ignore[union-attr]
            return Response(BV03.format(ref=ref).encode(), media_type="text/xml")

        return app


def _deliver(tmp_path: Path, extra: list[str], overlap: bool = False) -> Counting:
    """Six toewijzingen of six zaken, posted at once; returns the downstream once it holds all six."""
    samples_dir()
    tmp_path.mkdir(parents=True, exist_ok=True)
    messages = [variant(sample("CasusB-01-WMO301_toewijzing.xml"), n, zaak=n) for n in range(6)]
    counting = Counting(overlap)
    with ServerThread(counting.app()) as ds:
        gw = GatewayProcess(["--data-dir", str(tmp_path / "data"), "--downstream", ds.url + "/zs", *extra,
                             "--log-level", "warning"], free_port(), tmp_path / "gateway.log").start()
        try:
            with ThreadPoolExecutor(6) as pool:
                answers = list(pool.map(lambda m: httpx.post(gw.url + "/soap", content=m, timeout=30), messages))
            assert [a.status_code for a in answers] == [200] * 6
            assert wait_for(lambda: len(counting.tijdstippen) == 6, timeout=60)
            time.sleep(0.3)
        finally:
            gw.terminate()
    return counting


def test_one_delivery_at_a_time_sends_them_in_the_order_they_were_made(tmp_path: Path) -> None:
    one = _deliver(tmp_path / "one", ["--downstream-concurrency", "1"])
    assert one.most == 1
    assert one.tijdstippen == sorted(one.tijdstippen) and len(set(one.tijdstippen)) == 6
    several = _deliver(tmp_path / "several", [], overlap=True)  # the default, 8: the same six overlap
    assert several.most > 1


def test_the_flag_goes_with_downstream_not_with_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "serve.yaml"
    config.write_text("downstreams: {zs: {url: 'http://127.0.0.1:9/zs'}}\nroutes: {default: {downstream: zs}}\n")
    result = CliRunner().invoke(main, ["serve", "--config", str(config), "--downstream-concurrency", "1"])
    assert result.exit_code != 0
    assert "--downstream-concurrency goes with --downstream" in result.output


class FailingFirst:
    """A downstream that answers 503 to the first message it sees until the test opens it, Bv03 to everything else,
    and keeps the tijdstipBericht of each message it accepted, in the order it accepted them. Opened by the test, not
    after a fixed time: a loaded machine posted the second message after a 2 s hold had ended, and the first's retry
    was accepted before the second although the gateway let the second overtake."""

    def __init__(self) -> None:
        self.first = b""
        self.seen = self.refused = 0
        self.opened = threading.Event()
        self.accepted: list[bytes] = []

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/zs")
        async def take(request: Request) -> Response:
            body = await request.body()
            ref = _REF.search(body).group(1)  # type: ignore[union-attr]
            self.seen += 1
            if not self.first:
                self.first = ref
            if ref == self.first and not self.opened.is_set():
                self.refused += 1
                return Response(b"busy", status_code=503)
            self.accepted.append(_TIJDSTIP.search(body).group(1))  # type: ignore[union-attr]
            return Response(BV03.format(ref=ref.decode()).encode(), media_type="text/xml")

        return app


def _retried(tmp_path: Path, extra: list[str], overtakes: bool) -> FailingFirst:
    """A toewijzing refused until the test opens the downstream, then one of another zaak; returns the downstream
    once it took both. ``overtakes``: the second is expected before the first, so the downstream opens once it took
    the second; else once the first was refused again after the second was stored (a retry the second waited for)."""
    samples_dir()
    tmp_path.mkdir(parents=True, exist_ok=True)
    first, second = (variant(sample("CasusB-01-WMO301_toewijzing.xml"), n, zaak=n) for n in (1, 2))
    downstream = FailingFirst()
    with ServerThread(downstream.app()) as ds:
        gw = GatewayProcess(["--data-dir", str(tmp_path / "data"), "--downstream", ds.url + "/zs", *extra,
                             "--log-level", "warning"], free_port(), tmp_path / "gateway.log").start()
        try:
            assert httpx.post(gw.url + "/soap", content=first, timeout=30).status_code == 200
            assert wait_for(lambda: downstream.seen >= 1, timeout=30)  # refused once: waiting for its retry
            assert httpx.post(gw.url + "/soap", content=second, timeout=30).status_code == 200
            refused = downstream.refused
            if overtakes:
                assert wait_for(lambda: len(downstream.accepted) == 1, timeout=30), "the second never overtook"
            else:
                assert wait_for(lambda: downstream.refused > refused, timeout=30), "the first was not retried"
            downstream.opened.set()
            assert wait_for(lambda: len(downstream.accepted) == 2, timeout=60)
        finally:
            gw.terminate()
    return downstream


def test_created_order_holds_a_later_message_back_while_an_earlier_one_waits_for_its_retry(tmp_path: Path) -> None:
    ordered = _retried(tmp_path / "created", ["--downstream-order", "created"], overtakes=False)
    assert len(ordered.accepted) == 2 and ordered.accepted == sorted(ordered.accepted)
    per_zaak = _retried(tmp_path / "zaak", [], overtakes=True)  # the default: the other zaak's message overtakes
    assert per_zaak.accepted == sorted(per_zaak.accepted, reverse=True) and per_zaak.accepted[0] != per_zaak.accepted[1]


def test_the_order_flag_goes_with_downstream_and_a_config_file_is_checked(tmp_path: Path) -> None:
    config = tmp_path / "serve.yaml"
    config.write_text("downstreams: {zs: {url: 'http://127.0.0.1:9/zs'}}\nroutes: {default: {downstream: zs}}\n")
    result = CliRunner().invoke(main, ["serve", "--config", str(config), "--downstream-order", "created"])
    assert result.exit_code != 0 and "--downstream-order goes with --downstream" in result.output
    config.write_text(f"data_dir: {tmp_path / 'data'}\n"
                      "downstreams: {zs: {url: 'http://127.0.0.1:9/zs', order: arrival}}\n"
                      "routes: {default: {downstream: zs}}\n")
    with pytest.raises(ConfigError, match=r"downstreams\.zs\.order: 'arrival' is not one of zaak, created"):
        load(config)  # the check serve runs at start; a server is not started here, so a miss cannot hang
