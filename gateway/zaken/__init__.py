"""Zaken: which zaken a canonical message is about and what must be sent to apply it (pure planning).

Sits between ``model`` and ``render``: it knows the zaak model of profile zkn v2 (docs/canonical-spec.md)
but no XML and no storage. ``render.zkn`` writes the operations; the ledger keeps the states.
"""

from .catalogue import DEMO_ZAAKTYPEN, Statustype, Zaaktype, zaaktype_for
from .changes import Change, RelationChange
from .plan import (
    CREEER,
    SOAP_ACTIONS,
    STATUS,
    UPDATE,
    Operation,
    PlanError,
    Planned,
    plan_unit,
)
from .units import Unit, units, zaak_identificatie

__all__ = [
    "CREEER", "DEMO_ZAAKTYPEN", "SOAP_ACTIONS", "STATUS", "UPDATE", "Change", "Operation", "PlanError", "Planned",
    "RelationChange", "Statustype", "Unit", "Zaaktype", "plan_unit", "units", "zaak_identificatie", "zaaktype_for",
]
