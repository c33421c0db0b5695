"""Where a mapping file's test cases may read and write: in the mapping file's own folder (or below it), and an
``input:`` also in the reference folder as ``${REFERENCE}/...``.

Vendors send mapping files with their tests. ``input: /var/lib/overstap/...`` would make ``overstap mapping
test`` read any local file and print it as a diff, and ``expect_output: ../../x.xml`` with ``--update`` write
anywhere. :func:`problem` is the check on the text (``mapping check`` and every load); :func:`resolve` checks
again once symbolic links are followed, just before a case reads or writes.
"""

from __future__ import annotations

import functools
import posixpath
from pathlib import Path
from typing import Any

REFERENCE_VAR = "${REFERENCE}"
INPUT_RULE = ("a test input is a file in the mapping file's folder or below it, or ${REFERENCE}/... in the "
              "reference folder (a dialect shipped with Overstap may also read the project's tests/fixtures/)")
OUTPUT_RULE = "a golden file is in the mapping file's folder or below it"


@functools.cache
def data_root() -> Path:
    """The folder holding dialects/ and mappings/: the repo checkout, or the copy inside an installed wheel
    (resolved; asked for at every test case of every mapping file loaded)."""
    here = Path(__file__).resolve().parents[1]
    installed = here / "_data"
    return installed if (installed / "dialects").is_dir() else here.parent


def _bases(key: str, mapping_file: Path) -> tuple[Path, ...]:
    """The folders a relative path of ``key`` may lead into: the mapping file's own, and for an input of a
    dialect shipped with Overstap (trusted, in the repo) also the project's test messages."""
    own = mapping_file.resolve()
    root = data_root()
    if key == "input" and own.is_relative_to(root / "dialects"):
        return own.parent, root / "tests" / "fixtures"
    return (own.parent,)


def _rule(key: str) -> str:
    return INPUT_RULE if key == "input" else OUTPUT_RULE


def _split(key: str, spec: str) -> tuple[str, bool]:
    """The path below its base, and whether that base is the reference folder (for an input only)."""
    if key == "input" and spec.startswith(REFERENCE_VAR):
        return spec[len(REFERENCE_VAR):].lstrip("/"), True
    return spec, False


def problem(key: str, spec: Any, mapping_file: Path) -> str | None:
    """Why ``spec`` (the value of ``input:`` or one of ``expect_output:``) breaks the rule, on its text alone
    (``..`` taken as written, links not followed); None when it keeps to it."""
    if not isinstance(spec, str) or not spec.strip():
        return f"{key} is a file path: {_rule(key)}"
    rest, from_reference = _split(key, spec)
    if "\0" in rest:
        return f"{key} {spec!r} holds a NUL character: {_rule(key)}"
    if rest.startswith(("/", "~")) or (len(rest) > 1 and rest[1] == ":"):
        return f"{key} {spec!r} is an absolute path: {_rule(key)}"
    rest = rest.replace("\\", "/")
    if from_reference:
        normal = posixpath.normpath(rest)
        inside = normal != ".." and not normal.startswith("../")
    else:
        bases = _bases(key, mapping_file)
        target = Path(posixpath.normpath(posixpath.join(bases[0], rest)))
        inside = any(target.is_relative_to(base) for base in bases)
    return None if inside else f"{key} {spec!r} leads out of its folder: {_rule(key)}"


def problems(case: Any, mapping_file: Path) -> list[tuple[Any, Any, str]]:
    """(node, key, message) for each path of one test case that breaks the rule, to be reported at its place."""
    if not isinstance(case, dict):
        return []
    name = case.get("name") or case.get("input")
    out: list[tuple[Any, Any, str]] = []
    if "input" in case and (why := problem("input", case["input"], mapping_file)):
        out.append((case, "input", f"test case {name!r}: {why}"))
    golden = case.get("expect_output")
    for index, item in enumerate(golden if isinstance(golden, list) else [golden] if "expect_output" in case else []):
        if why := problem("expect_output", item, mapping_file):
            node, key = (golden, index) if isinstance(golden, list) else (case, "expect_output")
            out.append((node, key, f"test case {name!r}: {why}"))
    return out


def resolve(key: str, spec: Any, mapping_file: Path, reference: Path) -> tuple[Path, bool]:
    """The file a case reads or writes, symbolic links followed, and whether it is in the reference folder.
    ValueError naming the rule when it is not a file inside one of its bases (see :func:`problem`)."""
    why = problem(key, spec, mapping_file)
    if why is not None:
        raise ValueError(why)
    rest, from_reference = _split(key, spec)
    bases = (reference.resolve(),) if from_reference else tuple(b.resolve() for b in _bases(key, mapping_file))
    target = (bases[0] / rest).resolve()
    if target in bases or not any(target.is_relative_to(base) for base in bases):
        where = "the reference folder" if from_reference else "its folder"
        raise ValueError(f"{key} {spec!r} is not a file in {where} once symbolic links are followed: {_rule(key)}")
    return target, from_reference
