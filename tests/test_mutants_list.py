"""The named-mutant list (tests/mutation/mutants.yaml) must follow the code: each snippet still stands,
once, in the file it names, and each test it names exists. A split or a rewrite that moves a snippet
fails here in every CI run, not only when someone next runs the mutants (three had gone stale so)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = yaml.safe_load((ROOT / "tests/mutation/mutants.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m["id"] for m in MUTANTS])
def test_each_mutant_still_finds_its_snippet_once(mutant: dict) -> None:
    text = (ROOT / mutant["file"]).read_text(encoding="utf-8")
    assert text.count(mutant["find"]) == 1, f"{mutant['id']}: its snippet is not (once) in {mutant['file']}"
    assert mutant["replace"] != mutant["find"]


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m["id"] for m in MUTANTS])
def test_each_mutant_names_tests_that_exist(mutant: dict) -> None:
    for test in mutant["tests"]:
        path, _, name = test.partition("::")
        assert (ROOT / path).is_file(), f"{mutant['id']}: no {path}"
        if name:
            assert f"def {name.split('[')[0]}(" in (ROOT / path).read_text(encoding="utf-8"), f"{mutant['id']}: {test}"


def test_mutant_ids_are_unique() -> None:
    ids = [m["id"] for m in MUTANTS]
    assert len(ids) == len(set(ids))
