"""``overstap shadow report`` names why the new side got nothing for a message that converted to no output.

Why: a shadowed message that is "no change" against the zaak ledger (or a retour, a no-op) is converted, stored and
sent to the legacy partner, but plans no delivery to the new system. The report called it "unknown" ("none was
made, or outbox purge removed it"), as if its outcome were lost, and counted it among the purged. Now the outbox
keeps the converter's reason and the report shows it. A real sidecar on 127.0.0.1 in shadow mode, real receivers.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pg_helpers
from click.testing import CliRunner
from pg_helpers import fresh_database
from proxy_helpers import FIXTURES, Receiver, ServerThread, Start, sample, variant, wait_for

from gateway.cli import main

A02 = "CasusA-02-WMO301_toewijzing.xml"
server = pg_helpers.server  # a real PostgreSQL for the replicas' store (skips locally without its binaries)


def shadow_report(*where: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["shadow", "report", *where, "--json"])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


def test_a_message_that_is_no_change_is_named_so_not_unknown(start: Start) -> None:
    legacy, new = Receiver(), Receiver()
    with ServerThread(legacy.app()) as old, ServerThread(new.app()) as zs:
        gw_server, gw = start({"default": {"mode": "shadow", "downstream": "zs", "legacy_downstream": "old"}},
                              {"zs": zs.url, "old": {"url": old.url, "expect_bv": False}})
        # the same toewijzing twice under two berichtidentificaties: the second changes nothing of the zaak
        for body in (variant(sample(A02), 1), variant(sample(A02), 100)):
            assert httpx.post(gw_server.url + "/soap", content=body).status_code == 200
        data = str(gw.config.data_dir)
        assert wait_for(lambda: len(legacy.received) == 2 and len(new.received) == 1
                        and shadow_report("--data-dir", data)["summary"]["pending"] == 0)
        report = shadow_report("--data-dir", data)
        text = CliRunner().invoke(main, ["shadow", "report", "--data-dir", data]).output
    assert report["summary"] == {"both accepted": 1, "legacy only": 0, "new only": 0, "both refused": 0,
                                 "no output": 1, "pending": 0, "unknown": 0}
    first, again = report["messages"]
    assert (first["source_ref"], first["verdict"]) == ("t00000000001", "both accepted")
    (side,) = again["new"]
    zaak = re.fullmatch(r"no change: zaak (0384B425386123-[0-9A-F]{10}) already holds this state "
                        r"\(product:0384:425386123:98025566:07:07A03:20160215\)", side["detail"])
    assert zaak is not None, side["detail"]
    assert (again["source_ref"], again["verdict"], again["legacy"], side["status"], again["differences"]) == (
        "t00000000100", "no output", {"status": "delivered", "detail": "HTTP 200 Bv03"}, "no output", [])
    lines = text.splitlines()
    assert lines[1].endswith(" ref t00000000100   legacy delivered new no output     no output")
    assert lines[2] == f"        new no output: {side['detail']}"
    assert lines[-1].startswith("2 shadow message(s): 1 both accepted, 0 legacy only, 0 new only, 0 both refused, "
                                "1 no output, 0 pending, 0 unknown;")


def test_a_retour_on_a_route_without_the_ledger_step_is_named_so_too(start: Start) -> None:
    """The plain step (``ledger: none``, gateway/proxy/service.py) keeps the converter's reason as well."""
    legacy, new = Receiver(), Receiver()
    with ServerThread(legacy.app()) as old, ServerThread(new.app()) as zs:
        gw_server, gw = start({"default": {"mode": "shadow", "downstream": "zs", "legacy_downstream": "old"}},
                              {"zs": zs.url, "old": {"url": old.url, "expect_bv": False}}, ledger="none")
        retour = (FIXTURES / "ijw21" / "JW302_retour.xml").read_bytes()
        assert httpx.post(gw_server.url + "/soap", content=retour).status_code == 200
        data = str(gw.config.data_dir)
        assert wait_for(lambda: len(legacy.received) == 1 and CliRunner().invoke(
            main, ["shadow", "report", "--data-dir", data, "--json"]).output.count('"pending": 0') == 1)
        report = json.loads(CliRunner().invoke(main, ["shadow", "report", "--data-dir", data, "--json"]).output)
    assert not new.received
    (line,) = report["messages"]
    assert (line["verdict"], [s["status"] for s in line["new"]]) == ("no output", ["no output"])
    assert line["new"][0]["detail"] == ("no-op: retour (toewijzing-retour), no zaak mutation: a retour answers its "
                                       "heenbericht and changes no zaak")


def test_on_the_postgresql_store_the_reason_is_kept_too(start: Start, server: str) -> None:
    """Replicas on a shared PostgreSQL store render and store in one job (gateway/proxy/shared_stage.py)."""
    store = fresh_database(server, "shadow_no_output")
    legacy, new = Receiver(), Receiver()
    with ServerThread(legacy.app()) as old, ServerThread(new.app()) as zs:
        gw_server, _gw = start({"default": {"mode": "shadow", "downstream": "zs", "legacy_downstream": "old"}},
                               {"zs": zs.url, "old": {"url": old.url, "expect_bv": False}}, store=store)
        for body in (variant(sample(A02), 1), variant(sample(A02), 100)):
            assert httpx.post(gw_server.url + "/soap", content=body).status_code == 200
        assert wait_for(lambda: len(legacy.received) == 2 and len(new.received) == 1
                        and shadow_report("--store", store)["summary"]["pending"] == 0)
        report = shadow_report("--store", store)
    assert report["summary"]["no output"] == 1 and report["summary"]["unknown"] == 0
    (line,) = [m for m in report["messages"] if m["source_ref"] == "t00000000100"]
    assert line["verdict"] == "no output" and line["new"][0]["detail"].startswith("no change: zaak 0384B425386123-")
