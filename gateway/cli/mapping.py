"""``overstap mapping list|check``: what mappings exist, and is this mapping file right."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gateway.mapping import MappingError, Registry

from . import main
from .common import EXIT_FAILED, EXIT_OK, RegularPath, load_registry


@main.group()
def mapping() -> None:
    """Work with mapping files (list, check, test)."""


@mapping.command("list")
def list_() -> None:
    """One line per available mapping: name, wet, message family, version, source file."""
    registry = load_registry()
    for m in registry.all():
        click.echo(f"{m.name:<28} {m.wet or '-':<4} {m.bericht or '-':<5} {m.versie or '-':<5} {m.format:<4} "
                   f"{m.file}")


@mapping.command()
@click.argument("paths", nargs=-1, required=True, type=RegularPath(dir_okay=True))
def check(paths: tuple[str, ...]) -> None:
    """Check mapping files (or every mapping file in a folder, like `mapping test DIR`): keys, transforms,
    XPath, canonical fields, extends; prints file:line:col."""
    from gateway.tooling.mappingtest import mapping_files, problems_shown

    files = [str(p) for p in mapping_files(paths)]
    registry = Registry(files=[Path(f) for f in files])
    bad = 0
    for file in files:
        try:
            compiled = registry.get(file)
        except MappingError as exc:
            bad += 1
            for problem in problems_shown(exc):
                click.echo(problem)
            continue
        one_way = f"; one-way rules: {', '.join(compiled.one_way)}" if compiled.one_way else ""
        if compiled.reverse_refused:
            one_way += f"; convert --reverse refused: {compiled.reverse_refused}"
        click.echo(f"ok   {file}: {compiled.name} ({len(compiled.chain)} file(s) in the extends chain){one_way}")
    sys.exit(EXIT_FAILED if bad else EXIT_OK)


@mapping.command("test")
@click.argument("files", nargs=-1, type=RegularPath(dir_okay=True))
@click.option("--update", is_flag=True, help="Write each case's expect_output golden file from the actual output.")
def test_(files: tuple[str, ...], update: bool) -> None:
    """Run the tests: cases of mapping files (default: every mapping in dialects/ and mappings/, the examples
    included)."""
    from gateway.mapping import default_dirs
    from gateway.tooling.mappingtest import report, run_files, summary

    results = run_files(files or default_dirs(), update=update)
    for line in report(results):
        click.echo(line)
    sys.exit(EXIT_FAILED if summary(results)[1] else EXIT_OK)
