"""0005: the source paths and lines of a message that no mapping rule used (``message.unmapped``).

Why: nothing a vendor sends may be dropped without a word. The sidecar keeps, with each message it stores, where
its unmapped input was (paths and line numbers, never values: gateway/deliver/unmapped.py), so the console and
``overstap outbox list --unmapped`` can say which messages lost what. NULL: none (or stored before 0005).
"""

from __future__ import annotations

from gateway.schema import no_downgrade, run_sql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql({"sqlite": ("ALTER TABLE message ADD COLUMN unmapped TEXT",),
             "postgresql": ("ALTER TABLE message ADD COLUMN IF NOT EXISTS unmapped TEXT",)})


def downgrade() -> None:
    no_downgrade()
