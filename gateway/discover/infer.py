"""Infer rules from value shapes and names: which transform a format needs, which source feeds a field.

Two users: a cluster that is a known dialect with deviations (only the deviating rules are
rewritten, with the transform their observed format needs) and a cluster that shares no structure
with any built-in dialect (every field is looked up in :mod:`gateway.discover.vocabulary`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from gateway.model.codes import CODE_LISTS

from .cluster import Cluster
from .draft import Block, Draft
from .expect import Tags, local
from .shapes import told
from .vocabulary import (
    ADDRESS_FIELDS,
    CLIENT_FIELDS,
    CLIENT_GROUP,
    PHONE,
    PRODUCT_FIELDS,
    PRODUCT_GROUP,
    TOP_FIELDS,
    code_for,
)

Spec = dict[str, Any]


def _shapes(cluster: Cluster, path: Tags) -> Counter[str]:
    return cluster.shapes.get(path, Counter())


def _date_of(shapes: Counter[str]) -> str | None:
    for shape in shapes:
        if shape.startswith("date:"):
            return shape[5:]
        if shape.startswith("datetime:"):
            return shape[9:].split(" ")[0]
    return None


def transforms_for(target: str, shapes: Counter[str]) -> tuple[list[Any], str | None]:
    """The transforms a rule for ``target`` needs for values of these shapes, and why (None: nothing needed)."""
    last = target.rsplit(".", 1)[-1]
    date = _date_of(shapes)
    timed = any(s.startswith("datetime:") for s in shapes)
    if last == "toewijzingstijd" and timed:
        return [{"extract": r"(\d\d:\d\d)$"}, {"time": "hh:mm"}], "date and time in one value: the time is cut out"
    if (last.endswith("datum") or last == "dagtekening") and date:
        steps: list[Any] = [{"extract": r"^(\S+)"}] if timed else []
        if date != "yyyy-mm-dd":
            steps.append({"date": date})
        why = f"dates written as {date}" + (" with a time after them" if timed else "")
        return steps, why if steps else None
    comma = any(s.startswith("decimal:comma") for s in shapes)
    if last == "budget" and comma:
        return [{"number": {"decimal": ",", "scale": 2}}], "an amount in euro with a decimal comma, made eurocent"
    if comma:
        return [{"number": {"decimal": ","}}], "numbers written with a decimal comma"
    digits = [int(s[7:]) for s in shapes if s.startswith("digits:")]
    if last == "bsn" and digits and min(digits) < 9:
        return [{"zeropad": 9}], "BSNs shorter than nine digits (stored as a number, the leading zero lost)"
    if last == "afzender" and digits and min(digits) < 4:
        return [{"zeropad": 4}], "a gemeentecode without its leading zero"
    if last == "postcode" and any(not s.startswith("code:9999AA") for s in shapes):
        return [{"replace": {"pattern": r"\s+", "with": ""}}, "upper"], "postcodes with a space or in lower case"
    if last == "nummer" and any(s.startswith("phone:") for s in shapes):
        return [{"replace": {"pattern": r"\D", "with": ""}}], "phone numbers with separators"
    return [], None


def value_map_for(field: str, codes: Counter[str]) -> tuple[dict[str, Any] | None, bool, list[str]]:
    """A value map from the observed codes of a code-list field: (map or None, compare lower case, unknown words)."""
    allowed = set(CODE_LISTS[field][1]) if field in CODE_LISTS else set()
    if not codes or all(v in allowed for v in codes):
        return None, False, []
    words = any(len(v) > 1 and any(ch.isalpha() for ch in v) for v in codes)
    values: dict[str, str] = {}
    unknown: list[str] = []
    for observed in sorted(codes):
        key = observed.strip().lower() if words else observed
        code = observed if observed in allowed else code_for(field, observed)
        if code is None:
            unknown.append(observed)
        else:
            values[key] = code
    return {"values": values, "fallback": "error"}, words, unknown


def _relative(path: Tags, base: Tags, prefixes: dict[str, str]) -> str:
    steps = []
    for tag in path[len(base):]:
        attr = tag.startswith("@")
        name = tag[1:] if attr else tag
        uri, _, localname = name[1:].partition("}") if name.startswith("{") else ("", "", name)
        step = f"{prefixes[uri]}:{localname}" if uri else localname
        steps.append(f"@{step}" if attr else step)
    return "/".join(steps) or "."


def _suffix(path: Tags, base: Tags) -> str:
    return "/".join(local(t).lower() for t in path[len(base):])


def _find(candidates: list[Tags], base: Tags, names: tuple[str, ...], used: set[Tags]) -> Tags | None:
    for name in names:
        for path in candidates:
            rel = _suffix(path, base)
            if path not in used and (rel == name or rel.endswith("/" + name)):
                return path
    return None


class Foreign:
    """Rules for a cluster whose messages share no structure with the closest built-in dialect."""

    def __init__(self, cluster: Cluster, draft: Draft, prefixes: dict[str, str], required: set[str]) -> None:
        self.cluster, self.draft, self.prefixes, self.required = cluster, draft, prefixes, required
        self.used: set[Tags] = set()
        leaves = [p for p in cluster.shapes if any(s != "empty" for s in cluster.shapes[p])]
        containers = {p[:-1] for p in cluster.presence if len(p) > 1}
        self.client = self._group(sorted(containers, key=len), (), CLIENT_GROUP)
        self.product = self._group(sorted(containers, key=len), self.client, PRODUCT_GROUP) if self.client else None
        self.leaves = sorted(leaves, key=lambda p: (len(p), p))

    def _group(self, containers: list[Tags], base: Tags | None, names: tuple[str, ...]) -> Tags | None:
        inside = [c for c in containers if base is None or (c[: len(base)] == base and len(c) > len(base))]
        return _find(inside, base or (), names, set())

    def _context(self, base: Tags, exclude: Tags | None) -> list[Tags]:
        return [p for p in self.leaves if p[: len(base)] == base and len(p) > len(base)
                and not (exclude and p[: len(exclude)] == exclude)]

    def build(self) -> None:
        top = self._context((), self.client)
        self._fields("", (), top, TOP_FIELDS)
        if self.client is None:
            return
        clients = self.draft.group("")
        clients["clients"] = Block(each=_relative(self.client, (), self.prefixes), rules=Block())
        self.draft.guess("rules.clients", f"one client per <{local(self.client[-1])}>")
        client_leaves = self._context(self.client, self.product)
        self._fields("clients", self.client, client_leaves, CLIENT_FIELDS)
        self._contact(client_leaves)
        if self.product is not None:
            rules = self.draft.group("clients")
            rules["producten"] = Block(each=_relative(self.product, self.client, self.prefixes), rules=Block())
            self.draft.guess("rules.clients.rules.producten", f"one toegewezen product per <{local(self.product[-1])}>")
            self._fields("clients.producten", self.product, self._context(self.product, None), PRODUCT_FIELDS)
            self._derived_categorie()
        for path in self.leaves:
            if path not in self.used:
                self.draft.ignore.append({"path": _relative(path, (), self.prefixes),
                                          "reason": "GUESS: no canonical field recognised; map it or keep ignoring"})

    def _fields(self, chain: str, base: Tags, candidates: list[Tags], table: dict[str, tuple[str, ...]]) -> None:
        shared = {"tijdstip"}
        for target, names in table.items():
            path = _find(candidates, base, names, self.used)
            if path is None:
                continue
            if local(path[-1]).lower() not in shared:
                self.used.add(path)
            self.rule(chain, base, target, path)
        for path in candidates:
            if local(path[-1]).lower() in shared:
                self.used.add(path)

    def rule(self, chain: str, base: Tags, target: str, path: Tags) -> None:
        """Write one field rule, with the transforms and value map its values need."""
        shapes = _shapes(self.cluster, path)
        spec: Spec = {"path": _relative(path, base, self.prefixes)}
        where = f"rules.{chain.replace('.', '.rules.')}.rules.{target}" if chain else f"rules.{target}"
        why = [f"read from <{local(path[-1])}>"]
        full = f"{chain}.{target}" if chain else target
        if full in self.required:
            spec["required"] = True
        if target == "naam.geslachtsnaam.naam" and "name:comma-initials" in shapes:
            spec["transform"] = [{"split": ", "}, {"index": 0}]
            self.draft.group(chain)["naam.voorletters"] = {
                "path": spec["path"], "transform": [{"split": ", "}, {"index": 1},
                                                    {"replace": {"pattern": r"[.\s]", "with": ""}}]}
            self.draft.guess(where.replace(target, "naam.voorletters"), "initials after the comma in the name")
            why.append("'Achternaam, V.L.' split at the comma")
        steps, reason = transforms_for(target, shapes)
        if steps:
            spec["transform"] = steps
            why.append(reason or "")
        last = target.rsplit(".", 1)[-1]
        if last in ("geslacht", "eenheid", "frequentie", "naamgebruik"):
            self._map(spec, last, path, why)
        if last == "frequentie" and self.cluster.total[path] < self._volume_total(path):
            spec["default"] = "6"
            why.append("absent on some lines with a volume; 6 = totaal binnen geldigheidsduur")
        self.draft.group(chain)[target] = spec
        self.draft.guess(where, "; ".join(w for w in why if w))

    def _volume_total(self, path: Tags) -> int:
        siblings = [p for p in self.cluster.total if p[:-1] == path[:-1] and local(p[-1]).lower() in
                    PRODUCT_FIELDS["omvang.volume"]]
        return max((self.cluster.total[p] for p in siblings), default=0)

    def _map(self, spec: Spec, field: str, path: Tags, why: list[str]) -> None:
        found, words, unknown = value_map_for(field, self.cluster.codes.get(path, Counter()))
        if found is None:
            return
        self.draft.value_maps[field] = found
        self.draft.guess(f"value_maps.{field}", "codes by the words/letters seen in the messages")
        if words:
            spec["transform"] = [*spec.get("transform", []), "trim", "lower"]
        spec["map"] = field
        if unknown:
            self.draft.strictness = "lenient"
            self.draft.guess("strictness", "some codes are in no code list; lenient counts them as dialect debt")
            why.append(f"not translated yet: {', '.join(dict.fromkeys(told(u, frozenset()) for u in unknown[:5]))}")

    def _contact(self, leaves: list[Tags]) -> None:
        found = {t: _find(leaves, self.client or (), names, self.used) for t, names in ADDRESS_FIELDS.items()}
        phone = _find(leaves, self.client or (), PHONE, self.used)
        postcode = found.get("adres.postcode")
        if postcode is None:
            return
        rules = self.draft.group("clients")
        rules["contacten"] = Block(each=".", when=_relative(postcode, self.client or (), self.prefixes), rules=Block())
        self.draft.guess("rules.clients.rules.contacten", "the address is written flat on the client")
        self.draft.group("clients.contacten")["soort"] = {"constant": "01"}
        self.draft.guess("rules.clients.rules.contacten.rules.soort", "01 = BRP address (COD757)")
        for target, path in found.items():
            if path is not None:
                self.used.add(path)
                self.rule("clients.contacten", self.client or (), target, path)
        if phone is not None:
            self.used.add(phone)
            group = self.draft.group("clients.contacten")
            group["telefoon"] = Block(each=_relative(phone, self.client or (), self.prefixes), rules=Block())
            self.rule("clients.contacten.telefoon", phone, "nummer", phone)

    def _derived_categorie(self) -> None:
        rules = self.draft.group("clients.producten")
        code = rules.get("code")
        if "categorie" in rules or not isinstance(code, dict):
            return
        rules["categorie"] = {"path": code["path"], "transform": {"substring": [0, 2]}}
        self.draft.guess("rules.clients.rules.producten.rules.categorie",
                         "no categorie of its own: the first two characters of the product code (WMO020)")
