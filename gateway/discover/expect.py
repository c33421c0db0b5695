"""What a compiled mapping expects to find in a message, as absolute element paths.

The mapping compiler keeps rules relative to their group (``each:``); discover compares whole
messages, so this module flattens a mapping into one entry per rule with the absolute path of its
source element (Clark tags from the root), the canonical target with its group chain
(``clients.producten.code``) and what the rule says about the value: the date format its
``date:`` transform reads, the value map it applies, whether it is required.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gateway.mapping.rules import Compiled, FieldRule, GroupRule, Path_

Tags = tuple[str, ...]
_PREDICATE = re.compile(r"\[[^\]]*\]")
_SIBLING = re.compile(r"self::([\w:.-]+)")


@dataclass(frozen=True, slots=True)
class Expected:
    """One rule of a mapping, flattened: where its value comes from and what it should look like."""

    target: str  # clients.producten.code
    path: Tags  # Clark tags from the root; an attribute ends in "@name"
    required: bool
    date_format: str | None  # the format its ``date`` transform reads; "yyyy-mm-dd" for a plain date field
    value_map: frozenset[str] = frozenset()
    transforms: tuple[str, ...] = ()


@dataclass(slots=True)
class Expectation:
    """Everything one mapping expects: its rules, group anchors and ignored paths."""

    name: str
    fields: list[Expected] = field(default_factory=list)
    groups: list[tuple[str, Tags]] = field(default_factory=list)  # (target chain, absolute each path)
    ignored: list[Tags] = field(default_factory=list)
    matched: list[Tags] = field(default_factory=list)  # paths ``match: xpath`` reads
    _known: set[Tags] | None = None

    def known(self) -> set[Tags]:
        """Every path a rule reads, with all its ancestors (containers are not "extra"); computed once."""
        if self._known is not None:
            return self._known
        out: set[Tags] = set()
        for item in [*(f.path for f in self.fields), *(g[1] for g in self.groups), *self.matched]:
            for end in range(1, len(item) + 1):
                out.add(item[:end])
        self._known = out
        return out

    def by_path(self) -> dict[Tags, list[Expected]]:
        found: dict[Tags, list[Expected]] = {}
        for item in self.fields:
            found.setdefault(item.path, []).append(item)
        return found


def _clark(step: str, ns: dict[str, str]) -> str | None:
    step = _PREDICATE.sub("", step).strip()
    if step == "*":
        return "*"
    if not step or "(" in step or "::" in step:
        return None
    attr = step.startswith("@")
    name = step[1:] if attr else step
    prefix, _, local = name.rpartition(":")
    if prefix and prefix not in ns:
        return None
    tag = f"{{{ns[prefix]}}}{local}" if prefix else local
    return f"@{tag}" if attr else tag


def path_tags(path: Path_, ns: dict[str, str]) -> list[Tags]:
    """The absolute-able tag tuples a compiled path reads (several for ``a | b``); [] when not plain enough."""
    if path.tags is not None:
        return [path.tags]
    out: list[Tags] = []
    for branch in path.expr.split("|"):
        branch = branch.strip()
        if branch.startswith("following-sibling::"):
            out += [("..", t) for t in (_clark(n, ns) for n in _SIBLING.findall(branch)) if t]
            continue
        if branch in (".", "") or branch.startswith("/"):
            out.append(()) if branch == "." else None
            continue
        steps = [s for s in branch.split("/") if s != "."]
        tags = [_clark(s, ns) for s in steps]
        if all(tags):
            out.append(tuple(t for t in tags if t))
    return out


def _date_format(rule: FieldRule, target: str) -> str | None:
    for transform, arg in rule.transforms:
        if transform.name == "date":
            for name, pattern in _DATE_PATTERNS.items():
                if pattern == arg:
                    return name
            return str(arg)
        if transform.name in ("extract", "split", "substring"):
            return None  # the value is cut first: its shape says nothing about a whole date
    dated = target.endswith("datum") or target == "dagtekening"
    return "yyyy-mm-dd" if dated and not rule.transforms else None


_DATE_PATTERNS = {"yyyy-mm-dd": "%Y-%m-%d", "dd-mm-yyyy": "%d-%m-%Y", "yyyymmdd": "%Y%m%d",
                  "ddmmyyyy": "%d%m%Y", "dd/mm/yyyy": "%d/%m/%Y", "dd.mm.yyyy": "%d.%m.%Y"}


def _join(base: Tags, tags: Tags) -> Tags:
    if tags[:1] == ("..",):
        return base[:-1] + tags[1:]
    return base + tags


def _walk(rules: list[FieldRule | GroupRule], base: Tags, chain: str, ns: dict[str, str], out: Expectation) -> None:
    for rule in rules:
        target = f"{chain}.{rule.target}" if chain else rule.target
        if isinstance(rule, GroupRule):
            for each in path_tags(rule.each, ns):
                out.groups.append((target, base + each))
                _walk(rule.rules, base + each, target, ns, out)
            continue
        if rule.constant is not None:
            continue
        vmap = frozenset(rule.value_map.table) if rule.value_map else frozenset()
        names = tuple(t.name for t, _ in rule.transforms)
        for path in rule.paths:
            for tags in path_tags(path, ns):
                out.fields.append(Expected(target, _join(base, tags), rule.required, _date_format(rule, rule.target),
                                           vmap, names))


_CACHE: dict[int, tuple[Compiled, Expectation]] = {}


def _expectation(mapping: Compiled) -> Expectation:
    out = Expectation(mapping.name)
    ns = dict(mapping.namespaces)
    _walk(mapping.rules, (), "", ns, out)
    for path, _reason in mapping.ignore:
        out.ignored += path_tags(path, ns)
    for path, _value in mapping.match.xpath:
        out.matched += path_tags(path, ns)
    return out


def expectation(mapping: Compiled) -> Expectation:
    """The (cached) flattened expectation of one compiled mapping."""
    hit = _CACHE.get(id(mapping))
    if hit is None or hit[0] is not mapping:
        hit = _CACHE[id(mapping)] = (mapping, _expectation(mapping))
    return hit[1]


def local(tag: str) -> str:
    """``{uri}Bsn`` -> ``Bsn``; ``@{uri}code`` -> ``@code``."""
    attr = tag.startswith("@")
    name = tag[1:] if attr else tag
    name = name.rpartition("}")[2]
    return f"@{name}" if attr else name


def show(path: Tags) -> str:
    """A readable path: local names joined by ``/``."""
    return "/".join(local(t) for t in path) or "."
