"""A mapping's generated walk made before its first message, not at it: a sidecar's warm start
(:mod:`gateway.proxy.warming`) makes every walk before it says ready, and checks they are made."""

from __future__ import annotations

from . import walkgen
from .engine import _HELPERS, _interpreted
from .rules import Compiled
from .walkgen import walker_of


def prepare(mapping: Compiled) -> bool:
    """Make ``mapping``'s generated walk now, not at its first message (a sidecar's warm start); whether it has one."""
    if mapping.plan is None or mapping.abstract or mapping.refuse is not None:
        return False
    walker_of(mapping.plan, _HELPERS, _interpreted)
    return True


def prepared(mapping: Compiled) -> bool:
    """Whether ``mapping``'s generated walk for this process's walk kind is made (a refusing mapping needs none)."""
    if mapping.plan is None or mapping.abstract or mapping.refuse is not None:
        return True
    walkers = mapping.plan.walker
    return walkers is not None and walkers[walkgen.NATIVE] is not None
