"""The discover report as one self-contained HTML page (no scripts, no external files).

Written for the person who has to decide what to do with each cluster: a summary table at the
top, then per cluster its deviations as a table, value-shape histograms as bars and shape-only
examples. Every text from a message passes through ``html.escape``.
"""

from __future__ import annotations

from html import escape
from typing import Any

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#17324d;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.85}main{padding:18px 28px;max-width:1200px}
table{border-collapse:collapse;width:100%;background:#fff;margin:8px 0 16px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e2e5ea;vertical-align:top;overflow-wrap:anywhere}
th{background:#eef1f5;font-weight:600}section{background:#fff;border-radius:6px;padding:12px 18px;
margin:18px 0;box-shadow:0 1px 3px rgba(0,0,0,.08)}section h2{margin:0 0 6px;font-size:17px}
.badge{display:inline-block;border-radius:10px;padding:1px 8px;font-size:12px;margin-right:4px;background:#e2e8f0}
.ok{background:#d1fae5;color:#065f46}.bad{background:#fee2e2;color:#991b1b}.warn{background:#fef3c7;color:#92400e}
.k-missing,.k-code{color:#991b1b;font-weight:600}.k-renamed,.k-attribute,.k-format{color:#92400e;font-weight:600}
.k-extra{color:#1e40af;font-weight:600}.bar{background:#3b82f6;height:10px;border-radius:2px;display:inline-block}
.hist td{border:0;padding:1px 6px}.hist td:first-child{white-space:nowrap}
code{font:12px ui-monospace,monospace;background:#f1f5f9;padding:0 3px;overflow-wrap:anywhere}
main>section table{table-layout:fixed}th.n{width:80px}th.k{width:90px}
.muted{color:#6b7280}
"""


def _badge(text: str, kind: str = "") -> str:
    return f'<span class="badge {kind}">{escape(text)}</span>'


def _summary(report: dict[str, Any]) -> str:
    rows = []
    for c in report["clusters"]:
        m = c["mapping"]
        status = (_badge(f"{m['name']}: {m['converted']} ok", "ok" if not m["failed"] else "warn") if m["name"]
                  else _badge("no mapping", "bad"))
        if m["failed"]:
            status += _badge(f"{m['failed']} failed", "bad")
        rows.append(f'<tr><td><a href="#{escape(c["id"])}">{escape(c["id"])}</a></td><td>{c["messages"]}</td>'
                    f'<td>{escape(c["format"])}</td><td>{escape(c["root"] or "-")}</td>'
                    f'<td>{escape(c["closest_builtin"] or "-")}</td><td>{status}</td>'
                    f'<td>{len(c["deviations"])}</td></tr>')
    return ("<table><tr><th>cluster</th><th>messages</th><th>format</th><th>root</th><th>closest built-in</th>"
            "<th>existing mapping</th><th>deviations</th></tr>" + "".join(rows) + "</table>")


def _deviations(c: dict[str, Any]) -> str:
    if not c["deviations"]:
        return '<p class="muted">No deviations from the closest built-in dialect.</p>'
    rows = "".join(
        f'<tr><td class="k-{escape(d["kind"])}">{escape(d["kind"])}</td><td><code>{escape(d["path"])}</code></td>'
        f'<td>{escape(d["target"] or "")}</td><td>{escape(d["detail"])}</td><td>{d["messages"]}</td></tr>'
        for d in c["deviations"])
    return ('<table><tr><th class="k">kind</th><th>path</th><th>canonical field</th><th>what</th>'
            '<th class="n">messages</th></tr>'
            + rows + "</table>")


def _histograms(c: dict[str, Any], limit: int = 14) -> str:
    interesting = [p for p in c["paths"] if p.get("shapes")]
    flagged = {d["path"] for d in c["deviations"]}
    interesting.sort(key=lambda p: (p["path"] not in flagged, -len(p["shapes"]), p["path"]))
    blocks = []
    for p in interesting[:limit]:
        total = sum(p["shapes"].values()) or 1
        bars = "".join(f'<tr><td><code>{escape(s)}</code></td><td><span class="bar" '
                       f'style="width:{max(4, 160 * n // total)}px"></span> {n}</td></tr>'
                       for s, n in p["shapes"].items())
        told = []
        if p.get("values"):
            told.append("values: " + ", ".join(f"<code>{escape(v)}</code>&times;{n}" for v, n in p["values"].items()))
        if p.get("values_withheld"):
            told.append(f'<span class="muted">{p["values_withheld"]} value(s) not shown: not a code</span>')
        if p.get("masked_examples"):
            told.append("personal, by shape: " + ", ".join(f"<code>{escape(v)}</code>" for v in p["masked_examples"]))
        shown = "; ".join(told)
        blocks.append(f'<tr><td><code>{escape(p["path"])}</code><br><span class="muted">{p["messages"]} msg, '
                      f'{p["min"]}..{p["max"]} per msg</span></td><td><table class="hist">{bars}</table></td>'
                      f'<td>{shown}</td></tr>')
    return ("<table><tr><th>path</th><th>value shapes</th><th>examples</th></tr>" + "".join(blocks) + "</table>"
            if blocks else "")


def _cluster(c: dict[str, Any]) -> str:
    m = c["mapping"]
    problems = "".join(f"<li>{escape(p)} ({n})</li>" for p, n in m["problems"].items())
    debt = "".join(f"<li>{escape(p)} ({n})</li>" for p, n in m["debt"].items())
    examples = ", ".join(f"<code>{escape(e)}</code>" for e in c["examples"])
    return (f'<section id="{escape(c["id"])}"><h2>{escape(c["id"])}</h2>'
            f'<p>{_badge(str(c["messages"]) + " messages")}{_badge(c["format"])}'
            f'{_badge("root " + (c["root"] or "-"))}{_badge("closest " + (c["closest_builtin"] or "none"))}'
            f'{"".join(_badge(e) for e in c["encodings"])}</p>'
            f'<p class="muted">namespace {escape(c["namespace"] or "(none)")}; e.g. {examples}</p>'
            + (f'<p class="muted">{c["paths_not_profiled"]} more path(s) not profiled (over the cap of distinct '
               "paths; missing elements not judged)</p>" if c["paths_not_profiled"] else "")
            + (f"<p>EI layout: {escape(', '.join(c['ei_layouts']))}</p>" if c["ei_layouts"] else "")
            + _deviations(c)
            + (f"<h3>Conversion problems</h3><ul>{problems}</ul>" if problems else "")
            + (f"<h3>Dialect debt (accepted deviations)</h3><ul>{debt}</ul>" if debt else "")
            + _histograms(c) + "</section>")


def render(report: dict[str, Any]) -> str:
    """The whole page."""
    title = f"Overstap discover: {report['messages']} messages, {len(report['clusters'])} clusters"
    inputs = ", ".join(escape(i) for i in report["inputs"])
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{_CSS}</style></head><body><header><h1>{escape(title)}</h1><p>{inputs}</p></header><main>"
            + (f"<p>{report['messages_not_clustered']} message(s) in clusters past these: counted, not profiled</p>"
               if report["messages_not_clustered"] else "")
            + _summary(report) + "".join(_cluster(c) for c in report["clusters"]) + "</main></body></html>")
