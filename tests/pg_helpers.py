"""A real PostgreSQL server for tests: initdb in a temporary folder, started on a free port, stopped at the end.

The distribution's binaries (apt-get install postgresql; .ci/run installs them) are found on PATH or under
/usr/lib/postgresql/*/bin. PostgreSQL refuses to run as root: as root the server runs as the ``postgres``
user the package creates. Without binaries the tests skip locally with the reason, and fail in CI.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from proxy_helpers import free_port


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI must test the PostgreSQL store, but {reason} (.ci/run installs postgresql)")
    pytest.skip(f"{reason}: apt-get install postgresql")


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the URL of a fresh database on a server that lives as long as the block."""
    initdb, postgres = _binary("initdb"), _binary("postgres")
    if initdb is None or postgres is None:
        _missing("PostgreSQL's initdb/postgres are not installed")
    try:
        import psycopg
    except ImportError:
        _missing("psycopg is not installed (pip install -e '.[dev]')")
    as_root = os.geteuid() == 0
    user = None
    if as_root:
        import pwd

        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            _missing("running as root and there is no 'postgres' user to run the server as")
    folder = Path(tempfile.mkdtemp(prefix="overstap-pg-", dir="/tmp"))
    data = folder / "data"

    def demote() -> None:
        if user is not None:
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)

    if user is not None:
        os.chown(folder, user.pw_uid, user.pw_gid)
    port = free_port()
    server = None
    try:
        subprocess.run([initdb, "-D", str(data), "-U", "overstap", "--auth=trust", "-E", "UTF8", "--no-sync"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=demote)
        server = subprocess.Popen([postgres, "-D", str(data), "-p", str(port), "-h", "127.0.0.1", "-k", str(folder),
                                   "-c", "fsync=off", "-c", "synchronous_commit=off"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=demote)
        url = f"postgresql://overstap@127.0.0.1:{port}/postgres"
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(url, connect_timeout=1).close()
                break
            except psycopg.OperationalError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the PostgreSQL test server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)  # fast shutdown: disconnect clients, stop
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """A PostgreSQL server for the module that binds this fixture (``server = pg_helpers.server``)."""
    with postgres_server() as url:
        yield url


def fresh_database(url: str, name: str) -> str:
    """A new, empty database on the server of ``url``; its URL."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name


def database_for(server: str, request: pytest.FixtureRequest, prefix: str) -> str:
    """A fresh database named after the test asking for it (``prefix`` keeps modules on one server apart)."""
    name = request.node.name.lower()[:50].replace("[", "_").replace("]", "").replace("-", "_")
    return fresh_database(server, f"{prefix}_{name}")
