"""A FIFO, socket or device given where the CLI reads a file of its own (a config, a mapping) is refused, exit 2.

Failed before (session 24 review): ``--config`` or ``--mapping`` of a FIFO waited for a writer for ever (``serve``,
``outbox``, ``convert``, ``mapping check``: each hung), and ``serve --mapping`` of a path that is no mapping ended
in a traceback. Now the option's check names the path and what is expected, as for a path that does not exist,
and the mapping and config reader (gateway/mapping/chain.py, also a sidecar's reload and the mappings a config
file names) opens without waiting and refuses what is not a regular file. Inputs are not this: ``convert`` reads a
FIFO or ``/dev/stdin`` given as an INPUT on purpose (docs/batch.md). The real CLI as a process, with a timeout, so a
hang fails the test instead of holding it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from proxy_helpers import ROOT, overstap_command

from gateway.reference import reference_dir

INPUT = str(reference_dir() / "samples" / "iwmo20-xml" / "CasusA-02-WMO301_toewijzing.xml")
"""Read through ``OVERSTAP_REFERENCE_DIR`` like every test (it was this machine's own path)."""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """The real ``overstap`` command; a hang (a FIFO opened for reading) ends in TimeoutExpired, a failure.

    The timeout is a hang guard, not a speed check: a refusal takes ~1 s, and 30 s ran out twice at load 15."""
    return subprocess.run([*overstap_command(), *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=False, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.fixture(params=["fifo", "socket", "device"])
def special(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A FIFO, a listening Unix socket, or a character device (``/dev/zero``, endless) named like a YAML file."""
    path = tmp_path / "serve.yaml"
    if request.param == "fifo":
        os.mkfifo(path)
        yield path
    elif request.param == "socket":
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(path))
            yield path
    else:
        path.symlink_to("/dev/zero")
        yield path


@pytest.mark.parametrize("command", [["serve", "--config"], ["outbox", "list", "--config"],
                                     ["compliance", "--scenarios"], ["mapping", "check"], ["mapping", "test"]])
def test_a_special_file_as_config_or_mapping_file_is_a_usage_error_naming_it(special: Path, command: list[str]
                                                                              ) -> None:
    done = run(*command, str(special))
    assert done.returncode == 2, done.stderr
    expected = "a file or folder" if command[0] == "mapping" else "a file"
    assert done.stderr.splitlines()[-1].endswith(
        f"{str(special)!r} is not a regular file (a FIFO, socket or device): expected {expected}"), done.stderr


def test_convert_with_a_fifo_as_config_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "c.yaml")
    done = run("convert", "--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "out"), "--state", "none",
               INPUT)
    assert done.returncode == 2 and "'--config'" in done.stderr and "is not a regular file" in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", [["convert", "--out", "OUT", "--state", "none", INPUT],
                                     ["serve", "--downstream", "http://127.0.0.1:9/zs", "--data-dir", "DATA"]])
def test_a_fifo_as_mapping_is_a_usage_error_naming_it(tmp_path: Path, command: list[str]) -> None:
    """``--mapping`` takes a name or a file, so the reader judges it: one line naming the path and what it is."""
    fifo = tmp_path / "m.yaml"
    os.mkfifo(fifo)
    args = [{"OUT": str(tmp_path / "out"), "DATA": str(tmp_path / "data")}.get(a, a) for a in command]
    done = run(*args, "--mapping", str(fifo))
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == (f"error: {fifo}:1:1: a FIFO, not a regular file: mapping files are read "
                                            "from regular files only")


def test_serve_with_a_mapping_that_is_no_file_is_a_usage_error_not_a_traceback(tmp_path: Path) -> None:
    done = run("serve", "--downstream", "http://127.0.0.1:9/zs", "--data-dir", str(tmp_path / "data"), "--mapping",
               str(tmp_path / "gone.yaml"))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines()[-1] == (f"error: {tmp_path / 'gone.yaml'}:1:1: no mapping named "
                                            f"'{tmp_path / 'gone.yaml'}' and no such file")


def test_a_config_file_naming_a_fifo_as_its_mapping_is_refused_by_the_reader(tmp_path: Path) -> None:
    """The option's check sees the config file only; the mapping it names is judged by the reader."""
    fifo = tmp_path / "m.yaml"
    os.mkfifo(fifo)
    config = tmp_path / "serve.yaml"
    config.write_text(json.dumps({"data_dir": str(tmp_path / "data"), "downstreams": {"zs": "http://127.0.0.1:9/zs"},
                                  "routes": {"default": {"downstream": "zs", "mappings": [str(fifo)]}}}))
    done = run("serve", "--config", str(config))
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == (f"error: {fifo}:1:1: a FIFO, not a regular file: mapping files are read "
                                            "from regular files only")


@pytest.mark.parametrize("command", ["convert", "batch"])
def test_a_fifo_as_state_is_named_as_what_it_is(tmp_path: Path, command: str) -> None:
    """Refused before too (exit 2), but as "cannot open the zaak ledger: File exists" (mkdir's words)."""
    fifo = tmp_path / "state"
    os.mkfifo(fifo)
    done = run(command, "--out", str(tmp_path / "out"), "--state", str(fifo), INPUT)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == (f"error: --state {fifo}: cannot open the zaak ledger: it is a FIFO, "
                                            "socket or device, not a folder")
