"""Run a compiled mapping over a parsed message and fill the canonical model.

The hot path collects only what conversion needs (values, which source elements were used).
Lineage (which rule, source line and transforms produced each canonical field) is collected
when asked for with ``trace=True`` — by ``explain``, and to locate a validation error.
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from pydantic import ValidationError

from gateway.model import Bericht

from .attributes import Attr, attribute_of, attribute_path
from .errors import ConversionError, Refused, combined
from .modelcheck import accept_lenient, check_source_schema, model_errors
from .privacy import named, personal, withhold
from .result import Lineage, MapResult, MapState, Warning_
from .rules import Compiled, FieldRule, GroupRule, Path_, Rule
from .transforms import TransformError
from .unmapped import element_path, left_over
from .walkgen import Walker, walker_of
from .walkplan import FAST_NODE, FAST_TEXT, WALKED_FIELD, WALKED_GROUP, Plan, TrieNode

_Element = etree._Element


def _parent(out: dict[str, Any], segments: tuple[str, ...]) -> dict[str, Any]:
    """The dict that holds the last of ``segments``, made on the way where missing."""
    node = out
    for segment in segments[:-1]:
        child = node.get(segment)
        if child is None:
            child = node[segment] = {}
        node = child
    return node


def _set(out: dict[str, Any], segments: tuple[str, ...], value: Any) -> None:
    _parent(out, segments)[segments[-1]] = value


def _landed(out: dict[str, Any], segments: tuple[str, ...]) -> bool:
    """True when ``out`` holds a value at ``segments``."""
    node: Any = out
    for segment in segments:
        node = node.get(segment)
        if node is None:
            return False
    return True


def _holds(when: Path_, ctx: _Element, index: dict[Any, dict[Any, list[Any]]]) -> bool:
    """A ``when:`` condition with XPath's own truth: a node-set holds when it is not empty, a comparison
    (``Status = 'ingetrokken'``), number or string by its value. (``[False]`` is a non-empty list.)"""
    if when.xpath is not None:
        return bool(when.xpath(ctx))
    return bool(when.run(ctx, index))


def _fail(st: MapState, message: str, field_: str, line: int | None, path: str | None = None) -> ConversionError:
    return ConversionError(message, field=field_, line=line, path=path, source=st.source)


def _values(rule: FieldRule, nodes: list[Any], st: MapState, where: str, path_expr: str,
            values: list[str], first: list[Any]) -> None:
    """Collect the text of ``nodes`` into ``values``; remember the first element (or attribute) that had one."""
    for node in nodes:
        if isinstance(node, _Element):
            if st.track:
                st.consumed.add(node)
            text = node.text if not len(node) else _split_text(node, st, where, path_expr)
            if text is None:
                continue
            text = text.strip()
            if not text:
                continue
            if not first:
                first.append(node)
            values.append(text)
        elif (attr := attribute_of(node)) is not None:
            if st.track:
                st.attrs.add(attr)
            text = str(node).strip()
            if text:
                if not first:
                    first.append(attr)
                values.append(text)
        elif isinstance(node, bool):
            values.append("true" if node else "false")
        elif isinstance(node, float):
            values.append(str(int(node)) if node.is_integer() else str(node))
        elif node is not None and str(node).strip():
            values.append(str(node).strip())


def _split_text(node: _Element, st: MapState, where: str, path_expr: str) -> str:
    """A leaf's text that comments or processing instructions split (``12<!-- -->3456782`` is one value, as XML
    reads it; its first part alone would be another value); an element with child elements is no leaf."""
    parts = [node.text or ""]
    for child in node:
        if child.tag.__class__ is str:
            raise _fail(st, f"{path_expr!r} selects an element with children; point the rule at a leaf element",
                        where, node.sourceline, path_expr)
        parts.append(child.tail or "")
    return "".join(parts)


def _origin(node: _Element | Attr) -> tuple[int | None, str]:
    """Line and readable path of a source element or attribute."""
    if isinstance(node, tuple):
        el, name = node
        return el.sourceline, attribute_path(element_path(el), el, name)
    return node.sourceline, element_path(node)


def _more_sources(rule: FieldRule, ctx: _Element, st: MapState, first: str) -> str:
    """Trace only: name every element a several-paths rule read (``a + b (line 7)``), not just the first."""
    parts = [first]
    for path in rule.paths[1:]:
        for node in path.run(ctx, st.index):
            attr = attribute_of(node)
            if attr is not None and node.strip():
                line, where = _origin(attr)
                parts.append(f"{where} (line {line})")
                break
            if isinstance(node, _Element) and node.text and node.text.strip():
                parts.append(f"{element_path(node)} (line {node.sourceline})")
                break
    return " + ".join(parts)


def _mark_footprint(path: Path_, ctx: _Element, st: MapState) -> tuple[int | None, str] | None:
    """A function expression read these attributes and elements: mark them used; give the first one's line and
    path (of the first that holds text)."""
    first: tuple[int | None, str] | None = None
    for xp in path.footprint:
        for node in xp(ctx):
            if isinstance(node, _Element):
                st.consumed.add(node)
                if first is None and (node.text or "").strip():
                    first = _origin(node)
                continue
            if getattr(node, "is_text", False) and isinstance(parent := node.getparent(), _Element):
                st.consumed.add(parent)  # m:A/text(): its element's text was read
                continue
            attr = attribute_of(node)
            if attr is None:
                continue
            st.attrs.add(attr)
            if first is None and node.strip():
                first = _origin(attr)
    return first


def _field(rule: FieldRule, ctx: _Element, out: dict[str, Any], prefix: str, st: MapState,
           nodes: list[list[Any]] | None = None) -> None:
    """Fill one canonical field. ``nodes`` (the source elements of each path) is given when the walk
    already found them."""
    where = prefix + rule.target
    line: int | None = None
    source: str | None = None
    if rule.constant is not None:
        raw: Any = rule.constant
    else:
        values: list[str] = []
        first: list[Any] = []
        read: tuple[int | None, str] | None = None
        if nodes is not None:
            for path, got in zip(rule.paths, nodes, strict=True):
                _values(rule, got, st, where, path.expr, values, first)
        else:
            for path in rule.paths:
                _values(rule, path.run(ctx, st.index), st, where, path.expr, values, first)
                if path.footprint and (st.track or st.trace):  # every path's: not only the first that read
                    marked = _mark_footprint(path, ctx, st)
                    read = marked if read is None else read
        if first:
            node = first[0]
            if st.trace:
                line, source = _origin(node)
                if len(rule.paths) > 1:
                    source = _more_sources(rule, ctx, st, source)
            else:
                line = node[0].sourceline if isinstance(node, tuple) else node.sourceline
        elif read is not None and values:
            line, source = read
        if not values:
            raw = None
        elif rule.many or len(rule.paths) > 1:
            raw = values
        else:
            raw = values[0]
            if len(values) > 1:
                message = f"{rule.source_text!r} found {len(values)} values where one is expected"
                if not st.lenient:
                    raise _fail(st, message, where, line, rule.source_text)
                st.warnings.append(Warning_(rule.target, where, line, message + "; the first is used"))
    if raw is None:
        if rule.default is not None:
            _set(out, rule.segments, rule.default)
            if st.trace:
                st.lineage.append(Lineage(where, rule, None, "default", None, rule.default))
        elif rule.required:
            raise _fail(st, f"required value missing: nothing at {rule.source_text!r}", where, ctx.sourceline,
                        rule.source_text)
        return
    value = raw
    for transform, arg in rule.transforms:
        try:
            value = transform.apply(value, arg)
        except TransformError as exc:
            text = withhold(str(exc), [raw, value]) if personal(where) else str(exc)
            raise _fail(st, f"transform {transform.name}: {text}", where, line, rule.source_text) from None
    if rule.value_map is not None:
        value = _mapped(rule, value, st, where, line)
    if (rule.transforms or rule.value_map is not None) and (value == "" or (isinstance(value, list) and "" in value)):
        _emptied(rule, st, where, line)
        return
    _set(out, rule.segments, value)
    if st.trace:
        st.lineage.append(Lineage(where, rule, line, source, raw, value))


def _emptied(rule: FieldRule, st: MapState, where: str, line: int | None) -> None:
    """The transforms or the value map turned a source value that had text into an empty one: the value would
    vanish from the output without a word. Refused; under ``lenient`` the field is left out with a warning (a
    required one is then missing)."""
    steps = [f"transform {transform.name}" for transform, _arg in rule.transforms]
    if rule.value_map is not None:
        steps.append(f"value map {rule.value_map.name!r}")
    message = f"{', '.join(steps)} turned the value at {rule.source_text!r} into an empty text"
    if not st.lenient:
        raise _fail(st, message + ": expected a value that keeps some text", where, line, rule.source_text)
    st.warnings.append(Warning_(rule.target, where, line, message + "; value dropped"))
    if rule.required:
        raise _fail(st, f"required value missing: {message}", where, line, rule.source_text)


def _mapped(rule: FieldRule, value: Any, st: MapState, where: str, line: int | None) -> Any:
    """``value`` (one code or a list of them) through the rule's value map; a code the map lacks is kept,
    defaulted or refused as the map's ``fallback`` says (kept with a warning when lenient)."""
    vmap = rule.value_map
    assert vmap is not None
    mapped: list[str] = []
    for item in value if isinstance(value, list) else [value]:
        hit = vmap.table.get(item)
        if hit is None:
            if vmap.fallback == "keep":
                hit = item
            elif vmap.fallback == "default":
                hit = vmap.default or item
            else:
                message = f"code {named(where, item)} is not in value map {vmap.name!r}"
                if not st.lenient:
                    raise _fail(st, message, where, line, rule.source_text)
                st.warnings.append(Warning_(rule.target, where, line, message + "; kept as is"))
                hit = item
        mapped.append(hit)
    return mapped if isinstance(value, list) else mapped[0]


