"""0002: the sender's identity of a message (``source_key``) and a digest of its content (``content_sha256``).

Why: a re-send in another envelope is recognised by who sent which identificatie, and refused when the same
identificatie comes with other content (gateway/deliver/outbox.py ``accept``). SQLite outboxes of earlier
releases got these columns ad hoc when opened; PostgreSQL stores had them from 0001, so nothing runs there.
"""

from __future__ import annotations

from gateway.schema import no_downgrade, run_sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SQLITE = (
    "ALTER TABLE message ADD COLUMN source_key TEXT",
    "ALTER TABLE message ADD COLUMN content_sha256 TEXT",
    "CREATE INDEX IF NOT EXISTS message_source ON message(route, source_key)",
)


def upgrade() -> None:
    run_sql({"sqlite": SQLITE, "postgresql": ()})


def downgrade() -> None:
    no_downgrade()
