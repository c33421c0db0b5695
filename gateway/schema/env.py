"""Alembic's environment for the store, run by gateway/schema/run.py (no alembic.ini, nothing read from disk
but the revisions): online with the connection run.py hands over inside its open, locked transaction;
offline (``overstap store migrate --sql``) for the dialect it names."""

from __future__ import annotations

from alembic import context

from gateway.schema import VERSION_TABLE


def _online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run the store's migrations through gateway.schema.run (overstap store migrate)")
    context.configure(connection=connection, version_table=VERSION_TABLE, transactional_ddl=True)
    with context.begin_transaction():  # the caller's transaction: committed by run.py
        context.run_migrations()


def _offline() -> None:
    attributes = context.config.attributes
    dialect = attributes["dialect"]
    context.configure(dialect_name=dialect, as_sql=True, literal_binds=True, version_table=VERSION_TABLE,
                      transactional_ddl=True)
    with context.begin_transaction():
        if dialect == "postgresql" and attributes.get("lock_key") is not None:
            context.execute(f"SELECT pg_advisory_xact_lock({int(attributes['lock_key'])})")
        context.run_migrations()


if context.is_offline_mode():
    _offline()
else:
    _online()