def _field_or_fail(rule: FieldRule, ctx: _Element, out: dict[str, Any], prefix: str, st: MapState,
                   nodes: list[list[Any]] | None = None) -> None:
    """:func:`_field`, its error noted rather than raised: one rule's bad value does not hide the next one's."""
    try:
        _field(rule, ctx, out, prefix, st, nodes)
    except ConversionError as exc:
        if not st.trace:
            raise _Ambiguous from None  # errors are reported from the traced run, which locates all of them
        st.fail(exc)


class _Ambiguous(Exception):
    """The walk met a second value (or an element with children) for a rule it fills directly, or a rule
    failed; the message is mapped again the slow way, which reports or warns exactly as for any other rule
    and collects every independent error of the message."""


def _walk(el: _Element, node: TrieNode, found: dict[int, list[Any]], items: dict[int, list[dict[str, Any]]],
          out: dict[str, Any], prefix: str, st: MapState) -> None:
    """The traced walk: one pass over ``el``'s children collecting the elements of every plain-path rule
    and running every group of a rule list; each rule then gets its value one by one (with lineage)."""
    children = node.children
    for child in el:
        sub = children.get(child.tag)
        if sub is None:
            continue
        if sub.rule_ids or sub.groups:
            _collect(sub, child, found, items, prefix, st)
        if sub.children:
            _walk(child, sub, found, items, out, prefix, st)


