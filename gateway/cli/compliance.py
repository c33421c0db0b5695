"""``overstap compliance``: the scenario set against a vendor's receiver (--target) or from its sender (--listen)."""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import click

from . import main
from .common import EXIT_FAILED, EXIT_OK, RegularPath, fail_usage


@main.command()
@click.option("--target", default=None, help="SOAP URL of the receiver under test: the scenarios are sent to it.")
@click.option("--state-url", default=None,
              help="Where the receiver shows a zaak as JSON (GET URL/{identificatie}); default for a target ending in "
                   "/soap: the same base + /api/zaken (the testbed's). 'none' to check answers only.")
@click.option("--listen", "listen_port", type=click.IntRange(1, 65535), default=None,
              help="Run the testbed on this port and judge what the vendor's system sends to it.")
@click.option("--idle", type=float, default=30.0, show_default=True,
              help="--listen: stop this many seconds after the last message.")
@click.option("--wait", type=click.FloatRange(min=0, min_open=True), default=600.0, show_default=True,
              help="--listen: give up (exit 1) when no message has arrived within this many seconds.")
@click.option("--scenarios", "scenario_file", type=RegularPath(), default=None,
              help="A scenario file of your own (default: the built-in set, docs/compliance.md).")
@click.option("--only", multiple=True, help="Only these scenario ids.")
@click.option("--out", "out_dir", default="compliance-report", show_default=True,
              help="Folder for compliance.html and junit.xml.")
@click.option("--data-dir", default=None, help="--listen: the testbed's folder (default: OUT/testbed).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
              help="--target: seconds an answer may take in all; a scenario stops at its first unanswered message.")
def compliance(target: str | None, state_url: str | None, listen_port: int | None, idle: float, wait: float,
               scenario_file: str | None, only: tuple[str, ...], out_dir: str, data_dir: str | None,
               timeout: float) -> None:
    """Check a vendor's system against the scenario set.

    Exit status: 0 every scenario passed; 1 at least one failed (each FAIL line says why), or --listen received
    nothing within --wait; 2 a usage error (a bad option or scenario file), before anything is sent; 130/143
    --listen stopped by Ctrl-C/SIGTERM before its verdict.

    With --target the chains of the public samples are converted by Overstap and sent (with messages that are
    wrong on purpose, which must be refused); with --listen the vendor's system sends them to the testbed.
    """
    from gateway.compliance import report
    from gateway.compliance.listen import NoVerdict, listen
    from gateway.compliance.run import play_all
    from gateway.compliance.scenarios import DEFAULT, ScenarioError, load
    from gateway.reference import reference_dir

    if (target is None) == (listen_port is None):
        fail_usage("give exactly one of --target URL (test a receiver) and --listen PORT (test a sender)")
    try:
        scenarios = load(Path(scenario_file) if scenario_file else DEFAULT, reference_dir())
    except ScenarioError as exc:
        fail_usage(str(exc))
    if only:
        unknown = set(only) - {s.id for s in scenarios}
        if unknown:
            fail_usage(f"no scenario {', '.join(sorted(unknown))}; the set has {', '.join(s.id for s in scenarios)}")
        scenarios = [s for s in scenarios if s.id in only]
    folder = _report_folder(Path(out_dir))  # before anything is sent: a vendor's receiver keeps what it got
    if target is not None:
        _http_url("--target", target)
        if state_url not in (None, "none"):
            _http_url("--state-url", state_url)
        if state_url is None and target.rstrip("/").endswith("/soap"):
            state_url = target.rstrip("/")[: -len("/soap")] + "/api/zaken"
        outcomes = play_all(scenarios, target, None if state_url in (None, "none") else state_url,
                            timeout=timeout)
        title = f"Compliance of the receiver at {target}"
    else:
        assert listen_port is not None
        taken = _taken("127.0.0.1", listen_port)
        if taken:  # else the testbed's thread dies, and every scenario fails as if the vendor had sent nothing
            fail_usage(f"--listen {listen_port}: cannot listen on 127.0.0.1:{listen_port}: {taken}")
        click.echo(f"testbed listening on http://127.0.0.1:{listen_port}/soap; send the scenario chains "
                   f"({', '.join(s.id for s in scenarios if not s.wrong)}); judging {idle:g}s after the last message"
                   f" (giving up if none within {wait:g}s)", err=True)
        with _stop_on_signal() as (stop, caught):
            try:
                outcomes = listen(scenarios, "127.0.0.1", listen_port,
                                  Path(data_dir) if data_dir else folder / "testbed", idle, wait=wait, stop=stop)
            except NoVerdict as exc:
                click.echo(f"error: {exc}", err=True)
                sys.exit(128 + caught[0] if caught else EXIT_FAILED)
        title = "Compliance of the sender (messages received by the testbed)"
    page, xml = report.write(outcomes, folder, title)
    for o in outcomes:
        verdict = "PASS" if o.passed else "FAIL"
        click.echo(f"{verdict} {o.scenario.id}" + (f": {'; '.join(o.problems)}" if o.problems else "")
                   + (f" (skipped: {'; '.join(o.skipped)})" if o.skipped and o.passed else ""))
    failed = sum(not o.passed for o in outcomes)
    click.echo(f"{len(outcomes) - failed} of {len(outcomes)} scenarios passed; report {page}, JUnit {xml}")
    sys.exit(EXIT_FAILED if failed else EXIT_OK)


def _report_folder(folder: Path) -> Path:
    """``--out``, made now: found unusable only at the report, a run would have sent every scenario to the
    receiver (zaken made there) and then ended in a traceback with exit 1, as if a scenario had failed."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = "it is a file, not a folder" if folder.is_file() else exc.strerror or exc
        fail_usage(f"--out {folder}: cannot make the report folder: {reason}")
    return folder


def _http_url(option: str, url: str) -> None:
    """An http(s) URL with a host, else a usage error before anything is sent (not a run of failures saying
    ``UnsupportedProtocol``). The URL itself is not repeated: it may hold a password."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        fail_usage(f"{option}: expected an http:// or https:// URL with a host (this one has "
                   f"{'scheme ' + repr(parts.scheme) if parts.scheme else 'no scheme'}"
                   f"{'' if parts.hostname else ' and no host'})")


def _taken(host: str, port: int) -> str | None:
    """Why ``port`` cannot be listened on (in use, not allowed), None when it can: asked before the run starts."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no obstacle
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


@contextlib.contextmanager
def _stop_on_signal() -> Iterator[tuple[threading.Event, list[int]]]:
    """An event that Ctrl-C and SIGTERM set (and the signals caught), so --listen stops its testbed and says so
    instead of dying with a traceback (Ctrl-C) or without a word (SIGTERM). Off the main thread: left alone."""
    stop, caught = threading.Event(), []

    def handle(signum: int, frame: FrameType | None) -> None:
        caught.append(signum)
        stop.set()

    saved = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            saved[sig] = signal.signal(sig, handle)
        except ValueError:  # not the main thread (a test's runner): no handlers to install
            break
    try:
        yield stop, caught
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)
