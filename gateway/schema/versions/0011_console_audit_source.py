"""0011: the replica an imported audit entry came from (``console_audit.source``), so two replicas' identical lines
stay two entries.

Why: ``overstap console import-audit`` (session 29) keyed an old file's line on a digest of its bytes and its
occurrence in the file, unique by the index ``console_audit_imported`` on that key alone. Two replicas' files often
hold byte-identical lines (one user opening one message on both within a second, behind a load balancer): the second
file's line was counted as already there, and a view of personal data was lost from the audit. The key is now the
source and the line's key together (``console_audit_imported_source``, built concurrently by the import beside the
replicas' writes); the old index goes. The column is NULL for the replicas' own entries and for those imported
before this revision, which the next import of their file claims as its source's (gateway/console/auditimport.py).
Adding a column without a default changes the catalogue only: no rewrite, no long lock. SQLite outboxes hold no
``console_audit``.
"""

from __future__ import annotations

from gateway.schema import no_downgrade, run_sql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql({"sqlite": (), "postgresql": ("ALTER TABLE console_audit ADD COLUMN IF NOT EXISTS source TEXT",
                                          "DROP INDEX IF EXISTS console_audit_imported")})


def downgrade() -> None:
    no_downgrade()
