"""Deep equality with the types held too: what crossed the pipe between batch workers and parent arrived as it left.

Why: JSON has no tuples; a list for a tuple compares unequal to a stored state in one place and equal in another,
so ``==`` alone would pass a hand-over that changes what planning later sees.
"""

from __future__ import annotations

from typing import Any


def same_shape(a: Any, b: Any, where: str = "") -> None:
    """Equal, and of the same types all the way down (dict keys in order, slots objects field by field)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} became {type(b).__name__}"
    if isinstance(a, dict):
        assert list(a) == list(b), where
        for key in a:
            same_shape(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            same_shape(x, y, f"{where}[{n}]")
    elif hasattr(a, "__slots__") and not isinstance(a, (str, bytes)):
        for name in a.__slots__:
            same_shape(getattr(a, name), getattr(b, name), f"{where}.{name}")
    else:
        assert a == b, where
