"""Test doubles that are real servers: downstream StUF receivers and the gateway, each under uvicorn on 127.0.0.1.

A :class:`Receiver` is a FastAPI app that answers Bv03, Fo03 (in a SOAP Fault) or HTTP 500 as the
test tells it, and records what it accepted. :class:`ServerThread` runs any ASGI app in a thread;
:class:`GatewayProcess` runs ``overstap serve`` as a separate process (to be killed for real).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response

from gateway.httpguard.protocol import guarded_protocol
from gateway.mapping import Registry
from gateway.proxy.app import create_app
from gateway.proxy.config_file import from_dict
from gateway.proxy.service import Gateway
from gateway.reference import ENV, available, reference_dir

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
STUF = "http://www.egem.nl/StUF/StUF0301"
_REF = re.compile(rb"<(?:\w+:)?referentienummer>([^<]+)</(?:\w+:)?referentienummer>")
_IDENT = re.compile(rb"(<iwmo:Identificatie>)([^<]*)(</iwmo:Identificatie>)")
_VOLUME = re.compile(rb"(<\w+:Volume>)([^<]*)(</\w+:Volume>)")
_BESCHIKKING = re.compile(rb"(<\w+:Beschikking[Nn]ummer>)([^<]*)(</\w+:Beschikking[Nn]ummer>)")

BV03 = (f'<soap:Envelope xmlns:soap="{SOAP11}"><soap:Body><StUF:Bv03Bericht xmlns:StUF="{STUF}"><StUF:stuurgegevens>'
        "<StUF:berichtcode>Bv03</StUF:berichtcode><StUF:zender><StUF:applicatie>ZAAKSYSTEEM</StUF:applicatie>"
        "</StUF:zender><StUF:ontvanger><StUF:applicatie>OVERSTAP</StUF:applicatie></StUF:ontvanger>"
        "<StUF:referentienummer>ZS1</StUF:referentienummer><StUF:tijdstipBericht>20240101120000</StUF:tijdstipBericht>"
        "<StUF:crossRefnummer>{ref}</StUF:crossRefnummer></StUF:stuurgegevens></StUF:Bv03Bericht>"
        "</soap:Body></soap:Envelope>")
FO03 = (f'<soap:Envelope xmlns:soap="{SOAP11}"><soap:Body><soap:Fault><faultcode>soap:Client</faultcode>'
        "<faultstring>{omschrijving}</faultstring><detail>"
        f'<StUF:Fo03Bericht xmlns:StUF="{STUF}"><StUF:stuurgegevens><StUF:berichtcode>Fo03</StUF:berichtcode>'
        "<StUF:zender><StUF:applicatie>ZAAKSYSTEEM</StUF:applicatie></StUF:zender><StUF:ontvanger>"
        "<StUF:applicatie>OVERSTAP</StUF:applicatie></StUF:ontvanger><StUF:referentienummer>ZS2"
        "</StUF:referentienummer><StUF:tijdstipBericht>20240101120000</StUF:tijdstipBericht>"
        "<StUF:crossRefnummer>{ref}</StUF:crossRefnummer></StUF:stuurgegevens><StUF:body><StUF:code>{code}"
        "</StUF:code><StUF:plek>client</StUF:plek><StUF:omschrijving>{omschrijving}</StUF:omschrijving>"
        "</StUF:body></StUF:Fo03Bericht></detail></soap:Fault></soap:Body></soap:Envelope>")


def free_port() -> int:
    """A port that was free a moment ago: only for a process that must be restarted on the same port.

    In-process servers bind port 0 instead (:class:`ServerThread`), which has no race.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def samples_dir() -> Path:
    """The public iWmo 2.0 samples of the reference folder; skip (saying why) when it is not there."""
    folder = reference_dir() / "samples" / "iwmo20-xml"
    if not available() or not folder.is_dir():
        pytest.skip(f"reference samples not found at {folder} (set {ENV} to the shared reference folder)")
    return folder


def sample(name: str = "CasusA-02-WMO301_toewijzing.xml") -> bytes:
    return (samples_dir() / name).read_bytes()


def variant(message: bytes, n: int, zaak: int | None = None) -> bytes:
    """A distinct message from a sample: its Berichtidentificatie/Identificatie made unique (max 12 chars),
    and its Volume set to ``1 + n % 99``, so that with the zaak ledger (profile zkn v2) a later variant of the
    same zaak is a change (an updateZaak), not "no change".

    With ``zaak`` the Beschikkingnummer changes too, so the message belongs to another zaak (order key).
    """
    out = _IDENT.sub(lambda m: m.group(1) + f"t{n:011d}".encode() + m.group(3), message, count=1)
    out = _VOLUME.sub(lambda m: m.group(1) + str(1 + n % 99).encode() + m.group(3), out)
    if zaak is not None:
        out = _BESCHIKKING.sub(lambda m: m.group(1) + f"{700000000 + zaak}".encode() + m.group(3), out)
    return out


def soap11(message: bytes, namespace: str = SOAP11) -> bytes:
    body = message.split(b"?>", 1)[1] if message.startswith(b"<?xml") else message
    return (f'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{namespace}"><soap:Body>'.encode()
            + body.strip() + b"</soap:Body></soap:Envelope>")


def soap12(message: bytes) -> bytes:
    return soap11(message, SOAP12)


