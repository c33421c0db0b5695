"""``overstap console import-audit``: bring a replica's old audit file into the PostgreSQL store's ``console_audit``.

Before schema revision 0010 each replica of a PostgreSQL store kept its console's audit in its own
``data_dir/console-audit.jsonl``; since then the store's table is the one log, and the audit page shows that. This
copies an old file in once (importing it again adds nothing), so who replayed or purged what before the upgrade
shows there too (docs/console.md, docs/postgresql.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gateway.console.auditimport import Lines, import_file
from gateway.console.settings import AUDIT_FILE
from gateway.deliver.store import PostgresStore, existing, failure_name, store_failure

from . import main
from .common import EXIT_FAILED, fail_usage
from .outbox import _folder, config_option, data_dir_option, locate_store, store_option


@main.group("console")
def console_group() -> None:
    """The operator console's own data (docs/console.md): its audit log."""


@console_group.command("import-audit")
@data_dir_option
@config_option
@store_option
@click.option("--file", "audit_file", default=None, metavar="PATH",
              help="The audit file (default: console-audit.jsonl in the data dir, as a replica wrote it before "
                   "schema revision 0010; a rotated copy, or another console.audit_log).")
def import_audit(data_dir: str | None, config_file: str | None, store_url: str | None,
                 audit_file: str | None) -> None:
    """Import a replica's old console-audit.jsonl into the PostgreSQL store's console_audit, once.

    Each line becomes an entry of the audit page, as it was (time, user, action, ids), with 'imported' in its
    details: a digest of the line, so importing the same file again (or a copy of it from another replica's
    backup) adds nothing. A line that is no entry (torn by a crash mid-write, a time not ISO 8601) is named by its
    number and the rest imported. One transaction: safe while replicas run (they write their own entries
    meanwhile). Run it once per replica's data dir after the upgrade; the file may then be archived.
    """
    store = locate_store(data_dir, config_file, store_url)
    if not isinstance(store, PostgresStore):
        fail_usage("import-audit brings an audit file into a PostgreSQL store's console_audit: give --store URL (or "
                   "--config with store:); a SQLite sidecar's audit page reads its file as it is")
    path = Path(audit_file) if audit_file else _folder(data_dir, config_file) / AUDIT_FILE
    if not path.is_file():
        fail_usage(f"no audit file at {path}" + (" (a folder)" if path.is_dir() else "")
                   + ": give the replica's data dir (--data-dir) or the file (--file)")
    try:
        conn = existing(store, at_head=True).connect()
        try:
            done = import_file(conn, path)
        finally:
            conn.close()
    except RuntimeError as exc:  # unreachable, not an Overstap store, behind this release's schema
        fail_usage(str(exc))
    except OSError as exc:  # the file: its permissions, a read error (nothing was imported: one transaction)
        fail_usage(f"{path}: {exc.strerror or type(exc).__name__}; nothing was imported")
    except Exception as exc:  # PostgreSQL's refusal, named, never its text
        if not store_failure(exc):
            raise
        click.echo(f"error: {store.describe()}: {failure_name(exc)}; nothing was imported", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"{path}: imported {done.added} entr{'y' if done.added == 1 else 'ies'} into {store.describe()}; "
               f"{done.present} already there")
    if done.unread.count:
        click.echo(f"{done.unread.count} line(s) not imported, no entry (torn by a crash mid-write, cut, or a time "
                   f"not ISO 8601): line {_numbers(done.unread)}", err=True)
    if done.refused.count:
        click.echo(f"{done.refused.count} line(s) not imported, longer than 1 MiB or a value PostgreSQL cannot hold "
                   f"(a NUL character, a lone surrogate, NaN or Infinity): line {_numbers(done.refused)}", err=True)


def _numbers(lines: Lines) -> str:
    """Line numbers as the report names them: the first :data:`~gateway.console.auditimport.NAMED`, then how many
    more."""
    more = lines.count - len(lines.first)
    return ", ".join(map(str, lines.first)) + (f" and {more} more" if more else "")
