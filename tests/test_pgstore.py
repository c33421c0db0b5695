"""The zaak ledger on a real PostgreSQL server: the SQLite ledger's semantics, over a database (issue 16).

Why: a ledger that two jobs share must give each message the state the previous one left and a
tijdstipBericht strictly greater than every earlier one of its zender, whoever rendered that earlier one;
and ``convert --state postgresql://…`` must continue a chain exactly as ``--state DIR`` does.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pg_helpers
import pytest
from click.testing import CliRunner
from lxml import etree
from pg_helpers import fresh_database
from proxy_helpers import sample, samples_dir

from gateway.cli import main
from gateway.pgstore import PostgresLedger

B01, B02, B04 = "CasusB-01-WMO301_toewijzing.xml", "CasusB-02-WMO305_start.xml", "CasusB-04-WMO307_stop.xml"
ZKN = "{http://www.egem.nl/StUF/sector/zkn/0310}"
NOW = dt.datetime(2026, 12, 4, 12, 0, 0)


server = pg_helpers.server  # one PostgreSQL server for this module


@pytest.fixture()
def database(server: str, request: pytest.FixtureRequest) -> str:
    return fresh_database(server, "t_" + request.node.name.lower()[:50].replace("[", "_").replace("]", ""))


def test_the_contract_round_trips_and_a_failed_message_leaves_nothing(database: str) -> None:
    ledger = PostgresLedger(database)
    with ledger.transaction() as tx:
        tx.bind("toewijzing:0384:1234", "0384Z1")
        tx.put_state("0384Z1", {"startdatum": "20160307", "statussen": ["Levering gestart"]})
        tx.remember("di01", "wmo:0384:abc", "uuid-1")
        first = tx.tijdstip("0384/OVERSTAP", NOW)
    with pytest.raises(ZeroDivisionError), ledger.transaction() as tx:
        tx.bind("toewijzing:0384:9999", "0384Z2")
        tx.put_state("0384Z1", {"startdatum": "19000101"})
        tx.tijdstip("0384/OVERSTAP", NOW)
        _ = 1 / 0
    other = PostgresLedger(database)  # what another process sees
    with other.transaction() as tx:
        assert tx.zaak_for(["toewijzing:0384:9999", "toewijzing:0384:1234"]) == "0384Z1"
        assert tx.state("0384Z1") == {"startdatum": "20160307", "statussen": ["Levering gestart"]}
        assert tx.state("0384Z2") is None
        assert tx.recall("di01", "wmo:0384:abc") == "uuid-1" and tx.recall("di01", "x") is None
        assert (first, tx.tijdstip("0384/OVERSTAP", NOW)) == ("20261204120000000", "20261204120000001")
    ledger.close()
    other.close()


def test_two_writers_take_turns_so_tijdstip_never_repeats(database: str) -> None:
    """Each thread has its own connection (as two processes would); NOW is the same for every call."""
    values: list[str] = []
    lock = threading.Lock()

    def write(n: int) -> None:
        ledger = PostgresLedger(database)
        for _ in range(n):
            with ledger.transaction() as tx:
                value = tx.tijdstip("0384/OVERSTAP", NOW)
            with lock:
                values.append(value)
        ledger.close()

    threads = [threading.Thread(target=write, args=(100,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(values) == 300 and len(set(values)) == 300
    assert max(values) == "20261204120000299"  # 300 values one millisecond apart, from NOW


def _convert(tmp_path: Path, state: str, name: str) -> list[etree._Element]:
    out = tmp_path / "out" / name
    result = CliRunner().invoke(main, ["convert", str(tmp_path / name), "--out", str(out), "--state", state])
    assert result.exit_code == 0, result.output
    return [etree.parse(str(p)).getroot() for p in sorted(out.glob("*.xml"))]


def _shape(root: etree._Element) -> tuple[str, str, str]:
    """(mutatiesoort, zaak identificatie, first status or '') of one zakLk01."""
    status = root.findtext(f".//{ZKN}heeft/{ZKN}gerelateerde/{ZKN}omschrijving") or ""
    return (root.findtext(f"{ZKN}parameters/{{*}}mutatiesoort") or "",
            root.findtext(f"{ZKN}object/{ZKN}identificatie") or "", status)


def test_convert_continues_a_chain_through_postgresql_as_through_a_state_folder(database: str,
                                                                                tmp_path: Path) -> None:
    samples_dir()
    for folder in (tmp_path / "pg", tmp_path / "dir"):
        folder.mkdir()
        for name in (B01, B02, B04):
            (folder / name).write_bytes(sample(name))
    through_pg = [_shape(r) for name in (B01, B02, B04) for r in _convert(tmp_path / "pg", database, name)]
    through_dir = [_shape(r) for name in (B01, B02, B04)
                   for r in _convert(tmp_path / "dir", str(tmp_path / "state"), name)]
    assert through_pg == through_dir
    assert [s[0] for s in through_pg][:2] == ["T", "W"]  # a creeerZaak, then the 305's status on that zaak
    assert len({s[1] for s in through_pg}) == 1  # one zaak for the whole chain
    assert "Levering gestart" in [s[2] for s in through_pg]


def test_a_database_that_cannot_be_reached_is_a_usage_error_without_its_password(tmp_path: Path) -> None:
    samples_dir()
    (tmp_path / B01).write_bytes(sample(B01))
    result = CliRunner().invoke(main, ["convert", str(tmp_path / B01), "--out", str(tmp_path / "o"), "--state",
                                       "postgresql://overstap:geheim@127.0.0.1:9/none"])
    assert result.exit_code == 2
    assert "--state postgresql://overstap:***@127.0.0.1:9/none: cannot reach the ledger database" in result.output
    assert "geheim" not in result.output

