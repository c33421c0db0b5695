"""0004: the pending deliveries of one order key, found by an index.

Why: on a shared store a replica reads a zaak's pending deliveries from the store before each send
(gateway/deliver/claims.py ``pending_of``: the store, not memory, says which is the oldest), so that read
must not scan every pending delivery of every zaak. A partial index holds only what is pending.
"""

from __future__ import annotations

from gateway.schema import no_downgrade, run_sql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INDEX = ("CREATE INDEX IF NOT EXISTS delivery_key_pending ON delivery(route, target, order_key, id)"
         " WHERE status = 'pending'",)


def upgrade() -> None:
    run_sql({"sqlite": INDEX, "postgresql": INDEX})


def downgrade() -> None:
    no_downgrade()
