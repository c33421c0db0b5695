"""CPU per outbox write of the group committer, two implementations alternated (session 29's exact write gauge).

Why: the committer is the sidecar's hot path; a change to what each write does on its way in (a counter) must be
measured against the version before it, in turns, on the same loaded machine. Usage:
``python benchmarks/committer_bench.py OLD.py NEW.py [--rounds 6] [--writes 20000]``: each file is a copy of
gateway/deliver/committer.py; the writes are queued from an event loop (``enqueue``, as the sidecar's inbound path)
on a real SQLite outbox, and the process CPU time per write is printed per round and as the median of each.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from gateway.deliver.store import locate, ready


def _load(path: str, name: str) -> ModuleType:
    """A committer.py copy loaded as a module of gateway.deliver, so its relative import of .store resolves."""
    spec = importlib.util.spec_from_file_location(f"gateway.deliver.{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _nothing(conn: Any) -> int:
    return 1


def _round(module: ModuleType, folder: Path, writes: int) -> float:
    """Microseconds of process CPU per write: ``writes`` enqueued in windows of 256 from one loop, all answered."""
    store = ready(locate(folder))
    committer = module.GroupCommitter(store.connect)
    committer.start()

    async def run() -> None:
        for _ in range(writes // 256):
            await asyncio.gather(*[committer.enqueue(_nothing) for _ in range(256)])

    started = time.process_time()
    asyncio.run(run())
    spent = time.process_time() - started
    committer.stop()
    return spent / (writes // 256 * 256) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--writes", type=int, default=20000)
    args = parser.parse_args()
    modules = {"old": _load(args.old, "_bench_old"), "new": _load(args.new, "_bench_new")}
    spent: dict[str, list[float]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp:
        for turn in range(args.rounds):
            order = ["old", "new"] if turn % 2 == 0 else ["new", "old"]
            for name in order:
                spent[name].append(_round(modules[name], Path(tmp) / f"{name}{turn}", args.writes))
            print(f"round {turn}: old {spent['old'][-1]:.2f} µs/write, new {spent['new'][-1]:.2f} µs/write")
    for name, values in spent.items():
        print(f"{name}: median {statistics.median(values):.2f} µs/write over {len(values)} rounds")


if __name__ == "__main__":
    main()
