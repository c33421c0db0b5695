"""0006: the quarantined messages, found by an index.

Why: the quarantine's bound (gateway/proxy/quarantine_bound.py) counts the quarantine from the store at the first
refusal, every 30 s, and each second while it is full, and the console and ``outbox list`` count it per route.
Without an index each count read every message the outbox keeps, delivered or not, to find the few thousand
quarantined ones: a partial index holds only those.
"""

from __future__ import annotations

from gateway.schema import no_downgrade, run_sql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEX = ("CREATE INDEX IF NOT EXISTS message_quarantined ON message(route) WHERE status = 'quarantined'",)


def upgrade() -> None:
    run_sql({"sqlite": INDEX, "postgresql": INDEX})


def downgrade() -> None:
    no_downgrade()
