"""Container health check: ``python -m gateway.proxy.healthcheck`` exits 0 when ``/healthz`` answers 200.

Standard library only, so it starts fast. It reads the URL and, for a sidecar behind mTLS, the CA and
client certificate from the environment: OVERSTAP_HEALTH_URL, OVERSTAP_HEALTH_CA, OVERSTAP_HEALTH_CERT
and OVERSTAP_HEALTH_KEY. Without OVERSTAP_HEALTH_URL it reads the URL ``overstap serve`` wrote to
OVERSTAP_HEALTH_FILE (its real port and scheme, whatever ``--port`` or ``listen:`` said), and falls
back to http://127.0.0.1:8080/healthz.
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8080/healthz"


def health_url(host: str, port: int, tls: bool) -> str:
    """Where this sidecar's /healthz answers from inside its own host or container."""
    local = "127.0.0.1" if host in ("0.0.0.0", "", "127.0.0.1") else "[::1]" if host in ("::", "::1") else host
    return f"{'https' if tls else 'http'}://{local}:{port}/healthz"


def write_url(path: str | None, url: str) -> None:
    """Called by ``overstap serve`` at start when OVERSTAP_HEALTH_FILE is set (the container sets it)."""
    if path:
        with open(path, "w", encoding="utf-8") as out:
            out.write(url + "\n")


def written_url(path: str | None) -> str | None:
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as found:
            return found.read().strip() or None
    except OSError:
        return None


def check(env: dict[str, str] | None = None, timeout: float = 3.0) -> bool:
    env = dict(os.environ) if env is None else env
    url = env.get("OVERSTAP_HEALTH_URL") or written_url(env.get("OVERSTAP_HEALTH_FILE")) or DEFAULT_URL
    context = None
    if url.startswith("https://"):
        context = ssl.create_default_context(cafile=env.get("OVERSTAP_HEALTH_CA") or None)
        context.check_hostname = False  # the certificate names the service, the check dials 127.0.0.1
        if env.get("OVERSTAP_HEALTH_CERT"):
            context.load_cert_chain(env["OVERSTAP_HEALTH_CERT"], env.get("OVERSTAP_HEALTH_KEY") or None)
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False


if __name__ == "__main__":
    sys.exit(0 if check() else 1)
