"""``overstap batch``: convert whole message archives (folders, .zip, .tar[.gz]) resumably and in parallel."""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

import click

from gateway.batch import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, BatchOptions, BatchUsageError, Limits, Shard, run
from gateway.batch.budget import DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES
from gateway.batch.progress import MODES
from gateway.batch.report import summary_text
from gateway.batch.work import DEFAULT_TIMEOUT
from gateway.ledger.sqlite import DEFAULT_STATE
from gateway.pipeline import PROFILES
from gateway.procmemory import DEFAULT_GROWTH_MB

from . import main
from .common import refuse_empty_state
from .render_options import config_option, config_settings


def _shard(ctx: click.Context, param: click.Parameter, value: str | None) -> Shard:
    try:
        return Shard.parse(value) if value else Shard()
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Output folder, or a .zip / .tar.gz / .tar file to write into.")
@click.option("--mapping", "mappings", multiple=True, help="Mapping name or file (repeatable); default: detect.")
@click.option("--profile", type=click.Choice(PROFILES), default="zkn", show_default=True)
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Worker processes (default: one fewer than the cores, at least 1: the parent renders in order "
                   "on a core of its own; 0 converts in this process).")
@click.option("--resume", is_flag=True, help="Continue the run recorded in OUT's journal (or start one).")
@click.option("--shard", callback=_shard, metavar="I/N", help="Convert only partition I (0-based) of N.")
@click.option("--validate/--no-validate", default=True, show_default=True,
              help="Validate every output against the official schema.")
@click.option("--full-check", is_flag=True,
              help="Parse every output back and validate it with the XSD (zkn otherwise checks each value "
                   "against its XSD type; the writer's structure is proven by the tests).")
@click.option("--route", default=None, help="Route name for mappings that match on a route.")
@config_option
@click.option("--state", "--store", "state_dir", default=DEFAULT_STATE, show_default=True,
              help="Folder of the zaak ledger, shared with 'convert --state', so a later run continues the same "
                   "chains; 'none' keeps it in memory for this run only; a postgresql:// URL is a ledger that "
                   "--shard jobs share while they run (they then split the messages by client).")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but the summary.")
@click.option("--progress", type=click.Choice(MODES), default="auto", show_default=True,
              help="Progress display: a bar on a terminal, periodic lines otherwise.")
@click.option("--progress-interval", type=float, default=10.0, show_default=True, hidden=True)
@click.option("--chunk-size", type=click.IntRange(min=1), default=64, show_default=True, hidden=True)
@click.option("--commit-interval", type=float, default=2.0, show_default=True, hidden=True,
              help="Seconds between journal commits.")
@click.option("--level", type=click.IntRange(0, 9), default=1, show_default=True,
              help="Compression level for .zip/.tar.gz output (0: none for .zip; 1: the fastest; higher: "
                   "smaller, slower, up to 4 for .zip and 3 for .tar.gz).")
@click.option("--timeout", type=click.FloatRange(min=0), default=DEFAULT_TIMEOUT, show_default=True,
              help="Seconds one message may take before its conversion is ended and reported (0: none).")
@click.option("--quarantine-max-files", type=click.IntRange(min=0), default=DEFAULT_MAX_FILES, show_default=True,
              help="Failed inputs copied to quarantine/ at most; later ones are only reported.")
@click.option("--quarantine-max-bytes", type=click.IntRange(min=0), default=DEFAULT_MAX_BYTES, show_default=True,
              help="Bytes copied to quarantine/ at most (inputs plus .reason files).")
@click.option("--worker-growth-mb", type=click.IntRange(min=0), default=DEFAULT_GROWTH_MB, show_default=True,
              help="Replace the worker processes once one has grown by this many MB (libxml2 keeps every name it "
                   "has parsed); with --workers 0 the run stops (exit 4) instead; 0: never.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def batch(inputs: tuple[Path, ...], out: Path, mappings: tuple[str, ...], profile: str, workers: int | None,
          resume: bool, shard: Shard, validate: bool, full_check: bool, route: str | None, state_dir: str,
          quiet: bool, progress: str, progress_interval: float, chunk_size: int, commit_interval: float,
          level: int, timeout: float, quarantine_max_files: int, quarantine_max_bytes: int, worker_growth_mb: int,
          as_json: bool, config_file: str | None) -> None:
    """Convert message archives: every member of INPUTS (folders, .zip, .tar, .tar.gz) into OUT.

    OUT gets converted/ (the canonical messages, named after their source member), quarantine/
    (each failed input with a .reason beside it), report.jsonl (one line per input) and
    summary.json. Messages are rendered against the zaak ledger in --state in input order (members of one
    chain must come in chain order), so a later run continues the same zaken. With a postgresql:// ledger,
    --shard jobs run at once share it and split the messages by client (docs/batch.md). --config renders with
    the render: block of the sidecar's serve config (the municipality's zaaktypen, zender, ontvanger), as the
    sidecar does; a --resume must give the same settings. Exit status: 0 all
    converted, 1 some inputs failed, 2 usage or configuration error, 3 internal error (a bug; the last
    commit stands, --resume continues), 4 stopped because, converting in this process (--workers 0), it outgrew
    --worker-growth-mb (continue with --resume), 130 interrupted (continue with --resume).
    """
    refuse_empty_state(state_dir)
    settings = config_settings(config_file, route)  # the municipality's catalogue, in the parent and every worker
    options = BatchOptions(list(inputs), out, profile=profile, mappings=mappings, settings=settings,
                           validate="full" if validate and full_check else validate,
                           workers=workers, resume=resume, shard=shard, route=route,
                           progress="quiet" if quiet else progress, progress_interval=progress_interval,
                           chunk_size=chunk_size, commit_seconds=commit_interval, level=level, timeout=timeout,
                           quarantine=Limits(quarantine_max_files, quarantine_max_bytes), state=state_dir,
                           worker_growth_mb=worker_growth_mb)

    def say(text: str) -> None:
        if not quiet:
            click.echo(text, err=True)

    try:
        outcome = run(options, say)
    except BatchUsageError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:  # a second Ctrl-C: stopped at once (click would say "Aborted!" with status 1)
        click.echo("interrupted at once; run again with --resume to continue", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except OSError as exc:  # OUT or --state cannot be written (a full disk, a name OUT's file system refuses)
        click.echo(f"error: cannot write: {exc.strerror or exc}{f' ({exc.filename})' if exc.filename else ''}; the "
                   "run stopped, the last commit stands, and --resume continues from it once this is mended",
                   err=True)
        sys.exit(EXIT_INTERNAL)
    except Exception as exc:  # a bug: say so, and never with 1 ("some inputs failed", which a Job may accept)
        traceback.print_exc()
        click.echo(f"internal error: {type(exc).__name__}: the run stopped; the last commit stands and "
                   "--resume continues from it (please report this)", err=True)
        sys.exit(EXIT_INTERNAL)
    for note in outcome.notes:  # why the run stopped on its own: on stderr even with --quiet, as errors are
        click.echo(note, err=True)
    if outcome.summary is not None:
        click.echo(json.dumps(outcome.summary, indent=2) if as_json else summary_text(outcome.summary))
    sys.exit(outcome.exit_code)
