"""``overstap serve`` with a store it cannot open stops with one line in the store's words and exit 1, never a
traceback (whose frames could carry the store URL with its password)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.deliver.outbox import DB_NAME


def _serve(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["serve", "--downstream", "http://127.0.0.1:9/zs", "--port", "8599", *args])
    assert result.exc_info is None or result.exc_info[0] is SystemExit, result.exc_info
    return result.exit_code, result.output


def test_junk_where_the_outbox_should_be_is_named(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / DB_NAME).write_bytes(b"not a database, only words" * 100)
    code, output = _serve("--data-dir", str(data))
    assert code == 1
    assert output.startswith("error: cannot open the store: ") and "not an outbox" in output
    assert "Traceback" not in output


def test_an_unreachable_postgresql_store_is_named_without_its_password(tmp_path: Path) -> None:
    pytest.importorskip("psycopg", reason="the postgresql extra is not installed")
    code, output = _serve("--data-dir", str(tmp_path / "data"), "--store",
                          "postgresql://overstap:Zeer-Geheim@127.0.0.1:1/overstap")
    assert code == 1
    assert output.startswith("error: cannot open the store: cannot reach the store database: ")
    assert "Zeer-Geheim" not in output and "Traceback" not in output
