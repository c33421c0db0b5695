"""What one spawned conversion worker of the sidecar costs to start: its CPU seconds until it says ready, the
modules it imported, and (``--importtime``) Python's ``-X importtime`` log of its start.

    .venv/bin/python benchmarks/worker_start.py [--starts 5] [--importtime FILE] [--tree DIR]

A sidecar's configuration of the flag form (``overstap serve --downstream``) is built as ``Gateway`` builds it, and
one worker at a time is started with the real pool (spawn context, pickled hand-over, ``_init_worker``, warm
start); once ready it is asked for its ``time.process_time()`` and ``sys.modules``. ``--tree`` names the checkout
whose gateway package is used (its child runs as ``-c`` there, so a worker imports no script as its main); set
``OVERSTAP_REFERENCE_DIR`` when comparing trees, or a tree away from ``shared/`` validates nothing.
Not a test: it measures, on whatever else the machine runs; compare trees alternately and take medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

SERVER_SIDE = ("gateway.proxy.config", "gateway.proxy.ledgered", "gateway.deliver.forwarder", "httpx", "rich",
               "prometheus_client", "fastapi", "starlette", "uvicorn", "click", "yaml")
"""Modules a worker is asked about by name: the config object's and the server's."""

_CHILD = """
import asyncio, json, os, sys, tempfile
from pathlib import Path

ASK = "(__import__('time').process_time(), sorted(__import__('sys').modules))"  # eval: a builtin, no module


async def main(starts, importtime, data):
    from gateway.proxy.config import quick
    from gateway.proxy.converting import _init_worker
    from gateway.proxy.service import Gateway
    from gateway.proxy.workers import WorkerPool

    args = Gateway(quick(downstream="http://127.0.0.1:9/zs", data_dir=data)).conversion._init_args()
    if importtime:  # read by each spawned worker at its start; this process's own imports are done
        os.environ["PYTHONPROFILEIMPORTTIME"] = "1"
        os.dup2(os.open(importtime, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
    out = []
    for _ in range(starts):
        pool = WorkerPool(1, _init_worker, args)
        await pool.start()
        cpu, modules = await pool.run(eval, ASK)
        await pool.aclose()
        out.append({"cpu": cpu, "modules": modules})
    print(json.dumps(out))


with tempfile.TemporaryDirectory(prefix="overstap-worker-start-") as data:
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], Path(data)))
"""


def measure(tree: Path, starts: int, importtime: str) -> list[dict[str, object]]:
    """``starts`` worker starts of ``tree``'s gateway, one after another, in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    done = subprocess.run([sys.executable, "-c", _CHILD, str(starts), importtime], cwd=tree, env=env,
                          capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode(errors="replace")[-3000:])
    return json.loads(done.stdout.decode().strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--importtime", default="", help="write the last worker's -X importtime log here")
    args = parser.parse_args()
    importtime = str(Path(args.importtime).resolve()) if args.importtime else ""
    runs = measure(args.tree.resolve(), args.starts, importtime)
    cpus = [float(run["cpu"]) for run in runs]  # type: ignore[arg-type]
    modules = set(runs[-1]["modules"])  # type: ignore[call-overload]
    print(f"{args.tree}: worker start CPU s " + " ".join(f"{c:.2f}" for c in cpus)
          + f"; median {statistics.median(cpus):.3f}; {len(modules)} modules; load {os.getloadavg()[0]:.2f}")
    print("  of them: " + ", ".join(f"{name} {'yes' if name in modules else 'no'}" for name in SERVER_SIDE))


if __name__ == "__main__":
    main()
