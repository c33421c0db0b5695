"""``overstap batch --config FILE [--route R]``: a history converted with the municipality's catalogue.

Why: batch converted whole archives with the demo render settings (zaaktype WMOTOEW, zender OVERSTAP, no drop). A
municipality's zaaksysteem refuses or mis-files zaken of a zaaktype it does not know, so such a history could not
be applied, and its ledger (``outbox import-ledger``) disagreed with what the sidecar renders with its catalogue.
Now batch reads the serve config as ``convert --config`` and ``serve`` do, in the parent that renders and in every
worker that prepares (the zaaktype, its statustypes and drop are looked up there), a resume with other settings is
refused, and an unknown ``--route`` is a usage error in both commands. Real ZIP archives, the real command with a
worker process, the real ledger file.
"""

from __future__ import annotations

import json
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from lxml import etree
from proxy_helpers import sample

from gateway.cli import main
from gateway.ledger import MemoryLedger
from gateway.pipeline import Converter

FULL = Path(__file__).resolve().parent / "fixtures" / "iwmo21" / "Full-WMO301_alle_elementen.xml"
B01, B02, B04 = "CasusB-01-WMO301_toewijzing.xml", "CasusB-02-WMO305_start.xml", "CasusB-04-WMO307_stop.xml"
A02 = "CasusA-02-WMO301_toewijzing.xml"
STUF = "{http://www.egem.nl/StUF/StUF0301}"
ZKN = "{http://www.egem.nl/StUF/sector/zkn/0310}"
GGK = "{http://www.stufstandaarden.nl/sectormodel/ggk/0210}"
CONFIG = """data_dir: {data}
downstreams:
  zs: http://127.0.0.1:9/zs
routes:
  default: {{mode: translate, downstream: zs}}
  vendor-x:
    mode: translate
    downstream: zs
    render:
      zaaktypen:
        wmo.toewijzing: {{code: R9, omschrijving: Toewijzing via vendor X}}
render:
  zender: {{organisatie: "0384", applicatie: GEMSYS}}
  ontvanger: {{organisatie: "0384", applicatie: ZSGEM}}
  gezet_door: {{identificatie: OEH-WMO, naam: Team Wmo}}
  {extra}
  zaaktypen:
    wmo.toewijzing:
      code: {code}
      omschrijving: Toewijzing Wmo-maatwerkvoorziening
      statustypes: {{gestart: [11, Levering begonnen], gestopt: [13, Levering beeindigd], afgehandeld: [19, Klaar]}}
      drop: [contact]
"""
STATUSTYPEN = {("B1234", "0011", "Levering begonnen"), ("B1234", "0013", "Levering beeindigd"),
               ("B1234", "0019", "Klaar")}
"""What B-01, B-02 and B-04 set: started (305), stopped and closed (307), in the configured statustypes."""


def config(tmp_path: Path, code: str = "B1234", extra: str = "") -> str:
    path = tmp_path / f"serve-{code}-{len(extra)}.yaml"
    path.write_text(CONFIG.format(data=tmp_path / "data", code=code, extra=extra))
    return str(path)


def history(tmp_path: Path, names: tuple[str, ...] = (B01, B02, B04)) -> Path:
    """A ZIP of the B chain in chain order and the full 301 (a client with telephone and e-mail)."""
    path = tmp_path / "history.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for n, name in enumerate(names):
            zf.writestr(f"{n:02d}-{name}", sample(name))
        zf.writestr(f"{len(names):02d}-full.xml", FULL.read_bytes())
    return path


def batch(*args: str) -> Result:
    return CliRunner().invoke(main, ["batch", "--workers", "1", "--quiet", *args])


def outputs(out: Path) -> list[etree._Element]:
    files = sorted((out / "converted").rglob("*.xml"))
    assert files
    return [etree.parse(str(f)).getroot() for f in files]


