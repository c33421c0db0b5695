"""Inbound TLS and mutual TLS, with certificates made for the test by the ``openssl`` command.

Why: a sidecar in a municipality's network is often reached over mTLS (PKIoverheid or a private CA);
only clients with a certificate from the configured CA may deliver, and the settings ``overstap serve``
passes to uvicorn must really enforce that.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import httpx
import pytest
import uvicorn
from proxy_helpers import Receiver, ServerThread, sample, samples_dir, variant, wait_for

from gateway.cli.serve import uvicorn_config
from gateway.deliver.downstream import Downstream
from gateway.deliver.forwarder import DELIVERED, RETRY, Forwarder, Lane, Outcome
from gateway.deliver.outbox import Queued
from gateway.mapping import Registry
from gateway.proxy.app import create_app
from gateway.proxy.config import TlsConfig
from gateway.proxy.config_file import from_dict
from gateway.proxy.healthcheck import check
from gateway.proxy.service import Gateway

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(folder: Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-subj", f"/CN={name}", cwd=folder)


def make_cert(folder: Path, name: str, ca: str, extension: str) -> None:
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=folder)
    (folder / f"{name}.ext").write_text(extension + "\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-days", "2", "-out", f"{name}.pem", "-extfile", f"{name}.ext", cwd=folder)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pki")
    make_ca(folder, "clients-ca")
    make_ca(folder, "server-ca")
    make_ca(folder, "rogue-ca")
    make_cert(folder, "server", "server-ca", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth")
    make_cert(folder, "vendor", "clients-ca", "extendedKeyUsage=clientAuth")
    make_cert(folder, "intruder", "rogue-ca", "extendedKeyUsage=clientAuth")
    return folder


def client_context(pki: Path, cert: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki / "server-ca.pem"))
    if cert:
        ctx.load_cert_chain(str(pki / f"{cert}.pem"), str(pki / f"{cert}.key"))
    return ctx


def test_mutual_tls_admits_only_clients_of_the_configured_ca(pki: Path, tmp_path: Path) -> None:
    samples_dir()
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        cfg = from_dict({"data_dir": str(tmp_path / "data"), "watch_mappings": False, "convert_processes": 0,
                         "routes": {"default": {"downstream": ds.url}}})
        listening = socket.create_server(("127.0.0.1", 0))  # the kernel picks a free port, held from here on
        cfg.port = listening.getsockname()[1]  # (no bind-close-reuse race; the config refuses port 0 itself)
        cfg.tls = TlsConfig(str(pki / "server.pem"), str(pki / "server.key"), str(pki / "clients-ca.pem"))
        server = uvicorn.Server(uvicorn_config(cfg, create_app(cfg, Gateway(cfg, Registry()))))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
        thread.start()
        try:
            assert wait_for(lambda: server.started, timeout=20)
            url = f"https://127.0.0.1:{cfg.port}/soap"
            def vendor_post(body: bytes) -> httpx.Response:
                with httpx.Client(verify=client_context(pki, "vendor")) as vendor:
                    return vendor.post(url, content=body)

            ok = vendor_post(sample())
            assert ok.status_code == 200 and b"Bv03Bericht" in ok.content
            assert wait_for(lambda: len(rec.received) == 1)
            for cert in (None, "intruder"):  # no certificate, or one from another CA: no TLS session at all
                with httpx.Client(verify=client_context(pki, cert)) as stranger, pytest.raises(httpx.TransportError):
                    stranger.post(url, content=sample())
            with pytest.raises(httpx.TransportError):
                httpx.post(f"http://127.0.0.1:{cfg.port}/soap", content=sample(), timeout=5)
            later = vendor_post(variant(sample(), 2))  # admitted after the refusals: delivered after anything they did
            assert wait_for(lambda: len(rec.received) >= 2)
            assert rec.refs() == ok.headers["x-overstap-referentienummers"].split(",") + \
                later.headers["x-overstap-referentienummers"].split(",")
            health = {"OVERSTAP_HEALTH_URL": f"https://127.0.0.1:{cfg.port}/healthz",
                      "OVERSTAP_HEALTH_CA": str(pki / "server-ca.pem")}
            assert not check(health)  # the container health check needs a client certificate too
            assert check({**health, "OVERSTAP_HEALTH_CERT": str(pki / "vendor.pem"),
                          "OVERSTAP_HEALTH_KEY": str(pki / "vendor.key")})
        finally:
            server.should_exit = True
            thread.join(30)
            listening.close()


def _attempt(downstream: Downstream) -> Outcome:
    """One delivery attempt through a lane's first client, as a forwarder worker makes it."""
    import asyncio

    async def run() -> Outcome:
        lane = Lane(downstream)
        item = Queued(1, "default", "zaken", "k", "ref-1", payload=b"<a/>", content_type="text/xml")
        try:
            return await Forwarder(None, None, {})._attempt(lane, lane.clients[0], item)  # type: ignore[arg-type]
        finally:
            await lane.close()

    return asyncio.run(run())


def test_deliveries_go_over_mutual_tls_to_a_downstream_of_the_configured_ca(pki: Path) -> None:
    """Why: the forwarder's own HTTP client (httpcore, gateway/deliver/wire.py) must verify the downstream
    against ``verify`` and present ``client_cert``; a wrong CA is a connection error, retried."""
    receiver = Receiver()
    tls = {"ssl_certfile": str(pki / "server.pem"), "ssl_keyfile": str(pki / "server.key"),
           "ssl_ca_certs": str(pki / "clients-ca.pem"), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    with ServerThread(receiver.app(), **tls) as server:
        url = f"https://127.0.0.1:{server.port}/zaken"
        good = Downstream("zaken", url, verify=str(pki / "server-ca.pem"), client_cert=str(pki / "vendor.pem"),
                          client_key=str(pki / "vendor.key"))
        assert _attempt(good).result == DELIVERED
        assert receiver.refs() == ["ref-1"]
        wrong_ca = Downstream("zaken", url, verify=str(pki / "rogue-ca.pem"), client_cert=str(pki / "vendor.pem"),
                              client_key=str(pki / "vendor.key"))
        refused = _attempt(wrong_ca)
        assert refused.result == RETRY and refused.transport_failure
        assert refused.stored.startswith("connection error: ConnectError:")
        no_cert = _attempt(Downstream("zaken", url, verify=str(pki / "server-ca.pem")))
        assert no_cert.result == RETRY and no_cert.transport_failure
        assert receiver.refs() == ["ref-1"]


def test_a_proxy_in_the_environment_keeps_the_httpx_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """Why: httpx's client routes through ``HTTPS_PROXY`` and friends; the direct client would not."""
    import asyncio

    from gateway.deliver.wire import Direct, new_client

    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    downstream = Downstream("zaken", "http://127.0.0.1:9/zaken")
    direct = new_client(downstream, False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    proxied = new_client(downstream, False)
    assert isinstance(direct, Direct) and isinstance(proxied, httpx.AsyncClient)
    asyncio.run(proxied.aclose())
    asyncio.run(direct.aclose())
