"""``overstap scaffold``: a draft mapping per cluster that passes ``mapping check``, whose generated tests fail
until confirmed, and that (once confirmed) converts its cluster to the canonical model the hand-written
mapping gives.

The comparison is on the canonical model (``Converter.to_model``), not on rendered zakLk01 bytes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from discover_corpus import EXAMPLES, VARIANT_SOURCES, members, write_zip

from gateway.cli import main
from gateway.mapping import Registry
from gateway.pipeline import FAILURES, Converter
from gateway.tooling.mappingtest import UNCONFIRMED, lookup

pytestmark = pytest.mark.usefixtures("examples_opted_in")  # the example dialects are the archive's vendors
EXAMPLE_CLUSTERS = {"example-flat": "flat-no-namespace", "example-dutch-formats": "dutch-formats",
                    "example-vendor-extensions": "vendor-extensions"}
EXAMPLE_FIXTURES = {"example-flat": (2, 1), "example-dutch-formats": (4, 2), "example-vendor-extensions": (3, 2)}
"""Per cluster: (fixtures in mappings/examples/<folder>/fixtures, how many of them convert)."""


@pytest.fixture(scope="module")
def archive(reference_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, bytes], Path]:
    files = members(reference_dir)
    return files, write_zip(files, tmp_path_factory.mktemp("scaffold") / "archive.zip")


def _scaffold(archive: Path, cluster: str, out: Path) -> str:
    result = CliRunner().invoke(main, ["scaffold", str(archive), "--cluster", cluster, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"draft written: {out} (cluster {cluster}" in result.output
    return out.read_text(encoding="utf-8")


def _check_and_test(draft: Path) -> tuple[int, str]:
    check = CliRunner().invoke(main, ["mapping", "check", str(draft)])
    assert check.exit_code == 0, check.output
    tested = CliRunner().invoke(main, ["mapping", "test", str(draft)])
    return tested.exit_code, tested.output


def _confirm(draft: Path) -> None:
    """What the integrator does after checking each generated value against its example message."""
    draft.write_text(draft.read_text(encoding="utf-8").replace(UNCONFIRMED, ""), encoding="utf-8")


def _correct_expectations(draft: Path, truth: Converter) -> None:
    """The integrator, confirming, corrects each generated value the draft got wrong before its questions were
    answered (here a '?' product code): the value is read from the example's known-good conversion."""
    text = draft.read_text(encoding="utf-8")
    head, _, tests = text.partition("\ntests:\n")
    cases = yaml.safe_load("tests:\n" + tests)["tests"]
    for case in cases:
        data = (draft.parent / case["input"]).read_bytes()
        try:
            model = truth.to_model(data, case["input"])[2].bericht.model_dump(mode="json", exclude_none=True)
        except FAILURES as exc:
            case.pop("expect")
            case["expect_error"] = {"contains": str(getattr(exc, "message", exc))[:40]}
            continue
        case["expect"] = {path: str(lookup(model, path)) for path in case["expect"]}
    draft.write_text(head + "\ntests:\n" + yaml.safe_dump(cases, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _model(converter: Converter, data: bytes, name: str) -> Any:
    try:
        return converter.to_model(data, name)[2].bericht.model_dump(mode="json")
    except FAILURES as exc:
        return f"refused: {type(exc).__name__}"


def _resolve_vendor_extensions(draft: Path) -> None:
    """The three questions the draft leaves open (each marked GUESS), answered as the hand-written mapping does:
    the national code for each local product code, the wijkteam letters, and the audit trail left out."""
    text = draft.read_text(encoding="utf-8")
    text, maps = re.subn(r'(?m)^  productcode: \{"values": \{[^}]*\}, "fallback": "error"\}.*$',
                         '  productcode: {"csv": "productcodes.csv", "fallback": "error"}\n'
                         '  wijkteam: {"values": {"Noord": "N", "Zuid": "Z", "West": "W", "Oost": "O"}, '
                         '"fallback": "default", "default": "?"}', text)
    text, team = re.subn(r'extra\.wijkteam: "(\w+:Wijkteam)"', r'extra.wijkteam: {"path": "\1", "map": "wijkteam"}',
                         text)
    text, audit = re.subn(r'(?m)^  extra\.audit: "(\w+:Header/\w+:Audit)".*\n', "", text)
    assert (maps, team, audit) == (1, 1, 1), "the draft no longer asks the questions this test answers"
    entry = '  - path: "m:Header/x:Audit"\n    reason: the vendor\'s audit trail\n'
    text = text.replace("\nignore:\n", "\nignore:\n" + entry, 1) if "\nignore:\n" in text else \
        text.replace("\ntests:\n", "\nignore:\n" + entry + "tests:\n", 1)
    draft.write_text(text, encoding="utf-8")
    (draft.parent / "productcodes.csv").write_bytes((EXAMPLES / "vendor-extensions" / "productcodes.csv").read_bytes())


@pytest.mark.parametrize("cluster", sorted(EXAMPLE_CLUSTERS))
def test_scaffold_reproduces_the_example_mapping(archive: tuple[dict[str, bytes], Path], cluster: str,
                                                 tmp_path: Path) -> None:
    files, zip_path = archive
    draft = tmp_path / cluster / "mapping.yaml"
    text = _scaffold(zip_path, cluster, draft)
    assert "extends: iwmo20-wmo301" in text and "# GUESS:" in text
    assert (draft.parent / "fixtures").is_dir()
    code, output = _check_and_test(draft)
    assert code == 1 and "unconfirmed expectation" in output and "generated by overstap scaffold" in output
    _confirm(draft)
    if cluster == "example-vendor-extensions":
        assert "fill in each national code" in text and "extra.audit" in text and "extra.wijkteam" in text
        _resolve_vendor_extensions(draft)
        _correct_expectations(draft, Converter(Registry(), mappings=[cluster]))
    code, output = _check_and_test(draft)
    assert code == 0, output
    assert re.search(r"[1-9]\d* passed, 0 failed", output), output
    registry = Registry(files=[draft])
    hand = Converter(registry, mappings=[cluster])
    mine = Converter(registry, mappings=[draft])
    compared = converted = 0
    for name, data in files.items():
        if not name.startswith(f"examples/{EXAMPLE_CLUSTERS[cluster]}/"):
            continue
        expected = _model(hand, data, name)
        assert _model(mine, data, name) == expected, name
        compared += 1
        converted += isinstance(expected, dict)
    # the cluster's example fixtures, and those its mapping tests do not expect to fail (expect_error)
    assert (compared, converted) == EXAMPLE_FIXTURES[cluster]


@pytest.mark.parametrize("kind", ["renamed", "attribute", "dates", "prefix"])
def test_scaffold_for_a_variant_converts_it_like_the_standard(archive: tuple[dict[str, bytes], Path], kind: str,
                                                              tmp_path: Path, reference_dir: Path) -> None:
    files, zip_path = archive
    from discover_corpus import members as _  # noqa: F401 - the corpus module documents each variant

    from gateway.discover.cluster import cluster_id
    from gateway.discover.profile import Profiler

    profiler = Profiler(Registry())
    first = f"variants/{kind}/{VARIANT_SOURCES[0]}"
    cluster = cluster_id(profiler.profile(first, files[first]))
    draft = tmp_path / kind / "mapping.yaml"
    text = _scaffold(zip_path, cluster, draft)
    assert "# GUESS:" in text
    _confirm(draft)
    code, output = _check_and_test(draft)
    assert code == 0, output
    registry = Registry(files=[draft])
    mine = Converter(registry, mappings=[draft])
    standard = Converter(registry, mappings=["iwmo20-wmo301"])
    for name in VARIANT_SOURCES:
        original = (reference_dir / "samples" / "iwmo20-xml" / name).read_bytes()
        expected = _model(standard, original, name)
        assert isinstance(expected, dict)
        assert _model(mine, files[f"variants/{kind}/{name}"], name) == expected, name


def test_scaffold_names_the_clusters_when_none_is_chosen(archive: tuple[dict[str, bytes], Path],
                                                         tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["scaffold", str(archive[1]), "--out", str(tmp_path / "m.yaml")])
    assert result.exit_code == 2
    assert "several clusters, name one with --cluster" in result.output and "example-flat (2)" in result.output
    result = CliRunner().invoke(main, ["scaffold", str(archive[1]), "--cluster", "nope", "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "no cluster 'nope'" in result.output
