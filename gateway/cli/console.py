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

from gateway.console.auditimport import BATCH, Imported, Lines, file_source, import_file
from gateway.console.settings import ConsoleSettings
from gateway.deliver.store import PostgresStore, existing, failure_name, store_failure

from . import main
from .common import EXIT_FAILED, fail_usage
from .outbox import _config, _folder, config_option, data_dir_option, locate_store, store_option

SOURCE_CHARS = 200
"""The longest --source: a replica's name, not a document."""


@main.group("console")
def console_group() -> None:
    """The operator console's own data (docs/console.md): its audit log."""


@console_group.command("import-audit")
@data_dir_option
@config_option
@store_option
@click.option("--file", "audit_file", default=None, metavar="PATH",
              help="The audit file (default: the config's console.audit_log in the data dir, console-audit.jsonl "
                   "unless it names another, as a replica wrote it before schema revision 0010; a rotated copy).")
@click.option("--source", default=None, metavar="NAME",
              help="The replica the file is from: its entries are kept apart from other sources' identical ones, "
                   "and importing it again under the same name adds nothing (default: file: and a digest of the "
                   "file's first line, which names it wherever it is copied to).")
@click.option("--batch", type=click.IntRange(1, 1_000_000), default=BATCH, show_default=True, metavar="N",
              help="Entries a transaction: each is committed, and reported, before the next is read.")
def import_audit(data_dir: str | None, config_file: str | None, store_url: str | None, audit_file: str | None,
                 source: str | None, batch: int) -> None:
    """Import a replica's old console-audit.jsonl into the PostgreSQL store's console_audit, once.

    Each line becomes an entry of the audit page, as it was (time, user, action, ids), with 'imported' in its
    details: a digest of the line, and the entry's source (--source) in console_audit.source, so importing the same
    file again adds nothing while two replicas' identical lines stay two entries. A line that is no entry (torn by a
    crash mid-write, a time not ISO 8601) is named by its number and the rest imported. --batch entries a
    transaction (memory stays flat whatever the file's size): safe while replicas run, and an import stopped half
    way goes on where it stopped when run again. Run it once per replica's data dir after the upgrade; the file may
    then be archived.
    """
    store = locate_store(data_dir, config_file, store_url)
    if not isinstance(store, PostgresStore):
        fail_usage("import-audit brings an audit file into a PostgreSQL store's console_audit: give --store URL (or "
                   "--config with store:); a SQLite sidecar's audit page reads its file as it is")
    path = _audit_file(data_dir, config_file, audit_file)
    if source is not None and not (source and len(source) <= SOURCE_CHARS and source.isprintable()):
        fail_usage(f"--source: a name of 1 to {SOURCE_CHARS} printable characters")
    try:
        name = source if source is not None else file_source(path)
    except OSError as exc:  # a directory or FIFO in the file's place, its permissions
        fail_usage(f"{path}: {exc.strerror or type(exc).__name__}")
        return
    done = Imported()

    def said(tally: Imported, line: int) -> None:
        click.echo(f"{tally.committed:,} entries committed (to line {line:,})", err=True)

    try:
        conn = existing(store, at_head=True).connect()
        try:
            import_file(conn, path, name, batch=batch, done=done, progress=said)
        finally:
            conn.close()
    except RuntimeError as exc:  # unreachable, not an Overstap store, behind this release's schema
        fail_usage(str(exc))
    except OSError as exc:  # the file: its permissions, a read error
        fail_usage(f"{path}: {exc.strerror or type(exc).__name__}; {_kept(done)}")
    except Exception as exc:  # PostgreSQL's refusal, named, never its text
        if not store_failure(exc):
            raise
        click.echo(f"error: {store.describe()}: {failure_name(exc)}; {_kept(done)}", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"{path}: imported {done.added} entr{'y' if done.added == 1 else 'ies'} into {store.describe()} as "
               f"source {name!r}; {done.present} already there")
    if done.unread.count:
        click.echo(f"{done.unread.count} line(s) not imported, no entry (torn by a crash mid-write, cut, or a time "
                   f"not ISO 8601): line {_numbers(done.unread)}", err=True)
    if done.refused.count:
        click.echo(f"{done.refused.count} line(s) not imported, longer than 1 MiB or a value PostgreSQL cannot hold "
                   f"(a NUL character, a lone surrogate, NaN or Infinity): line {_numbers(done.refused)}", err=True)


def _audit_file(data_dir: str | None, config_file: str | None, audit_file: str | None) -> Path:
    """--file, else the audit file the console of the config (if any) names in the data dir, found as the console
    finds it (:meth:`~gateway.console.settings.ConsoleSettings.audit_path`); a usage error naming it when it is
    not a regular file."""
    if audit_file:
        path, named = Path(audit_file), "--file"
    else:
        settings = _config(config_file).console if config_file else ConsoleSettings()
        path = settings.audit_path(_folder(data_dir, config_file))
        named = f"console.audit_log of {config_file}" if config_file else "--data-dir"
    if not path.is_file():
        fail_usage(f"no audit file at {path}" + (" (a folder)" if path.is_dir() else "")
                   + f" (from {named}): give the replica's data dir (--data-dir), its config (--config) or the "
                     "file (--file)")
    return path


def _kept(done: Imported) -> str:
    """What a failure part way left: the batches committed before it stay, and a second run goes on after them."""
    if not done.committed:
        return "nothing was imported"
    return f"the {done.committed:,} entries committed before it stay; run it again to import the rest"


def _numbers(lines: Lines) -> str:
    """Line numbers as the report names them: the first :data:`~gateway.console.auditimport.NAMED`, then how many
    more."""
    more = lines.count - len(lines.first)
    return ", ".join(map(str, lines.first)) + (f" and {more} more" if more else "")
