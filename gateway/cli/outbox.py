"""``overstap outbox list|show|replay|purge``, ``overstap shadow report``: operate the outbox.

These work on the store directly — the SQLite file in ``--data-dir`` or the PostgreSQL database of
``--store`` — also while the sidecar runs (WAL, or the store's write lock): a replay marks rows pending and
bumps the outbox generation, and the running forwarders pick them up within a second. Not ``replay --quarantined``
beside a sidecar on SQLite: it renders against the ledger, which that sidecar renders ahead of (:func:`no_sidecar`).
``import-ledger`` is in :mod:`.outbox_import`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gateway.deliver import outbox, superseded
from gateway.deliver.outbox import ID_RANGE
from gateway.deliver.serving import SidecarServing, alone
from gateway.deliver.store import SqliteStore, Store, existing, locate, read_only, ready
from gateway.ledger.job import JobLedger
from gateway.ledger.replacements import replaced
from gateway.ledger.staged import ConnLedger
from gateway.pgstore.conn import next_tijdstip
from gateway.profiles import PROFILES

from . import main
from .common import EXIT_FAILED, EXIT_OK, RegularPath, fail_usage, load_registry, resolve_mappings

if TYPE_CHECKING:
    from gateway.deliver.replay import InOrder, Replayed, Targets
    from gateway.pipeline import Conversion, Converter

# What renders, converts or reads mappings (replay, show's replaced envelopes, shadow, unmapped) is imported by
# the command that needs it: ``outbox list`` took ~0.4 s of CPU importing the pipeline and the renderers.

STATUSES = (outbox.PENDING, outbox.DELIVERED, outbox.DEAD)


def _config(config_file: str | None) -> Any:
    from gateway.proxy.config import ConfigError
    from gateway.proxy.config_file import load

    try:
        return load(config_file)
    except ConfigError as exc:
        fail_usage(str(exc))


def _folder(data_dir: str | None, config_file: str | None) -> Path:
    """The data folder: --data-dir, else the config's data_dir, else ./data."""
    if data_dir:
        return Path(data_dir)
    if config_file:
        return Path(_config(config_file).data_dir)
    return Path("data")


def locate_store(data_dir: str | None, config_file: str | None, url: str | None) -> Store:
    """The store: --store (env OVERSTAP_STORE), else the config's ``store:``, else the SQLite file in the data
    folder (see :func:`_folder`)."""
    if not url and config_file:
        url = _config(config_file).store
    try:
        store = locate(_folder(data_dir, config_file), url)
    except ValueError as exc:
        fail_usage(str(exc))
        raise
    if isinstance(store, SqliteStore):  # else a traceback where the folder is made
        folder = store.path.parent
        found = next((p for p in (folder, *folder.parents) if p.exists()), folder)
        if found.exists() and not found.is_dir():
            fail_usage(f"the data dir {folder} is not a folder: {found} is a file")
    return store


