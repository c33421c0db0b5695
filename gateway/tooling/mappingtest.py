"""Run the ``tests:`` cases a mapping file carries, so a mapping is tested like code.

A case converts one input message with its mapping and compares: canonical values by dotted path
(``expect:``), the rendered output with a golden file (``expect_output:``), the failure it must give
(``expect_error:``), the source elements no rule used (``expect_unmapped:``) and the lenient
warnings (``expect_warnings:``). Failures come back as readable diff lines naming the mapping file
line of each expectation. ``overstap mapping test`` prints them and a pytest runs every mapping
file of the repo this way, so ``make test`` covers them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lxml import etree

from gateway.ingest import InputError, read_capped
from gateway.ingest.errors import shape
from gateway.mapping import Compiled, MappingError, Problem, Registry, casepaths
from gateway.mapping.loader import location
from gateway.mapping.privacy import cap, personal
from gateway.mapping.registry import discover, matches
from gateway.model import bsn_is_valid
from gateway.pipeline import FAILURES, Conversion, Converter, FailureInfo, describe
from gateway.reference import available, reference_dir

PASS, FAIL, SKIP = "pass", "fail", "skip"


@dataclass(slots=True)
class CaseResult:
    """The outcome of one test case; ``details`` are the diff lines shown on failure (or the skip reason)."""

    name: str
    line: int
    status: str
    details: list[str] = field(default_factory=list)


@dataclass(slots=True)
class FileResult:
    """All cases of one mapping file, or the compile problems that stopped them from running."""

    file: str
    mapping: str | None
    cases: list[CaseResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[CaseResult]:
        return [c for c in self.cases if c.status == FAIL]

    @property
    def ok(self) -> bool:
        return not self.problems and not self.failed


def display(path: str | Path) -> str:
    """A path as short as it is unambiguous: relative to the working folder when inside it."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def problems_shown(exc: MappingError) -> list[str]:
    """The problems of a mapping file, each located by the path as :func:`display` shows it (the loader keeps
    resolved paths, so the chain of ``extends`` is unambiguous; a reader wants the short form)."""
    return [str(replace(p, file=display(p.file))) for p in exc.problems]


