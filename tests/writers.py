"""The two zakLk01 writers, for tests that must hold for each: the native creeerZaak writer
(``render/_zkn_native.pyx``, where built) and the Python writer (``render/zkn_writer.py``).

:func:`checked` is the native writer with every call checked against the Python one: the same bytes, or
the same exception with the same message. Tests that write through it compare the two on every shape and
every generated value they write.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from gateway.render import writers, zkn, zkn_writer

WRITERS = ["native", "python"]


def built() -> bool:
    return writers.native is not None


def require_native() -> None:
    """Skip where the native writer is not built (never in CI, which builds it and tests both writers)."""
    if not built():
        if os.environ.get("CI"):
            pytest.fail(f"the native writer is {writers.MISSING}: CI tests both writers")
        pytest.skip(f"the native writer is {writers.MISSING}; the Python writer is tested")


def _outcome(write: Any, args: tuple[Any, ...], kw: dict[str, Any]) -> tuple[Any, ...]:
    try:
        return ("written", write(*args, **kw), None)
    except Exception as exc:  # compared below, then raised again
        return ("raised", f"{type(exc).__name__}: {exc}", exc)


def checked(*args: Any, **kw: Any) -> bytes:
    """``writers.native.write(*args)``, asserted equal to ``zkn_writer.write(*args)`` (bytes or error). The native
    writer goes first, so its own path fills the memos of heads, blocks and extraElementen."""
    assert writers.native is not None
    native = _outcome(writers.native.write, args, kw)
    python = _outcome(zkn_writer.write, args, kw)
    assert native[:2] == python[:2]
    if native[2] is not None:
        raise native[2]
    return native[1]  # type: ignore[no-any-return]


def use_writer(writer: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make the zkn profile write with ``writer`` (the native one checked against Python); return that write."""
    if writer == "native":
        require_native()
        monkeypatch.setattr(zkn, "write", checked)
        return checked
    monkeypatch.setattr(zkn, "write", zkn_writer.write)
    return zkn_writer.write
