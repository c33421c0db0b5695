"""``--config FILE [--route R]`` of ``convert`` and ``batch``: the render settings a serve config gives a route.

Why one place: a municipality's zaaksysteem takes only the zaaktypen of its own catalogue, so what the CLI
converts (one message or a whole history whose ledger the sidecar then continues) must render with the settings
``overstap serve`` applies, read the same way in both commands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

import click

from gateway.render import RenderSettings

from .common import RegularPath, fail_usage

F = TypeVar("F", bound=Callable[..., object])

CONFIG_HELP = ("A serve config whose render: block (with --route, that route's too) applies as in the sidecar: "
               "zender, ontvanger, the zaaktypen with their statustypes and drop.")


def config_option(command: F) -> F:
    """The ``--config`` option, worded alike in every command that renders."""
    return click.option("--config", "config_file", type=RegularPath(), default=None,
                        help=CONFIG_HELP)(command)


def config_settings(config_file: str | None, route: str | None, ggk_versie: str | None = None) \
        -> RenderSettings | None:
    """The render settings of ``--config`` (as ``serve`` applies them to ``--route``, else the top level's), with
    ``--ggk-versie`` over them; None: the defaults. A config with a mistake, or a ``--route`` it does not have,
    is a usage error naming it (a route it lacks would silently render with the top level's catalogue)."""
    from gateway.proxy.config import ConfigError
    from gateway.proxy.config_file import load
    from gateway.proxy.render_config import render_settings, settings_of

    settings = None
    if config_file is not None:
        try:
            config = load(config_file)
            known = route in config.routes
            if route is not None and not known:
                fail_usage(f"--route {route}: {config_file} has no such route (its routes: "
                           f"{', '.join(sorted(config.routes)) or 'none'})")
            settings = (settings_of(config, config.routes[route]) if known
                        else render_settings(config.render, RenderSettings(), "render"))
        except ConfigError as exc:
            fail_usage(f"--config {exc}")
    if ggk_versie:
        settings = replace(settings or RenderSettings(), ggk_versie=ggk_versie)
    return settings
