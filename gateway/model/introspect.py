"""What kind each field of a canonical class is (scalar, nested model, list, extras, date, time).

Mapping files are checked against it, and StUF messages are read back with it, so both follow the
model as it is instead of keeping their own lists.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from dataclasses import dataclass
from functools import cache

from pydantic import BaseModel


@dataclass(frozen=True, slots=True)
class FieldKind:
    kind: str  # scalar | model | models | scalars | extra
    model: type[BaseModel] | None = None
    scalar: object = str  # for scalars: the Python type after unwrapping (str, int, date, time, Literal...)


def unwrap(annotation: object) -> object:
    """Optional[X] / X | None / Annotated[X, ...] -> X."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return unwrap(args[0])
    return annotation


def _is_model(tp: object) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


@cache
def fields_of(model: type[BaseModel]) -> dict[str, FieldKind]:
    out: dict[str, FieldKind] = {}
    for name, info in model.model_fields.items():
        tp = unwrap(info.annotation)
        origin = typing.get_origin(tp)
        if origin is list:
            (item,) = typing.get_args(tp)
            item = unwrap(item)
            out[name] = FieldKind("models", item) if _is_model(item) else FieldKind("scalars", scalar=item)
        elif origin is dict:
            out[name] = FieldKind("extra")
        elif _is_model(tp):
            out[name] = FieldKind("model", tp)  # type: ignore[arg-type]
        else:
            out[name] = FieldKind("scalar", scalar=tp)
    return out


def is_date(kind: FieldKind) -> bool:
    return kind.scalar is dt.date


def is_time(kind: FieldKind) -> bool:
    return kind.scalar is dt.time
