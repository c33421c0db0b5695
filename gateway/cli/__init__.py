"""The ``overstap`` command: a thin click shell over the pipeline, the mapping tools and the services."""

from __future__ import annotations

import click

from gateway import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="overstap")
def main() -> None:
    """Overstap: convert iWmo/iJw vendor dialects into canonical StUF-ZKN / StUF-GGk messages."""


def _register() -> None:
    # Each command lives in its own module; importing it attaches it to ``main``.
    from . import (  # noqa: F401
        batch,
        compliance,
        console,
        convert,
        discover,
        explain,
        mapping,
        outbox,
        outbox_import,
        outbox_reconvert,
        serve,
        store,
        testbed,
    )


_register()
