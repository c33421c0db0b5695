"""The discover report: one JSON document, a terminal summary (rich) and an HTML page, all from the same dict.

Only this module turns clusters into text for people, and the report is shared with the vendor. It shows a
value as itself only by :func:`gateway.discover.shapes.shown`'s rule (the strict shape of a code, in an element
a dialect rule reads as a code or a value of a known code list), file names masked by
:func:`gateway.discover.shapes.mask_key`; everything else appears as a shape, a count or a masked example.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gateway.mapping import Registry

from .cluster import Cluster
from .compare import code_elements, deviations
from .expect import Tags, expectation, local, show
from .run import Discovery
from .shapes import code_mask, mask_key, personal, shown

TOP_VALUES = 12


def _label(shape: str, code: bool) -> str:
    """A shape label as the report gives it: a prefix (``prefix:HH-``) only where the element holds a code; a
    hyphenated name (``Smit-Jansen``) has the shape of a prefixed code too, and would give its first part."""
    return shape if code or not shape.startswith("prefix:") else "prefix:" + code_mask(shape[7:])


def _values(entry: dict[str, Any], cluster: Cluster, path: Tags, allowed: frozenset[str] | None) -> None:
    """The values a report may show of one path, and how many it withholds (see :func:`shown`)."""
    codes = cluster.codes.get(path)
    if not codes or personal(local(path[-1]).lstrip("@")):
        return
    visible = [(v, n) for v, n in codes.most_common() if shown(v, allowed) is not None]
    if visible:
        entry["values"] = dict(visible[:TOP_VALUES])
        entry["more_values"] = path in cluster.overflow or len(visible) > TOP_VALUES
    withheld = sum(codes.values()) - sum(n for _, n in visible)
    if withheld:
        entry["values_withheld"] = withheld


def _paths(cluster: Cluster, code_paths: dict[Tags, frozenset[str]]) -> list[dict[str, Any]]:
    out = []
    for path in sorted(cluster.presence, key=show):
        allowed = code_paths.get(path)
        entry: dict[str, Any] = {"path": show(path), "messages": cluster.presence[path],
                                 "min": cluster.minimum(path), "max": cluster.most.get(path, 0)}
        shapes = cluster.shapes.get(path)
        if shapes:
            entry["shapes"] = {_label(s, allowed is not None): n for s, n in shapes.most_common()}
            _values(entry, cluster, path, allowed)
            if path in cluster.masked:
                entry["masked_examples"] = list(cluster.masked[path])
        out.append(entry)
    return out


def cluster_dict(cluster: Cluster, registry: Registry) -> dict[str, Any]:
    """One cluster as the report shows it: identity, conversion status, deviations, paths."""
    found = []
    if cluster.builtin:
        found = [d.as_dict() for d in deviations(cluster.summary(), expectation(registry.get(cluster.builtin)))
                 if not (cluster.skipped and d.kind == "missing")]  # a path past the cap is not missing
    code_paths: dict[Tags, frozenset[str]] = {}
    for name in dict.fromkeys(n for n in (cluster.builtin, cluster.reference) if n):
        for path, allowed in code_elements(expectation(registry.get(name))).items():
            code_paths[path] = code_paths.get(path, frozenset()) | allowed
    converts = cluster.mappings.most_common(1)[0][0] if cluster.mappings else None
    return {
        "id": cluster.id, "messages": cluster.messages, "format": cluster.fmt, "namespace": cluster.namespace,
        "root": cluster.root, "examples": [mask_key(e) for e in cluster.examples],
        "encodings": dict(cluster.encodings),
        "ei_layouts": sorted(cluster.layouts), "closest_builtin": cluster.builtin,
        "mapping": {"name": converts, "converted": cluster.converted, "failed": cluster.failed,
                    "problems": dict(cluster.problems.most_common()), "debt": dict(cluster.warnings.most_common())},
        "deviations": found, "paths": _paths(cluster, code_paths), "paths_not_profiled": cluster.skipped,
    }


def build(found: Discovery, registry: Registry) -> dict[str, Any]:
    clusters = [cluster_dict(c, registry) for c in found.ordered()]
    return {"overstap-discover": 1, "inputs": [mask_key(i) for i in found.inputs], "messages": found.messages,
            "messages_not_clustered": found.unclustered, "clusters": clusters}


def _status(c: dict[str, Any]) -> str:
    m = c["mapping"]
    if c["format"] in ("unreadable", "unprofiled"):
        return f"[red]{'not profiled' if c['format'] == 'unprofiled' else 'unreadable'}[/]"
    if not m["name"]:
        return "[red]no mapping[/]"
    debt = sum(m["debt"].values())
    failed = f", [red]{m['failed']} fail[/]" if m["failed"] else ""
    return f"{m['name']}: {m['converted']} ok{failed}" + (f", {debt} debt" if debt else "")


def terminal(report: dict[str, Any], console: Console | None = None) -> None:
    """A summary table plus the first deviations of each cluster, for a terminal or a log."""
    console = console or Console()
    table = Table(title=f"{report['messages']} message(s), {len(report['clusters'])} cluster(s)")
    for column in ("cluster", "msgs", "format", "root", "closest built-in", "converts with", "deviations"):
        table.add_column(column, overflow="fold")
    for c in report["clusters"]:
        kinds: dict[str, int] = {}
        for d in c["deviations"]:
            kinds[d["kind"]] = kinds.get(d["kind"], 0) + 1
        table.add_row(c["id"], str(c["messages"]), c["format"], c["root"] or "-", c["closest_builtin"] or "-",
                      _status(c), ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none")
    console.print(table)
    if report["messages_not_clustered"]:
        console.print(f"{report['messages_not_clustered']} message(s) in clusters past the first "
                      f"{len(report['clusters'])}: counted, not profiled")
    for c in report["clusters"]:
        if not c["deviations"] and not c["mapping"]["problems"] and not c["paths_not_profiled"]:
            continue
        example = escape(c["examples"][0]) if c["examples"] else "-"
        console.print(f"[bold]{escape(c['id'])}[/] ({c['messages']}), e.g. {example}", highlight=False)
        if c["paths_not_profiled"]:
            console.print(f"  {c['paths_not_profiled']} more path(s) not profiled (over the cap of distinct paths; "
                          "missing elements not judged)")
        for d in c["deviations"][:8]:
            console.print(f"  {d['kind']:<9} {escape(d['detail'])}  [dim]({d['messages']} msg)[/]", highlight=False)
        if len(c["deviations"]) > 8:
            console.print(f"  ... {len(c['deviations']) - 8} more in the JSON/HTML report")
        for problem, n in list(c["mapping"]["problems"].items())[:3]:
            console.print(f"  [red]problem[/]   {escape(problem)}  [dim]({n} msg)[/]", highlight=False)
