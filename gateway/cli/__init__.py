"""The ``overstap`` command: a thin click shell over the pipeline, the mapping tools and the services."""

from __future__ import annotations

import importlib

import click

from gateway import __version__

#: The modules that make each command (each attaches its commands to ``main`` or to its group when imported).
#: Only the command a run names is imported: importing all of them took ~0.4 s of CPU (the batch runner, the
#: console, discover...) in every ``overstap outbox``, ``store`` or ``serve`` process, the tests start thousands.
COMMANDS: dict[str, tuple[str, ...]] = {
    "batch": ("batch",),
    "compliance": ("compliance",),
    "console": ("console",),
    "convert": ("convert",),
    "discover": ("discover",),
    "explain": ("explain",),
    "mapping": ("mapping",),
    "outbox": ("outbox", "outbox_import", "outbox_reconvert"),
    "scaffold": ("discover",),
    "serve": ("serve",),
    "shadow": ("outbox",),
    "store": ("store",),
    "testbed": ("testbed",),
    "validate": ("convert",),
}


class _OnDemand(click.Group):
    """A group whose commands are imported when asked for (a run, ``--help``, completion), never all up front."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        for module in COMMANDS.get(cmd_name, ()):
            importlib.import_module(f"{__name__}.{module}")
        return super().get_command(ctx, cmd_name)


@click.group(cls=_OnDemand, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="overstap")
def main() -> None:
    """Overstap: convert iWmo/iJw vendor dialects into canonical StUF-ZKN / StUF-GGk messages."""


def every_command() -> click.Group:
    """``main`` with every command imported (for code that walks ``main.commands``, such as the docs check)."""
    for modules in COMMANDS.values():
        for module in modules:
            importlib.import_module(f"{__name__}.{module}")
    return main
