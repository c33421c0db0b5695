"""``overstap discover`` and ``overstap scaffold``: what does a vendor actually send, and a first mapping for it."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import click

from gateway.discover import html
from gateway.discover.report import build, terminal
from gateway.discover.run import Discovery, discover
from gateway.mapping import MappingError, Registry

from . import main
from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE


def _run(inputs: tuple[Path, ...], workers: int | None, mappings: tuple[str, ...]) -> tuple[Discovery, Registry]:
    try:
        found = discover(list(inputs), workers=workers, mapping_files=list(mappings))
    except FileNotFoundError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    return found, Registry(files=[Path(m) for m in mappings])


def write_report(report: dict[str, object], out: Path) -> list[Path]:
    """REPORT.json, REPORT.html, or a folder that gets both (report.json, report.html)."""
    targets = [out] if out.suffix in (".json", ".html") else [out / "report.json", out / "report.html"]
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        text = html.render(report) if target.suffix == ".html" else json.dumps(report, indent=2, ensure_ascii=False)
        target.write_text(text, encoding="utf-8")
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
    data is never shown: values appear as shapes, codes, or masked examples.
    """
    found, registry = _run(inputs, workers, mappings)
    report = build(found, registry)
    terminal(report)
    if out is not None:
        for target in write_report(report, out):
            click.echo(f"report written: {target}")
    sys.exit(EXIT_OK)


def _inputs_of(inputs: tuple[Path, ...]) -> list[Path]:
    if len(inputs) == 1 and inputs[0].suffix == ".json" and inputs[0].is_file():
        return [Path(p) for p in json.loads(inputs[0].read_text(encoding="utf-8"))["inputs"]]
    return list(inputs)


@main.command("scaffold")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--cluster", "cluster_id", help="Cluster id from `overstap discover` (default: the only/largest one "
              "that no mapping converts).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="The mapping file to write.")
@click.option("--name", help="Mapping name (default: vendor-<cluster>).")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True)
def scaffold_cmd(inputs: tuple[Path, ...], cluster_id: str | None, out: Path, name: str | None, workers: int) -> None:
    """Write a draft mapping for one cluster of INPUTS (or of the inputs named in a discover REPORT.json).

    The draft extends the closest built-in dialect and overrides only what deviates; every guess is
    marked in a comment, and its tests (from example messages) fail until their values are confirmed.
    """
    from gateway.discover.scaffold import add_tests, example_members
    from gateway.discover.scaffold import build as build_draft

    paths = _inputs_of(inputs)
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
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(draft.text(), encoding="utf-8")
    try:
        add_tests(draft, out, example_members(paths, cluster.examples), Registry(files=[out]))
    except MappingError as exc:
        click.echo(f"error: the draft does not compile (please report this):\n{exc}", err=True)
        sys.exit(EXIT_FAILED)
    out.write_text(draft.text(), encoding="utf-8")
    click.echo(f"draft written: {out} (cluster {cluster.id}, {cluster.messages} message(s), "
               f"{len(draft.guesses)} guess(es), {len(draft.tests)} test(s) to confirm)")
    sys.exit(EXIT_OK)


def _default_cluster(found: Discovery) -> object:
    candidates = [c for c in found.ordered() if c.fmt != "unreadable"]
    if len(candidates) == 1:
        return candidates[0]
    listed = ", ".join(f"{c.id} ({c.messages})" for c in candidates)
    raise KeyError(f"several clusters, name one with --cluster: {listed}")
