"""The discover report: one JSON document, a terminal summary (rich) and an HTML page, all from the same dict.

Only this module turns clusters into text for people, and it only ever shows codes of
non-personal elements as themselves; everything else appears as a shape or a masked example.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from gateway.mapping import Registry

from .cluster import Cluster
from .compare import deviations
from .expect import expectation, local, show
from .run import Discovery
from .shapes import personal

TOP_VALUES = 12


def _paths(cluster: Cluster) -> list[dict[str, Any]]:
    out = []
    for path in sorted(cluster.presence, key=show):
        name = local(path[-1]).lstrip("@")
        entry: dict[str, Any] = {"path": show(path), "messages": cluster.presence[path],
                                 "min": cluster.minimum(path), "max": cluster.most.get(path, 0)}
        shapes = cluster.shapes.get(path)
        if shapes:
            entry["shapes"] = dict(shapes.most_common())
            codes = cluster.codes.get(path)
            if codes and not personal(name):
                entry["values"] = dict(codes.most_common(TOP_VALUES))
                entry["more_values"] = path in cluster.overflow or len(codes) > TOP_VALUES
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
    converts = cluster.mappings.most_common(1)[0][0] if cluster.mappings else None
    return {
        "id": cluster.id, "messages": cluster.messages, "format": cluster.fmt, "namespace": cluster.namespace,
        "root": cluster.root, "examples": list(cluster.examples), "encodings": dict(cluster.encodings),
        "ei_layouts": sorted(cluster.layouts), "closest_builtin": cluster.builtin,
        "mapping": {"name": converts, "converted": cluster.converted, "failed": cluster.failed,
                    "problems": dict(cluster.problems.most_common()), "debt": dict(cluster.warnings.most_common())},
        "deviations": found, "paths": _paths(cluster), "paths_not_profiled": cluster.skipped,
    }


def build(found: Discovery, registry: Registry) -> dict[str, Any]:
    clusters = [cluster_dict(c, registry) for c in found.ordered()]
    return {"overstap-discover": 1, "inputs": found.inputs, "messages": found.messages,
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
        console.print(f"[bold]{c['id']}[/] ({c['messages']}), e.g. {c['examples'][0] if c['examples'] else '-'}")
        if c["paths_not_profiled"]:
            console.print(f"  {c['paths_not_profiled']} more path(s) not profiled (over the cap of distinct paths; "
                          "missing elements not judged)")
        for d in c["deviations"][:8]:
            console.print(f"  {d['kind']:<9} {d['detail']}  [dim]({d['messages']} msg)[/]", highlight=False)
        if len(c["deviations"]) > 8:
            console.print(f"  ... {len(c['deviations']) - 8} more in the JSON/HTML report")
        for problem, n in list(c["mapping"]["problems"].items())[:3]:
            console.print(f"  [red]problem[/]   {problem}  [dim]({n} msg)[/]", highlight=False)
