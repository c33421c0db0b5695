"""A warm start: the set-up a conversion would otherwise do lazily at its first message, done before the sidecar
says ready, in each conversion worker and in the server process.

Lazily, the first message after a start (or after a worker was replaced) paid for what no later one pays: the
value guard's XSD reading and regex building with the elementpath import (~0.1-0.3 s, in the server process,
which renders against the zaak ledger), each mapping's generated walk at its first message of that kind, and the
EI record layouts at the first flat file (~0.15 s). Done here instead, a worker tells it is warm before it takes
work (:func:`warmth` is what it reports; tests/test_warm_start.py asks a real one).
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.ingest.ei import default_layouts
from gateway.mapping.rules import Compiled
from gateway.mapping.warm import prepare, prepared
from gateway.pipeline import Converter
from gateway.render import ggk_guard, guard


def _mappings(converters: Iterable[Converter]) -> list[Compiled]:
    """Every mapping a converter may pick (its own list, else the whole registry), each once."""
    seen: dict[int, Compiled] = {}
    for converter in converters:
        for mapping in converter.only or converter.registry.all():
            seen.setdefault(id(mapping), mapping)
    return list(seen.values())


def warm(converters: Iterable[Converter], *, mapping: bool = True, render: bool = True) -> None:
    """Do the lazy set-up of these converters now: ``mapping`` (each mapping's walk, the EI layouts when a mapping
    reads EI) for a process that maps, ``render`` (the value guards of the profiles in use) for one that renders."""
    converters = list(converters)
    if mapping:
        mappings = _mappings(converters)
        for found in mappings:
            prepare(found)
        if any(found.format == "ei" for found in mappings):
            default_layouts()
    if render:
        if any(c.guarded for c in converters):
            guard.prepare()
        if any(c.envelope_guarded for c in converters):
            ggk_guard.prepare()


def warmth(converters: Iterable[Converter], *, mapping: bool = True, render: bool = True) -> dict[str, int]:
    """What is still cold of what :func:`warm` does (all zeros once warm): what a worker reports when asked."""
    converters = list(converters)
    cold: dict[str, int] = {}
    if mapping:
        mappings = _mappings(converters)
        cold["walks"] = sum(not prepared(found) for found in mappings)
        reads_ei = any(found.format == "ei" for found in mappings)
        cold["ei_layouts"] = int(reads_ei and default_layouts.cache_info().currsize == 0)
    if render:
        cold["zkn_guard"] = guard.cold() if any(c.guarded for c in converters) else 0
        cold["ggk_guard"] = ggk_guard.cold() if any(c.envelope_guarded for c in converters) else 0
    return cold
