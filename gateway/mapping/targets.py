"""What a mapping rule may write to: the canonical model's fields, read from the pydantic classes.

Deriving the targets from the model (instead of a hand-kept list) means a new model field is
mappable at once and a typo in a mapping file is caught with a "did you mean".
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from functools import cache

from pydantic import BaseModel

from gateway.model import Bericht


@dataclass(frozen=True, slots=True)
class FieldKind:
    kind: str  # scalar | model | models | scalars | extra
    model: type[BaseModel] | None = None


def _unwrap(annotation: object) -> object:
    # Optional[X] / X | None -> X; Annotated[X, ...] -> X
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return annotation


def _is_model(tp: object) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


@cache
def fields_of(model: type[BaseModel]) -> dict[str, FieldKind]:
    out: dict[str, FieldKind] = {}
    for name, info in model.model_fields.items():
        tp = _unwrap(info.annotation)
        origin = typing.get_origin(tp)
        if origin is list:
            (item,) = typing.get_args(tp)
            item = _unwrap(item)
            out[name] = FieldKind("models", item) if _is_model(item) else FieldKind("scalars")
        elif origin is dict:
            out[name] = FieldKind("extra")
        elif _is_model(tp):
            out[name] = FieldKind("model", tp)  # type: ignore[arg-type]
        else:
            out[name] = FieldKind("scalar")
    return out


ROOT_MODEL: type[BaseModel] = Bericht
