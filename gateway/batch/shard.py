"""Deterministic partitions of the input (``--shard I/N``) so one archive can run as N parallel jobs.

A member belongs to shard ``hash(key) mod N``, with a hash that is the same on every machine and
Python version (not ``hash()``, which is salted per process). Because the key names the member and
not its position, the union of the N shards is exactly the single run.

Shards that share one zaak ledger (``--state postgresql://…``) split by client instead (:meth:`Shard.owns_client`):
the messages of a zaak must reach the ledger in input order, which only one process can promise, and every
message of a zaak names its client. Each shard therefore maps every member (to learn the client) and renders its own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.model import Bericht


@dataclass(frozen=True, slots=True)
class Shard:
    """The ``index``-th (0-based, like a Kubernetes completion index) of ``count`` partitions."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            index_text, count_text = text.split("/")
            index, count = int(index_text), int(count_text)
        except ValueError:
            raise ValueError(f"--shard wants I/N with whole numbers, e.g. 0/4; got {text!r}") from None
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"--shard {text}: need N >= 1 and 0 <= I < N (I counts from 0)")
        return cls(index, count)

    def owns(self, key: str) -> bool:
        if self.count == 1:
            return True
        digest = hashlib.blake2b(key.encode("utf-8", errors="surrogateescape"), digest_size=8).digest()
        return int.from_bytes(digest, "big") % self.count == self.index

    def owns_client(self, key: str, bericht: Bericht) -> bool:
        """Whether this shard renders mapped member ``key``: by its first client's BSN, so all zaken of one client
        (a toewijzing, its start and stop, the aanvraag it answers) live in one shard; by name without a BSN.
        The BSN is only hashed, never kept or shown. A message with several clients goes with its first."""
        bsn = next((client.bsn for client in bericht.clients if client.bsn), None)
        return self.owns(f"client:{bsn}" if bsn else key)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
