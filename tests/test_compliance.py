"""``overstap compliance``: the scenario set passes against the testbed, and names exactly what a broken
receiver or sender gets wrong.

Why: a compliance test that passes everything proves nothing. It is run here against the testbed (must pass,
twice in a row against the same testbed), a receiver that accepts everything and one that refuses
everything (each failing scenario must say why), and in --listen mode against what the sidecar sends.
Real servers on 127.0.0.1, the real command.
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
from click.testing import CliRunner
from lxml import etree
from proxy_helpers import Receiver, ServerThread, free_port, sample, samples_dir, soap11
from test_proxy_ledger import B01, B02, B04, start

from gateway.cli import main
from gateway.compliance.listen import listen
from gateway.compliance.scenarios import DEFAULT, load
from gateway.mapping import Registry
from gateway.receiver import Receiver as ZaakReceiver
from gateway.testbed import Journal, create_app

POSITIVE = ["wmo-toewijzing-start-stop", "wmo-aanvraag-toewijzing-intrekking", "wmo-intrekking-herindicatie",
            "jeugd-toewijzing-start-stop", "wmo32-start-correctie-wijziging-stop", "ggk-toewijzing-retour"]
REFUSALS = ["refuse-status-on-unknown-zaak", "refuse-reused-referentienummer", "refuse-tijdstip-not-rising",
            "refuse-oud-not-as-stored", "refuse-ggk-retour-without-heenbericht"]


def run(*args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, ["compliance", *args])
    return result.exit_code, result.output.splitlines()


def test_the_testbed_passes_every_scenario_and_again_on_a_second_run(tmp_path: Path, reference_dir: Path) -> None:
    journal = Journal(tmp_path / "tb")
    with ServerThread(create_app(ZaakReceiver(), journal)) as tb:
        for round_ in (1, 2):  # the same testbed keeps its zaken: a second run must not collide with the first
            code, lines = run("--target", tb.url + "/soap", "--out", str(tmp_path / f"r{round_}"))
            assert code == 0, lines
            assert lines[:-1] == [f"PASS {s}" for s in POSITIVE + REFUSALS]
        zaken = httpx.get(tb.url + "/api/zaken").json()
    journal.close()
    # per run: B 1, A 2 (aanvraag, toewijzing), C 2, iJw 1, 3.2 7 (2 aanvragen, 3 toewijzingen, 2 verzoeken om
    # wijziging), and the valid creeerZaak before three of the refusals
    assert len(zaken) == 2 * 16
    suite = etree.parse(str(tmp_path / "r2" / "junit.xml")).getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("11", "0")
    assert [c.get("name") for c in suite.iter("testcase")] == POSITIVE + REFUSALS
    page = (tmp_path / "r2" / "compliance.html").read_text()
    assert "11 of 11 scenarios passed" in page and "123456782" not in page


def test_a_receiver_that_accepts_everything_fails_exactly_the_refusal_scenarios(tmp_path: Path,
                                                                                reference_dir: Path) -> None:
    with ServerThread(Receiver().app()) as lax:
        code, lines = run("--target", lax.url + "/soap", "--state-url", "none", "--out", str(tmp_path))
    assert code == 1
    assert lines[:6] == [f"PASS {s} (skipped: zaak state: the receiver shows no state (no --state-url))"
                         for s in POSITIVE[:5]] + [f"PASS {POSITIVE[5]}"]
    assert lines[6] == "FAIL refuse-status-on-unknown-zaak: actualiseerZaakstatus from CasusB-02-WMO305_start.xml: " \
                       "answered Bv03, expected Fo03"
    assert lines[7] == "FAIL refuse-reused-referentienummer: actualiseerZaakstatus from " \
                       "CasusB-02-WMO305_start.xml: answered Bv03, expected Fo03"
    assert lines[9] == "FAIL refuse-oud-not-as-stored: updateZaak from CasusA-04-WMO301_intrekking.xml: answered " \
                       "Bv03, expected Fo03"
    assert lines[-1].startswith("6 of 11 scenarios passed")
    suite = etree.parse(str(tmp_path / "junit.xml")).getroot()
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failed == REFUSALS


def test_a_receiver_that_refuses_everything_fails_every_scenario_saying_why(tmp_path: Path,
                                                                           reference_dir: Path) -> None:
    with ServerThread(Receiver(behaviour="fo", fo_code="StUF058").app()) as strict:
        code, lines = run("--target", strict.url + "/soap", "--state-url", "none", "--out", str(tmp_path))
    # only the refusal whose Fo03 may carry any code passes: refusing everything is right there, by accident
    assert code == 1 and lines[-1].startswith("1 of 11 scenarios passed")
    assert [line for line in lines if line.startswith("PASS")] == ["PASS refuse-ggk-retour-without-heenbericht"]
    assert lines[0].startswith("FAIL wmo-toewijzing-start-stop: creeerZaak from CasusB-01-WMO301_toewijzing.xml: "
                               "answered Fo03 StUF058, expected Bv03; actualiseerZaakstatus from ")
    assert lines[6] == "FAIL refuse-status-on-unknown-zaak: actualiseerZaakstatus from CasusB-02-WMO305_start.xml: " \
                       "refused with StUF058, but StUF names StUF064 for this refusal"


def test_listen_judges_what_the_sidecar_sent_to_the_testbed(tmp_path: Path, reference_dir: Path) -> None:
    samples_dir()
    scenarios = [s for s in load(DEFAULT, reference_dir) if s.id in ("wmo-toewijzing-start-stop",
                                                                     "refuse-reused-referentienummer")]
    port, started, result = free_port(), threading.Event(), []
    judge = threading.Thread(target=lambda: result.extend(
        listen(scenarios, "127.0.0.1", port, tmp_path / "tb", idle=2.0, started=started)))
    judge.start()
    assert started.wait(30)
    server, _gw = start(tmp_path, Registry(), f"http://127.0.0.1:{port}/soap")
    try:
        for name in (B01, B02, B04):  # the vendor's system: here the sidecar converting the CasusB chain
            assert httpx.post(server.url + "/soap", content=soap11(sample(name)), timeout=30).status_code == 200
        judge.join(120)
    finally:
        server.stop()
    assert not judge.is_alive()
    verdicts = [(o.scenario.id, o.passed, o.problems, o.skipped) for o in result]
    assert verdicts == [
        ("wmo-toewijzing-start-stop", True, [], []),
        ("refuse-reused-referentienummer", True, [],
         ["a refusal scenario: only --target sends messages that are wrong on purpose"]),
        ("no-message-refused", True, [], []),
    ]


def test_listen_names_a_zaak_that_did_not_end_as_the_chain_says(tmp_path: Path, reference_dir: Path) -> None:
    samples_dir()
    (scenario,) = [s for s in load(DEFAULT, reference_dir) if s.id == "wmo-toewijzing-start-stop"]
    port, started, result = free_port(), threading.Event(), []
    judge = threading.Thread(target=lambda: result.extend(
        listen([scenario], "127.0.0.1", port, tmp_path / "tb", idle=2.0, started=started)))
    judge.start()
    assert started.wait(30)
    server, _gw = start(tmp_path, Registry(), f"http://127.0.0.1:{port}/soap")
    try:
        for name in (B01, B02):  # the stop (307) never sent
            assert httpx.post(server.url + "/soap", content=soap11(sample(name)), timeout=30).status_code == 200
        judge.join(120)
    finally:
        server.stop()
    (zaak,) = [p for p in result[0].problems]
    assert zaak.startswith("WMOTOEW zaak 0384B658721123-") and zaak.endswith(
        "(kenmerk 658721123): einddatum is None, expected '20161002'; statussen is ['Levering gestart'], "
        "expected ['Levering gestart', 'Levering gestopt', 'Afgehandeld']")


def test_a_scenario_file_with_a_mistake_is_a_usage_error_naming_it(tmp_path: Path, reference_dir: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text("scenarios:\n  - id: x\n    messages: [samples/iwmo20-xml/CasusB-01-WMO301_toewijzing.xml]\n"
                    "    wrong: turn-it-upside-down\n")
    code, lines = run("--target", "http://127.0.0.1:9/soap", "--scenarios", str(mine))
    assert code == 2
    assert lines == [f"error: {mine}: scenario x: wrong: 'turn-it-upside-down' is not one of skip-creeer, "
                     "reuse-referentienummer, repeat-tijdstip, oud-from-nieuw, skip-di01"]
    code, lines = run("--scenarios", str(mine))
    assert code == 2 and lines == ["error: give exactly one of --target URL (test a receiver) and --listen PORT "
                                   "(test a sender)"]