def _fast_walk(el: _Element, table: dict[str, tuple[Any, ...]], found: dict[int, list[Any]],
               items: dict[int, list[dict[str, Any]]], out: dict[str, Any], prefix: str, st: MapState) -> None:
    """The untraced walk: as :func:`_walk`, but a fused leaf's text is stored straight away, in the dict
    the table's compile step chose for the element (see ``walkplan._fast_table``)."""
    for child in el:
        todo = table.get(child.tag)
        if todo is None:
            if st.track:
                st.spots.append(child)
            continue
        kind = todo[0]
        if kind != FAST_NODE:  # the element's text is the value: store it now
            if len(child):
                raise _Ambiguous
            if st.track:
                st.consumed.add(child)
            text = child.text
            if text is not None and (text := text.strip()):
                if kind == FAST_TEXT:
                    into, name = out, todo[1]
                else:
                    into, name = _parent(out, todo[1]), todo[2]
                if name in into:
                    raise _Ambiguous
                into[name] = text
            continue
        sub: TrieNode = todo[1]
        if st.track and (not (sub.children or sub.groups) or not len(child)):
            st.spots.append(child)  # its own text, or children no walk goes through
        if sub.rule_ids or sub.groups:
            _collect(sub, child, found, items, prefix, st)
        if sub.children:
            key = todo[2]
            if key is None:
                _fast_walk(child, sub.fast, found, items, out, prefix, st)
            elif (inner := out.get(key)) is not None:
                _fast_walk(child, sub.fast, found, items, inner, prefix, st)
            else:  # made here, kept when a value landed in it: what _parent would have made on the first one
                inner = {}
                _fast_walk(child, sub.fast, found, items, inner, prefix, st)
                if inner:
                    out[key] = inner


