"""Configuration of ``overstap serve``: routes, downstreams, security, limits — from flags or a YAML file.

What a configuration is, what of it can run (:meth:`ServeConfig.check`) and the flag form (:func:`quick`);
the YAML file is read by :mod:`.config_file`. A mistake names its place (``routes.vendor-x.mode``) and what
is allowed there.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.console.settings import ConsoleSettings
from gateway.deliver.downstream import ORDERS, Downstream
from gateway.deliver.outbox import LEGACY, NEW
from gateway.deliver.settled_writes import RENEW_GRACE
from gateway.httpguard.limits import HttpLimits
from gateway.ingest.ggk import MAX_ENVELOPE_BYTES
from gateway.procmemory import DEFAULT_GROWTH_MB

MODES = ("translate", "passthrough", "shadow")
ACKS = ("durable", "delivered")
FAULT_STATUS = ("http", "soap")
DEFAULT_ROUTE = "default"
_ROUTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the place and the fix."""


@dataclass(slots=True)
class TlsConfig:
    """Inbound TLS; with ``client_ca`` every client must present a certificate signed by it (mTLS)."""

    certfile: str
    keyfile: str
    client_ca: str | None = None


@dataclass(slots=True)
class RouteConfig:
    name: str
    mode: str = "translate"
    mappings: list[str] = field(default_factory=list)
    """Mapping names or files this route may use; empty: detect among all loaded mappings."""
    profile: str = "zkn"
    downstream: str | None = None
    legacy_downstream: str | None = None
    ack: str = "durable"
    ack_timeout: float = 30.0
    api_keys: list[str] = field(default_factory=list)
    validate: bool | str | None = None
    """Validate canonical output against the official schema; None: when the schemas are present; "full":
    parse every output back and validate it (zkn otherwise checks each value against its XSD type)."""
    match_route: str | None = None
    """The route name handed to the mappings' ``match: route:`` rules (default: the route's own name)."""
    ggk_versie: str | None = None
    """Profile ggk: the payload version (``2.1``, ``3.2``, ``source``); None: the newest release."""
    render: Any = None
    """This route's ``render:`` block (zender, ontvanger, zaaktypen; gateway/proxy/render_config.py), applied
    over the top level's."""
    in_order: frozenset[str] = frozenset()
    """The targets whose downstream takes this route's deliveries in one order (``order: created``); settled by
    :meth:`ServeConfig.check` from the downstreams."""

    @property
    def path(self) -> str:
        return "/soap" if self.name == DEFAULT_ROUTE else f"/soap/{self.name}"

    def targets(self) -> dict[str, str]:
        """target -> downstream name for this route's mode."""
        out: dict[str, str] = {}
        if self.mode in ("translate", "shadow") and self.downstream:
            out[NEW] = self.downstream
        if self.mode in ("passthrough", "shadow") and self.legacy_downstream:
            out[LEGACY] = self.legacy_downstream
        return out


@dataclass(slots=True)
class ReplyConfig:
    """Who the gateway says it is in its Bv03/Fo03 replies (StUF zender.applicatie etc.)."""

    applicatie: str = "OVERSTAP"
    organisatie: str | None = None
    sender_applicatie: str = "ONBEKEND"
    """``ontvanger.applicatie`` of a reply when the inbound message does not name its application."""


