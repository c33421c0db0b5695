"""Read YAML while remembering where every key and item stood, so errors point at file:line:column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class LocatedDict(dict):
    """A mapping that knows its own position and that of each key (1-based line and column)."""

    loc: tuple[int, int] = (1, 1)
    key_locs: dict[Any, tuple[int, int]]
    value_locs: dict[Any, tuple[int, int]]


class LocatedList(list):
    """A sequence that knows its own position and that of each item."""

    loc: tuple[int, int] = (1, 1)
    item_locs: list[tuple[int, int]]


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Loader(yaml.SafeLoader):
    """SafeLoader (no tags that build objects) that keeps positions and refuses duplicate keys."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LocatedDict:
    """Build a LocatedDict in document order. ``<<: *anchor`` inserts the anchored pairs *where it
    stands* (PyYAML would move them to the front) and explicit keys win over merged ones, so a
    mapping file's rule order is the order its author wrote (reverse conversion writes elements so)."""
    out = LocatedDict()
    out.loc = _pos(node)
    out.key_locs = {}
    out.value_locs = {}
    explicit: dict[object, tuple[int, int]] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        if key in explicit:
            raise yaml.MarkedYAMLError(
                problem=f"duplicate key {key!r} (first at line {explicit[key][0]})",
                problem_mark=key_node.start_mark,
            )
        explicit[key] = _pos(key_node)
    for key_node, value_node in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for source in sources:
                merged = loader.construct_object(source, deep=True)
                if not isinstance(merged, LocatedDict):
                    raise yaml.MarkedYAMLError(problem="<< merges a mapping (an &anchor of key: value pairs)",
                                               problem_mark=value_node.start_mark)
                for key, value in merged.items():
                    if key not in explicit and key not in out:
                        out[key] = value
                        out.key_locs[key] = merged.key_locs.get(key, merged.loc)
                        out.value_locs[key] = merged.value_locs.get(key, merged.loc)
            continue
        key = loader.construct_object(key_node, deep=True)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_locs[key] = _pos(key_node)
        out.value_locs[key] = _pos(value_node)
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LocatedList:
    out = LocatedList(loader.construct_object(child, deep=True) for child in node.value)
    out.loc = _pos(node)
    out.item_locs = [_pos(child) for child in node.value]
    return out


_C_PARSER: bool = getattr(yaml, "__with_libyaml__", False)


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The same loader over libyaml's C parser (where PyYAML was built with it): ~8x faster on our mapping
    files, which every start-up reads. Construction, positions and duplicate keys stay ours."""


# Codes such as 01 or 0384 must stay strings: only true/false/null keep their YAML meaning,
# every other plain scalar is read as a string (no octal, float or date surprises).
_KEEP_TAGS = ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:merge")
for _cls in (_Loader, _FastLoader):
    _cls.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    _cls.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
    _cls.yaml_implicit_resolvers = {
        key: [(tag, regex) for tag, regex in resolvers if tag in _KEEP_TAGS]
        for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


def load_yaml(text: str, filename: str = "<mapping>") -> Any:
    """Parse YAML text into Located containers; plain scalars other than booleans and null stay strings.

    A file the C parser refuses is read again by the pure-Python one, so an error names its problem and
    position in the same words whichever parser this machine has (the docs and tests quote them)."""
    if _C_PARSER:
        try:
            return yaml.load(text, Loader=_FastLoader)
        except yaml.YAMLError:
            pass
    return yaml.load(text, Loader=_Loader)


def load_file(path: Path) -> Any:
    return load_yaml(path.read_text(encoding="utf-8"), str(path))


def location(node: Any, key: Any = None, *, value: bool = False) -> tuple[int, int]:
    """Line and column of ``key`` (or its value) in a located container, else of the container itself."""
    if isinstance(node, LocatedDict) and key is not None:
        table = node.value_locs if value else node.key_locs
        return table.get(key, node.loc)
    if isinstance(node, LocatedList) and isinstance(key, int) and key < len(node.item_locs):
        return node.item_locs[key]
    return getattr(node, "loc", (1, 1))


def file_of(node: Any, default: str) -> str:
    """The file a located container came from (set by :func:`tag_files`), else ``default``."""
    return getattr(node, "file", None) or default


def tag_files(node: Any, filename: str) -> None:
    """Remember on each container which file it came from (extends merges several files)."""
    if isinstance(node, LocatedDict | LocatedList):
        node.file = filename  # type: ignore[attr-defined]
        for child in node.values() if isinstance(node, dict) else node:
            tag_files(child, filename)
