"""``overstap store migrate|current|copy``: the store's schema revisions, and moving an SQLite outbox to PostgreSQL.

The sidecar migrates its store when it starts; these commands are for doing it on purpose: before rolling out
replicas, to review the SQL first (``--sql``), to see where a store is, and for the one-time copy of a single
sidecar's SQLite data dir into the PostgreSQL store replicas share (docs/postgresql.md).
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import click

from gateway import schema
from gateway.deliver import outbox
from gateway.deliver.copy_store import TargetNotEmpty, copy_outbox
from gateway.deliver.store import PostgresStore, SqliteStore, Store, locate, migrate, ready, revision
from gateway.pgstore.conn import WRITE_LOCK

from . import main
from .common import EXIT_FAILED, EXIT_USAGE, fail_usage
from .outbox import config_option, data_dir_option, locate_store, store_option


@main.group("store")
def store_group() -> None:
    """The sidecar's store: schema revisions (migrate, current) and copying an SQLite outbox to PostgreSQL."""


def _state(store: Store) -> tuple[str | None, str | None]:
    try:
        return revision(store)
    except (RuntimeError, sqlite3.Error) as exc:
        fail_usage(str(exc))
        raise


@store_group.command("current")
@data_dir_option
@config_option
@store_option
def current(data_dir: str | None, config_file: str | None, store_url: str | None) -> None:
    """The schema revision the store records (and whether it is behind this release's head)."""
    store = locate_store(data_dir, config_file, store_url)
    recorded, detected = _state(store)
    if recorded == schema.HEAD:
        click.echo(f"{store.describe()}: {recorded} (head)")
    elif recorded is not None and recorded not in schema.REVISIONS:  # ahead: migrate would refuse, not help
        click.echo(f"{store.describe()}: {recorded} (newer than this release, which knows up to {schema.HEAD}: "
                   "a newer release migrated it; run that release)")
    elif recorded is not None:
        click.echo(f"{store.describe()}: {recorded} (behind: head is {schema.HEAD}; run `overstap store migrate`)")
    elif detected is not None:
        click.echo(f"{store.describe()}: no revision recorded; made before migrations, its tables are at "
                   f"{detected} (`overstap store migrate` records that and upgrades it to {schema.HEAD})")
    else:
        click.echo(f"{store.describe()}: no revision recorded (new, or made before migrations; head is "
                   f"{schema.HEAD})")


@store_group.command("migrate")
@data_dir_option
@config_option
@store_option
@click.option("--to", "to", default="head", show_default=True, metavar="REV", help="Upgrade up to this revision.")
@click.option("--sql", "as_sql", is_flag=True, help="Print the SQL the upgrade would run; change nothing.")
def migrate_(data_dir: str | None, config_file: str | None, store_url: str | None, to: str, as_sql: bool) -> None:
    """Bring the store's schema up to date (the sidecar also does this when it starts).

    One transaction; on PostgreSQL under the store's write lock, so replicas starting meanwhile wait and find
    the store migrated. Running it again is a no-op. Downgrades are not offered.
    """
    from sqlalchemy.exc import SQLAlchemyError

    store = locate_store(data_dir, config_file, store_url)
    try:
        if as_sql:
            _print_sql(store, to)
            return
        done = migrate(store, to)
    except (RuntimeError, sqlite3.Error) as exc:  # SchemaError, an unreachable database
        fail_usage(str(exc))
        return
    except SQLAlchemyError as exc:  # a statement failed: the transaction rolled back
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        click.echo(f"error: the migration failed and was rolled back, nothing changed: {reason}", err=True)
        sys.exit(EXIT_FAILED)
    if done.before == done.after:
        click.echo(f"{store.describe()}: already at {done.after}, nothing to do")
        return
    was = done.before or (f"unversioned, tables at {done.stamped}" if done.stamped else "empty")
    click.echo(f"{store.describe()}: migrated from {was} to {done.after}")


def _print_sql(store: Store, to: str) -> None:
    from gateway.schema.run import upgrade_sql

    recorded, detected = _state(store)
    start = recorded or detected
    if recorded is None and detected is not None:
        click.echo(f"-- made before migrations: the tables are at {detected}; `overstap store migrate` records "
                   "that revision first, then runs this")
    dialect = "postgresql" if isinstance(store, PostgresStore) else "sqlite"
    text = upgrade_sql(dialect, start, to, lock_key=WRITE_LOCK)
    click.echo(text.strip() or f"-- already at {start}: nothing to run")


@store_group.command("copy")
@click.option("--from-data-dir", "from_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="The data dir of the (stopped) SQLite sidecar.")
@click.option("--to", "to_url", required=True, metavar="URL", help="The PostgreSQL store: postgresql://…")
@click.option("--replace", is_flag=True, help="Delete what the target store holds first (its rows are lost).")
def copy(from_dir: str, to_url: str, replace: bool) -> None:
    """Copy an SQLite outbox and its zaak ledger into an empty PostgreSQL store: the move to replicas.

    Stop the sidecar first. Messages, deliveries (statuses, attempts, payloads), quarantine, dead letters,
    the ledger and the outbox generation are copied with their ids, in one transaction; both stores are
    brought to the schema head on the way. Then start the replicas with --store.
    """
    source = Path(from_dir) / outbox.DB_NAME
    if not source.is_file():
        fail_usage(f"no outbox in {from_dir} (expected {source})")
    try:
        target = locate(".", to_url)
        ready(SqliteStore(source))
        ready(target)
        assert isinstance(target, PostgresStore)
        copied = copy_outbox(source, target, replace=replace)
    except ValueError as exc:  # not a postgresql:// URL, a non-empty target
        click.echo(f"refused: {exc}", err=True)
        sys.exit(EXIT_FAILED if isinstance(exc, TargetNotEmpty) else EXIT_USAGE)
    except (RuntimeError, sqlite3.Error) as exc:
        fail_usage(str(exc))
        return
    click.echo(f"copied {', '.join(f'{n} {table}' for table, n in copied.items())} from {source} to "
               f"{target.describe()}")
