"""``overstap explain INPUT``: the lineage table of one message (a rich table on a terminal, plain text otherwise)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gateway.pipeline import FAILURES

from . import main
from .common import EXIT_FAILED, EXIT_OK, echo_failure, load_registry, read_input, resolve_mappings


@main.command()
@click.argument("input_file", metavar="INPUT", type=click.Path(exists=True, dir_okay=False))
@click.option("--mapping", default=None, help="Mapping name or file; default: detect.")
@click.option("--route", default=None, help="Route name for mappings that match on a route.")
def explain(input_file: str, mapping: str | None, route: str | None) -> None:
    """Show per canonical field its source element and line, rule, transforms and StUF place; then the
    source elements that no rule used."""
    from gateway.tooling.explain import HEADERS, cells, explain, plain_lines, tail_lines

    registry = load_registry([mapping] if mapping else [])
    names = resolve_mappings(registry, [mapping] if mapping else [])
    path = Path(input_file)
    try:  # capped like convert: /dev/zero or a huge file is an error, not all of memory
        ex = explain(read_input(path), str(path), registry=registry, mapping=names[0] if names else None,
                     route=route)
    except FAILURES as exc:
        echo_failure(exc, str(path))
        sys.exit(EXIT_FAILED)
    if not sys.stdout.isatty():
        for line in plain_lines(ex):
            click.echo(line)
        sys.exit(EXIT_OK)
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{path.name}: mapping {ex.mapping.name}", show_lines=False)
    for header in HEADERS:
        table.add_column(header, overflow="fold")
    for row in ex.rows:
        table.add_row(*cells(row))
    console = Console()
    console.print(table)
    for line in tail_lines(ex):
        console.print(line, markup=False, highlight=False)
    sys.exit(EXIT_OK)
