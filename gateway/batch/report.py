"""What happened to each input and to the run: report lines, ``.reason`` texts, totals and the summary.

Report lines are built in the workers (one JSON object per input, in input order); totals are small
counters that travel with every chunk and every journal commit, so a resumed run ends with the
same summary as an uninterrupted one.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.mapping import Compiled
from gateway.pipeline import FailureInfo

OK, FAILED, REFUSED = "ok", "failed", "refused"
MAX_REASON = 1000
"""Characters of an error message kept in a report line or ``.reason`` file: a 9 MB value must not make a 9 MB line."""


def capped(text: str, limit: int = MAX_REASON) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters left out)"


def dialect_of(mapping: Compiled) -> str:
    """The base dialect a mapping reads, e.g. ``wmo301 2.0 xml``; vendor mappings share it with their base."""
    return f"{mapping.wet or '?'}{mapping.bericht or '?'} {mapping.versie or '?'} {mapping.format}"


def ok_line(key: str, mapping: Compiled, envelopes: list[str], outputs: list[str], unmapped: int,
            warnings: int) -> dict[str, Any]:
    return {"source": key, "status": OK, "dialect": dialect_of(mapping), "mapping": mapping.name,
            "envelopes": envelopes, "outputs": outputs, "unmapped": unmapped, "warnings": warnings}


def failed_line(key: str, info: FailureInfo, mapping: Compiled | None, quarantine: str | None,
                note: str | None = None, status: str = FAILED) -> dict[str, Any]:
    """A failed input's line, or (``status=REFUSED``) one its mapping recognises and refuses on purpose;
    ``quarantine`` is where its copy went (None: not copied, ``note`` says why)."""
    line = {"source": key, "status": status, "dialect": dialect_of(mapping) if mapping else None,
            "mapping": mapping.name if mapping else None, "error": _error(info), "quarantine": quarantine}
    if info.also:  # several independent errors: "error" is the first, "errors" names them all (bounded)
        line["errors"] = [_error(p) for p in info.problems]
        if info.left_out:
            line["more_errors"] = info.left_out
    if note:
        line["note"] = note
    return line


def _error(info: FailureInfo) -> dict[str, Any]:
    return {"code": info.code, "field": capped(info.field or "", 200) or None, "line": info.line,
            "message": capped(info.message)}


def encode_line(line: dict[str, Any]) -> bytes:
    """The line as compact JSON in UTF-8. orjson writes what ``json.dumps(ensure_ascii=False, separators=(",",
    ":"))`` writes (~0.3 µs, ~3.5 before, once a message in the batch parent); what it refuses (a lone surrogate,
    an int past 64 bits) takes the standard library's path, which then fails or writes it as before."""
    try:
        return orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:  # orjson.JSONEncodeError is one
        return (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def reason_text(key: str, info: FailureInfo, mapping: Compiled | None) -> bytes:
    """The ``.reason`` file beside a quarantined input: the same facts as its report line, for people."""
    rows = [("source", key), ("code", info.code), ("field", capped(info.field, 200) if info.field else None),
            ("line", info.line),
            ("dialect", dialect_of(mapping) if mapping else None), ("mapping", mapping.name if mapping else None),
            ("reason", capped(info.message))]
    rows += [("also", capped(str(other), 400)) for other in info.also]
    if info.more:
        rows.append(("also", info.more))
    return "".join(f"{name}: {value}\n" for name, value in rows if value is not None).encode("utf-8")


@dataclass(slots=True)
class Tally:
    """Counts per status, dialect, mapping and failure code; small, mergeable, JSON-serialisable."""

    status: Counter[str] = field(default_factory=Counter)
    dialects: Counter[str] = field(default_factory=Counter)
    mappings: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    outputs: int = 0
    quarantined: int = 0
    quarantined_bytes: int = 0

    def count(self, line: dict[str, Any]) -> None:
        self.status[line["status"]] += 1
        if line.get("dialect"):
            self.dialects[line["dialect"]] += 1
        if line.get("mapping"):
            self.mappings[line["mapping"]] += 1
        if line["status"] == FAILED:
            self.codes[line["error"]["code"]] += 1
        elif line["status"] == OK:
            self.outputs += len(line["outputs"])

    def merge(self, other: Tally) -> None:
        self.status.update(other.status)
        self.dialects.update(other.dialects)
        self.mappings.update(other.mappings)
        self.codes.update(other.codes)
        self.outputs += other.outputs
        self.quarantined += other.quarantined
        self.quarantined_bytes += other.quarantined_bytes

    @property
    def total(self) -> int:
        return sum(self.status.values())

    @property
    def failed(self) -> int:
        return self.status[FAILED]

    def to_dict(self) -> dict[str, Any]:
        return {"status": dict(self.status), "dialects": dict(self.dialects), "mappings": dict(self.mappings),
                "codes": dict(self.codes), "outputs": self.outputs, "quarantined": self.quarantined,
                "quarantined_bytes": self.quarantined_bytes}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tally:
        return cls(Counter(data.get("status", {})), Counter(data.get("dialects", {})),
                   Counter(data.get("mappings", {})), Counter(data.get("codes", {})), int(data.get("outputs", 0)),
                   int(data.get("quarantined", 0)), int(data.get("quarantined_bytes", 0)))


def summary(tally: Tally, skipped: int, run: dict[str, Any]) -> dict[str, Any]:
    """The end-of-run summary; everything but ``run`` (timing, workers) is the same however the run went."""
    return {
        "inputs": tally.total,
        "status": {OK: tally.status[OK], FAILED: tally.failed,
                   **({REFUSED: tally.status[REFUSED]} if tally.status[REFUSED] else {})},
        "dialects": dict(sorted(tally.dialects.items())),
        "mappings": dict(sorted(tally.mappings.items())),
        "failure_codes": dict(sorted(tally.codes.items())),
        "outputs": tally.outputs,
        "quarantined": {"files": tally.quarantined, "bytes": tally.quarantined_bytes},
        "skipped": skipped,
        "run": run,
    }


def summary_text(data: dict[str, Any]) -> str:
    def counts(values: dict[str, int]) -> str:
        return ", ".join(f"{name} {n:,}" for name, n in sorted(values.items(), key=lambda kv: (-kv[1], kv[0])))

    run = data["run"]
    refused = data["status"].get(REFUSED, 0)
    lines = [f"{data['inputs']:,} input(s): {data['status'][OK]:,} ok, {data['status'][FAILED]:,} failed"
             + (f", {refused:,} refused on purpose" if refused else "")
             + (f" ({data['skipped']:,} non-message file(s) skipped)" if data["skipped"] else "")]
    if data["dialects"]:
        lines.append(f"  dialects: {counts(data['dialects'])}")
    if data["mappings"]:
        lines.append(f"  mappings: {counts(data['mappings'])}")
    if data["failure_codes"]:
        lines.append(f"  failures: {counts(data['failure_codes'])} (see report.jsonl and quarantine/)")
    lines.append(f"  outputs: {data['outputs']:,} message(s) in {run['out']}")
    lines.append(f"  throughput: {run['messages_per_second']:,.0f} msg/s ({run['converted_this_run']:,} in "
                 f"{run['seconds']:.1f} s, {run['workers']} worker(s)"
                 + (f", resumed after {run['resumed_from']:,}" if run.get("resumed_from") else "") + ")")
    return "\n".join(lines)
