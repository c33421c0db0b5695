"""The house's one direction of flow, checked: every import between gateway packages points to a lower floor.

Why: "imports point down only; model imports nothing of ours" is easy to break with one convenient import,
and a cycle between layers is hard to undo later. A new package must be given its floor here.
"""

from __future__ import annotations

import ast
from pathlib import Path

GATEWAY = Path(__file__).resolve().parents[1] / "gateway"

FLOORS = {
    # the floor: the canonical model and what needs nothing of ours
    "model": 0, "reference": 0, "parentwatch": 0, "procmemory": 0, "cores": 0, "regularfile": 0, "ledger": 0,
    "__init__": 0, "profiles": 0,
    "ingest": 1, "zaken": 1, "pgstore": 1, "schema": 1,
    "mapping": 2, "receiver": 2,
    "render": 3,
    "reversal": 3.5,  # the way back, which pipeline's Converter.reverse hands over to
    "pipeline": 4,
    "deliver": 5, "tooling": 5,
    "console": 6,  # mounted by the sidecar, which hands it the replay and explain it may call
    "httpguard": 6,  # the HTTP guard and body budget every shell's server stands behind (sidecar, testbed, listen)
    # shells
    "batch": 7, "proxy": 7, "testbed": 7,
    "discover": 8, "compliance": 8,
    "cli": 9,
}


def _imports(path: Path, text: str | None = None) -> list[tuple[int, str]]:
    """(line, gateway package) of every import of another gateway package in ``path`` (or in ``text`` as if it
    were that file's)."""
    parts = path.relative_to(GATEWAY).parts
    own = parts[0].removesuffix(".py")
    found = []
    source = path.read_text(encoding="utf-8") if text is None else text
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names = [node.module or ""]
            elif node.level > len(parts) - 1 or (node.level == 1 and len(parts) == 1):  # above the package
                # ``from . import cli`` names its modules after ``import`` (no module before it)
                names = ["gateway." + (node.module or alias.name) for alias in node.names]
        for name in names:
            if name.startswith("gateway.") and name.split(".")[1] != own:
                found.append((node.lineno, name.split(".")[1]))
    return found


def test_every_form_of_an_import_is_seen() -> None:
    """Every way a module can name another package of ours is checked. Session 35 found ``from . import x`` in a
    top-level module (and ``from .. import x`` one floor down) counted as a package named ""."""
    assert _imports(GATEWAY / "cores.py", "from . import cli\n") == [(1, "cli")]
    assert _imports(GATEWAY / "cores.py", "from . import cli, model\nfrom .cli import main\n") == [
        (1, "cli"), (1, "model"), (2, "cli")]
    assert _imports(GATEWAY / "batch" / "work.py", "from .. import cli\nfrom ..render import zkn\n") == [
        (1, "cli"), (2, "render")]
    assert _imports(GATEWAY / "batch" / "work.py", "from . import runner\nimport gateway.proxy.app\n") == [
        (2, "proxy")]
    assert _imports(GATEWAY / "console" / "pages" / "zaken.py", "from .. import queries\n") == []  # console's own


def test_every_package_has_a_floor() -> None:
    packages = {p.name.removesuffix(".py") for p in GATEWAY.iterdir()
                if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"}
    assert packages - set(FLOORS) == set(), "give the new package its floor in tests/test_layers.py"


def test_imports_point_down_only() -> None:
    wrong = []
    for path in sorted(GATEWAY.rglob("*.py")):
        own = path.relative_to(GATEWAY).parts[0].removesuffix(".py")
        for line, target in _imports(path):
            if FLOORS.get(target, 99) >= FLOORS[own]:
                wrong.append(f"{path.relative_to(GATEWAY.parent)}:{line}: {own} (floor {FLOORS[own]}) imports "
                             f"{target} (floor {FLOORS.get(target, '?')})")
    assert wrong == []


def test_model_imports_nothing_of_ours() -> None:
    assert [(p.name, t) for p in (GATEWAY / "model").rglob("*.py") for _, t in _imports(p)] == []
