"""Where a batch message's time goes: ``overstap batch --workers 0`` with each stage's function timed.

    .venv/bin/python benchmarks/batch_stages.py              # 20,000 messages
    .venv/bin/python benchmarks/batch_stages.py -n 5000 --dir /tmp/bb

Generates (or reuses, with ``--dir``) the archive ``batch_bench.py`` measures, runs the whole batch in this
process (parent and worker in one, so every stage is on one clock), with the functions of each stage wrapped in
a ``perf_counter`` sum, and prints µs a message for each stage beside the lxml parse+serialise floor of the same
messages, measured in the same run. Nested stages are shown indented under the stage that calls them, so a row
includes the rows below it. The wrappers add ~0.3 µs a call. Not a test, and not a throughput figure (that is
``batch_bench.py``): a map of where to look.
"""

from __future__ import annotations

import argparse
import collections
import importlib
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from batch_bench import floor_rate, generate, messages  # a sibling script, not a package

STAGES: list[tuple[int, str, str, str]] = [
    # (depth, label, module, attribute path)
    (0, "map a chunk in the worker (Worker.map_chunk)", "gateway.batch.work", "Worker.map_chunk"),
    (1, "read the ZIP member (member_bytes)", "gateway.batch.work", "member_bytes"),
    (1, "parse (Converter.parse)", "gateway.pipeline", "Converter.parse"),
    (2, "parse (ingest.read)", "gateway.pipeline", "read"),
    (1, "map (Converter.map_parsed)", "gateway.pipeline", "Converter.map_parsed"),
    (2, "map (map_source: walk, steps, model)", "gateway.pipeline", "map_source"),
    (1, "prepare units and states (Converter.prepare)", "gateway.pipeline", "Converter.prepare"),
    (0, "render a chunk against the ledger (LedgerStep.process)", "gateway.batch.ledgered", "LedgerStep.process"),
    (1, "render the chunk's members (LedgerStep._render_chunk)", "gateway.batch.ledgered", "LedgerStep._render_chunk"),
    (2, "plan one member: ledger, states, units (Converter.plan)", "gateway.pipeline", "Converter.plan"),
    (2, "write and guard its zakLk01s (Planned.write)", "gateway.pipeline", "Planned.write"),
    (2, "render one member in one pass (LedgerStep._render)", "gateway.batch.ledgered", "LedgerStep._render"),
    (3, "plan, write, guard (Converter.render)", "gateway.pipeline", "Converter.render"),
    (1, "pack one member and its report line (LedgerStep._pack)", "gateway.batch.ledgered", "LedgerStep._pack"),
    (2, "pack its outputs (pack_outputs)", "gateway.batch.ledgered", "pack_outputs"),
    (1, "keep the chunk's outputs for a resume (kept_chunk_text)", "gateway.batch.ledgered", "kept_chunk_text"),
    (0, "commit the chunk's ledger (SqliteChunks.commit)", "gateway.batch.ledgered", "SqliteChunks.commit"),
    (0, "append to OUT (ZipSink.append)", "gateway.batch.sinks", "ZipSink.append"),
]


def _wrap(module: str, path: str, totals: collections.Counter[str]) -> None:
    """Replace ``module.path`` with a timed wrapper where it is looked up (a module-level name or a method)."""
    owner: Any = importlib.import_module(module)
    *parents, name = path.split(".")
    for part in parents:
        owner = getattr(owner, part)
    original: Callable[..., Any] = getattr(owner, name)
    key = f"{module}:{path}"

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[key] += time.perf_counter() - started

    setattr(owner, name, timed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=20_000, help="messages in the archive")
    parser.add_argument("--dir", type=Path, help="work folder (default: a temporary one, removed afterwards)")
    parser.add_argument("--floor-seconds", type=float, default=2.0)
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="overstap-stages-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        archive = work / f"messages-{args.count}.zip"
        if not archive.exists():
            generate(archive, args.count)
        floor = floor_rate([data for _, data in messages(min(args.count, 2000))], args.floor_seconds)
        totals: collections.Counter[str] = collections.Counter()
        for _, _, module, path in STAGES:
            _wrap(module, path, totals)
        out, state = work / "stages-out.zip", work / "stages-out.zip.state"
        out.unlink(missing_ok=True)
        shutil.rmtree(state, ignore_errors=True)  # a fresh ledger file, as batch_bench gives each run
        from gateway.batch import BatchOptions, run

        started, cpu = time.perf_counter(), time.process_time()
        outcome = run(BatchOptions([archive], out, workers=0, progress="quiet", state=str(state)))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        summary = outcome.summary or {}
        count = args.count
        print(f"{count:,} messages in one process: {wall / count * 1e6:.0f} µs a message "
              f"({cpu / count * 1e6:.0f} µs of CPU), failed {summary.get('status', {}).get('failed')}; "
              f"floor {1e6 / floor:.1f} µs (lxml parse+serialise, 1 core)")
        for depth, label, module, path in STAGES:
            spent = totals[f"{module}:{path}"] / count * 1e6
            print(f"  {'  ' * depth}{label:{60 - 2 * depth}} {spent:7.1f} µs  {spent * floor / 1e6:5.2f}x the floor")
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
