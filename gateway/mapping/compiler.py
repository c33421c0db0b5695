"""Compile a mapping file (with its ``extends`` chain) into rules that run without re-reading YAML.

Compilation checks everything it can before a message arrives: unknown keys, unknown transforms,
bad XPath, undeclared prefixes, unknown canonical fields, missing bases, cycles in ``extends``.
All problems are collected with ``file:line:column`` and a "did you mean"; a file with any
problem is refused whole.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from gateway.model.codes import BERICHTNUMMERS, CODE_LISTS
from gateway.reference import reference_dir

from . import casepaths
from .blanks import blanks_matter
from .chain import Resolver, resolve_chain
from .errors import Collector, MappingError, suggest
from .loader import LocatedDict, file_of, location
from .parts import compile_path, compile_transforms, compile_value_maps, scalar
from .rules import Compiled, FieldRule, GroupRule, Match, Path_, Rule, ValueMap
from .targets import ROOT_MODEL, FieldKind, fields_of
from .walkplan import build_plan

FORMAT_KEY = "overstap-mapping"
TOP_KEYS = {
    FORMAT_KEY: "format version of the mapping file (1)",
    "name": "unique name used by --mapping and `mapping list`",
    "title": "one line for humans",
    "description": "free text",
    "wet": "wmo or jw",
    "bericht": "message family: 301, 315, 305, 307, 302, 316, 317 ...",
    "versie": "standard version of the dialect: 2.0, 2.1, 3.2 ...",
    "format": "xml or ei",
    "extends": "name or relative path of the base mapping",
    "match": "how messages of this dialect are recognised",
    "namespaces": "prefix -> namespace URI used in paths",
    "value_maps": "code translation tables",
    "render": "per-vendor render settings (zaaktype, zender, ontvanger, ggk_versie)",
    "strictness": "strict (reject on deviations) or lenient (convert with warnings)",
    "source_schema": "XSD the dialect's messages must satisfy, relative to the reference dir",
    "ignore": "source paths deliberately not mapped, with the reason",
    "rules": "canonical field -> source",
    "tests": "sample-in / expected-out test cases",
    "definitions": "YAML anchors for reuse (&name / <<: *name); not read otherwise",
    "abstract": "true: a base for extends only; never detected, never converts on its own",
    "refuse": "reason text: messages this mapping recognises are refused with that reason, a counted outcome",
    "reverse": "false, or the reason why not: this mapping only reads; convert --reverse refuses it",
}
MATCH_KEYS = {"namespace", "root", "format", "xpath", "fields", "route"}
FIELD_KEYS = {"path", "paths", "constant", "default", "required", "when", "transform", "map", "many", "note"}
GROUP_KEYS = {"each", "when", "rules", "note"}
TEST_KEYS = {
    "name", "input", "expect", "expect_output", "expect_error", "expect_unmapped", "expect_warnings", "profile",
    "route",
}
CASE_SHAPES: dict[str, tuple[tuple[type, ...], str]] = {
    "expect": ((dict,), "a mapping of canonical field -> expected value"),
    "expect_error": ((str, dict), "the text the error contains, or a mapping of field, contains, line and code"),
    "expect_unmapped": ((list,), "a list of source paths"),
    "expect_warnings": ((list,), "a list of texts the warnings contain"),
    "route": ((str,), "a route name"),
}
"""What a test case's values are: ``expect: 1`` or ``expect_unmapped: true`` passed ``mapping check`` and ended
``mapping test`` in a traceback (AttributeError, TypeError); each is now a problem at its line."""
RENDER_KEYS = {"zender", "ontvanger", "zaaktype", "omschrijving", "ggk_versie"}
STRICTNESS = ("strict", "lenient")



class _RuleCompiler:
    def __init__(self, ns: dict[str, str], maps: dict[str, ValueMap], c: Collector) -> None:
        self.ns = ns
        self.maps = maps
        self.c = c

    def rules(self, spec: Any, model: type[BaseModel], prefix: str) -> list[Rule]:
        out: list[Rule] = []
        if not isinstance(spec, dict):
            self.c.add(spec, None, "rules: is a mapping of canonical field -> source")
            return out
        for target, body in spec.items():
            if body is None:
                continue
            rule = self.rule(spec, str(target), body, model, prefix)
            if rule is not None:
                out.append(rule)
        return out

    def _resolve_target(self, spec: Any, target: str, model: type[BaseModel], prefix: str
                        ) -> tuple[tuple[str, ...], FieldKind] | None:
        segments = tuple(target.split("."))
        current: type[BaseModel] | None = model
        kind = FieldKind("model", model)
        for i, segment in enumerate(segments):
            if kind.kind == "extra":
                if i != len(segments) - 1:
                    self.c.add(spec, target, f"{prefix}{target}: extra.NAME takes one name, no dots")
                    return None
                return segments, FieldKind("scalar")
            if current is None or kind.kind not in ("model",):
                self.c.add(spec, target, f"{prefix}{target}: {'.'.join(segments[:i])} has no sub-fields")
                return None
            fields = fields_of(current)
            if segment not in fields:
                where = prefix + ".".join(segments[:i]) if i else (prefix.rstrip(".") or "bericht")
                self.c.add(spec, target, f"unknown canonical field {segment!r} in {where or 'bericht'}",
                           suggest(segment, fields))
                return None
            kind = fields[segment]
            current = kind.model
        if kind.kind == "extra":
            self.c.add(spec, target, f"{prefix}{target}: name the extra field, e.g. {target}.NAME")
            return None
        return segments, kind

    def rule(self, spec: Any, target: str, body: Any, model: type[BaseModel], prefix: str) -> Rule | None:
        resolved = self._resolve_target(spec, target, model, prefix)
        line, col = location(spec, target)
        file = getattr(spec, "key_files", {}).get(target) or file_of(spec, self.c.default_file)
        if resolved is None:
            return None
        segments, kind = resolved
        if isinstance(body, dict) and "each" in body:
            for key in body:
                if key not in GROUP_KEYS:
                    self.c.add(body, key, f"unknown key {key!r} in repeating group {prefix}{target}",
                               suggest(key, GROUP_KEYS | FIELD_KEYS))
            if kind.kind != "models" or kind.model is None:
                self.c.add(spec, target, f"{prefix}{target} is not a repeating group (each: needs a list field)")
                return None
            each = compile_path(body["each"], self.ns, self.c, body, "each")
            when = compile_path(body["when"], self.ns, self.c, body, "when") if "when" in body else None
            sub = self.rules(body.get("rules", LocatedDict()), kind.model, f"{prefix}{target}[].")
            if each is None:
                return None
            return GroupRule(target, segments, each, when, sub, kind.model, file, line, col, build_plan(sub))
        if kind.kind in ("models", "model"):
            self.c.add(spec, target, f"{prefix}{target} is a structure: map its fields "
                       f"({'a repeating group needs each: and rules:' if kind.kind == 'models' else 'e.g. '}"
                       f"{'' if kind.kind == 'models' else target + '.' + next(iter(fields_of(kind.model)))})")
            return None
        if isinstance(body, str):  # shorthand `field: PATH`: problems point at the path text
            body = _shorthand(spec, target, body, file)
        if not isinstance(body, dict):
            self.c.add(spec, target, f"{prefix}{target}: a rule is a path string or a mapping with path:/constant:",
                       value=True)
            return None
        for key in body:
            if key not in FIELD_KEYS:
                self.c.add(body, key, f"unknown key {key!r} in rule {prefix}{target}", suggest(key, FIELD_KEYS))
        sources = [k for k in ("path", "paths", "constant") if k in body]
        if len(sources) != 1 and not (not sources and "default" in body):
            self.c.add(spec, target, f"{prefix}{target}: give exactly one of path:, paths: or constant:")
            return None
        paths: list[Path_] = []
        if "path" in body:
            compiled = compile_path(body["path"], self.ns, self.c, body, "path")
            if compiled is None:
                return None
            paths = [compiled]
        elif "paths" in body:
            raw = body["paths"]
            if not isinstance(raw, list) or not raw:
                self.c.add(body, "paths", "paths: is a list of source paths", value=True)
                return None
            for i, item in enumerate(raw):
                compiled = compile_path(item, self.ns, self.c, raw, i)
                if compiled is not None:
                    paths.append(compiled)
        when = compile_path(body["when"], self.ns, self.c, body, "when") if "when" in body else None
        transforms = compile_transforms(body["transform"], self.c, body, "transform") if "transform" in body else []
        value_map = None
        if "map" in body:
            value_map = self.maps.get(str(body["map"]))
            if value_map is None:
                self.c.add(body, "map", f"unknown value map {body['map']!r}", suggest(str(body["map"]), self.maps),
                           value=True)
        required = body.get("required", False)
        many = body.get("many", kind.kind == "scalars")
        if not isinstance(required, bool) or not isinstance(many, bool):
            self.c.add(body, "required" if not isinstance(required, bool) else "many", "must be true or false",
                       value=True)
        if many and kind.kind != "scalars":
            self.c.add(body, "many", f"{prefix}{target} holds one value; many: true needs a list field", value=True)
        if "constant" in body:
            _check_constant(self.c, body, prefix + target, scalar(body["constant"]))
        return FieldRule(
            target=target, segments=segments, paths=paths, constant=scalar(body.get("constant")),
            default=scalar(body.get("default")), required=bool(required), when=when, transforms=transforms,
            value_map=value_map, many=bool(many), file=file_of(body, file), line=line, column=col,
        )


def _check_constant(c: Collector, body: Any, where: str, value: str | None) -> None:
    """A constant must be a value the canonical model accepts: caught by ``mapping check``, not at run time."""
    leaf = where.rsplit(".", 1)[-1]
    if where == "soort":
        allowed: tuple[str, ...] = tuple(BERICHTNUMMERS)
        listname = "the canonical berichtsoorten"
    elif leaf in CODE_LISTS:
        listname, allowed = CODE_LISTS[leaf]
    else:
        return
    if value not in allowed:
        c.add(body, "constant", f"constant {value!r} for {where} is not in {listname} "
              f"({', '.join(dict.fromkeys(allowed))})", suggest(str(value), allowed), value=True)


def _shorthand(spec: Any, target: str, path: str, file: str) -> LocatedDict:
    """``field: PATH`` as ``field: {path: PATH}``, located where the path text stands."""
    body = LocatedDict({"path": path})
    pos = location(spec, target, value=True)
    body.loc, body.key_locs, body.value_locs = pos, {"path": pos}, {"path": pos}
    body.file = file  # type: ignore[attr-defined]
    return body


def _compile_match(spec: Any, ns: dict[str, str], c: Collector, fmt: str) -> Match:
    match = Match(format=fmt)
    if spec is None:
        return match
    if not isinstance(spec, dict):
        c.add(spec, None, "match: is a mapping (namespace, root, format, xpath, fields, route)")
        return match
    for key in spec:
        if key not in MATCH_KEYS:
            c.add(spec, key, f"unknown key {key!r} in match", suggest(key, MATCH_KEYS))
    match.namespace = scalar(spec.get("namespace"))
    match.root = scalar(spec.get("root"))
    match.route = scalar(spec.get("route"))
    match.format = scalar(spec.get("format")) or fmt
    xpaths = spec.get("xpath") or {}
    if not isinstance(xpaths, dict):
        c.add(spec, "xpath", "match.xpath is a mapping of XPath -> expected value (or null for 'exists')",
              value=True)
    else:
        for expr, expected in xpaths.items():
            compiled = compile_path(expr, ns, c, xpaths, expr)
            if compiled is not None:
                match.xpath.append((compiled, scalar(expected)))
    fields = spec.get("fields") or {}
    if not isinstance(fields, dict):
        c.add(spec, "fields", "match.fields is a mapping of top-level canonical field -> value", value=True)
    else:
        match.fields = {str(k): str(v) for k, v in fields.items()}
    return match


def compile_document(doc: LocatedDict, file: str, chain: list[str]) -> Compiled:
    """Compile a merged mapping document; raise MappingError listing every problem found (in the order of
    the checks below, which the error listings and tests rely on)."""
    c = Collector(file)
    name, fmt, strictness = _heading(doc, c)
    source_schema = _source_schema(doc, c)
    ns = doc.get("namespaces") or {}
    if not isinstance(ns, dict):
        c.add(doc, "namespaces", "namespaces: is a mapping of prefix -> namespace URI", value=True)
        ns = {}
    ns = {str(k): str(v) for k, v in ns.items()}
    maps = compile_value_maps(doc.get("value_maps"), Path(file).parent, c)
    rules = _RuleCompiler(ns, maps, c).rules(doc.get("rules", LocatedDict()), ROOT_MODEL, "")
    ignore = _ignore(doc, ns, c)
    render = _render_settings(doc, c)
    match = _compile_match(doc.get("match"), ns, c, fmt)
    tests = _tests(doc, c)
    one_way = _one_way_rules(rules, "")
    reverse_refused = _reverse_refused(doc, c)
    abstract, refuse = _abstract_refuse(doc, c)
    if c.problems:
        raise MappingError(c.problems)
    return Compiled(
        name=str(name), title=str(doc.get("title", name)), wet=doc.get("wet"), bericht=scalar(doc.get("bericht")),
        versie=scalar(doc.get("versie")), format=fmt, file=file, chain=chain, match=match, namespaces=ns,
        rules=rules, ignore=ignore, value_maps=maps, render=_plain(render), strictness=str(strictness),
        tests=[_plain(t) for t in tests], raw=doc, one_way=one_way, plan=build_plan(rules),
        source_schema=source_schema, reverse_refused=reverse_refused, abstract=abstract, refuse=refuse,
        blanks_matter=fmt == "xml" and blanks_matter(rules, [path for path, _ in match.xpath],  # EI: no XML parse
                                                     [path for path, _ in ignore], source_schema),
    )


def _heading(doc: LocatedDict, c: Collector) -> tuple[object, str, object]:
    """The top-level keys and scalars: unknown keys, the format version, ``name``, ``format``, ``wet`` and
    ``strictness``; returns the name, the format and the strictness as found (checked, not coerced)."""
    for key in doc:
        if key not in TOP_KEYS:
            c.add(doc, key, f"unknown key {key!r}", suggest(str(key), TOP_KEYS))
    if str(doc.get(FORMAT_KEY)) != "1":
        c.add(doc, FORMAT_KEY, f"{FORMAT_KEY}: 1 is required as the format version")
    name = doc.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", name or ""):
        c.add(doc, "name", "name: is required: lower-case letters, digits, '.', '_' or '-'", value=True)
    fmt = str(doc.get("format", "xml"))
    if fmt not in ("xml", "ei"):
        c.add(doc, "format", "format must be xml or ei", value=True)
    wet = doc.get("wet")
    if wet is not None and wet not in ("wmo", "jw"):
        c.add(doc, "wet", "wet must be wmo or jw", value=True)
    strictness = doc.get("strictness", "strict")
    if strictness not in STRICTNESS:
        c.add(doc, "strictness", f"strictness must be one of {', '.join(STRICTNESS)}",
              suggest(str(strictness), STRICTNESS), value=True)
    return name, fmt, strictness


def _ignore(doc: LocatedDict, ns: dict[str, str], c: Collector) -> list[tuple[Path_, str]]:
    """``ignore:``, each path compiled with the reason it is safe to drop (a reason is required)."""
    ignore: list[tuple[Path_, str]] = []
    raw_ignore = doc.get("ignore") or []
    if not isinstance(raw_ignore, list):
        c.add(doc, "ignore", "ignore: is a list of {path, reason}", value=True)
        raw_ignore = []
    for i, item in enumerate(raw_ignore):
        if isinstance(item, dict) and "path" in item:
            compiled = compile_path(item["path"], ns, c, item, "path")
            if compiled is not None:
                ignore.append((compiled, str(item.get("reason", ""))))
            if not item.get("reason"):
                c.add(raw_ignore, i, "an ignored path needs a reason: (why is it safe to drop?)")
        else:
            c.add(raw_ignore, i, "an ignore item is {path: XPATH, reason: TEXT}")
    return ignore


def _render_settings(doc: LocatedDict, c: Collector) -> dict[str, object]:
    """``render:``, its keys checked against the settings the renderers know."""
    render = doc.get("render") or {}
    if not isinstance(render, dict):
        c.add(doc, "render", "render: is a mapping", value=True)
        render = {}
    for key in render:
        if key not in RENDER_KEYS:
            c.add(render, key, f"unknown render setting {key!r}", suggest(str(key), RENDER_KEYS))
    return render


def _tests(doc: LocatedDict, c: Collector) -> list[object]:
    """``tests:``, each case's keys checked (the cases run in ``overstap mapping test``, not here)."""
    tests = doc.get("tests") or []
    if not isinstance(tests, list):
        c.add(doc, "tests", "tests: is a list of test cases", value=True)
        tests = []
    for i, test in enumerate(tests):
        if not isinstance(test, dict):
            c.add(tests, i, "a test case is a mapping with input: and expect:/expect_output:/expect_error:")
            continue
        for key in test:
            if key not in TEST_KEYS:
                c.add(test, key, f"unknown key {key!r} in test case", suggest(str(key), TEST_KEYS))
        if "input" not in test:
            c.add(tests, i, "a test case needs input:")
        for key, (kinds, shape) in CASE_SHAPES.items():
            if test.get(key) is not None and not isinstance(test[key], kinds):
                c.add(test, key, f"{key}: is {shape}", value=True)
        for node, key, message in casepaths.problems(test, Path(c.default_file)):  # read and write in its folder
            c.add(node, key, message, value=True)
    return tests


