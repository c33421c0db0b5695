"""The canonical model's verdict on a mapped message, told in the mapping's terms: each error located at
the source line and path its value came from, lenient mode's dropped codes, and the dialect schema check."""

from __future__ import annotations

import re
from typing import Any

from lxml import etree
from pydantic import ValidationError

from gateway.model import Bericht
from gateway.model.codes import CODE_LISTS

from .errors import MAX_ERRORS, ConversionError, combined
from .privacy import shown
from .result import MapState, Warning_
from .rules import Compiled
from .strictness import deviations

_Element = etree._Element


_MSG_PREFIX = re.compile(r"^(?:Value error|Assertion failed), ")
_MSG_FIELD = re.compile(r"^([a-z_]+(?:\.[a-z0-9_]+)+): (.*)$", re.S)


def _locate(field_: str, st: MapState) -> tuple[int | None, str | None]:
    best: tuple[int, int | None, str | None] = (-1, None, None)
    for entry in st.lineage:
        if entry.field == field_:
            return entry.line, entry.source or entry.rule.source_text
        if entry.field.startswith(field_ + ".") and entry.line is not None and (
                best[1] is None or entry.line < best[1]):
            best = (0, entry.line, None)
    if best[1] is not None:
        return best[1], None
    parts = field_.split(".")
    while parts:
        line = st.groups.get(".".join(parts))
        if line is not None:
            return line, None
        parts.pop()
    return None, None


def _describe(err: dict[str, Any], field_: str) -> str:
    msg = _MSG_PREFIX.sub("", str(err.get("msg", "invalid")))
    leaf = field_.rsplit(".", 1)[-1]
    if err.get("type") == "literal_error" and leaf in CODE_LISTS:
        msg = f"not a code of {CODE_LISTS[leaf][0]}: {msg}"
    if err.get("type") == "missing":
        msg = "required field missing"
    quoted = shown(field_, err["input"]) if "input" in err else None
    if quoted is not None:  # a code, or only the shape: never a name, birth date, address or BSN (issue 11, item 7)
        msg += f" (got {quoted})"
    return msg


def check_source_schema(mapping: Compiled, root: _Element, st: MapState) -> None:
    """``source_schema:``: strict rejects a message that breaks its dialect's XSD, lenient warns."""
    found = deviations(mapping.source_schema, root)  # type: ignore[arg-type]
    if not found:
        return
    if not st.lenient:
        raise combined([ConversionError(f"breaks its dialect schema {mapping.source_schema}: {dev.message}",
                                        field="source_schema", line=dev.line, source=st.source)
                        for dev in found[:MAX_ERRORS]], len(found))
    for dev in found:
        st.warnings.append(Warning_(f"source_schema:{dev.element}", f"source_schema:{dev.element}", dev.line,
                                    f"breaks {mapping.source_schema}: {dev.message}"))


def _pop(data: dict[str, Any], loc: tuple[Any, ...]) -> bool:
    node: Any = data
    for key in loc[:-1]:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return False
    if isinstance(node, dict) and loc[-1] in node:
        del node[loc[-1]]
        return True
    return False


def accept_lenient(data: dict[str, Any], exc: ValidationError, st: MapState) -> Bericht | None:
    """Lenient: drop optional values that are not in their code list, with a warning each, and validate again.

    Gives up (None: the caller reports the original error) when anything else is wrong or when a
    dropped value turns out to be required.
    """
    warnings: list[Warning_] = []
    for _ in range(8):
        errors = exc.errors(include_url=False)
        if any(e.get("type") != "literal_error" or not e.get("loc") for e in errors):
            return None
        for err in errors:
            loc = tuple(err["loc"])
            field_ = ".".join(str(p) for p in loc)
            if not _pop(data, loc):
                return None
            line, _path = _locate(field_, st)
            rule = next((e.rule.target for e in st.lineage if e.field == field_), field_)
            warnings.append(Warning_(rule, field_, line, f"{_describe(err, field_)}; value dropped"))
        try:
            bericht = Bericht.model_validate(data)
        except ValidationError as again:
            exc = again
            continue
        st.warnings.extend(warnings)
        return bericht
    return None


def model_errors(exc: ValidationError, st: MapState) -> None:
    """Note each error of the canonical model, located; not those of a field whose rule already failed
    (its value is missing because of an error already named)."""
    failed = tuple(e.field + "." for e in st.errors if e.field)
    for err in exc.errors(include_url=False):
        field_ = ".".join(str(p) for p in err.get("loc", ()))
        message = _describe(err, field_)
        located = _MSG_FIELD.match(message)
        if located and not field_:
            field_, message = located.group(1), located.group(2)
        if field_ and (field_ + ".").startswith(failed):
            continue
        line, path = _locate(field_, st)
        st.fail(ConversionError(message, field=field_ or None, line=line, path=path, source=st.source))
