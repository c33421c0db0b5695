"""A batch ledger records the render settings its zaken were rendered with; ``import-ledger`` and the other shards of
one archive compare them.

Why: a batch run with another zaaktype catalogue than the sidecar's was imported without a word (the docs only said
to run it with the sidecar's config), and shards run with different configs into one ledger were not compared
either (only each shard's own resume): the receiver got one kind of zaak under two zaaktypen. Real batch runs of
the CLI, real ledger files, the real import command.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pg_helpers
from click.testing import CliRunner, Result
from pg_helpers import fresh_database
from test_batch_render_config import A02, B01, batch, config, history

from gateway.cli import main
from gateway.deliver import outbox
from gateway.ledger.render_record import KIND
from gateway.ledger.sqlite import DB_NAME

server = pg_helpers.server


def _import(state: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["outbox", "import-ledger", "--state", str(state), *args])


def test_import_ledger_refuses_a_ledger_rendered_with_other_settings_than_the_sidecars_config(
        tmp_path: Path, reference_dir: Path) -> None:
    serve, other = config(tmp_path), config(tmp_path, code="B9999")
    state = tmp_path / "st"
    assert batch(str(history(tmp_path, (B01,))), "--out", str(tmp_path / "out"), "--state", str(state),
                 "--config", serve).exit_code == 0
    refused = _import(state, "--config", other)
    assert refused.exit_code == 1, refused.output
    assert (f"refused: the batch ledger's zaken were rendered with other render settings than {other} (its "
            "top-level render: block): zaaktypen differ.") in refused.output
    assert "--other-render-settings" in refused.output and "Nothing was imported." in refused.output
    assert not (tmp_path / "data").exists()  # refused before the store was made
    outbox.open_db(tmp_path / "data")  # the sidecar's outbox (its config's data_dir), made at its first start
    wrong_route = _import(state, "--config", serve, "--route", "vendor-x")  # that route has its own catalogue
    assert wrong_route.exit_code == 1 and "(route vendor-x): zaaktypen differ" in wrong_route.output
    forced = _import(state, "--config", other, "--other-render-settings")
    assert forced.exit_code == 0 and "zaaktypen differ; imported anyway" in forced.output, forced.output
    same = _import(state, "--config", serve, "--route", "default", "--replace")
    assert same.exit_code == 0 and "warning" not in same.output, same.output
    # the record stays with the batch ledger: the sidecar's store does not take it
    store = sqlite3.connect(tmp_path / "data" / "outbox.sqlite3")
    assert store.execute("SELECT count(*) FROM remembered WHERE kind = ?", (KIND,)).fetchone()[0] == 0


def test_a_ledger_of_an_older_release_without_a_record_is_imported_with_a_warning(
        tmp_path: Path, reference_dir: Path) -> None:
    state = tmp_path / "st"
    assert batch(str(history(tmp_path, (B01,))), "--out", str(tmp_path / "out"), "--state", str(state)).exit_code == 0
    with sqlite3.connect(state / DB_NAME) as conn:
        assert conn.execute("DELETE FROM remembered WHERE kind = ?", (KIND,)).rowcount == 1
    outbox.open_db(tmp_path / "data")
    done = _import(state, "--config", config(tmp_path))
    assert done.exit_code == 0, done.output
    assert "records no render settings (written by an older release)" in done.output


def _second_shard_with_other_settings(tmp_path: Path, state: str) -> None:
    """Shard 0/2 with the catalogue, then shard 1/2 on the same ledger with another: refused (exit 2) before its OUT
    is made; then with the same catalogue it runs."""
    zipped, out = history(tmp_path, (A02, B01)), tmp_path / "s1"
    first = batch(str(zipped), "--out", str(tmp_path / "s0"), "--state", state, "--config", config(tmp_path),
                  "--shard", "0/2")
    assert first.exit_code == 0, first.output
    other = batch(str(zipped), "--out", str(out), "--state", state, "--config", config(tmp_path, code="B9999"),
                  "--shard", "1/2")
    assert other.exit_code == 2, other.output
    assert "its ledger holds zaken rendered with other render settings (zaaktypen differ" in other.output
    assert not out.exists()  # refused before OUT was touched
    alike = batch(str(zipped), "--out", str(out), "--state", state, "--config", config(tmp_path), "--shard", "1/2")
    assert alike.exit_code == 0, alike.output


def test_a_shard_with_other_render_settings_than_the_ledger_it_shares_is_refused(
        tmp_path: Path, reference_dir: Path) -> None:
    _second_shard_with_other_settings(tmp_path, str(tmp_path / "st"))


def test_without_config_the_ledger_is_compared_with_the_defaults_a_sidecar_without_one_renders_with(
        tmp_path: Path, reference_dir: Path) -> None:
    state = tmp_path / "st"
    assert batch(str(history(tmp_path, (B01,))), "--out", str(tmp_path / "out"), "--state", str(state),
                 "--config", config(tmp_path)).exit_code == 0
    refused = _import(state, "--data-dir", str(tmp_path / "side"))
    assert refused.exit_code == 1, refused.output
    assert ("other render settings than the sidecar (the defaults: no --config): gezet_door, ontvanger, zaaktypen, "
            "zender differ. Pass the sidecar's --config") in refused.output


def test_on_a_shared_postgresql_ledger_a_shard_with_other_settings_is_refused(
        tmp_path: Path, reference_dir: Path, server: str) -> None:
    _second_shard_with_other_settings(tmp_path, fresh_database(server, "render_settings_shards"))
