"""Unmapped input as the sidecar carries and keeps it: which source paths on which lines no mapping rule used.

Why: the project promises that nothing a vendor sends is silently dropped. The mapping engine finds the values
no rule read (gateway/mapping/unmapped.py); the sidecar carries them from the conversion (a worker process, over
a pipe) to its log, its metrics and the message's row in the outbox, where the console and ``overstap outbox``
show them. Only paths and line numbers travel and are kept, never a value: a value may be a BSN, a name or care
data. A message with thousands of them keeps the count and the first :data:`MAX_LISTED`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only named: ``outbox show`` decodes what is kept without the mapping machinery (~0.3 s)
    from gateway.mapping import Unmapped

MAX_LISTED = 50
"""Paths listed (carried, logged, stored) per message; the count covers the rest."""

Spot = tuple[str, int | None]
"""(path, line) of one value no rule used."""


@dataclass(frozen=True, slots=True)
class UnmappedInput:
    """How many source values of one message no rule used, and where the first :data:`MAX_LISTED` are."""

    count: int
    spots: tuple[Spot, ...]

    @classmethod
    def of(cls, found: Sequence[Unmapped]) -> UnmappedInput | None:
        """The unmapped input of a conversion; None when there is none (the usual case: nothing to carry)."""
        if not found:
            return None
        return cls(len(found), tuple((u.path, u.line) for u in found[:MAX_LISTED]))

    def encode(self) -> str:
        """As the outbox keeps it (``message.unmapped``): JSON of the count and the (path, line) pairs."""
        return json.dumps({"count": self.count, "spots": [list(s) for s in self.spots]}, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str | None) -> UnmappedInput | None:
        """What :meth:`encode` stored; None for a message without unmapped input (or stored before it was kept)."""
        if not text:
            return None
        doc = json.loads(text)
        return cls(int(doc["count"]), tuple((str(p), None if n is None else int(n)) for p, n in doc["spots"]))

    @property
    def left_out(self) -> int:
        """Values counted but not listed."""
        return self.count - len(self.spots)

    def lines(self) -> list[str]:
        """One ``path (line N)`` a spot, then ``and N more`` for those not listed."""
        out = [f"{path} (line {line})" if line else path for path, line in self.spots]
        if self.left_out:
            out.append(f"and {self.left_out} more")
        return out
