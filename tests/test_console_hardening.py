"""The console after its security review: each test is one finding of that review, reproduced in process (a real
outbox in a temporary data_dir, the console mounted as the sidecar mounts it, Starlette's TestClient), so a test
can change rows between a preview and its confirmation, restart with other settings or pick the peer's address.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from console_helpers import hidden_fields, local_console

PURGED = re.compile(r"Purged (\d+) delivery\(ies\) and (\d+) message\(s\)")


def test_yes_purge_removes_only_what_its_preview_counted(tmp_path: Path) -> None:
    """A pending delivery that goes dead between the preview and "Yes, purge" is a dead letter nobody saw: the
    purge keeps the preview's cut-off, so it stays, with its message (review F1)."""
    local = local_console(tmp_path)
    otto = local.login("otto")
    preview = otto.get("/console/purge", params={"days": "0", "dead": "1"})
    assert re.search(r"remove <strong>2</strong> delivery\(ies\).*?<strong>2</strong> message", preview.text, re.S)
    time.sleep(0.01)
    local.sql("UPDATE delivery SET status = 'dead', updated_at = ? WHERE id = 4", time.time())
    done = otto.post("/console/purge", data=hidden_fields(preview.text))
    assert done.status_code == 200 and PURGED.search(done.text).groups() == ("2", "2"), done.text
    assert local.sql("SELECT id FROM delivery ORDER BY id") == [(4,)]  # the new dead letter stays
    assert local.sql("SELECT id FROM message ORDER BY id") == [(3,), (4,)]
    audit = (tmp_path / "console-audit.jsonl").read_text().splitlines()[-1]
    assert '"cut_off": "' in audit and '"deliveries": 2' in audit


def test_a_purge_that_would_remove_more_than_previewed_removes_nothing(tmp_path: Path) -> None:
    """Should the outbox change so that the preview's cut-off now covers more than it counted, the purge is
    rolled back and says so (here the counts are forged lower; a converted quarantined message would do it)."""
    local = local_console(tmp_path)
    otto = local.login("otto")
    fields = hidden_fields(otto.get("/console/purge", params={"days": "0", "dead": "1"}).text)
    refused = otto.post("/console/purge", data={**fields, "deliveries": "0"})
    assert refused.status_code == 409 and "Nothing was removed" in refused.text
    assert len(local.sql("SELECT id FROM delivery")) == 3 and len(local.sql("SELECT id FROM message")) == 4


def test_a_cut_off_later_than_the_days_asked_is_refused(tmp_path: Path) -> None:
    """The carried cut-off is the operator's own form: one later than ``days`` ago now would purge younger rows."""
    local = local_console(tmp_path)
    otto = local.login("otto")
    preview = otto.get("/console/purge", params={"days": "1", "dead": "1"})
    fields = hidden_fields(preview.text)
    assert fields["deliveries"] == "0" and float(fields["before"]) < time.time() - 86000
    for forged in (repr(time.time()), "nan", "1e12", "-1", "١٢٣"):
        refused = otto.post("/console/purge", data={**fields, "before": forged, "deliveries": "9", "messages": "9"})
        assert refused.status_code == 400, forged
    assert len(local.sql("SELECT id FROM delivery")) == 3 and len(local.sql("SELECT id FROM message")) == 4
    assert otto.post("/console/purge", data={k: v for k, v in fields.items() if k != "before"}).status_code == 400
