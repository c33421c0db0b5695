"""A warm start (gateway/proxy/warming.py): the sidecar says ready only once its conversion workers and its own
process have done the lazy set-up a first message would otherwise pay for, and a worker that replaces one that
died, or a reload's, takes work warm. Asked of real processes: a fresh interpreter runs tests/warm_probe.py,
whose spawned workers answer what is still cold in them; no timing is measured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.reference import ENV, available, reference_dir

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def _probe(processes: int, tmp_path: Path) -> dict[str, Any]:
    if not available():
        pytest.skip(f"the official schemas are not at {reference_dir()} (set {ENV}): no value guard to warm")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(TESTS / "warm_probe.py"), str(processes), str(tmp_path)], cwd=ROOT,
                          env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    return json.loads(done.stdout.decode().strip().splitlines()[-1])  # type: ignore[no-any-return]


def _cold(found: dict[str, int]) -> dict[str, int]:
    return {key: value for key, value in found.items() if value}


def test_workers_and_the_server_are_warm_when_the_sidecar_is_ready(tmp_path: Path) -> None:
    seen = _probe(1, tmp_path)
    # Cold before: the server renders the zkn and GGk routes against the ledger, and nothing compiled them yet
    # (GGk: 12 places in each of the two envelopes, and the Du01's crossRefnummer).
    assert seen["server_before"]["zkn_guard"] > 100 and seen["server_before"]["ggk_guard"] == 25
    assert seen["server"] == {"zkn_guard": 0, "ggk_guard": 0}
    pid, worker = seen["worker"]
    assert worker == {"walks": 0, "ei_layouts": 0, "zkn_guard": 0, "ggk_guard": 0}  # maps all, renders passthrough
    # Its first message on the ledger's route imports nothing: the task's module was imported before ready, and it
    # is not the server's half (before session 34 that one, with prometheus_client, came in at the first: ~25 ms).
    assert seen["first_message"] == {"status": 200, "imported": [], "server_side": []}
    # Handed plain WorkerSettings, not the ServeConfig: no worker, first, replacement or reload's, imports the config
    # module and what it pulled in (httpx, rich: ~0.08 s of CPU at each worker start before session 34).
    assert seen["server_side"] == {"ready": [], "replaced": [], "reloaded": []}
    replaced_pid, replaced = seen["replaced"]
    assert replaced_pid != pid and _cold(replaced) == {}  # the replacement's first task finds it warm already
    assert seen["reload_errors"] == []
    reloaded_pid, reloaded = seen["worker_reloaded"]
    assert reloaded_pid not in (pid, replaced_pid) and _cold(reloaded) == {}
    assert _cold(seen["server_reloaded"]) == {}


def test_with_conversion_threads_the_server_warms_everything_and_again_after_a_reload(tmp_path: Path) -> None:
    seen = _probe(0, tmp_path)
    assert seen["server_before"]["walks"] > 10 and seen["server_before"]["ei_layouts"] == 1
    assert seen["server"] == {"walks": 0, "ei_layouts": 0, "zkn_guard": 0, "ggk_guard": 0}
    assert seen["reload_errors"] == []
    assert seen["server_reloaded"] == {"walks": 0, "ei_layouts": 0, "zkn_guard": 0, "ggk_guard": 0}


def test_a_worker_takes_the_servers_validation_instead_of_loading_the_schema_to_decide(tmp_path: Path) -> None:
    """A route without ``validate:`` validates when the official schemas are there: the server process decides
    (loading the zkn XSD with lxml, ~0.2 s) and hands its decision to the workers, which convert as it logs and
    /readyz shows. Here it decided "off" though the schemas are there: a worker deciding again would say on."""
    if not available():
        pytest.skip(f"the official schemas are not at {reference_dir()} (set {ENV})")
    import asyncio

    from worker_tasks import validating

    from gateway.mapping import Registry
    from gateway.proxy.config_file import from_dict
    from gateway.proxy.converting import ConversionPool, build_converters

    config = from_dict({"data_dir": str(tmp_path), "convert_processes": 1, "downstreams": {"zs": "http://127.0.0.1:9"},
                        "routes": {"default": {"downstream": "zs"}, "shown": {"downstream": "zs"}}}, tmp_path)
    registry = Registry(dirs=[], files=[])
    converters = build_converters(config, registry, {"default": False})
    assert converters["default"].validate is False and converters["shown"].validate is True

    async def main() -> object:
        pool = ConversionPool(config, registry, converters, 1)
        await pool.start()
        try:
            return await pool.pool.run(validating)  # type: ignore[union-attr]
        finally:
            await pool.shutdown()

    assert asyncio.run(asyncio.wait_for(main(), 120)) == ({"default": False, "shown": True}, 0)


def test_a_mappings_walk_is_made_by_prepare_and_seen_as_made_only_then() -> None:
    """``prepared`` is what the probe counts as cold walks: it must say False for a walk not yet made."""
    from gateway.mapping import Registry
    from gateway.mapping.warm import prepare, prepared

    mappings = [m for m in Registry().all() if m.plan is not None and not m.abstract and m.refuse is None]
    assert mappings, "the default mappings have walks to make"
    cold = mappings[0]
    assert not prepared(cold)  # a fresh registry: nothing converted, nothing made
    assert prepare(cold) is True
    assert prepared(cold)
    assert not prepared(mappings[1])  # made one by one, not all at once
