"""0008: the chain keys a ledger written before session 25 lacks (sharers of a product key, a budget line's
new-product key), written from the zaken's states once.

Why: without them the messages after an upgrade went by the rules before session 25: a 305/307 without a
ToewijzingNummer to the toewijzing named last whatever its period, a 301 without one applied to a guess instead of
StUF058, a 301 of a budget answering no 317 line (gateway/ledger/keys_before_s25.py says which keys and how;
tests/test_ledger_before_s25.py). Data only, no DDL: the statements are that module's, frozen as it is.
"""

from __future__ import annotations

from gateway.ledger.keys_before_s25 import POSTGRESQL, SQLITE
from gateway.schema import no_downgrade, run_sql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql({"sqlite": SQLITE, "postgresql": POSTGRESQL})


def downgrade() -> None:
    no_downgrade()
