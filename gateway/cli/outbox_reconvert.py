"""``overstap outbox reconvert ID...``: convert anew the message of a zkn dead letter whose cause lay with Overstap.

A thin shell over gateway/deliver/reconvert.py, set up as ``replay --quarantined`` is (it renders against the zaak
ledger too): the mappings of ``--config`` (or ``--mapping``), the ledger in the outbox, one transaction, refused
beside a sidecar serving the SQLite outbox (it renders ahead of its commits), beside PostgreSQL replicas in the
store's write lock.
"""

from __future__ import annotations

import sys

import click

from gateway.deliver import outbox
from gateway.deliver.outbox import ID_RANGE
from gateway.deliver.serving import SidecarServing
from gateway.profiles import PROFILES

from .common import EXIT_FAILED, EXIT_OK, fail_usage
from .outbox import (
    _converter_factory,
    _open,
    _replay_ledger,
    config_option,
    data_dir_option,
    locate_store,
    no_sidecar,
    outbox_group,
    store_option,
)

_HERE = ("it renders each message against the zaak ledger ahead of storing it, so a re-conversion beside it would "
         "take back a zaak it may be rendering; reconvert through the sidecar: POST /admin/reconvert {{\"ids\": "
         "[{ids}]}} (docs/deploy-sidecar.md, Replay)")


@outbox_group.command("reconvert")
@click.argument("ids", nargs=-1, type=click.IntRange(*ID_RANGE))
@data_dir_option
@config_option
@store_option
@click.option("--mapping", "mappings", multiple=True, help="Mapping name or file to convert with (without --config).")
@click.option("--profile", type=click.Choice(PROFILES), default=None, help="Without --config: the canonical profile "
              "the sidecar renders (its --profile; default zkn).")
def reconvert_command(ids: tuple[int, ...], data_dir: str | None, config_file: str | None, store_url: str | None,
                      mappings: tuple[str, ...], profile: str | None) -> None:
    """Convert the messages of zkn dead letters anew, once a mapping or rendering fault that made the receiver
    refuse them is fixed: the zaak ledger forgets the zaak (the receiver holds none of it), and its messages go
    again, in order, as new messages (new referentienummer and tijdstipBericht: StUF 03.01 4.4.3). Refused, with
    nothing changed, when a delivery of the zaak was delivered or is pending (docs/deploy-sidecar.md, Replay).
    """
    from gateway.deliver.reconvert import ReconvertRefused, reconvert  # on demand: it imports the pipeline

    if not ids:
        fail_usage("name the dead deliveries whose messages to convert anew")
    if profile is not None and config_file:
        fail_usage("--profile renders without --config (a config's routes name their profile)")
    if mappings and config_file:
        fail_usage("--mapping converts without --config (a config's routes name their mappings)")
    conn = _open(data_dir, config_file, store_url)
    store = locate_store(data_dir, config_file, store_url)
    ledger, rendering = _replay_ledger(store, conn)
    convert, in_order = _converter_factory(config_file, mappings, ledger, profile or "zkn")
    named = ", ".join(map(str, ids[:20])) + (", …" if len(ids) > 20 else "")  # the JSON to send, cut short
    try:
        with no_sidecar(store, _HERE.format(ids=named)), rendering, outbox.transaction(conn):
            done = reconvert(conn, ids, convert, in_order)
    except SidecarServing as exc:
        click.echo(f"refused: {exc}. Nothing was converted.", err=True)
        sys.exit(EXIT_FAILED)
    except ReconvertRefused as exc:
        click.echo(f"refused: {exc}. Nothing was converted.", err=True)
        sys.exit(EXIT_FAILED)
    for r in done:
        click.echo(f"ok   message {r.old}: converted anew as message {r.new}, "
                   f"{len(r.queued)} delivery(ies) queued ({', '.join(str(q.id) for q in r.queued) or 'none'})")
    click.echo(f"{len(done)} message(s) converted anew; their old dead letters stay, superseded")
    sys.exit(EXIT_OK)
