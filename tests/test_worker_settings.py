"""A sidecar conversion worker is handed plain :class:`WorkerSettings`, not the whole ``ServeConfig``
(gateway/proxy/route_settings.py): its converters must be built as the server's own, render settings included, and it
must convert as they do. Asked of a real spawned worker; that it imports no server module is
tests/test_warm_start.py's (tests/warm_probe.py)."""

from __future__ import annotations

import asyncio
import pickle
from pathlib import Path
from typing import Any

from gateway.mapping import Registry
from gateway.proxy.config_file import from_dict
from gateway.proxy.converting import ConversionPool
from gateway.proxy.route_settings import WorkerSettings, build_converters, worker_settings
from gateway.reference import reference_dir

RENDER = {"zender": {"organisatie": "0363", "applicatie": "TOPZENDER"}, "omschrijving": "Top {Wet} {client}"}


def _config(tmp_path: Path) -> Any:
    """Two routes with render settings of their own over the top level's, one GGk with a payload version; no
    ledger, so a worker renders every route itself."""
    return from_dict({"data_dir": str(tmp_path), "convert_processes": 1, "ledger": "none", "render": RENDER,
                      "downstreams": {"zs": "http://127.0.0.1:9"},
                      "routes": {"default": {"downstream": "zs", "validate": False,
                                             "render": {"ontvanger": {"organisatie": "0363",
                                                                      "applicatie": "ROUTEZS"}}},
                                 "ggk": {"downstream": "zs", "profile": "ggk", "ggk_versie": "2.1",
                                         "mappings": ["iwmo20-wmo301"]}}}, tmp_path)


def test_the_settings_a_worker_is_handed_are_plain_and_resolved(tmp_path: Path) -> None:
    config = _config(tmp_path)
    settings = worker_settings(config, {"default": False, "ggk": True})
    assert isinstance(settings, WorkerSettings) and pickle.loads(pickle.dumps(settings)) == settings
    default, ggk = settings.routes
    assert (default.name, default.profile, default.validate, ggk.validate) == ("default", "zkn", False, True)
    assert default.render.zender.applicatie == "TOPZENDER" and default.render.ontvanger.applicatie == "ROUTEZS"
    assert default.render.omschrijving == "Top {Wet} {client}" and default.render.ggk_versie is None
    assert ggk.render.ggk_versie == "2.1" and ggk.mappings == ("iwmo20-wmo301",)
    assert settings.rendered_in_server == frozenset() and settings.max_body_bytes == config.max_body_bytes
    config.ledger = True  # with the ledger the server renders both (translate) routes; the worker maps them
    assert worker_settings(config, {}).rendered_in_server == {"default", "ggk"}


def test_a_workers_converters_are_the_servers_and_convert_alike(tmp_path: Path) -> None:
    from worker_tasks import converters

    config = _config(tmp_path)
    registry = Registry()  # the default folders: a worker compiles the same
    server = build_converters(config, registry)
    body = (reference_dir() / "samples" / "iwmo20-xml" / "CasusA-02-WMO301_toewijzing.xml").read_bytes()

    async def main() -> tuple[Any, Any]:
        pool = ConversionPool(config, registry, server, 1)
        await pool.start()
        try:
            return await pool.pool.run(converters), await pool.convert("default", "default", body)  # type: ignore[union-attr]
        finally:
            await pool.shutdown()

    built, converted = asyncio.run(asyncio.wait_for(main(), 120))
    assert built == {name: (c.profile, [m.name for m in c.only], c.validate, c.max_bytes, c.settings)
                     for name, c in server.items()}
    assert built["ggk"][4].ggk_versie == "2.1"
    assert converted.failure is None and converted.outputs
    xml = converted.outputs[0].xml
    assert b"TOPZENDER" in xml and b"ROUTEZS" in xml and b"Top Wmo " in xml
