"""``overstap convert`` and ``overstap validate``: files in, canonical files out, one line per input."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from lxml import etree

from gateway.mapping import MappingError, Refused, Registry
from gateway.pipeline import FAILURES, PROFILES, Converter, describe
from gateway.render.schemas import SchemaUnavailable, errors_of

from . import main
from .common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    fail_usage,
    input_files,
    load_registry,
    resolve_mappings,
)


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for the output.")
@click.option("--profile", type=click.Choice(PROFILES), default="zkn", show_default=True)
@click.option("--mapping", "mappings", multiple=True, help="Mapping name or file (repeatable); default: detect.")
@click.option("--validate/--no-validate", default=True, show_default=True,
              help="Validate every output against the official schema.")
@click.option("--route", default=None, help="Route name for mappings that match on a route.")
@click.option("--reverse", is_flag=True,
              help="The way back: canonical messages (zakLk01, GGk) into the dialect of --mapping.")
def convert(inputs: tuple[str, ...], out_dir: str, profile: str, mappings: tuple[str, ...], validate: bool,
            route: str | None, reverse: bool) -> None:
    """Convert dialect messages (files or folders) into canonical messages, one .xml per zaak."""
    registry = load_registry(mappings)
    names = resolve_mappings(registry, mappings)
    if reverse:
        if len(names) != 1:
            fail_usage("--reverse needs exactly one --mapping: the dialect to write")
        sys.exit(_reverse(registry, names[0], inputs, Path(out_dir), validate))
    try:
        converter = Converter(registry, profile=profile, mappings=names, validate=validate)
    except SchemaUnavailable as exc:
        fail_usage(f"{exc} (or pass --no-validate)")
        return
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    failed = refused = 0
    for path in input_files(inputs):
        data = path.read_bytes()
        try:
            result = converter.convert(data, str(path), route=route)
        except Refused as exc:  # recognised and refused on purpose by its mapping (refuse:)
            refused += 1
            click.echo(f"REFUSED {path}: {exc.reason} (mapping {exc.mapping})")
            continue
        except FAILURES as exc:
            failed += 1
            click.echo(f"FAIL {describe(exc, str(path))}{_picked(converter, data, str(path), route)}")
            continue
        for output in result.outputs:
            (out / f"{output.name}.xml").write_bytes(output.xml)
        note = f" ({len(result.unmapped)} source element(s) not mapped)" if result.unmapped else ""
        warn = f" ({len(result.warnings)} warning(s))" if result.warnings else ""
        click.echo(f"ok   {path}: {result.mapping.name} -> {', '.join(o.name + '.xml' for o in result.outputs)}"
                   f"{note}{warn}")
        for item in result.unmapped:
            click.echo(f"     not mapped: {item.path} (line {item.line})")
        for warning in result.warnings:
            click.echo(f"     warning: line {warning.line}: {warning.field}: {warning.message}")
        for output in result.outputs:
            for dropped in output.dropped:
                click.echo(f"     dropped: {dropped}")
    for line in converter.debt.report():  # dialect debt: deviations accepted per mapping and rule
        click.echo(line)
    if refused:
        click.echo(f"{refused} message(s) refused on purpose by their mapping")
    sys.exit(EXIT_FAILED if failed else EXIT_REFUSED if refused else EXIT_OK)


def _picked(converter: Converter, data: bytes, name: str, route: str | None) -> str:
    """`` [mapping NAME]`` when a mapping was picked for a failed message: which one matters to fix it."""
    from gateway.ingest import read

    try:
        return f" [mapping {converter.detect(read(data, name, max_bytes=converter.max_bytes, route=route)).name}]"
    except (*FAILURES, MappingError):
        return ""


def _reverse(registry: Registry, target: str, inputs: tuple[str, ...], out: Path, validate: bool) -> int:
    converter = Converter(registry, validate=validate)
    out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for path in input_files(inputs):
        try:
            written = converter.reverse(path.read_bytes(), target, str(path))
        except FAILURES as exc:
            failed += 1
            click.echo(f"FAIL {describe(exc, str(path))}")
            continue
        for item in written:
            (out / f"{item.name}{item.suffix}").write_bytes(item.xml)
            click.echo(f"ok   {path}: -> {item.name}{item.suffix} ({target})")
            for note in item.normalised:
                click.echo(f"     normalised for {target}: {note}")
            for rule in item.one_way:
                click.echo(f"     one-way rule: {rule}")
            for field in item.unplaced:
                click.echo(f"     not representable in {target}: {field}")
    return EXIT_FAILED if failed else EXIT_OK


@main.command()
@click.argument("files", nargs=-1, required=True)
def validate(files: tuple[str, ...]) -> None:
    """Validate messages (bare or SOAP-wrapped) against the official schemas of $OVERSTAP_REFERENCE_DIR."""
    from gateway.ingest import InputError, read

    passed = failed = 0
    for path in input_files(files):
        try:
            root = read(path.read_bytes(), str(path)).root
            errors = errors_of(root)
        except InputError as exc:
            errors = [str(exc)]
        except SchemaUnavailable as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        if errors:
            failed += 1
            click.echo(f"FAIL {path}: " + "; ".join(errors[:3]))
        else:
            passed += 1
            click.echo(f"ok   {path}: valid ({etree.QName(root).localname})")
    click.echo(f"{passed} passed, {failed} failed")
    sys.exit(EXIT_FAILED if failed else EXIT_OK)
