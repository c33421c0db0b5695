"""The simple types of the official StUF-ZKN 3.10 XSDs, read with lxml: what a value at one element may be.

The zkn value guard (gateway/render/guard.py) asks for the type of an element by its path from
``ZKN:zakLk01`` and gets its facets, collected along the derivation chain as libxml2 applies them.
Files are loaded the way libxml2 loads them: includes always, an import only for a namespace not
imported before (the first schemaLocation wins, see stuf/_stuf_all.xsd). Read at first use, ~0.1 s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

XS = "{http://www.w3.org/2001/XMLSchema}"
BUILTIN = "http://www.w3.org/2001/XMLSchema"
NS = {"ZKN": "http://www.egem.nl/StUF/sector/zkn/0310", "StUF": "http://www.egem.nl/StUF/StUF0301",
      "BG": "http://www.egem.nl/StUF/sector/bg/0310"}
STRINGS = {"string": "preserve", "normalizedString": "replace", "token": "collapse"}
DECIMALS = {"decimal": None, "integer": None, "positiveInteger": 1, "nonNegativeInteger": 0}
"""Built-in numeric types the guard knows, with the lower bound their derivation from decimal adds."""


class Unsupported(ValueError):
    """A type the guard cannot check exactly (a union, a list, a built-in it does not model)."""


@dataclass(slots=True)
class Facets:
    """What a value must satisfy, accumulated from the most derived type down to its built-in."""

    builtin: str = ""
    names: list[str] = field(default_factory=list)
    whitespace: str | None = None
    min_length: int = 0
    max_length: int | None = None
    patterns: list[tuple[re.Pattern[str], ...]] = field(default_factory=list)
    """One tuple per derivation step: a value matches one pattern of every step."""
    enumeration: frozenset[str] | None = None
    total_digits: int | None = None
    fraction_digits: int | None = None
    min_inclusive: int | None = None
    max_inclusive: int | None = None

    @property
    def name(self) -> str:
        return self.names[0] if self.names else self.builtin


class Schema:
    """Global declarations of every file libxml2 would load from one entry XSD, by ``{ns}name``."""

    def __init__(self, entry: Path) -> None:
        self.elements: dict[str, tuple[etree._Element, str]] = {}
        self.types: dict[str, tuple[etree._Element, str]] = {}
        self.groups: dict[str, tuple[etree._Element, str]] = {}
        self._files: set[Path] = set()
        self._namespaces: set[str] = set()
        self._load(entry.resolve())

    def _load(self, path: Path) -> None:
        if path in self._files:
            return
        self._files.add(path)
        root = etree.parse(str(path)).getroot()
        tns = root.get("targetNamespace", "")
        self._namespaces.add(tns)
        for child in root:
            if child.tag == XS + "include":
                self._load((path.parent / child.get("schemaLocation", "")).resolve())
            elif child.tag == XS + "import":
                ns = child.get("namespace", "")
                if ns not in self._namespaces and child.get("schemaLocation"):
                    self._namespaces.add(ns)
                    self._load((path.parent / child.get("schemaLocation", "")).resolve())
            elif child.tag in (XS + "complexType", XS + "simpleType"):
                self.types.setdefault(f"{{{tns}}}{child.get('name')}", (child, tns))
            elif child.tag == XS + "element":
                self.elements.setdefault(f"{{{tns}}}{child.get('name')}", (child, tns))
            elif child.tag == XS + "group":
                self.groups.setdefault(f"{{{tns}}}{child.get('name')}", (child, tns))

    @staticmethod
    def qname(node: etree._Element, value: str) -> str:
        prefix, _, local = value.rpartition(":")
        return f"{{{node.nsmap.get(prefix or None, '')}}}{local}"

    def element(self, path: str) -> tuple[etree._Element, str]:
        """The declaration of the element at ``path`` (``ZKN:zakLk01/ZKN:object/ZKN:identificatie``)."""
        steps = [self._clark(step) for step in path.split("/")]
        decl = self.elements[steps[0]]
        for step in steps[1:]:
            found = self._child(self._type_of(*decl), step)
            if found is None:
                raise KeyError(f"{path}: no element {step} in the content of its parent")
            decl = found
        return decl

    @staticmethod
    def _clark(step: str) -> str:
        prefix, _, local = step.partition(":")
        return f"{{{NS[prefix]}}}{local}"

    def _type_of(self, decl: etree._Element, tns: str) -> tuple[etree._Element, str]:
        if decl.get("ref"):
            return self._type_of(*self.elements[self.qname(decl, decl.get("ref", ""))])
        if decl.get("type"):
            return self.types[self.qname(decl, decl.get("type", ""))]
        anonymous = decl.find(XS + "complexType")
        if anonymous is None:
            anonymous = decl.find(XS + "simpleType")
        if anonymous is None:
            raise Unsupported(f"element {decl.get('name')} has no type")
        return anonymous, tns

    def _child(self, typed: tuple[etree._Element, str], name: str) -> tuple[etree._Element, str] | None:
        node, tns = typed
        content = node.find(XS + "complexContent")
        if content is not None:
            derivation = content[0] if content[0].tag != XS + "annotation" else content[1]
            found = self._particles(derivation, tns, name)
            if found is None and derivation.tag == XS + "extension":
                found = self._child(self.types[self.qname(derivation, derivation.get("base", ""))], name)
            return found
        return self._particles(node, tns, name)

    def _particles(self, node: etree._Element, tns: str, name: str) -> tuple[etree._Element, str] | None:
        for particle in node:
            tag = particle.tag
            if tag == XS + "element":
                if particle.get("ref"):
                    if self.qname(particle, particle.get("ref", "")) == name:
                        return particle, tns
                elif f"{{{tns}}}{particle.get('name')}" == name:
                    return particle, tns
            elif tag in (XS + "sequence", XS + "choice", XS + "all"):
                found = self._particles(particle, tns, name)
                if found is not None:
                    return found
            elif tag == XS + "group":
                group, gtns = self.groups[self.qname(particle, particle.get("ref", ""))]
                found = self._particles(group, gtns, name)
                if found is not None:
                    return found
        return None

    def required(self, path: str) -> bool:
        """Whether the element at ``path`` must occur in its parent (minOccurs is not 0)."""
        return self.element(path)[0].get("minOccurs", "1") != "0"

    def facets(self, path: str, attribute: str | None = None) -> Facets:
        """The facets of the text of the element at ``path`` (or of its ``attribute``)."""
        decl, tns = self.element(path)
        if attribute is not None:
            node, _ = self._type_of(decl, tns)
            found = node.find(f".//{XS}attribute[@name='{attribute}']")
            if found is None or not found.get("type"):
                raise Unsupported(f"{path}/@{attribute}: no typed attribute declaration")
            return self._facets(self.qname(found, found.get("type", "")), Facets())
        node, _ = self._type_of(decl, tns)
        return self._node_facets(node, Facets())

    def _facets(self, qname: str, acc: Facets) -> Facets:
        if qname.startswith(f"{{{BUILTIN}}}"):
            builtin = qname[len(BUILTIN) + 2:]
            if builtin not in STRINGS and builtin not in DECIMALS:
                raise Unsupported(f"built-in type {builtin}")
            acc.builtin = builtin
            if acc.whitespace is None:
                acc.whitespace = STRINGS.get(builtin, "collapse")
            lower = DECIMALS.get(builtin)
            if lower is not None:
                acc.min_inclusive = lower if acc.min_inclusive is None else max(lower, acc.min_inclusive)
            if builtin in DECIMALS and builtin != "decimal":
                acc.fraction_digits = 0
            return acc
        acc.names.append(qname.split("}")[1])
        return self._node_facets(self.types[qname][0], acc)

    def _node_facets(self, node: etree._Element, acc: Facets) -> Facets:
        if node.tag == XS + "complexType":
            simple = node.find(XS + "simpleContent")
            if simple is None:
                raise Unsupported(f"complex type {node.get('name')} has no simple content")
            node = simple
        derivation = next((c for c in node if c.tag in (XS + "restriction", XS + "extension")), None)
        if derivation is None:
            raise Unsupported(f"type {node.get('name')}: a union or list")
        if derivation.tag == XS + "restriction":
            _restrict(derivation, acc)
        nested = derivation.find(XS + "simpleType")
        if nested is not None:
            return self._node_facets(nested, acc)
        return self._facets(self.qname(derivation, derivation.get("base", "")), acc)


def _restrict(node: etree._Element, acc: Facets) -> None:
    """Add the facets of one restriction step (the more derived step's bound already in ``acc`` wins where
    it is tighter, as a valid derivation only narrows)."""
    from elementpath.regex import translate_pattern  # ~110 ms to import: only when a guard compiles

    patterns: list[re.Pattern[str]] = []
    enumeration: set[str] = set()
    for facet in node:
        kind, value = etree.QName(facet).localname, facet.get("value", "")
        if kind == "pattern":
            patterns.append(re.compile(translate_pattern(value, anchors=False), re.DOTALL))
        elif kind == "enumeration":
            enumeration.add(value)
        elif kind == "length":
            acc.min_length = max(acc.min_length, int(value))
            acc.max_length = int(value) if acc.max_length is None else min(acc.max_length, int(value))
        elif kind == "minLength":
            acc.min_length = max(acc.min_length, int(value))
        elif kind == "maxLength":
            acc.max_length = int(value) if acc.max_length is None else min(acc.max_length, int(value))
        elif kind == "whiteSpace":
            acc.whitespace = acc.whitespace or value
        elif kind == "totalDigits":
            acc.total_digits = int(value) if acc.total_digits is None else min(acc.total_digits, int(value))
        elif kind == "fractionDigits":
            acc.fraction_digits = int(value) if acc.fraction_digits is None else min(acc.fraction_digits,
                                                                                     int(value))
        elif kind == "minInclusive":
            acc.min_inclusive = int(value) if acc.min_inclusive is None else max(acc.min_inclusive, int(value))
        elif kind == "maxInclusive":
            acc.max_inclusive = int(value) if acc.max_inclusive is None else min(acc.max_inclusive, int(value))
        elif kind not in ("annotation", "attribute", "attributeGroup", "simpleType", "anyAttribute"):
            raise Unsupported(f"facet {kind}")
    if patterns:
        acc.patterns.append(tuple(patterns))
    if enumeration:
        acc.enumeration = frozenset(enumeration) if acc.enumeration is None else acc.enumeration & enumeration
