"""Sidecar throughput and acknowledgement latency, each beside a bare FastAPI floor measured in the same run.

    .venv/bin/python benchmarks/proxy_bench.py [--messages 3000] [--concurrency 32]

Three processes on 127.0.0.1, all uvicorn with uvloop and httptools: the gateway (``overstap serve``,
outbox with synchronous=FULL in a temporary folder), a downstream that answers Bv03, and a bare
FastAPI echo endpoint. One asyncio httpx client sends distinct iWmo 2.0 WMO301 messages at a fixed
concurrency and reports:

* accepted messages/s and p50/p99 acknowledgement latency: gateway vs the echo endpoint (the floor
  of HTTP + FastAPI + this client on this machine);
* delivered messages/s: from the first send until the downstream holds every message, vs the same
  client posting the canonical messages straight to the downstream (the floor of delivery).

Not a test: absolute numbers depend on the machine (and on what else runs on it); the ratios less so.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response

ROOT = Path(__file__).resolve().parents[1]
_IDENT = re.compile(rb"(<iwmo:Identificatie>)([^<]*)(</iwmo:Identificatie>)")
_BESCHIKKING = re.compile(rb"(<\w+:Beschikkingnummer>)([^<]*)(</\w+:Beschikkingnummer>)")
BV03 = (b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b'<StUF:Bv03Bericht xmlns:StUF="http://www.egem.nl/StUF/StUF0301"><StUF:stuurgegevens>'
        b"<StUF:berichtcode>Bv03</StUF:berichtcode><StUF:zender><StUF:applicatie>ZS1</StUF:applicatie></StUF:zender>"
        b"<StUF:ontvanger><StUF:applicatie>OVS</StUF:applicatie></StUF:ontvanger><StUF:referentienummer>1"
        b"</StUF:referentienummer><StUF:tijdstipBericht>20240101000000</StUF:tijdstipBericht><StUF:crossRefnummer>1"
        b"</StUF:crossRefnummer></StUF:stuurgegevens></StUF:Bv03Bericht></soap:Body></soap:Envelope>")


def serve_helper(kind: str, port: int) -> None:
    """Run the echo endpoint or the Bv03 downstream (in a child process)."""
    app = FastAPI()
    count = {"n": 0}

    if kind == "echo":
        @app.post("/soap")
        async def echo(request: Request) -> Response:
            return Response(await request.body(), media_type="text/xml")
    else:
        @app.post("/zs")
        async def receive(request: Request) -> Response:
            await request.body()
            count["n"] += 1
            return Response(BV03, media_type="text/xml")

        @app.get("/count")
        async def counted() -> dict[str, int]:
            return count

    uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", log_level="warning",
                access_log=False)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def messages(count: int) -> list[bytes]:
    from gateway.reference import reference_dir

    folder = reference_dir() / "samples" / "iwmo20-xml"
    bases = [(folder / name).read_bytes() for name in ("CasusA-02-WMO301_toewijzing.xml",
                                                        "CasusB-01-WMO301_toewijzing.xml",
                                                        "CasusC-02-WMO301_herindicatie.xml")]
    out = []
    for n in range(count):
        body = _IDENT.sub(lambda m, n=n: m.group(1) + f"b{n:011d}".encode() + m.group(3), bases[n % 3], count=1)
        out.append(_BESCHIKKING.sub(lambda m, n=n: m.group(1) + f"{600000000 + n % 500}".encode() + m.group(3), body))
    return out


async def blast(url: str, bodies: list[bytes], concurrency: int,
                headers: dict[str, str] | None = None) -> tuple[float, list[float], int]:
    """Send every body once with ``concurrency`` in flight; (seconds, latencies, non-2xx count).

    Each sender has its own one-connection client: httpcore's shared pool polls every idle
    connection on each request, which would make the client, not the server, the bottleneck.
    """
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [httpx.AsyncClient(timeout=60.0, limits=one) for _ in range(concurrency)]

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal failures
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            response = await client.post(url, content=body, headers=headers or {"Content-Type": "text/xml"})
            latencies.append(time.perf_counter() - started)
            if not 200 <= response.status_code < 300:
                failures += 1

    try:
        start = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in clients))
        return time.perf_counter() - start, latencies, failures
    finally:
        for client in clients:
            await client.aclose()


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(CPU seconds of a process, CPU seconds of its child processes) from /proc; zeros elsewhere."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def of(p: int) -> tuple[float, int]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0, -1
        return (int(fields[11]) + int(fields[12])) / tick, int(fields[1])

    own = of(pid)[0]
    children = 0.0
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if entry.name.isdigit():
            used, parent = of(int(entry.name))
            if parent == pid:
                children += used
    return own, children


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=out, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--convert-processes", type=int, default=None,
                        help="Passed to overstap serve (default: its own choice, cores - 1).")
    parser.add_argument("--serve", choices=["echo", "downstream"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_helper(args.serve, args.port)
        return

    bodies = messages(args.messages)
    work = Path(tempfile.mkdtemp(prefix="overstap-bench-"))
    echo_port, ds_port, gw_port = free_port(), free_port(), free_port()
    me = [sys.executable, str(Path(__file__).resolve())]
    procs = [spawn([*me, "--serve", "echo", "--port", str(echo_port)], work / "echo.log"),
             spawn([*me, "--serve", "downstream", "--port", str(ds_port)], work / "downstream.log")]
    extra = [] if args.convert_processes is None else ["--convert-processes", str(args.convert_processes)]
    procs.append(spawn([sys.executable, "-c", "from gateway.cli import main; main()", "serve", "--data-dir",
                        str(work / "data"), "--port", str(gw_port), "--downstream",
                        f"http://127.0.0.1:{ds_port}/zs", "--log-level", "warning", *extra], work / "gateway.log"))
    echo_url, ds_url, gw_url = (f"http://127.0.0.1:{p}" for p in (echo_port, ds_port, gw_port))
    try:
        for url in (echo_url + "/docs", ds_url + "/count", gw_url + "/healthz"):
            wait_up(url)
        warm = messages(200)
        asyncio.run(blast(echo_url + "/soap", warm, args.concurrency))
        asyncio.run(blast(gw_url + "/soap", [w.replace(b"<iwmo:Identificatie>b", b"<iwmo:Identificatie>w")
                                             for w in warm], args.concurrency))
        time.sleep(1.0)
        base_count = httpx.get(ds_url + "/count").json()["n"]
        gateway_pid = procs[2].pid

        echo_s, echo_lat, echo_fail = asyncio.run(blast(echo_url + "/soap", bodies, args.concurrency))
        cpu_before = cpu_seconds(gateway_pid)
        start = time.perf_counter()
        gw_s, gw_lat, gw_fail = asyncio.run(blast(gw_url + "/soap", bodies, args.concurrency))
        target = base_count + len(bodies)
        while httpx.get(ds_url + "/count").json()["n"] < target:
            if time.perf_counter() - start > 300:
                raise RuntimeError(f"not everything was delivered; see {work}/gateway.log and the outbox there")
            time.sleep(0.01)
        delivered_s = time.perf_counter() - start
        cpu_after = cpu_seconds(gateway_pid)

        from gateway.deliver.plan import canonical_delivery
        from gateway.pipeline import Converter

        converter = Converter()
        canonical = [canonical_delivery(converter.convert(b).outputs[0]).payload for b in bodies]
        direct_s, _lat, direct_fail = asyncio.run(blast(
            ds_url + "/zs", canonical, args.concurrency,
            {"Content-Type": "text/xml; charset=utf-8",
             "SOAPAction": '"http://www.egem.nl/StUF/sector/zkn/0310/zakLk01"'}))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)

    n = len(bodies)
    processes = "auto" if args.convert_processes is None else args.convert_processes
    print(f"{n} distinct WMO301 messages, concurrency {args.concurrency}, {os.cpu_count()} CPU(s); "
          f"gateway outbox synchronous=FULL, conversion processes: {processes}")
    print(f"{'':34}{'msg/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'vs floor':>10}")
    print(f"{'floor: FastAPI echo':34}{n / echo_s:9.0f}{pct(echo_lat, 50):9.1f}{pct(echo_lat, 99):9.1f}{'':>10}")
    print(f"{'gateway: accepted (Bv03 after fsync)':34}{n / gw_s:9.0f}{pct(gw_lat, 50):9.1f}{pct(gw_lat, 99):9.1f}"
          f"{(n / gw_s) / (n / echo_s):9.0%}")
    print(f"{'floor: POST straight to downstream':34}{n / direct_s:9.0f}{'':>18}{'':>10}")
    print(f"{'gateway: delivered end to end':34}{n / delivered_s:9.0f}{'':>18}"
          f"{(n / delivered_s) / (n / direct_s):9.0%}")
    print(f"mean ack {statistics.mean(gw_lat) * 1000:.1f} ms; non-2xx: echo {echo_fail}, "
          f"gateway {gw_fail}, direct {direct_fail}")
    main_ms = (cpu_after[0] - cpu_before[0]) / n * 1000
    workers_ms = (cpu_after[1] - cpu_before[1]) / n * 1000
    print(f"gateway CPU per message: {main_ms:.2f} ms server process (HTTP in, outbox, delivery), "
          f"{workers_ms:.2f} ms conversion workers")


if __name__ == "__main__":
    main()
