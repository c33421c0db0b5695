"""Unmapped input in the sidecar: nothing a vendor sends is dropped without a word, and no value is told.

Why: the project promises that a source value no mapping rule used is reported. The batch and the CLI did; the
sidecar converted, acknowledged and forgot, so an integrator running it in shadow or translate mode could not see
a vendor's new element being lost. Here a WMO301 with a new element and a new attribute goes through real
sidecars on 127.0.0.1 (the ledger's step and the plain one, a thread and a worker process): its log names the
message by id and reference and the two paths with their lines, /metrics counts them per mapping, the outbox keeps
them for ``overstap outbox`` and the console, and none of the message's values appears in any of those.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from console_helpers import console_config, login
from lxml import etree
from proxy_helpers import GatewayProcess, Receiver, ServerThread, Start, free_port, metric, sample, variant, wait_for

from gateway.cli import main
from gateway.deliver import outbox
from gateway.deliver.unmapped import MAX_LISTED, UnmappedInput
from gateway.proxy.logs import JsonFormatter

A02 = "CasusA-02-WMO301_toewijzing.xml"
REF = "1d8d1f0852bf"
"""The sample's Identificatie: the sender's reference, which names the message in the log."""
CLIENT = "/wmo301:Bericht/wmo301:Clienten/wmo301:Client"
SPOTS = [(f"{CLIENT}/@notitie", 18), (f"{CLIENT}/wmo301:Huisdier", 20)]
LOST = ("diabetes sinds 2019", "Bello van Gaastra")
"""The values no rule reads: care data and a name, never to be logged or kept outside the message itself."""


def with_unmapped(message: bytes) -> bytes:
    """The sample with a vendor's new attribute on Client (line 18) and new element after Bsn (line 20)."""
    out = message.replace(b"<wmo301:Client>", f'<wmo301:Client notitie="{LOST[0]}">'.encode(), 1)
    return out.replace(b"<wmo301:Bsn>123456782</wmo301:Bsn>",
                       f"<wmo301:Bsn>123456782</wmo301:Bsn>\n\t\t\t<wmo301:Huisdier>{LOST[1]}</wmo301:Huisdier>"
                       .encode(), 1)


