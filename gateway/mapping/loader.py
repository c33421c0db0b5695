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


MAX_NODES = 100_000
"""Values (mappings, lists and scalars) a YAML document may stand for once its aliases are expanded. The
largest file the project ships stands for about 3,000; ten nested lists of ten aliases stand for 10^10 in
under 600 bytes, and every walk over the loaded tree (tag_files, the compiler, the sidecar's ``${ENV}``
substitution) would visit each of them."""
MAX_TEXT = 1_000_000
"""Characters of the scalars a document stands for once its aliases are expanded: a count of values alone let
19,000 aliases of one 2,000-step path (147 KB) cost the compiler 55 s; the project's files stand for ~16,000."""
MAX_DEPTH = 64
"""Levels of nesting, aliases expanded (the project's files reach 12): the walks over the tree recurse."""


class YamlRefused(yaml.MarkedYAMLError):
    """A document that parses but is refused for its size or depth: a bounded walk cannot handle it."""


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def check_size(root: yaml.Node) -> None:
    """Refuse a composed document that stands for more than :data:`MAX_NODES` values or :data:`MAX_DEPTH`
    levels once aliases are expanded, or whose aliases loop. An alias is a shared node, so each collection's
    expanded count and height are worked out once (memoised, without recursion): linear in the file. Scalars,
    most of a document, are counted where they stand (a mapping file is read at every start)."""
    done: dict[int, tuple[int, int, int]] = {}
    open_: set[int] = set()
    stack = [root]
    while stack:
        node = stack[-1]
        if id(node) in done:
            stack.pop()
            continue
        children = _children(node)
        nested = [child for child in children if not isinstance(child, yaml.ScalarNode)]
        pending = [child for child in nested if id(child) not in done]
        if pending and id(node) not in open_:
            open_.add(id(node))
            for child in pending:
                if id(child) in open_:
                    raise YamlRefused(problem="an alias refers to a node that contains it (a loop)",
                                      problem_mark=child.start_mark)
            stack += pending
            continue
        count = 1 + len(children) - len(nested) + sum(done[id(child)][0] for child in nested)
        height = 1 + max((done[id(child)][1] for child in nested), default=1 if children else 0)
        text = sum(len(child.value) for child in children if isinstance(child, yaml.ScalarNode)) + \
            sum(done[id(child)][2] for child in nested) + (len(node.value) if isinstance(node, yaml.ScalarNode) else 0)
        if text > MAX_TEXT:
            raise YamlRefused(problem=f"this value stands for more than {MAX_TEXT:,} characters once its aliases are "
                              "expanded (anchors and aliases are for reusing rule sets)", problem_mark=node.start_mark)
        if count > MAX_NODES:
            raise YamlRefused(problem=f"this value stands for more than {MAX_NODES:,} values once its aliases are "
                              "expanded (anchors and aliases are for reusing rule sets)", problem_mark=node.start_mark)
        if height > MAX_DEPTH:
            raise YamlRefused(problem=f"nested more than {MAX_DEPTH} levels deep", problem_mark=node.start_mark)
        open_.discard(id(node))
        done[id(node)] = (count, height, text)
        stack.pop()


def load_bounded(text: str, loader_class: type[yaml.SafeLoader]) -> Any:
    """``yaml.load`` with :func:`check_size` between composing and constructing, so a document of aliases
    (a "billion laughs") or deep nesting is refused before anything walks or builds it."""
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_size(node)
        return loader.construct_document(node)
    except RecursionError:  # deeper than the composer can recurse: find where, without recursion
        raise _too_deep(text, loader_class) from None
    finally:
        loader.dispose()


def yaml_place(file: str | Path, exc: yaml.YAMLError) -> tuple[str, str]:
    """Where a YAML error is (``file:line:column``, else the file) and its problem, for an error of one line:
    PyYAML's own text spans several lines and names ``<unicode string>`` instead of the file."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else str(file)
    return where, getattr(exc, "problem", None) or str(exc)


def _too_deep(text: str, loader_class: type[yaml.SafeLoader]) -> yaml.YAMLError:
    """The error for a document nested too deep to compose, at the first value past :data:`MAX_DEPTH`."""
    depth = 0
    for event in yaml.parse(text, Loader=loader_class):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return YamlRefused(problem=f"nested more than {MAX_DEPTH} levels deep", problem_mark=event.start_mark)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return YamlRefused(problem=f"nested more than {MAX_DEPTH} levels deep")


def load_yaml(text: str, filename: str = "<mapping>") -> Any:
    """Parse YAML text into Located containers; plain scalars other than booleans and null stay strings.
    A document too large or deep once aliases are expanded is refused (:func:`check_size`).

    A file the C parser refuses is read again by the pure-Python one, so an error names its problem and
    position in the same words whichever parser this machine has (the docs and tests quote them)."""
    if _C_PARSER:
        try:
            return load_bounded(text, _FastLoader)
        except YamlRefused:
            raise
        except yaml.YAMLError:
            pass
    return load_bounded(text, _Loader)


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
    """Remember on each container which file it came from (extends merges several files). A container an
    alias shares is visited once: the walk is as long as the file, not as its expansion."""
    seen: set[int] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, LocatedDict | LocatedList) and id(item) not in seen:
            seen.add(id(item))
            item.file = filename  # type: ignore[attr-defined]
            stack += item.values() if isinstance(item, dict) else item