@dataclass(slots=True)
class ServeConfig:
    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = 8080
    routes: dict[str, RouteConfig] = field(default_factory=dict)
    downstreams: dict[str, Downstream] = field(default_factory=dict)
    mappings: list[str] = field(default_factory=list)
    """Extra mapping files (beyond dialects/ and mappings/) to load and watch."""
    admin_key: str | None = None
    max_body_bytes: int = 10 * 1024 * 1024
    tls: TlsConfig | None = None
    fault_status: str = "soap"
    """``soap`` (default): a SOAP 1.1 Fault is HTTP 500 (SOAP 1.1 §6.2, WS-I BP R1126), a SOAP 1.2 one 400 for
    env:Sender and 500 for env:Receiver (SOAP 1.2 Part 2 §7.5), so JAX-WS and WCF clients show the vendor the Fo03
    instead of a transport error. ``http``: 400/401/404/408/413/422/503 after the cause, for HTTP-aware senders
    and load balancers."""
    convert_threads: int = 4
    convert_processes: int | None = None
    """Worker processes for conversion; None: one per core beyond the first (max 4); 0: threads only."""
    convert_worker_growth_mb: int = DEFAULT_GROWTH_MB
    """A conversion worker grown by more than this many MB since its start is replaced (0: never); see
    :mod:`gateway.procmemory` for why (libxml2 never frees the names it has seen)."""
    shutdown_grace: float = 30.0
    watch_mappings: bool = True
    watch_interval: float = 1.0
    require_downstream_ready: bool = True
    access_log: bool = False
    log_level: str = "info"
    reply: ReplyConfig = field(default_factory=ReplyConfig)
    poll_interval: float = 1.0
    renew_grace: float = RENEW_GRACE
    """Seconds a StUF019 dead letter owed a renewal waits before another replica's poll pays it (docs/ggk-profile.md
    5.2): its own replica pays it at once, so shorter races that replica, longer leaves a dead replica's debt unpaid
    that much longer (a restart pays it at once either way)."""
    render: Any = None
    """The top-level ``render:`` block; None: the demo defaults (gateway/zaken/catalogue.py)."""
    store: str | None = None
    """A postgresql:// URL: the outbox and the zaak ledger in PostgreSQL, shared by several replicas (issue 16);
    None: SQLite in ``data_dir`` (the embedded default)."""
    ledger: bool = True
    """Keep the zaak ledger (tables in ``data_dir/outbox.sqlite3``) for translate and shadow routes; False
    (``ledger: none``): every message is rendered as if the receiver held nothing (demos only)."""
    max_connections: int = 1000
    """Open connections at most; beyond it the oldest idle one is closed (a flood cannot lock out /healthz)."""
    max_header_bytes: int = 64 * 1024
    header_timeout: float = 10.0
    """Seconds a client may take to send its request headers."""
    body_timeout: float = 60.0
    """Seconds a client may take to send its request body."""
    min_body_rate: int = 8 * 1024
    """Bytes a second a request body must arrive at, judged over each ``body_rate_window`` (0: not judged): a
    connection that trickles its body is cut off (408) and cannot hold a connection slot for ``body_timeout``."""
    body_rate_window: float = 5.0
    """Seconds over which ``min_body_rate`` is judged: a stall shorter than this (a retransmission) is no cut."""
    probe_connections: int = 8
    """Connections beyond ``max_connections`` kept for ``GET /healthz``, ``/readyz`` and ``/metrics``: a health check
    is answered even when every other connection has a request in progress."""
    max_body_buffer_bytes: int = 128 * 1024 * 1024
    """Bytes of request bodies the server holds at once, beyond each body's first ``FREE_BODY_BYTES``
    (gateway/httpguard/bodies.py): without it, ``max_connections`` bodies of the GGk 25 MB could be held at once."""
    quarantine_max_messages: int = 10_000
    """Refused messages kept in quarantine at most (0: no cap); past it a refused message is answered StUF046 (503,
    ``Retry-After``) and not stored, so junk cannot fill the data folder (gateway/proxy/quarantine_bound.py)."""
    quarantine_max_bytes: int = 1024 * 1024 * 1024
    """Body bytes kept in quarantine at most (0: no cap), as ``quarantine_max_messages``."""
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    """The operator console under ``/console`` (off unless ``console: {enabled: true}``; docs/console.md)."""

    def http_limits(self) -> HttpLimits:
        return HttpLimits(self.max_connections, self.max_header_bytes, self.header_timeout, self.body_timeout,
                          self.min_body_rate, self.body_rate_window, self.probe_connections)

    def downstream_for(self, route: RouteConfig, target: str) -> Downstream | None:
        name = route.targets().get(target)
        return self.downstreams.get(name) if name else None

    def targets(self) -> dict[tuple[str, str], Downstream]:
        """(route, target) -> downstream, for the forwarder."""
        return {(r.name, t): self.downstreams[d] for r in self.routes.values() for t, d in r.targets().items()}

    def _check_seconds(self) -> None:
        """Each setting of :data:`SECONDS` a finite number above 0 (0 or more where 0 makes sense), or a ConfigError
        naming it (session 29: ``poll_interval: 0`` spun the forwarder's poll, ``.nan`` passed every check)."""
        for name, (what, zero) in SECONDS.items():
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
                raise ConfigError(f"{name}: {what}; {'0 or more' if zero else 'more than 0'} and finite, got "
                                  f"{value:g}")

    def check(self) -> None:
        """Refuse what cannot run, and settle what routes derive from the downstreams (``in_order``)."""
        if not self.routes:
            raise ConfigError("no routes: configure at least one under routes:")
        for name, downstream in self.downstreams.items():
            _choice(f"downstreams.{name}.order", downstream.order, ORDERS)
        for route in self.routes.values():
            where = f"routes.{route.name}"
            if not _ROUTE_NAME.match(route.name):
                raise ConfigError(f"{where}: a route name is letters, digits, '.', '_' or '-' (max 64)")
            _choice(f"{where}.mode", route.mode, MODES)
            _choice(f"{where}.ack", route.ack, ACKS)
            if route.mode in ("translate", "shadow") and not route.downstream:
                raise ConfigError(f"{where}: mode {route.mode} needs a downstream (the new system)")
            if route.ggk_versie is not None and route.profile != "ggk":
                raise ConfigError(f"{where}.ggk_versie: only a route with profile ggk writes a GGk payload")
            if route.mode in ("passthrough", "shadow") and not route.legacy_downstream:
                raise ConfigError(f"{where}: mode {route.mode} needs a legacy_downstream (the old partner)")
            for target, name in route.targets().items():
                if name not in self.downstreams:
                    raise ConfigError(f"{where}: {target} downstream {name!r} is not defined under downstreams: "
                                      f"(known: {', '.join(sorted(self.downstreams)) or 'none'})")
            route.in_order = frozenset(t for t, name in route.targets().items()
                                       if self.downstreams[name].order == "created")
        if not 1 <= self.port <= 65535:  # else the socket takes it modulo 65536: a sidecar on another port
            raise ConfigError(f"listen.port (or --port): {self.port} is no TCP port; expected 1 to 65535")
        _choice("fault_status", self.fault_status, FAULT_STATUS)
        if self.max_body_bytes < 1024:
            raise ConfigError("max_body_bytes: at least 1024")
        if self.max_connections < 8 or self.max_header_bytes < 1024:
            raise ConfigError("max_connections: at least 8; max_header_bytes: at least 1024")
        self._check_seconds()
        if not self.renew_grace > 0:  # 0 or less: every poll races the replica paying its own debt
            raise ConfigError(f"renew_grace: seconds a StUF019 dead letter's renewal waits before another replica's "
                              f"poll pays it; more than 0, got {self.renew_grace:g}")
        if self.min_body_rate < 0 or self.probe_connections < 0:
            raise ConfigError("min_body_rate (bytes a second) and probe_connections: 0 or more")
        if self.quarantine_max_messages < 0 or self.quarantine_max_bytes < 0:
            raise ConfigError("quarantine_max_messages and quarantine_max_bytes: 0 (no cap) or more")
        largest = max(self.max_body_bytes, MAX_ENVELOPE_BYTES)
        if self.max_body_buffer_bytes < largest:  # else the largest body allowed could never be taken
            raise ConfigError(f"max_body_buffer_bytes: at least {largest} (max_body_bytes, or a GGk envelope's 25 MB)")
        if self.store is not None and not self.store.startswith(("postgresql://", "postgres://")):
            raise ConfigError("store: a postgresql://user@host:port/database URL, or leave it out for SQLite in "
                              "data_dir")
        from .render_config import settings_of  # below config: it needs ConfigError

        for route in self.routes.values():  # a mistake in a render block shows at start, not at the first message
            settings_of(self, route)


