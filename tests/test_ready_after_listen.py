"""The sidecar says "gateway ready" only once it can take a connection and a message (gateway/proxy/listening.py).

uvicorn runs the app's start (the lifespan) before it binds its sockets, and the start used to log the ready line:
a deploy script, systemd unit or test that connected on reading it could find the port closed. Each test here acts
at the moment the line is there, not after a pause: in-process, a log handler connects from within the record's
emission, on the server's own loop, so under the old order the port is not bound yet and the connect is refused
every time; as a real ``overstap serve``, the test reads the process's log line by line and connects, posts and
sends SIGHUP the instant the line arrives.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from proxy_helpers import Receiver, ServerThread, free_port, sample, samples_dir

from gateway.cli.serve import uvicorn_config
from gateway.proxy.app import create_app
from gateway.proxy.config import ServeConfig, quick
from gateway.proxy.listening import SidecarServer
from gateway.proxy.service import Gateway

HANG_GUARD = 120.0
"""How long a step may take before the test gives up on it: a guard against a hang, not a speed check."""
READY = re.compile(r"gateway ready on (http://127\.0\.0\.1:\d+): 1 route\(s\), \d+ mapping\(s\), outbox \S+"
                   r"outbox\.sqlite3, mapping walk [^,]+, zkn writer .+")
"""The ready line under ``overstap serve``: where it listens, then all it said before (routes, mappings, outbox,
the mapping walk and the writer in use)."""


def _config(tmp_path: Path, downstream: str) -> ServeConfig:
    cfg = quick(downstream=downstream + "/zs", data_dir=tmp_path / "data", port=free_port())
    cfg.convert_processes = 0
    cfg.watch_mappings = False
    return cfg


def _post(body: bytes, port: int) -> bytes:
    return (f"POST /soap HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/xml\r\nContent-Length: {len(body)}"
            "\r\nConnection: close\r\n\r\n").encode() + body


def _answer(sock: socket.socket) -> tuple[int, bytes]:
    """The status and body of the HTTP answer on ``sock`` (the request asked the server to close after it)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


class ConnectOnReady(logging.Handler):
    """At the "gateway ready" record, in the thread that logs it (the server's loop, which accepts nothing
    meanwhile), connect to the sidecar's port and send it a SOAP message: only a bound socket takes either."""

    def __init__(self, port: int, body: bytes) -> None:
        super().__init__(logging.INFO)
        self.port, self.body = port, body
        self.records: list[logging.LogRecord] = []
        self.sock: socket.socket | None = None
        self.refused: OSError | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if not record.getMessage().startswith("gateway ready"):
            return
        self.records.append(record)
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=HANG_GUARD)
            sock.sendall(_post(self.body, self.port))
            self.sock = sock
        except OSError as exc:  # ECONNREFUSED: nothing listens yet
            self.refused = exc


def test_at_the_ready_record_the_port_takes_a_connection_and_the_message_is_acknowledged(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    samples_dir()
    caplog.set_level(logging.INFO, logger="overstap.gateway")
    rec = Receiver()
    with ServerThread(rec.app()) as downstream:
        cfg = _config(tmp_path, downstream.url)
        app = create_app(cfg, Gateway(cfg))
        server = SidecarServer(uvicorn_config(cfg, app), app.state.ready)
        seen = ConnectOnReady(cfg.port, sample())
        logging.getLogger("overstap.gateway").addHandler(seen)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + HANG_GUARD
            while not server.started and thread.is_alive() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert server.started, "the sidecar did not start"
            # answered on the loop after the start that says ready has run to its end: the record is there by now
            assert httpx.get(f"http://127.0.0.1:{cfg.port}/healthz", timeout=HANG_GUARD).status_code == 200
            assert seen.refused is None, f"the port was closed when the sidecar said ready: {seen.refused}"
            assert len(seen.records) == 1  # said once: by the server, not also by the lifespan
            assert seen.sock is not None
            status, body = _answer(seen.sock)
            seen.sock.close()
            assert status == 200 and b"Bv03Bericht" in body, body[:300]
            record = seen.records[0]
            assert record.listening == [f"http://127.0.0.1:{cfg.port}"]  # type: ignore[attr-defined]
            assert READY.fullmatch(record.getMessage()), record.getMessage()
        finally:
            logging.getLogger("overstap.gateway").removeHandler(seen)
            server.should_exit = True
            thread.join(HANG_GUARD)
    assert not thread.is_alive()


class StopOnBind(logging.Handler):
    """Asks the server to stop as uvicorn logs its bind, as a SIGTERM coming then would: after it, before "ready"."""

    def __init__(self, server: SidecarServer) -> None:
        super().__init__(logging.INFO)
        self.server = server

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Uvicorn running on"):
            self.server.should_exit = True


def test_a_stop_that_comes_before_the_ready_line_leaves_it_unsaid(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="overstap.gateway")
    caplog.set_level(logging.INFO, logger="uvicorn.error")
    cfg = _config(tmp_path, "http://127.0.0.1:9")
    app = create_app(cfg, Gateway(cfg))
    server = SidecarServer(uvicorn_config(cfg, app), app.state.ready)
    stop = StopOnBind(server)
    logging.getLogger("uvicorn.error").addHandler(stop)
    thread = threading.Thread(target=server.run, daemon=True)
    try:
        thread.start()
        thread.join(HANG_GUARD)
    finally:
        logging.getLogger("uvicorn.error").removeHandler(stop)
        server.should_exit = True
        thread.join(HANG_GUARD)
    said = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("Uvicorn running on") for m in said) and "gateway stopped" in said, said
    assert not [m for m in said if m.startswith("gateway ready")]