def _collect(sub: TrieNode, child: _Element, found: dict[int, list[Any]], items: dict[int, list[dict[str, Any]]],
             prefix: str, st: MapState) -> None:
    """``child`` is a source element of the rules ending at ``sub`` (their values are worked out after the
    walk) and an item of its groups (mapped now, into the group's next item)."""
    for key in sub.rule_ids:
        got = found.get(key)
        if got is None:
            found[key] = [child]
        else:
            got.append(child)
    for group in sub.groups:
        bucket = items.get(id(group))
        if bucket is None:
            bucket = items[id(group)] = []
        item: dict[str, Any] = {}
        item_prefix = f"{prefix}{group.target}.{len(bucket)}."
        st.groups[item_prefix[:-1]] = child.sourceline
        _exec(group.plan, child, item, item_prefix, st)  # type: ignore[arg-type]
        bucket.append(item)


def _exec(plan: Plan, ctx: _Element, out: dict[str, Any], prefix: str, st: MapState) -> None:
    found: dict[int, list[Any]] = {}
    items: dict[int, list[dict[str, Any]]] = {}
    fast = not st.trace
    if plan.trie.children:
        if fast:
            _fast_walk(ctx, plan.trie.fast, found, items, out, prefix, st)
            for segments in plan.must_have:  # a required field the walk stored itself: did its value land?
                if not _landed(out, segments):
                    raise _Ambiguous  # the traced run names it as missing
        else:
            _walk(ctx, plan.trie, found, items, out, prefix, st)
    elif fast and st.track:
        st.spots.append(ctx)  # no walk goes through its children
    track = st.track
    for step in plan.fast_steps if fast else plan.steps:
        kind = step.kind
        if kind == WALKED_FIELD:
            if step.keys is not None:  # several paths: each one's elements, in the order of the paths
                per_path = [found.get(key, []) for key in step.keys]
                if step.optional and not any(per_path):
                    continue
                _field_or_fail(step.rule, ctx, out, prefix, st, per_path)  # type: ignore[arg-type]
                continue
            nodes = found.get(step.key)
            if nodes is None:
                if step.optional:
                    continue  # optional and absent: nothing to do
                nodes = []
            elif fast and step.plain and len(nodes) == 1:
                node = nodes[0]
                if not len(node):  # one plain leaf, no transforms: its text is the value
                    if track:
                        st.consumed.add(node)
                    text = node.text
                    if text is not None and (text := text.strip()):
                        if step.single is not None:
                            out[step.single] = text
                        else:
                            _set(out, step.rule.segments, [text] if step.rule.many else text)  # type: ignore[union-attr]
                        continue
            _field_or_fail(step.rule, ctx, out, prefix, st, [nodes])  # type: ignore[arg-type]
            continue
        rule = step.rule
        if kind == WALKED_GROUP:
            got_items = items.get(step.key)
            if got_items:
                _set(out, rule.segments, got_items)
            continue
        if rule.when is not None and not _holds(rule.when, ctx, st.index):
            continue
        if type(rule) is GroupRule:
            collected: list[dict[str, Any]] = []
            for i, node in enumerate(rule.each.run(ctx, st.index)):
                item: dict[str, Any] = {}
                item_prefix = f"{prefix}{rule.target}.{i}."
                st.groups[item_prefix[:-1]] = node.sourceline
                _exec(rule.plan, node, item, item_prefix, st)  # type: ignore[arg-type]
                collected.append(item)
            if collected:
                _set(out, rule.segments, collected)
        else:
            _field_or_fail(rule, ctx, out, prefix, st)  # type: ignore[arg-type]