def facts(out: Path) -> dict[str, Any]:
    """What the receiver's zaaksysteem checks in the zakLk01s of ``out``: who sends to whom, the zaaktypen, the
    statustypes set and who set them; and every text, for the values a drop leaves out."""
    found: dict[str, Any] = {"zender": set(), "ontvanger": set(), "zaaktype": set(), "statustype": set(),
                             "gezet_door": set(), "texts": set()}
    for root in outputs(out):
        for role in ("zender", "ontvanger"):
            el = root.find(f"{ZKN}stuurgegevens/{STUF}{role}")
            found[role].add((el.findtext(f"{STUF}organisatie"), el.findtext(f"{STUF}applicatie")))
        for zkt in root.iterfind(f"{ZKN}object/{ZKN}isVan/{ZKN}gerelateerde"):
            found["zaaktype"].add((zkt.findtext(f"{ZKN}code"), zkt.findtext(f"{ZKN}omschrijving")))
        for stt in root.iterfind(f"{ZKN}object/{ZKN}heeft/{ZKN}gerelateerde"):
            found["statustype"].add((stt.findtext(f"{ZKN}zkt.code"), stt.findtext(f"{ZKN}volgnummer"),
                                     stt.findtext(f"{ZKN}omschrijving")))
        found["gezet_door"] |= {el.text for el in root.iter(f"{ZKN}identificatie")
                                if el.getparent().tag == f"{ZKN}organisatorischeEenheid"}
        found["texts"] |= {t.strip() for t in root.itertext()}
    return found


def contact_values() -> list[str]:
    """The full 301's client's telephone number and e-mail address: what ``drop: [contact]`` leaves out."""
    client = Converter(ledger=MemoryLedger()).convert(FULL.read_bytes(), str(FULL)).bericht.clients[0]
    values = [client.contacten[0].telefoon[0].nummer, client.contacten[0].emailadres]
    return [str(getattr(v, "value", v)) for v in values]


