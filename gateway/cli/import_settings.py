"""``outbox import-ledger`` compares the render settings a batch ledger records with the sidecar's config.

Why: a batch run with another zaaktype catalogue (or zender, ontvanger, statustypes) than the sidecar's leaves the
receiver zaken of one kind under two zaaktypen, and the sidecar's updates of them carry its own; the docs saying
"run the batch with the sidecar's config" caught nothing. The batch records each setting's fingerprint in its
ledger (gateway/ledger/render_record.py); this compares them with ``--config`` (``--route``: that route's), names
what differs, and refuses unless told to import anyway.
"""

from __future__ import annotations

from pathlib import Path

import click

from gateway.ledger.render_record import differing
from gateway.ledger.transfer import recorded_settings

OVERRIDE = "--other-render-settings"


class SettingsDiffer(Exception):
    """The batch ledger's zaken were rendered with other render settings than the sidecar's config."""


def candidates(config_file: str | None, route: str | None) -> dict[str, dict[str, str]]:
    """Where the sidecar renders: ``--route``'s settings, else the top level's and every route's, fingerprinted
    (no config: the defaults, as a sidecar started without one)."""
    from gateway.proxy.config_file import load
    from gateway.render import fingerprint  # on demand: every ``overstap outbox`` run imports this module

    from .render_options import config_settings

    if config_file is None:  # a sidecar started without one renders with the defaults
        return {"the defaults: no --config": fingerprint.parts(None)}
    names = [route] if route is not None else [None, *sorted(load(config_file).routes)]
    return {f"route {name}" if name else "its top-level render: block":
            fingerprint.parts(config_settings(config_file, name)) for name in names}


def check(source: Path, config_file: str | None, route: str | None, override: bool) -> None:
    """Warn (older ledger, overridden) or raise :class:`SettingsDiffer` naming what differs."""
    recorded = recorded_settings(source)
    if recorded is None:
        click.echo(f"warning: {source} records no render settings (written by an older release): make sure its batch "
                   "ran with this sidecar's config (batch --config FILE --route R)", err=True)
        return
    found = {where: differing(recorded, wanted) for where, wanted in candidates(config_file, route).items()}
    where, differ = min(found.items(), key=lambda item: len(item[1]))
    if not differ:
        return
    said = (f"the batch ledger's zaken were rendered with other render settings than {config_file or 'the sidecar'}"
            f" ({where}): {', '.join(differ)} differ")
    if override:
        click.echo(f"warning: {said}; imported anyway ({OVERRIDE})", err=True)
        return
    again = (f"Run the batch again with --config {config_file}"
             f"{f' --route {route}' if route else ' (and the --route the sidecar serves it on)'} into a new --state"
             if config_file else "Pass the sidecar's --config (and --route) if it has one, else run the batch again "
             "without --config into a new --state")
    raise SettingsDiffer(f"{said}. {again}, or pass {OVERRIDE} to import it as it is. Nothing was imported.")
