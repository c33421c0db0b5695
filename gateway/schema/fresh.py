"""A new SQLite outbox made from the revisions' own statements, without Alembic.

Why: every ``overstap serve`` or ``overstap outbox`` that opens a new data folder imported SQLAlchemy and Alembic
and ran them over an empty file: ~0.45 s of CPU before the first request, for statements that are plain SQL
(each revision is :func:`gateway.schema.run_sql` of its dialect's statements). Over an empty file this runs the
same statements, in the same order, in one ``BEGIN IMMEDIATE`` transaction, and records :data:`HEAD` in a version
table of the shape Alembic makes; any other store (older, unversioned, or made meanwhile by another process) is
left to Alembic (gateway/schema/run.py).
"""

from __future__ import annotations

import importlib.util
import logging
import sqlite3
from pathlib import Path

from . import HEAD, REVISIONS, VERSION_TABLE, SchemaError, collecting, recorded

VERSIONS = Path(__file__).resolve().parent / "versions"
log = logging.getLogger("overstap.schema")

VERSION_DDL = (f"CREATE TABLE {VERSION_TABLE} (\n\tversion_num VARCHAR(32) NOT NULL, \n\t"
               f"CONSTRAINT {VERSION_TABLE}_pkc PRIMARY KEY (version_num)\n)")
"""The version table as Alembic creates it on SQLite (tests/test_schema.py compares the two stores' DDL)."""


def statements(dialect: str = "sqlite") -> list[str]:
    """Every revision's statements for ``dialect``, oldest first: what Alembic runs over an empty store."""
    found: list[str] = []
    files = sorted(VERSIONS.glob("[0-9]*.py"))
    if [f.name.split("_", 1)[0] for f in files] != list(REVISIONS):
        raise SchemaError(f"{VERSIONS} does not hold the revisions {', '.join(REVISIONS)}")
    with collecting(dialect, found):
        for file in files:
            spec = importlib.util.spec_from_file_location(f"_overstap_revision_{file.stem}", file)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            module.upgrade()
    return found


def create(conn: sqlite3.Connection) -> bool:
    """Make an empty SQLite file (``conn`` in autocommit mode, WAL set) a store at :data:`HEAD`; False, with
    nothing changed, when the file holds anything but a store at head already (Alembic's case)."""
    conn.execute("BEGIN IMMEDIATE")  # two processes opening one new file take turns, as under Alembic
    try:
        if recorded(conn) == HEAD:  # another process made it while this one waited
            conn.execute("COMMIT")
            return True
        if conn.execute("SELECT 1 FROM sqlite_master").fetchone() is not None:
            conn.execute("ROLLBACK")
            return False
        for statement in statements("sqlite"):
            conn.execute(statement)
        conn.execute(VERSION_DDL)
        conn.execute(f"INSERT INTO {VERSION_TABLE} (version_num) VALUES (?)", (HEAD,))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    log.info("store schema at revision %s (was new)", HEAD)
    return True