def _reverse_refused(doc: LocatedDict, c: Collector) -> str | None:
    """None when the mapping writes back (``reverse: true``, the default), else why it cannot."""
    reverse = doc.get("reverse", True)
    if reverse is not True and not (isinstance(reverse, str) and reverse.strip()) and reverse is not False:
        c.add(doc, "reverse", "reverse: is false or a reason text (why this mapping cannot write back)", value=True)
    if reverse is True:
        return None
    return str(reverse).strip() if reverse is not False else "the mapping declares reverse: false"


def _abstract_refuse(doc: LocatedDict, c: Collector) -> tuple[bool, str | None]:
    """``abstract: true`` and ``refuse: REASON``, checked: a refusing mapping must say how it is recognised."""
    abstract = doc.get("abstract", False)
    if not isinstance(abstract, bool):
        c.add(doc, "abstract", "abstract: is true or false", value=True)
        abstract = False
    refuse = doc.get("refuse")
    if refuse is not None and not (isinstance(refuse, str) and refuse.strip()):
        c.add(doc, "refuse", "refuse: is the reason text, e.g. refuse: \"303 declaraties go to the declaratie "
              "portal\"", value=True)
        refuse = None
    if refuse is not None and abstract:
        c.add(doc, "refuse", "an abstract mapping is never detected, so it cannot refuse anything")
    if refuse is not None and not doc.get("match"):
        c.add(doc, "refuse", "a refusing mapping needs match: (which messages it recognises)")
    return abstract, refuse.strip() if refuse else None


