"""Deterministic counts of the sidecar's server process per message: proxy_bench's run, with the gateway under
cProfile (every thread) and a sqlite3 trace callback, counted over the same window its CPU figure covers.

    .venv/bin/python benchmarks/serve_counts.py --tree /work/wt-start --out /tmp/start.json -- --messages 4000
    .venv/bin/python benchmarks/serve_counts.py --per 4000 --compare /tmp/start.json /tmp/main.json

Why: the "gateway CPU per message" of proxy_bench moves with the host's hour (other processes on the shared cores);
Python calls and SQL statements per message do not, so two trees compare on them whatever else runs. ``--tree``
runs that checkout's proxy_bench and gateway (PYTHONPATH must name it too), so one harness measures both. The
profiler and the trace live only in this harness: the product has neither. Statements are counted by shape, their
literals replaced by ``?`` (never a value of a message). Calls of the conversion workers (other processes) are not
counted; the server process's threads all are (the event loop, the outbox writer and reader, the pool's threads).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import re
import signal
import sqlite3
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

GATEWAY = ["-c", "from gateway.cli import main; main()"]
_LITERAL = re.compile(r"X?'(?:[^']|'')*'|\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b")
_LIST = re.compile(r"\?(?:\s*,\s*\?)+")
_UNPLACED = re.compile(r":\d+(?=\()| at 0x[0-9a-f]+")
_PROFILERS: list[tuple[str, cProfile.Profile]] = []
_STATEMENTS: dict[int, Counter[str]] = {}
_STEPS: dict[int, int] = {}
STEP = 100


def shape(sql: str) -> str:
    """A statement without its values: literals as ``?``, lists of them as ``?,…``, whitespace collapsed."""
    return " ".join(_LIST.sub("?,…", _LITERAL.sub("?", sql)).split())[:110]


def _traced_connect(connect: Any) -> Any:
    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)

        def count(sql: str) -> None:  # on the thread that runs the statement: one counter each, no race
            ident = threading.get_ident()
            counter = _STATEMENTS.get(ident)
            if counter is None:
                counter = _STATEMENTS[ident] = Counter()
            counter[shape(sql)] += 1
        def step() -> int:  # every STEP virtual-machine instructions: what the statements cost SQLite
            _STEPS[threading.get_ident()] = _STEPS.get(threading.get_ident(), 0) + 1
            return 0
        conn.set_trace_callback(count)
        conn.set_progress_handler(step, STEP)
        return conn
    return traced


def _profile_threads() -> None:
    """A profiler for the main thread now and for each thread as it starts (cProfile is per thread)."""
    main = cProfile.Profile()
    _PROFILERS.append(("MainThread", main))
    main.enable()
    bootstrap = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]

    def profiled(self: threading.Thread) -> None:
        prof = cProfile.Profile()
        _PROFILERS.append((re.sub(r"[-_]?\d+$", "", self.name), prof))
        prof.enable()
        bootstrap(self)
    threading.Thread._bootstrap_inner = profiled  # type: ignore[attr-defined]


def _snapshot() -> dict[str, Any]:
    """Calls so far of each function, per thread kind, and statements so far, by shape (under the GIL: each
    profiler's table is read whole while its thread waits)."""
    calls: dict[str, Counter[str]] = {}
    for kind, prof in list(_PROFILERS):
        counter = calls.setdefault(kind, Counter())
        for entry in prof.getstats():
            code = entry.code
            key = (f"{Path(code.co_filename).name}:{code.co_firstlineno}({code.co_name})"
                   if hasattr(code, "co_filename") else str(code))
            counter[key] += entry.callcount
    statements: Counter[str] = Counter()
    for counter in list(_STATEMENTS.values()):
        statements.update(dict(counter))
    return {"calls": calls, "statements": statements, "vm_steps": sum(_STEPS.values()) * STEP, **_proc()}


def _proc() -> dict[str, Any]:
    """CPU ticks (user, system) of each thread kind, read/write system calls and context switches, from /proc."""
    names = {t.native_id: re.sub(r"[-_]?\d+$", "", t.name) for t in threading.enumerate()}
    cpu: dict[str, list[int]] = {}
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            ticks = cpu.setdefault(names.get(int(task.name), "other"), [0, 0])
            ticks[0] += int(fields[11])
            ticks[1] += int(fields[12])
    io = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    status = dict(line.split(":\t", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":\t" in line)
    return {"cpu": cpu, "syscr": int(io["syscr"]), "syscw": int(io["syscw"]),
            "switches": int(status["voluntary_ctxt_switches"]) + int(status["nonvoluntary_ctxt_switches"])}


def _delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    calls = {kind: {k: v - before["calls"].get(kind, Counter())[k] for k, v in counter.items()
                    if v - before["calls"].get(kind, Counter())[k]}
             for kind, counter in after["calls"].items()}
    statements = {k: v - before["statements"][k] for k, v in after["statements"].items() if v - before["statements"][k]}
    cpu = {kind: [a - b for a, b in zip(ticks, before["cpu"].get(kind, [0, 0]), strict=True)]
           for kind, ticks in after["cpu"].items()}
    return {"calls": calls, "statements": statements, "cpu": cpu, "ticks": os.sysconf("SC_CLK_TCK"),
            **{k: after[k] - before[k] for k in ("vm_steps", "syscr", "syscw", "switches")}}


def run_gateway(out: Path, plain: bool, argv: list[str]) -> None:
    """``overstap serve`` with counting on (``plain``: only /proc's figures per thread, no profiler nor trace, so
    its CPU is the product's); SIGUSR1 opens the window, the second one closes it and writes ``out``."""
    sys.path.insert(0, os.getcwd())  # proxy_bench runs the gateway in its tree
    if not plain:
        sqlite3.connect = _traced_connect(sqlite3.connect)  # type: ignore[assignment]
        _profile_threads()
    marks: list[dict[str, Any]] = []

    def mark(_signum: int, _frame: Any) -> None:
        marks.append(_snapshot())
        if len(marks) == 2:
            out.write_text(json.dumps(_delta(*marks)))
        Path(f"{out}.mark{len(marks)}").write_text("")
    signal.signal(signal.SIGUSR1, mark)
    sys.argv = ["overstap", *argv]
    from gateway.cli import main

    main()


def run_bench(tree: Path, out: Path, plain: bool, argv: list[str]) -> None:
    """Run ``tree``'s proxy_bench with its gateway counted, the window marked where it reads the gateway's CPU."""
    sys.path.insert(0, str(tree / "benchmarks"))
    import proxy_bench

    gateway: dict[str, int] = {}
    spawn, cpu_seconds = proxy_bench.spawn, proxy_bench.cpu_seconds

    def counted_spawn(args: list[str], log: Path) -> Any:
        counted = args[1:3] == GATEWAY
        if counted:
            args = [args[0], str(Path(__file__).resolve()), "--gateway", str(out), "plain" if plain else "count",
                    *args[3:]]
        proc = spawn(args, log)
        if counted:
            gateway["pid"] = proc.pid
        return proc

    def marked_cpu(pid: int) -> tuple[float, float]:
        if pid == gateway.get("pid"):
            gateway["marks"] = gateway.get("marks", 0) + 1
            os.kill(pid, signal.SIGUSR1)
            deadline = time.monotonic() + 30
            while not Path(f"{out}.mark{gateway['marks']}").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        return cpu_seconds(pid)

    wait_up = proxy_bench.wait_up
    proxy_bench.spawn, proxy_bench.cpu_seconds = counted_spawn, marked_cpu
    proxy_bench.wait_up = lambda url, timeout=120.0: wait_up(url, timeout)  # imports under the profiler are slow
    sys.argv = [str(tree / "benchmarks" / "proxy_bench.py"), *argv]
    proxy_bench.main()


def summary(path: Path, messages: int) -> dict[str, Any]:
    data = json.loads(path.read_text())
    calls = {kind: sum(c.values()) / messages for kind, c in data["calls"].items()}
    statements = data["statements"]
    commits = statements.get("COMMIT", 0)
    ms = 1000 / data["ticks"] / messages
    cpu = {kind: (ticks[0] * ms, ticks[1] * ms) for kind, ticks in data["cpu"].items()}
    return {"cpu": cpu, "cpu_total": sum(u + s for u, s in cpu.values()),
            **{k: data[k] / messages for k in ("vm_steps", "syscr", "syscw", "switches")},
            "calls": calls, "calls_total": sum(calls.values()), "sql": sum(statements.values()) / messages,
            "commits": commits / messages, "writes_per_commit": statements.get("SAVEPOINT job", 0) / max(commits, 1),
            "statements": {k: v / messages for k, v in sorted(statements.items(), key=lambda kv: -kv[1])}}


def compare(paths: list[Path], messages: int, top: int) -> None:
    """Per message: calls by thread, statements by shape, and the functions whose call counts differ most."""
    sums = [summary(p, messages) for p in paths]
    names = [p.stem for p in paths]
    print(f"per message ({messages} messages): " + " vs ".join(names))
    print(f"{'CPU ms (user + system), all threads':52}" + "".join(f"{s['cpu_total']:12.3f}" for s in sums))
    for kind in sorted({k for s in sums for k in s["cpu"]}, key=lambda k: -sum(sums[0]["cpu"].get(k, (0, 0)))):
        print(f"{'  ' + kind + ' (user+system)':52}"
              + "".join(f"{'+'.join(f'{v:.3f}' for v in s['cpu'].get(kind, (0, 0))):>12}" for s in sums))
    for key, label in (("syscr", "read system calls"), ("syscw", "write system calls"),
                       ("switches", "context switches"), ("vm_steps", "SQLite VM instructions")):
        print(f"{label:52}" + "".join(f"{s[key]:12.2f}" for s in sums))
    print(f"{'Python calls, all threads':52}" + "".join(f"{s['calls_total']:12.1f}" for s in sums))
    for kind in sorted({k for s in sums for k in s["calls"]}, key=lambda k: -sums[0]["calls"].get(k, 0)):
        print(f"{'  ' + kind:52}" + "".join(f"{s['calls'].get(kind, 0):12.1f}" for s in sums))
    print(f"{'SQL statements':52}" + "".join(f"{s['sql']:12.2f}" for s in sums))
    print(f"{'COMMITs':52}" + "".join(f"{s['commits']:12.4f}" for s in sums))
    print(f"{'writes a COMMIT':52}" + "".join(f"{s['writes_per_commit']:12.1f}" for s in sums))
    for stmt in sorted({k for s in sums for k in s["statements"]}, key=lambda k: -sums[-1]["statements"].get(k, 0)):
        print(f"  {stmt[:80]:80}" + "".join(f"{s['statements'].get(stmt, 0):8.3f}" for s in sums))
    merged: list[Counter[str]] = [Counter() for _ in paths]
    for counter, path in zip(merged, paths, strict=True):  # by file and name: line numbers move between trees
        for per_kind in json.loads(path.read_text())["calls"].values():
            for key, n in per_kind.items():
                counter[_UNPLACED.sub("", key)] += n
    keys = {k for c in merged for k in c}
    diffs = sorted(keys, key=lambda k: -abs(merged[-1][k] - merged[0][k]))[:top]
    print(f"functions whose calls differ most ({names[-1]} - {names[0]}), calls per message:")
    for key in diffs:
        print(f"  {key[:80]:80}" + "".join(f"{c[key] / messages:8.2f}" for c in merged))


def main() -> None:
    if sys.argv[1:2] == ["--gateway"]:
        run_gateway(Path(sys.argv[2]), sys.argv[3] == "plain", sys.argv[4:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--out", type=Path, help="where the gateway's counts go (JSON)")
    parser.add_argument("--plain", action="store_true", help="no profiler nor trace: CPU per thread, system calls")
    parser.add_argument("--compare", type=Path, nargs="+", help="print these counts side by side")
    parser.add_argument("--per", type=int, default=4000, help="with --compare: the runs' message count")
    parser.add_argument("--top", type=int, default=30)
    args, rest = parser.parse_known_args()
    if args.compare:
        compare(args.compare, args.per, args.top)
        return
    if args.out is None:
        parser.error("--out is required to run")
    run_bench(args.tree.resolve(), args.out.resolve(), args.plain, [a for a in rest if a != "--"])


if __name__ == "__main__":
    main()