def values_of(message: bytes) -> set[str]:
    """Every element text and attribute value of the message of four characters or more, but its reference."""
    root = etree.fromstring(message)
    found = {(el.text or "").strip() for el in root.iter()} | {v.strip() for el in root.iter() for v in el.values()}
    return {v for v in found if len(v) >= 4 and v != REF}


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """The sidecar's log lines as its JSON handler writes them (gateway/proxy/logs.py), at info."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def unmapped_lines(text: str) -> list[dict[str, Any]]:
    return [doc for doc in map(json.loads, filter(None, text.splitlines())) if doc["logger"] == "overstap.unmapped"]


def expected_msg(message_id: int, mode: str) -> str:
    return (f"message {message_id} on route default ({mode}, mapping iwmo20-wmo301, ref {REF}): 2 source value(s) no "
            f"mapping rule used, not in the canonical message: {SPOTS[0][0]} (line 18); {SPOTS[1][0]} (line 20)")


def test_unmapped_input_is_logged_by_reference_and_path_and_counted_per_mapping(start: Start,
                                                                                logged: io.StringIO) -> None:
    """Translate with the ledger (the stateful step): the log line, the counters, a re-send, a clean message."""
    sent = with_unmapped(sample(A02))
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        server, _gw = start({"default": {"downstream": ds.url + "/zs"}}, {})
        r = httpx.post(server.url + "/soap", content=sent, timeout=30)
        assert r.status_code == 200, r.text
        message_id = int(r.headers["x-overstap-message"])
        (line,) = unmapped_lines(logged.getvalue())
        assert line["level"] == "warning" and line["msg"] == expected_msg(message_id, "translate")
        assert line["unmapped"] == [{"path": p, "line": n} for p, n in SPOTS] and line["unmapped_count"] == 2
        assert (line["message_id"], line["source_ref"], line["mapping"]) == (message_id, REF, "iwmo20-wmo301")
        told = json.dumps(line, ensure_ascii=False)
        assert [v for v in values_of(sent) if v in told] == []  # not one value of the message, the lost ones included
        labels = {"route": "default", "mapping": "iwmo20-wmo301"}
        assert metric(server.url, "overstap_unmapped_messages_total", **labels) == 1
        assert metric(server.url, "overstap_unmapped_values_total", **labels) == 2
        again = httpx.post(server.url + "/soap", content=sent, timeout=30)  # a re-send: reported when it came first
        assert again.status_code == 200 and again.headers["x-overstap-duplicate"] == "true"
        clean = httpx.post(server.url + "/soap", content=variant(sample(A02), 1), timeout=30)
        assert clean.status_code == 200, clean.text
        assert wait_for(lambda: len(rec.received) == 2)
        assert len(unmapped_lines(logged.getvalue())) == 1
        assert metric(server.url, "overstap_unmapped_messages_total", **labels) == 1
        assert metric(server.url, "overstap_unmapped_values_total", **labels) == 2
    assert not [v for v in LOST if v in logged.getvalue()]  # in no log line of the whole run


def test_unmapped_input_is_kept_with_the_message_for_outbox_list_and_the_console(start: Start, tmp_path: Path) -> None:
    sent = with_unmapped(sample(A02))
    with ServerThread(Receiver().app()) as ds:
        server, gw = start({"default": {"downstream": ds.url + "/zs"}}, {}, admin_key="key", console=console_config())
        lossy = int(httpx.post(server.url + "/soap", content=sent, timeout=30).headers["x-overstap-message"])
        clean = int(httpx.post(server.url + "/soap", content=variant(sample(A02), 1),
                               timeout=30).headers["x-overstap-message"])
        conn = outbox.connect(gw.db_path)
        stored = {r["id"]: r["unmapped"] for r in outbox.message_rows(conn)}
        assert stored[clean] is None and UnmappedInput.decode(stored[lossy]) == UnmappedInput(2, tuple(SPOTS))
        assert [v for v in values_of(sent) if v in stored[lossy]] == []
        data = str(tmp_path / "data")
        listed = CliRunner().invoke(main, ["outbox", "list", "--unmapped", "--data-dir", data])
        assert listed.exit_code == 0, listed.output
        first, *rest = listed.output.splitlines()
        assert first.startswith(f"{lossy:<7} ") and first.endswith(f"default      iwmo20-wmo301          ref {REF}"
                                                                    "   2 unmapped")
        assert rest == [f"        {SPOTS[0][0]} (line 18)", f"        {SPOTS[1][0]} (line 20)",
                        "1 message(s) with unmapped input"]
        as_json = json.loads(CliRunner().invoke(main, ["outbox", "list", "--unmapped", "--json", "--data-dir",
                                                       data]).output)
        assert [(m["id"], m["unmapped_count"], m["unmapped"]) for m in as_json] == [
            (lossy, 2, [{"path": p, "line": n} for p, n in SPOTS])]
        shown = CliRunner().invoke(main, ["outbox", "show", str(lossy), "--message", "--data-dir", data]).output
        assert (f"  unmapped        2 source value(s) no mapping rule used:\n    {SPOTS[0][0]} (line 18)\n"
                f"    {SPOTS[1][0]} (line 20)\n") in shown
        vera = login(server.url, "vera")
        everything = vera.get("/console/messages").text
        assert re.findall(r'href="/console/messages/(\d+)#unmapped"[^>]*>(\d+)<', everything) == [(str(lossy), "2")]
        only = vera.get("/console/messages", params={"unmapped": "1"}).text
        assert re.findall(r'<td><a href="/console/messages/(\d+)">', only) == [str(lossy)]
        page = vera.get(f"/console/messages/{lossy}").text
        shown_spots = re.search(r'<dd id="unmapped"[^>]*>(.*?)</dd>', page, re.S)
        assert shown_spots is not None
        assert re.findall(r'<span class="path">([^<]*)</span>', shown_spots.group(1)) == [
            f"{SPOTS[0][0]} (line 18)", f"{SPOTS[1][0]} (line 20)"]
        health = vera.get("/console/health").text
        assert re.findall(r"<td>(overstap_unmapped_\w+)</td><td>([^<]*)</td><td class=\"num\">(\d+)</td>", health) == [
            ("overstap_unmapped_messages_total", "mapping=iwmo20-wmo301, route=default", "1"),
            ("overstap_unmapped_values_total", "mapping=iwmo20-wmo301, route=default", "2")]


def test_a_route_without_the_ledger_step_reports_it_too(start: Start, logged: io.StringIO) -> None:
    """Passthrough converts to learn what the vendor sends (the plain step, gateway/proxy/service.py): the same."""
    sent = with_unmapped(sample(A02))
    legacy = Receiver()
    with ServerThread(legacy.app()) as old:
        server, gw = start({"default": {"mode": "passthrough", "legacy_downstream": "old"}},
                           {"old": {"url": old.url + "/ontvang", "expect_bv": False}})
        r = httpx.post(server.url + "/soap", content=sent, timeout=30)
        assert r.status_code == 200, r.text
        message_id = int(r.headers["x-overstap-message"])
        (line,) = unmapped_lines(logged.getvalue())
        assert line["msg"] == expected_msg(message_id, "passthrough")
        assert metric(server.url, "overstap_unmapped_values_total", route="default", mapping="iwmo20-wmo301") == 2
        row = outbox.message(outbox.connect(gw.db_path), message_id)
        assert row is not None and UnmappedInput.decode(row["unmapped"]) == UnmappedInput(2, tuple(SPOTS))


def test_many_unmapped_values_are_counted_whole_and_listed_to_a_bound() -> None:
    """A vendor element repeated in every client must not make the log line, the pipe or the row grow with it."""
    from gateway.mapping import Unmapped

    found = UnmappedInput.of([Unmapped(f"/a/b{i}", i) for i in range(MAX_LISTED + 7)])
    assert found is not None and found.count == MAX_LISTED + 7 and len(found.spots) == MAX_LISTED
    assert found.lines()[-1] == "and 7 more" and UnmappedInput.decode(found.encode()) == found
    assert UnmappedInput.of([]) is None


@pytest.mark.slow
def test_a_conversion_worker_process_brings_the_paths_back(tmp_path: Path) -> None:
    """``overstap serve`` with a conversion worker: the paths cross the worker's pipe and reach the JSON log."""
    sent = with_unmapped(sample(A02))
    with ServerThread(Receiver().app()) as ds:
        log = tmp_path / "gateway.log"
        gw = GatewayProcess(["--data-dir", str(tmp_path / "data"), "--downstream", ds.url + "/zs",
                             "--convert-processes", "1"], free_port(), log).start()
        try:
            r = httpx.post(gw.url + "/soap", content=sent, timeout=60)
            assert r.status_code == 200, r.text
            assert metric(gw.url, "overstap_unmapped_values_total", route="default", mapping="iwmo20-wmo301") == 2
        finally:
            gw.terminate()
    lines = [json.loads(t) for t in log.read_text().splitlines() if '"overstap.unmapped"' in t]
    assert [ln["msg"] for ln in lines] == [expected_msg(int(r.headers["x-overstap-message"]), "translate")]
    assert not [v for v in values_of(sent) if v in log.read_text()]


