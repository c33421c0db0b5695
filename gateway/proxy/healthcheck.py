"""Container health check: ``python -m gateway.proxy.healthcheck`` exits 0 when ``/healthz`` answers 200.

Standard library only, so it starts fast. It reads the URL and, for a sidecar behind mTLS, the CA and
client certificate from the environment: OVERSTAP_HEALTH_URL (default http://127.0.0.1:8080/healthz),
OVERSTAP_HEALTH_CA, OVERSTAP_HEALTH_CERT and OVERSTAP_HEALTH_KEY.
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.request


def check(env: dict[str, str] | None = None, timeout: float = 3.0) -> bool:
    env = dict(os.environ) if env is None else env
    url = env.get("OVERSTAP_HEALTH_URL", "http://127.0.0.1:8080/healthz")
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
