"""0007: a zaak's deliveries, found by an index.

Why: ``outbox reconvert`` and ``POST /admin/reconvert`` (gateway/deliver/reconvert.py) find every delivery of the
zaken they take back, and through the sidecar they do so under its render lock, arriving messages waiting. Without an
index each read went through every delivery the outbox keeps: 1.2-3.3 s a read beside 1,000,000 deliveries of 2 KB,
0.1 ms with it. The console made the same index for itself when it started (``console_delivery_zaak``, SQLite only);
this one replaces it, on both stores.
"""

from __future__ import annotations

from gateway.schema import no_downgrade, run_sql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

INDEX = "CREATE INDEX IF NOT EXISTS delivery_zaak ON delivery(zaak)"


def upgrade() -> None:
    run_sql({"sqlite": (INDEX, "DROP INDEX IF EXISTS console_delivery_zaak"), "postgresql": (INDEX,)})


def downgrade() -> None:
    no_downgrade()
