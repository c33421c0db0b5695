"""``overstap outbox import-ledger``: let the sidecar continue the zaken of a batch run, on SQLite or PostgreSQL.

Kept apart from the other outbox commands because it writes the zaak ledger, not the outbox: the rules for doing
that beside running sidecars are its own (one transaction under the store's write lock; conflicts refused).
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import click

from gateway.deliver import outbox
from gateway.deliver.store import existing, failure_name, ready, store_failure
from gateway.ledger.transfer import LedgerConflict, NotALedger, UnfinishedRun, holds, import_ledger, ledger_file
from gateway.pgstore import is_url
from gateway.pgstore.conn import describe_url

from .common import EXIT_FAILED, fail_usage
from .import_settings import OVERRIDE, SettingsDiffer, check
from .outbox import config_option, data_dir_option, locate_store, outbox_group, store_option


def _state_folder(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """``--state``: an existing folder. Not ``click.Path``: its error quotes the value whole, and the value may be
    the ``postgresql://user:password@…`` a sharded batch run was given; that one is named without its password."""
    if is_url(value):
        raise click.BadParameter(f"{describe_url(value)} is a PostgreSQL ledger: import-ledger reads a batch run's "
                                 "--state folder; a sidecar continues a PostgreSQL ledger with that database as its "
                                 "store (docs/postgresql.md)")
    if not Path(value).is_dir():
        raise click.BadParameter(f"{value!r} is a file, not a folder" if Path(value).exists()
                                 else f"folder {value!r} does not exist")
    return value


@outbox_group.command("import-ledger")
@click.option("--state", "state_dir", required=True, callback=_state_folder,
              help="The --state folder of the 'overstap batch' (or 'convert') run whose zaken the sidecar continues.")
@data_dir_option
@config_option
@store_option
@click.option("--replace", is_flag=True,
              help="Where both ledgers hold a zaak or chain key differently, take --state's.")
@click.option("--route", default=None,
              help="The route of --config the sidecar serves these zaken on: its render settings must be the "
                   "ledger's (without it, the top level's or any route's).")
@click.option(OVERRIDE, "other_settings", is_flag=True,
              help="Import a ledger rendered with other render settings than --config's (named in a warning).")
def import_ledger_(state_dir: str, data_dir: str | None, config_file: str | None, store_url: str | None,
                   replace: bool, route: str | None, other_settings: bool) -> None:
    """Let the sidecar continue the zaken of a batch run: copy its zaak ledger into the store's (SQLite or
    PostgreSQL).

    Run it before switching the sidecar on for the archive's vendor. It is one transaction under the store's write
    lock, so it is safe while sidecars run: on PostgreSQL every replica renders inside that lock, so none renders a
    zaak half imported; a SQLite sidecar renders again a message it rendered before the import (the ledger's epoch
    moved). Entries both ledgers hold differently (a zaak a sidecar continued meanwhile) are named and
    nothing is imported, unless --replace; tijdstipBericht per zender never goes back. A ledger whose batch ran
    with other render settings than --config's (--route's) is refused, naming them, unless --other-render-settings.
    The sidecar's outbox must be there (its start makes it): a --data-dir without one, or a file there that is no
    Overstap outbox, is refused (exit 2) instead of made one, so a typo cannot take the ledger to nowhere.
    """
    from gateway.deliver import imported  # on demand: it imports the zaak plan (pydantic models), ~0.25 s

    store = locate_store(data_dir, config_file, store_url)
    try:
        source = ledger_file(state_dir)  # checked before the store is opened (or made): a refusal changes nothing
        check(source, config_file, route, other_settings)
        conn = ready(existing(store)).connect()  # an outbox there already, or a typo's new one got the ledger
        with outbox.transaction(conn):  # BEGIN IMMEDIATE: on PostgreSQL the store's write lock
            done = import_ledger(source, conn, replace=replace)
            held_back = imported.mark(conn, lambda zaken: holds(source, zaken))  # their replay would create again
    except (FileNotFoundError, NotALedger, RuntimeError) as exc:  # RuntimeError: junk or a newer release's store
        fail_usage(str(exc))
    except (LedgerConflict, UnfinishedRun, SettingsDiffer) as exc:
        click.echo(f"refused: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    except sqlite3.Error as exc:  # locked past the busy timeout, read-only, disk full: rolled back
        click.echo(f"error: {store.describe()}: SQLite says {exc}; nothing was imported", err=True)
        sys.exit(EXIT_FAILED)
    except Exception as exc:  # PostgreSQL: a lost connection, a statement bound; named, never its text (data)
        if not store_failure(exc):
            raise
        click.echo(f"error: {store.describe()}: {failure_name(exc)}; nothing was imported", err=True)
        sys.exit(EXIT_FAILED)
    copied = ", ".join(f"{n} {table}" for table, n in sorted(done.copied.items())) or "nothing new"
    click.echo(f"imported {copied}; {done.same} already held alike, {done.replaced} replaced")
    if held_back:
        click.echo(f"{held_back} creeerZaak deliver{'y' if held_back == 1 else 'ies'} not delivered (dead letters, or "
                   "pending) are for zaken the imported ledger holds: replay refuses them (a second creeerZaak at "
                   "the receiver) unless forced")