def ledger_states(state: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(state / "ledger.sqlite") as conn:
        return [json.loads(text) for (text,) in conn.execute("SELECT state FROM zaak_state")]


def test_a_history_is_converted_with_the_configured_catalogue_in_parent_and_workers(tmp_path: Path,
                                                                                   reference_dir: Path) -> None:
    zipped = history(tmp_path)
    done = batch(str(zipped), "--out", str(tmp_path / "out"), "--state", str(tmp_path / "st"),
                 "--config", config(tmp_path))
    assert done.exit_code == 0, done.output
    got = facts(tmp_path / "out")
    assert got["zender"] == {("0384", "GEMSYS")} and got["ontvanger"] == {("0384", "ZSGEM")}
    assert got["zaaktype"] == {("B1234", "Toewijzing Wmo-maatwerkvoorziening")}
    assert got["statustype"] == STATUSTYPEN
    assert got["gezet_door"] == {"OEH-WMO"}
    contact = contact_values()
    assert not set(contact) & got["texts"]  # drop: [contact] left them out
    states = ledger_states(tmp_path / "st")  # what import-ledger hands the sidecar: the same catalogue
    assert len(states) == 2
    assert {json.dumps(s["zaaktype"], sort_keys=True) for s in states} == {json.dumps(
        {"code": "B1234", "ingangsdatum": "20150101", "omschrijving": "Toewijzing Wmo-maatwerkvoorziening"},
        sort_keys=True)}
    assert {(s["zaaktype"], s["volgnummer"], s["omschrijving"]) for z in states for s in z["statussen"]} == {
        ("B1234", 11, "Levering begonnen"), ("B1234", 13, "Levering beeindigd"), ("B1234", 19, "Klaar")}

    plain = batch(str(zipped), "--out", str(tmp_path / "plain"), "--state", "none")  # without: the demo defaults
    assert plain.exit_code == 0, plain.output
    default = facts(tmp_path / "plain")
    assert default["zaaktype"] == {("WMOTOEW", "Toewijzing Wmo-ondersteuning")}
    assert {applicatie for _, applicatie in default["zender"]} == {"OVERSTAP"}
    assert set(contact) <= default["texts"]  # the values the drop left out are there to leave out


def test_a_route_of_the_config_applies_its_own_block_and_an_unknown_one_is_refused(tmp_path: Path,
                                                                                  reference_dir: Path) -> None:
    zipped, serve = history(tmp_path, (A02,)), config(tmp_path)
    done = batch(str(zipped), "--out", str(tmp_path / "x"), "--state", "none", "--config", serve, "--route", "vendor-x")
    assert done.exit_code == 0, done.output
    assert facts(tmp_path / "x")["zaaktype"] == {("R9", "Toewijzing via vendor X")}
    wrong = f"error: --route vendor-y: {serve} has no such route (its routes: default, vendor-x)"
    refused = batch(str(zipped), "--out", str(tmp_path / "y"), "--state", "none", "--config", serve,
                    "--route", "vendor-y")
    assert (refused.exit_code, refused.output.strip()) == (2, wrong)
    assert not (tmp_path / "y").exists()  # refused before anything was written
    convert = CliRunner().invoke(main, ["convert", "--state", "none", str(FULL), "--out", str(tmp_path / "z"),
                                        "--config", serve, "--route", "vendor-y"])
    assert (convert.exit_code, convert.output.strip()) == (2, wrong)  # was: the top level's catalogue, silently
    assert not (tmp_path / "z").exists()
    known = CliRunner().invoke(main, ["convert", "--state", "none", str(FULL), "--out", str(tmp_path / "v"),
                                      "--config", serve, "--route", "vendor-x"])
    assert known.exit_code == 0, known.output
    assert facts_of_files(tmp_path / "v") == {("R9", "Toewijzing via vendor X")}


def facts_of_files(folder: Path) -> set[tuple[str | None, str | None]]:
    return {(z.findtext(f"{ZKN}code"), z.findtext(f"{ZKN}omschrijving")) for f in folder.glob("*.xml")
            for z in etree.parse(str(f)).getroot().iterfind(f"{ZKN}object/{ZKN}isVan/{ZKN}gerelateerde")}


def test_a_resume_with_other_render_settings_is_refused(tmp_path: Path, reference_dir: Path) -> None:
    zipped, serve = history(tmp_path, (B01,)), config(tmp_path)
    out, state = tmp_path / "out", str(tmp_path / "st")
    assert batch(str(zipped), "--out", str(out), "--state", state, "--config", serve).exit_code == 0
    again = batch(str(zipped), "--out", str(out), "--state", state, "--config", serve, "--resume")
    assert again.exit_code == 0, again.output  # the same config: the finished run answers
    for args in ((), ("--config", config(tmp_path, code="B9999"))):  # none, or the catalogue edited
        refused = batch(str(zipped), "--out", str(out), "--state", state, "--resume", *args)
        assert refused.exit_code == 2, refused.output
        assert "render settings (--config, --route): the run began with those of fingerprint" in refused.output
        assert ("this run has the default ones (no --config)" in refused.output) == (not args)
    plain = tmp_path / "plain"
    assert batch(str(zipped), "--out", str(plain), "--state", "none").exit_code == 0
    later = batch(str(zipped), "--out", str(plain), "--state", "none", "--resume", "--config", serve)
    assert later.exit_code == 2 and "the run began with the default ones (no --config)" in later.output


def test_each_shard_renders_with_the_config_it_is_given(tmp_path: Path, reference_dir: Path) -> None:
    """Three independent toewijzingen split over two shards (one after another on one ledger, as docs/batch.md
    says for a folder ledger): every output of either shard carries the catalogue, and each shard's journal holds
    the fingerprint its resume is checked against."""
    zipped, serve, state = history(tmp_path, (A02, B01)), config(tmp_path), str(tmp_path / "st")
    for shard in ("0/2", "1/2"):
        done = batch(str(zipped), "--out", str(tmp_path / f"s{shard[0]}"), "--state", state, "--config", serve,
                     "--shard", shard)
        assert done.exit_code == 0, done.output
    both = [facts(tmp_path / f"s{i}")["zaaktype"] for i in "01"]
    assert both == [{("B1234", "Toewijzing Wmo-maatwerkvoorziening")}] * 2
    refused = batch(str(zipped), "--out", str(tmp_path / "s1"), "--state", state, "--shard", "1/2", "--resume")
    assert refused.exit_code == 2 and "render settings" in refused.output


def test_a_ggk_history_takes_the_configured_zender_and_payload_version(tmp_path: Path, reference_dir: Path) -> None:
    zipped = history(tmp_path, (B01, B02, B04))
    serve = config(tmp_path, extra="ggk_versie: source")
    done = batch(str(zipped), "--out", str(tmp_path / "g"), "--state", "none", "--profile", "ggk", "--config", serve)
    assert done.exit_code == 0, done.output
    plain = batch(str(zipped), "--out", str(tmp_path / "p"), "--state", "none", "--profile", "ggk")
    assert plain.exit_code == 0, plain.output

    def envelopes(out: Path) -> set[tuple[str | None, ...]]:
        return {(root.findtext(f"{GGK}stuurgegevens/{STUF}zender/{STUF}applicatie"),
                 root.findtext(f"{GGK}parameters/{GGK}functieVersie"),
                 root.findtext(f"{GGK}parameters/{GGK}functieSubversie"))
                for root in outputs(out)}

    configured, default = envelopes(tmp_path / "g"), envelopes(tmp_path / "p")
    assert {e[0] for e in configured} == {"GEMSYS"} and {e[0] for e in default} == {"OVERSTAP"}
    assert ("GEMSYS", "0002", "0000") in configured  # the full 301 is 2.1 at the source; the B chain 2.0
    assert not {e[1:] for e in default} & {("0002", "0000")}  # 2.0 only because the config asks for source
