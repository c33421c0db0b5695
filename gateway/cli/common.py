"""Shared CLI plumbing: loading mappings with a readable error and exit codes."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

import click

from gateway.mapping import MappingError, Registry

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_REFUSED = 3
"""convert: no input failed, but at least one was refused on purpose by its mapping (``refuse:``)."""


def load_registry(extra: Iterable[str] = ()) -> Registry:
    """The registry of built-in and repo mappings plus files named on the command line."""
    files = [Path(m) for m in extra if Path(m).suffix in (".yaml", ".yml")]
    registry = Registry(files=files)
    for err in registry.errors:
        from gateway.tooling.mappingtest import problems_shown

        for problem in problems_shown(err):
            click.echo(f"warning: mapping not loaded: {problem}", err=True)
    return registry


def echo_failure(exc: BaseException, source: str, suffix: str = "") -> None:
    """``FAIL file:line: field: reason`` for a message that did not convert, then one ``also`` line per
    further independent error (bounded), so one run names every problem of the message."""
    from gateway.pipeline import describe

    info = describe(exc, source)
    click.echo(f"FAIL {info}{suffix}")
    for other in info.also:
        click.echo(f"     also {other}")
    if info.more:
        click.echo(f"     {info.more}")


def fail_usage(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def resolve_mappings(registry: Registry, refs: Iterable[str]) -> list[str]:
    names = []
    for ref in refs:
        try:
            names.append(registry.get(ref).name)
        except MappingError as exc:
            fail_usage(str(exc))
    return names


def input_files(inputs: Iterable[str]) -> list[Path]:
    """Expand folders into their regular files (sorted, recursive); keep files named on the command line as given.

    Inside a folder, symbolic links (to files or folders) are not followed: a folder never makes us
    read outside it.
    """
    out: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = []
            for folder, dirs, files in os.walk(path, followlinks=False):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                found += [Path(folder) / f for f in files if not f.startswith(".")
                          and (Path(folder) / f).is_file() and not (Path(folder) / f).is_symlink()]
            out += sorted(found)
        elif path.exists():
            out.append(path)
        else:
            fail_usage(f"no such file or folder: {item}")
    return out
