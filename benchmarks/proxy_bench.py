"""Sidecar throughput and acknowledgement latency, each beside a bare FastAPI floor measured in the same run.

    .venv/bin/python benchmarks/proxy_bench.py [--messages 3000] [--concurrency 32]
    .venv/bin/python benchmarks/proxy_bench.py --rate 200 [--seconds 60]      # open loop
    .venv/bin/python benchmarks/proxy_bench.py --store postgresql://user@host/postgres   # SQLite vs PG replicas

Three processes on 127.0.0.1, all on uvloop and httptools: the gateway (``overstap serve``,
outbox with synchronous=FULL in a temporary folder), a downstream that answers Bv03, and a bare
FastAPI echo endpoint (the downstream is a plain asyncio protocol on httptools, ``--stub fastapi`` for the
FastAPI one of earlier runs). One asyncio client (plain HTTP/1.1 keep-alive connections; ``--client httpx`` for
the httpx client of earlier runs, which costs the shared cores several times more) sends distinct iWmo 2.0
WMO301 messages at a fixed concurrency and reports:

* accepted messages/s and p50/p99 acknowledgement latency: gateway vs the echo endpoint (the floor
  of HTTP + FastAPI + this client on this machine);
* delivered messages/s: from the first send until the downstream holds every message, vs the same
  client posting the canonical messages straight to the downstream (the floor of delivery).
* CPU per message of the gateway's server process and of its conversion workers, and beside them that of
  the harness (this client, the downstream, the echo endpoint): all share the machine's cores, so a reader
  sees where they went.

With ``--rate R`` the client runs open loop instead: it sends R messages per second on a fixed schedule
whether or not earlier ones were answered (as senders in a chain do), for ``--seconds``, and reports the
acknowledgement p50/p99 (measured from each message's scheduled moment, so a stalled server cannot hide
its queue) beside the echo endpoint at the same rate, and the delivery backlog (acknowledged minus
delivered downstream) sampled every second: it must stay flat, not grow with the run.

With ``--store URL`` (a PostgreSQL server where the user may create databases) the same messages go through
three set-ups in one run, each on a fresh store: one sidecar on SQLite (the embedded default), one replica on
PostgreSQL, and three replicas on one PostgreSQL database with the senders spread over them; it reports
acknowledged and delivered msg/s of each (issue 16).

The first two modes end with the targets of issue 13 beside the measurements (MET / NOT MET).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_http import HttpxClient, RawClient, commit_line, commits, serve_bv03  # sibling modules, not a package
from targets import PROXY_ACCEPTED, PROXY_P99_MS, header, target_line

ROOT = Path(__file__).resolve().parents[1]
_IDENT = re.compile(rb"(<iwmo:Identificatie>)([^<]*)(</iwmo:Identificatie>)")
_BESCHIKKING = re.compile(rb"(<\w+:Beschikkingnummer>)([^<]*)(</\w+:Beschikkingnummer>)")
BV03 = (b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b'<StUF:Bv03Bericht xmlns:StUF="http://www.egem.nl/StUF/StUF0301"><StUF:stuurgegevens>'
        b"<StUF:berichtcode>Bv03</StUF:berichtcode><StUF:zender><StUF:applicatie>ZS1</StUF:applicatie></StUF:zender>"
        b"<StUF:ontvanger><StUF:applicatie>OVS</StUF:applicatie></StUF:ontvanger><StUF:referentienummer>1"
        b"</StUF:referentienummer><StUF:tijdstipBericht>20240101000000</StUF:tijdstipBericht><StUF:crossRefnummer>1"
        b"</StUF:crossRefnummer></StUF:stuurgegevens></StUF:Bv03Bericht></soap:Body></soap:Envelope>")


def serve_helper(kind: str, port: int, stub: str = "raw") -> None:
    """Run the echo endpoint or the Bv03 downstream (in a child process): ``stub`` raw is the lean one."""
    if kind == "downstream" and stub == "raw":
        serve_bv03(port, BV03)
        return
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


def messages(count: int, first: int = 0) -> list[bytes]:
    """``count`` distinct WMO301 messages, each about its own zaak (beschikkingnummer ``600000000 + first + n``).

    Every message must lead to a delivery, or "delivered" never reaches the count sent: on profile zkn v2 a
    message that repeats a zaak's state (the same beschikking and content under a new identificatie) is
    "no change" and sends nothing. ``first`` keeps the warm-up's zaken apart from the measured ones.
    """
    from gateway.reference import reference_dir

    folder = reference_dir() / "samples" / "iwmo20-xml"
    bases = [(folder / name).read_bytes() for name in ("CasusA-02-WMO301_toewijzing.xml",
                                                        "CasusB-01-WMO301_toewijzing.xml",
                                                        "CasusC-02-WMO301_herindicatie.xml")]
    out = []
    for n in range(count):
        body = _IDENT.sub(lambda m, n=n: m.group(1) + f"b{n:011d}".encode() + m.group(3), bases[n % 3], count=1)
        out.append(_BESCHIKKING.sub(lambda m, n=n: m.group(1) + f"{600000000 + first + n}".encode() + m.group(3),
                                    body))
    return out


CLIENTS: dict[str, type[RawClient] | type[HttpxClient]] = {"raw": RawClient, "httpx": HttpxClient}
Client = CLIENTS["raw"]
"""The sender every run uses; ``--client`` chooses."""


async def blast(url: str | list[str], bodies: list[bytes], concurrency: int,
                headers: dict[str, str] | None = None) -> tuple[float, list[float], int]:
    """Send every body once with ``concurrency`` in flight; (seconds, latencies, non-2xx count).

    Each sender has its own connection (httpcore's shared pool polls every idle connection on each
    request, which would make the client, not the server, the bottleneck). With several URLs (replicas)
    the senders are spread over them.
    """
    urls = [url] if isinstance(url, str) else url
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    clients = [Client() for _ in range(concurrency)]

    async def worker(client: RawClient | HttpxClient, url: str) -> None:
        nonlocal failures
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            status = await client.post(url, body, headers or {"Content-Type": "text/xml"})
            latencies.append(time.perf_counter() - started)
            if not 200 <= status < 300:
                failures += 1

    try:
        start = time.perf_counter()
        await asyncio.gather(*(worker(c, urls[i % len(urls)]) for i, c in enumerate(clients)))
        return time.perf_counter() - start, latencies, failures
    finally:
        for client in clients:
            await client.aclose()


async def open_loop(url: str, bodies: list[bytes], rate: float, progress: str | None = None,
                    ) -> tuple[list[float], int, list[tuple[float, int, int, int]]]:
    """Send ``bodies`` at ``rate`` per second on a fixed schedule, whatever the answers; (latencies, non-2xx
    count, samples). Latency runs from each message's scheduled moment. ``progress``: the downstream's
    ``/count`` URL, sampled every second as (seconds since start, sent, acknowledged, delivered)."""
    latencies: list[float] = []
    failures = 0
    acknowledged = 0
    sent = 0
    samples: list[tuple[float, int, int, int]] = []
    idle: asyncio.Queue[RawClient | HttpxClient] = asyncio.Queue()
    clients = [Client() for _ in range(256)]  # far more than ever in flight
    for client in clients:
        idle.put_nowait(client)
    loop = asyncio.get_running_loop()

    async def send(body: bytes, due: float) -> None:
        nonlocal failures, acknowledged
        client = await idle.get()
        try:
            status = await client.post(url, body, {"Content-Type": "text/xml"})
        finally:
            idle.put_nowait(client)
        latencies.append(loop.time() - due)
        if 200 <= status < 300:
            acknowledged += 1
        else:
            failures += 1

    async def sample(counter: httpx.AsyncClient, start: float, base: int) -> None:
        while True:
            await asyncio.sleep(1.0)
            delivered = (await counter.get(progress)).json()["n"] - base  # type: ignore[arg-type]
            samples.append((loop.time() - start, sent, acknowledged, delivered))

    counter = httpx.AsyncClient(timeout=10.0)
    try:
        base = (await counter.get(progress)).json()["n"] if progress else 0
        start = loop.time()
        sampler = asyncio.create_task(sample(counter, start, base)) if progress else None
        tasks = []
        for i, body in enumerate(bodies):
            due = start + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(body, due)))
            sent += 1
        await asyncio.gather(*tasks)
        if sampler is not None:
            await asyncio.sleep(1.5)  # one more sample after the last acknowledgement
            sampler.cancel()
        return latencies, failures, samples
    finally:
        await counter.aclose()
        for client in clients:
            await client.aclose()


def trend(points: list[tuple[float, int]]) -> float:
    """Least-squares slope of a count sampled over the run, messages per second."""
    if len(points) < 2:
        return 0.0
    mean_t = statistics.mean(t for t, _ in points)
    mean_b = statistics.mean(b for _, b in points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (b - mean_b) for t, b in points) / spread if spread else 0.0


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
    parser.add_argument("--rate", type=float, help="open loop: send this many messages per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="open loop: length of the run (target: 60 s)")
    parser.add_argument("--store", metavar="URL", help="compare SQLite with 1 and 3 PostgreSQL replicas on this "
                        "server (a fresh database each, created and dropped here)")
    parser.add_argument("--client", choices=sorted(CLIENTS), default="raw",
                        help="the senders: plain asyncio HTTP/1.1 (raw, lean) or httpx (as before)")
    parser.add_argument("--stub", choices=["raw", "fastapi"], default="raw",
                        help="the Bv03 downstream: a plain asyncio protocol (raw, lean) or FastAPI (as before)")
    parser.add_argument("--serve", choices=["echo", "downstream"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_helper(args.serve, args.port, args.stub)
        return
    global Client
    Client = CLIENTS[args.client]

    bodies = messages(round(args.rate * args.seconds) if args.rate else args.messages)
    work = Path(tempfile.mkdtemp(prefix="overstap-bench-"))
    if args.store:
        compare_stores(args, bodies, work)
        return
    echo_port, ds_port, gw_port = free_port(), free_port(), free_port()
    me = [sys.executable, str(Path(__file__).resolve())]
    procs = [spawn([*me, "--serve", "echo", "--port", str(echo_port)], work / "echo.log"),
             spawn([*me, "--serve", "downstream", "--port", str(ds_port), "--stub", args.stub],
                   work / "downstream.log")]
    extra = [] if args.convert_processes is None else ["--convert-processes", str(args.convert_processes)]
    procs.append(spawn([sys.executable, "-c", "from gateway.cli import main; main()", "serve", "--data-dir",
                        str(work / "data"), "--port", str(gw_port), "--downstream",
                        f"http://127.0.0.1:{ds_port}/zs", "--log-level", "warning", *extra], work / "gateway.log"))
    echo_url, ds_url, gw_url = (f"http://127.0.0.1:{p}" for p in (echo_port, ds_port, gw_port))
    try:
        for url in (echo_url + "/docs", ds_url + "/count", gw_url + "/healthz"):
            wait_up(url)
        warm = messages(200, first=50_000_000)
        asyncio.run(blast(echo_url + "/soap", warm, args.concurrency))
        asyncio.run(blast(gw_url + "/soap", [w.replace(b"<iwmo:Identificatie>b", b"<iwmo:Identificatie>w")
                                             for w in warm], args.concurrency))
        time.sleep(1.0)
        base_count = httpx.get(ds_url + "/count").json()["n"]
        gateway_pid = procs[2].pid
        if args.rate:
            report_open_loop(args, bodies, echo_url, gw_url, ds_url)
            return

        echo_before = cpu_seconds(procs[0].pid)[0], time.process_time()
        echo_s, echo_lat, echo_fail = asyncio.run(blast(echo_url + "/soap", bodies, args.concurrency))
        echo_cpu = cpu_seconds(procs[0].pid)[0] - echo_before[0], time.process_time() - echo_before[1]
        commits_before = commits(gw_url)
        cpu_before = cpu_seconds(gateway_pid)
        ds_before, client_before = cpu_seconds(procs[1].pid)[0], time.process_time()
        start = time.perf_counter()
        gw_s, gw_lat, gw_fail = asyncio.run(blast(gw_url + "/soap", bodies, args.concurrency))
        client_cpu = time.process_time() - client_before
        target = base_count + len(bodies)
        while httpx.get(ds_url + "/count").json()["n"] < target:
            if time.perf_counter() - start > 300:
                raise RuntimeError(f"not everything was delivered; see {work}/gateway.log and the outbox there")
            time.sleep(0.01)
        delivered_s = time.perf_counter() - start
        cpu_after = cpu_seconds(gateway_pid)
        ds_cpu = cpu_seconds(procs[1].pid)[0] - ds_before
        grouped = commit_line(commits_before, commits(gw_url), delivered_s)

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
          f"gateway outbox synchronous=FULL, conversion processes: {processes}; client: {args.client}, "
          f"downstream: {args.stub}")
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
    print(f"harness CPU per message: gateway run: client {client_cpu / n * 1000:.2f} ms, downstream "
          f"{ds_cpu / n * 1000:.2f} ms; echo floor run: client {echo_cpu[1] / n * 1000:.2f} ms, echo "
          f"{echo_cpu[0] / n * 1000:.2f} ms (all processes share the {os.cpu_count()} CPU(s))")
    print(grouped)
    print(header())
    note = "" if args.concurrency == 32 else f" (the target is set at concurrency 32; this run: {args.concurrency})"
    print(target_line("sidecar accepted (durable Bv03)", f"{n / gw_s:,.0f} msg/s", f">= {PROXY_ACCEPTED:,.0f}/s",
                      n / gw_s >= PROXY_ACCEPTED) + note)


SETUPS = (("SQLite, 1 sidecar", False, 1), ("PostgreSQL, 1 replica", True, 1), ("PostgreSQL, 3 replicas", True, 3))


def compare_stores(args: argparse.Namespace, bodies: list[bytes], work: Path) -> None:
    """The same messages through SQLite and through 1 and 3 PostgreSQL replicas, one set-up after the other."""
    import psycopg

    ds_port = free_port()
    me = [sys.executable, str(Path(__file__).resolve())]
    downstream = spawn([*me, "--serve", "downstream", "--port", str(ds_port), "--stub", args.stub],
                       work / "downstream.log")
    ds_url = f"http://127.0.0.1:{ds_port}"
    admin = psycopg.connect(args.store, autocommit=True)
    rows = []
    try:
        wait_up(ds_url + "/count")
        for n, (label, on_pg, replicas) in enumerate(SETUPS):
            store: list[str] = []
            if on_pg:
                admin.execute(f"DROP DATABASE IF EXISTS overstap_bench_{n}")
                admin.execute(f"CREATE DATABASE overstap_bench_{n}")
                store = ["--store", args.store.rsplit("/", 1)[0] + f"/overstap_bench_{n}"]
            rows.append((label, *run_setup(args, bodies, work / f"setup{n}", ds_url, store, replicas)))
    finally:
        downstream.terminate()
        downstream.wait(30)
        for n in range(len(SETUPS)):
            admin.execute(f"DROP DATABASE IF EXISTS overstap_bench_{n}")
        admin.close()
    print(f"{len(bodies)} distinct WMO301 messages, concurrency {args.concurrency} spread over the replicas, "
          f"{os.cpu_count()} CPU(s); every store commits durably before the Bv03 (SQLite synchronous=FULL; "
          "PostgreSQL as its server is configured: check fsync and synchronous_commit there)")
    print(f"{'':28}{'accepted/s':>12}{'p99 ms':>9}{'delivered/s':>13}{'vs SQLite':>11}")
    base = rows[0][1]
    for label, accepted, p99, delivered in rows:
        print(f"{label:28}{accepted:12.0f}{p99:9.1f}{delivered:13.0f}{accepted / base:10.0%}")


def run_setup(args: argparse.Namespace, bodies: list[bytes], folder: Path, ds_url: str, store: list[str],
              replicas: int) -> tuple[float, float, float]:
    """Start the replicas, warm them up, send ``bodies``; (accepted/s, ack p99 ms, delivered/s)."""
    extra = [] if args.convert_processes is None else ["--convert-processes", str(args.convert_processes)]
    ports = [free_port() for _ in range(replicas)]
    procs = [spawn([sys.executable, "-c", "from gateway.cli import main; main()", "serve", "--data-dir",
                    str(folder / f"r{i}"), "--port", str(port), "--downstream", ds_url + "/zs", "--log-level",
                    "warning", *store, *extra], folder.with_suffix(f".r{i}.log")) for i, port in enumerate(ports)]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url in urls:
            wait_up(url + "/healthz", 90.0)
        warm = [w.replace(b"<iwmo:Identificatie>b", b"<iwmo:Identificatie>w") for w in messages(200, first=50_000_000)]
        asyncio.run(blast([u + "/soap" for u in urls], warm, args.concurrency))  # other identificaties: no conflict
        time.sleep(1.0)
        base = httpx.get(ds_url + "/count").json()["n"]
        start = time.perf_counter()
        seconds, latencies, _fail = asyncio.run(blast([u + "/soap" for u in urls], bodies, args.concurrency))
        while httpx.get(ds_url + "/count").json()["n"] < base + len(bodies):
            if time.perf_counter() - start > 600:
                raise RuntimeError(f"not everything was delivered; see the logs beside {folder}")
            time.sleep(0.02)
        delivered = time.perf_counter() - start
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
    return len(bodies) / seconds, pct(latencies, 99), len(bodies) / delivered


def report_open_loop(args: argparse.Namespace, bodies: list[bytes], echo_url: str, gw_url: str, ds_url: str) -> None:
    """The open-loop run: the echo floor at the same rate (at most 10 s), then the gateway for ``--seconds``."""
    echo_bodies = bodies[:max(1, round(args.rate * min(args.seconds, 10.0)))]
    echo_lat, echo_fail, _ = asyncio.run(open_loop(echo_url + "/soap", echo_bodies, args.rate))
    before, started = commits(gw_url), time.perf_counter()
    gw_lat, gw_fail, samples = asyncio.run(open_loop(gw_url + "/soap", bodies, args.rate, ds_url + "/count"))
    grouped = commit_line(before, commits(gw_url), time.perf_counter() - started)
    n = len(bodies)
    print(f"open loop: {n} distinct WMO301 messages at {args.rate:g} msg/s for {args.seconds:g} s, "
          f"{os.cpu_count()} CPU(s); outbox synchronous=FULL; latency from each message's scheduled moment")
    print(f"{'':34}{'sent':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'non-2xx':>9}")
    for label, lat, fail in (("floor: FastAPI echo", echo_lat, echo_fail),
                             ("gateway: acknowledged", gw_lat, gw_fail)):
        print(f"{label:34}{len(lat):7d}{pct(lat, 50):9.1f}{pct(lat, 99):9.1f}{max(lat) * 1000:9.1f}{fail:9d}")
    backlogs = [ack - done for _, _sent, ack, done in samples]
    print("delivery backlog (acknowledged - delivered), one sample a second: "
          + " ".join(str(b) for b in backlogs[:: max(1, len(backlogs) // 30)]))
    growth = trend([(t, ack - done) for t, _sent, ack, done in samples])
    print(f"backlog: max {max(backlogs, default=0)}, at the end {backlogs[-1] if backlogs else 0}, "
          f"trend {growth:+.2f} msg/s over the run")
    print(grouped)
    sending = [(t, sent - ack) for t, sent, ack, _done in samples if sent < n]  # while the schedule runs
    waiting = trend(sending)
    print(f"sent but not yet acknowledged: max {max((w for _, w in sending), default=0)}, trend {waiting:+.2f} msg/s "
          "while sending (if it grows, acceptance falls behind the rate and the delivery backlog says little)")
    print(header())
    p99 = pct(gw_lat, 99)
    print(target_line(f"ack p99 at {args.rate:g} msg/s open loop", f"{p99:,.1f} ms", f"< {PROXY_P99_MS:g} ms",
                      p99 < PROXY_P99_MS) + ("" if args.rate == 200 else " (the target is set at 200 msg/s)"))
    flat = abs(growth) < 0.01 * args.rate  # growing by less than 1% of the rate: delivery keeps pace
    print(target_line("delivery backlog flat", f"{growth:+.2f} msg/s", "|trend| < 1%", flat)
          + ("" if args.seconds >= 60 else f" (the target is a 60 s run; this one: {args.seconds:g} s)"))
    keeps = abs(waiting) < 0.01 * args.rate
    print(target_line("acceptance keeps up with the rate", f"{waiting:+.2f} msg/s", "|trend| < 1%", keeps)
          + ("" if keeps else " (then the backlog line above is not meaningful)"))


if __name__ == "__main__":
    main()
