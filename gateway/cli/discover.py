"""``overstap discover`` and ``overstap scaffold``: what does a vendor actually send, and a first mapping for it."""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

import click

from gateway.discover import html
from gateway.discover.report import build, terminal
from gateway.discover.run import Discovery, discover
from gateway.mapping import MappingError, Registry

from . import main
from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail_usage


def _run(inputs: tuple[Path, ...], workers: int | None, mappings: tuple[str, ...]) -> tuple[Discovery, Registry]:
    try:
        found = discover(list(inputs), workers=workers, mapping_files=list(mappings))
    except FileNotFoundError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    return found, Registry(files=[Path(m) for m in mappings])


def report_targets(out: Path) -> list[Path]:
    """REPORT.json, REPORT.html, or a folder that gets both (report.json, report.html); checked before the run,
    so a wrong ``--out`` costs no hour of reading and no traceback."""
    if out.suffix in (".json", ".html"):
        if out.is_dir():
            fail_usage(f"--out {out} is a folder: a report file's name ends in .json or .html")
        return [out]
    if out.exists() and not out.is_dir():
        fail_usage(f"--out {out} is a file: give a folder (for report.json and report.html) or a name ending in "
                   ".json or .html")
    return [out / "report.json", out / "report.html"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_whole(target: Path, text: str) -> None:
    """Write ``target`` whole or not at all: a temporary file beside it, renamed over it when complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temp, 0o666 & ~_umask())  # mkstemp makes it 0600; the report is for sharing, like any new file
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_report(report: dict[str, object], out: Path) -> list[Path]:
    """Write the report to :func:`report_targets`, each file atomically."""
    targets = report_targets(out)
    for target in targets:
        text = html.render(report) if target.suffix == ".html" else json.dumps(report, indent=2, ensure_ascii=False)
        try:
            _write_whole(target, text)
        except (OSError, UnicodeError) as exc:
            fail_usage(f"cannot write {target}: {getattr(exc, 'strerror', None) or type(exc).__name__}")
    return targets


@main.command("discover")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="report.json, report.html, or a folder for both.")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Worker processes (default: the number of cores; 0 profiles in this process).")
@click.option("--mapping", "mappings", multiple=True, help="Extra mapping file to know (repeatable).")
def discover_cmd(inputs: tuple[Path, ...], out: Path | None, workers: int | None, mappings: tuple[str, ...]) -> None:
    """Cluster the messages of INPUTS (folders, .zip, .tar, .tar.gz) by structure and value shapes.

    Per cluster: how many messages and examples, the closest built-in dialect and how the messages
    deviate from it, and whether an existing mapping converts them (with its dialect debt). Personal
    data is never shown: values appear as shapes, codes, or examples told by their shape (``9 digits``).
    """
    if out is not None:
        report_targets(out)
    found, registry = _run(inputs, workers, mappings)
    report = build(found, registry)
    terminal(report)
    if out is not None:
        for target in write_report(report, out):
            click.echo(f"report written: {target}")
    sys.exit(EXIT_OK)


def _check_scaffold_args(inputs: tuple[Path, ...], out: Path) -> None:
    """INPUTS are the messages themselves. A discover report is not taken in their place: it is shared with the
    vendor and may come back from anyone, and scaffold reads, copies and quotes whatever its inputs hold."""
    if any(p.suffix.lower() == ".json" for p in inputs):
        fail_usage("scaffold reads the messages, not a discover report: give the folders or archives the report "
                   "was made from (a report may come from someone else, so the paths it lists are not followed)")
    if out.is_dir():
        fail_usage(f"--out {out} is a folder: give the mapping file to write (e.g. {out / 'mapping.yaml'})")


@main.command("scaffold")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--cluster", "cluster_id", help="Cluster id from `overstap discover` (default: the only/largest one "
              "that no mapping converts).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="The mapping file to write.")
@click.option("--name", help="Mapping name (default: vendor-<cluster>).")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True)
def scaffold_cmd(inputs: tuple[Path, ...], cluster_id: str | None, out: Path, name: str | None, workers: int) -> None:
    """Write a draft mapping for one cluster of INPUTS (the folders and archives discover read).

    The draft extends the closest built-in dialect and overrides only what deviates; every guess is
    marked in a comment, and its tests (from example messages) fail until their values are confirmed.
    The example messages are copied into fixtures/ beside it: real messages, to be anonymised.
    """
    from gateway.discover.scaffold import add_tests, example_members
    from gateway.discover.scaffold import build as build_draft

    _check_scaffold_args(inputs, out)
    paths = list(inputs)
    found, registry = _run(tuple(paths), workers, ())
    try:
        cluster = found.get(cluster_id) if cluster_id else _default_cluster(found)
    except KeyError as exc:
        click.echo(f"error: {exc.args[0]}", err=True)
        sys.exit(EXIT_USAGE)
    name = name or "vendor-" + re.sub(r"[^a-z0-9.-]+", "-", cluster.id.lower()).strip("-")
    try:
        draft = build_draft(cluster, registry, name)
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(draft.text(), encoding="utf-8")
        add_tests(draft, out, example_members(paths, cluster.examples), Registry(files=[out]))
        out.write_text(draft.text(), encoding="utf-8")
    except MappingError as exc:
        click.echo(f"error: the draft does not compile (please report this):\n{exc}", err=True)
        sys.exit(EXIT_FAILED)
    except OSError as exc:
        fail_usage(f"cannot write the draft or its fixtures: {exc.strerror or type(exc).__name__}: "
                   f"{exc.filename or out}")
    click.echo(f"draft written: {out} (cluster {cluster.id}, {cluster.messages} message(s), "
               f"{len(draft.guesses)} guess(es), {len(draft.tests)} test(s) to confirm)")
    sys.exit(EXIT_OK)


def _default_cluster(found: Discovery) -> object:
    candidates = [c for c in found.ordered() if c.fmt != "unreadable"]
    if len(candidates) == 1:
        return candidates[0]
    listed = ", ".join(f"{c.id} ({c.messages})" for c in candidates)
    raise KeyError(f"several clusters, name one with --cluster: {listed}")
