"""``overstap serve`` as the container runs it: environment defaults, clear start-up errors, validation shown.

Why (issue 11, container): a wrong reference folder silently switched validation off; an unwritable
/data or an unreadable TLS key crashed with a traceback; the health check ignored ``--port``; the
entrypoint's flags overrode a config file's ``listen:`` and ``data_dir:``; ``outbox list`` in the
container looked in /data/data. Each is played here with the real CLI and a real server process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from proxy_helpers import ROOT, Start, metric, overstap_command, wait_for

from gateway.cli import main
from gateway.deliver import outbox
from gateway.proxy.config import ConfigError
from gateway.proxy.config_file import from_dict
from gateway.proxy.healthcheck import check
from gateway.proxy.service import Gateway


def serve_fails(args: list[str], env: dict[str, str] | None = None) -> str:
    result = subprocess.run([*overstap_command(), "serve", *args], capture_output=True, text=True, timeout=60,
                            cwd=ROOT, env={**os.environ, **(env or {})})
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def test_an_unusable_data_folder_or_tls_key_is_a_clear_start_up_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    said = serve_fails(["--downstream", "http://127.0.0.1:9/zs", "--data-dir", str(blocker / "data")])
    assert f"data folder {blocker / 'data'} is not writable" in said and "chown -R" in said
    cert = tmp_path / "cert.pem"
    cert.write_text("not a certificate")
    said = serve_fails(["--downstream", "http://127.0.0.1:9/zs", "--data-dir", str(tmp_path / "data"),
                        "--tls-cert", str(cert), "--tls-key", str(tmp_path / "missing-key.pem")])
    assert "TLS files cannot be used" in said and "readable PEM files" in said


def test_config_file_listen_and_data_dir_win_over_container_defaults(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port for a process that binds it itself
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "overstap.yaml"
    config.write_text(f"listen: {{host: 127.0.0.1, port: {port}}}\ndata_dir: mine\nconvert_processes: 0\n"
                      "require_downstream_ready: false\n"
                      "downstreams: {zs: 'http://127.0.0.1:9/zs'}\nroutes:\n  default: {downstream: zs}\n")
    health = tmp_path / "health-url"
    env = {**os.environ, "OVERSTAP_HOST": "0.0.0.0", "OVERSTAP_PORT": "1", "OVERSTAP_HEALTH_FILE": str(health),
           "OVERSTAP_DATA_DIR": str(tmp_path / "image-default")}
    proc = subprocess.Popen([*overstap_command(), "serve", "--config", str(config), "--log-level", "warning"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # the file first: without it check() asks the default port, where another test's server may answer
        assert wait_for(lambda: (health.exists() and check({"OVERSTAP_HEALTH_FILE": str(health)}))
                        or proc.poll() is not None, 60)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert health.read_text().strip() == f"http://127.0.0.1:{port}/healthz"
        assert (tmp_path / "mine" / outbox.DB_NAME).is_file() and not (tmp_path / "image-default").exists()
    finally:
        proc.terminate()
        proc.wait(30)
    listed = CliRunner().invoke(main, ["outbox", "list"], env={"OVERSTAP_DATA_DIR": str(tmp_path / "mine")})
    assert listed.exit_code == 0, listed.output
    assert "0 pending, 0 delivered, 0 dead, 0 quarantined" in listed.output


def test_validation_state_is_shown_and_validate_true_without_schemas_stops_the_start(
        start: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gw_server, _gw = start({"default": {"downstream": "zs", "validate": False}}, {"zs": "http://127.0.0.1:9/zs"},
                           require_downstream_ready=False)
    assert httpx.get(gw_server.url + "/readyz").json()["validation"] == {"default": False}
    assert metric(gw_server.url, "overstap_validation_enabled", route="default") == 0
    empty = tmp_path / "no-reference"
    empty.mkdir()
    monkeypatch.setenv("OVERSTAP_REFERENCE_DIR", str(empty))
    cfg = from_dict({"data_dir": str(tmp_path / "d2"), "downstreams": {"zs": "http://127.0.0.1:9/zs"},
                     "routes": {"default": {"downstream": "zs", "validate": True}}}, tmp_path)
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"routes\.default\.validate"):
        Gateway(cfg)
    assert time.monotonic() - started < 30
