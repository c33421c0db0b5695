"""What a route's converter is built from, in the sidecar's server process and in its conversion workers alike.

The server reads the config (``ServeConfig``) and settles each route into :class:`RouteSettings`: the profile, the
mappings, its decision on validation, the render settings resolved. A worker is handed these plain (in
:class:`WorkerSettings`), never the config: the config module brings the server's imports (httpx, rich, the delivery
settings) into every worker's start (~0.1 s of CPU each, session 34). Nothing here imports the config at run time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree

from gateway.ledger.staged import ThrowawayLedger
from gateway.mapping import Registry
from gateway.pipeline import Converter
from gateway.render import RenderSettings
from gateway.render.schemas import SchemaUnavailable, schema

if TYPE_CHECKING:  # the server's: a worker is handed WorkerSettings and never imports the config module
    from .config import RouteConfig, ServeConfig


def schema_available(profile: str) -> bool:
    """Whether the official schema of ``profile`` loads: a route without ``validate:`` validates then."""
    try:
        schema(profile)
    except (SchemaUnavailable, OSError, etree.XMLSchemaParseError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class RouteSettings:
    """What a converter is built from: one route of the config, settled by the server process."""

    name: str
    profile: str
    mappings: tuple[str, ...]
    validate: bool | str
    """Decided by the server (a worker takes it rather than load the official schema, ~0.2 s, to decide again)."""
    render: RenderSettings
    """Defaults, the top-level ``render:`` block, the route's own and its ``ggk_versie``, applied."""


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """All a conversion worker is handed of the config, plain and small: the whole ``ServeConfig`` pulled the
    config module, and with it the server's (httpx, rich, the delivery settings), into each worker's start."""

    routes: tuple[RouteSettings, ...]
    max_body_bytes: int
    rendered_in_server: frozenset[str]
    """The routes whose outputs the server renders against the zaak ledger: a worker maps their messages only."""


def _validation(route: RouteConfig, validating: dict[str, bool | str] | None) -> bool | str:
    """``validating``'s decision for ``route`` (the server's, handed on), else the route's, else whether the
    official schema of its profile is there."""
    if validating is not None and route.name in validating:
        return validating[route.name]
    return schema_available(route.profile) if route.validate is None else route.validate


def route_settings(config: ServeConfig, route: RouteConfig, validate: bool | str) -> RouteSettings:
    """``route`` as a converter needs it; raises ConfigError on a bad ``render:`` block."""
    from .render_config import settings_of  # reads the config: the server's, never a worker's

    settings = settings_of(config, route)
    if route.ggk_versie:
        settings = replace(settings, ggk_versie=route.ggk_versie)
    return RouteSettings(route.name, route.profile, tuple(route.mappings), validate, settings)


def converter_of(route: RouteSettings, registry: Registry, max_bytes: int) -> Converter:
    """The converter of one route, in the server and in a worker alike; raises on a bad mapping."""
    return Converter(registry, profile=route.profile, mappings=list(route.mappings), validate=route.validate,
                     max_bytes=max_bytes, ledger=ThrowawayLedger(),  # the stateful step: ledgered.py
                     settings=route.render)


def build_converters(config: ServeConfig, registry: Registry,
                     validating: dict[str, bool | str] | None = None) -> dict[str, Converter]:
    """One converter per route, with the route's mappings, profile and validation; raises on a bad mapping.
    ``validating``: what the server process decided per route (as a worker is handed it in :class:`WorkerSettings`)."""
    from .config import ConfigError  # the server's: see the TYPE_CHECKING import

    converters: dict[str, Converter] = {}
    for route in config.routes.values():
        validate = _validation(route, validating)
        try:
            converters[route.name] = converter_of(route_settings(config, route, validate), registry,
                                                  config.max_body_bytes)
        except SchemaUnavailable as exc:
            raise ConfigError(f"routes.{route.name}.validate: {exc}") from None
        except ValueError as exc:
            raise ConfigError(f"routes.{route.name}: {exc}") from None
    return converters


def worker_settings(config: ServeConfig, validating: dict[str, bool | str]) -> WorkerSettings:
    """What a conversion worker is handed of ``config``, with the server's decision on validation."""
    routes = tuple(route_settings(config, route, _validation(route, validating)) for route in config.routes.values())
    return WorkerSettings(routes, config.max_body_bytes, frozenset(rendered_in_server(config)))


STATEFUL_MODES = ("translate", "shadow")
"""Route modes whose outputs reach a receiver: with the zaak ledger on, the server process renders them."""


def rendered_in_server(config: ServeConfig) -> set[str]:
    """The routes whose outputs the server process renders (against the zaak ledger, gateway/proxy/ledgered.py);
    a worker maps their messages only, and converts the others whole."""
    return {name for name, route in config.routes.items() if config.ledger and route.mode in STATEFUL_MODES}


def mapping_files(config: ServeConfig) -> list[Path]:
    """Mapping files named in the config (top level and per route) besides the discovered folders."""
    files = [Path(m) for m in config.mappings]
    for route in config.routes.values():
        files += [Path(m) for m in route.mappings if m.endswith((".yaml", ".yml"))]
    return files
