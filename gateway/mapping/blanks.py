"""Whether a mapping could see the blank text between elements, which the conversion's parse leaves out.

``ingest.read(..., blanks=False)`` builds the tree without the whitespace-only text nodes between elements
(~10 µs a message less to build and walk). Rules that read elements' own text do not see the difference:
libxml2 keeps a leaf's blank text and every value is stripped. An XPath expression can: ``string()``,
``normalize-space()`` or a comparison of an element with children concatenates its descendants' text, blanks
included, and ``text()`` or ``node()`` select the blank nodes themselves. So a mapping with any XPath other
than a plain location path (child, descendant and attribute steps, numeric predicates, unions), or with a
``source_schema`` to validate its input against, keeps the blanks (:attr:`Compiled.blanks_matter`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .rules import FieldRule, GroupRule, Path_, Rule

_NAME = r"(?:[A-Za-z_][\w.-]*:)?(?:[A-Za-z_][\w.-]*|\*)"
_STEP = rf"(?:@?{_NAME}|\.\.?)(?:\[[0-9]+\])*"
_PATH = rf"/{{0,2}}{_STEP}(?://?{_STEP})*"
NODES_ONLY = re.compile(rf"\s*(?:{_PATH}(?:\s*\|\s*{_PATH})*|(?:local-name|name|namespace-uri)\(\s*\))\s*")
"""XPath expressions that select elements or attributes and nothing else, or name the context element: their
result is the same with or without the blank text nodes (text nodes are neither elements nor attributes, and
positions count elements)."""


def blanks_matter(rules: list[Rule], match_paths: list[Path_], ignore: list[Path_], source_schema: str | None) -> bool:
    """True when one of these paths could read the blank text between elements (see the module's doc)."""
    if source_schema is not None:
        return True
    return any(path.xpath is not None and NODES_ONLY.fullmatch(path.expr) is None
               for path in [*match_paths, *ignore, *_rule_paths(rules)])


def _rule_paths(rules: list[Rule]) -> Iterator[Path_]:
    for rule in rules:
        if rule.when is not None:
            yield rule.when
        if isinstance(rule, FieldRule):
            yield from rule.paths
        elif isinstance(rule, GroupRule):
            yield rule.each
            yield from _rule_paths(rule.rules)
