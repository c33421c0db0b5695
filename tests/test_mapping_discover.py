"""``discover`` (run by the sidecar's mapping watcher every second) lists each mapping file once, however its
folder is named: twice, inside another listed folder, or through a symbolic link."""

from __future__ import annotations

from pathlib import Path

from gateway.mapping.registry import FORMAT_KEY, discover


def test_a_file_reached_twice_is_listed_once(tmp_path: Path) -> None:
    """Why: a mapping listed twice would be compiled twice and clash with itself on reload."""
    vendor = tmp_path / "vendor"
    (vendor / "sub").mkdir(parents=True)
    for path in (vendor / "a.yaml", vendor / "sub" / "b.yml"):
        path.write_text(f"{FORMAT_KEY}: x\n", encoding="utf-8")
    (vendor / "notes.yaml").write_text("just: notes\n", encoding="utf-8")
    alias = tmp_path / "alias"
    alias.symlink_to(vendor, target_is_directory=True)
    found = discover([vendor, vendor / "sub", vendor, alias])
    assert found == [vendor / "a.yaml", vendor / "sub" / "b.yml"]