SECONDS = {
    "poll_interval": ("seconds between the forwarder's looks at the outbox", False),
    "watch_interval": ("seconds between the looks at the mapping files", False),
    "header_timeout": ("seconds a request's headers may take", False),
    "body_timeout": ("seconds a request's body may take", False),
    "body_rate_window": ("seconds over which min_body_rate is judged", False),
    "shutdown_grace": ("seconds the deliveries in flight get at a stop", True),
}
"""The settings in seconds :meth:`ServeConfig.check` bounds: what each is, and whether 0 makes sense (a stop that
waits for nothing does; a poll or a mapping look every 0 s spins, a timeout of 0 refuses every request). NaN (YAML's
``.nan``) and infinity never do: a NaN compares false with every bound and passed them; an infinite grace ended the
start in an OverflowError (``int()``), an infinite poll the store listener's thread at its first wait after a lost
connection (``Event.wait``), instead of a line naming the setting at start."""


def _choice(where: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(allowed)}")


def quick(*, downstream: str | None, legacy_downstream: str | None = None, mode: str = "translate",
          mappings: list[str] | None = None, data_dir: str | Path = "data", host: str = "127.0.0.1",
          port: int = 8080, api_keys: list[str] | None = None, admin_key: str | None = None,
          ack: str = "durable", profile: str = "zkn", route_names: list[str] | None = None) -> ServeConfig:
    """The configuration of the flag form: one behaviour for ``/soap`` and any route the mappings name."""
    for flag, url in (("--downstream", downstream), ("--legacy-downstream", legacy_downstream)):
        scheme = urlsplit(url).scheme if url else "http"
        if scheme.lower() not in ("http", "https"):  # as the file form refuses it: not taken to fail every delivery
            raise ConfigError(f"{flag}: expected an http(s) URL, not one with "
                              f"{f'scheme {scheme!r}' if scheme else 'no scheme'}")
    cfg = ServeConfig(data_dir=Path(data_dir), host=host, port=port, admin_key=admin_key,
                      mappings=[m for m in (mappings or []) if m.endswith((".yaml", ".yml"))])
    if downstream:
        cfg.downstreams["downstream"] = Downstream("downstream", downstream)
    if legacy_downstream:
        cfg.downstreams["legacy"] = Downstream("legacy", legacy_downstream, expect_bv=False)
    for name in [DEFAULT_ROUTE, *(route_names or [])]:
        cfg.routes[name] = RouteConfig(
            name=name, mode=mode, mappings=list(mappings or []), profile=profile, ack=ack,
            downstream="downstream" if downstream else None,
            legacy_downstream="legacy" if legacy_downstream else None, api_keys=list(api_keys or []),
        )
    cfg.check()
    return cfg
