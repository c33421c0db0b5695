"""The verdict as a vendor's CI reads it (JUnit XML) and as a person reads it (one HTML page)."""

from __future__ import annotations

import datetime as dt
from html import escape
from pathlib import Path

from lxml import etree

from .run import Outcome


def junit(outcomes: list[Outcome], suite: str) -> bytes:
    """One testcase per scenario: a failure lists every problem, a skip what could not be checked."""
    failures = sum(not o.passed for o in outcomes)
    root = etree.Element("testsuite", name=suite, tests=str(len(outcomes)), failures=str(failures), errors="0",
                         skipped=str(sum(o.passed and bool(o.skipped) for o in outcomes)),
                         timestamp=dt.datetime.now().isoformat(timespec="seconds"))
    for o in outcomes:
        case = etree.SubElement(root, "testcase", classname=suite, name=o.scenario.id)
        if o.problems:
            failure = etree.SubElement(case, "failure", message=o.problems[0][:500])
            failure.text = "\n".join(o.problems)
        elif o.skipped:
            etree.SubElement(case, "skipped", message="; ".join(o.skipped)[:500])
        out = etree.SubElement(case, "system-out")
        out.text = "\n".join(f"{s.operation} from {s.source}: {s.answer}{' ' + s.code if s.code else ''}"
                             for s in o.sent)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def html(outcomes: list[Outcome], title: str) -> str:
    """A self-contained page: the verdict per scenario, each message and its answer; nothing personal in it."""
    passed = sum(o.passed for o in outcomes)
    rows = []
    for o in outcomes:
        verdict = "passed" if o.passed else "FAILED"
        sent = "".join(f"<li>{escape(s.operation)} from {escape(s.source)} → <b>{escape(s.answer)}</b>"
                       f"{escape(' ' + s.code) if s.code else ''} (expected {escape(s.expected)})</li>" for s in o.sent)
        problems = "".join(f"<li>{escape(p)}</li>" for p in o.problems)
        skipped = "".join(f"<li>{escape(p)}</li>" for p in o.skipped)
        rows.append(f'<tr class="{verdict.lower()}"><td>{escape(o.scenario.id)}</td>'
                    f"<td>{escape(o.scenario.title)}</td><td>{verdict}</td>"
                    f"<td>{'<ul class=problems>' + problems + '</ul>' if problems else ''}"
                    f"{'<ul class=skipped>' + skipped + '</ul>' if skipped else ''}<ul>{sent}</ul></td></tr>")
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(title)}: {passed} of {len(outcomes)} passed</title><style>"
            "body{font:15px/1.45 system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:.3rem .6rem;vertical-align:top}.failed td:nth-child(3){color:#a00;"
            "font-weight:bold}.passed td:nth-child(3){color:#070}.problems{color:#a00}.skipped{color:#666}"
            f"</style></head><body><h1>{escape(title)}: {passed} of {len(outcomes)} scenarios passed</h1>"
            "<table><tr><th>scenario</th><th>what</th><th>verdict</th><th>details</th></tr>"
            + "".join(rows) + "</table></body></html>")


def write(outcomes: list[Outcome], folder: Path, title: str) -> tuple[Path, Path]:
    """``compliance.html`` and ``junit.xml`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    page, xml = folder / "compliance.html", folder / "junit.xml"
    page.write_text(html(outcomes, title), encoding="utf-8")
    xml.write_bytes(junit(outcomes, "overstap-compliance"))
    return page, xml