def _direct(rule: Rule, walker: Walker | None, ctx: _Element, out: dict[str, Any], prefix: str,
            st: MapState) -> None:
    """A rule the walk does not serve (a ``when:``, an XPath), as :func:`_exec` runs it; for the generated run."""
    if rule.when is not None and not _holds(rule.when, ctx, st.index):
        return
    if walker is None:
        _field_or_fail(rule, ctx, out, prefix, st)  # type: ignore[arg-type]
        return
    collected: list[dict[str, Any]] = []
    for i, node in enumerate(rule.each.run(ctx, st.index)):  # type: ignore[union-attr]
        item: dict[str, Any] = {}
        item_prefix = f"{prefix}{rule.target}.{i}."
        st.groups[item_prefix[:-1]] = node.sourceline
        walker(node, item, item_prefix, st)
        collected.append(item)
    if collected:
        _set(out, rule.segments, collected)


def _interpreted(plan: Plan) -> Walker:
    """The reference run of ``plan``, where no generated one is made."""
    def run(ctx: _Element, out: dict[str, Any], prefix: str, st: MapState) -> None:
        _exec(plan, ctx, out, prefix, st)
    return run


_HELPERS: dict[str, Any] = {
    "Ambiguous": _Ambiguous, "parent_of": _parent, "set_at": _set, "landed": _landed,
    "field_or_fail": _field_or_fail, "direct": _direct,
}
GENERATED = True
"""Untraced runs use the generated walk (:mod:`.walkgen`); False runs the reference :func:`_exec` (tests)."""


def map_source(
    mapping: Compiled,
    root: _Element,
    *,
    source: str = "<input>",
    trace: bool = False,
    track_unmapped: bool = True,
) -> MapResult:
    """Map one parsed message; raise :class:`ConversionError` naming field, source path and line."""
    if mapping.refuse is not None:
        raise Refused(mapping.name, mapping.refuse, source=source, line=root.sourceline)
    if mapping.abstract:
        raise ConversionError(f"mapping {mapping.name!r} is abstract: a base for extends, it converts nothing",
                              field="mapping", source=source)
    st = MapState(source, trace, track_unmapped, mapping.strictness == "lenient")
    if mapping.source_schema is not None:
        check_source_schema(mapping, root, st)
    data: dict[str, Any] = {}
    try:
        if GENERATED and not trace:
            walker_of(mapping.plan, _HELPERS, _interpreted)(root, data, "", st)  # type: ignore[arg-type]
        else:
            _exec(mapping.plan, root, data, "", st)  # type: ignore[arg-type]
    except _Ambiguous:  # a repeated or non-leaf value where one is expected: the traced run says which
        return map_source(mapping, root, source=source, trace=True, track_unmapped=track_unmapped)
    try:
        bericht = Bericht.model_validate(data)
    except ValidationError as exc:
        if not trace:  # run again with lineage to say where the offending value came from
            return map_source(mapping, root, source=source, trace=True, track_unmapped=track_unmapped)
        accepted = accept_lenient(data, exc, st) if st.lenient and not st.errors else None
        if accepted is not None:
            unmapped = left_over(mapping, root, st) if track_unmapped else []
            return MapResult(accepted, data, st.warnings, unmapped, st.lineage, st.groups)
        model_errors(exc, st)
    if st.errors:
        raise combined(sorted(st.errors, key=lambda e: e.line or 1 << 62), st.failed) from None
    unmapped = left_over(mapping, root, st) if track_unmapped else []
    return MapResult(bericht, data, st.warnings, unmapped, st.lineage, st.groups)
