"""A serve config (or flag) whose number is no number, whose port is no TCP port, or whose downstream is no http(s)
URL stops ``overstap serve`` (and ``convert``/``batch --config``) with one line naming it, exit 2.

Why (session 23 review): ``listen: {port: abc}`` or ``max_body_bytes: 10MB`` ended ``serve`` in a ValueError
traceback; ``--port 99999`` (or ``listen.port: 99999``) started a sidecar that said it ran on :99999 while the
socket took 99999 modulo 65536 (34463); ``--downstream file:///etc/passwd`` was taken (the file form refuses it),
every message answered Bv03 and then never delivered.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.proxy.config import ConfigError
from gateway.proxy.config_file import load

OVERSTAP = [sys.executable, "-c", "from gateway.cli import main; main()"]


def serve(*args: str) -> tuple[int, list[str]]:
    """The real ``overstap serve`` in a process of its own: one that wrongly starts is stopped by the timeout
    (a failure), not left serving inside the test."""
    done = subprocess.run([*OVERSTAP, "serve", *args], capture_output=True, text=True, timeout=60)
    return done.returncode, (done.stdout + done.stderr).splitlines()


GRACE = ("renew_grace: seconds a StUF019 dead letter's renewal waits before another replica's poll pays it; "
         "more than 0, got")
"""0 or less would have every replica's poll race the one paying its own debt (docs/ggk-profile.md 5.2)."""
ROUTES = "downstreams: {zs: {url: 'http://127.0.0.1:9/soap'}}\nroutes: {default: {downstream: zs}}\n"


@pytest.mark.parametrize(("top", "said"), [
    ("listen: {port: abc}\n", "listen.port: expected a whole number, got text that is not one"),
    ("max_body_bytes: 10MB\n", "max_body_bytes: expected a whole number, got text that is not one"),
    ("convert_processes: [2]\n", "convert_processes: expected a whole number, not a list"),
    ("shutdown_grace: {s: 1}\n", "shutdown_grace: expected a number, not a dict"),
    ("body_timeout: true\n", "body_timeout: expected a number, not a bool"),
    ("listen: {port: 99999}\n", "listen.port (or --port): 99999 is no TCP port; expected 1 to 65535"),
    ("listen: {port: 0}\n", "listen.port (or --port): 0 is no TCP port; expected 1 to 65535"),
    ("renew_grace: 0\n", f"{GRACE} 0"),
    ("renew_grace: -5\n", f"{GRACE} -5"),
    ("renew_grace: .nan\n", f"{GRACE} nan"),
    ("poll_interval: 0\n", "poll_interval: seconds between the forwarder's looks at the outbox; more than 0 and "
                           "finite, got 0"),
])
def test_a_config_number_that_is_none_is_named_in_one_line(top: str, said: str, tmp_path: Path) -> None:
    config = tmp_path / "overstap.yaml"
    config.write_text(top + ROUTES)
    assert serve("--config", str(config), "--data-dir", str(tmp_path / "data")) == (2, [f"error: {config}: {said}"])
    result = CliRunner().invoke(main, ["convert", str(config), "--out", str(tmp_path / "out"), "--state", "none",
                                       "--config", str(config)])
    assert isinstance(result.exception, SystemExit), result.exception
    assert (result.exit_code, result.output.splitlines()) == (2, [f"error: --config {config}: {said}"])
    assert not (tmp_path / "data").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize(("key", "value", "rule"), [
    *[("poll_interval", v, "seconds between the forwarder's looks at the outbox; more than 0")
      for v in ("0", "-1", ".nan", ".inf")],
    *[("watch_interval", v, "seconds between the looks at the mapping files; more than 0") for v in ("0", ".nan")],
    *[(k, v, f"seconds {what}; more than 0") for k, what in (("header_timeout", "a request's headers may take"),
                                                               ("body_timeout", "a request's body may take"))
      for v in ("0", "-2", ".nan")],
    *[("body_rate_window", v, "seconds over which min_body_rate is judged; more than 0") for v in ("0", ".nan")],
    *[("shutdown_grace", v, "seconds the deliveries in flight get at a stop; 0 or more") for v in ("-1", ".nan",
                                                                                                   ".inf")],
])
def test_a_setting_in_seconds_that_would_spin_hang_or_crash_is_refused_by_name(key: str, value: str, rule: str,
                                                                               tmp_path: Path) -> None:
    """Session 29: ``poll_interval: 0`` spun the forwarder's poll (``asyncio.sleep(0)`` in a loop); a NaN passed
    every bound (each comparison false), an infinite grace ended the start in an OverflowError (an infinite poll the
    store listener's thread, at its first wait after a lost connection). Each is
    refused at start, naming the setting, what it is and the bound, with the value read (a number: never a secret)."""
    config = tmp_path / "overstap.yaml"
    config.write_text(f"{key}: {value}\n" + ROUTES)
    read = float(value.replace(".nan", "nan").replace(".inf", "inf"))
    with pytest.raises(ConfigError) as refused:
        load(config, env={})
    assert str(refused.value) == f"{config}: {key}: {rule} and finite, got {read:g}"