def _source_schema(doc: LocatedDict, c: Collector) -> str | None:
    """Check ``source_schema:``: a relative .xsd path inside the reference dir (checked there when present)."""
    value = doc.get("source_schema")
    if value is None:
        return None
    text = str(value).strip()
    if not text.endswith(".xsd") or text.startswith("/") or ".." in Path(text).parts:
        c.add(doc, "source_schema", "source_schema names an .xsd file relative to the reference dir, "
              "e.g. iwmo21-xsd/WMO301.xsd", value=True)
        return None
    ref = reference_dir()
    if ref.is_dir() and not (ref / text).is_file():
        folder = (ref / text).parent
        known = [str(p.relative_to(ref)) for p in folder.glob("*.xsd")] if folder.is_dir() else []
        c.add(doc, "source_schema", f"source schema {text!r} not found in the reference dir {ref}",
              suggest(text, known), value=True)
        return None
    return text


def shared_slot(rule: FieldRule) -> tuple[str, int] | None:
    """``split: SEP`` then ``index: N`` on one plain path: the rule owns part N of a shared source element
    (``Naam: "Visser, M.C."`` feeds the geslachtsnaam and the voorletters), so it is written back as that part."""
    if len(rule.transforms) < 2 or len(rule.paths) != 1:
        return None
    (first, sep), (second, idx) = rule.transforms[:2]
    if first.name != "split" or second.name != "index" or idx < 0:
        return None
    return sep, idx


