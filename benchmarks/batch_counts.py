"""Deterministic counts of the batch and convert paths per message: Python calls by function, SQL statements by shape.

    .venv/bin/python benchmarks/batch_counts.py --tree /work/wt-start --dir /tmp/bc --out /tmp/start.json
    .venv/bin/python benchmarks/batch_counts.py --dir /tmp/bc --out /tmp/main.json
    .venv/bin/python benchmarks/batch_counts.py --compare /tmp/start.json /tmp/main.json

Why: batch_bench's and batch_stages' microseconds move with the host's hour by 10-40%; how many Python calls and SQL
statements a message costs does not, so two trees compare on them whatever else runs (serve_counts.py does the same
for the sidecar). The batch runs as ``--workers 0`` (parent and worker in one process, so every call is counted,
the pipe's pickling excepted), with a file ledger like batch_bench's; it is run twice, on ``--base`` and on ``-n``
messages of batch_bench's archive, after an unprofiled warm-up, and the counts per message are the difference of
the two divided by the difference of their sizes: start-up, imports and the final commit cancel out. Journal and
ledger commits are left to the end of each run (``commit_seconds`` past the run's length) so the count does not
follow the clock. The convert part converts convert_bench's messages (the public iWmo 2.0 301/315 samples) with the
value guard against a throwaway ledger, ``--rounds`` times each, after a round of warm-up. ``--tree`` runs that
checkout's gateway and benchmarks (the archive comes from ``--dir`` if it is there, so both trees read the same).
The profiler and the trace live only in this harness; statements are counted by shape, never with a value.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import re
import shutil
import sqlite3
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_counts import shape  # a sibling script, not a package; imports no gateway module

HERE = Path(__file__).resolve().parent

_UNPLACED = re.compile(r":\d+(?=\()| at 0x[0-9a-f]+")
_STATEMENTS: list[str] = []
_PROFILERS: list[cProfile.Profile] = []


def _traced_connect(connect: Any) -> Any:
    """``sqlite3.connect`` whose connections keep each statement they run: a bare ``list.append``, which the
    profiler does not see (called from C), so the trace adds no call to the counts; shapes are made afterwards."""
    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(_STATEMENTS.append)
        return conn
    return traced


def _profile_threads() -> None:
    """A profiler for every thread started from now on (cProfile is per thread); the main one is enabled per run."""
    bootstrap = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]

    def profiled(self: threading.Thread) -> None:
        prof = cProfile.Profile()
        _PROFILERS.append(prof)
        prof.enable()
        try:
            bootstrap(self)
        finally:
            prof.disable()
    threading.Thread._bootstrap_inner = profiled  # type: ignore[attr-defined]


def _counted(fn: Any) -> tuple[Counter[str], Counter[str]]:
    """Calls by function (file and name, line numbers dropped: they move between trees) and statements by shape
    that ``fn()`` causes, on this thread and the threads it starts."""
    before = len(_PROFILERS)
    seen = len(_STATEMENTS)
    main = cProfile.Profile()
    main.enable()
    try:
        fn()
    finally:
        main.disable()
    calls: Counter[str] = Counter()
    for prof in [main, *_PROFILERS[before:]]:
        for entry in prof.getstats():
            code = entry.code
            key = (f"{Path(code.co_filename).parent.name}/{Path(code.co_filename).name}({code.co_name})"
                   if hasattr(code, "co_filename") else _UNPLACED.sub("", str(code)))
            calls[key] += entry.callcount
    return calls, Counter(shape(sql) for sql in _STATEMENTS[seen:])


def batch_counts(work: Path, base: int, count: int) -> dict[str, Any]:
    """Per message of ``overstap batch --workers 0``: the run on ``count`` messages less the run on ``base``."""
    from batch_bench import generate  # the tree's, which names its archive as batch_bench does

    from gateway.batch import BatchOptions, run

    def archive(n: int) -> Path:
        path = work / f"messages-{n}.zip"
        if not path.exists():
            generate(path, n)
        return path

    def one(n: int, tag: str) -> None:
        out = work / f"counts-{tag}.zip"
        out.unlink(missing_ok=True)
        shutil.rmtree(f"{out}.state", ignore_errors=True)  # a fresh ledger file, as batch_bench gives each run
        outcome = run(BatchOptions([archive(n)], out, workers=0, progress="quiet", state=f"{out}.state",
                                   commit_seconds=1e9, worker_growth_mb=0))
        failed = (outcome.summary or {}).get("status", {}).get("failed")
        if failed:
            raise SystemExit(f"{failed} of {n} messages failed")

    archive(count)  # generated before any count
    one(base, "warm")
    small = _counted(lambda: one(base, "base"))
    large = _counted(lambda: one(count, "all"))
    per = count - base
    return {"messages": per, "calls": {k: (v - small[0][k]) / per for k, v in large[0].items() if v != small[0][k]},
            "statements": {k: (v - small[1][k]) / per for k, v in large[1].items() if v != small[1][k]}}


def convert_counts(rounds: int) -> dict[str, Any]:
    """Per message of ``Converter(validate=True).convert`` over convert_bench's messages, each a creeerZaak."""
    from convert_bench import load

    from gateway.ledger.staged import ThrowawayLedger
    from gateway.pipeline import Converter

    messages = load(None)
    checked = Converter(validate=True, ledger=ThrowawayLedger())
    for message in messages:
        checked.convert(message)

    def all_rounds() -> None:
        for _ in range(rounds):
            for message in messages:
                checked.convert(message)
    calls, statements = _counted(all_rounds)
    per = rounds * len(messages)
    return {"messages": per, "calls": {k: v / per for k, v in calls.items()},
            "statements": {k: v / per for k, v in statements.items()}}


