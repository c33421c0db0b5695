"""``convert --state`` records the render settings in its ledger and refuses one rendered with others, as ``batch``.

Why: ``convert`` and ``batch`` share ``--state`` (docs/canonical-spec.md 7), but only the batch recorded the render
settings its zaken were rendered with (gateway/ledger/render_record.py). A convert with another zaaktype catalogue
(or none) continued a batch's zaken without a word, and a ledger begun by convert recorded nothing, so neither the
batch after it nor ``outbox import-ledger`` could tell: the receiver got one kind of zaak under two zaaktypen. Real
CLI runs, real ledger files.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from proxy_helpers import samples_dir
from test_batch_render_config import B01, B02, B04, batch, config, history

from gateway.cli import main
from gateway.ledger import SqliteLedger
from gateway.ledger.render_record import KIND
from gateway.ledger.sqlite import DB_NAME
from gateway.render.fingerprint import digest


def _convert(state: Path, out: Path, name: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["convert", "--state", str(state), "--out", str(out), "--no-validate", *args,
                                     str(samples_dir() / name)])


def _ledger(state: Path) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The ledger's render-settings record and its zaak states (zaak, state text)."""
    with sqlite3.connect(state / DB_NAME) as conn:
        record = conn.execute("SELECT value FROM remembered WHERE kind = ? AND key = ''", (KIND,)).fetchone()
        states = conn.execute("SELECT zaak, state FROM zaak_state ORDER BY zaak").fetchall()
    assert record is not None, "no render settings recorded"
    return json.loads(record[0]), [(str(z), str(s)) for z, s in states]


def test_convert_records_the_settings_and_refuses_to_continue_with_others(tmp_path: Path,
                                                                           reference_dir: Path) -> None:
    serve, other = config(tmp_path), config(tmp_path, code="B9999")
    state = tmp_path / "st"
    first = _convert(state, tmp_path / "out1", B01, "--config", serve)
    assert first.exit_code == 0, first.output
    record, states = _ledger(state)
    assert len(states) == 1
    assert record["zaaktypen"] != digest(None)  # the catalogue of serve's render: block, not the defaults
    for args, differ in ((("--config", other), "zaaktypen"),  # another catalogue
                         ((), "gezet_door, ontvanger, zaaktypen, zender")):  # the defaults (no --config)
        refused = _convert(state, tmp_path / "out2", B02, *args)
        assert refused.exit_code == 2, refused.output
        assert (f"--state {state}: its ledger holds zaken rendered with other render settings ({differ} differ "
                "from this run's --config/--route/--ggk-versie)") in " ".join(refused.output.split())
        assert "nothing was converted" in refused.output
        assert not list((tmp_path / "out2").glob("*.xml"))
        assert _ledger(state) == (record, states)  # the zaak and the record as they were
    # the batch meets convert's record: the same refusal as between two batch runs
    other_batch = batch(str(history(tmp_path, (B04,))), "--out", str(tmp_path / "b.zip"), "--state", str(state),
                        "--config", other)
    assert other_batch.exit_code == 2 and "zaaktypen differ" in other_batch.output, other_batch.output
    same = _convert(state, tmp_path / "out3", B02, "--config", serve)
    assert same.exit_code == 0, same.output
    assert len(list((tmp_path / "out3").glob("*.xml"))) == 1
    assert _ledger(state)[0] == record


def test_convert_refuses_a_batch_ledger_of_other_settings(tmp_path: Path, reference_dir: Path) -> None:
    state = tmp_path / "st"
    begun = batch(str(history(tmp_path, (B01,))), "--out", str(tmp_path / "b.zip"), "--state", str(state),
                  "--config", config(tmp_path))
    assert begun.exit_code == 0, begun.output
    refused = _convert(state, tmp_path / "out", B02, "--config", config(tmp_path, code="B9999"))
    assert refused.exit_code == 2 and "zaaktypen differ" in refused.output, refused.output


def test_a_new_ledger_that_cannot_record_the_settings_fails_before_any_message(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real SQLite ledger turned read-only (``PRAGMA query_only``) before anything was recorded: the run says so
    and converts nothing (exit 1, no traceback), as it does for a message whose state it cannot store."""
    import gateway.cli.convert as convert

    def read_only(state: str) -> SqliteLedger:
        ledger = SqliteLedger(state)
        ledger._conn.execute("PRAGMA query_only=1")
        return ledger

    monkeypatch.setattr(convert, "open_ledger", read_only)
    done = _convert(tmp_path / "st", tmp_path / "out", B01)
    assert done.exit_code == 1 and done.exc_info[0] is SystemExit, done.output  # type: ignore[index]
    assert done.output.splitlines() == [
        f"FAIL --state {tmp_path / 'st'}: the zaak ledger could not record the render settings (OperationalError "
        "(SQLITE_READONLY)): nothing was converted; convert again once the ledger can be written"]
    assert not list((tmp_path / "out").glob("*.xml"))