def mapping_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; folders expanded to the mapping files inside them."""
    out: list[Path] = []
    for item in paths:
        path = Path(item)
        out += discover([path], examples=True) if path.is_dir() else [path]
    return out


def run_files(paths: Iterable[str | Path], registry: Registry | None = None, update: bool = False
              ) -> list[FileResult]:
    files = mapping_files(paths)
    registry = registry if registry is not None else Registry(files=files)
    return [run_file(path, registry, update=update) for path in files]


def run_file(path: str | Path, registry: Registry | None = None, *, update: bool = False) -> FileResult:
    """Compile one mapping file and run each of its test cases."""
    path = Path(path)
    registry = registry if registry is not None else Registry(files=[path])
    try:
        compiled = registry.get(str(path))
    except MappingError as exc:
        return FileResult(display(path), None, problems=problems_shown(exc))
    result = FileResult(display(path), compiled.name)
    validate = available()
    if compiled.tests and not validate:
        result.notes.append(f"outputs not validated: no official schemas in {reference_dir()}")
    raw_tests = compiled.raw.get("tests")
    for i, case in enumerate(compiled.tests):
        line = raw_tests.item_locs[i][0] if raw_tests is not None and i < len(raw_tests.item_locs) else 1
        loc = raw_tests[i] if raw_tests is not None else None
        result.cases.append(run_case(compiled, case, registry, line=line, located=loc, validate=validate,
                                     update=update))
    return result


def case_path(compiled: Compiled, located: Any, key: str, spec: Any, index: int | None = None) -> tuple[Path, bool]:
    """The file a case reads (``input``) or writes (``expect_output``, item ``index``), symbolic links followed,
    and whether it is in the reference dir; MappingError at its line when it is outside what
    :mod:`gateway.mapping.casepaths` allows (mapping check refuses the text; this catches links too)."""
    try:
        return casepaths.resolve(key, spec, Path(compiled.file), reference_dir())
    except ValueError as exc:
        node = located.get(key) if index is not None and isinstance(located, dict) else located
        line, column = location(node, key if index is None else index, value=True)
        name = located.get("name") or located.get("input") if isinstance(located, dict) else None
        raise MappingError([Problem(compiled.file, line, column, f"test case {name!r}: {exc}")]) from None


def run_case(compiled: Compiled, case: dict[str, Any], registry: Registry, *, line: int = 1, located: Any = None,
             validate: bool = True, update: bool = False) -> CaseResult:
    name = str(case.get("name") or case.get("input"))
    out = CaseResult(name, line, PASS)
    try:
        source, from_reference = case_path(compiled, located if located is not None else case, "input",
                                           case.get("input"))
    except MappingError as exc:
        return CaseResult(name, line, FAIL, problems_shown(exc))
    if not source.is_file():
        if from_reference and not available():
            return CaseResult(name, line, SKIP, [f"reference dir {reference_dir()} absent ({source.name})"])
        return CaseResult(name, line, FAIL, [f"input file {source} not found"])
    where = _Where(compiled.file, line, located)
    try:
        data = read_capped(source)
    except InputError as exc:
        return CaseResult(name, line, FAIL, [f"{where.at('input')}: {exc}"])
    try:
        converter = Converter(registry, profile=str(case.get("profile", "zkn")), mappings=[compiled.file],
                              validate="full" if validate else False,  # a test case: every output parsed back
                              clock=lambda: GOLDEN_CLOCK)
    except ValueError as exc:
        return CaseResult(name, line, FAIL, [str(exc)])
    route = case.get("route")
    try:
        if "expect_output" in case or "expect_error" in case or converter.profile != "zkn":
            result = converter.convert(data, source.name, route=route)
        else:  # a mapping case checks the canonical model; a 305/307 alone has no zaak to render against
            result = _mapped_only(converter, data, source.name, route)
    except FAILURES as exc:
        out.details += _check_error(case, exc, where, source.name)
    else:
        if "expect_error" in case:
            out.details.append(f"{where.at('expect_error')}: expected a failure, but the message converted")
        out.details += _check_match(compiled, result, route, where)
        out.details += _check_values(case.get("expect") or {}, result, where)
        out.details += _check_unmapped(case, result, where)
        out.details += _check_warnings(case, result, where)
        if "expect_output" in case:
            out.details += _check_output(compiled, case, result, where, update)
    if out.details:
        out.status = FAIL
    return out


def _mapped_only(converter: Converter, data: bytes, name: str, route: Any) -> Conversion:
    """The message mapped into the canonical model without rendering (profile zkn v2 renders against a
    ledger: a start or stop needs its toewijzing first, which a single mapping case does not have)."""
    source, mapping, mapped = converter.to_model(data, name, route)
    return Conversion(source, mapping, mapped.bericht, [], mapped.unmapped, mapped.warnings)


class _Where:
    """Points a failed expectation at its line in the mapping file."""

    def __init__(self, file: str, line: int, located: Any) -> None:
        self.file, self.line, self.located = display(file), line, located

    def at(self, key: str, sub: str | None = None) -> str:
        line = self.line
        node = self.located
        if isinstance(node, dict) and hasattr(node, "key_locs"):
            line = node.key_locs.get(key, (line, 1))[0]
            inner = node.get(key)
            if sub is not None and isinstance(inner, dict) and hasattr(inner, "key_locs"):
                line = inner.key_locs.get(sub, (line, 1))[0]
        return f"{self.file}:{line}"


def _check_error(case: dict[str, Any], exc: BaseException, where: _Where, name: str) -> list[str]:
    info = describe(exc, name)
    expected = case.get("expect_error")
    if expected is None:
        return [f"{where.at('input')}: the message failed: {info}"]
    if isinstance(expected, str):
        expected = {"contains": expected}
    if any(_error_matches(expected, p) for p in info.also):  # one of several independent errors: that will do
        return []
    problems: list[str] = []
    actual_field = (info.field or "").split(" <- ")[0]
    if "field" in expected and str(expected["field"]) != (actual_field or ""):
        problems += [f"{where.at('expect_error', 'field')}: error field differs",
                     f"  - expected  {expected['field']}", f"  + actual    {actual_field}   ({info})"]
    if "contains" in expected and str(expected["contains"]) not in info.message:
        problems += [f"{where.at('expect_error', 'contains')}: error message differs",
                     f"  - expected to contain  {expected['contains']!r}", f"  + actual               {info.message!r}"]
    if "line" in expected and str(expected["line"]) != str(info.line):
        problems += [f"{where.at('expect_error', 'line')}: error line differs",
                     f"  - expected  {expected['line']}", f"  + actual    {info.line}"]
    if "code" in expected and str(expected["code"]) != info.code:
        problems += [f"{where.at('expect_error', 'code')}: error code differs",
                     f"  - expected  {expected['code']}", f"  + actual    {info.code}"]
    return problems


def _error_matches(expected: dict[str, Any], info: FailureInfo) -> bool:
    return (("field" not in expected or str(expected["field"]) == (info.field or "").split(" <- ")[0])
            and ("contains" not in expected or str(expected["contains"]) in info.message)
            and ("line" not in expected or str(expected["line"]) == str(info.line))
            and ("code" not in expected or str(expected["code"]) == info.code))


def _check_match(compiled: Compiled, result: Conversion, route: str | None, where: _Where) -> list[str]:
    src = result.source
    if matches(compiled, src.root, src.format, route):
        return []
    return [f"{where.at('input')}: match: of {compiled.name} does not recognise this input "
            f"(root {src.describe()}{', route ' + repr(route) if route else ''}); detection would not pick it"]


MISSING = object()
"""What :func:`lookup` returns for a path that leads nowhere."""


def lookup(data: Any, path: str) -> Any:
    """The value at a dotted canonical path (``clients.0.producten.0.omvang.volume``), or MISSING."""
    node = data
    for part in path.split("."):
        if isinstance(node, list) and part.isdigit():
            index = int(part)
            if index >= len(node):
                return MISSING
            node = node[index]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return MISSING
    return node


def _text(value: Any) -> Any:
    """Canonical value as the text a mapping file writes: numbers and dates as strings, booleans as true/false."""
    if value is MISSING or value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return [_text(v) for v in value]
    if isinstance(value, dict):
        return {k: _text(v) for k, v in value.items()}
    return str(value)


def _flat_expectations(expect: dict[str, Any], prefix: str = "") -> list[tuple[str, str, Any]]:
    """(top key, dotted path, expected) with nested mappings flattened into dotted paths."""
    out: list[tuple[str, str, Any]] = []
    for key, value in expect.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out += [(str(key) if not prefix else top, p, v) for top, p, v in _flat_expectations(value, path + ".")]
        else:
            out.append((str(key), path, value))
    return out


UNCONFIRMED = "UNCONFIRMED: "
"""Written by ``overstap scaffold`` in front of each expectation it generated from an example message: the
case fails until a person has checked the value against the input and deleted the marker."""


def _check_values(expect: dict[str, Any], result: Conversion, where: _Where) -> list[str]:
    data = result.bericht.model_dump(mode="json", exclude_none=True)
    problems: list[str] = []
    for top, path, expected in _flat_expectations(expect):
        raw = lookup(data, path)
        actual = _text(raw)
        wanted = _text(expected)
        if isinstance(wanted, str) and wanted.startswith(UNCONFIRMED):
            problems.append(f"{where.at('expect', top)}: {path}: unconfirmed expectation {wanted[len(UNCONFIRMED):]!r} "
                            f"(generated by overstap scaffold): check it against the input message, then delete "
                            f"{UNCONFIRMED.strip()!r}")
            continue
        if actual == wanted:
            continue
        shown = "(absent)" if raw is MISSING or raw is None else masked_value(path, actual)
        problems += [f"{where.at('expect', top)}: {path}",
                     f"  - expected  {'(absent)' if wanted is None else repr(wanted)}",
                     f"  + actual    {shown}"]
    return problems


_LONG_DIGITS = re.compile(r"\d{6,}")
"""A run of digits this long may be a BSN, a clientnummer, a phone number or a beschikkingnummer."""


def masked_value(path: str, value: Any) -> str:
    """An actual canonical value as a failed case shows it: quoted, except that the value of a personal field
    (:func:`gateway.mapping.privacy.personal`: bsn, names, address, birth date, phone, e-mail) and any value
    with a long digit run or passing the 11-proef are told by their shape (``(9 digits)``); a record is shown
    field by field that way, so the mismatch is found without the person in it (a case's input may be real)."""
    if isinstance(value, dict):
        return cap("{" + ", ".join(f"{k}: {masked_value(f'{path}.{k}', v)}" for k, v in value.items()) + "}")
    if isinstance(value, list):
        return cap("[" + ", ".join(masked_value(f"{path}.{i}", v) for i, v in enumerate(value)) + "]")
    text = str(value)
    if personal(path) or _LONG_DIGITS.search(text) or bsn_is_valid("".join(filter(str.isdecimal, text))):
        return f"({shape(text)})"
    return repr(text)


def _check_unmapped(case: dict[str, Any], result: Conversion, where: _Where) -> list[str]:
    if "expect_unmapped" not in case:
        return []
    expected = [str(e) for e in case["expect_unmapped"] or []]
    actual = [u.path for u in result.unmapped]
    missing = [e for e in expected if not any(a == e or a.endswith("/" + e.lstrip("/")) for a in actual)]
    extra = [a for a in actual if not any(a == e or a.endswith("/" + e.lstrip("/")) for e in expected)]
    if not missing and not extra:
        return []
    lines = [f"{where.at('expect_unmapped')}: unmapped source elements differ"]
    lines += [f"  - expected  {e}" for e in missing]
    lines += [f"  + actual    {a} (line {u.line})" for a, u in zip(actual, result.unmapped, strict=True) if a in extra]
    return lines


def _check_warnings(case: dict[str, Any], result: Conversion, where: _Where) -> list[str]:
    if "expect_warnings" not in case:
        return []
    expected = [str(e) for e in case["expect_warnings"] or []]
    actual = [f"{w.field}: {w.message}" for w in result.warnings]
    missing = [e for e in expected if not any(e in a for a in actual)]
    extra = [a for a in actual if not any(e in a for e in expected)]
    if not missing and not extra:
        return []
    return ([f"{where.at('expect_warnings')}: warnings differ"] + [f"  - expected  {e}" for e in missing]
            + [f"  + actual    {a}" for a in extra])


GOLDEN_CLOCK = dt.datetime(2000, 1, 1, 0, 0, 0)
"""The creation time of outputs in mapping cases, so a golden file's tijdstipBericht is stable."""
_REF = re.compile(r"(<StUF:referentienummer>)[^<]*(</StUF:referentienummer>)")


def masked(text: str) -> str:
    """A golden text with its referentienummer (a fresh UUID4 per message) replaced by a placeholder."""
    return _REF.sub(r"\1(new UUID4)\2", text)


def pretty(xml: bytes) -> str:
    """XML indented one element a line, so a golden-file diff points at the element that changed."""
    parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
    root = etree.fromstring(xml, parser)
    etree.indent(root, space="  ")
    return etree.tostring(root, encoding="unicode") + "\n"


def _golden_paths(compiled: Compiled, case: dict[str, Any], where: _Where) -> list[Path]:
    """Every golden file of a case, each checked to stay in the mapping's folder before any is read or written."""
    spec = case["expect_output"]
    located = where.located if where.located is not None else case
    if not isinstance(spec, list):
        return [case_path(compiled, located, "expect_output", spec)[0]]
    return [case_path(compiled, located, "expect_output", item, i)[0] for i, item in enumerate(spec)]


def _check_output(compiled: Compiled, case: dict[str, Any], result: Conversion, where: _Where, update: bool
                  ) -> list[str]:
    try:
        golden = _golden_paths(compiled, case, where)
    except MappingError as exc:
        return problems_shown(exc)
    outputs = result.outputs
    if len(golden) != len(outputs):
        return [f"{where.at('expect_output')}: {len(golden)} golden file(s) for {len(outputs)} output message(s)"]
    problems: list[str] = []
    for path, output in zip(golden, outputs, strict=True):
        actual = masked(pretty(output.xml))
        if path.exists() and not path.is_file():  # a folder, FIFO or device: neither read nor written over
            problems.append(f"{where.at('expect_output')}: golden file {path} is not a regular file")
            continue
        try:
            expected = read_capped(path).decode("utf-8", errors="replace") if path.is_file() else None
        except InputError as exc:
            problems.append(f"{where.at('expect_output')}: golden file {path}: {exc.message}")
            continue
        if update:
            if expected != actual:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(actual, encoding="utf-8")
            continue
        if expected is None:
            problems.append(f"{where.at('expect_output')}: golden file {path} not found (run with --update to "
                            "write it, then review it)")
            continue
        if expected == actual:
            continue
        with contextlib.suppress(etree.XMLSyntaxError):  # a hand-edited golden file: compare it indented
            expected = masked(pretty(expected.encode()))
        if expected == actual:
            continue
        diff = difflib.unified_diff(expected.splitlines(), actual.splitlines(), f"{path.name} (expected)",
                                    f"{path.name} (actual)", lineterm="", n=1)
        problems.append(f"{where.at('expect_output')}: output differs from {path}")
        problems += [f"  {line}" for line in diff]
    return problems


def summary(results: list[FileResult]) -> tuple[int, int, int]:
    """(passed, failed, skipped) over all cases; a file that does not compile counts as one failure."""
    cases = [c for r in results for c in r.cases]
    failed = sum(c.status == FAIL for c in cases) + sum(1 for r in results if r.problems)
    return sum(c.status == PASS for c in cases), failed, sum(c.status == SKIP for c in cases)


def report(results: list[FileResult]) -> list[str]:
    """The lines ``overstap mapping test`` prints."""
    lines: list[str] = []
    for res in results:
        if res.problems:
            lines.append(f"FAIL {res.file}: does not compile")
            lines += [f"     {p}" for p in res.problems]
            continue
        if not res.cases:
            lines.append(f"--   {res.file}: {res.mapping} has no tests: cases")
        for note in res.notes:
            lines.append(f"note {res.file}: {note}")
        for case in res.cases:
            label = {PASS: "ok  ", FAIL: "FAIL", SKIP: "skip"}[case.status]
            lines.append(f"{label} {res.file}:{case.line}: {res.mapping}: {case.name}")
            lines += [f"     {d}" for d in case.details]
    passed, failed, skipped = summary(results)
    lines.append(f"{passed} passed, {failed} failed, {skipped} skipped")
    return lines