def _open(data_dir: str | None, config_file: str | None, url: str | None, *, read: bool = False) -> Any:
    """A connection to the store's existing outbox (a sqlite3 or PgConnection: the outbox functions take either):
    ``read``, one that changes nothing (``list``, ``show``, ``shadow report``); else schema brought to head. A
    folder without an outbox, or a database there that is none, is refused: made or migrated here, a typo in
    --data-dir got a new outbox, and a read command wrote Overstap's tables into another program's database."""
    store = locate_store(data_dir, config_file, url)
    try:
        if not read:
            return ready(existing(store)).connect()
        conn = read_only(store)
    except RuntimeError as exc:  # none there, not an outbox, unreachable, a store of a newer release
        fail_usage(str(exc))
    click.get_current_context().call_on_close(conn.close)  # closed by the command's end: its -wal/-shm go with it
    return conn


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _clip(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


data_dir_option = click.option("--data-dir", default=None, envvar="OVERSTAP_DATA_DIR",
                               help="Folder of the outbox (default: data; env OVERSTAP_DATA_DIR, /data in the image).")
config_option = click.option("--config", "config_file", type=RegularPath(), default=None,
                             help="The sidecar's YAML config (its data_dir or store, and its routes' mappings "
                                  "for replay).")
store_option = click.option("--store", "store_url", default=None, envvar="OVERSTAP_STORE", metavar="URL",
                            help="postgresql://… : the store of sidecar replicas (env OVERSTAP_STORE; default: "
                                 "the SQLite outbox in the data dir).")


@main.group("outbox")
def outbox_group() -> None:
    """Inspect and operate the sidecar's durable outbox (deliveries, dead letters, quarantine)."""


@outbox_group.command("list")
@data_dir_option
@config_option
@store_option
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only deliveries with this status.")
@click.option("--route", default=None)
@click.option("--target", type=click.Choice([outbox.NEW, outbox.LEGACY]), default=None)
@click.option("--quarantine", is_flag=True, help="List refused (quarantined) messages instead of deliveries.")
@click.option("--unmapped", is_flag=True, help="List messages with source values no mapping rule used (paths and "
              "lines, never values) instead of deliveries.")
@click.option("--limit", type=click.IntRange(1, ID_RANGE[1]), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_(data_dir: str | None, config_file: str | None, store_url: str | None, status: str | None, route: str | None,
          target: str | None, quarantine: bool, unmapped: bool, limit: int, as_json: bool) -> None:
    """Deliveries (newest first), quarantined messages or messages with unmapped input, with counts."""
    if quarantine and unmapped:
        fail_usage("--quarantine and --unmapped are two listings: pass one")
    if (quarantine or unmapped) and (status or target):  # `--quarantine --status dead` listed the whole quarantine
        fail_usage("--status and --target filter deliveries; --quarantine and --unmapped list messages (by --route)")
    conn = _open(data_dir, config_file, store_url, read=True)
    if unmapped:
        _list_unmapped(conn, route, limit, as_json)
        return
    if quarantine:
        rows = outbox.message_rows(conn, status=outbox.QUARANTINED, route=route, limit=limit)
        if as_json:  # rows stored before reasons were capped are capped here
            click.echo(json.dumps([{**dict(r), "reason": outbox.cap(r["reason"])} for r in rows], indent=1))
            return
        for r in rows:
            click.echo(f"Q{r['id']:<6} {_when(r['last_received_at'])}  {r['route']:<12} x{r['times_received']:<3} "
                       f"ref {r['source_ref'] or '-':<14} {r['fault_code'] or '':<8} {r['fault_field'] or '-'}: "
                       f"{_clip(r['reason'], 80)}")
        click.echo(f"{_quarantined(conn, route)} quarantined message(s){_scope(route, None)}")
        return
    rows = outbox.delivery_rows(conn, status=status, route=route, target=target, limit=limit)
    if as_json:
        click.echo(json.dumps([dict(r) for r in rows], indent=1))
        return
    for r in rows:
        reason = f"  {_clip(r['reason'], 70)}" if r["reason"] and r["status"] != outbox.DELIVERED else ""
        click.echo(f"{r['id']:<7} {r['status']:<9} {r['route']}/{r['target']:<7} {r['referentienummer']:<36} "
                   f"key {_clip(r['order_key'], 28):<28} tries {r['attempts']:<2} {_when(r['updated_at'])}{reason}")
    totals: dict[str, int] = {}
    for (r, t, s), n in outbox.counts(conn).items():
        if route in (None, r) and target in (None, t):
            totals[s] = totals.get(s, 0) + n
    click.echo(", ".join(f"{totals.get(s, 0)} {s}" for s in STATUSES)
               + f", {_quarantined(conn, route)} quarantined{_scope(route, target)}")


def _quarantined(conn: Any, route: str | None) -> int:
    """Quarantined messages of ``route`` (all routes: None)."""
    return sum(n for r, n in outbox.quarantine_counts(conn).items() if route in (None, r))


def _scope(route: str | None, target: str | None) -> str:
    """What the counts of a filtered listing cover: they follow --route and --target, as the rows above do
    (they counted every route, so ``--route a`` said ``1 dead`` under route b's dead letter)."""
    named = [f"route {route}"] * (route is not None) + [f"target {target}"] * (target is not None)
    return f" (of {', '.join(named)})" if named else ""


def _list_unmapped(conn: Any, route: str | None, limit: int, as_json: bool) -> None:
    """Messages with unmapped input, newest first: one line each, then where (path and line) it was."""
    from gateway.deliver.unmapped import UnmappedInput

    rows = outbox.message_rows(conn, route=route, limit=limit, unmapped=True)
    found = [(r, UnmappedInput.decode(r["unmapped"])) for r in rows]
    if as_json:
        click.echo(json.dumps([{"id": r["id"], "received_at": r["received_at"], "route": r["route"], "mode": r["mode"],
                                "status": r["status"], "mapping": r["mapping"], "source_ref": r["source_ref"],
                                "unmapped_count": u.count if u else 0,
                                "unmapped": [{"path": p, "line": n} for p, n in (u.spots if u else ())]}
                               for r, u in found], indent=1))
        return
    for r, u in found:
        click.echo(f"{r['id']:<7} {_when(r['received_at'])}  {r['route']:<12} {r['mapping'] or '-':<22} "
                   f"ref {r['source_ref'] or '-':<14} {u.count if u else 0} unmapped")
        for line in u.lines() if u else ():
            click.echo(f"        {line}")
    click.echo(f"{len(found)} message(s) with unmapped input" + (f" (the newest {limit})" if len(found) == limit
                                                                  else ""))


@outbox_group.command()
@click.argument("item_id", type=click.IntRange(*ID_RANGE))
@data_dir_option
@config_option
@store_option
@click.option("--message", "is_message", is_flag=True, help="ITEM_ID is a message (or quarantine) id.")
@click.option("--payload", is_flag=True, help="Also print the stored bytes (contains personal data).")
def show(item_id: int, data_dir: str | None, config_file: str | None, store_url: str | None, is_message: bool,
         payload: bool) -> None:
    """One delivery (or message) in full: status, attempts, the downstream's reason, its message."""
    conn = _open(data_dir, config_file, store_url, read=True)
    if not is_message:
        row = outbox.delivery(conn, item_id)
        if row is None:
            fail_usage(f"no delivery {item_id} (use --message for a message or quarantine id)")
            return
        for key in ("id", "status", "route", "target", "referentienummer", "order_key", "zaak", "soap_action",
                    "attempts", "replays", "http_status", "reply_code", "reason"):
            click.echo(f"{key:<17} {row[key] if row[key] is not None else '-'}")
        if earlier := replaced(conn, row["referentienummer"]):  # a GGk envelope the chain held: sent anew
            click.echo(f"{'replaced':<17} {', '.join(earlier)} (envelopes the chain holds; this one went instead)")
        for key in ("created_at", "updated_at", "delivered_at", "next_at"):
            click.echo(f"{key:<17} {_when(row[key])}")
        if payload:
            click.echo("--- payload")
            click.echo(bytes(row["payload"]).decode("utf-8", "replace"))
        item_id = row["message_id"]
        click.echo("")
    msg = outbox.message(conn, item_id)
    if msg is None:
        fail_usage(f"no message {item_id}")
        return
    click.echo(f"message {msg['id']} ({msg['status']}, mode {msg['mode']}, route {msg['route']})")
    for key in ("source_ref", "afzender", "ontvanger", "mapping", "times_received", "fault_code", "fault_field",
                "fault_line", "reason", "content_type", "soap_action"):
        if msg[key] is not None:
            click.echo(f"  {key:<15} {msg[key]}")
    click.echo(f"  {'received':<15} {_when(msg['received_at'])} (last {_when(msg['last_received_at'])})")
    from gateway.deliver.unmapped import UnmappedInput

    unmapped = UnmappedInput.decode(msg["unmapped"])
    if unmapped is not None:
        click.echo(f"  {'unmapped':<15} {unmapped.count} source value(s) no mapping rule used:")
        for line in unmapped.lines():
            click.echo(f"    {line}")
    for d in outbox.deliveries_of(conn, msg["id"]):
        click.echo(f"  delivery {d['id']}: {d['target']} {d['status']} {d['referentienummer']} key {d['order_key']}"
                   + (f" — {_clip(d['reason'], 100)}" if d["reason"] else ""))
    if payload and is_message:
        click.echo("--- original")
        click.echo(bytes(msg["original"]).decode("utf-8", "replace"))


def _converter_factory(config_file: str | None, mappings: tuple[str, ...], ledger: Any,
                       profile: str = "zkn") -> tuple[Any, InOrder]:
    """(route, bytes) -> Conversion with the mappings of now (the config's routes, or detect/--mapping and
    ``profile``), rendered against ``ledger`` (the sidecar's, in the outbox database); and each route's targets
    that take one order (the config's ``order: created`` downstreams), so a converted message is queued as the
    sidecar would."""
    from gateway.pipeline import Converter
    from gateway.proxy.config import ConfigError
    from gateway.proxy.config_file import load
    from gateway.proxy.converting import mapping_files, schema_available
    from gateway.proxy.ledger_converting import ledger_converting

    if config_file:
        try:
            cfg = load(config_file)
            bind, in_order = ledger_converting(cfg, load_registry([str(p) for p in mapping_files(cfg)]))
        except ConfigError as exc:
            fail_usage(str(exc))
        return bind(ledger), in_order
    registry = load_registry(mappings)
    names = resolve_mappings(registry, mappings)  # an unknown one is a usage error, not a traceback
    cache: dict[str, Converter] = {}

    def convert(route: str, original: bytes) -> Conversion:
        if route not in cache:
            cache[route] = Converter(registry, profile=profile, mappings=names, validate=schema_available(profile),
                                     ledger=ledger)
        return cache[route].convert(original, route, route=route)

    return convert, None


@outbox_group.command()
@click.argument("ids", nargs=-1, type=click.IntRange(*ID_RANGE))
@data_dir_option
@config_option
@store_option
@click.option("--mapping", "mappings", multiple=True, help="Mapping name or file to convert quarantined messages "
              "with (without --config); dead deliveries go as stored.")
@click.option("--all-dead", is_flag=True, help="Replay every dead letter (of --route, if given).")
@click.option("--route", default=None, help="With --all-dead: only the dead letters of this route.")
@click.option("--profile", type=click.Choice(PROFILES), default=None, help="With --quarantined and without --config: "
              "the canonical profile the sidecar renders (its --profile; default zkn).")
@click.option("--quarantined", is_flag=True, help="IDS are quarantined messages: convert them again and queue them.")
@click.option("--as-is", is_flag=True, hidden=True, help="Kept for scripts: deliveries are always replayed as stored.")
@click.option("--force", is_flag=True, help="Send delivered deliveries again too (a receiver without de-duplication "
              "applies them twice, and after what went out since).")
def replay(ids: tuple[int, ...], data_dir: str | None, config_file: str | None, store_url: str | None,
           mappings: tuple[str, ...], all_dead: bool, route: str | None, profile: str | None, quarantined: bool,
           as_is: bool, force: bool) -> None:
    """Queue dead letters again as stored (same payload and referentienummer: a canonical output is rendered
    against the zaak ledger once), or convert quarantined messages with the current mappings and the ledger.
    A delivery that was delivered is refused unless --force. A GGk envelope the chain holds (refused in a StUF
    Fo03 or Fo01, or delivered) goes in a new envelope: new UUID, the zender's next tijdstipBericht
    (docs/deploy-sidecar.md, Replay).

    A running sidecar picks them up within a second; otherwise they go at its next start. Replay quarantined
    messages of a running sidecar through its admin API (POST /admin/replay), so they take their turn in the
    ledger with the messages arriving meanwhile.
    """
    from gateway.deliver.replay import apply, chunks, prepare, replay_quarantined

    from .new_envelopes import NewEnvelopes

    conn = _open(data_dir, config_file, store_url)
    if not ids and not all_dead:
        fail_usage("name delivery ids, or pass --all-dead")
    if quarantined and all_dead:
        fail_usage("--all-dead replays dead deliveries; name the quarantined message ids instead")
    if quarantined and force:
        fail_usage("--force sends delivered deliveries again; a quarantined message was never delivered")
    _refuse_ignored(route, all_dead, mappings, quarantined)
    if profile is not None and (config_file or not quarantined):
        fail_usage("--profile renders quarantined messages without --config (a config's routes name their profile)")
    chosen = list(ids)
    if all_dead:
        passed_by = superseded.all_marked(conn)  # converted anew (outbox reconvert): replay refuses them
        chosen += [r["id"] for r in outbox.delivery_rows(conn, status=outbox.DEAD, route=route, limit=None)
                   if r["id"] not in passed_by]
    chosen = list(dict.fromkeys(chosen))  # `replay 7 --all-dead`: once, not "already pending" and exit 1
    targets = _targets(config_file) if not quarantined else None
    store = locate_store(data_dir, config_file, store_url)
    ledger, rendering = _replay_ledger(store, conn)
    convert, in_order = _converter_factory(config_file, mappings, ledger, profile or "zkn") if quarantined \
        else (None, None)
    results: list[Replayed] = []
    envelopes = NewEnvelopes(store, ledger)
    try:
        with envelopes.hold, no_sidecar(store, _REPLAY_HERE.format(ids=", ".join(map(str, chosen[:20])) + (
                ", …" if len(chosen) > 20 else ""))) if quarantined else contextlib.nullcontext(), rendering:
            for chunk in chunks(chosen):  # one short transaction per chunk, so a running sidecar's acks keep flowing
                with outbox.transaction(conn):
                    # a quarantined message is rendered against the ledger in the same transaction that queues it
                    results += (replay_quarantined(conn, chunk, convert, in_order) if convert is not None
                                else apply(conn, envelopes.stamp(prepare(conn, chunk, force=force, targets=targets))))
    except SidecarServing as exc:
        click.echo(f"refused: {exc}. Nothing was replayed.", err=True)
        sys.exit(EXIT_FAILED)
    for r in results:
        click.echo(f"{'ok  ' if r.ok else 'FAIL'} {'Q' if quarantined else ''}{r.id}: {r.note}")
    done = sum(r.ok for r in results)
    click.echo(f"{done} replayed, {len(results) - done} not")
    sys.exit(EXIT_OK if done == len(results) else EXIT_FAILED)


_REPLAY_HERE = ("it renders each message against the zaak ledger ahead of storing it, so a replay beside it would "
               "render the same zaken from a state it has moved on from; replay them through the sidecar: "
               'POST /admin/replay {{"ids": [{ids}], "quarantined": true}} (docs/deploy-sidecar.md, Replay)')


def _replay_ledger(store: Store, conn: Any) -> tuple[Any, AbstractContextManager[Any]]:
    """The ledger a quarantined message is rendered against inside the replay's transaction on ``conn``, and the
    block to render in. On PostgreSQL a replica's (gateway/ledger/job.py): tijdstipBericht from the store's one
    atomic upsert, as a batch shard on that database takes it without the write lock; a read, then a write of
    "last + 1 ms", set back a value a shard committed in between, and the replay's message went out before it."""
    if isinstance(store, SqliteStore):
        return ConnLedger(conn, create=False), contextlib.nullcontext()
    ledger = JobLedger(next_tijdstip)
    return ledger, ledger.using(conn)


def no_sidecar(store: Store, why: str) -> AbstractContextManager[None]:
    """The store held for a command that renders against its ledger: on SQLite refused (SidecarServing, saying
    ``why``) while a sidecar serves it (gateway/deliver/serving.py); on PostgreSQL nothing to hold, as every
    writer there renders inside the store's write lock."""
    return alone(store.path, why) if isinstance(store, SqliteStore) else contextlib.nullcontext()


def _targets(config_file: str | None) -> Targets:
    """The (route, target) pairs ``--config`` delivers to, so a dead letter of a route no longer configured is refused
    instead of queued to wait for ever; None without ``--config`` (the outbox alone does not know the routes)."""
    if not config_file:
        return None
    from gateway.proxy.config import ConfigError
    from gateway.proxy.config_file import load

    try:
        return set(load(config_file).targets())
    except ConfigError as exc:
        fail_usage(str(exc))
        raise


def _refuse_ignored(route: str | None, all_dead: bool, mappings: tuple[str, ...], quarantined: bool) -> None:
    """Refuse an option this replay would pass over without a word: ``replay 7 --route a`` replayed delivery 7 of
    any route, and ``replay 7 --mapping fixed`` sent delivery 7 as stored, not converted with the fixed mapping."""
    if route is not None and not all_dead:
        fail_usage("--route picks the dead letters of --all-dead; named ids are replayed whatever their route")
    if mappings and not quarantined:
        fail_usage("--mapping converts quarantined messages (--quarantined); a dead delivery is replayed as stored "
                   "(same payload and referentienummer), so fix the receiver's side and replay it")


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _age(value: str) -> float:
    """Seconds in an age such as 7d, 12h, 30m or 90s (a bare number is days); ValueError unless finite and not
    negative: ``-1d`` (a moment in the future) purged what was finished a second ago, ``nan`` matched nothing."""
    text = value.strip()
    unit = _UNITS.get(text[-1:])
    seconds = float(text[:-1] if unit else text) * (unit or 86400)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(value)
    return seconds


class Age(click.ParamType):
    """An age option, checked where click names the option (``Invalid value for '--older-than'``), exit 2."""

    name = "age"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            _age(str(value))
        except ValueError:
            self.fail(f"{value!r}: write an age such as 7d, 12h, 30m or 90s (not negative)", param, ctx)
        return str(value)


@outbox_group.command()
@data_dir_option
@config_option
@store_option
@click.option("--older-than", "older_than", type=Age(), default="7d", show_default=True,
              help="Age: 7d, 12h, 30m, 90s.")
@click.option("--dead", is_flag=True, help="Also purge dead letters (not only delivered).")
@click.option("--quarantined", is_flag=True, help="Also purge quarantined messages.")
def purge(data_dir: str | None, config_file: str | None, store_url: str | None, older_than: str, dead: bool,
          quarantined: bool) -> None:
    """Delete delivered deliveries (and optionally dead letters and quarantine) older than an age; never pending."""
    conn = _open(data_dir, config_file, store_url)
    statuses = [outbox.DELIVERED] + ([outbox.DEAD] if dead else [])
    before = time.time() - _age(older_than)
    with outbox.transaction(conn):
        removed, messages = outbox.purge(conn, before=before, statuses=statuses, quarantined=quarantined)
    click.echo(f"purged {removed} delivery(ies) and {messages} message(s) older than {older_than}")


@main.group("shadow")
def shadow_group() -> None:
    """Compare old and new side by side during a shadow-mode migration."""


@shadow_group.command("report")
@data_dir_option
@config_option
@store_option
@click.option("--route", default=None)
@click.option("--limit", type=click.IntRange(1, ID_RANGE[1]), default=None, help="Only the newest N messages.")
@click.option("--differences", is_flag=True, help="Only messages where the two sides differ.")
@click.option("--json", "as_json", is_flag=True)
def shadow_report(data_dir: str | None, config_file: str | None, store_url: str | None, route: str | None,
                  limit: int | None, differences: bool, as_json: bool) -> None:
    """Per shadow message: did legacy and new both accept it, and if not, where do they differ.

    A side whose delivery is no longer in the outbox (outbox purge) is "unknown", never counted as refused; a
    message converted to nothing to send (a retour, "no change") is "no output", with the converter's reason.
    Exit status: 0 the report was shown, whatever it says; 2 a usage error (no outbox, a bad option).
    """
    from gateway.deliver import shadow

    conn = _open(data_dir, config_file, store_url, read=True)
    lines = shadow.report(conn, route, limit)
    shown = [ln for ln in lines if ln.differences] if differences else lines
    if as_json:
        click.echo(json.dumps({"summary": shadow.summary(lines), shadow.UNMAPPED: shadow.lacking(lines), "messages": [
            {"message": ln.message_id, "route": ln.route, "source_ref": ln.source_ref, "verdict": ln.verdict,
             "legacy": {"status": ln.legacy.status, "detail": ln.legacy.detail},
             "new": [{"status": s.status, "detail": s.detail} for s in ln.new], "unmapped": ln.unmapped,
             "differences": ln.differences} for ln in shown]}, indent=1))
        return
    for ln in shown:
        click.echo(f"{ln.message_id:<7} {_when(ln.received_at)} {ln.route:<12} ref {ln.source_ref or '-':<14} "
                   f"legacy {ln.legacy.status:<9} new {','.join(s.status for s in ln.new):<13} {ln.verdict}")
        for diff in [f"new {s.status}: {s.detail}" for s in ln.new if s.status == shadow.NO_OUTPUT] + ln.differences:
            click.echo(f"        {_clip(diff, 150)}")
    counts = shadow.summary(lines)
    click.echo(f"{len(lines)} shadow message(s): " + ", ".join(f"{n} {k}" for k, n in counts.items())
               + f"; {shadow.lacking(lines)} {shadow.UNMAPPED} (values the new side never got)")