def measure(tree: Path, work: Path, base: int, count: int, rounds: int) -> dict[str, Any]:
    """Both parts in ``tree``'s code (its gateway first on the path, then its benchmarks)."""
    sys.path[:0] = [str(tree), str(tree / "benchmarks")]
    sqlite3.connect = _traced_connect(sqlite3.connect)  # type: ignore[assignment]
    _profile_threads()
    import gateway

    if Path(gateway.__file__).resolve().parents[1] != tree:
        raise SystemExit(f"gateway imported from {gateway.__file__}, not from {tree}")
    return {"tree": str(tree), "batch": batch_counts(work, base, count), "convert": convert_counts(rounds)}


def _table(label: str, parts: list[dict[str, float]], top: int, fmt: str) -> None:
    keys = {k for p in parts for k in p}
    print(f"{label} (last - first, largest first)")
    for key in sorted(keys, key=lambda k: (-abs(parts[-1].get(k, 0) - parts[0].get(k, 0)), k))[:top]:
        values = [p.get(key, 0) for p in parts]
        if values[-1] == values[0]:
            break
        print(f"  {key[:84]:84}" + "".join(f"{v:{fmt}}" for v in values) + f"{values[-1] - values[0]:+{fmt}}")


def compare(paths: list[Path], top: int) -> None:
    """Totals per message, then the functions and statements whose counts differ most, for each part."""
    data = [json.loads(p.read_text()) for p in paths]
    print("per message: " + " vs ".join(f"{p.stem} ({d['tree']})" for p, d in zip(paths, data, strict=True)))
    for part in ("batch", "convert"):
        runs = [d[part] for d in data]
        calls = [sum(r["calls"].values()) for r in runs]
        sql = [sum(r["statements"].values()) for r in runs]
        print(f"{part}: {', '.join(str(r['messages']) for r in runs)} messages counted")
        print(f"  {'Python calls':84}" + "".join(f"{v:10.1f}" for v in calls) + f"{calls[-1] - calls[0]:+10.1f}"
              + f"  ({calls[-1] / calls[0] - 1:+.1%})")
        print(f"  {'SQL statements':84}" + "".join(f"{v:10.3f}" for v in sql) + f"{sql[-1] - sql[0]:+10.3f}")
        _table(f"{part}: calls by function", [r["calls"] for r in runs], top, "10.2f")
        _table(f"{part}: statements by shape", [r["statements"] for r in runs], top, "10.3f")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tree", type=Path, default=HERE.parent, help="the checkout whose gateway is counted")
    parser.add_argument("--dir", type=Path, help="work folder, archives kept for the next tree (default: temporary)")
    parser.add_argument("--out", type=Path, help="where the counts go (JSON)")
    parser.add_argument("-n", "--count", type=int, default=2500, help="messages of the larger batch run")
    parser.add_argument("--base", type=int, default=500, help="messages of the smaller batch run")
    parser.add_argument("--rounds", type=int, default=20, help="convert: rounds over the sample messages")
    parser.add_argument("--compare", type=Path, nargs="+", help="print these counts side by side")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    if args.compare:
        compare(args.compare, args.top)
        return 0
    if args.out is None:
        parser.error("--out is required to run")
    work = args.dir or Path(tempfile.mkdtemp(prefix="overstap-counts-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = measure(args.tree.resolve(), work, args.base, args.count, args.rounds)
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    args.out.write_text(json.dumps(result))
    print(f"{args.out}: batch {sum(result['batch']['calls'].values()):.1f} calls, "
          f"{sum(result['batch']['statements'].values()):.3f} statements a message; convert "
          f"{sum(result['convert']['calls'].values()):.1f} calls a message")
    return 0


if __name__ == "__main__":
    sys.exit(main())
