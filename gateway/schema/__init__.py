"""The schema of the sidecar's store (outbox + zaak ledger), versioned with Alembic on SQLite and PostgreSQL.

Why: the outbox outlives releases. A new column used to be added ad hoc when a file was opened; with several
replicas on one PostgreSQL database, and with operators who want to see or review a change before it runs
(``overstap store migrate --sql``), each change is a numbered revision instead (``versions/``, raw SQL per
dialect) and the database records which one it is at (table :data:`VERSION_TABLE`).

Opening a store asks the version table with one plain query (:func:`recorded`) and starts Alembic
(:func:`gateway.schema.run.upgrade`) only when the store is behind: importing and running Alembic costs far
more than an open at head may.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

VERSION_TABLE = "overstap_schema_version"
"""Where a store records its revision (not ``alembic_version``: the database may be shared with other apps)."""

REVISIONS = ("0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009", "0010", "0011", "0012")
"""Every revision, oldest first; tests/test_schema.py checks that ``versions/`` says the same."""
HEAD = REVISIONS[-1]


class SchemaError(RuntimeError):
    """The store is at a revision this release does not know (a newer release migrated it)."""


def recorded(conn: Any) -> str | None:
    """The revision the store records, or None when it has no version table (new, or from before migrations).

    ``conn`` is a ``sqlite3.Connection`` or a ``PgConnection``; one or two small queries, no Alembic.
    """
    if isinstance(conn, sqlite3.Connection):
        found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                             (VERSION_TABLE,)).fetchone()
    else:
        found = conn.execute("SELECT to_regclass(?)", (VERSION_TABLE,)).fetchone()[0]
    if not found:
        return None
    row = conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
    return str(row[0]) if row is not None else None


def recorded_at(connect: Callable[[], Any]) -> str | None:
    """:func:`recorded` over a connection of its own (``connect()``), closed again."""
    conn = connect()
    try:
        return recorded(conn)
    finally:
        conn.close()


def known(version: str | None) -> str | None:
    """``version`` itself, when this release knows it (or it is None); else a SchemaError saying what to do."""
    if version is not None and version not in REVISIONS:
        raise SchemaError(f"the store is at schema revision {version}, which this release does not know "
                          f"(it knows up to {HEAD}): a newer release migrated it; run that release")
    return version


def behind(conn: Any) -> bool:
    """True when the store must be migrated; a revision newer than this release knows raises SchemaError."""
    return known(recorded(conn)) != HEAD


def behind_at(connect: Callable[[], Any]) -> bool:
    """:func:`behind` over a connection of its own (``connect()``), closed again."""
    return known(recorded_at(connect)) != HEAD


def unversioned_revision(conn: sqlite3.Connection) -> str | None:
    """The revision an SQLite outbox made before migrations is at (None: it has no outbox tables).

    Earlier releases created the first schema, later ones added ``source_key``/``content_sha256`` with the
    ``message_source`` index (0002) when opening; the ledger tables (0003) were made on demand with
    IF NOT EXISTS, so 0003 runs whether they are there or not. PostgreSQL stores never had an older shape:
    their revisions are IF NOT EXISTS throughout and run over an unversioned store as they are.
    """
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'message'").fetchone():
        return None
    columns = {row[1] for row in conn.execute("PRAGMA table_info(message)")}
    return "0002" if "source_key" in columns else "0001"


_COLLECTING: ContextVar[tuple[str, list[str]] | None] = ContextVar("overstap_schema_collecting", default=None)


@contextmanager
def collecting(dialect: str, into: list[str]) -> Iterator[None]:
    """Revisions run meanwhile (in this thread) append their statements for ``dialect`` to ``into`` instead of
    running them: how gateway/schema/fresh.py makes a new SQLite store without Alembic."""
    token = _COLLECTING.set((dialect, into))
    try:
        yield
    finally:
        _COLLECTING.reset(token)


def run_sql(statements: dict[str, tuple[str, ...]]) -> None:
    """Inside a revision: run the statements written for the dialect being migrated, one at a time (or hand them
    to :func:`collecting`)."""
    collect = _COLLECTING.get()
    if collect is not None:
        collect[1].extend(statements[collect[0]])
        return
    from alembic import op

    for statement in statements[op.get_context().dialect.name]:
        op.execute(statement)


def no_downgrade() -> None:
    """Revisions are not undone: the outbox holds deliveries and the ledger zaken a downgrade could lose."""
    raise SchemaError("downgrades are not offered: restore the backup taken before the upgrade")
