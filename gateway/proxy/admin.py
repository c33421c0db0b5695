"""The body of ``POST /admin/replay``, checked whole before anything is replayed.

``{"ids": [1e400]}`` and ``{"ids": [10**30]}`` were answered 500 (the float overflowed ``int()``, the integer SQLite's
64-bit INTEGER), and ``{"ids": "12"}`` was read character by character: deliveries 1 and 2 went out again (review of
the sidecar, finding 4). Now ``ids`` must be a list of JSON integers (no booleans, strings or fractions) within
SQLite's range, at most :data:`MAX_REPLAY_IDS` of them, and anything else is a 400 that says what is expected,
without echoing the value (a string where an id belongs may be a BSN). An id named twice is replayed once: each
copy of a quarantined message's id converted it again, so 100,000 copies of one 24 MB message (a script that
appended) held a conversion thread for some 30 hours (session 24's review: 5 copies, 5.3 s).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from gateway.deliver.replay import ID_RANGE

MAX_REPLAY_IDS = 100_000
"""Ids one request may name: a bound on the work and the answer (replay them in several requests, or use
``overstap outbox replay --all-dead``)."""
MAX_REPLAY_BODY = 4 * 1024 * 1024
"""Bytes of a replay request read at most: :data:`MAX_REPLAY_IDS` ids of 20 digits and their commas fit."""
EXPECTED = 'expected JSON {"ids": [1, 2], "quarantined": false, "force": false}'
_KEYS = frozenset({"ids", "quarantined", "force"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")


class BadReplay(ValueError):
    """A replay request that cannot be carried out as written; the message says what is expected."""


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    ids: list[int]
    """Each once, in the order first named."""
    quarantined: bool = False
    force: bool = False
    """Send delivered deliveries again too (gateway/deliver/replay.py says why they are refused without it)."""


def _kind(value: Any) -> str:
    """What a value is, told without the value."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "an integer beyond SQLite's 64-bit range"
    if isinstance(value, float):
        return "a number with a fraction or exponent"
    return {str: "a string", list: "a list", dict: "an object"}.get(type(value), "null")


def parse_replay(raw: bytes) -> ReplayRequest:
    """The replay asked for, or :class:`BadReplay` saying what is wrong with it."""
    try:
        doc = json.loads(raw or b"{}")
    except (ValueError, RecursionError):
        raise BadReplay(f"not JSON: {EXPECTED}") from None
    if not isinstance(doc, dict):
        raise BadReplay(f"not a JSON object: {EXPECTED}")
    unknown = sorted(set(doc) - _KEYS)
    if unknown:  # a key is named when it looks like one (a typo), never a value that landed there
        named = [repr(k) if _NAME.fullmatch(k) else "(not a name)" for k in unknown[:5]]
        raise BadReplay(f"unknown key(s) {', '.join(named)}: {EXPECTED}")
    ids = doc.get("ids", [])
    if not isinstance(ids, list):
        raise BadReplay(f'"ids" is {_kind(ids)}, not a list of integers: {EXPECTED}')
    if len(ids) > MAX_REPLAY_IDS:
        raise BadReplay(f'"ids" names {len(ids):,} ids: at most {MAX_REPLAY_IDS:,} in one request')
    low, high = ID_RANGE
    for n, value in enumerate(ids):
        if type(value) is not int or not low <= value <= high:
            raise BadReplay(f'"ids"[{n}] is {_kind(value)}: each id must be an integer from {low} to {high}')
    flags = [doc.get(name, False) for name in ("quarantined", "force")]
    for name, flag in zip(("quarantined", "force"), flags, strict=True):
        if not isinstance(flag, bool):
            raise BadReplay(f'"{name}" is {_kind(flag)}, not true or false')
    return ReplayRequest(list(dict.fromkeys(ids)), *flags)
