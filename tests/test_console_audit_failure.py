"""An action done whose audit entry cannot be written is still reported as done, on both stores.

A replay, a conversion again or a purge has happened by the time its entry is written; a 500 then would tell the
operator nothing happened, and a second click would send the dead letter twice. The failures here are real: the
audit file made a full disk (a link to ``/dev/full``: the tests run as root, which no file mode stops) and, on
PostgreSQL, the store's ``console_audit`` dropped. The page must say what was done and why its entry is missing (the
error's type and the system's words, never its message), the log must hold it as an error, and ``/metrics`` count it.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import console_helpers
import httpx
import pg_helpers
import pytest
from console_helpers import BSN, Local, MakeLocal, failing_chains, hidden_fields, login
from proxy_helpers import Start, wait_for

server = pg_helpers.server  # one PostgreSQL server for this module
make = console_helpers.make  # a console on each store (the fixture)
MISSING = "Not in the audit log."
UNWRITTEN = "console audit entry not written"


def break_audit(local: Local) -> str:
    """Make the next audit entry fail for real; return the reason the page must give."""
    if local.store is not None:
        local.sql("DROP TABLE console_audit")
        return "UndefinedTable (SQLSTATE 42P01)"
    audit = local.db.parent / "console-audit.jsonl"
    audit.unlink()
    audit.symlink_to("/dev/full")  # every write fails as on a full disk
    return "OSError: No space left on device"


def test_an_action_whose_audit_entry_fails_is_reported_done_on_both_stores(
        make: MakeLocal, caplog: pytest.LogCaptureFixture) -> None:
    local = make()
    console = local.app.routes[0].app.state.console  # type: ignore[attr-defined]
    otto = local.login("otto")
    confirm = otto.get("/console/deliveries/1/replay")
    written = otto.post("/console/deliveries/1/replay", data=hidden_fields(confirm.text))
    assert written.status_code == 200 and "Queued again" in written.text and MISSING not in written.text
    why = break_audit(local)
    caplog.set_level(logging.INFO, logger="overstap.console")

    replayed = otto.post("/console/deliveries/1/replay", data=hidden_fields(confirm.text))
    assert replayed.status_code == 200 and "Queued again" in replayed.text
    assert MISSING in replayed.text and f"could not be written ({why})" in replayed.text
    retry = otto.get("/console/messages/3/retry")
    converted = otto.post("/console/messages/3/retry", data=hidden_fields(retry.text))
    assert converted.status_code == 200 and MISSING in converted.text and why in converted.text
    preview = otto.get("/console/purge", params={"days": "0", "dead": "1"})
    purged = otto.post("/console/purge", data=hidden_fields(preview.text))
    assert purged.status_code == 200 and re.search(r"Purged 2 delivery\(ies\) and 2 message\(s\)", purged.text)
    assert MISSING in purged.text and why in purged.text
    for page in (replayed, converted, purged):
        assert "does not exist" not in page.text and "/dev/full" not in page.text  # the type, not the message

    assert console.audit_failures == 3
    errors = [r for r in caplog.records if r.getMessage() == UNWRITTEN]
    assert [(r.levelname, r.action, r.reason) for r in errors] == [  # type: ignore[attr-defined]
        ("ERROR", "replay", why), ("ERROR", "retry_quarantined", why), ("ERROR", "purge", why)]
    assert '"delivery_id": 1' in errors[0].details and '"deliveries": 2' in errors[2].details  # type: ignore[attr-defined]
    assert all(BSN not in r.getMessage() + str(r.__dict__) for r in caplog.records)


def test_a_sidecar_replays_counts_and_logs_an_entry_it_could_not_write(start: Start, tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    """A real sidecar: the dead letter goes to the fixed downstream once, the page says so and that the entry is
    missing, and ``/metrics`` counts it (the sidecar's own counter, as a scraper reads it)."""
    with failing_chains(start) as failing:
        otto = login(failing.gateway.url, "otto")
        page = otto.get("/console/messages", params={"status": "dead"})
        first = re.findall(r'href="/console/messages/(\d+)"', page.text)[-1]
        link = re.search(r'href="(/console/deliveries/\d+/replay)"', otto.get(f"/console/messages/{first}").text)
        assert link
        confirm = otto.get(link.group(1))
        audit = tmp_path / "data" / "console-audit.jsonl"
        audit.unlink()
        audit.symlink_to("/dev/full")
        metrics = failing.gateway.url + "/metrics"
        assert "overstap_console_audit_failures_total 0.0" in httpx.get(metrics, timeout=10).text
        failing.receiver.behaviour = "bv"
        caplog.set_level(logging.INFO, logger="overstap.console")
        done = otto.post(link.group(1), data=hidden_fields(confirm.text))
        assert done.status_code == 200 and "Queued again" in done.text and MISSING in done.text
        assert wait_for(lambda: len(failing.receiver.received) == 1, timeout=30)
        assert "overstap_console_audit_failures_total 1.0" in httpx.get(metrics, timeout=10).text
        health = otto.get("/console/health").text  # and on the health page, with the other counters
        assert re.search(r'<td>overstap_console_audit_failures_total</td><td></td><td class="num">1</td>', health)
        assert [r.levelname for r in caplog.records if r.getMessage() == UNWRITTEN] == ["ERROR"]
