"""The first message after a sidecar start against the ones after it, and the CPU its conversion workers spent.

    .venv/bin/python benchmarks/first_message.py [--starts 5] [--messages 20] [--convert-processes N] [--tree DIR]

Per start: ``overstap serve`` (a fresh outbox in a temporary folder, a Bv03 downstream of ``proxy_bench.py``) is
started, and as soon as its log says "gateway ready" and its port listens the CPU its workers have used so far is read
(/proc) and ``--messages`` distinct WMO301 messages are sent one after another on one connection. It prints the
first message's acknowledgement latency beside the median of the 2nd to the last, and the workers' start CPU.
Not a test: it measures what a user sees after a (re)start, on whatever else the machine runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_http import RawClient  # sibling modules, not a package
from proxy_bench import free_port, messages, spawn, wait_up


def worker_cpu(gateway: int) -> list[float]:
    """CPU seconds of each conversion worker of the gateway process (its spawned children, not the tracker)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == gateway and b"multiprocessing.spawn" in cmdline and b"resource_tracker" not in cmdline:
            out.append((int(fields[11]) + int(fields[12])) / tick)
    return sorted(out)


def wait_ready(log: Path, port: int, timeout: float = 180.0) -> float:
    """Seconds until the log says "gateway ready" and the port takes a TCP connection, polled every 5 ms; the HTTP
    app is not asked anything. Since session 34 the line comes once the port listens; a tree from before logged it
    at the end of the app's start, before uvicorn bound its socket, hence the connect."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if log.exists() and b"gateway ready" in log.read_bytes():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
                return time.perf_counter() - started
            except OSError:
                pass
        time.sleep(0.005)
    raise RuntimeError(f"no 'gateway ready' in {log}, or nothing listening on {port}")


async def send(url: str, bodies: list[bytes]) -> list[float]:
    client = RawClient()
    latencies = []
    try:
        for body in bodies:
            started = time.perf_counter()
            status = await client.post(url, body, {"Content-Type": "text/xml"})
            latencies.append(time.perf_counter() - started)
            if not 200 <= status < 300:
                raise RuntimeError(f"the gateway answered {status}")
    finally:
        await client.aclose()
    return latencies


def one_start(n: int, args: argparse.Namespace, ds_url: str, work: Path) -> tuple[float, float, float, list[float]]:
    port = free_port()
    log = work / f"gateway-{n}.log"
    extra = [] if args.convert_processes is None else ["--convert-processes", str(args.convert_processes)]
    with log.open("ab") as out:  # the tree's own gateway package: ``-c`` puts the working folder first on the path
        proc = subprocess.Popen([sys.executable, "-c", "from gateway.cli import main; main()", "serve", "--data-dir",
                                 str(work / f"data-{n}"), "--port", str(port), "--downstream", f"{ds_url}/zs", *extra],
                                stdout=out, stderr=out, cwd=args.tree,
                                env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(args.tree)})
    try:
        ready = wait_ready(log, port)
        cpu = worker_cpu(proc.pid)
        time.sleep(args.pause)
        latencies = asyncio.run(send(f"http://127.0.0.1:{port}/soap", messages(args.messages, first=n * 1000)))
        return ready, latencies[0], statistics.median(latencies[1:]), cpu
    finally:
        proc.terminate()
        proc.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--convert-processes", type=int, default=None)
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1],
                        help="the checkout whose gateway is started (default: this one), to compare two trees")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between 'gateway ready' and the first")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="overstap-first-"))
    ds_port = free_port()
    bench = str(Path(__file__).resolve().parent / "proxy_bench.py")
    downstream = spawn([sys.executable, bench, "--serve", "downstream", "--port", str(ds_port)], work / "ds.log")
    ds_url = f"http://127.0.0.1:{ds_port}"
    try:
        wait_up(ds_url + "/")
        print("start  ready s  first ms  median 2nd.. ms  worker start CPU s")
        firsts, rests = [], []
        for n in range(args.starts):
            ready, first, rest, cpu = one_start(n, args, ds_url, work)
            firsts.append(first)
            rests.append(rest)
            print(f"{n + 1:5d}  {ready:7.2f}  {first * 1000:8.1f}  {rest * 1000:15.1f}  "
                  + " ".join(f"{c:.2f}" for c in cpu))
        print(f"median first {statistics.median(firsts) * 1000:.1f} ms, median of later "
              f"{statistics.median(rests) * 1000:.1f} ms ({work})")
    finally:
        downstream.terminate()
        downstream.wait(30)


if __name__ == "__main__":
    main()
