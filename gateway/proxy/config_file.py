"""The YAML file form of ``overstap serve``'s configuration: each section read, checked and turned into a
:class:`~.config.ServeConfig`.

The file may refer to the environment as ``${NAME}`` or ``${NAME:-default}`` in any string value, so secrets
(API keys, the admin key) come from the container's environment, not the file. A mistake names its place
(``routes.vendor-x.mode``) and what is allowed there. Apart from :mod:`.config`, which holds what a
configuration is and what can run, because reading a file is a job of its own (the flag form needs none of it).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from gateway.console.settings import parse as console_settings
from gateway.deliver.downstream import Downstream, RetryPolicy
from gateway.mapping import MappingError
from gateway.mapping.chain import read_text
from gateway.mapping.loader import load_bounded, yaml_place

from .config import ConfigError, ReplyConfig, RouteConfig, ServeConfig, TlsConfig

_ENV = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def substitute(value: Any, env: dict[str, str] | None = None, where: str = "") -> Any:
    """Replace ``${NAME}`` / ``${NAME:-default}`` in every string of a parsed YAML document."""
    env = os.environ if env is None else env
    if isinstance(value, dict):
        return {k: substitute(v, env, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def repl(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in env and env[name] != "":
            return env[name]
        if default is not None:
            return default
        raise ConfigError(f"{where}: environment variable {name} is not set (write ${{{name}:-default}} for a "
                          "default)")

    return _ENV.sub(repl, value)


def _section(doc: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = doc.get(key) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}{key}: expected a mapping of keys to values")
    return value


def _number(value: Any, where: str, kind: type[int] | type[float]) -> Any:
    """A numeric setting as ``kind``, or a ConfigError naming it: YAML (or a ${ENV} value) gives ``10MB`` or a
    list as readily as a number, and ``int()`` of those ended ``serve`` in a traceback. The value is not repeated:
    a misplaced line may hold a secret."""
    what = "a whole number" if kind is int else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{where}: expected {what}, not a {type(value).__name__}")
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(f"{where}: expected {what}, got text that is not one") from None


def _known(section: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(str, unknown))} (allowed: "
                          f"{', '.join(sorted(allowed))})")


# The keys of the small sections, named so tests/test_docs_drift.py checks the docs' config blocks against them.
RETRY_KEYS = {"max_attempts", "base_delay", "max_delay", "jitter"}
LISTEN_KEYS = {"host", "port"}
TLS_KEYS = {"certfile", "keyfile", "client_ca"}
REPLY_KEYS = {"applicatie", "organisatie", "sender_applicatie"}


def _retry(doc: dict[str, Any], base: RetryPolicy, where: str) -> RetryPolicy:
    _known(doc, RETRY_KEYS, where)
    try:
        policy = RetryPolicy(
            max_attempts=int(doc.get("max_attempts", base.max_attempts)),
            base_delay=float(doc.get("base_delay", base.base_delay)),
            max_delay=float(doc.get("max_delay", base.max_delay)),
            jitter=float(doc.get("jitter", base.jitter)),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if policy.max_attempts < 1 or policy.base_delay <= 0 or not 0 <= policy.jitter < 1:
        raise ConfigError(f"{where}: max_attempts >= 1, base_delay > 0 and 0 <= jitter < 1")
    return policy


DOWNSTREAM_KEYS = {"url", "timeout", "connect_timeout", "concurrency", "expect_bv", "headers", "verify",
                   "client_cert", "client_key", "soap_action", "soap_actions", "circuit_threshold", "retry", "order"}


def _downstream(name: str, doc: Any, retry: RetryPolicy, expect_bv: bool, where: str) -> Downstream:
    if isinstance(doc, str):
        doc = {"url": doc}
    if not isinstance(doc, dict) or not doc.get("url"):
        raise ConfigError(f"{where}: expected a URL or a mapping with url:")
    _known(doc, DOWNSTREAM_KEYS, where)
    url = str(doc["url"])
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}.url: {url!r} is not an http(s) URL")
    headers = doc.get("headers") or {}
    if not isinstance(headers, dict):
        raise ConfigError(f"{where}.headers: expected header: value pairs")
    try:
        return Downstream(
            name=name, url=url,
            timeout=float(doc.get("timeout", 30.0)), connect_timeout=float(doc.get("connect_timeout", 5.0)),
            concurrency=int(doc.get("concurrency", 8)), expect_bv=bool(doc.get("expect_bv", expect_bv)),
            headers={str(k): str(v) for k, v in headers.items()},
            verify=doc["verify"] if isinstance(doc.get("verify"), bool | str) else True,
            client_cert=doc.get("client_cert"), client_key=doc.get("client_key"),
            soap_action=str(doc["soap_action"]) if doc.get("soap_action") else None,
            soap_actions=_soap_actions(doc.get("soap_actions", "zds"), f"{where}.soap_actions"),
            circuit_threshold=int(doc.get("circuit_threshold", 5)),
            retry=_retry(doc.get("retry") or {}, retry, f"{where}.retry"),
            order=str(doc.get("order", "zaak")),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _soap_actions(value: Any, where: str) -> str | dict[str, str]:
    """``zds`` (each operation's own action), ``none`` (no header) or ``{operation: action}``."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if value is None or str(value).lower() == "none":
        return "none"
    if str(value).lower() == "zds":
        return "zds"
    raise ConfigError(f"{where}: {value!r} is not zds, none or a mapping of operation: action")


ROUTE_KEYS = {"mode", "mapping", "mappings", "profile", "downstream", "legacy_downstream", "ack", "ack_timeout",
              "api_key", "api_keys", "validate", "match_route", "ggk_versie", "render"}
TOP_KEYS = {"listen", "data_dir", "admin_key", "max_body_bytes", "tls", "mappings", "downstreams", "retry", "routes",
            "fault_status", "convert_threads", "convert_processes", "convert_worker_growth_mb", "shutdown_grace",
            "watch_mappings", "watch_interval", "require_downstream_ready", "access_log", "log_level", "reply",
            "poll_interval", "max_connections", "max_header_bytes", "header_timeout", "body_timeout", "ledger",
            "render", "console", "store", "min_body_rate", "body_rate_window", "probe_connections",
            "max_body_buffer_bytes", "quarantine_max_messages", "quarantine_max_bytes", "renew_grace"}


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(f"{where}: expected a string or a list of strings")


def from_dict(doc: dict[str, Any], base_dir: Path = Path()) -> ServeConfig:
    """Build and check a :class:`ServeConfig` from a parsed (and substituted) YAML document."""
    if not isinstance(doc, dict):
        raise ConfigError("the configuration must be a YAML mapping")
    _known(doc, TOP_KEYS, "top level")
    cfg = ServeConfig()
    listen = _section(doc, "listen", "")
    _known(listen, LISTEN_KEYS, "listen")
    cfg.host = str(listen.get("host", cfg.host))
    cfg.port = _number(listen.get("port", cfg.port), "listen.port", int)
    if "data_dir" in doc:
        cfg.data_dir = (base_dir / str(doc["data_dir"])).resolve() if not Path(str(doc["data_dir"])).is_absolute() \
            else Path(str(doc["data_dir"]))
    cfg.admin_key = str(doc["admin_key"]) if doc.get("admin_key") else None
    cfg.store = str(doc["store"]) if doc.get("store") else None
    if doc.get("convert_processes") is not None:
        cfg.convert_processes = _number(doc["convert_processes"], "convert_processes", int)
    for key in ("max_body_bytes", "convert_threads", "max_connections", "max_header_bytes", "convert_worker_growth_mb",
                "min_body_rate", "probe_connections", "max_body_buffer_bytes",
                "quarantine_max_messages", "quarantine_max_bytes"):
        if key in doc:
            setattr(cfg, key, _number(doc[key], key, int))
    if cfg.convert_worker_growth_mb < 0:
        raise ConfigError("convert_worker_growth_mb: expected 0 (never replace a worker) or a number of MB")
    for key in ("shutdown_grace", "watch_interval", "poll_interval", "header_timeout", "body_timeout",
                "body_rate_window", "renew_grace"):
        if key in doc:
            setattr(cfg, key, _number(doc[key], key, float))
    for key in ("watch_mappings", "require_downstream_ready", "access_log"):
        if key in doc:
            setattr(cfg, key, bool(doc[key]))
    cfg.fault_status = str(doc.get("fault_status", cfg.fault_status))
    cfg.ledger = _ledger(doc.get("ledger", "outbox"))
    cfg.render = doc.get("render")
    try:
        cfg.console = console_settings(doc.get("console"))
    except ValueError as e:
        raise ConfigError(str(e)) from None
    cfg.log_level = str(doc.get("log_level", cfg.log_level))
    cfg.mappings = [str(_resolve(base_dir, m)) for m in _strings(doc.get("mappings"), "mappings")]
    if doc.get("tls"):
        tls = _section(doc, "tls", "")
        _known(tls, TLS_KEYS, "tls")
        if not tls.get("certfile") or not tls.get("keyfile"):
            raise ConfigError("tls: certfile and keyfile are both required")
        cfg.tls = TlsConfig(str(_resolve(base_dir, tls["certfile"])), str(_resolve(base_dir, tls["keyfile"])),
                            str(_resolve(base_dir, tls["client_ca"])) if tls.get("client_ca") else None)
    reply = _section(doc, "reply", "")
    _known(reply, REPLY_KEYS, "reply")
    cfg.reply = ReplyConfig(str(reply.get("applicatie", "OVERSTAP")), reply.get("organisatie"),
                            str(reply.get("sender_applicatie", "ONBEKEND")))
    retry = _retry(_section(doc, "retry", ""), RetryPolicy(), "retry")
    routes_doc = _section(doc, "routes", "")
    legacy_names = {str(r.get("legacy_downstream")) for r in routes_doc.values()
                    if isinstance(r, dict) and isinstance(r.get("legacy_downstream"), str)}
    for name, value in _section(doc, "downstreams", "").items():
        cfg.downstreams[str(name)] = _downstream(str(name), value, retry, str(name) not in legacy_names,
                                                 f"downstreams.{name}")
    for name, value in routes_doc.items():
        cfg.routes[str(name)] = _route(str(name), value or {}, cfg, retry, base_dir)
    cfg.check()
    return cfg


def _route(name: str, doc: Any, cfg: ServeConfig, retry: RetryPolicy, base_dir: Path) -> RouteConfig:
    where = f"routes.{name}"
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: expected a mapping of settings")
    _known(doc, ROUTE_KEYS, where)
    route = RouteConfig(name=name)
    route.mode = str(doc.get("mode", route.mode))
    route.mappings = [_mapping_ref(base_dir, m) for m in
                      _strings(doc.get("mapping"), f"{where}.mapping") + _strings(doc.get("mappings"),
                                                                                  f"{where}.mappings")]
    route.profile = str(doc.get("profile", route.profile))
    route.ack = str(doc.get("ack", route.ack))
    route.ack_timeout = float(doc.get("ack_timeout", route.ack_timeout))
    route.api_keys = _strings(doc.get("api_key"), f"{where}.api_key") + _strings(doc.get("api_keys"),
                                                                                 f"{where}.api_keys")
    route.validate = doc.get("validate")
    if route.validate not in (None, True, False, "full"):
        raise ConfigError(f"{where}.validate: true, false or full, not {route.validate!r}")
    route.match_route = doc.get("match_route")
    route.ggk_versie = str(doc["ggk_versie"]) if doc.get("ggk_versie") is not None else None
    route.render = doc.get("render")
    for key, expect_bv in (("downstream", True), ("legacy_downstream", False)):
        value = doc.get(key)
        if isinstance(value, dict) or (isinstance(value, str) and value.startswith(("http://", "https://"))):
            # an inline downstream: give it a name of its own
            inline = f"{name}-{'new' if key == 'downstream' else 'legacy'}"
            cfg.downstreams[inline] = _downstream(inline, value, retry, expect_bv, f"{where}.{key}")
            value = inline
        setattr(route, key, str(value) if value else None)
    return route


def _ledger(value: Any) -> bool:
    """``ledger: outbox`` (default; also ``true``) or ``none`` (also ``false``)."""
    text = str(value).strip().lower()
    if text in ("outbox", "true"):
        return True
    if text in ("none", "false"):
        return False
    raise ConfigError(f"ledger: {value!r} is not one of outbox, none (the zaak ledger lives in the outbox database)")


def _resolve(base_dir: Path, value: Any) -> Path:
    path = Path(str(value))
    return path if path.is_absolute() else (base_dir / path).resolve()


def _mapping_ref(base_dir: Path, value: str) -> str:
    """A mapping file relative to the config file, or a mapping name as it is."""
    return str(_resolve(base_dir, value)) if value.endswith((".yaml", ".yml")) else value


def load(path: str | Path, env: dict[str, str] | None = None) -> ServeConfig:
    """Read a YAML config file (``${ENV}`` substituted) into a checked :class:`ServeConfig`."""
    file = Path(path)
    try:
        text = read_text(file, "config files")  # the mapping files' reader: one line naming a byte that is not UTF-8
    except MappingError as exc:
        raise ConfigError(str(exc)) from None
    try:
        doc = load_bounded(text, yaml.SafeLoader)  # no alias bombs: see load_bounded
    except yaml.YAMLError as exc:  # one line: file:line:column and the problem
        where, problem = yaml_place(file, exc)
        raise ConfigError(f"{where}: not valid YAML: {problem}") from None
    try:
        return from_dict(substitute(doc or {}, env), file.resolve().parent)
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from None
