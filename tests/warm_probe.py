"""Run by tests/test_warm_start.py in a fresh interpreter (so nothing another test did has warmed it): starts a
real sidecar (:class:`Gateway`, spawned conversion workers unless ``processes`` is 0) and prints, as JSON, what
was cold before the start, and what is cold right after it, in the server process and in a worker, after the only
worker was killed and replaced, and after a reload. ``python tests/warm_probe.py PROCESSES DATA_DIR``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any


def config(processes: int, data: Path) -> Any:
    """Three routes: one the server renders (zkn, against the ledger), one GGk route it renders too, and a
    passthrough route the worker converts whole (so a worker has a value guard to warm)."""
    from gateway.proxy.config_file import from_dict

    zs = {"url": "http://127.0.0.1:9/zs"}
    return from_dict({"data_dir": str(data), "convert_processes": processes, "watch_mappings": False,
                      "downstreams": {"zs": zs, "legacy": zs},
                      "routes": {"default": {"downstream": "zs"},
                                 "ggk": {"downstream": "zs", "profile": "ggk"},
                                 "legacy": {"mode": "passthrough", "legacy_downstream": "legacy"}}}, data)


SERVER_SIDE = ("gateway.proxy.ledgered", "prometheus_client", "gateway.proxy.config", "gateway.proxy.render_config",
               "gateway.deliver.settled_writes", "httpx", "rich", "fastapi", "starlette", "uvicorn")
"""The server's modules, none of which a worker imports: the ledger stage's half (session 34: ~25 ms of the first
message), and what the whole ``ServeConfig`` handed over pulled in (session 34: ~0.08 s of each worker start)."""


async def server_side(pool: Any) -> list[str]:
    """Which of :data:`SERVER_SIDE` the worker has imported."""
    from worker_tasks import modules

    imported = set(await pool.run(modules))
    return [name for name in SERVER_SIDE if name in imported]


async def first_message(gw: Any, pool: Any, data: Path) -> dict[str, Any]:
    """The answer to the first message after the start, on the route rendered against the ledger (the worker maps
    it), and the modules the worker imported for it: none, when the ledger stage's task was imported warm."""
    from worker_tasks import modules

    from gateway.reference import reference_dir

    before = await pool.run(modules)
    body = (reference_dir() / "samples" / "iwmo20-xml" / "CasusA-02-WMO301_toewijzing.xml").read_bytes()
    answer = await gw.receive(None, body, {"content-type": "text/xml"})
    after = await pool.run(modules)
    return {"status": answer.status, "imported": sorted(set(after) - set(before)),
            "server_side": [name for name in SERVER_SIDE if name in after]}


async def probe(processes: int, data: Path) -> dict[str, Any]:
    from worker_tasks import warmth

    from gateway.proxy.service import Gateway

    gw = Gateway(config(processes, data))
    seen: dict[str, Any] = {"server_before": gw.conversion.server_warmth()}
    await gw.start()
    try:
        seen["server"] = gw.conversion.server_warmth()
        pool = gw.conversion.pool
        if pool is not None:
            seen["worker"] = await pool.run(warmth)
            seen["server_side"] = {"ready": await server_side(pool)}
            seen["first_message"] = await first_message(gw, pool, data)
            os.kill(seen["worker"][0], signal.SIGKILL)  # its replacement answers: it must take work warm too
            seen["replaced"] = await pool.run(warmth)
            seen["server_side"]["replaced"] = await server_side(pool)
        seen["reload_errors"] = await gw.reload()
        seen["server_reloaded"] = gw.conversion.server_warmth()
        if pool is not None:
            seen["worker_reloaded"] = await pool.run(warmth)
            seen["server_side"]["reloaded"] = await server_side(pool)
    finally:
        await gw.stop()
    return seen


if __name__ == "__main__":
    print(json.dumps(asyncio.run(probe(int(sys.argv[1]), Path(sys.argv[2])))))
