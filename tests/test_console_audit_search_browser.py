"""The audit page's filter form in a real browser (Debian's chromium through Playwright), on a real sidecar.

An operator asks who looked at message 12 in November: fills the form, submits it (a GET: the address holds the
question, so it can be bookmarked or sent on), pages Older and Newer through a user's 250 entries, finds a
range of exactly 200 offering no Older (session 33), and meets a 400 that names the parameter when the address is
edited by hand. The screenshot of the answer goes to ``out/console-screenshots/`` (and, with
OVERSTAP_UPDATE_SCREENSHOT=1, to docs/img/ for docs/console.md).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from browser_helpers import BROWSER_ARGS, CHROMIUM, browser_entry
from console_helpers import ADMIN_KEY, console_config
from proxy_helpers import Start
from test_console_browser import log_in, private

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "out" / "console-screenshots"


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"console-{name}.png"), full_page=True)
    if os.environ.get("OVERSTAP_UPDATE_SCREENSHOT"):
        shutil.copy(SHOTS / f"console-{name}.png", ROOT / "docs" / "img" / f"console-{name}.png")


def test_an_operator_searches_the_audit_log_and_pages_it_in_chromium(start: Start, tmp_path: Path) -> None:
    sync_playwright = browser_entry()
    running, _gw = start({"default": {"downstream": "http://127.0.0.1:9/zs"}}, {}, admin_key=ADMIN_KEY,
                         console=console_config())
    entries = [{"time": f"2026-10-{1 + i // 10:02d}T09:{i % 60:02d}:00+00:00", "user": "anna",
                "action": "view_payload", "message_id": 1000 + i} for i in range(250)]
    entries += [{"time": "2026-11-02T08:00:00+00:00", "user": "anna", "action": "view_payload", "message_id": 12},
                {"time": "2026-11-03T10:00:00+00:00", "user": "ben", "action": "replay", "delivery_id": 7,
                 "message_id": 12, "ok": True},
                {"time": "2026-12-01T10:00:00+00:00", "user": "ben", "action": "view_payload", "message_id": 12}]
    with (tmp_path / "data" / "console-audit.jsonl").open("a", encoding="utf-8") as out:
        out.writelines(json.dumps(e, sort_keys=True) + "\n" for e in entries)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            page = log_in(browser, running.url, "otto")
            page.locator("header a", has_text="Audit").click()
            page.wait_for_url("**/console/audit")
            page.fill("form.filters input[name=id]", "12")
            page.select_option("form.filters select[name=kind]", "message")
            page.fill("form.filters input[name=from]", "2026-11-01")
            page.fill("form.filters input[name=to]", "2026-11-30")
            page.click("form.filters button[type=submit]")
            page.wait_for_url("**/console/audit?*id=12*")
            assert "kind=message" in page.url and "from=2026-11-01" in page.url and "to=2026-11-30" in page.url
            cells = [r.locator("td").all_inner_texts()[1:] for r in page.locator("table.audit tbody tr").all()]
            assert cells == [["ben", "replay", "delivery_id=7 message_id=12 ok=True"],
                             ["anna", "view_payload", "message_id=12"]]  # not December's view, not message 1012
            assert page.input_value("form.filters input[name=id]") == "12"  # the form keeps the question
            assert page.locator("form.filters select[name=kind]").input_value() == "message"
            private(page)
            shot(page, "audit-search")

            page.locator("form.filters a", has_text="Clear").click()
            page.fill("form.filters input[name=user]", "anna")
            page.select_option("form.filters select[name=action]", "view_payload")
            page.click("form.filters button[type=submit]")
            page.wait_for_url("**/console/audit?user=anna*")
            first = page.locator("table.audit td:nth-child(4)").all_inner_texts()
            page.locator("p.paging a", has_text="Older").click()
            page.wait_for_url("**before=*")
            second = page.locator("table.audit td:nth-child(4)").all_inner_texts()
            assert first == ["message_id=12", *[f"message_id={1000 + i}" for i in range(249, 50, -1)]]
            assert second == [f"message_id={1000 + i}" for i in range(50, -1, -1)]
            assert page.locator("p.paging a", has_text="Older").count() == 0
            page.locator("p.paging a", has_text="Newer").click()
            page.wait_for_url("**/console/audit?user=anna*")
            assert page.locator("table.audit td:nth-child(4)").all_inner_texts() == first

            page.locator("form.filters a", has_text="Clear").click()  # 6 to 25 October: exactly 200 entries
            page.fill("form.filters input[name=from]", "2026-10-06")
            page.fill("form.filters input[name=to]", "2026-10-25")
            page.click("form.filters button[type=submit]")
            page.wait_for_url("**/console/audit?*from=2026-10-06*")
            assert page.locator("table.audit td:nth-child(4)").all_inner_texts() == [
                f"message_id={1000 + i}" for i in range(249, 49, -1)]
            assert page.locator("p.paging a", has_text="Older").count() == 0  # session 33: no Older to nothing

            answer = page.goto(running.url + "/console/audit?from=2026-13-01")
            assert answer is not None and answer.status == 400
            assert "from: expected a date as YYYY-MM-DD" in page.locator("main").inner_text()
        finally:
            browser.close()
