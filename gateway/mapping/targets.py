"""What a mapping rule may write to: the canonical model's fields, read from the pydantic classes.

Deriving the targets from the model (instead of a hand-kept list) means a new model field is
mappable at once and a typo in a mapping file is caught with a "did you mean".
"""

from __future__ import annotations

from pydantic import BaseModel

from gateway.model import Bericht
from gateway.model.introspect import FieldKind, fields_of

ROOT_MODEL: type[BaseModel] = Bericht

__all__ = ["ROOT_MODEL", "FieldKind", "fields_of"]
