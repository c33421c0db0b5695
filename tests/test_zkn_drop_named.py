"""``overstap convert --config`` names what a zaaktype's ``drop`` leaves out: a ``dropped:`` line, path and reason.

Why: a zaaktype's privacy option ``drop`` (betrokkenen, toelichting, contact; docs/deploy-sidecar.md) takes values
out of every zaak of that zaaktype, and convert's ``dropped:`` lines, "nothing silently dropped", did not name
them (docs/canonical-spec.md: "Not named yet"); convert could not even apply a deployment's zaaktypen. Now
``--config`` applies a serve config's render block as the sidecar does, and each left-out value is named, never
quoted. Real files, the real command; the values named are checked absent from the zaak written, and present
without the drop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner
from lxml import etree
from shared_registry import shared_registry

from gateway.cli import main
from gateway.ledger import MemoryLedger
from gateway.pipeline import Converter

FULL = Path(__file__).resolve().parent / "fixtures" / "iwmo21" / "Full-WMO301_alle_elementen.xml"
CONFIG = """data_dir: {data}
downstreams:
  zs: http://127.0.0.1:9/zs
routes:
  default: {{mode: translate, downstream: zs}}
render:
  zaaktypen:
    wmo.toewijzing:
      code: B1234
      omschrijving: Toewijzing Wmo-maatwerkvoorziening
      drop: [{drop}]
"""
LEFT = "left out: zaaktype B1234 drops {} (render.zaaktypen drop, privacy)"
RELATIE = ["soort", "geboortedatum", "geboortedatum_gebruik", "geslacht", "naam.geslachtsnaam.naam",
           "naam.geslachtsnaam.voorvoegsel", "naam.voornamen", "naam.voorletters", "contacten.0.soort",
           *(f"contacten.0.adres.{f}" for f in ("huisnummer", "huisletter", "huisnummertoevoeging", "postcode",
                                                "straatnaam", "plaatsnaam")), "contacten.0.emailadres"]
EXPECTED = {
    "clients.0.commentaar": LEFT.format("toelichting"),
    **{f"clients.0.relaties.0.{f}": LEFT.format("betrokkenen") for f in RELATIE},
    "clients.0.contacten.0.telefoon.0.nummer": LEFT.format("contact"),
    "clients.0.contacten.0.telefoon.0.landnummer": LEFT.format("contact"),
    "clients.0.contacten.0.emailadres": LEFT.format("contact"),
    "clients.0.beschikking.commentaar": LEFT.format("toelichting"),
}
"""Full-WMO301's client's first telephone number and e-mail address, the beschikking's and client's commentaar,
and everything of its one relative (its naamgebruik, relation number and telephone have no place anyway: named so)."""


def convert(tmp_path: Path, out: str, *args: str) -> tuple[list[str], set[str]]:
    done = CliRunner().invoke(main, ["convert", "--state", "none", str(FULL), "--out", str(tmp_path / out), *args])
    assert done.exit_code == 0, done.output
    texts = {t.strip() for f in (tmp_path / out).glob("*.xml") for t in etree.parse(str(f)).getroot().itertext()}
    return done.output.splitlines(), texts


def config(tmp_path: Path, drop: str) -> str:
    path = tmp_path / f"serve-{len(drop)}.yaml"
    path.write_text(CONFIG.format(data=tmp_path / "data", drop=drop))
    return str(path)


def value_at(model: Any, path: str) -> str:
    for part in path.split("."):
        model = model[int(part)] if part.isdigit() else getattr(model, part)
    return str(getattr(model, "value", model))


def test_what_a_zaaktype_drops_is_named_and_absent_from_the_zaak(tmp_path: Path, reference_dir: Path) -> None:
    lines, dropped_texts = convert(tmp_path, "drop", "--config", config(tmp_path, "contact, toelichting, betrokkenen"))
    named = dict(line.strip().removeprefix("dropped: ").split(": ", 1) for line in lines if "dropped: " in line)
    assert {path: why for path, why in named.items() if why.startswith("left out:")} == EXPECTED
    assert named["clients.0.relaties.0.naam.naamgebruik"].startswith("not carried in profile zkn: ")
    assert "B1234" in dropped_texts  # the config's zaaktype is the one rendered
    _, kept_texts = convert(tmp_path, "keep")
    bericht = Converter(shared_registry(), ledger=MemoryLedger()).convert(FULL.read_bytes(), str(FULL)).bericht
    for path in ("clients.0.contacten.0.telefoon.0.nummer", "clients.0.contacten.0.emailadres",
                 "clients.0.relaties.0.naam.voornamen", "clients.0.relaties.0.contacten.0.emailadres"):
        value = value_at(bericht, path)
        assert value not in dropped_texts and value in kept_texts, path
        assert not [line for line in lines if value in line], path  # named, never quoted
    for path in ("clients.0.commentaar", "clients.0.beschikking.commentaar"):  # joined into the toelichting
        value = value_at(bericht, path)
        assert not any(value in t for t in dropped_texts) and any(value in t for t in kept_texts), path
        assert not [line for line in lines if value in line], path


def test_contact_alone_names_the_relatives_email_not_the_relative(tmp_path: Path, reference_dir: Path) -> None:
    lines, _texts = convert(tmp_path, "contact", "--config", config(tmp_path, "contact"))
    left = sorted(line.strip().removeprefix("dropped: ").split(": ", 1)[0] for line in lines if "left out:" in line)
    assert left == ["clients.0.contacten.0.emailadres", "clients.0.contacten.0.telefoon.0.landnummer",
                    "clients.0.contacten.0.telefoon.0.nummer", "clients.0.relaties.0.contacten.0.emailadres"]


def test_without_a_drop_nothing_is_left_out_and_a_bad_config_is_one_line(tmp_path: Path,
                                                                           reference_dir: Path) -> None:
    lines, _texts = convert(tmp_path, "none", "--config", config(tmp_path, ""))
    assert lines[0].startswith("ok   ") and not [line for line in lines if "left out:" in line]
    bad = tmp_path / "bad.yaml"
    bad.write_text(CONFIG.format(data=tmp_path / "data", drop="everything"))
    done = CliRunner().invoke(main, ["convert", "--state", "none", str(FULL), "--out", str(tmp_path / "x"),
                                     "--config", str(bad)])
    assert done.exit_code == 2
    assert done.output.splitlines() == [f"error: --config {bad}: render.zaaktypen.wmo.toewijzing.drop: everything "
                                        "cannot be dropped (choose from betrokkenen, contact, toelichting)"]
