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


def test_a_scenario_file_that_is_no_yaml_is_named_in_one_line_with_its_place(tmp_path: Path,
                                                                             reference_dir: Path) -> None:
    """Why (session 23 review): PyYAML's text came as it is, over five lines, naming "<unicode string>"."""
    mine = tmp_path / "mine.yaml"
    mine.write_text(f"scenarios:\n  - id: x\n    messages: [{B01}\n")
    result = CliRunner().invoke(main, ["compliance", "--target", "http://127.0.0.1:9/soap", "--scenarios", str(mine),
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"error: {mine}:4:1: not valid YAML: expected ',' or ']', but got '<stream end>'"]


def test_a_report_folder_or_target_it_cannot_use_is_refused_before_anything_is_sent(tmp_path: Path,
                                                                                    reference_dir: Path) -> None:
    """Why (session 23 review): an --out that was a file was found only when the report was written, after every
    scenario had been sent to the receiver (zaken made there): a traceback and exit 1, as if a scenario had
    failed. A --target that is no http(s) URL ran every scenario to fail with UnsupportedProtocol."""
    import httpx
    from proxy_helpers import ServerThread

    from gateway.receiver import Receiver
    from gateway.testbed import Journal, create_app

    a_file = tmp_path / "report.txt"
    a_file.write_text("mine")
    journal = Journal(tmp_path / "tb")
    with ServerThread(create_app(Receiver(), journal)) as tb:
        for args, said in (
            (["--target", tb.url + "/soap", "--out", str(a_file)],
             f"error: --out {a_file}: cannot make the report folder: it is a file, not a folder"),
            (["--target", tb.url + "/soap", "--out", str(a_file / "sub")],
             f"error: --out {a_file / 'sub'}: cannot make the report folder: Not a directory"),
            (["--target", "file:///etc/passwd", "--out", str(tmp_path / "out")],
             "error: --target: expected an http:// or https:// URL with a host (this one has scheme 'file' and no "
             "host)"),
            (["--target", tb.url + "/soap", "--state-url", "ftp://x/zaken", "--out", str(tmp_path / "out")],
             "error: --state-url: expected an http:// or https:// URL with a host (this one has scheme 'ftp')"),
        ):
            result = CliRunner().invoke(main, ["compliance", *args])
            assert result.exception is None or isinstance(result.exception, SystemExit), result.output
            assert (result.exit_code, result.output.splitlines()) == (2, [said])
        assert httpx.get(tb.url + "/api/zaken").json() == {}, "nothing was sent to the receiver"
    journal.close()
    assert a_file.read_text() == "mine"
