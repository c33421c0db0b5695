"""PostgreSQL as the shared store (issue 16): the zaak ledger of ``convert``/``batch --state postgresql://`` and
the connection the sidecar's outbox functions use when replicas share one database (``serve --store``).

SQLite stays the embedded default. A municipality that runs several replicas or batch shards, or hosts where
operators already run and back up PostgreSQL, keep the store there instead, with the semantics of SQLite.
"""

from .ledger import PostgresLedger, is_url

__all__ = ["PostgresLedger", "is_url"]
