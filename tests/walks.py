"""The three untraced runs of a mapping's plan, for tests that must hold for each: the native trie walk
(``mapping/_native.pyx``, where built), the generated Python walk (``mapping/walkgen.py``) and the
interpreted reference (``engine._exec``)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from gateway.mapping import Compiled, engine, walkgen
from gateway.mapping.errors import ConversionError
from gateway.mapping.result import MapState

WALKS = ["native", "generated", "interpreted"]


def built() -> bool:
    return walkgen._native is not None


def use_walk(walk: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make untraced runs take ``walk``; skip the native one where it is not built (never in CI)."""
    if walk == "native" and not built():
        if os.environ.get("CI"):
            pytest.fail(f"the native walk is {walkgen.NATIVE_MISSING}: CI tests both walks")
        pytest.skip(f"the native walk is {walkgen.NATIVE_MISSING}; the generated walk is tested")
    monkeypatch.setattr(walkgen, "NATIVE", walk == "native")
    monkeypatch.setattr(engine, "GENERATED", walk != "interpreted")


def run_walk(mapping: Compiled, root: Any, track: bool, generated: bool, native: bool = False) -> tuple[Any, ...]:
    """One untraced run on a fresh state: what it stored and noted, or the exception it raised (generated:
    walkgen's run, native or Python by ``native``; else the interpreted reference). The native walk's own
    record (node pointers) is handed over as proxies; the spots of comments and processing instructions, which
    the Python walks note and no check looks at, are left out."""
    st = MapState("msg", False, track, mapping.strictness == "lenient")
    data: dict[str, Any] = {}
    was = walkgen.NATIVE
    walkgen.NATIVE = native
    try:
        if generated:
            walkgen.walker_of(mapping.plan, engine._HELPERS, engine._interpreted)(root, data, "", st)  # type: ignore[arg-type]
        else:
            engine._exec(mapping.plan, root, data, "", st)  # type: ignore[arg-type]
        failure = None
    except (engine._Ambiguous, ConversionError) as exc:
        failure = (type(exc).__name__, str(exc))
    finally:
        walkgen.NATIVE = was
    if st.native is not None:
        st.native.materialise(st.consumed, st.spots)
    where = root.getroottree().getpath
    return (failure, data, [where(e) for e in st.spots if isinstance(e.tag, str)],
            sorted(where(e) for e in st.consumed), st.groups,
            sorted((where(e), name) for e, name in st.attrs), [repr(w) for w in st.warnings],
            [str(e) for e in st.errors], st.failed)
