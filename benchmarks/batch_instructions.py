"""Instructions a batch message costs, counted by valgrind's cachegrind: a figure the host's hour does not move.

    .venv/bin/python benchmarks/batch_instructions.py --dir /tmp/bi                    # main, --workers 0 and 2
    .venv/bin/python benchmarks/batch_instructions.py --tree /work/wt-start --dir /tmp/bi --out /tmp/start.json
    .venv/bin/python benchmarks/batch_instructions.py --compare /tmp/start.json /tmp/main.json
    .venv/bin/python benchmarks/batch_instructions.py --caches ...                     # also simulated cache misses

Why: on this shared VM the microseconds of batch_bench and batch_stages move 10-40% with the host's hour, so
levers worth 3-10% could not be told apart (sessions 30-32). Instructions executed (cachegrind's ``Ir``) repeat
to ~0.05% between runs of one tree, whatever else runs. They are not time: a cache miss costs no instruction, and
an instruction of the batch's Python code misses the 32 KiB instruction cache ~6x as often as one of lxml's floor,
the data cache ~2.5x (``--caches`` adds cachegrind's simulated misses, ~2x slower; a lever that only moves memory
shows there).

Each figure is the difference of two runs on ``--base`` and ``-n`` messages of batch_bench's archive, divided by
the difference of their sizes: start-up, imports and mapping compilation cancel out. ``overstap batch`` runs as
batch_counts runs it (a file ledger, commits left to the end, no worker replacement), ``PYTHONHASHSEED=0``; with
``--workers`` above 0 every process of the tree is counted (cachegrind follows forks; a forked worker's count also
holds what its parent ran before the fork, which the difference cancels), so the pipe between workers and parent
is in the total. Those figures move ~3% between runs: who reads a member follows the parent's idle time, and
waits and timers tick ~50x as often a message under valgrind; ``--workers 0`` is the one to compare trees on.
One native run of each program first writes the tree's bytecode. Unless ``--no-convert``, convert_bench's conversion
with output validation is counted too (2 and 12 rounds over its messages, each a creeerZaak against a throwaway
ledger), beside the floor of its own messages: the one-core convert target's figure. The floor is counted the same
way: lxml parse + serialise of the archive's messages, the loop of ``batch_bench.floor_rate``. The last line puts
the two-worker target's arithmetic (issue 13: 30% of the floor for the run on two cores, ~6.7 floors of CPU a
message for all processes) in instructions, at what an instruction of the batch costs against one of the floor
(``INSTRUCTION_COST``, measured beside CPU time: 2.7-3.2x).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CACHES = ["--I1=32768,8,64", "--D1=32768,8,64", "--LL=33554432,16,64"]
"""Cache geometry given, not detected, so counts of two hosts compare (an EPYC core's L1s; one LL of 32 MiB)."""
CONVERT_ROUNDS = (2, 12)
"""Rounds over convert_bench's messages (the iWmo 2.0 301/315 samples, each a creeerZaak) of the two convert runs."""
MISSES = ("I1mr", "D1mr", "D1mw", "DLmr", "DLmw")
"""The simulated misses shown (first-level instruction and data caches, the last level's data misses)."""
BUDGET_FLOORS = 6.7
"""Floors of CPU a message for all processes at which two workers reach 15% of the floor each (issue 13)."""
INSTRUCTION_COST = (2.7, 3.2)
"""What an instruction of the batch costs in time against one of the floor: CPU floors a message measured beside
these instruction floors (session 33; docs/performance.md). The batch's Python misses the caches far more."""

_BATCH = """
import shutil, sys
from pathlib import Path
tree, archive, out, workers = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
sys.path[:0] = [str(tree)]
from gateway.batch import BatchOptions, run
out.unlink(missing_ok=True)
shutil.rmtree(f"{out}.state", ignore_errors=True)
outcome = run(BatchOptions([archive], out, workers=workers, progress="quiet", state=f"{out}.state",
                           commit_seconds=1e9, worker_growth_mb=0))
failed = (outcome.summary or {}).get("status", {}).get("failed")
sys.exit(f"{failed} messages failed" if failed else 0)
"""

_CONVERT = """
import sys
from pathlib import Path
tree, rounds = Path(sys.argv[1]), int(sys.argv[2])
sys.path[:0] = [str(tree), str(tree / "benchmarks")]
from convert_bench import load
from lxml import etree
from gateway.ledger.staged import ThrowawayLedger
from gateway.pipeline import Converter
messages = load(None)
if sys.argv[3] == "floor":
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    for _ in range(rounds):
        for data in messages:
            etree.tostring(etree.fromstring(data, parser))
else:
    checked = Converter(validate=True, ledger=ThrowawayLedger())
    for _ in range(rounds):
        for data in messages:
            checked.convert(data)
print(len(messages))
"""

_FLOOR = """
import sys, zipfile
from lxml import etree
archive, rounds = sys.argv[1], int(sys.argv[2])
with zipfile.ZipFile(archive) as zf:
    sample = [zf.read(info) for info in zf.infolist()]
parser = etree.XMLParser(resolve_entities=False, no_network=True)
for _ in range(rounds):
    for data in sample:
        etree.tostring(etree.fromstring(data, parser))
"""


def script(work: Path, name: str, text: str) -> str:
    """``text`` as a file of ``work``: cachegrind's output names the command line, and cg_annotate and cg_diff
    cannot read one that spans lines (``python -c``)."""
    path = work / name
    path.write_text(text)
    return str(path)


def warmed(argv: list[str], work: Path) -> None:
    """Run ``argv`` once natively first: the first run of a tree compiles its bytecode (and an editable install's
    finder), which would land in the smaller of two counted runs and shrink the difference."""
    subprocess.run(argv, cwd=work, env={**os.environ, "PYTHONHASHSEED": "0"}, check=True, capture_output=True)


def counted(argv: list[str], work: Path, tag: str, caches: bool) -> dict[str, dict[str, int]]:
    """Run ``argv`` under cachegrind; the event totals of every process it forked, by process id. The output
    files stay in ``work``/cg-``tag`` for ``cg_diff`` and ``cg_annotate`` (where the instructions go)."""
    folder = work / f"cg-{tag}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    simulated = ["--cache-sim=yes", *CACHES] if caches else ["--cache-sim=no"]
    command = ["valgrind", "--tool=cachegrind", *simulated, f"--cachegrind-out-file={folder}/cg.%p", *argv]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{tag}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return {path.name.split(".")[1]: _totals(path) for path in sorted(folder.glob("cg.*"))}


def _totals(path: Path) -> dict[str, int]:
    """The ``events:`` names with the ``summary:`` totals of one cachegrind output file."""
    events: list[str] = []
    for line in path.read_text().splitlines():
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith("summary:"):
            return dict(zip(events, map(int, line.split()[1:]), strict=True))
    raise SystemExit(f"{path}: no summary line (did the process end normally?)")


def _ordered(runs: dict[str, dict[str, int]]) -> list[dict[str, int]]:
    """Processes by id: the first is the parent (valgrind gives children higher ids here, pids not wrapped)."""
    return [runs[pid] for pid in sorted(runs, key=int)]


def _per(large: dict[str, int], small: dict[str, int], messages: int) -> dict[str, float]:
    return {event: (large[event] - small.get(event, 0)) / messages for event in large}


def _sum(processes: list[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for events in processes:
        for event, value in events.items():
            total[event] = total.get(event, 0) + value
    return total


def measure(tree: Path, work: Path, base: int, count: int, workers: list[int], caches: bool,
            convert: bool = True) -> dict[str, Any]:
    """Per message: the floor, ``overstap batch`` with each worker count (all processes, parent, workers), and
    (``convert``) convert_bench's conversion with output validation beside the floor of its own messages."""
    sys.path[:0] = [str(tree / "benchmarks")]
    from batch_bench import generate  # the tree's, so both trees of a comparison read archives made alike

    archives = {}
    for n in (base, count):
        archives[n] = work / f"messages-{n}.zip"
        if not archives[n].exists():
            generate(archives[n], n)
    python = sys.executable
    result: dict[str, Any] = {"tree": str(tree), "messages": count - base, "caches": caches,
                              "python": interpreter()}
    floor_py, batch_py = script(work, "floor.py", _FLOOR), script(work, "batch.py", _BATCH)
    warmed([python, floor_py, str(archives[base]), "1"], work)
    warmed([python, batch_py, str(tree), str(archives[base]), str(work / "out-warm.zip"), "0"], work)
    floor = [_sum(_ordered(counted([python, floor_py, str(archives[count]), str(rounds)], work,
                                   f"floor-{rounds}", caches))) for rounds in (1, 2)]
    result["floor"] = _per(floor[1], floor[0], count)
    if convert:
        convert_py = script(work, "convert.py", _CONVERT)
        warmed([python, convert_py, str(tree), "1", "convert"], work)
        sample = int(subprocess.run([python, convert_py, str(tree), "0", "floor"], capture_output=True, text=True,
                                    check=True).stdout)
        for part in ("floor", "convert"):
            small, large = (_sum(_ordered(counted([python, convert_py, str(tree), str(r), part], work,
                                                  f"convert-{part}-{r}", caches))) for r in CONVERT_ROUNDS)
            result[f"convert {part}"] = _per(large, small, sample * (CONVERT_ROUNDS[1] - CONVERT_ROUNDS[0]))
    for n_workers in workers:
        runs = [_ordered(counted([python, batch_py, str(tree), str(archives[n]), str(work / f"out-{n}.zip"),
                                  str(n_workers)], work, f"batch-{n_workers}-{n}", caches)) for n in (base, count)]
        small, large = runs
        row = {"all": _per(_sum(large), _sum(small), count - base),
               "parent": _per(large[0], small[0], count - base),
               "processes": len(large)}
        if n_workers:
            row["workers"] = _per(_sum(large[1:]), _sum(small[1:]), count - base)
        result[f"workers={n_workers}"] = row
    return result


def interpreter() -> str:
    """The Python that ran the counts: its build moves them (~9% between pyenv's and Debian's 3.11, session 34)."""
    return f"Python {platform.python_version()} ({os.path.realpath(sys.executable)})"


def report(result: dict[str, Any]) -> None:
    floor = result["floor"]["Ir"]
    print(f"{result['tree']}: {result['messages']:,} messages (the difference of two runs); "
          f"floor {floor / 1e3:,.1f} k instructions a message (lxml parse + serialise); "
          f"{result.get('python', 'Python unrecorded')}")
    extra = [e for e in result["floor"] if e != "Ir"]
    if extra:
        print("  floor" + " " * 36 + "".join(f"  {e} {result['floor'][e]:,.0f}" for e in extra if e in MISSES))
    if "convert floor" in result:
        own, ir = result["convert floor"]["Ir"], result["convert convert"]["Ir"]
        print(f"  convert + validation (convert_bench's messages) {ir / 1e3:,.1f} k, {ir / own:.2f} floors of its "
              f"messages ({own / 1e3:,.1f} k)"
              + "".join(f"  {e} {result['convert convert'][e]:,.0f}" for e in MISSES if e in result["convert convert"]))
    for key, row in result.items():
        if not key.startswith("workers="):
            continue
        for part in ("all", "parent", "workers"):
            if part not in row:
                continue
            ir = row[part]["Ir"]
            misses = "".join(f"  {e} {row[part][e]:,.0f}" for e in extra if e in MISSES)
            print(f"  batch {key:10} {part:8} {ir / 1e3:9,.1f} k  {ir / floor:6.2f} floors{misses}")
        if key != "workers=0":
            low, high = (BUDGET_FLOORS / cost for cost in reversed(INSTRUCTION_COST))
            print(f"  two workers at 15% each: {BUDGET_FLOORS} floors of CPU a message, at {INSTRUCTION_COST[0]}-"
                  f"{INSTRUCTION_COST[1]}x the floor's cost an instruction {low:.1f}-{high:.1f} floors of "
                  f"instructions; all processes now {row['all']['Ir'] / floor:.2f}")

def compare(paths: list[Path]) -> None:
    results = [json.loads(path.read_text()) for path in paths]
    keys = [k for k in results[0] if (k in ("floor", "convert floor", "convert convert") or k.startswith("workers="))
            and all(k in r for r in results)]  # what every file counted (--workers, --no-convert may differ)
    for path, result in zip(paths, results, strict=True):
        print(f"{path.name}: {result.get('python', 'Python unrecorded')}")
    print("instructions a message (k)               " + "  ".join(f"{path.name:>14}" for path in paths) + "   change")
    for key in keys:
        flat = not key.startswith("workers=")
        parts = [""] if flat else [p for p in ("all", "parent", "workers") if p in results[0][key]]
        for part in parts:
            counts = [r[key] if flat else r[key][part] for r in results]
            values = [c["Ir"] for c in counts]
            change = values[-1] / values[0] - 1
            print(f"  {key:15} {part:8}           " + "  ".join(f"{v / 1e3:14,.1f}" for v in values)
                  + f"   {change:+.2%}")
            for event in (e for e in MISSES if all(e in c for c in counts)):  # --caches in every file
                misses = [c[event] for c in counts]
                moved = f"   {misses[-1] / misses[0] - 1:+.2%}" if misses[0] >= 100 else ""  # not of a handful
                print(f"    {event:5} misses a message            " + "  ".join(f"{m:14,.0f}" for m in misses) + moved)


def counting_arguments(description: str) -> argparse.ArgumentParser:
    """The arguments every count of two runs takes (this script's and stage_instructions.py's)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--tree", type=Path, default=HERE.parent, help="the checkout whose gateway is counted")
    parser.add_argument("--dir", type=Path, help="work folder, archives kept for the next tree (default: temporary)")
    parser.add_argument("--out", type=Path, help="where the counts go (JSON)")
    parser.add_argument("-n", "--count", type=int, default=1200, help="messages of the larger run")
    parser.add_argument("--base", type=int, default=200, help="messages of the smaller run")
    parser.add_argument("--compare", type=Path, nargs="+", help="print these counts side by side")
    return parser


def main() -> int:
    parser = counting_arguments(__doc__.splitlines()[0])
    parser.add_argument("--workers", default="0,2", help="worker counts, comma-separated (0: one process; '': none)")
    parser.add_argument("--caches", action="store_true", help="also simulate the caches (cachegrind --cache-sim)")
    parser.add_argument("--no-convert", action="store_true", help="leave out convert_bench's conversion")
    args = parser.parse_args()
    if args.compare:
        compare(args.compare)
        return 0
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind): the counts come from cachegrind")
    work = args.dir or Path(tempfile.mkdtemp(prefix="overstap-instructions-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = measure(args.tree.resolve(), work.resolve(), args.base, args.count,
                         [int(w) for w in args.workers.split(",") if w], args.caches, not args.no_convert)
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    report(result)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
