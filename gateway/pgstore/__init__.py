"""PostgreSQL as the shared store (issue 16): first the zaak ledger, for ``convert``/``batch --state postgresql://``.

SQLite stays the embedded default. A municipality that runs several jobs, or hosts where operators already run
and back up PostgreSQL, keeps the ledger there instead; the semantics are those of ``SqliteLedger``.
"""

from .ledger import PostgresLedger, is_url

__all__ = ["PostgresLedger", "is_url"]
