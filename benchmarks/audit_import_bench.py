"""Peak memory and wall time of ``overstap console import-audit`` over an audit file of N entries: what an operator
needs to know before importing a large replica's file (docs/console.md, *Importing an old audit file*).

    .venv/bin/python benchmarks/audit_import_bench.py [-n 200000 -n 1000000] [--store URL] [--root CHECKOUT]

Writes a file of N distinct entries as the console wrote them (one sorted JSON object a line, about 150 bytes),
then runs the CLI in its own process against an empty database (brought to head by ``store migrate``; a PostgreSQL
server started for the run unless ``--store`` names a server's URL) and reads that child's own peak RSS
(``os.wait4``). ``--root``: the checkout whose CLI runs (another worktree, to compare a release). Not a test:
numbers vary by machine and load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def write_file(path: Path, n: int) -> None:
    """``n`` distinct entries, a second apart, in time order (as one replica's console wrote them)."""
    start = 1_764_489_600  # 2025-11-30T08:00:00Z
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            when = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(start + i))
            f.write(json.dumps({"action": "view_payload", "message_id": i, "time": when, "user": "anna"},
                               sort_keys=True) + "\n")


def run(root: Path, store: str, path: Path) -> tuple[float, float, str]:
    """One import in a child process: wall seconds, the child's peak RSS in MiB, its report."""
    cli = [sys.executable, "-c", "from gateway.cli import main; main()"]
    env = {**os.environ, "PYTHONPATH": str(root)}
    subprocess.run([*cli, "store", "migrate", "--store", store], cwd=root, capture_output=True, env=env, check=True)
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        child = subprocess.Popen([*cli, "console", "import-audit", "--file", str(path), "--store", store], cwd=root,
                                 stdout=out, stderr=subprocess.STDOUT, text=True, env=env)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage, not the largest of all children
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        out.seek(0)
        said = out.read()
    if child.returncode:
        raise SystemExit(f"import-audit exited {child.returncode}: {said[-500:]}")
    return wall, usage.ru_maxrss / 1024, said.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, action="append", help="entries in the file (repeat: several runs)")
    parser.add_argument("--store", help="a PostgreSQL server's URL (a database per run is made on it)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose CLI runs")
    args = parser.parse_args()
    sizes = args.n or [200_000, 1_000_000]
    import pg_helpers

    with tempfile.TemporaryDirectory() as folder:
        if args.store:
            _measure(args.store, args.root, Path(folder), sizes)
        else:
            with pg_helpers.postgres_server() as url:
                _measure(url, args.root, Path(folder), sizes)


def _measure(server: str, root: Path, folder: Path, sizes: list[int]) -> None:
    import pg_helpers

    for n in sizes:
        path = folder / f"audit-{n}.jsonl"
        write_file(path, n)
        store = pg_helpers.fresh_database(server, f"bench_audit_{n}")
        wall, peak, said = run(root, store, path)
        print(f"{n:>10,} entries ({path.stat().st_size / 2**20:.0f} MiB): {wall:7.1f} s, peak RSS {peak:6.1f} MiB"
              f"  [{said[:80]}]", flush=True)


if __name__ == "__main__":
    main()