def test_the_shadow_report_names_what_the_new_side_never_got_though_both_accepted(start: Start) -> None:
    """In shadow mode both sides may accept a message while the new one lacks values no rule read: before
    cutting over that is the difference that matters, so the report lists it (paths only) even then."""
    legacy, new = Receiver(), Receiver()
    with ServerThread(legacy.app()) as old, ServerThread(new.app()) as zs:
        gw_server, gw = start({"default": {"mode": "shadow", "downstream": "zs", "legacy_downstream": "old"}},
                              {"zs": zs.url, "old": {"url": old.url, "expect_bv": False}})
        lossy = with_unmapped(sample(A02))
        assert httpx.post(gw_server.url + "/soap", content=lossy).status_code == 200
        assert wait_for(lambda: len(legacy.received) == 1 and len(new.received) == 1)
        data = str(gw.config.data_dir)

        def report_now() -> tuple[str, dict[str, Any]]:
            result = CliRunner().invoke(main, ["shadow", "report", "--data-dir", data, "--json"])
            assert result.exit_code == 0, result.output
            return result.output, json.loads(result.output)

        # both sides have the message; their answers are noted a moment later (the forwarder's commit)
        assert wait_for(lambda: report_now()[1]["summary"]["both accepted"] == 1)
        result_output, report = report_now()
        assert report["summary"]["both accepted"] == 1 and report["with unmapped input"] == 1
        (line,) = report["messages"]
        assert (line["source_ref"], line["verdict"], line["unmapped"]) == (REF, "both accepted", 2)
        assert line["differences"] == ["new side lacks 2 source value(s) no mapping rule used: "
                                       + "; ".join(f"{path} (line {n})" for path, n in SPOTS)]
        text = CliRunner().invoke(main, ["shadow", "report", "--data-dir", data, "--differences"]).output
        assert REF in text and "; 1 with unmapped input (values the new side never got)" in text
        assert not [v for v in values_of(lossy) if v in result_output + text]
