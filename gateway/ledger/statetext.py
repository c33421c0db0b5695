"""A zaak state as the ledger stores it: JSON text with sorted keys, written and read with orjson.

Why: the render writes a zaak's state once or more a message and reads it back on the next one; the
standard library's encoder cost ~16 µs a state (sorted keys), orjson ~1.6. Sorted keys keep one text
per state whoever wrote it. Ledgers written before hold ``json.dumps`` text (other spacing, ``\\u``
escapes): they read the same, and :func:`same_state` compares content, not spelling.
"""

from __future__ import annotations

from typing import Any

import orjson

_WRITE = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def dump_state(state: dict[str, Any]) -> str:
    """The state's stored text."""
    return orjson.dumps(state, option=_WRITE).decode("utf-8")


def load_state(text: str | bytes) -> dict[str, Any]:
    """A stored state, whichever encoder wrote it."""
    return orjson.loads(text)  # type: ignore[no-any-return]


def same_state(a: str, b: str) -> bool:
    """Two stored texts of the same state (one may predate orjson's spelling)."""
    return a == b or load_state(a) == load_state(b)
