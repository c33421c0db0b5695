"""The koppelvlak tables, generated from the model, the zkn v2 places and the extraElement registry.

``python -m gateway.render.spec`` prints the markdown that docs/canonical-spec.md embeds; a test keeps
the two equal, so the document cannot drift from what the code does.
"""

from __future__ import annotations

import sys
import typing
from collections.abc import Iterator

from pydantic import BaseModel

from gateway.model import Bericht
from gateway.zaken.registry import registered

from .zkn_places import stuf_places

BEGIN = "<!-- BEGIN GENERATED TABLE (python -m gateway.render.spec) -->"
END = "<!-- END GENERATED TABLE -->"


def _type_name(annotation: object) -> str:
    text = str(annotation)
    for junk in ("typing.", "gateway.model.bericht.", "gateway.model.codes.", "datetime.", "<class '", "'>"):
        text = text.replace(junk, "")
    text = text.replace("Optional[", "").replace("Annotated[", "")
    if text.startswith("Literal["):
        values = typing.get_args(annotation) or typing.get_args(typing.get_args(annotation)[0])
        return "code: " + ", ".join(str(v) for v in values) if values else text
    return text.split(",")[0].rstrip("]") if "Literal" not in text else text


def _unwrap(annotation: object) -> object:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, __import__("types").UnionType) and len(args) == 1:
        return _unwrap(args[0])
    if origin is typing.Annotated:
        return _unwrap(args[0])
    return annotation


def rows(model: type[BaseModel] = Bericht, prefix: str = "", example: str = "") -> Iterator[tuple[str, str, str]]:
    """(canonical field, type, StUF places) for every leaf of the canonical model."""
    for name, info in model.model_fields.items():
        annotation = _unwrap(info.annotation)
        origin = typing.get_origin(annotation)
        path, ex = f"{prefix}{name}", f"{example}{name}"
        if origin is list:
            (item,) = typing.get_args(annotation)
            item = _unwrap(item)
            if isinstance(item, type) and issubclass(item, BaseModel):
                yield from rows(item, f"{path}[].", f"{ex}.0.")
            else:
                yield path + "[]", _type_name(item) + " (list)", "; ".join(stuf_places(f"{ex}.0"))
        elif origin is dict:
            yield f"{path}.NAME", "text (vendor extension)", "; ".join(stuf_places(f"{ex}.NAME"))
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from rows(annotation, f"{path}.", f"{ex}.")
        else:
            yield path, _type_name(annotation), "; ".join(stuf_places(ex))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def table() -> str:
    lines = [BEGIN, "", "### Canonical field → place", "", "| canonical field | type | StUF-ZKN place (zakLk01) |",
             "|---|---|---|"]
    for field, kind, places in rows():
        lines.append(f"| `{field.replace('[]', '[n]')}` | {_cell(kind)} | {_cell(places)} |")
    lines += ["", "### Registered extraElementen (gateway/zaken/extraelementen.yaml)", "",
              "| naam | type | bron (source) | betekenis (meaning) |", "|---|---|---|---|"]
    for entry in registered():
        repeat = " (repeatable)" if entry.get("repeat") else ""
        plaats = f"; on a {entry['plaats']} relation, not the ZAK" if entry.get("plaats") else ""
        retired = f"; **no longer written** ({entry['retired']})" if entry.get("retired") else ""
        lines.append(f"| `{entry['naam']}` | {_cell(str(entry['type']))}{repeat} | {_cell(entry['bron'])} | "
                     f"{_cell(entry['betekenis'])}{_cell(plaats + retired)} |")
    lines += ["", END]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(table() + "\n")
