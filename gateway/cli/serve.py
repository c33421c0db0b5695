"""``overstap serve``: run the SOAP sidecar (uvicorn), from flags for a quick start or from a YAML config."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import ssl
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gateway.deliver.downstream import ORDERS
from gateway.deliver.outbox import DB_NAME
from gateway.mapping import MappingError, Registry
from gateway.pipeline import PROFILES
from gateway.proxy.config import ACKS, MODES, ConfigError, ServeConfig, TlsConfig, quick
from gateway.proxy.config_file import load
from gateway.proxy.healthcheck import health_url, write_url

from . import main
from .common import EXIT_FAILED, RegularPath, fail_usage, load_registry

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI


def build_config(config_file: str | None, mappings: tuple[str, ...], downstream: str | None,
                 legacy_downstream: str | None, mode: str | None, data_dir: str | None, host: str | None,
                 port: int | None, profile: str | None, ack: str | None, api_keys: tuple[str, ...],
                 admin_key: str | None, store: str | None = None) -> tuple[ServeConfig, Registry]:
    """The flag form or the file form; flags that only make sense without a file are refused with one."""
    if config_file:
        clash = [flag for flag, value in (("--mapping", mappings), ("--downstream", downstream),
                                          ("--legacy-downstream", legacy_downstream), ("--mode", mode),
                                          ("--profile", profile), ("--ack", ack), ("--api-key", api_keys))
                 if value]
        if clash:
            raise ConfigError(f"{', '.join(clash)} cannot be combined with --config: put them in the file")
        cfg = load(config_file)
        registry = load_registry([*cfg.mappings, *(m for r in cfg.routes.values() for m in r.mappings)])
    else:
        if mode != "passthrough" and not downstream:
            raise ConfigError("--downstream URL is required (the system that receives the canonical messages)")
        if mode in ("passthrough", "shadow") and not legacy_downstream:
            raise ConfigError(f"--mode {mode} needs --legacy-downstream URL (the old partner)")
        registry = load_registry(mappings)
        routes = sorted({m.match.route for m in registry.all() if m.match.route})
        cfg = quick(downstream=downstream, legacy_downstream=legacy_downstream, mode=mode or "translate",
                    mappings=list(mappings), profile=profile or "zkn", ack=ack or "durable", api_keys=list(api_keys),
                    route_names=routes)
    if data_dir:
        cfg.data_dir = Path(data_dir)
    if host:
        cfg.host = host
    if port is not None:
        cfg.port = port
    if admin_key:
        cfg.admin_key = admin_key
    if store:
        cfg.store = store
    return cfg, registry


def uvicorn_config(cfg: ServeConfig, app: FastAPI) -> uvicorn.Config:
    """uvicorn settings of the sidecar: uvloop + httptools, our logging, TLS and mTLS when configured."""
    import uvicorn

    from gateway.httpguard.protocol import guarded_protocol

    tls: dict[str, object] = {}
    if cfg.tls is not None:
        tls = {"ssl_certfile": cfg.tls.certfile, "ssl_keyfile": cfg.tls.keyfile}
        if cfg.tls.client_ca:
            tls.update(ssl_ca_certs=cfg.tls.client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED)
    http = guarded_protocol(cfg.http_limits(), app.state.slow_body, app.state.unknown_coding)  # the sidecar's Faults
    return uvicorn.Config(
        app, host=cfg.host, port=cfg.port, loop="uvloop", http=http,  # type: ignore[arg-type]
        log_config=None,
        access_log=cfg.access_log, server_header=False, timeout_graceful_shutdown=int(cfg.shutdown_grace) or None,
        backlog=2048, **tls,  # type: ignore[arg-type]
    )


@main.command()
@click.option("--config", "config_file", type=RegularPath(),
              help="YAML configuration (routes, downstreams, security); ${ENV} is substituted.")
@click.option("--mapping", "mappings", multiple=True, help="Mapping name or file (repeatable); default: detect.")
@click.option("--downstream", help="URL receiving the canonical messages (SOAP).")
@click.option("--downstream-concurrency", type=click.IntRange(min=1), default=None,
              help="Deliveries in flight to --downstream (default 8); 1 sends them in the order they were made, for "
                   "a zaaksysteem that refuses a tijdstipBericht not after the last (StUF019), as the testbed does.")
@click.option("--downstream-order", type=click.Choice(ORDERS), default=None,
              help="zaak (default): a retry holds back only its zaak's later messages; created: every message to "
                   "--downstream in the order it was made, a retry holding back all later ones, for a zaaksysteem "
                   "that refuses a tijdstipBericht not after the last (StUF019), as the testbed does.")
@click.option("--legacy-downstream", help="URL of the legacy partner (passthrough and shadow modes).")
@click.option("--mode", type=click.Choice(MODES), default=None, help="translate (default), passthrough or shadow.")
@click.option("--profile", type=click.Choice(PROFILES), default=None, help="Canonical profile (default zkn).")
@click.option("--ack", type=click.Choice(ACKS), default=None,
              help="durable (default): answer once stored; delivered: once the downstream accepted.")
@click.option("--data-dir", default=None, envvar="OVERSTAP_DATA_DIR",
              help="Folder for the outbox database (default: data; env OVERSTAP_DATA_DIR).")
@click.option("--store", default=None, envvar="OVERSTAP_STORE", metavar="URL",
              help="postgresql://… : outbox and ledger in PostgreSQL, shared by replicas (env OVERSTAP_STORE; "
                   "default SQLite in the data dir).")
@click.option("--host", default=None, envvar="OVERSTAP_HOST",
              help="Address to listen on (default 127.0.0.1; env OVERSTAP_HOST, 0.0.0.0 in the image).")
@click.option("--port", type=int, default=None, envvar="OVERSTAP_PORT", help="Port (default 8080; env OVERSTAP_PORT).")
@click.option("--api-key", "api_keys", multiple=True, envvar="OVERSTAP_API_KEY",
              help="Required API key for /soap routes (repeatable; env OVERSTAP_API_KEY).")
@click.option("--admin-key", envvar="OVERSTAP_ADMIN_KEY", default=None, help="Key for /admin (env OVERSTAP_ADMIN_KEY).")
@click.option("--tls-cert", default=None, help="Server certificate (PEM) to serve HTTPS.")
@click.option("--tls-key", default=None, help="Private key of --tls-cert.")
@click.option("--tls-client-ca", default=None, help="CA (PEM) whose client certificates are required (mTLS).")
@click.option("--max-body-bytes", type=int, default=None, help="Largest accepted request body.")
@click.option("--convert-processes", type=int, default=None,
              help="Worker processes for conversion (0: threads in the server process; default: cores - 1, max 4).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default=None)
@click.option("--access-log/--no-access-log", default=None, help="Also log every HTTP request (uvicorn).")
def serve(config_file: str | None, mappings: tuple[str, ...], downstream: str | None,
          downstream_concurrency: int | None, downstream_order: str | None, legacy_downstream: str | None,
          mode: str | None, profile: str | None, ack: str | None, data_dir: str | None, store: str | None,
          host: str | None, port: int | None, api_keys: tuple[str, ...], admin_key: str | None, tls_cert: str | None,
          tls_key: str | None, tls_client_ca: str | None, max_body_bytes: int | None, convert_processes: int | None,
          log_level: str | None, access_log: bool | None) -> None:
    """Run the SOAP sidecar: POST /soap and /soap/<route>; /healthz, /readyz, /metrics, /admin/*."""
    from gateway.proxy import logs
    from gateway.proxy.app import create_app
    from gateway.proxy.service import Gateway

    if config_file:  # the file's listen: and data_dir: win over container defaults from the environment
        data_dir, host, port = (None if from_environment(name) else value for name, value in
                                (("data_dir", data_dir), ("host", host), ("port", port)))
    try:
        cfg, registry = build_config(config_file, mappings, downstream, legacy_downstream, mode, data_dir, host,
                                     port, profile, ack, api_keys, admin_key, store)
        if tls_cert or tls_key:
            if not (tls_cert and tls_key):
                raise ConfigError("--tls-cert and --tls-key go together")
            cfg.tls = TlsConfig(tls_cert, tls_key, tls_client_ca)
        elif tls_client_ca:
            raise ConfigError("--tls-client-ca needs --tls-cert and --tls-key")
        if downstream_concurrency is not None:
            if config_file or "downstream" not in cfg.downstreams:
                raise ConfigError("--downstream-concurrency goes with --downstream (in a --config file: concurrency)")
            cfg.downstreams["downstream"] = replace(cfg.downstreams["downstream"], concurrency=downstream_concurrency)
        if downstream_order is not None:
            if config_file or "downstream" not in cfg.downstreams:
                raise ConfigError("--downstream-order goes with --downstream (in a --config file: order)")
            cfg.downstreams["downstream"] = replace(cfg.downstreams["downstream"], order=downstream_order)
        if max_body_bytes is not None:
            cfg.max_body_bytes = max_body_bytes
        if convert_processes is not None:
            cfg.convert_processes = convert_processes
        if log_level:
            cfg.log_level = log_level
        if access_log is not None:
            cfg.access_log = access_log
        cfg.check()
        logs.configure(cfg.log_level)
        check_environment(cfg)
        gateway = Gateway(cfg, registry)
    except (ConfigError, MappingError) as exc:  # MappingError: a --mapping that is no mapping (no such file, a FIFO)
        fail_usage(str(exc))
        return
    except (RuntimeError, sqlite3.Error) as exc:  # an unreachable store, a store of a newer release, a locked file
        click.echo(f"error: cannot open the store: {exc}", err=True)  # the store's own words, never its password
        sys.exit(EXIT_FAILED)
    from gateway.proxy.listening import SidecarServer

    files = raise_file_limit()
    if files is not None and cfg.max_connections + cfg.probe_connections > files - FILES_RESERVED:
        # the cap (and the probe slots beyond it) must bind before the descriptors run out
        cfg.max_connections = max(8, files - FILES_RESERVED - cfg.probe_connections)
        click.echo(f"warning: max_connections lowered to {cfg.max_connections} (open-file limit {files})", err=True)
    write_url(os.environ.get("OVERSTAP_HEALTH_FILE"), health_url(cfg.host, cfg.port, cfg.tls is not None))
    app = create_app(cfg, gateway)
    SidecarServer(uvicorn_config(cfg, app), app.state.ready).run()  # says "gateway ready" once it listens


def from_environment(param: str) -> bool:
    source = click.get_current_context().get_parameter_source(param)
    return source is click.core.ParameterSource.ENVIRONMENT


def _owner_hint(path: Path) -> str:
    return (f"the sidecar runs as uid {os.getuid()} gid {os.getgid()}: give it the folder, e.g. "
            f"`chown -R {os.getuid()}:{os.getgid()} <the folder or volume mounted at {path}>`")


def check_environment(cfg: ServeConfig) -> None:
    """Refuse to start, saying what to fix, when the data folder is not writable or TLS files cannot be read."""
    folder = Path(cfg.data_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
        db = folder / DB_NAME
        if db.exists() and not os.access(db, os.R_OK | os.W_OK):
            raise PermissionError(f"{db} is not readable and writable")
    except OSError as exc:
        raise ConfigError(f"data folder {folder} is not writable ({exc.strerror or exc}); {_owner_hint(folder)}") \
            from None
    if cfg.tls is not None:
        try:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cfg.tls.certfile, cfg.tls.keyfile)
            if cfg.tls.client_ca:
                context.load_verify_locations(cfg.tls.client_ca)
        except (OSError, ssl.SSLError) as exc:
            what = getattr(exc, "filename", None) or f"{cfg.tls.certfile} / {cfg.tls.keyfile}"
            raise ConfigError(f"TLS files cannot be used ({what}: {getattr(exc, 'strerror', None) or exc}); they "
                              f"must be readable PEM files: {_owner_hint(Path(str(what)).parent)}") from None


FILES_RESERVED = 128
"""File descriptors kept for the outbox, workers, downstream connections and logs."""


def raise_file_limit() -> int | None:
    """Open connections need file descriptors: raise the soft limit to the hard one; return what it is now."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or soft < hard:
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        return None if soft == resource.RLIM_INFINITY else int(soft)
    except (ImportError, ValueError, OSError):
        return None
