"""Running the store's revisions with Alembic, programmatically: no alembic.ini, env.py and versions/ beside this.

Imported only when a store is behind (or by ``overstap store``): SQLAlchemy and Alembic take a few hundred
milliseconds to import, which an outbox opened at head must not pay.
"""

from __future__ import annotations

import io
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import HEAD, REVISIONS, VERSION_TABLE, SchemaError, known, unversioned_revision

HERE = Path(__file__).resolve().parent
log = logging.getLogger("overstap.schema")


@dataclass(frozen=True, slots=True)
class Upgraded:
    """What an upgrade found and left: revisions (None: unversioned) and the one a pre-migration store got."""

    before: str | None
    after: str | None
    stamped: str | None = None


def is_postgres(database: Path | str) -> bool:
    return isinstance(database, str) and database.startswith(("postgresql://", "postgres://"))


def _engine(database: Path | str) -> Any:
    """An engine whose connections are the ones the store uses (psycopg 3, or sqlite3 with BEGIN IMMEDIATE)."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import NullPool

    if is_postgres(database):
        import psycopg

        url = str(database)
        return create_engine("postgresql+psycopg://", poolclass=NullPool, creator=lambda: psycopg.connect(
            url, connect_timeout=10, application_name="overstap-migrate"))
    path = str(database)
    engine = create_engine("sqlite://", poolclass=NullPool, creator=lambda: sqlite3.connect(
        path, timeout=30, isolation_level=None, check_same_thread=False))

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:  # the write lock at once: two processes opening one file take turns
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _config(**attributes: Any) -> Any:
    from alembic.config import Config

    config = Config(output_buffer=io.StringIO())
    config.set_main_option("script_location", str(HERE))
    config.attributes.update(attributes)
    return config


def _check_target(before: str | None, to: str) -> None:
    if to != "head" and to not in REVISIONS:
        raise SchemaError(f"no schema revision {to!r} (there are {', '.join(REVISIONS)})")
    if known(before) is not None and to != "head" and REVISIONS.index(to) < REVISIONS.index(before):
        raise SchemaError(f"the store is at {before}, past {to}: downgrades are not offered "
                          "(restore the backup taken before the upgrade)")


def upgrade(database: Path | str, to: str = "head", *, lock_key: int | None = None) -> Upgraded:
    """Bring the store to revision ``to`` in one transaction, under the store's write lock.

    On PostgreSQL ``lock_key`` is taken as a transaction advisory lock first, so replicas starting together
    migrate one after the other (the later one finds the store at head) and writers wait meanwhile; on SQLite
    the transaction is BEGIN IMMEDIATE. A store made before migrations is stamped with the revision its tables
    are at (:func:`gateway.schema.unversioned_revision`) in the same transaction, then upgraded from there.
    """
    from alembic import command
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import text

    engine = _engine(database)
    try:
        with engine.connect() as connection, connection.begin():
            if lock_key is not None and connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key})
            context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
            before = context.get_current_revision()
            _check_target(before, to)
            stamped = None
            if before is None and connection.dialect.name == "sqlite":
                stamped = unversioned_revision(connection.connection.driver_connection)
                if stamped is not None:
                    context.stamp(ScriptDirectory(str(HERE)), stamped)
            command.upgrade(_config(connection=connection), to)
            after = context.get_current_revision()
    finally:
        engine.dispose()
    was = before or (f"{stamped}: made before migrations, stamped by its tables" if stamped else "new")
    log.info("store schema at revision %s (was %s)", after, was)
    return Upgraded(before, after, stamped)


def upgrade_sql(dialect: str, start: str | None, to: str = "head", *, lock_key: int | None = None) -> str:
    """The SQL an upgrade from ``start`` (None: an empty database) to ``to`` runs, for review or by hand."""
    from alembic import command

    _check_target(start, to)
    config = _config(dialect=dialect, lock_key=lock_key)
    if start is not None and start == (HEAD if to == "head" else to):
        return ""
    command.upgrade(config, f"{start}:{to}" if start else to, sql=True)
    return str(config.output_buffer.getvalue())
