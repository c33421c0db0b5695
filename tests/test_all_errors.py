"""A message with several independent errors names all of them in one run — in ``convert``, ``explain``,
batch report lines and the sidecar's Fo03 — bounded to the first 20 and "and N more" (issue 12).

Why: an integrator fixing an invalid file should not need one run per problem.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from lxml import etree
from proxy_helpers import Receiver, ServerThread, metric, sample
from shared_registry import shared_registry

from gateway.cli import main
from gateway.deliver import outbox
from gateway.mapping import ConversionError, Registry
from gateway.mapping.errors import MAX_ERRORS
from gateway.pipeline import Converter, describe
from gateway.proxy.app import create_app
from gateway.proxy.config_file import from_dict
from gateway.proxy.service import Gateway
from gateway.render.stuf import MAX_DETAILS

STUF = "{http://www.egem.nl/StUF/StUF0301}"
BAD = {  # three independent errors in three fields: a bad date, a BSN of 5 digits, a code not in its list
    b"<iwmo:Dagtekening>2016-02-20</iwmo:Dagtekening>": b"<iwmo:Dagtekening>2016-02-31</iwmo:Dagtekening>",
    b"<wmo301:Bsn>123456782</wmo301:Bsn>": b"<wmo301:Bsn>12345</wmo301:Bsn>",
    b"<wmo301:Geslacht>1</wmo301:Geslacht>": b"<wmo301:Geslacht>7</wmo301:Geslacht>",
}
EXPECTED = [(13, "dagtekening"), (19, "clients.0.bsn"), (25, "clients.0.geslacht")]  # line, field


def three_errors() -> bytes:
    message = sample()
    for old, new in BAD.items():
        assert message.count(old) == 1
        message = message.replace(old, new)
    return message


def _named(text: str) -> list[tuple[int, str]]:
    """(line, field) of every ``file:LINE: FIELD <- ...`` in ``text``, in order."""
    return [(int(m.group(1)), m.group(2)) for m in re.finditer(r"[\w./-]+:(\d+): ([a-z0-9_.]+) <- ", text)]


def test_convert_names_all_three_in_one_run(tmp_path: Path) -> None:
    (tmp_path / "drie.xml").write_bytes(three_errors())
    result = CliRunner().invoke(main, ["convert", str(tmp_path / "drie.xml"), "--out", str(tmp_path / "out"),
                                       "--no-validate", "--state", "none"])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("FAIL ") and lines[1].startswith("     also ") and lines[2].startswith("     also ")
    assert _named(result.output) == EXPECTED
    assert "day value is outside expected range (got 10 characters in the form dddd-dd-dd)" in lines[0]
    assert "code '7' is not in value map 'geslacht'" in lines[2]  # a code is shown, a date only by its form
    assert "2016-02-31" not in result.output
    assert "12345" not in result.output  # a BSN is never echoed, not even a broken one
    assert "more problem" not in result.output


def test_explain_names_all_three(tmp_path: Path) -> None:
    (tmp_path / "drie.xml").write_bytes(three_errors())
    result = CliRunner().invoke(main, ["explain", str(tmp_path / "drie.xml")])
    assert result.exit_code == 1
    assert _named(result.output) == EXPECTED


def test_batch_report_line_lists_every_error(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "drie.xml").write_bytes(three_errors())
    result = CliRunner().invoke(main, ["batch", str(inputs), "--out", str(tmp_path / "out"), "--no-validate",
                                       "--workers", "0"])
    assert result.exit_code == 1, result.output
    [line] = [json.loads(x) for x in (tmp_path / "out/report.jsonl").read_text(encoding="utf-8").splitlines()]
    assert line["status"] == "failed"
    assert [(e["line"], e["field"].split(" <- ")[0]) for e in line["errors"]] == EXPECTED
    assert line["error"] == line["errors"][0] and "more_errors" not in line
    reason = next((tmp_path / "out/quarantine").rglob("*.reason")).read_text(encoding="utf-8")
    assert _named(reason.split("also: ", 1)[1]) == EXPECTED[1:]


def test_a_failed_rule_does_not_also_report_its_value_as_missing() -> None:
    """The BSN rule fails (required, nothing there); the model must not add "required field missing" for it."""
    message = three_errors().replace(b"<wmo301:Bsn>12345</wmo301:Bsn>", b"")
    with pytest.raises(ConversionError) as caught:
        Converter(shared_registry()).convert(message, "drie.xml")
    info = describe(caught.value)
    assert [(p.line, (p.field or "").split(" <- ")[0]) for p in info.problems] == [
        (13, "dagtekening"), (18, "clients.0.bsn"), (25, "clients.0.geslacht")]
    assert [p.message for p in info.problems][1] == "required value missing: nothing at 'm:Bsn'"


def test_the_count_is_bounded() -> None:
    client = re.search(rb"<wmo301:Client>.*?</wmo301:Client>", sample(), re.S)
    assert client is not None
    bad = client.group(0).replace(b"<wmo301:Geslacht>1<", b"<wmo301:Geslacht>7<")
    message = sample().replace(client.group(0), bad * 25)
    with pytest.raises(ConversionError) as caught:
        Converter(shared_registry()).convert(message, "veel.xml")
    info = describe(caught.value, "veel.xml")
    assert len(info.problems) == MAX_ERRORS and info.left_out == 25 - MAX_ERRORS
    assert [p.field.split(" <- ")[0] for p in info.problems] == [f"clients.{i}.geslacht" for i in range(MAX_ERRORS)]
    assert info.more == "and 5 more problems"
    details = info.fitted(MAX_DETAILS)  # what a Fo03 carries: whole lines, then the count of the rest
    assert len(details) <= MAX_DETAILS
    kept = details.splitlines()
    assert kept[-1] == f"and {25 - len(kept) + 1} more problems" and len(kept) > 3
    assert kept[:-1] == [str(p) for p in info.problems[:len(kept) - 1]]


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Gateway]]:
    sample()  # skips without the reference samples
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        cfg = from_dict({"data_dir": str(tmp_path_factory.mktemp("all-errors")), "watch_mappings": False,
                         "convert_processes": 0, "downstreams": {"zs": ds.url},
                         "routes": {"strict": {"downstream": "zs"}}, "fault_status": "http"})
        gw = Gateway(cfg, Registry())
        with ServerThread(create_app(cfg, gw)) as server:
            yield server.url, gw


def test_the_sidecar_fo03_lists_all_three(sidecar: tuple[str, Gateway]) -> None:
    url, gw = sidecar
    response = httpx.post(url + "/soap/strict", content=three_errors())
    assert response.status_code == 422
    fo = next(el for el in etree.fromstring(response.content).iter() if el.tag == f"{STUF}Fo03Bericht")
    omschrijving = fo.findtext(f"{STUF}body/{STUF}omschrijving")
    details = fo.findtext(f"{STUF}body/{STUF}details")
    assert omschrijving.startswith("3 problems; first: dagtekening")
    assert _named(details) == EXPECTED and len(details.splitlines()) == 3
    assert details.startswith("strict:13: dagtekening")  # the sidecar names its route where a file would be
    assert "12345" not in response.text
    kept = outbox.message(outbox.connect(gw.db_path), int(response.headers["x-overstap-quarantine"]))
    assert (kept["fault_line"], kept["fault_field"].split(" <- ")[0]) == EXPECTED[0]
    assert _named(kept["reason"]) == EXPECTED
    assert metric(url, "overstap_rejected_total", route="strict", reason="invalid") == 1


@pytest.mark.parametrize(("expected", "ok"), [
    ("{field: clients.0.geslacht, line: 25}", True),  # the third error: any of them may be the one expected
    ("{field: clients.0.bsn, contains: pattern}", True),
    ("{field: clients.0.geslacht, line: 19}", False),  # every key must fit one and the same error
])
def test_expect_error_in_a_mapping_test_matches_any_of_the_errors(tmp_path: Path, expected: str, ok: bool) -> None:
    from gateway.tooling.mappingtest import run_file

    (tmp_path / "drie.xml").write_bytes(three_errors())
    mapping = tmp_path / "m.yaml"
    mapping.write_text("overstap-mapping: 1\nname: drie-fouten\nextends: iwmo20-wmo301\nmatch: {route: nergens}\n"
                       f"tests:\n  - name: drie\n    input: drie.xml\n    expect_error: {expected}\n", encoding="utf-8")
    result = run_file(mapping, Registry(files=[mapping]))
    assert not result.problems and [c.status for c in result.cases] == (["pass"] if ok else ["fail"])
