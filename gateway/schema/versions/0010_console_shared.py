"""0010: the console's sessions and audit log in a PostgreSQL store, shared by every replica (``console_session``,
``console_audit``).

Why: with two or more replicas behind a load balancer, sessions in each replica's own ``data_dir/console.sqlite3``
meant a login on one replica was unknown on the next request's, a logout ended the session on one only, and the
audit of who replayed or purged what was split over the replicas' files. In the store they are one for all. The
account column is ``account`` (``user`` is reserved in PostgreSQL); the session row keeps only the SHA-256 of the
nonce, as before. SQLite outboxes get nothing: one process serves them, its sessions already live in the outbox
file (``console_session``, made by the console) and its audit in ``data_dir/console-audit.jsonl`` (docs/console.md).
"""

from __future__ import annotations

from gateway.schema import no_downgrade, run_sql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SESSION = ("CREATE TABLE IF NOT EXISTS console_session (nonce_sha256 TEXT PRIMARY KEY, account TEXT NOT NULL, "
           "role TEXT NOT NULL, created DOUBLE PRECISION NOT NULL, expires DOUBLE PRECISION NOT NULL, "
           "credential TEXT NOT NULL DEFAULT '')")
AUDIT = ("CREATE TABLE IF NOT EXISTS console_audit (id BIGSERIAL PRIMARY KEY, at TEXT NOT NULL, account TEXT NOT NULL, "
         "action TEXT NOT NULL, details JSONB NOT NULL DEFAULT '{}'::jsonb)")


def upgrade() -> None:
    run_sql({"sqlite": (), "postgresql": (SESSION, AUDIT)})


def downgrade() -> None:
    no_downgrade()
