"""``overstap outbox replay`` of a GGk envelope the chain holds: stamped anew from the zaak ledger, or refused.

A delivery the chain refused in a Fo01 (or took, for ``--force``) goes in a new envelope whose tijdstipBericht is
the zender's next from the ledger's counter (gateway/deliver/restamp.py). On PostgreSQL the command takes it as a
replica does (the store's atomic counter). On SQLite a serving sidecar stamps envelopes ahead of its commits
(gateway/ledger/staged.py): a value read from the file beside it could equal one it is about to commit, and StUF019
asks strictly increasing. So there such a delivery is refused with the way through the sidecar, and the rest of the
replay goes on; with no sidecar serving, the file is held for the rest of the command and the value taken from it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from typing import Any

from gateway.deliver.replay import Prepared, Replayed, needs_stamp, stamp
from gateway.deliver.serving import SidecarServing, alone
from gateway.deliver.store import SqliteStore, Store

BESIDE_SIDECAR = ("it goes in a new envelope (the chain holds the old one), whose tijdstipBericht the sidecar takes "
                  "ahead of its commits; replay it through the sidecar: POST /admin/replay {{\"ids\": [{id}]}} "
                  "(docs/deploy-sidecar.md, Replay), or with the sidecar stopped")


@dataclass(slots=True)
class NewEnvelopes:
    """Stamps the steps of one replay command that need a new envelope, through ``ledger`` (on the command's
    connection, inside its transaction); ``hold`` keeps the SQLite store's exclusive hold until the command ends."""

    store: Store
    ledger: Any
    hold: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    serving: str | None = None
    """Why a sidecar serving the SQLite store refuses new envelopes here, once it was found so."""
    held: bool = False

    def stamp(self, steps: list[Prepared]) -> list[Prepared]:
        if not needs_stamp(steps):
            return steps
        if isinstance(self.store, SqliteStore) and not self.held and self.serving is None:
            try:
                self.hold.enter_context(alone(self.store.path, "a new GGk envelope is stamped from its ledger"))
                self.held = True
            except SidecarServing as exc:
                self.serving = str(exc).split(":", 1)[0]
        if self.serving is not None:
            return [replace(s, outcome=Replayed(s.id, False, f"{self.serving}: {BESIDE_SIDECAR.format(id=s.id)}"))
                    if s.envelope is not None and s.outcome is None else s for s in steps]
        with self.ledger.transaction() as tx:
            return stamp(steps, tx)
