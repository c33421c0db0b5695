"""0009: a StUF019 dead letter the sidecar owes a renewal in a new envelope (``delivery.renewal_owed``).

Why: the forwarder writes the dead letter of an envelope the chain answered Fo03 StUF019 and only then renews it
(gateway/proxy/replaying.renew_stale). A replica killed between the two left a dead letter that waited for the
operator's replay. The debt is now written in the dead letter's own transaction (1: owed) and paid, once, by the
transaction that queues the new envelope (a conditional update: two replicas, or an operator's replay, never
both); whichever sidecar starts next, or another replica's poll, pays what a dead one left. 0: nothing owed (every
row before this revision: older StUF019 dead letters stay for the operator's replay, as they were). The partial
index holds only what is owed, so the poll's look costs an index probe.
"""

from __future__ import annotations

from gateway.schema import no_downgrade, run_sql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEX = "CREATE INDEX IF NOT EXISTS delivery_renewal_owed ON delivery(id) WHERE renewal_owed = 1"


def upgrade() -> None:
    run_sql({"sqlite": ("ALTER TABLE delivery ADD COLUMN renewal_owed INTEGER NOT NULL DEFAULT 0", INDEX),
             "postgresql": ("ALTER TABLE delivery ADD COLUMN IF NOT EXISTS renewal_owed INTEGER NOT NULL DEFAULT 0",
                            INDEX)})


def downgrade() -> None:
    no_downgrade()
