"""Conversions that render against a given ledger, one route's mappings each: for the operator commands that convert
a stored message again (``replay --quarantined`` and ``outbox reconvert`` from the CLI, ``POST /admin/reconvert``).

Why a module of its own: the CLI and the sidecar build the same thing (the configuration's converters, each route's
``match_route``, its targets that take one order), and the sidecar's own converters must not be bound to another
ledger (theirs render through the staged step, gateway/proxy/ledgered.py).
"""

from __future__ import annotations

from collections.abc import Callable, Container
from typing import Any

from gateway.mapping import ConversionError, Registry
from gateway.pipeline import Conversion

from .config import ServeConfig
from .converting import build_converters

Convert = Callable[[str, bytes], Conversion]


def ledger_converting(config: ServeConfig, registry: Registry) -> tuple[Callable[[Any], Convert],
                                                                      dict[str, Container[str]]]:
    """(ledger -> convert(route, original bytes)), and each route's targets that take one order (``order:
    created``), so what is converted is planned as the sidecar plans an arrival. The converters are built once;
    binding a ledger sets theirs."""
    converters = build_converters(config, registry)
    routes = {name: r.match_route or name for name, r in config.routes.items()}

    def bind(ledger: Any) -> Convert:
        for converter in converters.values():
            converter.ledger = ledger

        def convert(route: str, original: bytes) -> Conversion:
            if route not in converters:
                raise ConversionError(f"route {route!r} is not in the config any more", field="route")
            return converters[route].convert(original, route, route=routes[route])

        return convert

    return bind, {name: r.in_order for name, r in config.routes.items()}