def test_the_ready_line_names_each_listening_socket_with_its_scheme() -> None:
    """IPv6 addresses in brackets, https under TLS: real sockets, bound by the kernel on port 0."""
    import asyncio

    from gateway.proxy.listening import addresses

    async def bound() -> tuple[list[str], list[str]]:
        servers = [await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)]
        with socket.socket(socket.AF_INET6) as probe:
            try:
                probe.bind(("::1", 0))
                servers.append(await asyncio.start_server(lambda r, w: None, "::1", 0))
            except OSError:
                pass  # no IPv6 on this host: the IPv4 socket alone
        try:
            return addresses(servers, False), addresses(servers, True)
        finally:
            for server in servers:
                server.close()

    plain, tls = asyncio.run(bound())
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", plain[0]) and tls[0] == "https" + plain[0][4:]
    if len(plain) > 1:
        assert re.fullmatch(r"http://\[::1\]:\d+", plain[1]) and tls[1] == "https" + plain[1][4:]
    assert len(plain) == len(tls) and all(tls[i].endswith(plain[i][4:]) for i in range(len(plain)))


def test_an_app_without_a_server_of_ours_says_ready_when_its_start_is_done(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Starlette's TestClient (and a plain uvicorn, as the tests' ServerThread) binds nothing the app could wait
    for: the lifespan says ready at the end of the start, with no address, and the app answers from then on."""
    from starlette.testclient import TestClient

    samples_dir()
    caplog.set_level(logging.INFO, logger="overstap.gateway")
    cfg = _config(tmp_path, "http://127.0.0.1:9")
    with TestClient(create_app(cfg, Gateway(cfg))) as client:
        said = [r for r in caplog.records if r.getMessage().startswith("gateway ready")]
        assert len(said) == 1 and said[0].listening == []  # type: ignore[attr-defined]
        assert said[0].getMessage().startswith("gateway ready: 1 route(s), ")
        answer = client.post("/soap", content=sample(), headers={"Content-Type": "text/xml"})
        assert answer.status_code == 200 and b"Bv03Bericht" in answer.content
    assert len([r for r in caplog.records if r.getMessage().startswith("gateway ready")]) == 1


def _serve(tmp_path: Path, port: int, downstream: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "from gateway.cli import main; main()", "serve", "--port", str(port),
                             "--data-dir", str(tmp_path / "data"), "--downstream", downstream + "/zs",
                             "--convert-processes", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)


def _lines(proc: subprocess.Popen[bytes]) -> queue.Queue[str | None]:
    """The process's log lines as they come (None once it closed its stderr), read by a thread of their own."""
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line.decode(errors="replace"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _until(lines: queue.Queue[str | None], text: str | tuple[str, ...], log: list[str]) -> str | None:
    """The first line holding ``text`` (or one of them; every line read on the way kept in ``log``); None if the
    log ended first."""
    texts = (text,) if isinstance(text, str) else text
    deadline = time.monotonic() + HANG_GUARD
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1.0)
        except queue.Empty:
            continue
        if line is None:
            return None
        log.append(line)
        if any(t in line for t in texts):
            return line
    return None


def test_overstap_serve_takes_a_message_and_a_sighup_the_instant_it_says_ready(tmp_path: Path) -> None:
    """What a deploy script does: wait for the line, then at once post (acknowledged, not ECONNREFUSED) and send
    SIGHUP (a reload, not the end of the process), then stop it."""
    samples_dir()
    rec = Receiver()
    with ServerThread(rec.app()) as downstream:
        port = free_port()
        proc = _serve(tmp_path, port, downstream.url)
        log: list[str] = []
        try:
            lines = _lines(proc)
            ready = _until(lines, "gateway ready", log)
            assert ready is not None, "".join(log)[-3000:]
            with socket.create_connection(("127.0.0.1", port), timeout=HANG_GUARD) as sock:
                sock.sendall(_post(sample(), port))
                status, body = _answer(sock)
            assert status == 200 and b"Bv03Bericht" in body, body[:300]
            proc.send_signal(signal.SIGHUP)
            taken = _until(lines, ("mappings reloaded (SIGHUP)", "SIGHUP during the start"), log)  # or kept
            assert taken is not None and "mappings reloaded (SIGHUP)" in taken, "".join(log)[-3000:]
            assert proc.poll() is None
            proc.send_signal(signal.SIGTERM)
            assert _until(lines, "gateway stopped", log) is not None, "".join(log)[-3000:]
            proc.wait(HANG_GUARD)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert READY.search(ready) and f"http://127.0.0.1:{port}" in ready, ready
    assert "Traceback" not in "".join(log)


def test_a_sidecar_that_cannot_listen_never_says_ready(tmp_path: Path) -> None:
    """The port is taken: uvicorn cannot bind and exits 3 after stopping the app. Before, the start had said "gateway
    ready" by then, and a supervisor reading the log took a sidecar that never listened for a running one."""
    samples_dir()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _serve(tmp_path, port, "http://127.0.0.1:9")
        try:
            _, err = proc.communicate(timeout=HANG_GUARD)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    text = err.decode(errors="replace")
    assert proc.returncode == 3, text[-3000:]
    assert "address already in use" in text and '"msg": "gateway stopped"' in text, text[-3000:]
    assert "gateway ready" not in text
