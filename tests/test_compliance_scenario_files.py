"""A hostile or mistaken ``compliance --scenarios`` file is a usage error naming file, scenario and key (exit 2).

Why (session 21 review): a file that is not UTF-8, or whose ``zaken`` is not a list, ended in a traceback; a few
lines of nested YAML aliases as the id ran for minutes filling memory (the "billion laughs"); ``messages`` given
as one text was read letter by letter; an id of a mapping, a list as code or title, and two scenarios of one id
were taken as they came.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main

B01 = "samples/iwmo20-xml/CasusB-01-WMO301_toewijzing.xml"
LAUGHS = ("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
          "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nscenarios:\n  - id: *c\n    messages: [" + B01 + "]\n")


@pytest.mark.parametrize(("text", "said"), [
    (b"\xff\xfe bad", "byte 0 is not UTF-8; expected a UTF-8 YAML file"),
    (LAUGHS.encode(), "aliases (*name) are not allowed in a scenario file"),
    (f"scenarios:\n  - id: x\n    messages: [{B01}]\n    zaken: 5\n".encode(), "scenario x: zaken must be a list"),
    (f"scenarios:\n  - id: x\n    messages: {B01}\n".encode(), "scenario x: messages must be a list of texts"),
    (f"scenarios:\n  - id: {{a: 1}}\n    messages: [{B01}]\n".encode(), "scenarios[0]: id must be a text"),
    (f"scenarios:\n  - id: x\n    messages: [{B01}]\n    code: [1, 2]\n".encode(), "scenario x: code must be a text"),
    (f"scenarios:\n  - id: x\n    messages: [{B01}]\n  - id: x\n    messages: [{B01}]\n".encode(),
     "scenario x: a second scenario of that id; ids must differ"),
    (f"scenarios:\n  - id: x\n    messages: [{B01}]\n    zaken: [{{kenmerk: 1, zaaktype: W, statussen: 5}}]\n".encode(),
     "scenario x: a zaak's statussen must be a list of texts"),
])
def test_a_scenario_file_that_cannot_be_used_is_a_usage_error_naming_where(tmp_path: Path, reference_dir: Path,
                                                                          text: bytes, said: str) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_bytes(text)
    result = CliRunner().invoke(main, ["compliance", "--target", "http://127.0.0.1:9/soap", "--scenarios", str(mine),
                                       "--out", str(tmp_path / "out")])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 2
    assert result.output.splitlines()[0] == f"error: {mine}: {said}"
    assert not (tmp_path / "out").exists()  # refused before anything is sent


def test_listen_on_a_port_in_use_is_a_usage_error_not_a_run_of_failures(tmp_path: Path, reference_dir: Path) -> None:
    """Why: the testbed's thread died on the bind, and every scenario failed as if the vendor had sent nothing."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["compliance", "--listen", str(port), "--idle", "1",
                                           "--out", str(tmp_path / "out")])
    assert (result.exit_code, result.output.splitlines()) == (
        2, [f"error: --listen {port}: cannot listen on 127.0.0.1:{port}: Address already in use"])