def test_the_smallest_settings_in_seconds_that_make_sense_are_taken(tmp_path: Path) -> None:
    """A stop that waits for nothing (``shutdown_grace: 0``) and a fast poll are kept, not refused with the rest."""
    config = tmp_path / "overstap.yaml"
    config.write_text("shutdown_grace: 0\npoll_interval: 0.05\nwatch_interval: 0.2\nheader_timeout: 0.5\n" + ROUTES)
    cfg = load(config, env={})
    assert (cfg.shutdown_grace, cfg.poll_interval, cfg.watch_interval, cfg.header_timeout) == (0.0, 0.05, 0.2, 0.5)


def test_a_port_and_a_number_from_the_environment_still_read(tmp_path: Path) -> None:
    config = tmp_path / "overstap.yaml"
    config.write_text("listen: {port: '${PORT_OF_TEST:-8443}'}\nshutdown_grace: '2.5'\n" + ROUTES)
    cfg = load(config, env={})
    assert (cfg.port, cfg.shutdown_grace, cfg.renew_grace) == (8443, 2.5, 10.0)  # the grace's default: RENEW_GRACE
    config.write_text("renew_grace: '${GRACE_OF_TEST:-0.25}'\n" + ROUTES)
    assert load(config, env={}).renew_grace == 0.25


@pytest.mark.parametrize(("flags", "said"), [
    (["--downstream", "http://127.0.0.1:9/soap", "--port", "99999"],
     "listen.port (or --port): 99999 is no TCP port; expected 1 to 65535"),
    (["--downstream", "file:///etc/passwd"], "--downstream: expected an http(s) URL, not one with scheme 'file'"),
    (["--downstream", "127.0.0.1:9/soap"], "--downstream: expected an http(s) URL, not one with no scheme"),
    (["--downstream", "http://127.0.0.1:9/soap", "--mode", "shadow", "--legacy-downstream",
      "postgresql://u:secret@db/x"], "--legacy-downstream: expected an http(s) URL, not one with scheme 'postgresql'"),
])
def test_a_flag_form_port_or_downstream_it_cannot_use_stops_the_start(flags: list[str], said: str,
                                                                      tmp_path: Path) -> None:
    code, lines = serve(*flags, "--data-dir", str(tmp_path / "data"))
    assert (code, lines) == (2, [f"error: {said}"])
    assert not (tmp_path / "data").exists()


def test_the_testbed_refuses_a_port_that_is_none(tmp_path: Path) -> None:
    """``overstap testbed --port 99999`` served on 34463 too; the compliance --listen had its range already."""
    done = subprocess.run([*OVERSTAP, "testbed", "--port", "99999", "--data-dir", str(tmp_path / "tb")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "'--port': 99999 is not in the range 1<=x<=65535" in done.stderr, done.stderr
    assert not (tmp_path / "tb").exists()
