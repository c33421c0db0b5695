"""0003: the zaak ledger's tables in the store, beside the outbox (one transaction writes both).

Why: the ledger must never get ahead of the outbox (gateway/ledger/staged.py), so its tables live in the
outbox database. Before migrations the sidecar (and ``convert --state postgresql://…``) made them on demand,
so this stays IF NOT EXISTS: a store that has them keeps them and their rows.
"""

from __future__ import annotations

from gateway.schema import no_downgrade, run_sql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SQLITE = (
    "CREATE TABLE IF NOT EXISTS chain_key (key TEXT PRIMARY KEY, zaak TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS zaak_state (zaak TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS zender_tijdstip (zender TEXT PRIMARY KEY, tijdstip TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS remembered (kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
    " PRIMARY KEY (kind, key))",
)

POSTGRESQL = (
    "CREATE TABLE IF NOT EXISTS chain_key (key TEXT PRIMARY KEY, zaak TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS zaak_state (zaak TEXT PRIMARY KEY, state JSONB NOT NULL,"
    " updated_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    "CREATE TABLE IF NOT EXISTS zender_tijdstip (zender TEXT PRIMARY KEY, tijdstip TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS remembered (kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
    " PRIMARY KEY (kind, key))",
)


def upgrade() -> None:
    run_sql({"sqlite": SQLITE, "postgresql": POSTGRESQL})


def downgrade() -> None:
    no_downgrade()
