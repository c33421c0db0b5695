"""0012: indexes for the audit page's filters (session 31): by user, by action, by an id an entry names, by source.

Why: the audit page (``/console/audit``) finds the entries of one user, one action, one message, delivery or zaak,
or one imported source, newest first, 200 a page, keyset-paged on ``(at, id)``. With only ``console_audit_at`` a
filter that matches few of a million rows reads the whole index to find that they are few: 120-410 ms a page on a
million rows (a user who did nothing, ``purge``, a message's id, a source; docs/console.md). Each index here holds
``at, id`` after its column, so a filter reads its own entries newest first and stops at a page; the ids are found
through a GIN index on ``details`` (``jsonb_path_ops``: the containment ``details @> '{"message_id": 12}'`` the page
asks), the source through a partial index (the console's own entries have none). Under 1 ms each afterwards.
Built in the migration's transaction (about 11 s for a million rows on a loaded 2-core machine: replicas' audit
writes wait that long). SQLite outboxes hold no ``console_audit``: their audit file is searched as it is read.
"""

from __future__ import annotations

from gateway.schema import no_downgrade, run_sql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

INDEXES = ("CREATE INDEX IF NOT EXISTS console_audit_account_at ON console_audit (account, at, id)",
           "CREATE INDEX IF NOT EXISTS console_audit_action_at ON console_audit (action, at, id)",
           "CREATE INDEX IF NOT EXISTS console_audit_details ON console_audit USING GIN (details jsonb_path_ops)",
           "CREATE INDEX IF NOT EXISTS console_audit_source_at ON console_audit (source, at, id) "
           "WHERE source IS NOT NULL")


def upgrade() -> None:
    run_sql({"sqlite": (), "postgresql": INDEXES})


def downgrade() -> None:
    no_downgrade()
