"""The mapping watcher's fingerprint: every YAML edit under a watched folder changes it, and a poll opens
no file (the sidecar polls every second; reading each mapping's head each time was most of a poll)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.mapping.registry import default_dirs, fingerprint


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "maps"
    (folder / "vendor").mkdir(parents=True)
    mapping = folder / "vendor" / "a.yaml"
    mapping.write_text("overstap-mapping: 1\nname: a\n")
    return folder, mapping


def test_an_edit_a_new_file_and_a_removal_each_change_the_fingerprint(tmp_path: Path) -> None:
    folder, mapping = _tree(tmp_path)
    extra = tmp_path / "extra.yml"
    extra.write_text("overstap-mapping: 1\nname: x\n")
    first = fingerprint([folder], [extra])
    assert set(first) == {str(folder), str(mapping), str(extra)}
    assert fingerprint([folder], [extra]) == first

    mapping.write_text("overstap-mapping: 1\nname: b\n")  # same size, a later time
    os.utime(mapping, ns=(first[str(mapping)][0] + 1_000_000, first[str(mapping)][0] + 1_000_000))
    second = fingerprint([folder], [extra])
    assert second[str(mapping)] != first[str(mapping)]

    mapping.write_text("overstap-mapping: 1\nname: longer\n")
    os.utime(mapping, ns=(second[str(mapping)][0], second[str(mapping)][0]))  # same time, another size
    assert fingerprint([folder], [extra])[str(mapping)][1] != second[str(mapping)][1]

    new = folder / "vendor" / "b.yml"  # a new file in a subfolder: the watched folder's own time stays
    new.write_text("not a mapping yet\n")
    assert str(new) in fingerprint([folder], [extra])
    new.unlink()
    extra.unlink()
    assert set(fingerprint([folder], [extra])) == {str(folder), str(mapping)}


def test_a_missing_folder_or_file_is_left_out_not_an_error(tmp_path: Path) -> None:
    assert fingerprint([tmp_path / "gone"], [tmp_path / "gone.yaml"]) == {}


def test_a_poll_opens_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _ = _tree(tmp_path)
    opened: list[object] = []
    real_open = Path.open

    def counting_open(self: Path, *args: object, **kwargs: object) -> object:
        opened.append(self)
        return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", counting_open)
    monkeypatch.setattr("builtins.open", lambda *a, **k: opened.append(a) or pytest.fail("open() in a poll"))
    found = fingerprint([*default_dirs(), folder])
    assert len([k for k in found if k.endswith((".yaml", ".yml"))]) >= 30  # the shipped dialects and mappings
    assert opened == []