def metric(base_url: str, name: str, **labels: str) -> float:
    """The sum of the gateway's /metrics samples of that name with these labels (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(base_url + "/metrics", timeout=10).text
    return sum(float(s.value) for family in text_string_to_metric_families(text) for s in family.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


@dataclass
class Received:
    path: str
    referentienummer: str
    soap_action: str | None
    content_type: str | None
    body: bytes


@dataclass
class Receiver:
    """A downstream that answers as told: ``bv``, ``fo`` or ``500``; per referentienummer if need be."""

    behaviour: str = "bv"
    fo_code: str = "StUF055"
    fo_omschrijving: str = "zaaktype onbekend"
    fo_refs: set[str] = field(default_factory=set)
    fo_when: bytes | None = None
    """Answer Fo03 to any message whose body contains these bytes."""
    fail_refs: set[str] = field(default_factory=set)
    """Answer HTTP 500 (no Fo) to these referentienummers: a transient failure."""
    fail_when: bytes | None = None
    """Answer HTTP 500 (no Fo) to any message whose body contains these bytes (e.g. one zaak's identificatie)."""
    delay: float = 0.0
    delay_calls: int | None = None
    """Delay only the first this many calls (None: every call), so a retry is answered at once however late the
    test thread runs; flipping ``delay`` from the test raced the retry on a loaded machine."""
    hold: threading.Event | None = None
    """While set: accept each request and do not answer until the test calls :meth:`release` (then 503)."""
    held: int = 0
    received: list[Received] = field(default_factory=list)
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def release(self) -> None:
        """Let held requests end (with a 503: they were never accepted) and answer new ones normally."""
        if self.hold is not None:
            self.hold.clear()

    def refs(self) -> list[str]:
        with self.lock:
            return [r.referentienummer for r in self.received]

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/{path:path}")
        async def take(path: str, request: Request) -> Response:
            import asyncio

            body = await request.body()
            ref = request.headers.get("x-overstap-referentienummer")
            if ref is None:
                found = _REF.search(body)
                ref = found.group(1).decode() if found else "?"
            with self.lock:
                self.calls += 1
                slow = self.delay_calls is None or self.calls <= self.delay_calls
            if self.hold is not None and self.hold.is_set():
                with self.lock:
                    self.held += 1
                while self.hold.is_set():
                    await asyncio.sleep(0.02)
                return Response(b"<error>held, never accepted</error>", status_code=503, media_type="text/xml")
            if self.delay and slow:
                await asyncio.sleep(self.delay)
            if self.behaviour == "500" or ref in self.fail_refs or (self.fail_when and self.fail_when in body):
                return Response(b"<error>down for maintenance</error>", status_code=500, media_type="text/xml")
            if self.behaviour == "fo" or ref in self.fo_refs or (self.fo_when and self.fo_when in body):
                fo = FO03.format(ref=ref, code=self.fo_code, omschrijving=self.fo_omschrijving)
                return Response(fo.encode(), status_code=500, media_type="text/xml")
            with self.lock:
                self.received.append(Received(path, ref, request.headers.get("soapaction"),
                                              request.headers.get("content-type"), body))
            return Response(BV03.format(ref=ref).encode(), media_type="text/xml")

        return app


class ServerThread:
    """Any ASGI app under a real uvicorn on 127.0.0.1, in a background thread (port 0: the kernel picks one)."""

    def __init__(self, app: object, port: int | None = None, **options: object) -> None:
        self.port = port or 0
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on", **options))  # type: ignore[arg-type]
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        if not self.port:
            self.port = int(self.server.servers[0].sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


FAST_RETRY = {"base_delay": 0.05, "max_delay": 0.4, "max_attempts": 200, "jitter": 0.5}
Start = Callable[..., tuple[ServerThread, Gateway]]


@contextmanager
def gateways(tmp_path: Path, registry: Registry) -> Iterator[Start]:
    """Start gateways (uvicorn in a thread, with the sidecar's own HTTP limits) from config parts; stop them all."""
    running: list[ServerThread] = []

    def run(routes: dict[str, Any], downstreams: dict[str, Any], *, reg: Registry | None = None,
            **top: Any) -> tuple[ServerThread, Gateway]:
        doc = {"data_dir": str(tmp_path / "data"), "poll_interval": 0.1, "watch_mappings": False,
               "convert_processes": 0, "retry": FAST_RETRY, "downstreams": downstreams, "routes": routes, **top}
        cfg = from_dict(doc, tmp_path)
        gw = Gateway(cfg, reg or registry)
        app = create_app(cfg, gw)
        server = ServerThread(app, http=guarded_protocol(cfg.http_limits(), app.state.slow_body,
                                                     app.state.unknown_coding)).start()
        running.append(server)
        return server, gw

    try:
        yield run
    finally:
        for server in running:
            server.stop()


def wait_for(condition: Callable[[], bool], timeout: float = 20.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (Linux /proc; empty elsewhere)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` that still run (zombies count as gone)."""
    out = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            out.add(pid)
    return out


def overstap_command() -> list[str]:
    return [sys.executable, "-c", "from gateway.cli import main; main()"]


class GatewayProcess:
    """``overstap serve`` in its own process, so a test can SIGKILL it mid-flight and start it again."""

    def __init__(self, args: list[str], port: int, log: Path) -> None:
        self.args = args
        self.port = port
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180.0) -> GatewayProcess:
        """Start and wait for /healthz (bounded: the start compiles every mapping, twice with a worker, and
        the machine may be busy); a gateway that does not come up is killed, never left behind. A hang guard, not a
        speed check: 90 s failed at load 12 (session 32: 67 s before the CLI's first line, then two workers)."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([*overstap_command(), "serve", "--port", str(self.port), *self.args],
                                         stdout=out, stderr=out, env=env, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"gateway did not become healthy within {timeout:g}s: {self.log.read_text()[-2000:]}")

    def kill(self) -> set[int]:
        """SIGKILL the gateway alone (as the OOM killer would); returns the processes it had started."""
        children: set[int] = set()
        if self.proc is not None and self.proc.poll() is None:
            children = descendants(self.proc.pid)
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        return children

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:  # fail, but leave no process behind
                self.kill()
                raise
        return self.proc.returncode