_FUNCTION = re.compile(r"^\s*[A-Za-z][\w-]*\s*\(")


def _unwritable(expr: str) -> bool:
    """An absolute path, a step up (``../@x``) or an XPath function expression: reverse cannot place it."""
    text = expr.strip()
    if text == "local-name()":  # the item's own name: reverse picks the alternative of an ``a | b`` group by it
        return False
    return text.startswith("/") or ".." in text or bool(_FUNCTION.match(text))


def _one_way_rules(rules: list[Rule], prefix: str) -> list[str]:
    """Rules that cannot run backwards: a transform without a declared reverse, or a lossy value map."""
    out: list[str] = []
    for rule in rules:
        if isinstance(rule, GroupRule):
            out += _one_way_rules(rule.rules, f"{prefix}{rule.target}[].")
            continue
        transforms = rule.transforms[2:] if shared_slot(rule) else rule.transforms
        reasons = [t.name for t, _ in transforms if t.reverse is None]
        if rule.value_map is not None and not rule.value_map.lossless:
            reasons.append(f"value map {rule.value_map.name} maps several codes onto one")
        if len(rule.paths) > 1 and not any(t.name == "join" for t, _ in rule.transforms):
            reasons.append("several paths")
        reasons += [f"path {p.expr!r} cannot be written back" for p in rule.paths if _unwritable(p.expr)]
        if reasons:
            out.append(f"{prefix}{rule.target} ({', '.join(reasons)})")
    return out


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def compile_file(path: Path, resolve: Resolver) -> Compiled:
    doc, chain = resolve_chain(path, resolve)
    return compile_document(doc, str(path), chain)
